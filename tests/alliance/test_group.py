"""ristretto255 through rbcl: the algebra the PSI and the lookups rely on, and refusal of bytes
that are no point."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.alliance import group


@settings(max_examples=25, deadline=None)
@given(value=st.text(min_size=1, max_size=40))
def test_blinding_commutes_and_inverts(value: str) -> None:
    a, b = group.new_scalar(), group.new_scalar()
    point = group.hash_to_group("device_id", value)
    assert group.is_point(point)
    ab = group.blind(b, group.blind(a, point))
    assert ab == group.blind(a, group.blind(b, point))
    assert group.blind(group.invert(a), group.blind(a, point)) == point


def test_hash_is_deterministic_and_domain_separated() -> None:
    assert group.hash_to_group("mobile", "+8613812345678") == group.hash_to_group(
        "mobile", "+8613812345678"
    )
    assert group.hash_to_group("mobile", "x") != group.hash_to_group("card", "x")
    assert group.new_scalar() != group.new_scalar()


def test_seeded_scalar_is_stable_and_checked() -> None:
    seed = bytes(range(64))
    assert group.scalar_from_seed(seed) == group.scalar_from_seed(seed)
    with pytest.raises(ValueError, match="64 bytes"):
        group.scalar_from_seed(b"short")


def test_batches_match_one_by_one_across_threads() -> None:
    """Above the parallel threshold the batch is split over threads: order must survive."""
    scalar = group.new_scalar()
    values = [f"+8613{i:09d}" for i in range(3000)]
    points = group.hash_many("mobile", values)
    assert points[:50] == [group.hash_to_group("mobile", v) for v in values[:50]]
    assert points[-50:] == [group.hash_to_group("mobile", v) for v in values[-50:]]
    blinded = group.blind_many(scalar, points)
    assert blinded == group.hash_and_blind_many("mobile", scalar, values)
    assert blinded[1234] == group.blind(scalar, points[1234])
    group.check_points(blinded)


@pytest.mark.parametrize(
    "bad",
    [bytes(32), bytes([0xFF]) * 32, b"\x01" * 31, b"\x01" * 33, b""],
    ids=["identity", "non-canonical", "31 bytes", "33 bytes", "empty"],
)
def test_non_points_are_refused(bad: bytes) -> None:
    scalar = group.new_scalar()
    assert not group.is_point(bad)
    with pytest.raises(group.InvalidPoint):
        group.blind(scalar, bad)
    good = [group.hash_to_group("mobile", str(i)) for i in range(3000)]
    with pytest.raises(group.InvalidPoint):
        group.check_points([*good, bad])
    with pytest.raises(group.InvalidPoint):
        group.blind_many(scalar, [*good, bad])


def test_random_bytes_are_mostly_no_point() -> None:
    # About 1 in 8 random strings decodes; 64 in a row would be a broken check.
    assert not all(group.is_point(os.urandom(32)) for _ in range(64))


def test_pack_and_unpack() -> None:
    points = [group.hash_to_group("mobile", str(i)) for i in range(5)]
    assert group.unpack(group.pack(points)) == points
    assert group.unpack(b"") == []
    with pytest.raises(group.InvalidPoint, match="32 bytes"):
        group.unpack(b"\x00" * 65)
