"""Streaming AES-256-GCM for backups: a header, then authenticated chunks.

Layout of an encrypted file (scheme :data:`SCHEME`)::

    header  magic "DUALORMB" | version u8 | chunk_size u32 | salt 16 | nonce_prefix 7 | key_check 16
    chunk*  ciphertext (chunk_size bytes, the last one 0..chunk_size) | GCM tag 16

The 32-byte key from ``DUALORM_BACKUP_KEY`` never encrypts directly: HKDF-SHA256 over a random
per-file salt derives the file key and a key check, so no two files share a (key, nonce) pair
and a wrong key is told apart from a damaged file. Chunk ``i`` is sealed with the nonce
``nonce_prefix | i (u32) | final (u8)`` and the associated data ``header | i (u64) | final (u8)``:
a flipped byte, a reordered or dropped chunk, a swapped header and a file cut at a chunk boundary
(its last chunk was not sealed as final) all fail authentication.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from dualorm.errors import BackupCorrupt, BackupKeyError

SCHEME = "aes-256-gcm-chunked-v1"
MAGIC = b"DUALORMB"
VERSION = 1
KEY_ENV = "DUALORM_BACKUP_KEY"
DEFAULT_CHUNK_SIZE = 1 << 20
TAG_SIZE = 16
_HEADER = struct.Struct(">8sBI16s7s16s")
HEADER_SIZE = _HEADER.size
_MIN_CHUNK, _MAX_CHUNK = 1 << 10, 1 << 26
_MAX_CHUNKS = 1 << 32
_INFO = b"dualorm backup aes-256-gcm-chunked-v1"


def load_key(value: str | None) -> bytes:
    """Decode a ``DUALORM_BACKUP_KEY`` value: base64 (standard or URL-safe) of 32 bytes.

    Raises ``BackupKeyError`` (exit 2) naming the variable, never echoing the value.
    """
    if value is None or not value.strip():
        raise BackupKeyError(f"{KEY_ENV} is not set")
    text = value.strip()
    try:
        if "-" in text or "_" in text:
            raw = base64.urlsafe_b64decode(text.encode("ascii"))
        else:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise BackupKeyError(f"{KEY_ENV} is not valid base64") from None
    if len(raw) != 32:
        raise BackupKeyError(
            f"{KEY_ENV} must be the base64 of 32 bytes, it decodes to {len(raw)} bytes"
        )
    return raw


def generate_key() -> str:
    """Return a fresh random key, base64-encoded, suitable for ``DUALORM_BACKUP_KEY``."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True, slots=True)
class _Header:
    raw: bytes
    chunk_size: int
    nonce_prefix: bytes
    cipher: AESGCM


def _derive(key: bytes, salt: bytes) -> tuple[bytes, bytes]:
    out = HKDF(algorithm=hashes.SHA256(), length=48, salt=salt, info=_INFO).derive(key)
    return out[:32], out[32:]


def _seal_params(header: bytes, prefix: bytes, index: int, final: bool) -> tuple[bytes, bytes]:
    flag = 1 if final else 0
    nonce = prefix + struct.pack(">IB", index, flag)
    aad = header + struct.pack(">QB", index, flag)
    return nonce, aad


class Encryptor:
    """Encrypt a stream: feed bytes to :meth:`update`, end with :meth:`finalize`.

    The first bytes returned are the header. A chunk is sealed only once more input follows
    it, so the last chunk (possibly empty) is the one sealed as final.
    """

    def __init__(self, key: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
            raise ValueError(f"chunk_size {chunk_size} outside {_MIN_CHUNK}..{_MAX_CHUNK}")
        salt, prefix = os.urandom(16), os.urandom(7)
        file_key, check = _derive(key, salt)
        self._header = _HEADER.pack(MAGIC, VERSION, chunk_size, salt, prefix, check)
        self._prefix = prefix
        self._cipher = AESGCM(file_key)
        self._chunk_size = chunk_size
        self._buffer = bytearray()
        self._index = 0
        self._started = False
        self._done = False

    def _seal(self, data: bytes | bytearray | memoryview, final: bool) -> bytes:
        if self._index >= _MAX_CHUNKS:
            raise ValueError("stream too long for one backup file")
        nonce, aad = _seal_params(self._header, self._prefix, self._index, final)
        self._index += 1
        return self._cipher.encrypt(nonce, bytes(data), aad)

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take plaintext; return the header and whichever chunks are now complete."""
        if self._done:
            raise ValueError("encryptor already finalized")
        out: list[bytes] = []
        if not self._started:
            out.append(self._header)
            self._started = True
        self._buffer += data
        size = self._chunk_size
        if len(self._buffer) > size:
            view = memoryview(self._buffer)
            start = 0
            while len(self._buffer) - start > size:
                out.append(self._seal(view[start : start + size], final=False))
                start += size
            view.release()
            del self._buffer[:start]
        return b"".join(out)

    def finalize(self) -> bytes:
        """Seal the remaining bytes as the final chunk and return them (with the header if new)."""
        head = self.update(b"")
        self._done = True
        tail = self._seal(self._buffer, final=True)
        self._buffer = bytearray()
        return head + tail


class Decryptor:
    """Decrypt and authenticate a stream written by :class:`Encryptor`.

    :meth:`update` returns only plaintext whose chunk has been authenticated. A chunk is held
    back until a following byte (or the end, via :meth:`finalize`) says whether it is final.
    ``source`` names the file in errors.
    """

    def __init__(self, key: bytes, source: str) -> None:
        self._key = key
        self._source = source
        self._header: _Header | None = None
        self._buffer = bytearray()
        self._index = 0
        self._finished = False

    def _corrupt(self, reason: str) -> BackupCorrupt:
        return BackupCorrupt(self._source, reason)

    def _read_header(self) -> _Header:
        magic, version, chunk_size, salt, prefix, check = _HEADER.unpack(
            bytes(self._buffer[:HEADER_SIZE])
        )
        if magic != MAGIC:
            raise self._corrupt("not a dualorm encrypted backup (bad magic)")
        if version != VERSION:
            raise self._corrupt(f"unsupported encryption version {version}")
        if not _MIN_CHUNK <= chunk_size <= _MAX_CHUNK:
            raise self._corrupt(f"implausible chunk size {chunk_size} in header")
        file_key, expected = _derive(self._key, salt)
        if not hmac.compare_digest(expected, check):
            raise BackupKeyError(f"{KEY_ENV} does not open {self._source} (wrong key)")
        raw = bytes(self._buffer[:HEADER_SIZE])
        del self._buffer[:HEADER_SIZE]
        return _Header(raw, chunk_size, prefix, AESGCM(file_key))

    def _open(self, header: _Header, sealed: bytes | bytearray | memoryview, final: bool) -> bytes:
        nonce, aad = _seal_params(header.raw, header.nonce_prefix, self._index, final)
        try:
            plain = header.cipher.decrypt(nonce, bytes(sealed), aad)
        except InvalidTag:
            where = "final chunk" if final else "chunk"
            raise self._corrupt(
                f"{where} {self._index} failed authentication (tampered or truncated)"
            ) from None
        self._index += 1
        return plain

    def update(self, data: bytes | bytearray | memoryview) -> bytes:
        """Take ciphertext; return the plaintext of every chunk authenticated so far."""
        if self._finished:
            raise ValueError("decryptor already finalized")
        self._buffer += data
        if self._header is None:
            if len(self._buffer) < HEADER_SIZE:
                return b""
            self._header = self._read_header()
        header = self._header
        sealed_size = header.chunk_size + TAG_SIZE
        out: list[bytes] = []
        if len(self._buffer) > sealed_size:
            view = memoryview(self._buffer)
            start = 0
            while len(self._buffer) - start > sealed_size:
                out.append(self._open(header, view[start : start + sealed_size], final=False))
                start += sealed_size
            view.release()
            del self._buffer[:start]
        return b"".join(out)

    def finalize(self) -> bytes:
        """Authenticate the final chunk; raise ``BackupCorrupt`` when the stream is cut short."""
        self._finished = True
        if self._header is None:
            raise self._corrupt("file ends inside the encryption header")
        if len(self._buffer) < TAG_SIZE:
            raise self._corrupt("file ends inside a chunk (truncated)")
        plain = self._open(self._header, self._buffer, final=True)
        self._buffer = bytearray()
        return plain
