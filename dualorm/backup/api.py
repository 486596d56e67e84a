"""Backups as plain functions: create, list, verify, restore, prune.

Create streams ``pg_dump`` through zstd and chunked AES-256-GCM into ``<dir>/<name>.dump``
(mode 0600, written under a temporary name and renamed) and then writes the manifest. Verify
checks the file against the manifest, authenticates every chunk and lets ``pg_restore --list``
read the archive. Restore verifies first and only then streams the archive into one
``pg_restore --single-transaction`` so a failure leaves the target as it was. Progress is
reported through a callback; nothing here prints.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import psycopg

from dualorm import __version__
from dualorm.backup import dump
from dualorm.backup import manifest as mf
from dualorm.backup.crypto import SCHEME, Decryptor, Encryptor, load_key
from dualorm.backup.manifest import Manifest
from dualorm.config import Config, Environment
from dualorm.db import connect, redact, resolve_url
from dualorm.environment import effective_label
from dualorm.errors import (
    BackupCorrupt,
    BackupKeyError,
    DualormError,
    SafetyError,
    UsageError,
)
from dualorm.runner.tenancy import ledger_of


@dataclass(frozen=True, slots=True)
class BackupProgress:
    """One progress report: ``phase`` is ``dump``, ``verify`` or ``restore``.

    ``done`` counts bytes read from pg_dump (``dump``) or from the backup file (the others);
    ``total`` is the file size, or ``None`` while dumping (the dump's size is not known ahead).
    """

    phase: str
    done: int
    total: int | None


ProgressCallback = Callable[[BackupProgress], None]


@dataclass(frozen=True, slots=True)
class Backup:
    """A backup on disk: its file, its manifest file and the manifest."""

    path: Path
    manifest_path: Path
    manifest: Manifest

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape of ``backup create``."""
        return {
            "path": str(self.path),
            "manifest": str(self.manifest_path),
            "sha256": self.manifest.sha256,
            "size": self.manifest.size,
            "encrypted": self.manifest.encrypted,
        }


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """A backup that passed verification, and how many archive entries pg_restore listed."""

    backup: Backup
    entries: int


def no_progress(_: BackupProgress) -> None:
    """Report nothing (the default progress callback)."""
    return None


def _directory(directory: Path | str | None, config: Config) -> Path:
    return Path(directory) if directory is not None else config.backup_path


def _backup_key(config: Config, encrypt: bool | None) -> bytes | None:
    production = config.environment is Environment.PRODUCTION
    if encrypt is False:
        if production:
            raise SafetyError(
                "production backups must be encrypted; --unencrypted (--no-encrypt) is refused"
            )
        return None
    if config.backup_key is None:
        if production:
            raise SafetyError("production backups must be encrypted: set DUALORM_BACKUP_KEY")
        if encrypt:
            raise BackupKeyError("encryption was requested but DUALORM_BACKUP_KEY is not set")
        # A backup holds every row: writing it in the clear is a choice, never a fallback.
        raise SafetyError(
            "DUALORM_BACKUP_KEY is not set: set it to encrypt the backup, or pass "
            "--unencrypted (encrypt=False) to write it in the clear"
        )
    return load_key(config.backup_key)


@dataclass(frozen=True, slots=True)
class _Source:
    database: str
    server_version: str
    server_major: int
    migration_head: str | None
    snapshot: str | None
    environment: str | None


@contextlib.contextmanager
def _source(url: str, config: Config) -> Iterator[_Source]:
    """Hold a repeatable-read snapshot for the dump, so the manifest describes what it holds."""

    conn = connect(url)
    migrations = ledger_of(conn).migrations
    try:
        snapshot: str | None
        try:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            row = conn.execute("SELECT pg_export_snapshot()").fetchone()
            snapshot = str(row[0]) if row else None
        except psycopg.Error:
            # A standby cannot export snapshots; the dump then takes its own.
            conn.rollback()
            snapshot = None
        row = conn.execute(
            "SELECT current_database(), current_setting('server_version'), "
            "current_setting('server_version_num')::int, to_regclass(%s) IS NOT NULL",
            (migrations,),
        ).fetchone()
        assert row is not None
        head = None
        if row[3]:
            found = conn.execute(
                f"SELECT id FROM {migrations} ORDER BY applied_at DESC, id DESC LIMIT 1"
            ).fetchone()
            head = str(found[0]) if found else None
        version = str(row[1]).split()[0]
        label = effective_label(conn, config)
    except psycopg.Error as exc:
        conn.close()
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DualormError(f"cannot read {redact(url)} before the dump: {reason}") from None
    except BaseException:
        conn.close()
        raise
    try:
        yield _Source(
            str(row[0]),
            version,
            int(str(row[2])) // 10000,
            head,
            snapshot,
            label.value if label else None,
        )
    finally:
        conn.close()


class _Output:
    """The backup file being written: unique temporary name, mode 0600, hashed as written.

    The temporary name carries the writer's pid, so a writer killed mid-dump never blocks a
    retry under the same name, and the next writer removes what a dead one left.
    """

    def __init__(self, final: Path) -> None:
        self.final = final
        _remove_orphans(final)
        self.tmp = final.with_name(f".{final.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        self._fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.fchmod(self._fd, 0o600)
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        if not data:
            return
        self.sha.update(data)
        self.size += len(data)
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def commit(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        try:
            # link, not replace: a concurrent writer of the same name must not be overwritten.
            os.link(self.tmp, self.final)
        except FileExistsError:
            raise UsageError(
                f"a backup named {self.final.stem!r} was written meanwhile in {self.final.parent}"
            ) from None
        finally:
            self.tmp.unlink(missing_ok=True)

    def discard(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self.tmp.unlink(missing_ok=True)


_PART = re.compile(r"^\.(?P<file>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.part$")


def _remove_orphans(final: Path) -> None:
    """Delete temporary files of ``final`` whose writer process is gone (killed mid-dump)."""
    if not final.parent.is_dir():
        return
    for path in final.parent.glob(f".{final.name}.*.part"):
        found = _PART.match(path.name)
        if found is None or found["file"] != final.name:
            continue
        if not _alive(int(found["pid"])):
            path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _default_name(database: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", database).lstrip("._-") or "db"
    return f"{safe[:80]}-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"


def create_backup(
    name: str | None = None,
    *,
    directory: Path | str | None = None,
    encrypt: bool | None = None,
    url: str | None = None,
    config: Config | None = None,
    compression: str = dump.DEFAULT_COMPRESSION,
    level: int = dump.DEFAULT_ZSTD_LEVEL,
    progress: ProgressCallback | None = None,
) -> Backup:
    """Dump the database into an encrypted, compressed, checksummed backup with a manifest.

    Args:
        name: file name stem; default ``<database>-<UTC timestamp>``.
        directory: where to write; default ``DUALORM_BACKUP_DIR`` or ``[tool.dualorm]``.
        encrypt: ``None`` encrypts when ``DUALORM_BACKUP_KEY`` is set; ``True`` requires the
            key; ``False`` writes an unencrypted backup (refused in production).
        url: the database; default ``DATABASE_URL`` or the embedded server.
        compression: ``zstd`` (default, applied in-process) or ``none``.

    Raises ``BackupKeyError`` (malformed or missing key) and ``SafetyError`` (production
    without encryption) before anything is written.
    """
    config = config or Config.load()
    report = progress or no_progress
    packing = _Packing(compression, level, _backup_key(config, encrypt))
    if name is not None:
        mf.check_name(name)
    dump.compressor(compression, level)  # an unknown one is refused before anything is written
    folder = _directory(directory, config)
    database_url = url or resolve_url(config)
    target = dump.ClientTarget.from_url(database_url)
    source_config = config if url is None else config.with_(database_url=url)
    with _source(database_url, source_config) as source:
        program, pg_dump_version = dump.client_program("pg_dump", source.server_major)
        stem = name or _default_name(source.database)
        data_file, manifest_file = _new_files(folder, stem)
        out = _Output(data_file)
        dumped = _dump_into(out, target, program, source.snapshot, packing, report)
    manifest = _manifest(stem, out, source, packing, pg_dump_version, dumped)
    _write_manifest(manifest_file, manifest, data_file)
    return Backup(data_file, manifest_file, manifest)


@dataclass(frozen=True, slots=True)
class _Packing:
    """How the dump is packed into the file: compressed, then encrypted when there is a key."""

    compression: str
    level: int
    key: bytes | None

    def manifest_fields(self) -> dict[str, Any]:
        return {
            "encrypted": self.key is not None,
            "encryption": SCHEME if self.key is not None else "none",
            "compression": self.compression,
            "compression_level": self.level if self.compression == "zstd" else None,
        }


def _new_files(folder: Path, stem: str) -> tuple[Path, Path]:
    """The backup's file and manifest file in ``folder``; a name already taken is refused."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    data_file, manifest_file = mf.data_path(folder, stem), mf.manifest_path(folder, stem)
    if data_file.exists() or manifest_file.exists():
        raise UsageError(f"a backup named {stem!r} already exists in {folder}")
    return data_file, manifest_file


def _dump_into(
    out: _Output,
    target: dump.ClientTarget,
    program: str,
    snapshot: str | None,
    packing: _Packing,
    report: ProgressCallback,
) -> int:
    """Stream ``pg_dump`` into ``out``, packed, and commit the file; return the dump's size.

    Anything that stops it (a failure, an interrupt) discards the file.
    """
    try:
        codec = dump.compressor(packing.compression, packing.level)
        sealer = Encryptor(packing.key) if packing.key is not None else None
        seen = 0

        def sink(block: bytes) -> None:
            nonlocal seen
            packed = codec.feed(block)
            out.write(sealer.update(packed) if sealer else packed)
            seen += len(block)
            report(BackupProgress("dump", seen, None))

        dumped = dump.stream_dump(target, program, sink, snapshot=snapshot)
        tail = codec.end()
        out.write(sealer.update(tail) + sealer.finalize() if sealer else tail)
        out.commit()
    except BaseException:
        out.discard()
        raise
    return dumped


def _manifest(
    stem: str,
    out: _Output,
    source: _Source,
    packing: _Packing,
    pg_dump_version: str,
    dumped: int,
) -> Manifest:
    """The manifest of the backup just written: its file, its source, how it is packed."""
    return Manifest(
        name=stem,
        file=out.final.name,
        sha256=out.sha.hexdigest(),
        size=out.size,
        database=source.database,
        server_version=source.server_version,
        migration_head=source.migration_head,
        created_at=datetime.now(UTC).isoformat(timespec="microseconds"),
        **packing.manifest_fields(),
        pg_dump_version=pg_dump_version,
        pg_dump_compression="none",
        dump_size=dumped,
        dualorm_version=_version(),
        environment=source.environment,
    )


def _write_manifest(manifest_file: Path, manifest: Manifest, data_file: Path) -> None:
    """Write the manifest; without it the backup file is useless, so it goes too."""
    try:
        mf.write(manifest_file, manifest)
    except BaseException:
        data_file.unlink(missing_ok=True)
        raise


def _version() -> str:

    return __version__


def list_backups(
    directory: Path | str | None = None, *, config: Config | None = None
) -> list[Backup]:
    """Return the backups in the backup directory, newest first."""
    config = config or Config.load()
    folder = _directory(directory, config)
    return [Backup(path.with_name(found.file), path, found) for path, found in mf.scan(folder)]


def prune_backups(
    keep: int, directory: Path | str | None = None, *, config: Config | None = None
) -> list[Backup]:
    """Delete all but the ``keep`` newest backups; return the ones deleted."""
    if keep < 1:
        raise UsageError(f"--keep must be at least 1, got {keep}")
    removed = list_backups(directory, config=config)[keep:]
    for backup in removed:
        # scan() lists only manifests named after their own backup and describing their own
        # file, so what is deleted here is exactly that backup's pair.
        backup.path.unlink(missing_ok=True)
        backup.manifest_path.unlink(missing_ok=True)
    return removed


class _Sink(Protocol):
    stopped_reading: bool

    def write(self, data: bytes) -> None: ...


def load_backup(path: Path | str) -> Backup:
    """Return the backup at ``path`` (data file or manifest); ``BackupCorrupt`` if they disagree."""
    data_file, manifest_file = mf.locate(Path(path))
    manifest = mf.read(manifest_file)
    if manifest.file != data_file.name:
        raise BackupCorrupt(str(manifest_file), f"manifest describes {manifest.file!r}")
    os.close(mf.open_regular(data_file))
    return Backup(data_file, manifest_file, manifest)


def key_for(backup: Backup, config: Config) -> bytes | None:
    """Return the key that opens ``backup`` (``None``: not encrypted), or refuse (no key)."""
    if not backup.manifest.encrypted:
        return None
    if backup.manifest.encryption != SCHEME:
        raise BackupCorrupt(str(backup.path), f"unknown encryption {backup.manifest.encryption}")
    if config.backup_key is None:
        raise BackupKeyError(f"{backup.path} is encrypted: set DUALORM_BACKUP_KEY to open it")
    return load_key(config.backup_key)


def replay_archive(
    backup: Backup,
    key: bytes | None,
    sink: _Sink,
    report: ProgressCallback,
    phase: str,
    *,
    checked: bool,
) -> None:
    """Read the file once: hash it, authenticate every chunk, feed the archive to ``sink``.

    With ``checked`` the checksum is judged first, so a damaged file reads as damaged rather
    than as a wrong key; otherwise (the file was verified just before) any failure stops at
    once so pg_restore is killed before it can commit.
    """
    source = str(backup.path)
    opener = Decryptor(key, source) if key is not None else None
    unpack = dump.decompressor(backup.manifest.compression, source)
    sha = hashlib.sha256()
    size = 0
    failure: DualormError | None = None
    total = backup.manifest.size

    def forward(plain: bytes) -> None:
        # Once pg_restore --list has read the table of contents, GCM already vouches for the
        # rest of an encrypted file; an unencrypted one is decoded to the end so zstd's own
        # frame checksum and end mark can catch a cut.
        if not sink.stopped_reading:
            sink.write(unpack.feed(plain))
        elif opener is None:
            unpack.feed(plain)

    for block in dump.read_blocks(backup.path, limit=backup.manifest.size):
        sha.update(block)
        size += len(block)
        if failure is None:
            try:
                forward(opener.update(block) if opener else block)
            except (BackupCorrupt, BackupKeyError) as exc:
                if not checked:
                    raise
                failure = exc
        report(BackupProgress(phase, size, total))
    if failure is None:
        try:
            forward(opener.finalize() if opener else b"")
            if not sink.stopped_reading or opener is None:
                sink.write(unpack.end())
        except (BackupCorrupt, BackupKeyError) as exc:
            if not checked:
                raise
            failure = exc
    if size != backup.manifest.size or sha.hexdigest() != backup.manifest.sha256:
        raise BackupCorrupt(
            source,
            f"checksum does not match the manifest ({size} bytes, manifest says "
            f"{backup.manifest.size}): tampered or truncated",
        )
    if failure is not None:
        raise failure


def pg_restore_program(backup: Backup) -> str:
    """The ``pg_restore`` of the major version that wrote ``backup``."""
    major = int(backup.manifest.pg_dump_version.split(".")[0])
    return dump.client_program("pg_restore", major)[0]


def verify_backup(
    path: Path | str, *, config: Config | None = None, progress: ProgressCallback | None = None
) -> VerifyResult:
    """Check a backup end to end; raise ``BackupCorrupt`` (exit 1) on any damage.

    Checks size and sha256 against the manifest, decrypts and authenticates every chunk, and
    has ``pg_restore --list`` read the archive from the decrypted stream.
    """
    config = config or Config.load()
    backup = load_backup(path)
    key = key_for(backup, config)
    program = pg_restore_program(backup)
    with dump.restore_stream(program, dump.list_args()) as lister:
        replay_archive(backup, key, lister, progress or no_progress, "verify", checked=True)
        code, listing, errors = lister.finish()
    if code != 0:
        raise BackupCorrupt(
            str(backup.path), f"pg_restore --list cannot read the archive: {errors.strip()}"
        )
    entries = sum(1 for line in listing.splitlines() if line.strip() and line[0] != ";")
    return VerifyResult(backup, entries)
