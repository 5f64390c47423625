"""Application checks on restored data (restore_test.validate): is what came back usable by the
business, not only the bytes that were backed up?

- model.py: a validator as configured, a query and its expected answer, the verdicts;
- runner.py: which files the validators need, running them on a restored tree;
- postgres_dump.py + pg_cluster.py: a pg_dump restored into a throwaway PostgreSQL cluster;
- sqlite.py, archive.py, command.py: the other validators;
- sandbox.py: who their commands run as and with which (secret-free) environment.

agent.restore runs them inside a restore test's scratch directory, before it is removed;
checks/restore_validate.py reports the result, agent.drill counts it in the RTO.
"""

from agent.validate.model import Query, Validation, ValidatorSpec, Verdict, judge
from agent.validate.runner import TYPES, Place, matching, needed_files, run_validators

__all__ = ["TYPES", "Place", "Query", "Validation", "ValidatorSpec", "Verdict", "matching", "judge", "needed_files",
           "run_validators"]
