"""Which partition a customer's events go to, and the subjects and names built from it.

The partition function is part of the contract with lenders (they publish to the partition's
subject themselves), so it is defined language-neutrally and never changes:

    partition = uint64_be(sha256(utf8(customer_id))[0:8]) mod partitions

that is, the first 8 bytes of the SHA-256 digest of the UTF-8 bytes of ``customer_id`` *as the
lender sends it* (before LendGuard pseudonymises it), read as a big-endian unsigned 64-bit
integer, modulo the number of partitions (``LENDGUARD_STREAM_PARTITIONS``). Every event of one
customer lands in one partition, and one worker at a time decides a partition in order, so a
customer's events are decided in the order they were published. ``tests/stream/test_partitions``
holds fixed vectors a lender's port can check itself against.

Changing the number of partitions moves customers between partitions: drain the events stream
first (``lendguard stream status`` shows nothing pending), then change it on every worker and
publisher at once.
"""

from __future__ import annotations

import hashlib


def partition_of(customer_id: str, partitions: int) -> int:
    """The partition (``0 <= p < partitions``) of a customer's events."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    digest = hashlib.sha256(customer_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=False) % partitions


def events_subject(prefix: str, partition: int) -> str:
    """Where lenders publish the events of a partition: ``<prefix>.events.<p>``."""
    return f"{prefix}.events.{partition}"


def decisions_subject(prefix: str, partition: int) -> str:
    """Where the worker publishes each decision: ``<prefix>.decisions.<p>``."""
    return f"{prefix}.decisions.{partition}"


def deadletter_subject(prefix: str, partition: int) -> str:
    """Where a refused event goes with its problem document: ``<prefix>.deadletter.<p>``."""
    return f"{prefix}.deadletter.{partition}"


def consumer_name(prefix: str, partition: int) -> str:
    """The durable pull consumer of a partition: ``<prefix>-p<n>``."""
    return f"{prefix}-p{partition}"


def stream_name(prefix: str, kind: str) -> str:
    """``LENDGUARD_EVENTS``, ``LENDGUARD_DECISIONS``, ``LENDGUARD_DEADLETTER`` (the upper-cased
    prefix)."""
    return f"{prefix.upper()}_{kind.upper()}"


def leases_bucket(prefix: str) -> str:
    """The key-value bucket in which workers hold their partitions: ``<prefix>_leases``."""
    return f"{prefix}_leases"
