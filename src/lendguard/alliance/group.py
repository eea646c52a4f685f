"""ristretto255, the prime-order group of the alliance's ECDH-PSI and OPRF lookups.

Through the libsodium bundled by ``rbcl`` (PyNaCl has no ristretto255 bindings). A ristretto255
encoding is always a point of the prime-order group, so no cofactor or subgroup check is needed,
and an invalid encoding from a peer is refused (:class:`InvalidPoint`). libsodium releases the
GIL, so :func:`blind_many` and :func:`hash_many` spread a batch over threads.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import rbcl

POINT_BYTES = 32
SCALAR_BYTES = 32
# Domain separation: the same identifier hashes to unrelated points under another protocol,
# version or identifier kind.
HASH_DOMAIN = b"lendguard-alliance-psi-v1|"
# Below this size a batch is blinded in the calling thread (a pool costs more than it saves).
_PARALLEL_FROM = 2048
_IDENTITY = bytes(POINT_BYTES)
_CHUNKS_PER_WORKER = 8
_CHUNK_MIN = 512

T = TypeVar("T")
R = TypeVar("R")


class InvalidPoint(ValueError):
    """A peer sent bytes that are not a ristretto255 point (or would give the identity)."""


def workers() -> int:
    """Threads for a batch: every core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def hash_to_group(kind: str, canonical: str) -> bytes:
    """The point of one canonical identifier of one kind (SHA-512 then Elligator, twice)."""
    digest = hashlib.sha512(HASH_DOMAIN + kind.encode() + b"|" + canonical.encode()).digest()
    return bytes(rbcl.crypto_core_ristretto255_from_hash(digest))


def new_scalar() -> bytes:
    """A fresh secret scalar (uniform, non-zero), one per session or query."""
    return bytes(rbcl.crypto_core_ristretto255_scalar_random())


def invert(scalar: bytes) -> bytes:
    return bytes(rbcl.crypto_core_ristretto255_scalar_invert(scalar))


def scalar_from_seed(seed: bytes) -> bytes:
    """A scalar derived from 64 bytes of key material (a long-lived lookup key)."""
    if len(seed) != 64:
        raise ValueError("a scalar seed is 64 bytes")
    return bytes(rbcl.crypto_core_ristretto255_scalar_reduce(seed))


def blind(scalar: bytes, point: bytes) -> bytes:
    """``point ^ scalar``; a peer's bytes that are no point raise :class:`InvalidPoint`."""
    if len(point) != POINT_BYTES:
        raise InvalidPoint("a point is 32 bytes")
    try:
        return bytes(rbcl.crypto_scalarmult_ristretto255(scalar, point))
    except RuntimeError as exc:
        raise InvalidPoint("not a ristretto255 point") from exc


def _map(function: Callable[[Sequence[T]], list[R]], items: Sequence[T]) -> list[R]:
    count = workers()
    if len(items) < _PARALLEL_FROM or count == 1:
        return function(items)
    # Several chunks per thread: when another process takes a core for a while, the other
    # threads pick up the rest instead of the whole batch waiting for one late chunk.
    size = max(_CHUNK_MIN, -(-len(items) // (count * _CHUNKS_PER_WORKER)))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="alliance-group") as pool:
        out: list[R] = []
        for part in pool.map(function, chunks):
            out.extend(part)
        return out


def blind_many(scalar: bytes, points: Sequence[bytes]) -> list[bytes]:
    """Every point raised to ``scalar``, in order, over all cores."""

    def run(chunk: Sequence[bytes]) -> list[bytes]:
        return [blind(scalar, point) for point in chunk]

    return _map(run, points)


def hash_many(kind: str, canonicals: Sequence[str]) -> list[bytes]:
    """:func:`hash_to_group` of every value, in order, over all cores."""

    def run(chunk: Sequence[str]) -> list[bytes]:
        return [hash_to_group(kind, value) for value in chunk]

    return _map(run, canonicals)


def hash_and_blind_many(kind: str, scalar: bytes, canonicals: Sequence[str]) -> list[bytes]:
    """``H(x) ^ scalar`` of every value, in order: one pass over all cores."""

    def run(chunk: Sequence[str]) -> list[bytes]:
        return [blind(scalar, hash_to_group(kind, value)) for value in chunk]

    return _map(run, canonicals)


def is_point(data: bytes) -> bool:
    """Whether ``data`` is the encoding of a ristretto255 point (the identity excluded)."""
    return (
        len(data) == POINT_BYTES
        and data != _IDENTITY
        and bool(rbcl.crypto_core_ristretto255_is_valid_point(data))
    )


def check_points(points: Sequence[bytes]) -> None:
    """Raise :class:`InvalidPoint` unless every item is a point (over all cores).

    For a peer's values that are compared rather than blinded: a non-point would only fail to
    match, but it is a broken or hostile peer and the exchange is refused, not half-answered.
    """

    def run(chunk: Sequence[bytes]) -> list[bool]:
        return [all(map(is_point, chunk))]

    verdicts: list[bool] = _map(run, points)
    if not all(verdicts):
        raise InvalidPoint("not a ristretto255 point")


def pack(points: Sequence[bytes]) -> bytes:
    return b"".join(points)


def unpack(data: bytes) -> list[bytes]:
    """Concatenated 32-byte points back to a list; a ragged length raises InvalidPoint."""
    if len(data) % POINT_BYTES:
        raise InvalidPoint("points are 32 bytes each")
    return [data[i : i + POINT_BYTES] for i in range(0, len(data), POINT_BYTES)]
