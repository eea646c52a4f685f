"""The partition function is a contract with lenders (they publish to the partition's subject
themselves): these fixed vectors let a port in any language check itself.

Each row: the customer id as the lender sends it, the first 8 bytes of SHA-256 of its UTF-8
bytes (hex, as ``printf '%s' ID | sha256sum | cut -c1-16`` prints them), that as a big-endian
unsigned 64-bit integer, and the partition with 16 and with 1024 partitions."""

from __future__ import annotations

import pytest

from lendguard.stream.partitions import (
    consumer_name,
    deadletter_subject,
    decisions_subject,
    events_subject,
    leases_bucket,
    partition_of,
    stream_name,
)

VECTORS = [
    # docs/scale-out.md's worked example
    ("cust-0001", "05e897e3b81b0efb", 425757169088663291, 11, 763),
    ("cust-1", "21d120906fd394b1", 2436764678107665585, 1, 177),
    ("cust-2", "5dfdbdf19d8b00b7", 6772778260062994615, 7, 183),
    ("13800138000", "a6942f9771d67f34", 12003271234345664308, 4, 820),
    ("客户-甲", "fcfad47ad8d7a6d9", 18229116065824614105, 9, 729),
    ("", "e3b0c44298fc1c14", 16406829232824261652, 4, 20),
]


@pytest.mark.parametrize(("customer_id", "prefix_hex", "as_u64", "of_16", "of_1024"), VECTORS)
def test_partition_vectors(
    customer_id: str, prefix_hex: str, as_u64: int, of_16: int, of_1024: int
) -> None:
    assert int(prefix_hex, 16) == as_u64
    assert as_u64 % 16 == of_16
    assert as_u64 % 1024 == of_1024
    assert partition_of(customer_id, 16) == of_16
    assert partition_of(customer_id, 1024) == of_1024
    assert partition_of(customer_id, 1) == 0


def test_partitions_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("cust-1", 0)


def test_names_follow_the_prefix() -> None:
    assert events_subject("lendguard", 3) == "lendguard.events.3"
    assert decisions_subject("lendguard", 3) == "lendguard.decisions.3"
    assert deadletter_subject("lendguard", 3) == "lendguard.deadletter.3"
    assert consumer_name("lendguard", 3) == "lendguard-p3"
    assert stream_name("lendguard", "events") == "LENDGUARD_EVENTS"
    assert leases_bucket("tenant_b") == "tenant_b_leases"
