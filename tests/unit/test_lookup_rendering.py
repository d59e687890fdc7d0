"""The API's rendered-JSON cache lives beside the lookup index, not inside it, and lasts
exactly as long as the epoch it was rendered for."""

from __future__ import annotations

import gc

import orjson

from api.routes.lookup import RenderedUnits


class Epoch:
    """Stands for an index epoch: any object the cache may key on and outlive."""


def test_renderings_are_kept_per_epoch_and_levels_and_dropped_with_the_epoch() -> None:
    cache = RenderedUnits()
    first, second = Epoch(), Epoch()
    every = cache.of(first, (0, 1, 2))
    every[7] = orjson.Fragment(b'[{"code":"A"}]')
    assert cache.of(first, (0, 1, 2)) is every
    assert orjson.dumps(every[-1]) == b"[]"  # points in no unit
    assert 7 not in cache.of(first, (1,))
    assert 7 not in cache.of(second, (0, 1, 2))
    assert len(cache) == 2
    del first
    gc.collect()
    assert len(cache) == 1
