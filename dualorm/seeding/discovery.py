"""Finding seeds: load the modules under ``seeds/`` and order them by their dependencies.

A seed module is named ``NNNN_lower_snake.py`` and defines exactly one :class:`Seed` subclass;
its checksum is the SHA-256 of its source. An unknown or cyclic dependency is a ``GraphError``
naming it; a malformed module is a ``SeedError`` naming the file.
"""

from __future__ import annotations

import graphlib
import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from dualorm.config import Environment
from dualorm.errors import DualormError, GraphError, SeedError
from dualorm.seeding.seed import Seed

SEED_FILE = re.compile(r"^(\d{4})_[a-z0-9_]+\.py$")


@dataclass(frozen=True)
class SeedModule:
    """A discovered seed: its metadata, source checksum and instance."""

    id: str
    name: str
    description: str
    environments: frozenset[Environment]
    version: str
    dependencies: tuple[str, ...]
    path: Path
    checksum: str
    seed: Seed

    def runs_in(self, environment: Environment) -> bool:
        return environment in self.environments


def discover(seeds_path: Path) -> dict[str, SeedModule]:
    """Load every ``NNNN_name.py`` under ``seeds_path``; a malformed module is a SeedError."""
    if not seeds_path.is_dir():
        return {}
    found: dict[str, SeedModule] = {}
    for path in sorted(seeds_path.glob("*.py")):
        if path.name == "__init__.py":
            continue
        if not SEED_FILE.match(path.name):
            raise SeedError(f"{path}: seed files are named NNNN_lower_snake.py")
        found[path.stem] = _load(path)
    return found


def _load(path: Path) -> SeedModule:
    source = path.read_bytes()
    module = _import(path)
    classes = [
        obj
        for obj in vars(module).values()
        if inspect.isclass(obj)
        and issubclass(obj, Seed)
        and obj.__module__ == module.__name__
        and not inspect.isabstract(obj)
    ]
    if len(classes) != 1:
        raise SeedError(f"{path}: expected one Seed subclass, found {len(classes)}")
    cls = classes[0]
    seed_id = cls.id or path.stem
    if seed_id != path.stem:
        raise SeedError(f"{path}: id {seed_id!r} does not match the file name {path.stem!r}")
    try:
        environments = frozenset(
            Environment.parse(str(e), origin=f"{path}: environments") for e in cls.environments
        )
    except DualormError as exc:
        raise SeedError(str(exc)) from None
    if not environments:
        raise SeedError(f"{path}: environments is empty")
    if isinstance(cls.dependencies, str):
        raise SeedError(f"{path}: dependencies must be a list of seed ids, not a string")
    return SeedModule(
        id=seed_id,
        name=cls.name or seed_id,
        description=cls.description,
        environments=environments,
        version=str(cls.version),
        dependencies=tuple(cls.dependencies),
        path=path,
        checksum=hashlib.sha256(source).hexdigest(),
        seed=cls(),
    )


def _import(path: Path) -> ModuleType:
    name = f"dualorm_seeds_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SeedError(f"{path}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except DualormError:
        raise
    except Exception as exc:
        raise SeedError(f"{path}: {type(exc).__name__}: {exc}") from None
    return module


def topological(seeds: Mapping[str, SeedModule]) -> list[str]:
    """Order every seed after its dependencies (ties by id); GraphError names the culprit."""
    for seed in seeds.values():
        for dependency in seed.dependencies:
            if dependency not in seeds:
                raise GraphError(
                    f"seed {seed.id} depends on unknown seed {dependency!r} ({seed.path})"
                )
    sorter = graphlib.TopologicalSorter({s.id: s.dependencies for s in seeds.values()})
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        cycle = " -> ".join(reversed(exc.args[1]))
        raise GraphError(f"seed dependencies form a cycle: {cycle}") from None
    order: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        order.extend(ready)
        sorter.done(*ready)
    return order


def closure(seeds: Mapping[str, SeedModule], target: str) -> set[str]:
    needed: set[str] = set()
    stack = [target]
    while stack:
        current = stack.pop()
        if current not in needed:
            needed.add(current)
            stack.extend(seeds[current].dependencies)
    return needed
