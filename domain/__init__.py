"""The jurisdiction domain: units, their dated versions, change sets and the rules they must keep.

Pure Python on top of `eventsourcing`, shapely and pyproj: nothing here knows about HTTP or SQL,
so the same model runs on the in-memory event store in unit tests and on PostgreSQL in production.
"""
