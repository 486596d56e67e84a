"""The cyclic garbage collector around reading large model sets.

A user's MetaData and model classes are one large cyclic graph (tables, columns, constraints,
mappers and types point at each other), and importing and reading 1,000 of them allocates a
few hundred thousand objects, nearly none of them garbage. At the default thresholds the
collector rescans everything the process holds over and over while that happens (on the
1,000-class declarative module of the benchmark, a third of the import), and once more when
the interpreter shuts down. :func:`few_collections` collects rarely while a command reads and
compares; :func:`skip_final_collection` lets a command's process end without the last walk.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator

__all__ = ["few_collections", "skip_final_collection"]


@contextlib.contextmanager
def few_collections() -> Iterator[None]:
    """Collect cyclic garbage rarely inside the block; the thresholds are restored after it.

    The youngest generation is collected every 100,000 allocations instead of every 700, so
    garbage in cycles is still freed, but the objects the block keeps are not rescanned
    every few thousand allocations.
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def skip_final_collection() -> None:
    """Let the process end without the collector walking the models it imported.

    On 1,000 tables the collections of interpreter shutdown cost 0.4-1.2 s, as long as
    reading and comparing them. ``gc.freeze()`` at exit moves every live object to the
    permanent generation, which those collections skip; the operating system takes the
    memory back. Unlike ``os._exit`` it keeps the normal exit: later atexit handlers run,
    stdout and stderr are flushed, and the exit code is the one the command raised.
    Registered once however often a command runs in one process.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)
