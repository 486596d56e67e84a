"""The model-schema cache: what a model set reads as, kept until one of its inputs changes.

``migrate new --autogenerate`` and ``migrate check`` compare the model sets with the replayed
specs. Reading a model set means importing it (the 1,000-class declarative module of the
benchmark takes ~2.8 s; ``django.setup()`` with 1,000 models ~1.5 s), and most runs read a
model set that has not changed since the last one (``check`` in CI after ``new``; ``new``
again after answering a rename). :func:`cached` keeps, per model set, the neutral
:class:`~dualorm.schema.Schema` it read (and the few facts read with it: who owns each table,
the foreign tables, the stale generated files), and gives it back without importing anything
while nothing it was read from changed.

Keying happens in two steps:

1. The **key**, computed before anything is imported, names what must be equal for an entry
   to be considered at all: the cache format, dualorm's version, the interpreter (executable,
   version, implementation), ``sys.path`` and the working directory, the project's
   configuration (``sa_metadata``, ``django_settings``, ``default_app``, ``django_apps``,
   ``ownership``, the project and migrations folders) and what the caller adds (``check``'s
   generated files add the specs' own key, :func:`~dualorm.spec.cache.spec_key`).
2. The **inputs**, recorded while the model set was read (:mod:`dualorm.autogen.inputs`):
   every module file then loaded and every file opened (size, modification time, SHA-256),
   the listings of every folder an import looked in and of ``sys.path``, and every
   environment variable read (an HMAC of its value under the signing key; a value is never
   stored). The entry is used only when all of them still hold.

Each entry is one signed file, ``.dualorm/cache/models-<name>.json``
(:mod:`dualorm.cachefile`, the spec cache's format and signing key): a file from another
machine or user, edited, truncated or of another format is a miss, never trusted, and the
read that follows rewrites it. Values are decoded only into the schema model's and the
generated-file report's classes. A miss, an unwritable cache folder, or ``use=False``
(``--no-cache``) reads the model set in full; the result is the same either way, and the
folder can be deleted at any time.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from dualorm import __version__
from dualorm.autogen.inputs import Inputs, include, record
from dualorm.cachefile import Codec, read_signed, signing_key, write_signed
from dualorm.config import Config
from dualorm.schema import Schema

__all__ = ["FORMAT", "cache_path", "cached", "entry_key", "schema_data", "schema_from"]

FORMAT = 1
_MAGIC = b"dualorm-model-cache"
_CODEC = Codec(("dualorm.schema", "dualorm.spec.artefact", "dualorm.diff.base"))

T = TypeVar("T")


def cache_path(config: Config, name: str) -> Path:
    """The file holding the entry called ``name`` (``sqlalchemy``, ``django``...)."""
    return config.state_dir / "cache" / f"models-{name}.json"


def entry_key(config: Config, name: str, extra: str = "") -> str:
    """The key of entry ``name`` for ``config`` in this process (see the module docstring)."""
    ownership = sorted((str(k), repr(v)) for k, v in config.ownership.items())
    settings = [
        getattr(config, k) if config.has(k) else None
        for k in ("sa_metadata", "django_settings", "django_app_label")
    ]
    parts = [
        str(FORMAT),
        name,
        extra,
        __version__,
        sys.executable,
        sys.version,
        sys.implementation.cache_tag or "",
        os.getcwd(),
        repr(sys.path),
        str(config.root),
        str(config.migrations_path),
        repr(settings),
        repr(config.django_apps),
        repr(ownership),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def cached(
    config: Config,
    name: str,
    read: Callable[[], T],
    *,
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
    use: bool = True,
    extra: str = "",
) -> T:
    """Return ``read()``, or the value it gave last time when none of its inputs changed.

    ``encode`` turns the value into cacheable data (the schema model's dataclasses, lists,
    tuples, dicts, plain values) and ``decode`` back. ``use=False`` reads in full and leaves
    the cache alone. An exception of ``read`` is never cached.
    """
    signing = signing_key() if use else None
    if signing is None:
        return read()
    key = entry_key(config, name, extra)
    path = cache_path(config, name)
    document = read_signed(path, _MAGIC, FORMAT, key, signing)
    if document is not None:
        inputs = Inputs.from_json(document.get("inputs"))
        state = None if inputs is None else inputs.check(signing)
        if state is not False and inputs is not None:
            try:
                value = decode(_CODEC.decode(document["value"]))
            except Exception:  # a signed entry this code cannot decode is a miss
                value = None
            if value is not None:
                if state is None:  # same content, times moved: record the new times
                    inputs = inputs.refreshed()
                    document = {**document, "inputs": inputs.to_json()}
                    write_signed(path, _MAGIC, FORMAT, key, signing, document)
                include(inputs)  # a read around this one depends on them too
                return value
    with record(signing, ignore=(config.state_dir,)) as recorded:
        value = read()
    try:
        data = _CODEC.encode(encode(value))
    except (TypeError, ValueError):
        return value  # something the format cannot name: read in full every time
    document = {"inputs": recorded[0].to_json(), "value": data}
    write_signed(path, _MAGIC, FORMAT, key, signing, document)
    return value


def schema_data(s: Schema) -> list[Any]:
    """``s`` as cacheable data (its table index is rebuilt on the way back)."""
    return [s.tables, s.enums, s.declares_enums, s.sequences, s.declares_sequences]


def schema_from(data: Any) -> Schema:
    """The :class:`Schema` :func:`schema_data` gave ``data`` for; ``TypeError`` otherwise."""
    tables, enums, declares_enums, sequences, declares_sequences = data
    built = Schema(tables, enums, declares_enums, sequences, declares_sequences)
    if not all(type(t).__name__ == "Table" for t in built.tables):
        raise TypeError("not a cached schema")
    return built
