from datetime import date

from domain.timeline import DatedValue, Period


def d(text: str) -> date:
    return date.fromisoformat(text)


def as_list(value: DatedValue[str]) -> list[tuple[str, str | None, str]]:
    return [
        (s.period.start.isoformat(), s.period.end.isoformat() if s.period.end else None, s.value)
        for s in value.segments()
    ]


def test_a_change_holds_until_the_next_later_change():
    value: DatedValue[str] = DatedValue()
    value.change_from(d("2015-01-01"), "A")
    value.change_from(d("2018-01-01"), "C")
    assert as_list(value) == [("2015-01-01", "2018-01-01", "A"), ("2018-01-01", None, "C")]


def test_a_backdated_change_fills_only_up_to_the_change_after_it():
    value: DatedValue[str] = DatedValue()
    value.change_from(d("2015-01-01"), "A")
    value.change_from(d("2018-01-01"), "C")
    value.change_from(d("2016-06-01"), "B")
    assert as_list(value) == [
        ("2015-01-01", "2016-06-01", "A"),
        ("2016-06-01", "2018-01-01", "B"),
        ("2018-01-01", None, "C"),
    ]
    assert value.value_on(d("2016-05-31")) == "A"
    assert value.value_on(d("2016-06-01")) == "B"
    assert value.value_on(d("2014-12-31")) is None


def test_a_correction_changes_only_its_period():
    value: DatedValue[str] = DatedValue()
    value.change_from(d("2015-01-01"), "A")
    value.correct(Period(d("2016-01-01"), d("2017-01-01")), "fixed")
    assert as_list(value) == [
        ("2015-01-01", "2016-01-01", "A"),
        ("2016-01-01", "2017-01-01", "fixed"),
        ("2017-01-01", None, "A"),
    ]
    # A correction is not a real-world change point.
    assert value.change_days() == [d("2015-01-01")]


def test_equal_neighbours_merge():
    value: DatedValue[str] = DatedValue()
    value.change_from(d("2015-01-01"), "A")
    value.change_from(d("2016-01-01"), "A")
    assert as_list(value) == [("2015-01-01", None, "A")]


def test_period_intersection_and_overlap():
    a = Period(d("2015-01-01"), d("2016-01-01"))
    b = Period(d("2015-06-01"))
    assert a.overlaps(b)
    assert a.intersection(b) == Period(d("2015-06-01"), d("2016-01-01"))
    assert a.intersection(Period(d("2016-01-01"))) is None
