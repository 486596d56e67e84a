"""Fleets: one project's migrations over many databases (``dualorm fleet up|status|plan``).

:mod:`~dualorm.fleet.targets` reads the databases, :mod:`~dualorm.fleet.run` migrates them
through the single-database pipeline (:func:`dualorm.api.migrate_up`), and
:mod:`~dualorm.fleet.survey` reads their versions and names drift across the fleet. A target
is a database or one tenant schema of one (:mod:`dualorm.runner.tenancy`).
"""

from dualorm.fleet.run import DatabaseResult, FleetEvent, FleetProgress, FleetReport, fleet_up
from dualorm.fleet.survey import DatabaseStatus, FleetStatus, fleet_plan, fleet_status
from dualorm.fleet.targets import Target, expand_tenants, read_databases, resolve_targets

__all__ = [
    "DatabaseResult",
    "DatabaseStatus",
    "FleetEvent",
    "FleetProgress",
    "FleetReport",
    "FleetStatus",
    "Target",
    "expand_tenants",
    "fleet_plan",
    "fleet_status",
    "fleet_up",
    "read_databases",
    "resolve_targets",
]
