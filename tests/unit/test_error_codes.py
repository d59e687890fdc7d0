"""One error vocabulary: every code the product raises is in the one table, with one status,
and docs/errors.md is the table."""

from __future__ import annotations

import re

from api.error_codes import ERROR_CODES, markdown
from domain.problem_codes import PROBLEMS
from tests.conftest import ROOT

PRODUCT = ("api", "domain", "projections", "jurisdictions", "maps")

#: ApiError(status.HTTP_404_..., "code", ...) (the older form, still accepted).
LITERAL_API_ERROR = re.compile(r'ApiError\(\s*(?:status\.HTTP_(\d{3})\w*|(\d{3}))\s*,\s*"(\w+)"')
#: ApiError.of(codes.NAME, ...)
TABLE_API_ERROR = re.compile(r"ApiError\.of\(\s*codes\.([A-Z_]+)\b")
#: Problem("code", ...), workspace.fail("code", ...), reader.problem("code", ...), and the
#: geometry and invariant helpers: a problem's code is always the first, literal, argument.
PROBLEM_CALL = re.compile(r'\b(?:Problem|fail|problem|_error|report)\(\s*"([a-z][a-z0-9_]*)"')


def _sources() -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for folder in PRODUCT
        for path in (ROOT / folder).rglob("*.py")
    }


def test_every_api_error_code_is_in_the_table_with_its_status():
    from api import error_codes

    seen = 0
    for path, text in _sources().items():
        for match in LITERAL_API_ERROR.finditer(text):
            status, code = int(match.group(1) or match.group(2)), match.group(3)
            assert code in ERROR_CODES, f"{path}: {code!r} is not in api/error_codes.py"
            assert ERROR_CODES[code].status == status, f"{path}: {code!r} answered with {status}"
            seen += 1
        for match in TABLE_API_ERROR.finditer(text):
            assert hasattr(error_codes, match.group(1)), f"{path}: no codes.{match.group(1)}"
            seen += 1
    assert seen > 20


def test_every_problem_code_is_in_the_problem_table():
    found = {
        (path, match.group(1))
        for path, text in _sources().items()
        if path.startswith(("domain", "projections"))
        for match in PROBLEM_CALL.finditer(text)
    }
    assert len(found) > 50
    missing = sorted(f"{path}: {code}" for path, code in found if code not in PROBLEMS)
    assert not missing, "problem codes missing from domain/problem_codes.py:\n" + "\n".join(missing)


def test_one_code_per_mistake():
    # The batch lookup used to say unknown_level where every other check says level_unknown.
    assert "unknown_level" not in ERROR_CODES and "unknown_level" not in PROBLEMS
    assert ERROR_CODES["level_unknown"].status == 422
    everything = "\n".join(_sources().values())
    assert '"unknown_level"' not in everything
    # A point outside lon/lat ranges is one mistake, in a lookup or in an office's address.
    assert '"coordinate_out_of_range"' not in everything
    # unit_not_found is made in one place: the handler of the domain's UnitNotFound.
    assert everything.count('"unit_not_found"') == 1


def test_docs_errors_md_is_the_table():
    assert (ROOT / "docs" / "errors.md").read_text(encoding="utf-8") == markdown(), (
        "regenerate: python -m api.error_codes > docs/errors.md"
    )
