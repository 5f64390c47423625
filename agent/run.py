"""One verification run: every selected copy through its checks, targets in parallel, then the
dataset policy. Returns a RunResult; agent.publish feeds it to the sinks (records, metrics)."""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType

import checks
from agent import __version__, identity, interrupt, restic, verifications
from agent.checking import CopyContext, PerRepository, PrimaryManifest, RunOptions
from agent.clock import age_seconds
from agent.clock import now as clock_now
from agent.config import Config, CopySpec, Dataset
from agent.errors import NoSpaceError, TargetUnavailable
from agent.hash_cache import HashCache
from agent.models import CheckResult, CopyResult, DatasetResult, RunResult, Status
from agent.restic import ResticError, ResticRepository
from agent.restic.locks import LEDGER_NAME, ChildLedger, removal_note
from agent.state import StateStore
from agent.targets import TargetContext, TargetHandle, open_target

log = logging.getLogger(__name__)
# After a stop request, how long the workers get to remove scratch directories and finish the check at hand.
INTERRUPT_GRACE_SECONDS = 30.0


def select_datasets(config: Config, names: tuple[str, ...], targets: tuple[str, ...]) -> list[Dataset]:
    """Return the datasets named (all when none: in a fleet, those with a copy on this agent's
    targets — each dataset is judged by the agents that hold it, so records grow with copies, not
    with agents × datasets), keeping only those with a copy on the given targets."""
    chosen = [config.datasets[n] for n in names] if names else list(config.datasets.values())
    if config.agents and not names:
        chosen = [d for d in chosen if any(config.is_mine(c.target) for c in d.all_copies)]
    if targets:
        chosen = [d for d in chosen if any(c.target.name in targets for c in d.all_copies)]
    return chosen


def tool_versions() -> dict[str, str]:
    return {"backup-agent": __version__, "restic": restic.version()}


class Session:
    """Run-wide resources: the hash cache, rotation state and one open handle per target."""

    def __init__(self, config: Config, dry_run: bool = False):
        self.config = config
        settings = config.agent
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        self.started = clock_now()
        # One slot per core, shared by the hashing of every target and the restic processes on
        # local repositories: targets run in parallel without oversubscribing the cores.
        self.cpu = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self.hash_cache = HashCache(settings.state_dir / "hash-cache.sqlite", read_only=dry_run)
        self.state = StateStore(settings.state_dir / "state.json")
        # The restic processes started with a lock, so a lock one leaves when killed is known as ours.
        self.restic_children = ChildLedger(settings.state_dir / LEDGER_NAME)
        self.context = TargetContext(
            hash_cache=self.hash_cache,
            now=self.started.timestamp(),
            rehash_every=settings.rehash_every_seconds,
            hash_workers=settings.hash_workers,
            command_timeout=settings.command_timeout_seconds,
            schedule_interval=settings.schedule_interval_seconds,
            cpu=self.cpu,
        )
        self._handles: dict[str, TargetHandle] = {}
        self._handles_lock = threading.Lock()
        self._repository_ids: dict[str, str] = {}
        self.per_repository = PerRepository()

    def handle(self, target_name: str) -> TargetHandle:
        """Return the run's one handle for a target (one connection per target, shared by its checks)."""
        with self._handles_lock:
            if target_name not in self._handles:
                self._handles[target_name] = open_target(self.config.targets[target_name], self.context)
            return self._handles[target_name]

    def restic_repository(self, spec: CopySpec) -> ResticRepository:
        handle = self.handle(spec.target.name)
        return ResticRepository(
            location=handle.restic_location(spec.path),
            password=spec.password,
            cache_dir=self.config.agent.state_dir / "restic-cache",
            timeout=self.config.agent.command_timeout_seconds,
            ledger=self.restic_children,
            remove_lock=functools.partial(handle.remove_restic_lock, spec.path),
            cpu=self.cpu,
        )

    def copy_context(self, dataset: Dataset, spec: CopySpec, options: RunOptions,
                     primary: PrimaryManifest | None = None) -> CopyContext:
        """Given a copy, return the context its checks share: its target's handle, the dataset's
        primary manifest (the run's shared one when given), and for a restic copy its repository.
        Opening contacts nothing; raise what opening a target or a repository raises (an unusable
        target, credentials that cannot be read)."""
        handle = self.handle(spec.target.name)
        if primary is None:
            primary = PrimaryManifest(dataset, self.handle(dataset.primary.target.name))
        context = CopyContext(dataset, spec, handle, primary, self.config.agent, self.state, self.started, options)
        if spec.form == "restic":
            context.restic = self.restic_repository(spec)
            context.per_repository = self.per_repository
        return context

    def repository_id(self, repository: ResticRepository) -> str:
        """A restic repository's id, read once per run however many datasets it holds."""
        url = repository.location.repository
        if url not in self._repository_ids:
            self._repository_ids[url] = repository.repository_id()
        return self._repository_ids[url]

    def close(self) -> None:
        for handle in self._handles.values():
            try:
                handle.close()
            except Exception:  # noqa: BLE001 - closing must not hide the run's result
                log.warning("closing target %s failed", handle.target.name, exc_info=True)
        self.hash_cache.close()


def run_check(module: ModuleType, context: CopyContext) -> CheckResult:
    """Run one check on a copy; an unexpected exception becomes its error, never a pass. A stale
    restic lock its commands removed is recorded on it: the audit must know the agent changed the
    repository."""
    removed_before = len(context.restic.removed_locks) if context.restic else 0
    try:
        check = module.run(context)
    except NoSpaceError as error:  # the state directory filled up: said as such, no traceback
        check = CheckResult(module.ID, Status.ERROR, str(error))
    except Exception as error:  # noqa: BLE001
        log.exception("check %s crashed on %s", module.ID, context.spec.key)
        check = CheckResult(module.ID, Status.ERROR, f"check crashed: {type(error).__name__}: {error}")
    if context.restic and len(context.restic.removed_locks) > removed_before:
        removed = context.restic.removed_locks[removed_before:]
        check.detail = f"{check.detail}; {removal_note(removed)}"
        check.measured["stale_locks_removed"] = [lock.summary() for lock in removed]
    return check


def verify_copy(session: Session, dataset: Dataset, spec: CopySpec, primary: PrimaryManifest,
                options: RunOptions) -> CopyResult:
    """Given one copy, run its applicable checks in table order and return the result.

    Once reachable fails the rest are skipped (they could only repeat the same error).
    """
    result = CopyResult(spec)
    try:
        context = session.copy_context(dataset, spec, options, primary)
    except Exception as error:  # noqa: BLE001
        result.checks.append(CheckResult("reachable", Status.ERROR, f"cannot open target: {error}"))
        return result
    blocked: str | None = None
    for module in checks.applicable(spec.form, spec.role, spec.target.kind):
        if blocked is None and interrupt.cancelled.is_set():
            blocked = "not run: the run was interrupted"
        if blocked:
            result.checks.append(CheckResult(module.ID, Status.SKIP, blocked))
            continue
        check = run_check(module, context)
        result.checks.append(check)
        if module.ID == "reachable" and check.status != Status.PASS:
            blocked = "not run: target not reachable"
    if blocked is None and interrupt.cancelled.is_set():
        blocked = "not run: the run was interrupted"
    if blocked:
        result.identity_skipped = blocked
    else:
        identify(session, context, result)
    result.last_backup_at = context.last_backup_at
    if context.last_backup_at is not None:
        # None for a time in the future: an age that cannot be known is never shown as fresh.
        result.age_seconds = age_seconds(context.last_backup_at, session.started)
    if context.probe is not None:
        result.detected_medium = context.probe.detected_medium
    return result


def identify(session: Session, context: CopyContext, result: CopyResult) -> None:
    """Read the copy's storage identity (for the dataset's independence check) on its own worker,
    reusing its target connection; a part that cannot be read is kept as the reason."""
    repository = context.restic
    try:
        result.identity = identity.gather(
            context, (lambda: session.repository_id(repository)) if repository is not None else None)
    except (TargetUnavailable, ResticError) as error:
        result.identity_error = str(error)
    except Exception as error:  # noqa: BLE001 - an unreadable identity is an error, never a pass
        log.exception("reading the storage identity of %s crashed", context.spec.key)
        result.identity_error = f"crashed: {type(error).__name__}: {error}"


@dataclass
class _CopiesDone:
    """What the target workers finished, and how the wait for them ended."""

    results: dict[tuple[str, str], CopyResult] = field(default_factory=dict)
    finished_in_time: set[tuple[str, str]] = field(default_factory=set)
    interrupted: bool = False
    budget_exhausted: bool = False


def run_verification(
    config: Config,
    datasets: list[Dataset],
    *,
    target_filter: tuple[str, ...] = (),
    options: RunOptions | None = None,
    progress: Callable[[str], None] | None = None,
) -> RunResult:
    """Verify the given datasets: copies grouped by target, targets in parallel (bounded by
    agent.concurrency), the whole run under agent.run_budget. A copy not finished within the
    budget is an error; every other copy is still reported."""
    options = options or RunOptions()
    interrupt.cancelled.clear()
    session = Session(config, dry_run=options.dry_run)
    started_monotonic = time.monotonic()
    try:
        done = _verify_copies(session, datasets, target_filter, options, progress, started_monotonic)
        found = _verifications(config, datasets, done, target_filter, session.started)
        dataset_results = [_judge_dataset(config, dataset, done, target_filter, found, session.started)
                           for dataset in datasets]
        # Measured on the monotonic clock so a pinned or stepped wall clock cannot distort it.
        finished = session.started + timedelta(seconds=time.monotonic() - started_monotonic)
        return RunResult(
            run_id=str(uuid.uuid4()),
            started_at=session.started,
            finished_at=finished,
            datasets=dataset_results,
            agent_host=config.agent.host or socket.gethostname(),
            operator=config.agent.operator,
            agent=config.agent.name,
            fleet=len(config.agents) > 1,
            tool_versions=tool_versions(),
            state=session.state,
            interrupted=done.interrupted,
            budget_exhausted=done.budget_exhausted,
        )
    finally:
        session.close()


def _verify_copies(session: Session, datasets: list[Dataset], target_filter: tuple[str, ...], options: RunOptions,
                   progress: Callable[[str], None] | None, started_monotonic: float) -> _CopiesDone:
    """Verify every selected copy, one worker per target, until done, interrupted or out of budget."""
    config = session.config
    primaries = {d.name: PrimaryManifest(d, session.handle(d.primary.target.name)) for d in datasets}
    by_target: dict[str, list[tuple[Dataset, CopySpec]]] = defaultdict(list)
    for dataset in datasets:
        for spec in dataset.all_copies:
            # Each agent verifies only the copies on its own targets; the others are credited.
            if (not target_filter or spec.target.name in target_filter) and config.is_mine(spec.target):
                by_target[spec.target.name].append((dataset, spec))
    done = _CopiesDone()

    def verify_target(name: str) -> None:
        for dataset, spec in by_target[name]:
            # Looked up at call time, so a test may wrap it.
            copy = verify_copy(session, dataset, spec, primaries[dataset.name], options)
            done.results[(dataset.name, spec.key)] = copy
            if progress:
                progress(f"{dataset.name} @ {spec.target.name}: {copy.status}")

    pool = ThreadPoolExecutor(max_workers=config.agent.concurrency, thread_name_prefix="target")
    futures: dict[Future, str] = {pool.submit(verify_target, name): name for name in by_target}
    pending = _wait(done, set(futures), started_monotonic + config.agent.run_budget_seconds)
    pool.shutdown(wait=not pending, cancel_futures=True)
    for future, name in futures.items():
        if future.done() and future.exception() is not None:
            log.error("target %s crashed: %s", name, future.exception())
    return done


def _wait(done: _CopiesDone, pending: set[Future], deadline: float) -> set[Future]:
    """Wait for the workers until the deadline; return those still running after they were stopped."""
    try:
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            _, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
    except KeyboardInterrupt:
        # SIGINT, or SIGTERM via agent.interrupt: stop the workers (stops running restic), give their
        # `finally` blocks time to remove scratch directories, and report what finished as interrupted.
        done.interrupted = True
        interrupt.stop_workers()
        _, pending = wait(pending, timeout=INTERRUPT_GRACE_SECONDS)
    done.finished_in_time = set(done.results)
    if pending and not done.interrupted:
        # Out of budget: stop the commands still running so no worker outlives the run
        # (the process would otherwise wait for them at exit), then report them as errors.
        interrupt.stop_workers()
        _, pending = wait(pending, timeout=INTERRUPT_GRACE_SECONDS)
        done.budget_exhausted = True
    return pending


def _verifications(config: Config, datasets: list[Dataset], done: _CopiesDone, target_filter: tuple[str, ...],
                   now: datetime) -> verifications.Verifications | None:
    """The records store's latest verifications, read only when some copy is to be credited."""
    wanted = any(verifications.needs_credit(config, spec, done.results.get((dataset.name, spec.key)))
                 for dataset in datasets for spec in dataset.all_copies
                 if not target_filter or spec.target.name in target_filter)
    return verifications.read(config, now) if wanted else None


def _judge_dataset(config: Config, dataset: Dataset, done: _CopiesDone, target_filter: tuple[str, ...],
                   found: verifications.Verifications | None = None, now: datetime | None = None) -> DatasetResult:
    """The dataset's verdict from its copies' results (verified in this run, or credited from their
    latest verification): independence per copy verified now, then policy-321."""
    budget = config.agent.run_budget_seconds
    copy_results = []
    for spec in dataset.all_copies:
        if target_filter and spec.target.name not in target_filter:
            continue
        key = (dataset.name, spec.key)
        copy = done.results.get(key)
        if verifications.needs_credit(config, spec, copy):
            assert found is not None and now is not None
            copy_results.append(verifications.credited_copy(config, dataset, spec, found, now,
                                                            probe=copy if config.is_mine(spec.target) else None))
            continue
        if copy is not None and done.budget_exhausted and key not in done.finished_in_time:
            # Finished only because its commands were killed at the deadline.
            stopped = CheckResult("reachable", Status.ERROR, "not verified within the run budget "
                                  f"({budget:g}s); its commands were stopped")
            copy.checks = [stopped, *(c for c in copy.checks if c.name != "reachable")]
        if copy is None:
            why = ("not verified: the run was interrupted" if done.interrupted else
                   f"not verified within the run budget ({budget:g}s)")
            copy = CopyResult(spec, [CheckResult("reachable", Status.ERROR, why)])
        copy_results.append(copy)
    # Before policy-321: a copy sharing storage with an earlier one fails here and is counted once.
    # Only copies verified now have an identity; a credited copy's storage is its own agent's to judge.
    verified_now = [copy for copy in copy_results if copy.credit is None]
    for copy, independence in zip(verified_now, checks.get("independence").run_dataset(dataset, verified_now),
                                  strict=True):
        copy.checks.append(independence)
    policy = checks.get("policy-321").run_dataset(dataset, copy_results)
    if target_filter:
        policy = CheckResult(policy.name, Status.SKIP, "not evaluated: --target selected only some copies",
                             {**policy.measured, "evaluated": False})
    return DatasetResult(dataset, copy_results, policy)
