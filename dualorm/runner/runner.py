"""The runner's one loop: planned migrations go to a sink, one migration at a time.

:func:`run` walks a plan (the migrations to apply or roll back, in order, each a
:class:`~dualorm.runner.schedule.Planned` made by :func:`~dualorm.runner.schedule.plan_migration`)
and hands every statement to a :class:`~dualorm.runner.sinks.Sink`, reporting
:class:`~dualorm.runner.schedule.Event` values as it goes and returning a
:class:`~dualorm.runner.schedule.MigrationOutcome` per migration;
:class:`~dualorm.runner.schedule.RunOptions` says how it waits for locks. The sinks (executing
on the database, writing a psql script) live in :mod:`dualorm.runner.sinks`. A dry run is
another sink, never another loop.

DDL runs under ``lock_timeout``; a migration that times out waiting for a lock is rolled back
and retried after a growing pause, a bounded number of times, so it never queues behind a long
transaction while every writer queues behind it.

Consecutive migrations are chained: up to :attr:`~dualorm.runner.schedule.RunOptions.chain` of
them go to the sink at once (:meth:`~dualorm.runner.sinks.Sink.execute_chain`), each still in
its own transaction with its own ledger rows; the database runs them in order and stops at the
first failure, like ``psql -v ON_ERROR_STOP=1``. A chain starts at two and doubles while chains
finish quickly, so a long migration is reported soon after it ends. The migration where a chain
stopped, and any the sink cannot chain, run on their own: step by step when they fail, named,
retried after a lock timeout.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence, Set

from dualorm.errors import MigrationFailed
from dualorm.runner.schedule import (
    Event,
    Link,
    MigrationOutcome,
    Planned,
    Progress,
    RunOptions,
    StatementTiming,
)
from dualorm.runner.sinks import LockTimeout, Sink
from dualorm.spec.model import Step

__all__ = ["run"]


def _ignore(event: Event) -> None:
    return None


def run(
    plan: Sequence[Planned],
    sink: Sink,
    applied: Set[str],
    *,
    options: RunOptions | None = None,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[MigrationOutcome]:
    """Run ``plan`` through ``sink`` and return one outcome per migration, in order.

    Args:
        plan: the migrations to apply or roll back, in the order to do it.
        sink: what executes (or writes out) each statement and ledger write.
        applied: the ids applied before the run; the foreign ledgers are moved from it.
        options: lock timeout, retries and backoff.
        progress: called with every :class:`Event`.
        sleep: how to pause between retries.

    Stops at the first failure with :class:`~dualorm.errors.MigrationFailed`; everything
    before it stays applied, the failing migration is rolled back. Either way, what was
    committed is on disk when this returns (:meth:`Sink.finish`).
    """
    options = options or RunOptions()
    report = progress or _ignore
    current = frozenset(applied)
    outcomes: list[MigrationOutcome] = []
    window, index = 1, 0
    try:
        while index < len(plan):
            links = _links(plan[index : index + window], current)
            if len(links) > 1:
                started = time.perf_counter()
                committed = sink.execute_chain(links)
                for link, durations in zip(links, committed, strict=False):
                    outcomes.append(_chained(link, durations, report))
                    current = link.after
                index += len(committed)
                if len(committed) == len(links):
                    quick = time.perf_counter() - started < CHAIN_QUICK_S
                    window = min(window * 2, options.chain) if quick else max(window // 2, 1)
                    continue
            link = _links(plan[index : index + 1], current)[0]
            outcomes.append(
                _run_one(link.planned, sink, link.before, link.after, options, report, sleep)
            )
            current = link.after
            index += 1
            window = min(2, options.chain)
    except BaseException:
        # What did commit must be durable too; the failure stays the error reported.
        with contextlib.suppress(Exception):
            sink.finish()
        raise
    sink.finish()
    return outcomes


# A chain that finished within this many seconds doubles the next one.
CHAIN_QUICK_S = 0.25


def _links(plan: Sequence[Planned], applied: frozenset[str]) -> list[Link]:
    links = []
    for planned in plan:
        ids = {planned.migration.id, *(m.id for m in planned.also)}
        after = applied | ids if planned.direction == "up" else applied - ids
        links.append(Link(planned, applied, after))
        applied = after
    return links


def _chained(link: Link, durations: Sequence[float | None], report: Progress) -> MigrationOutcome:
    """Report a migration a chain committed, as if it had run on its own."""
    mid, direction = link.planned.migration.id, link.planned.direction
    report(Event("migration_start", mid, direction))
    timings = []
    for step, took in zip(link.planned.steps, durations, strict=True):
        text = step.sql if step.sql is not None else f"python {step.python}"
        timings.append(StatementTiming(text, took))
        report(Event("statement", mid, direction, text, took))
    known = [d for d in durations if d is not None]
    total = sum(known) if len(known) == len(durations) else None
    report(Event("migration_done", mid, direction, None, total))
    return MigrationOutcome(mid, direction, total, 1, tuple(timings))


def _run_one(
    planned: Planned,
    sink: Sink,
    before: Set[str],
    after: Set[str],
    options: RunOptions,
    report: Progress,
    sleep: Callable[[float], None],
) -> MigrationOutcome:
    mid, direction = planned.migration.id, planned.direction
    report(Event("migration_start", mid, direction))
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        timings: list[StatementTiming] = []
        try:
            _attempt(planned, sink, before, after, started, timings, report)
        except LockTimeout as exc:
            if attempt > options.retries:
                failure = MigrationFailed(
                    mid,
                    exc.statement,
                    f"{exc.cause} (lock_timeout {options.lock_timeout_ms} ms, {attempt} attempts)",
                )
                report(Event("migration_failed", mid, direction, exc.statement, None, str(failure)))
                raise failure from None
            pause = options.backoff_s * (2 ** (attempt - 1))
            report(Event("lock_timeout_retry", mid, direction, exc.statement, None, exc.cause))
            sleep(pause)
            continue
        except MigrationFailed as exc:
            report(Event("migration_failed", mid, direction, exc.statement, None, str(exc)))
            raise
        elapsed = (time.perf_counter() - started) * 1000
        report(Event("migration_done", mid, direction, None, elapsed))
        return MigrationOutcome(mid, direction, elapsed, attempt, tuple(timings))


def _attempt(
    planned: Planned,
    sink: Sink,
    before: Set[str],
    after: Set[str],
    started: float,
    timings: list[StatementTiming],
    report: Progress,
) -> None:
    mid, direction = planned.migration.id, planned.direction

    def note(step: Step, took: float | None) -> None:
        text = step.sql if step.sql is not None else f"python {step.python}"
        if took is None:
            report(Event("step_skipped", mid, direction, text))
            return
        timings.append(StatementTiming(text, took))
        report(Event("statement", mid, direction, text, took))

    if not planned.transactional:
        for step in planned.steps:
            note(step, sink.execute_alone(step, planned))
    steps = planned.steps if planned.transactional else ()
    took = sink.execute_batch(planned, steps, before, after, started)
    if took is not None:
        for step, duration_ms in zip(steps, took, strict=True):
            note(step, duration_ms)
        return
    with sink.transaction():
        if planned.transactional:
            for step in planned.steps:
                note(step, sink.execute(step, planned))
        duration = int((time.perf_counter() - started) * 1000)
        sink.record(planned, before, after, duration)
