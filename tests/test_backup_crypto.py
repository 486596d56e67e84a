"""Chunked AES-256-GCM: round trips, and every kind of damage is detected (no database)."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dualorm.backup.crypto import (
    HEADER_SIZE,
    TAG_SIZE,
    Decryptor,
    Encryptor,
    generate_key,
    load_key,
)
from dualorm.errors import BackupCorrupt, BackupKeyError, exit_code

KEY = os.urandom(32)
CHUNK = 1024


def seal(data: bytes, key: bytes = KEY, pieces: int = 3) -> bytes:
    enc = Encryptor(key, chunk_size=CHUNK)
    step = max(1, len(data) // pieces)
    out = b"".join(enc.update(data[i : i + step]) for i in range(0, len(data), step))
    return out + enc.finalize()


def open_(sealed: bytes, key: bytes = KEY, step: int = 700) -> bytes:
    dec = Decryptor(key, "test.dump")
    out = b"".join(dec.update(sealed[i : i + step]) for i in range(0, len(sealed), step))
    return out + dec.finalize()


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=5 * CHUNK), pieces=st.integers(1, 7), step=st.integers(1, 3000))
def test_round_trip_any_length_and_feeding(data: bytes, pieces: int, step: int) -> None:
    assert open_(seal(data, pieces=pieces), step=step) == data


def test_chunk_boundaries_round_trip() -> None:
    for size in (0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5):
        data = os.urandom(size)
        assert open_(seal(data)) == data


def test_flipped_byte_anywhere_is_detected() -> None:
    sealed = seal(os.urandom(3 * CHUNK + 100))
    for position in (HEADER_SIZE + 3, HEADER_SIZE + CHUNK + TAG_SIZE + 1, len(sealed) - 1):
        damaged = bytearray(sealed)
        damaged[position] ^= 0x01
        with pytest.raises(BackupCorrupt, match="failed authentication"):
            open_(bytes(damaged))


def test_truncation_at_a_chunk_boundary_is_detected() -> None:
    sealed = seal(os.urandom(3 * CHUNK + 100))
    cut = HEADER_SIZE + 2 * (CHUNK + TAG_SIZE)
    with pytest.raises(BackupCorrupt, match="final chunk"):
        open_(sealed[:cut])


def test_truncation_inside_a_chunk_or_header_is_detected() -> None:
    sealed = seal(os.urandom(2 * CHUNK))
    for cut in (5, HEADER_SIZE + 10, len(sealed) - 1):
        with pytest.raises(BackupCorrupt):
            open_(sealed[:cut])


def test_reordered_chunks_are_detected() -> None:
    sealed = seal(os.urandom(3 * CHUNK + 100))
    size = CHUNK + TAG_SIZE
    first = sealed[HEADER_SIZE : HEADER_SIZE + size]
    second = sealed[HEADER_SIZE + size : HEADER_SIZE + 2 * size]
    swapped = sealed[:HEADER_SIZE] + second + first + sealed[HEADER_SIZE + 2 * size :]
    with pytest.raises(BackupCorrupt):
        open_(swapped)


def test_chunks_from_another_file_are_detected() -> None:
    data = os.urandom(2 * CHUNK)
    one, two = seal(data), seal(data)
    spliced = one[:HEADER_SIZE] + two[HEADER_SIZE:]
    with pytest.raises(BackupCorrupt):
        open_(spliced)


def test_wrong_key_is_a_key_error_not_corruption() -> None:
    sealed = seal(b"some archive bytes")
    with pytest.raises(BackupKeyError, match="wrong key") as info:
        open_(sealed, key=os.urandom(32))
    assert exit_code(info.value) == 2


def test_ciphertext_holds_no_plaintext() -> None:
    marker = b"PLAINTEXT-MARKER-" * 200
    assert b"PLAINTEXT-MARKER" not in seal(marker)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "not set"),
        ("", "not set"),
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"short").decode(), "decodes to 5 bytes"),
    ],
)
def test_malformed_keys_are_refused_without_echoing(value: str | None, message: str) -> None:
    with pytest.raises(BackupKeyError, match=message) as info:
        load_key(value)
    if value:
        assert value not in str(info.value)


def test_generated_keys_load_in_both_alphabets() -> None:
    key = generate_key()
    raw = load_key(key)
    assert len(raw) == 32
    assert load_key(base64.urlsafe_b64encode(raw).decode()) == raw
