"""The codes of `Problem`s: what is wrong with one operation or feature of a change set.

They come back in the ``details`` of a 422 ``invalid_change_set`` or ``invalid_import``.
Listed once here with their meaning (docs/errors.md is generated from it); a test checks that
every problem code the product raises is in this table.
"""

from __future__ import annotations

#: code -> meaning, grouped by where the problem is found.
PROBLEMS: dict[str, str] = {
    # The request's shape -----------------------------------------------------------------
    "body_not_object": "The change set must be a JSON object.",
    "operations_missing": "operations must be a non-empty list.",
    "too_many_operations": "A change set has more operations than allowed.",
    "operation_not_object": "Each operation must be an object.",
    "operation_unknown": "The op is not one of the known operations.",
    "field_missing": "A required field is missing.",
    "field_wrong_type": "A field has the wrong type (e.g. not a non-empty string).",
    "field_invalid": "A field's value is not one of those allowed.",
    "field_too_long": "A text field is longer than allowed.",
    "text_invalid": "A text cannot be stored: it holds a control character (other than tab or "
    "line break) or a lone surrogate, is longer than 2000 characters, shows nothing where "
    "something is required, or (a code) holds an invisible character.",
    "date_invalid": "A date is not YYYY-MM-DD (or not a real day).",
    "period_empty": "valid_to must be after valid_from.",
    "code_invalid": "A code breaks the code grammar (JL_CODE_PATTERN; by default letters and "
    "digits of any script, -, _ and ., at most 64).",
    "codes_repeated": "A list of codes names one code twice.",
    "coordinates_out_of_range": "A position lies outside longitude/latitude range (an office "
    "address, or an imported feature's coordinate, also one the file's CRS cannot transform).",
    "correct_nothing": "A correction needs a geometry and/or a name.",
    "merge_target": "A merge needs exactly one of absorb_into or into.",
    "merge_too_few": "A merge needs at least two units.",
    # Geometries ------------------------------------------------------------------------------
    "geometry_not_object": "A geometry must be a GeoJSON object.",
    "geometry_malformed": "A geometry cannot be read.",
    "geometry_wrong_type": "A geometry must be a Polygon or MultiPolygon.",
    "geometry_empty": "A geometry has no coordinates.",
    "geometry_too_large": "A geometry has more vertices than allowed.",
    "geometry_invalid": "A geometry is not valid (e.g. self-intersecting); the message says why.",
    "coordinate_not_finite": "A coordinate is NaN or infinite.",
    "ring_not_closed": "A linear ring does not end where it starts.",
    "ring_too_short": "A linear ring has fewer than four positions.",
    # Operations against the register ---------------------------------------------------------
    "level_unknown": "A level the register does not have.",
    "unit_unknown": "No unit was ever registered with this code.",
    "unit_not_live": "The unit does not exist on the change set's effective date.",
    "code_taken": "The code is already used (codes are never reused).",
    "parent_missing": "A unit of this level needs a parent.",
    "parent_not_allowed": "The top level has no parent.",
    "parent_wrong_level": "The parent is not of the level just above.",
    "transfer_same_parent": "The unit is already under this parent.",
    "merge_mixed": "Merged units must share a level and a parent.",
    "split_no_parts": "A split needs at least one new part.",
    "split_too_few_parts": "A full split needs at least two parts.",
    "split_full_keeps_code": "A full split ends the unit: no part may keep its code.",
    "split_nothing_left": "The parts take all of the unit; use mode full.",
    "split_part_outside": "The parts reach beyond the unit's territory.",
    "split_leaves_gap": "The parts of a full split leave part of the unit uncovered.",
    "child_straddles": "A child unit would straddle the new boundary (a split's, a move_area's, "
    "or with an import's children=follow a moved one): the message and `sides_m2` give the m² "
    "on each side, `location_point` a point on the part that crossed (a move_area's also its "
    "`area_m2` and, with problem_geometry=true, its geometry).",
    "move_area_same_unit": "A move_area's from_unit and to_unit are the same unit.",
    "move_area_levels": "A move_area's two units are of different levels.",
    "move_area_outside": "A move_area's piece lies mostly outside from_unit (or overlaps it by "
    "no more than the tolerance); area_m2 is the part outside.",
    "move_area_takes_all": "A move_area's piece takes all of from_unit; merge the two units "
    "(absorb_into) or dissolve it instead.",
    "move_area_not_neighbours": "A move_area's piece does not border to_unit along an edge: "
    "the receiving unit would get a detached piece.",
    "grids_exist": "The community already has grids; use regrid.",
    "level_has_no_children": "Units of this level have no child level.",
    "not_a_community": "Workstations serve units of the served level only.",
    "office_unknown": "No office with this code.",
    "office_closed": "The office is not open on the effective date.",
    "office_wrong_kind": "The office is of another kind than the operation needs.",
    "successor_is_self": "A workstation cannot succeed itself.",
    "use_open_workstation": "Open workstations with open_workstation.",
    "use_close_workstation": "Close workstations with close_workstation.",
    "workstation_streets": "A workstation serves communities of one street only.",
    "served_outside_unit": "An office serves only units inside the unit it belongs to.",
    # Map-wide rules, checked on the map after the whole change set ---------------------------
    "siblings_overlap": "Two units under one parent overlap (area_m2 says how much).",
    "child_outside_parent": "A unit reaches outside its parent.",
    "coverage_gap": "The children of a unit leave part of it uncovered.",
    "parent_not_live": "A unit ended while it still has children.",
    "community_unserved": "No workstation serves the community.",
    "community_served_twice": "More than one workstation serves the community.",
    "workstation_serves_outside": "A workstation serves a community outside its street.",
    "workstation_straddles": "A workstation serves communities now in different streets.",
    "office_serves_outside": "An office (not a workstation) names as served a unit that does "
    "not exist on a day, or is not inside the unit the office belongs to.",
    "office_area_empty": "Every unit an office names as served left the office's unit or ended "
    "with no successor in this change set: it would serve none of them (an empty service area "
    "means its whole unit); close it or change its service area in the same change set.",
    # Imports ---------------------------------------------------------------------------------
    "layer_empty": "The imported file has no features.",
    "feature_malformed": "An item of an imported FeatureCollection is not a GeoJSON Feature.",
    "code_missing": "A feature's code property is empty.",
    "code_repeated": "Two features have the same code.",
    "geometry_missing": "A feature has no geometry.",
    "name_missing": "A new unit's feature has no name.",
    "children_left_behind": "A note, not a problem (in an import report's `notes`): units "
    "of the level below lie outside their parent's new boundary and stay with it "
    "(children=keep); the message says what children=follow would transfer and which "
    "would straddle.",
    # Notes of a change set (its receipt's `notes`, an import report's `notes`) -------------
    "service_area_passed": "A note, not a problem: a unit an office serves by name was split, "
    "merged into a new unit, recoded or dissolved, and the office serves the units that "
    "continue it instead (`serves_before`, `serves_after`).",
    "office_area_extended": "A note, not a problem: a unit an office serves by name was merged "
    "into (or dissolved into) a unit the office did not serve, which it now serves whole: its "
    "area grew; change its service area in the same change set if it should not.",
    "office_area_reduced": "A note, not a problem: an office no longer serves a unit it "
    "named: the unit left the office's unit (e.g. a street transferred to another district) "
    "or ended with no successor. Its area shrank; an office of the unit's new parent must "
    "serve it there.",
    "precision_snapped": "A note, not a problem (in an import report's `notes`): rounding the "
    "feature to the stored precision would have made it invalid, so it was snap-rounded "
    "instead; area_m2 says how much area changed.",
}
