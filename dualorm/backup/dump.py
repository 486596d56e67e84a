"""pg_dump and pg_restore as streams, and the compression layer between them and the file.

pg_dump writes the custom format uncompressed (``-Z0``) to a pipe; dualorm compresses it with
zstd in-process (gzip inside pg_dump is several times slower and dominates a dump), then
encrypts. pg_restore reads the reverse stream on its stdin. No plaintext ever lands on disk.
Passwords reach the client programs through ``PGPASSWORD`` only, never argv, and every line a
client program writes to stderr is scrubbed before it can reach an exception.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from glob import glob
from pathlib import Path
from typing import IO, Protocol

import zstandard
from psycopg import conninfo as ci

from dualorm.backup.manifest import open_regular
from dualorm.db import connection_params, password_forms, pg_bin, redact, scrub
from dualorm.errors import BackupCorrupt, ConfigError, DualormError

READ_SIZE = 1 << 20
COMPRESSIONS = ("zstd", "none")
DEFAULT_COMPRESSION = "zstd"
# Level 1 keeps zstd faster than pg_dump can produce a stream, at a ratio close to gzip -6.
DEFAULT_ZSTD_LEVEL = 1


# -- connection parameters without the password -----------------------------------------------


@dataclass(frozen=True, slots=True)
class ClientTarget:
    """How a client program reaches a database: conninfo without password, and its env."""

    conninfo: str
    env: dict[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    label: str = ""

    @classmethod
    def from_url(cls, url: str) -> ClientTarget:
        """Split ``url`` into a password-free conninfo and a ``PGPASSWORD`` environment."""

        params = connection_params(url)
        password = params.pop("password", None)
        params.setdefault("application_name", "dualorm-backup")
        env = dict(os.environ)
        if password:
            env["PGPASSWORD"] = str(password)
        secrets = tuple(sorted(password_forms(url)))
        conninfo = ci.make_conninfo(**{k: str(v) for k, v in params.items() if v is not None})
        return cls(conninfo, env, secrets, redact(url))

    def scrub(self, text: str) -> str:
        """Return ``text`` with every secret of this target, and any URL's password, masked."""
        return scrub(text, self.secrets)


# -- choosing the client programs -------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def tool_version(path: str) -> str:
    """Return ``"16.2"`` for a client program that prints ``pg_dump (PostgreSQL) 16.2``."""
    done = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    found = re.search(r"(\d+(?:\.\d+)?)", done.stdout)
    if done.returncode != 0 or not found:
        raise ConfigError(f"{path} --version did not report a version")
    return found.group(1)


def _major(version: str) -> int:
    return int(version.split(".")[0])


def _candidates(name: str) -> list[str]:
    found: list[str] = []
    with contextlib.suppress(ConfigError):
        found.append(pg_bin(name))
    on_path = shutil.which(name)
    if on_path:
        found.append(on_path)
    found.extend(sorted(glob(f"/usr/lib/postgresql/*/bin/{name}")))
    unique: list[str] = []
    for path in found:
        real = os.path.realpath(path)
        if real not in (os.path.realpath(p) for p in unique):
            unique.append(path)
    return unique


def client_program(name: str, min_major: int) -> tuple[str, str]:
    """Return ``(path, version)`` of ``name`` whose major version is at least ``min_major``.

    The first candidate of :func:`dualorm.db.pg_bin` order that is new enough wins (pg_dump
    refuses servers newer than itself; pg_restore refuses archives from a newer pg_dump).
    """
    versions: list[tuple[str, str]] = []
    for path in _candidates(name):
        with contextlib.suppress(ConfigError, OSError):
            versions.append((path, tool_version(path)))
    for path, version in versions:
        if _major(version) >= min_major:
            return path, version
    have = ", ".join(f"{p} ({v})" for p, v in versions) or "none found"
    raise ConfigError(f"{name} {min_major} or newer is needed; have {have}")


# -- compression ------------------------------------------------------------------------------


class _Codec(Protocol):
    def feed(self, data: bytes) -> bytes: ...

    def end(self) -> bytes: ...


class _Identity:
    def feed(self, data: bytes) -> bytes:
        return data

    def end(self) -> bytes:
        return b""


class _ZstdCompress:
    def __init__(self, level: int) -> None:
        self._obj = zstandard.ZstdCompressor(level=level, write_checksum=True).compressobj()

    def feed(self, data: bytes) -> bytes:
        return bytes(self._obj.compress(data))

    def end(self) -> bytes:
        return bytes(self._obj.flush())


class _ZstdDecompress:
    def __init__(self, source: str) -> None:
        self._obj = zstandard.ZstdDecompressor().decompressobj()
        self._source = source

    def feed(self, data: bytes) -> bytes:
        if not data:
            return b""
        if self._obj.eof:
            raise BackupCorrupt(self._source, "data after the end of the compressed stream")
        try:
            return bytes(self._obj.decompress(data))
        except zstandard.ZstdError as exc:
            raise BackupCorrupt(self._source, f"compressed stream is damaged: {exc}") from None

    def end(self) -> bytes:
        if not self._obj.eof:
            raise BackupCorrupt(self._source, "compressed stream ends early (truncated)")
        return b""


def compressor(method: str, level: int) -> _Codec:
    """Return the streaming compressor for ``method`` (one of :data:`COMPRESSIONS`)."""
    if method == "zstd":
        return _ZstdCompress(level)
    if method == "none":
        return _Identity()
    raise ConfigError(f"unknown compression {method!r}; use one of {', '.join(COMPRESSIONS)}")


def decompressor(method: str, source: str) -> _Codec:
    """Return the streaming decompressor undoing ``method`` as recorded in a manifest."""
    if method == "zstd":
        return _ZstdDecompress(source)
    if method == "none":
        return _Identity()
    raise BackupCorrupt(source, f"manifest names an unknown compression {method!r}")


# -- client processes -------------------------------------------------------------------------


class _Drain(threading.Thread):
    """Read a pipe to its end in the background so a chatty child never blocks."""

    def __init__(self, pipe: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self._pipe = pipe
        self._parts: list[bytes] = []

    def run(self) -> None:
        try:
            with contextlib.suppress(OSError, ValueError):
                for block in iter(lambda: self._pipe.read(65536), b""):
                    self._parts.append(block)
        finally:
            self._pipe.close()

    def text(self) -> str:
        self.join()
        return b"".join(self._parts).decode("utf-8", "replace")


def last_lines(text: str, count: int = 5) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no message"


def stream_dump(
    target: ClientTarget,
    program: str,
    sink: Callable[[bytes], None],
    *,
    snapshot: str | None = None,
    extra_args: Sequence[str] = (),
) -> int:
    """Run ``pg_dump -Fc -Z0`` and hand its stdout to ``sink`` block by block.

    Returns the number of bytes pg_dump produced. A failing pg_dump (or ``sink``) kills the
    child and raises; pg_dump's own failure is a ``DualormError`` with its scrubbed stderr.
    """
    args = [program, "--format=custom", "--compress=0", "--no-password"]
    if snapshot:
        args.append(f"--snapshot={snapshot}")
    args.extend(extra_args)
    args.extend(["--dbname", target.conninfo])
    proc = subprocess.Popen(
        args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=target.env,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    errors = _Drain(proc.stderr)
    errors.start()
    total = 0
    try:
        with proc.stdout as reader:
            while block := reader.read(READ_SIZE):
                total += len(block)
                sink(block)
    except BaseException:
        proc.kill()
        proc.wait()
        errors.text()
        raise
    code = proc.wait()
    message = errors.text()
    if code != 0:
        raise DualormError(
            f"pg_dump of {target.label} failed (exit {code}): {target.scrub(last_lines(message))}"
        )
    return total


class RestoreStream:
    """A running pg_restore reading an archive on its stdin.

    :meth:`write` never raises when pg_restore stops reading early (``--list`` reads only the
    table of contents); :attr:`stopped_reading` records it. :meth:`finish` waits and returns
    ``(exit code, stdout, stderr)``; :meth:`abort` kills the child so an open transaction
    rolls back.
    """

    def __init__(self, program: str, args: Sequence[str], target: ClientTarget | None) -> None:
        self._target = target
        env = target.env if target else dict(os.environ)
        self._proc = subprocess.Popen(
            [program, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=env,
        )  # fmt: skip
        assert self._proc.stdin and self._proc.stdout and self._proc.stderr
        self._stdin = self._proc.stdin
        self._out = _Drain(self._proc.stdout)
        self._err = _Drain(self._proc.stderr)
        self._out.start()
        self._err.start()
        self.stopped_reading = False

    def write(self, data: bytes) -> None:
        if self.stopped_reading or not data:
            return
        try:
            self._stdin.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.stopped_reading = True

    def finish(self) -> tuple[int, str, str]:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            self._stdin.close()
        code = self._proc.wait()
        out, err = self._out.text(), self._err.text()
        if self._target is not None:
            out, err = self._target.scrub(out), self._target.scrub(err)
        return code, out, err

    def abort(self) -> None:
        self._proc.kill()
        with contextlib.suppress(OSError):
            self._stdin.close()
        self._proc.wait()
        self._out.text()
        self._err.text()


@contextlib.contextmanager
def restore_stream(
    program: str, args: Sequence[str], target: ClientTarget | None = None
) -> Iterator[RestoreStream]:
    """Run pg_restore for the ``with`` block; kill it if the block raises."""
    stream = RestoreStream(program, args, target)
    try:
        yield stream
    except BaseException:
        stream.abort()
        raise


def list_args() -> list[str]:
    """Arguments of ``pg_restore --list`` on an archive read from stdin."""
    return ["--list"]


def with_session_settings(target: ClientTarget, settings: dict[str, str]) -> ClientTarget:
    """Return ``target`` whose client session starts with ``settings`` (through PGOPTIONS)."""
    if not settings:
        return target
    for name, value in settings.items():
        if not re.fullmatch(r"[a-z_.]+", name) or not re.fullmatch(r"[A-Za-z0-9_.]+", value):
            raise ConfigError(f"not a plain setting: {name}={value!r}")
    extra = " ".join(f"-c {name}={value}" for name, value in settings.items())
    env = dict(target.env)
    env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} {extra}".strip()
    return ClientTarget(target.conninfo, env, target.secrets, target.label)


def restore_args(target: ClientTarget) -> list[str]:
    """Arguments of an all-or-nothing restore from stdin into ``target``."""
    return [
        "--single-transaction",
        "--exit-on-error",
        "--clean",
        "--if-exists",
        "--no-password",
        "--dbname",
        target.conninfo,
    ]


def read_blocks(path: Path, size: int = READ_SIZE, limit: int | None = None) -> Iterator[bytes]:
    """Yield the bytes of ``path`` (a regular file only) in blocks of ``size``.

    With ``limit`` at most ``limit + 1`` bytes are read: one byte past the manifest's size is
    enough to know the file is longer, and a file that keeps growing can never hold a read.
    """

    remaining = None if limit is None else limit + 1
    with os.fdopen(open_regular(path), "rb", buffering=0) as handle:
        while remaining is None or remaining > 0:
            block = handle.read(size if remaining is None else min(size, remaining))
            if not block:
                return
            if remaining is not None:
                remaining -= len(block)
            yield block
