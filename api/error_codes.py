"""The one table of error codes an API answer's ``error.code`` may carry.

Each code is one client mistake (or one server condition), with its HTTP status and meaning.
Routes raise `ApiError.of(CODE, message)` with these constants; `docs/errors.md` is generated
from this table and `PROBLEMS` (`python -m api.error_codes > docs/errors.md`), and a test checks
that every code raised anywhere in the product is listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.problem_codes import PROBLEMS


@dataclass(frozen=True)
class ErrorCode:
    """One code of the vocabulary: what the client sees in ``error.code`` and with which status."""

    code: str
    status: int
    meaning: str


# Requests --------------------------------------------------------------------------------------
INVALID_REQUEST = ErrorCode(
    "invalid_request", 422, "A parameter or a body field fails validation; details name each."
)
MALFORMED_JSON = ErrorCode("malformed_json", 400, "The body is not valid JSON.")
BODY_MISSING = ErrorCode("body_missing", 400, "The request needs a body and has none.")
BODY_NOT_OBJECT = ErrorCode("body_not_object", 422, "The JSON body must be an object.")
BODY_TOO_LARGE = ErrorCode(
    "body_too_large", 413, "The body (or uploaded file) is larger than the server accepts."
)
UNSUPPORTED_MEDIA_TYPE = ErrorCode(
    "unsupported_media_type", 415, "The body must be sent as application/json."
)
BATCH_TOO_LARGE = ErrorCode("batch_too_large", 413, "A batch lookup has too many points.")
LEVEL_UNKNOWN = ErrorCode(
    "level_unknown", 422, "A level the register does not have (parameter, path or form field)."
)
BBOX_INVALID = ErrorCode(
    "bbox_invalid", 422, "bbox is not west,south,east,north in degrees within range."
)
COORDINATES_OUT_OF_RANGE = ErrorCode(
    "coordinates_out_of_range", 422, "A lookup point lies outside longitude/latitude range."
)
DATETIME_INVALID = ErrorCode(
    "datetime_invalid", 400, "An OGC datetime is not a date, a date-time or an interval a/b."
)
DATE_INVALID = ErrorCode(
    "date_invalid", 422, "A date (parameter, form or body field) is not YYYY-MM-DD, or no real day."
)
NUMBER_INVALID = ErrorCode(
    "number_invalid",
    422,
    "A number in a query or path is not a plain decimal (no 1_000, 0x10, 1e3, nan, inf, spaces).",
)
PERIOD_INVALID = ErrorCode("period_invalid", 422, "A period's start (from) is after its end (to).")
TEXT_INVALID = ErrorCode(
    "text_invalid",
    422,
    "A path or query parameter holds a control character, or its percent-escapes are not UTF-8.",
)
BODY_TOO_DEEP = ErrorCode(
    "body_too_deep", 422, "The JSON body is nested deeper than the server reads (see details)."
)
HEADERS_TOO_LARGE = ErrorCode(
    "headers_too_large",
    431,
    "The request's headers are larger, or more numerous, than the server accepts.",
)
REQUEST_TIMEOUT = ErrorCode(
    "request_timeout", 408, "The client sent its request too slowly; the connection is closed."
)
# Access ----------------------------------------------------------------------------------------
UNAUTHORIZED = ErrorCode("unauthorized", 401, "No valid bearer token was presented.")
FORBIDDEN = ErrorCode("forbidden", 403, "The token may only read; this needs an editor token.")
# Not found -------------------------------------------------------------------------------------
NOT_FOUND = ErrorCode("not_found", 404, "No such path.")
UNIT_NOT_FOUND = ErrorCode("unit_not_found", 404, "No unit was ever registered with this code.")
UNIT_NOT_LIVE = ErrorCode(
    "unit_not_live", 404, "The unit exists but not on the date asked; see its history."
)
CHANGE_SET_NOT_FOUND = ErrorCode("change_set_not_found", 404, "No change set with this id.")
MATTER_NOT_FOUND = ErrorCode(
    "matter_not_found", 404, "No matter (事项) with this code; the message lists the known ones."
)
OFFICE_NOT_FOUND = ErrorCode(
    "office_not_found", 404, "No office was ever registered with this code."
)
OFFICE_NOT_OPEN = ErrorCode(
    "office_not_open", 404, "The office exists but was not open on the date asked."
)
COLLECTION_NOT_FOUND = ErrorCode(
    "collection_not_found", 404, "No OGC collection with this id (a level or workstations)."
)
FEATURE_NOT_FOUND = ErrorCode(
    "feature_not_found", 404, "No OGC feature with this id (on the date asked)."
)
TILE_OUT_OF_RANGE = ErrorCode("tile_out_of_range", 404, "The tile's z/x/y lies outside the grid.")
METHOD_NOT_ALLOWED = ErrorCode(
    "method_not_allowed", 405, "The path does not take this method; see the Allow header."
)
# Writes ----------------------------------------------------------------------------------------
INVALID_CHANGE_SET = ErrorCode(
    "invalid_change_set",
    422,
    "The change set breaks a rule; details list every problem (codes below); nothing stored.",
)
INVALID_IMPORT = ErrorCode(
    "invalid_import",
    422,
    "The imported layer or its change set has problems; the body keeps the import report "
    "and details list every problem; nothing stored.",
)
UNSUPPORTED_FILE = ErrorCode(
    "unsupported_file",
    415,
    "An imported file must be GeoJSON or a GeoPackage, recognised by its content; the message "
    "says what the file looks like.",
)
FILE_UNREADABLE = ErrorCode(
    "file_unreadable",
    422,
    "The imported file cannot be read as a layer (not valid JSON, damaged, no geometry column, "
    "an unusable CRS, several tables and no `layer`); the message says why.",
)
IMPORT_MODE_INVALID = ErrorCode(
    "import_mode_invalid", 422, "An import's mode is not `update` or `replace`."
)
REPLACE_PARENTS_INVALID = ErrorCode(
    "replace_parents_invalid",
    422,
    "replace_parents is missing (mode=replace below the top level), given without "
    "mode=replace, or names a code that is not a unit of the parent level on the date.",
)
LAYERS_INVALID = ErrorCode(
    "layers_invalid",
    422,
    "An import names neither `level` nor `layers`, or both; a `layers` item is not "
    "`table:level`, names an unknown level, or a table or level twice; or mode=replace is "
    "asked with several layers.",
)
CHILDREN_INVALID = ErrorCode(
    "children_invalid",
    422,
    "An import's children option is not `keep` or `follow`, or children_sliver_m2 is not a "
    "plain number of m² >= 0.",
)
REPAIR_UNKNOWN = ErrorCode(
    "repair_unknown",
    422,
    "A repair asked for (form field or body field `repair`) is not one of make_valid, "
    "clip_to_parent, snap_to_neighbours.",
)
SLIVER_M2_INVALID = ErrorCode(
    "sliver_m2_invalid", 422, "sliver_m2 (form or body field) is not a number of m² >= 0."
)
CONCURRENT_CHANGE = ErrorCode(
    "concurrent_change",
    409,
    "Someone else changed the same units or family meanwhile (after the change set was "
    "worked out, or after its `based_on` position); nothing stored. The message says who and "
    "what to reload; `details` name each change set (units, change_set, actor, reason, "
    "effective, position). Reload and make the edit again on the map as it is now.",
)
IDEMPOTENCY_KEY_REUSED = ErrorCode(
    "idempotency_key_reused",
    422,
    "This actor already used the Idempotency-Key for a different request (another body or "
    "date); nothing stored. A retry must resend the same request; a new request needs a new "
    "key. 422 as the IETF Idempotency-Key draft advises (Stripe answers 400).",
)
# Server ----------------------------------------------------------------------------------------
DATABASE_UNAVAILABLE = ErrorCode(
    "database_unavailable", 503, "The database is unreachable; retry after Retry-After seconds."
)
PROJECTION_STALLED = ErrorCode(
    "projection_stalled",
    503,
    "/readyz: the projection cannot apply an event; the body names its position, topic and "
    "reason, since when, the head and the lag (see docs/operations.md).",
)
INTERNAL_ERROR = ErrorCode("internal_error", 500, "A bug; it was logged.")
HTTP_ERROR = ErrorCode("http_error", 400, "Any other HTTP error (status as answered).")

#: Codes that a query, path or form parameter's own validation raises (pydantic error types of
#: `api.params` and `api.fields`); a 422 whose problems all share one answers with that code.
PARAMETER_CODES: dict[str, ErrorCode] = {
    e.code: e for e in (DATE_INVALID, NUMBER_INVALID, TEXT_INVALID)
}

#: Every code by its name.
ERROR_CODES: dict[str, ErrorCode] = {
    entry.code: entry for entry in globals().copy().values() if isinstance(entry, ErrorCode)
}


def markdown() -> str:
    """docs/errors.md: both tables, generated."""
    lines = [
        "# Error codes",
        "",
        (
            "<!-- Generated by `python -m api.error_codes > docs/errors.md`; "
            "tests/unit/test_error_codes.py checks it. -->"
        ),
        "",
        (
            'Every error answers `{"error": {"code", "message", "details": [...]}}`. '
            "`code` is one of these (defined once, in `api/error_codes.py`):"
        ),
        "",
        "| code | HTTP status | meaning |",
        "|---|---|---|",
    ]
    lines += [f"| `{e.code}` | {e.status} | {e.meaning} |" for e in ERROR_CODES.values()]
    lines += [
        "",
        "## Problems in a change set or an import",
        "",
        (
            "A 422 `invalid_change_set` or `invalid_import` lists each problem in `details` as "
            '`{"code", "message", "location", "units", "area_m2"}`, and a `hint` naming the '
            "repair option that would fix it where one would (docs/imports.md). Problem codes "
            "(defined in `domain/problem_codes.py`):"
        ),
        "",
        "| code | meaning |",
        "|---|---|",
    ]
    lines += [f"| `{code}` | {meaning} |" for code, meaning in PROBLEMS.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
