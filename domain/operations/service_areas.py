"""Service areas follow their units: what becomes of an office's named units when they split,
merge, are recoded, dissolve or leave the office's unit, and the notes that tell the editor.

One rule for workstations (the communities they serve) and every other office that names the
units it serves (a new-area committee naming streets): `pass_coverage` as each operation ends
a unit, `settle_service_areas` once the whole change set is worked out."""

from __future__ import annotations

from domain.errors import Problem
from domain.offices import Office
from domain.units import Unit
from domain.workspace import Workspace


def pass_coverage(
    ws: Workspace, unit: Unit, successors: list[str], why: str, parent: str | None = None
) -> None:
    """A served unit that ends, splits or leaves its parent passes its service on.

    One rule for every office that serves it by name: it serves `successors` instead (the
    unit's own code among them if it stays; `[]`: its territory passes to no unit), those
    that lie inside the office's own unit. `why` says what happened to the unit (for the
    notes); `parent` is the unit's parent before the operation (default: on the day, which
    is the same unless the operation moved it already).

    A workstation takes only successors nobody serves yet, and checks at once: its street's
    communities are exactly one workstation's each (`domain.invariants`), so a transferred
    community needs a workstation of its new street. Another office (a new-area committee
    naming the streets it serves) serves every successor now; those that are not inside its
    unit once the whole change set is worked out are dropped then, with a note
    (`settle_service_areas`).
    """
    street_code = parent if parent is not None else unit.parent.value_on(ws.day)
    street = ws.unit(street_code) if street_code is not None else None
    if unit.level == ws.rules.served_level and street is not None:
        for station in ws.workstations_serving(unit.code, street, ws.day):
            takes = [
                code
                for code in successors
                if ws.inside(code, street.code)
                and (code == unit.code or not ws.workstations_serving(code, street, ws.day))
            ]
            ws.emit(station, Office.CoverageChanged, serves=_passed(station, unit, takes, ws))
        ws.coverage_units.add(street.code)
    for office in ws.area_offices([unit.code]):
        if not office.open_on(ws.day) or unit.code not in office.serves_on(ws.day):
            continue
        served = _passed(office, unit, successors, ws)
        if served != list(office.serves_on(ws.day)):
            ws.emit(office, Office.CoverageChanged, serves=served)
            if not served:
                # Empty means its whole unit: refused by `_settle` unless a later operation
                # of the change set closes the office or gives it a service area.
                ws.emptied[office.code] = office.pending_events[-1]
        ws.service_passed.setdefault(office.code, []).append((unit.code, list(successors), why))


def _passed(office: Office, unit: Unit, successors: list[str], ws: Workspace) -> list[str]:
    """The office's served units on the day with `unit` replaced by `successors`."""
    served: list[str] = []
    for code in office.serves_on(ws.day):
        served.extend(successors if code == unit.code else [code])
    return list(dict.fromkeys(served))


def settle_service_areas(ws: Workspace) -> None:
    """Once every operation is worked out: each office's service area holds only units inside
    its own unit, and the editor is told what became of every area that changed.

    An office other than a workstation that serves a unit that is now outside its unit (a
    street transferred to another district, a split's part moved on) stops serving it: it
    cannot serve what is not its unit's. That is an `office_area_reduced` note, as is a
    served unit that ended with no successor; an area that grew by a whole unit the office
    did not serve (a served street merged into one it did not) is `office_area_extended`,
    and one that only followed its units (a split's parts, a new code) `service_area_passed`.
    An office left serving none of its named units would serve its whole unit (an empty
    list means that): the change set is refused instead (`office_area_empty`).
    """
    offices = {o.code: o for o in ws.area_offices(ws.moved_units())}
    for code in ws.service_passed:
        office = ws.office(code)
        if office is not None:
            offices.setdefault(code, office)
    for office in sorted(offices.values(), key=lambda o: o.code):
        _settle(ws, office)


def _settle(ws: Workspace, office: Office) -> None:
    owner = office.unit.value_on(ws.day)
    served = office.serves_on(ws.day)
    emptied = ws.emptied.get(office.code)
    if office.open_on(ws.day) and emptied is not None and office.pending_events[-1] is emptied:
        lost = [unit for unit, successors, _ in ws.service_passed[office.code] if not successors]
        ws.fail(
            "office_area_empty",
            f"office {_label(ws, office)} would serve none of the units it names "
            f"({_names(ws, lost)} ended with no successor), and an empty service area means "
            "all of its unit: close it or change its service area in the same change set",
            "operations",
            office.code,
            *lost,
        )
        return
    if owner is None or not served:
        return
    before = ws.served_before(office.code)
    # A unit that ended without its service being passed on stays: `domain.invariants`
    # reports it (`office_serves_outside`), as a path that forgot to pass it must be.
    outside = [
        code
        for code in served
        if (unit := ws.unit(code)) is not None
        and unit.exists_on(ws.day)
        and not ws.inside(code, owner)
    ]
    kept = [code for code in served if code not in outside]
    if outside:
        if not kept:
            ws.fail(
                "office_area_empty",
                f"office {_label(ws, office)} would serve none of the units it names "
                f"({_names(ws, served)} are outside {_name(ws, owner)}), and an empty service "
                "area means all of its unit: close it or change its service area in the same "
                "change set",
                "operations",
                office.code,
                *served,
            )
            return
        ws.emit(office, Office.CoverageChanged, serves=kept)
    extra = {"office": office.code, "serves_before": list(before), "serves_after": kept}
    for code in outside:
        parent = ws.unit(code)
        where = parent.parent.value_on(ws.day) if parent is not None else None
        ws.notes.append(
            Problem(
                "office_area_reduced",
                f"office {_label(ws, office)} no longer serves {_name(ws, code)}: it is now in "
                f"{_name(ws, where)}, outside {_name(ws, owner)}, the unit the office belongs "
                "to; an office of that unit must serve it there",
                "",
                (code, office.code),
                extra=extra,
            )
        )
    for unit_code, successors, why in ws.service_passed.get(office.code, []):
        if successors == [unit_code]:
            continue  # it stayed (a transfer): only what left is news, said above
        taken = [c for c in successors if c in kept and c != unit_code]
        note = _passed_note(ws, office, unit_code, successors, taken, why, before)
        if note is not None:
            ws.notes.append(
                Problem(note[0], note[1], "", (unit_code, *taken, office.code), extra=extra)
            )


def _passed_note(
    ws: Workspace,
    office: Office,
    unit: str,
    successors: list[str],
    taken: list[str],
    why: str,
    before: tuple[str, ...],
) -> tuple[str, str] | None:
    """The note's code and message for a served `unit` whose service passed to `taken`."""
    label, name = _label(ws, office), _name(ws, unit)
    grown = [c for c in taken if ws.before_on(c, ws.day) is not None and c not in before]
    if not successors:
        return "office_area_reduced", (
            f"office {label} no longer serves {name}, which {why} and passes its territory "
            "to no unit"
        )
    if grown:
        return "office_area_extended", (
            f"office {label} serves all of {_names(ws, grown)} in place of {name}, which "
            f"{why}: its area grows by what it did not serve before; change its service area "
            "in the same change set if it should not"
        )
    if taken and unit in successors:
        return "service_area_passed", (
            f"office {label} also serves {_names(ws, taken)}: {name}, which it serves, {why}"
        )
    if taken:
        return "service_area_passed", (
            f"office {label} serves {_names(ws, taken)} in place of {name}, which {why}"
        )
    return None


def _label(ws: Workspace, office: Office) -> str:
    name = office.names.value_on(ws.day)
    return f"{name} ({office.code})" if name else office.code


def _name(ws: Workspace, code: str | None) -> str:
    """A unit as people read it: its name on the day (or its last one) and its code."""
    if code is None:
        return "no unit"
    unit = ws.unit(code)
    version = None
    if unit is not None:
        version = unit.version_on(ws.day) or ws.before_on(code, ws.day)
    return f"{version.name} ({code})" if version is not None else code


def _names(ws: Workspace, codes: list[str] | tuple[str, ...]) -> str:
    return ", ".join(_name(ws, c) for c in codes)
