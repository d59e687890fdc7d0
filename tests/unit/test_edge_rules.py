"""The rules every edge shares: the code grammar, YYYY-MM-DD dates, plain numbers, JSON depth."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from api.edge import text_problem
from api.operations import parse_change_set
from api.params import LookupQuery
from api.requests import MAX_JSON_DEPTH, json_depth
from domain.codes import DEFAULT_CODE_PATTERN, check_code_pattern, code_is_valid
from domain.commands import ChangeSetRequest, Establish
from domain.errors import InvalidChangeSet
from domain.geometry import parse_territory
from domain.timeline import parse_day, parse_instant
from jurisdictions.cli import build_parser, with_limits
from jurisdictions.settings import Settings
from tests import scenario
from tests.unit.helpers import LENIENT, in_memory_register, square


@pytest.mark.parametrize(
    "code", ["440309", "440307-DP", "M1", "elderly-card", "深圳-1", "S3.b", "_x", "a" * 64]
)
def test_codes_of_the_demo_and_of_any_script_are_valid(code: str):
    assert code_is_valid(code)


@pytest.mark.parametrize(
    "code",
    ["", "RT@2016-01-01", "RT/..%2F", "a%41", "a?b", "a#b", ".", "..", ".a", "-a", "a b", "a\x00",
     "a\u200b", "a\\b", "a" * 65],
)  # fmt: skip
def test_codes_that_some_url_could_not_address_are_invalid(code: str):
    assert not code_is_valid(code)


@pytest.mark.parametrize("pattern", [r"\S+", r"[^/]+", r".+", r"[\w@]+", "(", r"[\w.]+"])
def test_a_grammar_admitting_an_unaddressable_code_is_refused_at_start_up(pattern: str):
    with pytest.raises(ValueError):
        check_code_pattern(pattern)
    with pytest.raises(ValidationError):
        Settings(code_pattern=pattern)  # type: ignore[call-arg]


def _rename(unit: str) -> dict[str, Any]:
    return {"effective": "2021-01-01", "reason": "x", "operations": [
        {"op": "rename", "unit": unit, "name": "x"}]}  # fmt: skip


def test_change_sets_use_the_configured_grammar():
    assert parse_change_set(_rename("AB12")).operations[0].unit == "AB12"  # type: ignore[attr-defined]
    with pytest.raises(InvalidChangeSet) as refused:
        parse_change_set(_rename("AB12"), code_pattern=r"[0-9]{6,12}")
    problem = refused.value.problems[0]
    assert (problem.code, problem.location) == ("code_invalid", "operations[0].unit")
    assert "[0-9]{6,12}" in problem.message
    parse_change_set(_rename("440309"), code_pattern=r"[0-9]{6,12}")
    with pytest.raises(InvalidChangeSet) as refused:
        parse_change_set(_rename("M1@2015-01-01"))
    assert refused.value.problems[0].code == "code_invalid"


def test_the_scenarios_codes_follow_the_default_grammar():
    for body in (scenario.FOUNDING, scenario.MATTER_MOVE, scenario.STREET_SPLIT):
        parse_change_set(body, code_pattern=DEFAULT_CODE_PATTERN)


@pytest.mark.parametrize(
    "text",
    ["20310101", "2031-W01-1", "2031-1-1", "2031-02-30", "2031-001", "1924992000", " 2031-01-01",
     "2031-01-01T00:00:00", "٢٠٣١-٠١-٠١"],
)  # fmt: skip
def test_a_day_is_yyyy_mm_dd_and_nothing_else(text: str):
    with pytest.raises(ValueError):
        parse_day(text)
    with pytest.raises(InvalidChangeSet) as refused:
        parse_change_set({**_rename("M1"), "effective": text})
    assert refused.value.problems[0].code == "date_invalid"


def test_days_and_instants_that_are_fine():
    assert str(parse_day("2031-01-01")) == "2031-01-01"
    assert parse_instant("2016-06-01T08:00:00+08:00").isoformat() == "2016-06-01T08:00:00+08:00"
    assert parse_instant("2016-06-01").tzinfo is not None
    with pytest.raises(ValueError):
        parse_instant("1924992000")


@pytest.mark.parametrize("value", ["1_14", "0x10", "nan", "inf", "-Infinity", " 114", "114 ",
                                   "+114", "1e2", "１１４", ""])  # fmt: skip
def test_query_numbers_are_plain_decimals(value: str):
    with pytest.raises(ValidationError) as refused:
        LookupQuery.model_validate({"lon": value, "lat": "22.5"})
    assert refused.value.errors()[0]["type"] == "number_invalid"


@pytest.mark.parametrize("value", ["114", "-114.5", "114.", ".5", "0"])
def test_plain_decimals_are_numbers(value: str):
    assert LookupQuery.model_validate({"lon": value, "lat": "22.5"}).lon == float(value)


@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.sampled_from('[]{}"\\ab,:')),
    lambda children: st.lists(children) | st.dictionaries(st.text(max_size=3), children),
    max_leaves=30,
))  # fmt: skip
def test_json_depth_measures_what_a_parser_would_nest(value: Any):
    def depth(node: Any) -> int:
        if isinstance(node, list):
            return 1 + max((depth(child) for child in node), default=0)
        if isinstance(node, dict):
            return 1 + max((depth(child) for child in node.values()), default=0)
        return 0

    assert json_depth(json.dumps(value).encode()) == depth(value)


def test_json_depth_is_linear_for_any_depth():
    assert json_depth(b"[" * 100_000 + b"]" * 100_000) == 100_000 > MAX_JSON_DEPTH
    assert json_depth(b'["' + b"[" * 1000 + b'"]') == 1


@pytest.mark.parametrize(
    ("raw", "problem"),
    [(b"M1%00", "control"), (b"%FF", "UTF-8"), (b"%ED%A0%80", "UTF-8"), (b"a%1Bb", "control"),
     (b"%C2%85", "control"), (b"a+%7F", "control")],
)  # fmt: skip
def test_parameters_with_controls_or_broken_escapes_are_refused(raw: bytes, problem: str):
    found = text_problem(raw, plus_is_space=True)
    assert found is not None and problem in found


@pytest.mark.parametrize("raw", [b"M1", b"%E6%B7%B1%E5%9C%B3", b"a+b", b"2015-01-01", b""])
def test_ordinary_parameters_pass(raw: bytes):
    assert text_problem(raw, plus_is_space=True) is None


def test_the_register_itself_refuses_a_new_code_outside_its_grammar():
    """The domain owns the rule: a command made without the API's fields is checked too."""
    register = in_memory_register(replace(LENIENT, code_pattern=r"[A-Z][0-9]*"))
    territory = parse_territory(square(114.0, 22.5, 0.1), "")
    for code, problems in (("C@1", ["code_invalid"]), ("c1", ["code_invalid"]), ("C1", [])):
        establish = Establish(code, "city", "name", None, territory, location="operations[0]")
        request = ChangeSetRequest(date(2015, 1, 1), "test", "", (establish,))
        found = [p.code for p in register.check_operations(request, actor="t")]
        assert found == problems, (code, found)


def test_serve_takes_the_http_limits_as_flags_checked_like_the_settings():
    settings = Settings(database_url="postgresql://u@h/db")
    parser = build_parser()
    args = parser.parse_args(["serve", "--header-timeout", "2.5", "--max-header-count", "50"])
    limited = with_limits(args, settings)
    assert (limited.header_timeout, limited.max_header_count) == (2.5, 50)
    assert limited.database_url == settings.database_url
    assert limited.body_timeout == settings.body_timeout
    assert with_limits(parser.parse_args(["serve"]), settings) is settings
    with pytest.raises(ValueError):
        with_limits(parser.parse_args(["serve", "--header-timeout", "-1"]), settings)
