"""The read model: PostGIS tables built from the register's events, and the queries over them."""
