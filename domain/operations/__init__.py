"""What each change-set operation does to the aggregates, grouped by what it works on.

Each handler checks what only it can know (codes free, units live, parts consistent), then
queues events through the `Workspace`. Rules that concern the map as a whole (containment,
overlaps, coverage, workstations) are checked afterwards by `domain.invariants`, once, on
the result of all operations together, after `settle_service_areas` has made every office's
service area fit the result. Importing this package registers every handler.
"""

from domain.operations import boundaries, grids, matters, offices, territory
from domain.operations.dispatch import apply_operation, handled
from domain.operations.service_areas import settle_service_areas

__all__ = [
    "apply_operation",
    "boundaries",
    "grids",
    "handled",
    "matters",
    "offices",
    "settle_service_areas",
    "territory",
]
