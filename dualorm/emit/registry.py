"""The renderer registry every emitter uses: operation type -> function, looked up by MRO.

``emit/sql.py``, ``emit/alembic.py`` and ``emit/django.py`` each hold one :class:`Registry`
and register exactly one function per operation class with ``@registry.register(AddColumn)``.
A renderer returns :data:`Rendered`, ``(text, imports)``, so a file writer gathers the imports
of every operation once (Django serializers return ``(string, set_of_imports)`` the same way).
A renderer renders its whole operation or raises: the database side of every target is the
shared SQL of :mod:`dualorm.emit.sql`, so no target has a case it may skip.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from dualorm.errors import DualormError

Rendered = tuple[str, frozenset[str]]
"""What a renderer returns: the rendered text and the import lines it needs."""

R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])


class Registry(Generic[R]):
    """Map operation classes to renderer functions (Alembic's ``Dispatcher``).

    Lookup walks the operation's MRO, so a renderer registered for a base class serves its
    subclasses; a miss raises :class:`~dualorm.errors.DualormError` naming the target and
    the class. ``Registry[Rendered]`` is the usual instance type.
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._functions: dict[type, Callable[..., R]] = {}

    def register(self, *types: type) -> Callable[[F], F]:
        """Return a decorator registering the function for each of ``types``."""

        def decorate(function: F) -> F:
            for kind in types:
                if kind in self._functions:
                    raise DualormError(
                        f"{self.target}: {kind.__name__} already has a renderer "
                        f"({self._functions[kind].__name__})"
                    )
                self._functions[kind] = function
            return function

        return decorate

    def lookup(self, kind: type) -> Callable[..., R]:
        """Return the function for ``kind`` or the nearest base class in its MRO."""
        for klass in kind.__mro__:
            found = self._functions.get(klass)
            if found is not None:
                return found
        raise DualormError(f"the {self.target} emitter has no renderer for {kind.__name__}")

    def handles(self, kind: type) -> bool:
        """Return whether ``kind`` (or a base class of it) has a renderer."""
        return any(klass in self._functions for klass in kind.__mro__)

    def __call__(self, operation: object, *args: Any, **kwargs: Any) -> R:
        """Render ``operation`` with its registered function."""
        return self.lookup(type(operation))(operation, *args, **kwargs)
