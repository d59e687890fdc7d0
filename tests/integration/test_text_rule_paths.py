"""The text rule holds on the paths that do not go through the HTTP edge: an import (file
properties become domain commands) and command-line arguments (a reason that is not valid
UTF-8 arrives as a lone surrogate)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from jurisdictions.bootstrap import Services
from jurisdictions.commands.imports import import_layer
from tests import scenario

pytestmark = pytest.mark.db


def layer(tmp_path: Path, name: str) -> Path:
    """The communities of the scenario's street S1, unchanged but for M1's name."""
    path = tmp_path / "communities.geojson"
    features = [
        {
            "type": "Feature",
            "properties": {"code": "M1", "name": name, "parent": "S1"},
            "geometry": scenario.box(114.0, 22.5, 114.04, 22.6),
        },
        {
            "type": "Feature",
            "properties": {"code": "M4", "name": "M4 name", "parent": "S1"},
            "geometry": scenario.box(114.07, 22.5, 114.1, 22.6),
        },
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    return path


@pytest.mark.parametrize(
    ("name", "reason", "location"),
    [
        ("M1\u0007bell", "renamed", "features[0].properties.name"),
        ("M1\u0085next line", "renamed", "features[0].properties.name"),
        ("M1 renamed", "why\udcff", "reason"),  # a non-UTF-8 byte in a command-line argument
    ],
)
def test_an_import_with_unstorable_text_is_refused_at_the_field(
    services: Services, tmp_path: Path, name: str, reason: str, location: str
):
    scenario.build(services.register)
    services.worker.catch_up()
    head = services.worker.head()
    for dry_run in (True, False):
        outcome = import_layer(
            services,
            layer(tmp_path, name),
            level="community",
            effective=date(2031, 1, 1),
            reason=reason,
            actor="cli",
            dry_run=dry_run,
        )
        assert outcome.write is None
        assert [(p.code, p.location) for p in outcome.problems] == [("text_invalid", location)]
    assert services.worker.head() == head


def test_an_import_with_storable_text_is_applied(services: Services, tmp_path: Path):
    scenario.build(services.register)
    services.worker.catch_up()
    outcome = import_layer(
        services,
        layer(tmp_path, "M1 福田\ttab"),
        level="community",
        effective=date(2031, 1, 1),
        reason="renamed\nin two lines",
        actor="cli",
    )
    assert not outcome.problems
    assert outcome.write is not None and outcome.write.stored
    services.worker.catch_up()
    assert services.worker.position() == services.worker.head()
