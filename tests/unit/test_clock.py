"""The register's "today" is the date in its time zone (issue 16), decided in domain/clock.py."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.clock import today_in, zone
from jurisdictions.settings import DEFAULT_DATABASE_URL as URL
from jurisdictions.settings import Settings

#: 01:26 in Beijing on 7 December is still 6 December in UTC (17:26Z).
BEIJING_0126 = dt.datetime(2026, 12, 6, 17, 26, tzinfo=dt.UTC)


def test_at_0126_beijing_time_today_is_the_beijing_date():
    assert today_in(zone("Asia/Shanghai"), BEIJING_0126) == dt.date(2026, 12, 7)
    assert today_in(zone("UTC"), BEIJING_0126) == dt.date(2026, 12, 6)


def test_settings_today_follows_jl_time_zone():
    beijing = Settings(database_url=URL, time_zone="Asia/Shanghai")
    assert beijing.today(BEIJING_0126) == dt.date(2026, 12, 7)
    assert Settings(database_url=URL).today(BEIJING_0126) == dt.date(
        2026, 12, 6
    )  # the default zone is UTC


def test_local_midnight_is_the_change_of_day():
    shanghai = zone("Asia/Shanghai")
    before = dt.datetime(2026, 12, 6, 15, 59, 59, tzinfo=dt.UTC)  # 23:59:59 in Beijing
    assert today_in(shanghai, before) == dt.date(2026, 12, 6)
    assert today_in(shanghai, before + dt.timedelta(seconds=1)) == dt.date(2026, 12, 7)


def test_an_unknown_zone_or_a_naive_instant_is_refused():
    with pytest.raises(ValueError, match="time zone"):
        Settings(database_url=URL, time_zone="Mars/Olympus")
    with pytest.raises(ValueError, match="aware"):
        today_in(zone("UTC"), dt.datetime(2026, 12, 6, 17, 26))
