"""The bulk job's contract read from JSON, and the synthetic library (no database, no Dask)."""

from __future__ import annotations

import json
from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import shapely

from bulk.source import CSV_PARTITION_BYTES, Part, read_part
from bulk.spec import (
    AssignmentSpec,
    InvalidJob,
    RecordSource,
    check_shape,
    column_name_problem,
    shown,
    spec_from_dict,
)
from bulk.synth import KINDS, demo_places, draw_partition, write_library


def test_a_job_round_trips_through_json():
    spec = AssignmentSpec(
        RecordSource("/data/r", id_column="rid", crs="gcj02"),
        "/data/out",
        dates=(date(2015, 1, 1), date(2017, 6, 1)),
        levels=("street",),
        aggregate=True,
        sum_columns=("persons",),
        workers=3,
    )
    assert spec_from_dict(json.loads(json.dumps(spec.as_dict()))) == spec
    assert check_shape(spec) == []


def test_a_bad_body_names_every_field_at_fault():
    with pytest.raises(InvalidJob) as caught:
        spec_from_dict(
            {"source": {"path": 7}, "dates": ["2016-13-01", "x"], "workers": 0, "aggregate": 1}
        )
    fields = {p.field: p.code for p in caught.value.problems}
    assert fields == {
        "source.path": "invalid_request",
        "output": "invalid_request",
        "dates[0]": "date_invalid",
        "dates[1]": "date_invalid",
        "aggregate": "invalid_request",
        "workers": "invalid_request",
    }
    assert "dates[1]: 'x' is not a date as YYYY-MM-DD" in str(caught.value)


def test_shape_rules():
    source = RecordSource("/r", date_column="when")
    both = AssignmentSpec(source, "/o", dates=(date(2016, 1, 1),))
    assert [p.field for p in check_shape(both)] == ["dates"]
    several = AssignmentSpec(RecordSource("/r"), "/o", dates=(date(2016, 1, 1), date(2017, 1, 1)))
    assert [p.message.split(":")[0] for p in check_shape(several)] == ["2 dates"]
    bad = AssignmentSpec(RecordSource("/r"), "/o", dates=(date(2016, 1, 1),), scheduler="host")
    assert [p.field for p in check_shape(bad)] == ["scheduler"]


def test_csv_partitions_cut_at_line_ends(tmp_path: Path):
    """Byte ranges cut anywhere give every line exactly once, the header to each."""
    path = tmp_path / "r.csv"
    lines = [f"{i},{114 + i / 1e5},{22.5 + i / 1e5}" for i in range(5000)]
    path.write_text("id,lon,lat\n" + "\n".join(lines) + "\n")
    size = path.stat().st_size
    cuts = [0, 1, 7, 11, 12, 999, 1000, 50_000, size - 3, size]
    ids: list[str] = []
    for start, end in pairwise(cuts):
        part = Part(0, str(path), "csv", start=start, end=end)
        ids += read_part(part, ["id", "lon", "lat"], {"lon", "lat"}).column("id").to_pylist()
    assert ids == [str(i) for i in range(5000)]
    assert CSV_PARTITION_BYTES > 1024 * 1024


def test_the_synthetic_library_is_seeded_labelled_and_inside_communities(tmp_path: Path):
    files = write_library(tmp_path / "lib", 2500, seed=7, partition_size=1000)
    assert files[-2:] == ["_manifest.json", "_README.md"]
    table = pq.read_table(tmp_path / "lib")  # the side files are passed over by readers
    assert table.num_rows == 2500
    assert table.column("id").to_pylist() == list(range(1, 2501))
    assert table.schema.metadata[b"synthetic"] == b"true"
    assert "SYNTHETIC" in (tmp_path / "lib" / "_README.md").read_text()
    assert json.loads((tmp_path / "lib" / "_manifest.json").read_text())["synthetic"] is True
    assert set(table.column("kind").to_pylist()) <= set(KINDS)
    days = table.column("date").to_pylist()
    assert min(days) >= date(2015, 1, 1) and max(days) <= date(2020, 12, 31)
    again = write_library(tmp_path / "again", 2500, seed=7, partition_size=1000)
    assert again == files
    assert pq.read_table(tmp_path / "again").equals(table)
    places = demo_places()
    city = shapely.union_all(places.shapes)
    inside = shapely.contains_xy(city, table.column("lon").to_numpy(), table.column("lat"))
    assert 0.98 < np.mean(inside) < 1.0  # a few strays outside every unit, as in real data
    other = draw_partition(places, 8, 0, 1000, 1)
    assert not other.equals(table.slice(0, 1000))


def test_hostile_column_names_are_refused_by_name_and_shown_escaped():
    assert shown("a\x00b") == r"'a\x00b'"
    assert shown("L" * 5000) == repr("L" * 60) + "… (5000 characters)"
    assert column_name_problem("persons") is None
    assert column_name_problem("人口 (2020)") is None
    # The register's text rule (domain.text): a tab or a line break can be stored and shown.
    assert column_name_problem("tab\there") is None
    for name in ("a\x00b", "\x1b[31mred", "lone\ud800", "L" * 257):
        why = column_name_problem(name)
        assert why is not None and not any(ord(c) < 32 for c in why)
    body = {"source": {"path": "r.csv", "lon_column": "\x1b]0;x\x07"}, "output": "o"}
    spec = spec_from_dict(
        {**body, "dates": ["2020-01-01"], "aggregate": True, "sum_columns": ["n\x00"]}
    )
    assert [(p.field, p.code) for p in check_shape(spec)] == [
        ("source.lon_column", "column_invalid"),
        ("sum_columns[0]", "column_invalid"),
    ]
    with pytest.raises(InvalidJob) as caught:
        spec_from_dict({"source": {"path": "r\ud800.csv"}, "output": "o"})
    assert [(p.field, p.code) for p in caught.value.problems] == [
        ("source.path", "invalid_request")
    ]
