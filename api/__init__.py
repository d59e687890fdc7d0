"""The HTTP API: FastAPI routes over the register (writes) and the read model (reads)."""
