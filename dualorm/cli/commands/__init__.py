"""Every verb of ``dualorm migrate`` and ``dualorm models``, in the order ``--help`` lists them.

Each verb is declared once, beside its handler, in the module of its kind
(:mod:`~dualorm.cli.commands.apply`, :mod:`~dualorm.cli.commands.author`,
:mod:`~dualorm.cli.commands.review`, :mod:`~dualorm.cli.commands.models`); every face (the
typer commands, ``manage.py dualmigrate``, the fast start-up path) is built from these tuples
by :mod:`dualorm.cli.verbs`. To add a verb, declare it in one of those modules and list it here.
"""

from __future__ import annotations

from dualorm.cli.commands.apply import BASELINE, DOWN, STATUS, UP
from dualorm.cli.commands.author import CHECK, INIT, MAKE, NEW, SQUASH
from dualorm.cli.commands.models import RENDER
from dualorm.cli.commands.review import LINT, PLAN
from dualorm.cli.verbs import Verb

__all__ = ["MODELS_VERBS", "VERBS", "verb"]

VERBS: tuple[Verb, ...] = (NEW, CHECK, MAKE, UP, DOWN, STATUS, BASELINE, SQUASH, INIT, PLAN, LINT)
"""The verbs of ``dualorm migrate`` (and ``manage.py dualmigrate``)."""

MODELS_VERBS: tuple[Verb, ...] = (RENDER,)
"""The verbs of ``dualorm models``."""


def verb(name: str) -> Verb:
    """The ``migrate`` verb called ``name``."""
    return next(v for v in VERBS if v.name == name)
