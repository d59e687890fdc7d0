"""Who a token lets act: the one list of roles (tokens, the API's checks and the CLI use it)."""

from __future__ import annotations

#: Readers read (when reads are closed), editors write, analysts run bulk assignment jobs.
ROLES = ("reader", "editor", "analyst")
#: The roles that may submit jobs (`/v1/jobs`) and read their own.
JOB_ROLES = ("analyst", "editor")
#: The roles that may write to the register.
WRITE_ROLES = ("editor",)
