"""Environment-specific seeding with both ORMs.

A seed is a module under ``seeds/`` defining one :class:`Seed`; :class:`SeedManager` discovers,
orders (dependencies first), runs, reports, rolls back and clears them, keeping its ledger in
``dualorm.seeds``. :mod:`dualorm.seeding.bulk` holds the upsert and COPY helpers seeds use;
:mod:`dualorm.seeding.ledger` the seed ledger, :func:`seeded_tables` among it;
:mod:`dualorm.seeding.reports` what the manager reports; :mod:`dualorm.seeding.template` the
file ``seed new`` writes.
"""

from dualorm.seeding.bulk import TableInfo, WriteResult, copy_rows, merge_rows, upsert
from dualorm.seeding.discovery import SeedModule
from dualorm.seeding.ledger import StaleTable, seeded_tables
from dualorm.seeding.manager import SeedManager
from dualorm.seeding.reports import RollbackResult, SeedEvent, SeedResult, SeedStatus
from dualorm.seeding.seed import ALL_ENVIRONMENTS, NON_PRODUCTION, Seed, SeedContext

__all__ = [
    "ALL_ENVIRONMENTS",
    "NON_PRODUCTION",
    "RollbackResult",
    "Seed",
    "SeedContext",
    "SeedEvent",
    "SeedManager",
    "SeedModule",
    "SeedResult",
    "SeedStatus",
    "StaleTable",
    "TableInfo",
    "WriteResult",
    "copy_rows",
    "merge_rows",
    "seeded_tables",
    "upsert",
]
