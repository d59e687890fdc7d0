"""Bulk assignment of records to units (issue 17): the engine behind `jurisdictions assign`
and the HTTP jobs API.

- `spec`: the contract (what a job asks, its progress and result, `InvalidJob`); cheap to import;
- `run`: `run_assignment`, which checks a spec against the data and the register, ships the
  layers of the dates asked to every Dask worker once, and resolves each partition there with
  the lookup service's own index (`projections.lookup_index`);
- `synth`: the seeded, labelled-synthetic records library of the Shenzhen demo.
"""

from bulk.spec import (
    AssignmentResult,
    AssignmentSpec,
    InvalidJob,
    JobProblem,
    Progress,
    RecordSource,
    spec_from_dict,
)

__all__ = [
    "AssignmentResult",
    "AssignmentSpec",
    "InvalidJob",
    "JobProblem",
    "Progress",
    "RecordSource",
    "spec_from_dict",
]
