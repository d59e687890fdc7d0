"""Response and request models: they document the contract in OpenAPI and check what we send."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api.fields import IsoDate
from api.params import IsoInstant

#: Every answer that can be asked "as recorded": one description of what it echoes.
AsRecorded = Annotated[
    dt.datetime | None,
    Field(description="The instant asked for: the answer is what the register said then."),
]


class Point(BaseModel):
    """WGS84 coordinates."""

    lon: float
    lat: float


class InputPoint(Point):
    """The coordinates as given, in the CRS given."""

    crs: Literal["wgs84", "gcj02", "bd09"]


class UnitRef(BaseModel):
    """One level's unit holding the point, in the version valid on the date asked."""

    model_config = ConfigDict(from_attributes=True)

    level: str
    code: str
    name: str
    valid_from: dt.date
    valid_to: dt.date | None = Field(description="Exclusive end of the version; null if open.")
    on_boundary: bool = Field(description="The point lies exactly on the unit's boundary.")


class Office(BaseModel):
    """An office responsible for the point."""

    kind: str = Field(description="street_office, residents_committee, workstation, ...")
    code: str
    name: str
    unit: str = Field(description="The unit the office belongs to.")
    address: str | None = None
    location: Point | None = None
    serves: list[str] = Field(
        default=[],
        description="The units it serves (its service area), if not its whole unit: a "
        "workstation's communities, a new-area committee's streets.",
    )


class Responsible(BaseModel):
    """The office that handles a matter at this point on this date."""

    matter: str
    name: str
    office_kind: str
    level: str
    office: Office | None = Field(description="Null when no such office exists there.")


class LookupResponse(BaseModel):
    """Who is responsible for a point on a date."""

    date: dt.date
    point: Point = Field(description="The WGS84 coordinates used for the lookup.")
    input: InputPoint = Field(description="The coordinates as given.")
    as_recorded: dt.datetime | None = None
    units: list[UnitRef]
    offices: list[Office]
    responsible: Responsible | None = None
    hint: str | None = Field(
        None,
        description="Set when the date is before the register's first effective date: "
        "nothing is recorded then, so an empty answer does not mean outside every unit.",
    )


class BatchPoint(BaseModel):
    """One point of a batch lookup."""

    id: str | int | None = None
    lon: float = Field(allow_inf_nan=False)
    lat: float = Field(allow_inf_nan=False)


class BatchRequest(BaseModel):
    """Up to 100,000 points looked up on one date."""

    model_config = ConfigDict(extra="forbid")

    date: IsoDate | None = None
    as_recorded: IsoInstant | None = None
    crs: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    levels: list[str] | None = Field(
        None,
        description="Only these levels in each result (default: every level); asking for "
        "fewer levels makes large batches faster and their answers smaller.",
    )
    offices: bool = Field(
        False, description="Also each point's offices, as `/v1/lookup` gives them."
    )
    matter: str | None = Field(
        None,
        description="A matter's code: also each point's office responsible for it, as "
        "`/v1/lookup?matter=` gives it (404 `matter_not_found` if the catalogue lacks it).",
    )
    points: list[BatchPoint]


class BatchResult(BaseModel):
    """The units holding one point; a point that cannot be looked up (coordinates out of
    range, a missing or non-numeric lon or lat) gets `error` in its place instead."""

    id: str | int | None
    units: list[UnitRef] | None = None
    offices: list[Office] | None = Field(None, description="With `offices: true`.")
    responsible: Responsible | None = Field(None, description="With `matter`.")
    error: ErrorInfo | None = Field(None, description="This point's error; the rest answered.")


class BatchResponse(BaseModel):
    """Results in input order."""

    date: dt.date
    results: list[BatchResult]
    hint: str | None = Field(
        None,
        description="Set when the date is before the register's first effective date: "
        "nothing is recorded then, so an empty answer does not mean outside every unit.",
    )


class HistoryPeriod(BaseModel):
    """A stretch of time during which the same units held the point."""

    valid_from: dt.date
    valid_to: dt.date | None
    units: list[UnitRef]


class HistoryResponse(BaseModel):
    """A point's jurisdictions through time."""

    point: Point
    input: InputPoint
    periods: list[HistoryPeriod]
    as_recorded: AsRecorded = None


class UnitOffice(BaseModel):
    """An office of a unit on a date."""

    kind: str
    code: str
    name: str
    unit: str
    address: str | None = None
    serves: list[str] = []
    valid_from: dt.date
    valid_to: dt.date | None


class UnitProperties(BaseModel):
    """A unit's version on a date."""

    code: str
    name: str
    name_en: str
    level: str
    parent: str | None
    valid_from: dt.date
    valid_to: dt.date | None
    provenance: str = Field(description="Where the geometry came from ('' = official).")
    area_m2: float | None = None
    offices: list[UnitOffice] | None = None


class UnitFeature(BaseModel):
    """A unit as a GeoJSON Feature."""

    type: Literal["Feature"] = "Feature"
    id: str
    geometry: dict[str, Any] | None
    properties: UnitProperties


class UnitCollection(BaseModel):
    """Units live on a date, as a GeoJSON FeatureCollection."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    date: dt.date
    numberMatched: int  # noqa: N815  (GeoJSON / OGC field name)
    numberReturned: int  # noqa: N815
    features: list[UnitFeature]
    as_recorded: AsRecorded = None
    hint: str | None = Field(
        None,
        description="Set when the date is before the register's first effective date: "
        "nothing is recorded then, so an empty answer does not mean outside every unit.",
    )


class HistoryEntry(BaseModel):
    """One change to a unit."""

    effective: dt.date
    recorded_at: dt.datetime
    operation: str = Field(description="split_off, merge, regrid, ... or the event name.")
    event: str = Field(description="established, redrawn, renamed, transferred, dissolved, ...")
    actor: str
    reason: str
    document: str
    change_set: uuid.UUID
    position: int
    details: dict[str, Any]


class UnitHistory(BaseModel):
    """Every change to a unit, in the order recorded."""

    code: str
    changes: list[HistoryEntry]
    as_recorded: AsRecorded = None


class LineageEdge(BaseModel):
    """Territory passed from `predecessor` to `successor`."""

    predecessor: str
    successor: str
    kind: str
    effective: dt.date
    change_set: uuid.UUID
    depth: int = Field(description="1 for direct links, 2 for links of links, ...")


class Lineage(BaseModel):
    """Predecessors and successors, transitively."""

    code: str
    predecessors: list[LineageEdge]
    successors: list[LineageEdge]
    as_recorded: AsRecorded = None


class ChangeAct(BaseModel):
    """A change set that changed a unit between the two dates."""

    change_set: uuid.UUID
    effective: dt.date
    reason: str
    document: str
    operations: list[str] = Field(description="What it did to the unit: split_off, rename, ...")


class Change(BaseModel):
    """One unit's change between two dates, with its name and the act that made it.

    `effective`, `change_set`, `reason` and `document` are those of the last act (change
    set) effective after `from` and by `to` that changed the unit; `acts` lists them all, in
    the order recorded. They are null (and `acts` empty) only if no recorded act explains the
    difference (a read model rebuilt from events that carry none)."""

    code: str
    level: str
    name: str = Field(description="The unit's name on `to` (on `from` for an ended unit).")
    effective: dt.date | None
    change_set: uuid.UUID | None
    reason: str | None
    document: str | None
    acts: list[ChangeAct]


class Established(Change):
    """A unit live on `to` but not on `from`."""

    parent: str | None
    parent_name: str | None


class Ended(Change):
    """A unit live on `from` but not on `to`."""

    parent: str | None
    parent_name: str | None


class Redrawn(Change):
    """A unit whose boundary differs, with the geodesic area gained and lost (m²)."""

    area_gained_m2: float
    area_lost_m2: float
    area_moved_m2: float


class Renamed(Change):
    """A unit whose name differs."""

    name_before: str
    name_after: str


class Transferred(Change):
    """A unit under another parent."""

    parent_before: str | None
    parent_after: str | None
    parent_name_before: str | None
    parent_name_after: str | None


class Changes(BaseModel):
    """What changed between two dates."""

    from_: dt.date = Field(alias="from")
    to: dt.date
    level: str | None
    as_recorded: AsRecorded = None
    hint: str | None = Field(
        None,
        description="Set when the date is before the register's first effective date: "
        "nothing is recorded then, so an empty answer does not mean outside every unit.",
    )
    established: list[Established]
    ended: list[Ended]
    redrawn: list[Redrawn]
    renamed: list[Renamed]
    transferred: list[Transferred]

    model_config = ConfigDict(populate_by_name=True)


class ChangeSetSummary(BaseModel):
    """One legal act in the log."""

    id: uuid.UUID
    effective: dt.date
    recorded_at: dt.datetime
    actor: str
    reason: str
    document: str
    units: list[str]
    events: int
    position: int


class ChangeSetDetail(ChangeSetSummary):
    """One legal act with its operations (geometries left out)."""

    operations: list[dict[str, Any]]


class ChangeSetLog(BaseModel):
    """The log of legal acts, most recently recorded first."""

    total: int
    change_sets: list[ChangeSetSummary]


class RepairLocation(BaseModel):
    """A point on the area a repair changed."""

    lon: float
    lat: float


class RepairEntry(BaseModel):
    """One repair of one unit's territory."""

    code: str
    name: str
    level: str
    repair: Literal["make_valid", "clip_to_parent", "snap_to_neighbours"]
    message: str
    area_m2: float = Field(description="Geodesic m² of the area changed.")
    location: RepairLocation


class UnitPreview(BaseModel):
    """A unit the change set changes, as it stands on the effective date afterwards."""

    code: str
    level: str
    name: str | None = Field(description="Its name afterwards; null if it ended.")
    parent: str | None = Field(description="Its parent afterwards (null: top level or ended).")
    ended: bool = Field(description="The change set ends it on the effective date.")
    geometry: dict[str, Any] | None = Field(
        description="GeoJSON MultiPolygon (WGS84) afterwards; null if it ended."
    )


class ChangeSetNote(BaseModel):
    """Something the editor should know of a change set that is not wrong (docs/errors.md
    lists the codes): an office's service area that followed its units, grew or shrank."""

    code: str
    message: str
    units: list[str] = Field(default_factory=list, description="The units and office named.")
    office: str | None = Field(default=None, description="The office whose area changed.")
    serves_before: list[str] | None = Field(
        default=None, description="The units the office served on the effective date before."
    )
    serves_after: list[str] | None = Field(
        default=None, description="The units it serves from the effective date."
    )


class ChangeSetReceipt(BaseModel):
    """What applying (or dry-running) a change set produced."""

    id: uuid.UUID | None
    events: int
    position: int | None
    units: list[str]
    dry_run: bool = False
    replayed: bool = Field(
        default=False,
        description=(
            "An earlier request with this Idempotency-Key stored it; nothing was stored now "
            "(a dry run with a used key says so too)."
        ),
    )
    projected: bool = Field(description="The read model already shows the change.")
    repairs: list[RepairEntry] = Field(
        default_factory=list,
        description="The repairs made to the operations' territories (only those asked for "
        "in the body's `repair`); the change set checked and stored is the repaired one.",
    )
    notes: list[ChangeSetNote] = Field(
        default_factory=list,
        description="What the change set does besides its operations that an editor should "
        "see, a dry run too: each office whose service area follows a unit it serves that "
        "ends or leaves (`service_area_passed`, `office_area_extended`, `office_area_reduced`).",
    )
    preview: list[UnitPreview] | None = Field(
        default=None,
        description="Only with ?preview=true: each unit the change set changes (redrawn, "
        "established, transferred, renamed, ended) as it stands on the effective date "
        "afterwards, to draw the result of an edit without another request.",
    )


class ProjectionStall(BaseModel):
    """The event the projection cannot apply: the read model holds everything before it and
    nothing after it until a release that can apply it runs (docs/operations.md)."""

    position: int = Field(description="The notification id of the event that cannot be applied.")
    event_topic: str = Field(description="The event's type, as the event log names it.")
    reason: str = Field(description="Why, in short: the error's class and first line.")
    since: dt.datetime = Field(description="When the projection first failed at this event.")
    last_attempt: dt.datetime
    attempts: int


class ProjectionStatus(BaseModel):
    """How far the read model has applied the event log."""

    position: int
    head: int
    lag: int
    stalled: ProjectionStall | None = Field(
        None, description="Set when the projection is stuck at an event (then /readyz is 503)."
    )


class LookupIndexStatus(BaseModel):
    """This process's lookups from memory."""

    current: bool = Field(description="Answering from memory now (else lookups use SQL).")
    position: int | None = Field(description="The read-model position it holds.")
    unit_versions: int
    epochs_indexed: int
    load_seconds: float = Field(description="How long the last load took.")
    disabled_reason: str = ""


class Readiness(BaseModel):
    """Readiness with projection lag.

    ``status`` is ``ready``, or ``stalled`` (with HTTP 503, the ``error`` of the contract with
    code ``projection_stalled``, and ``projection.stalled`` saying where and why) when the
    projection cannot apply an event: the service still answers, from a read model that stops
    before that event.
    """

    status: Literal["ready", "stalled"]
    projection: ProjectionStatus
    lookup_index: LookupIndexStatus | None = Field(
        None, description="Null when lookups from memory are off (JL_LOOKUP_INDEX=false)."
    )


class ErrorInfo(BaseModel):
    """What went wrong."""

    code: str
    message: str
    details: list[dict[str, Any]]


class ErrorResponse(BaseModel):
    """Every 4xx and 5xx body."""

    error: ErrorInfo


class NotReady(Readiness):
    """/readyz when the projection is stalled (503): the readiness, and the contract's error
    (``projection_stalled``) whose message and details say the position, topic and reason."""

    error: ErrorInfo


# The published lists: matters and offices ----------------------------------------------------


class MatterMove(BaseModel):
    """One period in which a matter was handled by one office kind at one level."""

    valid_from: dt.date
    valid_to: dt.date | None = Field(description="Exclusive end; null if still so.")
    level: str
    office_kind: str
    change_set: uuid.UUID | None = Field(description="The change set that made the move.")
    reason: str | None = None
    document: str | None = None


class Matter(BaseModel):
    """A matter (事项) of the responsibility list on the date asked, with its history."""

    matter: str
    name: str
    level: str = Field(description="The level whose office handles it on the date.")
    office_kind: str
    history: list[MatterMove] = Field(description="Every move between levels, in date order.")


class MatterCatalogue(BaseModel):
    """The responsibility list (清单) on a date: every matter, its level and office kind."""

    date: dt.date
    numberReturned: int  # noqa: N815  (as the other collections)
    matters: list[Matter]
    as_recorded: AsRecorded = None


class ServedUnit(BaseModel):
    """A unit an office serves on the date."""

    code: str
    name: str
    level: str


class ServiceArea(BaseModel):
    """Where an office is responsible on the date: the units it serves and their union."""

    units: list[ServedUnit]
    geometry: dict[str, Any] | None = Field(description="GeoJSON MultiPolygon (WGS84).")
    area_m2: float | None = Field(description="Geodesic area in m².")


class OfficeSummary(BaseModel):
    """An office open on the date asked."""

    code: str
    kind: str
    name: str
    unit: str = Field(description="The unit the office belongs to.")
    address: str | None = None
    location: Point | None = None
    serves: list[str] = Field(
        description="The units it serves, if not its whole unit (a workstation's communities, "
        "a new-area committee's streets); empty: all of `unit`."
    )
    valid_from: dt.date
    valid_to: dt.date | None = Field(description="Exclusive end of this version; null if open.")


class CommitteeRef(BaseModel):
    """An office of a community a workstation serves (its residents' committee)."""

    code: str
    kind: str
    name: str
    unit: str


class OfficeDetail(OfficeSummary):
    """An office with its service area on the date."""

    date: dt.date
    service_area: ServiceArea
    committees: list[CommitteeRef] = Field(
        default=[], description="For a workstation: the committees of the communities it serves."
    )
    as_recorded: AsRecorded = None


class OfficeList(BaseModel):
    """Offices open on a date, by code."""

    date: dt.date
    numberMatched: int  # noqa: N815  (as the other collections)
    numberReturned: int  # noqa: N815  (as the other collections)
    offices: list[OfficeSummary]
    as_recorded: AsRecorded = None
