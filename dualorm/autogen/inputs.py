"""What reading a model set depended on, recorded while it runs and checked before a reuse.

Importing the user's models can read anything: the model modules and every module they
import, folders the import system lists to find them (a module added beside them may shadow
one), settings files, environment variables. Which ones is known only once the models have
been read, so :func:`record` watches a read as it happens and returns its :class:`Inputs`:

* every module file in ``sys.modules`` afterwards, outside the standard library (the
  interpreter's own files change only with the interpreter, which the cache key names);
* every file opened for reading (``open`` audit events: a settings module reading a
  ``.env`` or a JSON file), and those opened that did not exist (a new one changes things);
* every folder listed (``os.listdir``/``os.scandir`` audit events), the folder of each of
  those files and modules, and every ``sys.path`` entry: their listings, so a module added,
  removed or renamed anywhere an import looks is seen (hidden names and ``__pycache__`` are
  not part of a listing; no module can be imported from them);
* every environment variable read through ``os.environ`` (``os.getenv`` included), kept as
  an HMAC of its value under the signing key, never in clear; reading the whole environment
  (iterating it) makes the whole environment an input.

:meth:`Inputs.check` says whether those inputs still hold. A file whose size and
modification time are unchanged is unchanged, unless its modification time falls within
:data:`AMBIGUOUS_NS` of the moment it was recorded (a write within the same clock tick keeps
the time): then, and whenever size or time moved, its SHA-256 decides. A file that only
changed its time (a checkout, ``touch``) therefore still matches, and the caller refreshes
the record. What a read tests without opening or listing (``os.path.exists`` on a path in a
folder never listed), and what it asks the network or the clock, is not seen: such a model
set needs ``--no-cache``.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sys
import sysconfig
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AMBIGUOUS_NS", "Inputs", "Recorder", "include", "record"]

AMBIGUOUS_NS = 2_000_000_000
"""Modification times this close to the recording are verified by content (FAT keeps 2 s)."""
# Set by dualorm itself to the configured ``django_settings`` (which the cache key names)
# before Django reads it, and left set: never an input.
SET_BY_DUALORM = frozenset({"DJANGO_SETTINGS_MODULE"})
ALL = "*"
"""The environment name recorded when a read iterated the whole environment."""

_STDLIB = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib")} - {""})
_SITE = tuple({sysconfig.get_paths()[k] for k in ("purelib", "platlib")} - {""})
_SPECIAL = ("/dev/", "/proc/", "/sys/")
_WRITES = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


@dataclass
class Recorder:
    """What one read touched, as the audit hook and the environment report it."""

    opened: set[str] = field(default_factory=set)
    listed: set[str] = field(default_factory=set)
    env: set[str] = field(default_factory=set)
    included: list[Inputs] = field(default_factory=list)
    """The inputs of cached values the read reused instead of reading them again."""


# The reads being recorded, innermost last: a cached read may run inside another.
_active: list[Recorder] = []
_lock = threading.RLock()
_hooked = False


def include(inputs: Inputs) -> None:
    """Count ``inputs`` (of a value reused from the cache) among every recorded read's."""
    for recorder in _active:
        recorder.included.append(inputs)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active:
        return
    for recorder in _active:
        _note(recorder, event, args)


def _note(recorder: Recorder, event: str, args: tuple[Any, ...]) -> None:
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int) or path is None:
            return
        writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITES)
        if not writing:
            recorder.opened.add(os.fsdecode(path))
    elif event in ("os.listdir", "os.scandir"):
        path = args[0]
        if path is None or isinstance(path, int):
            path = "."
        recorder.listed.add(os.fsdecode(path))


class _Environment(os._Environ[str]):
    """``os.environ`` while a read is recorded: the names it asks for are noted."""

    def __getitem__(self, key: str) -> str:
        for recorder in _active:
            recorder.env.add(key)
        return super().__getitem__(key)

    def __iter__(self) -> Iterator[str]:
        for recorder in _active:
            recorder.env.add(ALL)
        return super().__iter__()


@contextmanager
def record(signing: bytes, ignore: Iterable[Path] = ()) -> Iterator[list[Inputs]]:
    """Record what the body reads; afterwards the list holds its :class:`Inputs`.

    ``ignore`` are folders whose files are never inputs (the cache's own folder).
    """
    global _hooked
    with _lock:
        if not _hooked:
            # Audit hooks cannot be removed: one hook, idle while no read is recorded.
            sys.addaudithook(_hook)
            _hooked = True
        recorder = Recorder()
        started = time.time_ns()
        # The values before the read: one it sets is still an input as the next process
        # finds it.
        before = dict(os.environ)
        environ_class = os.environ.__class__
        out: list[Inputs] = []
        _active.append(recorder)
        if len(_active) == 1:
            os.environ.__class__ = _Environment
        try:
            yield out
        finally:
            _active.remove(recorder)
            if not _active:
                os.environ.__class__ = environ_class
        out.append(_snapshot(recorder, signing, started, before, tuple(str(p) for p in ignore)))


def _kept(path: str, ignore: tuple[str, ...]) -> bool:
    if path.startswith(_SPECIAL) or "__pycache__" in path or path.startswith(ignore):
        return False
    return path.startswith(_SITE) or not path.startswith(_STDLIB)


def _module_files() -> set[str]:
    found = set()
    for module in list(sys.modules.values()):
        name = getattr(module, "__file__", None)
        if isinstance(name, str):
            found.add(name)
    return found


def _snapshot(
    recorder: Recorder,
    signing: bytes,
    started: int,
    environ: dict[str, str],
    ignore: tuple[str, ...],
) -> Inputs:
    reused = [p for inputs in recorder.included for p in inputs.files]
    files = {
        os.path.abspath(p)
        for p in (*_module_files(), *recorder.opened, *reused)
        if _kept(os.path.abspath(p), ignore)
    }
    folders = {os.path.abspath(p) for p in recorder.listed}
    folders.update(p for inputs in recorder.included for p in inputs.folders)
    folders.update(os.path.dirname(p) for p in files)
    folders.update(os.path.abspath(p or ".") for p in sys.path)
    folders = {p for p in folders if _kept(p + os.sep, ignore)}
    names = set(recorder.env).union(*(i.env for i in recorder.included)) - SET_BY_DUALORM
    if ALL in names:
        names = {ALL}
    return Inputs(
        files={p: _file_stamp(p) for p in sorted(files)},
        folders={p: _listing(p) for p in sorted(folders)},
        env={n: _env_stamp(n, signing, environ) for n in sorted(names)},
        recorded_at=started,
    )


def _file_stamp(path: str) -> list[Any]:
    """``[size, mtime_ns, sha256]``, or ``[]`` for a file that is not there."""
    try:
        stat = os.stat(path)
        with open(path, "rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return []
    return [stat.st_size, stat.st_mtime_ns, digest]


def _listing(path: str) -> str:
    try:
        names = sorted(n for n in os.listdir(path) if not n.startswith(".") and n != "__pycache__")
    except OSError:
        return "-"
    return hashlib.sha256("\0".join(names).encode()).hexdigest()


def _env_stamp(name: str, signing: bytes, environ: Mapping[str, str] = os.environ) -> str:
    if name == ALL:
        items = sorted((k, v) for k, v in environ.items() if k not in SET_BY_DUALORM)
        text = "\0".join(f"{k}={v}" for k, v in items)
    else:
        value = environ.get(name)
        text = f"{name}\0-" if value is None else f"{name}\0={value}"
    return hmac.new(signing, text.encode(), hashlib.sha256).hexdigest()


@dataclass
class Inputs:
    """The files, folder listings and environment a read depended on, and when recorded."""

    files: dict[str, list[Any]]
    folders: dict[str, str]
    env: dict[str, str]
    recorded_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "folders": self.folders,
            "env": self.env,
            "recorded_at": self.recorded_at,
        }

    @classmethod
    def from_json(cls, data: Any) -> Inputs | None:
        """The inputs ``data`` holds, or ``None`` when it is not such a record."""
        try:
            files = {str(k): list(v) for k, v in data["files"].items()}
            folders = {str(k): str(v) for k, v in data["folders"].items()}
            env = {str(k): str(v) for k, v in data["env"].items()}
            return cls(files, folders, env, int(data["recorded_at"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            return None

    def refreshed(self) -> Inputs:
        """The same inputs with the files' present stamps (after :meth:`check` gave ``None``)."""
        started = time.time_ns()
        return Inputs({p: _file_stamp(p) for p in self.files}, self.folders, self.env, started)

    def check(self, signing: bytes) -> bool | None:
        """``True``: every input is as recorded; ``None``: the same content, but a file's
        time moved (refresh the record); ``False``: something changed."""
        for name, value in self.env.items():
            if not hmac.compare_digest(_env_stamp(name, signing), value):
                return False
        for path, listing in self.folders.items():
            if _listing(path) != listing:
                return False
        refresh = False
        for path, stamp in self.files.items():
            same = _file_same(path, stamp, self.recorded_at)
            if same is False:
                return False
            refresh = refresh or same is None
        return None if refresh else True


def _file_same(path: str, stamp: list[Any], recorded_at: int) -> bool | None:
    try:
        stat = os.stat(path)
    except OSError:
        return not stamp
    if not stamp or len(stamp) != 3:
        return False
    size, mtime, digest = stamp
    if stat.st_size != size:
        return False
    if stat.st_mtime_ns == mtime and mtime < recorded_at - AMBIGUOUS_NS:
        return True
    try:
        with open(path, "rb") as handle:
            actual = hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return False
    if actual != digest:
        return False
    return True if stat.st_mtime_ns == mtime else None
