"""Resolve ``"module:attribute.path"`` strings, the one way a config or a spec names Python code.

``sa_metadata = "sa_models:Base.metadata"`` in the config and ``run_python: seeds.fix:up`` in a
spec are both such paths. :func:`resolve` imports the module and walks the attributes;
anything that does not resolve is one :class:`~dualorm.errors.ConfigError` naming what was
asked for and the path. Nothing here imports SQLAlchemy or Django, so every emitter, loader
and the runner can use it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from dualorm.errors import ConfigError


def resolve(path: str, what: str, example: str = "package.module:function") -> Any:
    """Return the object named by ``path`` (``"package.module:attribute.path"``).

    Args:
        path: the module, a colon, then dotted attributes.
        what: how an error names the setting (``"sa_metadata"``, ``"run_python function"``).
        example: the shape an error suggests when ``path`` has no colon.
    """
    module_name, colon, attributes = path.partition(":")
    if not colon or not module_name or not attributes:
        raise ConfigError(f"{what} {path!r} must look like {example!r}")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{what} {path!r}: cannot import {module_name!r}: {exc}") from None
    except Exception as exc:
        # The user's module failed while loading: bad input, not a bug of dualorm.
        raise ConfigError(
            f"{what} {path!r}: {module_name!r} failed to load: {type(exc).__name__}: {exc}"
        ) from None
    for attribute in attributes.split("."):
        try:
            target = getattr(target, attribute)
        except AttributeError:
            raise ConfigError(f"{what} {path!r}: no attribute {attribute!r}") from None
    return target


def resolve_function(path: str, what: str = "run_python function") -> Callable[..., Any]:
    """Return the callable named by ``path``; a non-callable is a ``ConfigError`` too."""
    target = resolve(path, what)
    if not callable(target):
        raise ConfigError(f"{what} {path!r} is not callable")
    return target  # type: ignore[no-any-return]
