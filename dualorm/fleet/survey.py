"""``dualorm fleet status`` and ``fleet plan``: every database's version, read-only.

Each database is read by the single-database functions (:func:`dualorm.api.migrate_status`,
:func:`dualorm.api.migrate_script`), so a fleet's status says exactly what ``migrate status``
says on each. Status adds the catalog fingerprint (:func:`dualorm.replicas.schema_fingerprint`,
dualorm's reading of the catalog, ledgers excluded): databases at the same version whose
catalogs differ from the others' are named as drift across the fleet. Plan adds what ``up``
would apply to each, or why it would refuse.

A tenant target (one schema of a database) is read through its own connection, with its
``search_path``: its version comes from its own ledgers and its fingerprint from its tenant
schema alone (:mod:`dualorm.target_catalog`), so tenants at one version compare with each other
and with whole databases at that version, and a tenant whose schema was changed by hand is
named as drift like a database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from dualorm.api import migrate_script, migrate_status
from dualorm.db import connection, password_forms, scrub
from dualorm.errors import DualormError, exit_code
from dualorm.fleet.run import check_counts
from dualorm.fleet.targets import Target, expand_tenants
from dualorm.replicas import schema_fingerprint
from dualorm.runner.specs import load_project_specs

if TYPE_CHECKING:
    from dualorm.config import Config
    from dualorm.runner.history import StatusReport

__all__ = ["DatabaseStatus", "FleetStatus", "fleet_plan", "fleet_status"]

T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseStatus:
    """One database as ``fleet status`` (and ``fleet plan``) shows it."""

    name: str
    version: str | None = None
    """The last migration applied (in plan order); ``None`` for an empty ledger."""
    applied: int = 0
    pending: tuple[str, ...] = ()
    environment: str | None = None
    ledgers_agree: bool = True
    changed: tuple[str, ...] = ()
    fingerprint: str | None = None
    drift: bool = False
    """Its catalog differs from the other databases' at the same version."""
    error: str | None = None
    """It could not be read (status) or ``up`` would refuse it (plan)."""
    exit_code: int = 0
    tenant: str | None = None
    """The tenant schema this row is, ``None`` for a whole database."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "tenant": self.tenant,
            "version": self.version,
            "applied": self.applied,
            "pending": list(self.pending),
            "environment": self.environment,
            "ledgers_agree": self.ledgers_agree,
            "changed": list(self.changed),
            "fingerprint": self.fingerprint,
            "drift": self.drift,
            "error": self.error,
        }


@dataclass(frozen=True)
class FleetStatus:
    """Every database's status, in the order listed, and the version matrix."""

    databases: tuple[DatabaseStatus, ...]
    head: str | None

    @property
    def drifted(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.databases if d.drift)

    @property
    def versions(self) -> dict[str, list[str]]:
        """Each version and the databases at it; ``"(empty)"`` for a database with nothing
        applied, ``"(unknown)"`` for one that could not be read (or, planning, was refused)."""
        matrix: dict[str, list[str]] = {}
        for d in self.databases:
            key = "(unknown)" if d.exit_code else d.version
            matrix.setdefault(key or "(empty)", []).append(d.name)
        return matrix

    @property
    def ok(self) -> bool:
        return not self.drifted and all(d.error is None and d.ledgers_agree for d in self.databases)

    @property
    def exit_code(self) -> int:
        return next((d.exit_code for d in self.databases if d.exit_code), 0 if self.ok else 1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "head": self.head,
            "ok": self.ok,
            "versions": self.versions,
            "drift": list(self.drifted),
            "databases": [d.to_dict() for d in self.databases],
        }


def fleet_status(config: Config, targets: Sequence[Target], *, parallel: int = 4) -> FleetStatus:
    """Read every database's ledger and catalog fingerprint; name the drifted ones."""
    specs = load_project_specs(config)
    order = specs.graph.forwards_plan()
    targets = expand_tenants(targets)
    found = _each(targets, parallel, lambda t: _tenant(t, _status(config, t, order)))
    return FleetStatus(tuple(_mark_drift(found)), order[-1] if order else None)


def fleet_plan(config: Config, targets: Sequence[Target], *, parallel: int = 4) -> FleetStatus:
    """What ``fleet up`` would apply to each database, or why it would refuse (read-only)."""
    specs = load_project_specs(config)
    order = specs.graph.forwards_plan()
    targets = expand_tenants(targets)
    found = _each(targets, parallel, lambda t: _tenant(t, _plan(config, t, order)))
    return FleetStatus(tuple(found), order[-1] if order else None)


def _each(targets: Sequence[Target], parallel: int, read: Callable[[Target], T]) -> list[T]:
    check_counts(parallel, 0, len(targets))
    if parallel == 1 or len(targets) == 1:
        return [read(t) for t in targets]
    with ThreadPoolExecutor(max_workers=min(parallel, len(targets))) as pool:
        return list(pool.map(read, targets))


def _tenant(target: Target, status: DatabaseStatus) -> DatabaseStatus:
    return replace(status, tenant=target.tenant) if target.tenant else status


def _failure(target: Target, error: Exception) -> DatabaseStatus:
    message = scrub(str(error), password_forms(target.url))
    if not isinstance(error, DualormError):
        message = f"internal error {type(error).__name__}: {message} (a bug of dualorm)"
    return DatabaseStatus(target.name, error=message, exit_code=exit_code(error))


def _status(config: Config, target: Target, order: list[str]) -> DatabaseStatus:
    single = config.with_(database_url=target.url, replica_urls=())
    try:
        report = migrate_status(single)
        with connection(target.url, autocommit=True) as conn:
            fingerprint = schema_fingerprint(conn)
    except Exception as error:
        return _failure(target, error)
    return replace(
        _reported(target, report, order),
        ledgers_agree=report.ledgers_agree,
        changed=report.changed,
        fingerprint=fingerprint,
        error=report.ledger_problem,
    )


def _plan(config: Config, target: Target, order: list[str]) -> DatabaseStatus:
    single = config.with_(database_url=target.url, replica_urls=())
    try:
        report = migrate_status(single)
        # The script is what `up` would run; making it refuses as `up` would (exit 3).
        migrate_script(single)
    except Exception as error:
        return _failure(target, error)
    return _reported(target, report, order)


def _reported(target: Target, report: StatusReport, order: list[str]) -> DatabaseStatus:
    """The row both ``fleet status`` and ``fleet plan`` show of a database's ledger: its version
    (the last applied in plan order), how many are applied and which are pending."""
    applied = set(report.applied)
    done = [i for i in order if i in applied]
    return DatabaseStatus(
        target.name,
        version=done[-1] if done else None,
        applied=len(applied),
        pending=report.pending,
        environment=report.environment,
    )


def _mark_drift(found: list[DatabaseStatus]) -> list[DatabaseStatus]:
    """Flag the databases whose fingerprint is not the one most others at their version have.

    With no single most common fingerprint at a version (two databases that differ, say),
    every database at that version is flagged: there is nothing to call the fleet's catalog.
    """
    groups: dict[tuple[int, str | None], list[DatabaseStatus]] = {}
    for d in found:
        if d.fingerprint is not None:
            groups.setdefault((d.applied, d.version), []).append(d)
    drifted: set[str] = set()
    for members in groups.values():
        counts = Counter(d.fingerprint for d in members).most_common()
        if len(counts) < 2:
            continue
        tied = counts[0][1] == counts[1][1]
        drifted.update(d.name for d in members if tied or d.fingerprint != counts[0][0])
    return [replace(d, drift=True) if d.name in drifted else d for d in found]
