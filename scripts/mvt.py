"""A minimal Mapbox vector tile reader for tests and benchmarks: features with their properties
resolved, and counted.

Only what comparing two tiles needs: each layer's features as (properties, geometry), where the
properties are resolved through the layer's keys and values (whose order depends on the order
features were written) and the geometry is the feature's command stream (each feature's cursor
starts at 0,0, so it does not depend on the order either).
"""

from __future__ import annotations

from collections.abc import Iterator

Feature = tuple[tuple[tuple[str, object], ...], tuple[int, ...]]


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, bytes | int]]:
    """Top-level protobuf fields (number, value) of a message."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            yield number, value
        elif wire == 2:
            length, i = _varint(data, i)
            yield number, data[i : i + length]
            i += length
        elif wire == 1:
            yield number, int.from_bytes(data[i : i + 8], "little")
            i += 8
        elif wire == 5:
            yield number, int.from_bytes(data[i : i + 4], "little")
            i += 4
        else:
            raise ValueError(f"unexpected wire type {wire}")


def _packed(data: bytes) -> tuple[int, ...]:
    values, i = [], 0
    while i < len(data):
        value, i = _varint(data, i)
        values.append(value)
    return tuple(values)


def _value(data: bytes) -> object:
    for number, value in _fields(data):
        if number == 1 and isinstance(value, bytes):
            return value.decode()
        return (number, value)  # numbers and booleans: compared as encoded
    return None


def layers(tile: bytes) -> dict[str, list[Feature]]:
    """Each layer's features, sorted (so two tiles compare whatever their feature order)."""
    found: dict[str, list[Feature]] = {}
    for number, layer in _fields(tile):
        if number != 3 or not isinstance(layer, bytes):
            continue
        name, keys, values, raw = "", [], [], []
        for field, value in _fields(layer):
            if not isinstance(value, bytes):
                continue
            if field == 1:
                name = value.decode()
            elif field == 2:
                raw.append(value)
            elif field == 3:
                keys.append(value.decode())
            elif field == 4:
                values.append(_value(value))
        features = []
        for data in raw:
            tags: tuple[int, ...] = ()
            geometry: tuple[int, ...] = ()
            for field, value in _fields(data):
                if field == 2 and isinstance(value, bytes):
                    tags = _packed(value)
                elif field == 4 and isinstance(value, bytes):
                    geometry = _packed(value)
            properties = tuple(
                sorted((keys[tags[i]], values[tags[i + 1]]) for i in range(0, len(tags), 2))
            )
            features.append((properties, geometry))
        found[name] = sorted(features, key=repr)
    return found


def feature_count(tile: bytes) -> int:
    """How many features a tile holds (all layers), without resolving them."""
    count = 0
    for number, layer in _fields(tile):
        if number == 3 and isinstance(layer, bytes):
            count += sum(1 for n, _ in _fields(layer) if n == 2)
    return count
