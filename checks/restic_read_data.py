"""restic-read-data: `restic check --read-data-subset=n/t`, rotating n each run so that every
pack is read once per cycle (agent.read_data_cycle, default 30d, divided by the schedule
interval gives t). The group that failed is read again next run until it passes. Coverage is
the share of groups read successfully within the last cycle."""

from __future__ import annotations

from agent.checking import CopyContext
from agent.clock import in_future, iso
from agent.models import CheckResult, Status
from agent.restic import ResticError, ResticFailure

ID = "restic-read-data"
FORMS = ("restic",)
ROLES = ("primary", "backup")
STATE_SECTION = "read-data"


def groups_per_cycle(cycle_seconds: float, interval_seconds: float) -> int:
    return max(1, round(cycle_seconds / interval_seconds))


def run(context: CopyContext) -> CheckResult:
    settings = context.settings
    total = groups_per_cycle(settings.read_data_cycle_seconds, settings.schedule_interval_seconds)
    state = context.state.get(STATE_SECTION, context.spec.key) or {}
    if state.get("t") != total:
        state = {"t": total, "next": 1, "read": {}}
    group = int(state.get("next", 1))
    now = context.now.timestamp()
    try:
        with context.task(f"restic check --read-data-subset={group}/{total}"):
            context.restic.check(read_data_subset=f"{group}/{total}")
        status, detail = Status.PASS, f"read pack group {group}/{total}: no errors"
        state["read"][str(group)] = now
        state["next"] = group % total + 1
    except ResticError as error:
        # The same group is read again next run: a corruption keeps failing until it is repaired.
        status = Status.FAIL if error.kind == ResticFailure.DATA_ERROR else Status.ERROR
        detail = f"read pack group {group}/{total}: {error}"
        state["read"].pop(str(group), None)
    # A group "read" at a time still to come (a clock that ran ahead) is not covered: read it again.
    state["read"] = {g: when for g, when in state["read"].items() if not in_future(when, now)}
    fresh = [g for g, when in state["read"].items() if now - when <= settings.read_data_cycle_seconds]
    coverage = len(fresh) / total
    state["last_run"] = iso(context.now)
    context.state.put(STATE_SECTION, context.spec.key, state)
    measured = {"subset": f"{group}/{total}", "coverage_ratio": round(coverage, 4)}
    return CheckResult(ID, status, f"{detail}; coverage {coverage:.0%} of packs in the last cycle", measured)
