"""Secure aggregation (alliance/secagg.py): the sum is right with and without dropouts, too few
members fail loudly, and what the aggregator sees does not give away one member's vector."""

from __future__ import annotations

import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.alliance.secagg import (
    FIELD_PRIME,
    MODULUS,
    VALUE_BOUND,
    Aggregator,
    Contributor,
    Reveal,
    Roster,
    SecAggError,
    check_vector,
    prg,
    shamir_combine,
    shamir_split,
    threshold_for,
)

ROUND = "round-1"


def _members(n: int) -> list[str]:
    return [f"m{i}" for i in range(n)]


def _sealed(contributor: Contributor) -> Contributor:
    """Every step goes through the serialised state, as the service seals it between steps."""
    return Contributor.from_bytes(contributor.to_bytes())


def run_round(
    vectors: dict[str, list[int]],
    *,
    gone_before_share: frozenset[str] = frozenset(),
    gone_after_share: frozenset[str] = frozenset(),
    gone_after_collect: frozenset[str] = frozenset(),
    round_id: str = ROUND,
) -> tuple[list[int], Aggregator, dict[str, list[int]]]:
    """One round in memory; returns the total, the aggregator and the masked vectors."""
    length = len(next(iter(vectors.values())))
    aggregator = Aggregator(round_id=round_id, vector_length=length)
    states = {m: Contributor.start(round_id, m, length) for m in vectors}
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = Roster.from_json(aggregator.close_adverts().to_json())
    for member in list(states):
        state = _sealed(states[member])
        if member in gone_before_share:
            continue
        aggregator.add_shares(member, state.share(roster))
        states[member] = state
    inboxes = aggregator.close_shares()
    masked: dict[str, list[int]] = {}
    for member in aggregator.u2:
        if member in gone_after_share:
            continue
        state = _sealed(states[member])
        masked[member] = state.masked_input(vectors[member], aggregator.u2, inboxes[member])
        aggregator.add_masked(member, masked[member])
        states[member] = state
    survivors = aggregator.close_collect()
    signers = set()
    for member in survivors:
        if member in gone_after_collect:
            continue
        state = _sealed(states[member])
        assert state.consistency(survivors) == survivors
        states[member] = state
        signers.add(member)
    for member in sorted(signers):
        reveal = _sealed(states[member]).unmask(survivors, signers)
        aggregator.add_reveal(Reveal.from_json(reveal.to_json()))
    return aggregator.finish(), aggregator, masked


def _expected(vectors: dict[str, list[int]], members: list[str]) -> list[int]:
    return [sum(vectors[m][i] for m in members) % MODULUS for i in range(len(vectors[members[0]]))]


@settings(max_examples=12, deadline=None)
@given(
    st.integers(min_value=3, max_value=6).flatmap(
        lambda n: st.lists(
            st.lists(st.integers(min_value=0, max_value=VALUE_BOUND - 1), min_size=4, max_size=4),
            min_size=n,
            max_size=n,
        )
    )
)
def test_the_sum_is_right_for_three_to_six_members(rows: list[list[int]]) -> None:
    vectors = dict(zip(_members(len(rows)), rows, strict=True))
    total, aggregator, _ = run_round(vectors)
    assert total == _expected(vectors, list(vectors))
    assert aggregator.dropped() == []


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**9), min_size=3, max_size=3),
    st.data(),
)
def test_one_or_two_dropouts_after_sharing_leave_the_survivors_sum(
    seed: list[int], data: st.DataObject
) -> None:
    vectors = {m: [seed[0] + i, seed[1] * i, seed[2]] for i, m in enumerate(_members(6))}
    gone = frozenset(
        data.draw(st.lists(st.sampled_from(_members(6)), min_size=1, max_size=2, unique=True))
    )
    total, aggregator, _ = run_round(vectors, gone_after_share=gone)
    survivors = [m for m in vectors if m not in gone]
    assert total == _expected(vectors, survivors)
    assert aggregator.dropped() == sorted(gone)


def test_a_member_gone_before_sharing_is_left_out() -> None:
    vectors = {m: [i + 1, 10 * (i + 1)] for i, m in enumerate(_members(5))}
    total, aggregator, _ = run_round(vectors, gone_before_share=frozenset({"m2"}))
    assert total == _expected(vectors, ["m0", "m1", "m3", "m4"])
    assert aggregator.dropped() == ["m2"]


def test_a_survivor_silent_at_unmask_does_not_matter_above_the_threshold() -> None:
    vectors = {m: [i + 1] for i, m in enumerate(_members(5))}
    total, _, _ = run_round(vectors, gone_after_collect=frozenset({"m4"}))
    assert total == [15]


def test_below_the_threshold_the_round_fails_loudly() -> None:
    vectors = {m: [1, 2] for m in _members(4)}  # t = 3
    assert threshold_for(4) == 3
    with pytest.raises(SecAggError, match="2 masked inputs, 3 needed"):
        run_round(vectors, gone_after_share=frozenset({"m0", "m1"}))
    with pytest.raises(SecAggError, match="2 members shared, 3 needed"):
        run_round(vectors, gone_before_share=frozenset({"m2", "m3"}))
    with pytest.raises(SecAggError, match="2 members signed the survivors list, 3 needed"):
        run_round(vectors, gone_after_collect=frozenset({"m0", "m1"}))


def test_fewer_than_three_members_are_refused() -> None:
    aggregator = Aggregator(round_id=ROUND, vector_length=1)
    for member in _members(2):
        aggregator.add_advert(Contributor.start(ROUND, member, 1).advert())
    with pytest.raises(SecAggError, match="at least 3"):
        aggregator.close_adverts()


def test_threshold_is_above_half_of_n_plus_the_aggregator() -> None:
    """2t > n + 1: two disjoint honest groups, each with the aggregator, never both reach t."""
    assert [threshold_for(n) for n in range(1, 8)] == [2, 2, 3, 3, 4, 4, 5]
    assert all(2 * threshold_for(n) > n + 1 for n in range(3, 101))


@pytest.mark.parametrize("bad", [-1, VALUE_BOUND, 2**64, True, 1.0, "1"])
def test_values_outside_the_range_are_refused(bad: object) -> None:
    with pytest.raises(SecAggError, match="value 1"):
        check_vector([0, bad, 0], 3)  # type: ignore[list-item]


def test_a_vector_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(SecAggError, match="3 values"):
        check_vector([1, 2], 3)


# --- what the aggregator sees -------------------------------------------------------------------


def test_the_same_input_masks_to_unrelated_vectors_in_two_rounds() -> None:
    vectors = {m: [0] * 64 for m in _members(3)}
    _, _, first = run_round(vectors, round_id="r1")
    _, _, second = run_round(vectors, round_id="r2")
    for member in vectors:
        assert first[member] != vectors[member]
        # 64 words of 64 bits: equal words by chance have probability 64 / 2^64
        assert all(a != b for a, b in zip(first[member], second[member], strict=True))


def test_a_masked_vector_looks_uniform() -> None:
    """One member's masked all-zero vector, 512 words: each of the 64 bit positions is set in
    about half of them (a binomial(512, 1/2) within ±6 sigma), as a uniform word's would be."""
    vectors = {m: [0] * 512 for m in _members(3)}
    _, _, masked = run_round(vectors)
    words = masked["m1"]
    for bit in range(64):
        ones = sum((w >> bit) & 1 for w in words)
        assert abs(ones - 256) < 6 * 11.3, bit


def test_stripping_the_self_mask_still_leaves_a_survivor_hidden() -> None:
    """At the end the aggregator can rebuild each survivor's b (it needs it for the sum). What
    it then sees of one survivor, y_u - PRG(b_u), is x_u plus the pairwise masks with the other
    survivors, whose s keys it never gets: every word differs from x_u, and the words' sum is
    the one thing that cancels across survivors."""
    vectors = {m: [7] * 32 for m in _members(4)}
    total, aggregator, masked = run_round(vectors)
    assert total == [28] * 32
    roster = aggregator.roster
    assert roster is not None
    stripped = {}
    for member in aggregator.u3:
        shares = {
            roster.point_of(r.member): r.b_shares[member] for r in aggregator.reveals.values()
        }
        b_seed = shamir_combine(shares, roster.threshold)
        mask = prg(b_seed, 32)
        stripped[member] = [(y - m) % MODULUS for y, m in zip(masked[member], mask, strict=True)]
        assert all(word != 7 for word in stripped[member])
        # and no s key of a survivor was revealed
        assert all(member not in r.s_shares for r in aggregator.reveals.values())
    assert [sum(col) % MODULUS for col in zip(*stripped.values(), strict=True)] == [28] * 32


def test_fewer_than_t_shares_do_not_determine_the_secret() -> None:
    """t-1 shares fit every secret: for any candidate there is a polynomial of degree t-1
    through it and the shares, so they say nothing about which one was shared."""
    secret = secrets.token_bytes(32)
    threshold = 4
    shares = shamir_split(secret, [1, 2, 3, 4, 5, 6], threshold)
    seen = {x: shares[x] for x in (1, 2, 3)}
    with pytest.raises(SecAggError, match="3 shares, 4 needed"):
        shamir_combine(seen, threshold)
    for candidate in (bytes(32), secrets.token_bytes(32), secret):
        # the degree-3 polynomial through (0, candidate) and the three shares...
        forged = dict(seen)
        forged[0] = int.from_bytes(candidate, "big")
        # ...evaluated at x = 7 gives a fourth share; combining it with the three seen ones
        # reconstructs the candidate: the three seen shares are consistent with it
        y7 = _lagrange_at(forged, 7)
        assert shamir_combine({**seen, 7: y7}, threshold) == candidate
    assert shamir_combine({x: shares[x] for x in (2, 4, 5, 6)}, threshold) == secret


def _lagrange_at(points: dict[int, int], x: int) -> int:
    value = 0
    for xi, yi in points.items():
        numerator, denominator = 1, 1
        for xj in points:
            if xj != xi:
                numerator = numerator * (x - xj) % FIELD_PRIME
                denominator = denominator * (xi - xj) % FIELD_PRIME
        value = (value + yi * numerator * pow(denominator, -1, FIELD_PRIME)) % FIELD_PRIME
    return value


def test_a_survivor_reveals_only_one_kind_of_share_per_member() -> None:
    """The aggregator gets b shares for survivors and s shares for the dropped, never both;
    a second unmask (e.g. with another survivor list) is refused."""
    length = 2
    members = _members(4)
    aggregator = Aggregator(round_id=ROUND, vector_length=length)
    states = {m: Contributor.start(ROUND, m, length) for m in members}
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = aggregator.close_adverts()
    for member, state in states.items():
        aggregator.add_shares(member, state.share(roster))
    inboxes = aggregator.close_shares()
    for member in ["m0", "m1", "m2"]:
        aggregator.add_masked(member, states[member].masked_input([1, 1], members, inboxes[member]))
    survivors = aggregator.close_collect()
    for member in survivors:
        states[member].consistency(survivors)
    reveal = states["m0"].unmask(survivors, survivors)
    assert set(reveal.b_shares) == {"m0", "m1", "m2"}
    assert set(reveal.s_shares) == {"m3"}
    with pytest.raises(SecAggError, match="step unmasked"):
        states["m0"].unmask(["m0", "m1", "m2", "m3"], members)
    # a member signs one survivors list per round: the same again, never another
    assert states["m1"].consistency(list(reversed(survivors))) == survivors
    with pytest.raises(SecAggError, match="signed another survivors list"):
        states["m1"].consistency(["m0", "m1", "m2", "m3"])


def _masked_round(n: int) -> tuple[list[str], dict[str, Contributor]]:
    """A round of n members where everyone shared and sent a masked vector."""
    members = _members(n)
    aggregator = Aggregator(round_id=ROUND, vector_length=1)
    states = {m: Contributor.start(ROUND, m, 1) for m in members}
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = aggregator.close_adverts()
    for member, state in states.items():
        aggregator.add_shares(member, state.share(roster))
    inboxes = aggregator.close_shares()
    for member in members:
        aggregator.add_masked(member, states[member].masked_input([1], members, inboxes[member]))
    return members, states


def test_the_unmask_needs_the_signed_list_signed_by_t_of_its_members() -> None:
    members, states = _masked_round(5)  # t = 4
    # no reveal before signing a list, nor for a list naming a member that never shared
    with pytest.raises(SecAggError, match="step masked, not consistent"):
        states["m0"].unmask(members, members)
    with pytest.raises(SecAggError, match="members that shared"):
        states["m0"].consistency(["m0", "m1", "m2", "m9"])
    with pytest.raises(SecAggError, match="3 members left, 4 needed"):
        states["m0"].consistency(["m0", "m1", "m2"])
    signed = ["m0", "m1", "m2", "m3"]
    states["m0"].consistency(signed)
    # another list than the one signed: refused, whatever signatures come with it
    with pytest.raises(SecAggError, match="not the one this member signed"):
        states["m0"].unmask(members, members)
    # signers outside the list do not count; with itself 3 < t
    with pytest.raises(SecAggError, match="3 members signed the survivors list, 4 needed"):
        states["m0"].unmask(signed, ["m1", "m2", "m4", "m9"])
    reveal = states["m0"].unmask(signed, ["m1", "m2", "m3"])
    assert set(reveal.b_shares) == set(signed)
    assert set(reveal.s_shares) == {"m4"}


def test_the_signed_list_survives_the_sealed_state() -> None:
    members, states = _masked_round(4)
    states["m0"].consistency(["m0", "m1", "m2"])
    again = _sealed(states["m0"])
    assert again.signed_survivors == ["m0", "m1", "m2"]
    assert again.step == "consistent"
    with pytest.raises(SecAggError, match="signed another"):
        again.consistency(members)


def test_a_late_masked_input_from_a_dropped_member_is_refused() -> None:
    length = 1
    members = _members(4)
    aggregator = Aggregator(round_id=ROUND, vector_length=length)
    states = {m: Contributor.start(ROUND, m, length) for m in members}
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = aggregator.close_adverts()
    for member, state in states.items():
        aggregator.add_shares(member, state.share(roster))
    inboxes = aggregator.close_shares()
    late = {}
    for member in members:
        late[member] = states[member].masked_input([7], members, inboxes[member])
        if member != "m3":
            aggregator.add_masked(member, late[member])
    assert aggregator.close_collect() == ["m0", "m1", "m2"]
    with pytest.raises(SecAggError, match="from m3 refused: the collect step is closed"):
        aggregator.add_masked("m3", late["m3"])
    for member in ["m0", "m1", "m2"]:
        states[member].consistency(["m0", "m1", "m2"])
    for member in ["m0", "m1", "m2"]:
        aggregator.add_reveal(states[member].unmask(["m0", "m1", "m2"], ["m0", "m1", "m2"]))
    assert aggregator.finish() == [21]


def test_shares_for_another_member_do_not_open() -> None:
    members = _members(3)
    states = {m: Contributor.start(ROUND, m, 1) for m in members}
    aggregator = Aggregator(round_id=ROUND, vector_length=1)
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = aggregator.close_adverts()
    out = {m: s.share(roster) for m, s in states.items()}
    # m2 is handed m0's shares for m1 (a relay that swaps recipients)
    with pytest.raises(SecAggError, match="from m0 do not open"):
        states["m2"].masked_input([1], members, {"m0": out["m0"]["m1"], "m1": out["m1"]["m2"]})


def test_a_wrong_share_is_caught_by_the_mask_key_check() -> None:
    vectors = {m: [1] for m in _members(5)}
    length = 1
    aggregator = Aggregator(round_id=ROUND, vector_length=length)
    states = {m: Contributor.start(ROUND, m, length) for m in vectors}
    for state in states.values():
        aggregator.add_advert(state.advert())
    roster = aggregator.close_adverts()
    for member, state in states.items():
        aggregator.add_shares(member, state.share(roster))
    inboxes = aggregator.close_shares()
    alive = ["m0", "m1", "m2", "m3"]
    for member in alive:
        aggregator.add_masked(
            member, states[member].masked_input([1], aggregator.u2, inboxes[member])
        )
    aggregator.close_collect()
    for member in alive:
        states[member].consistency(alive)
    for member in alive:
        reveal = states[member].unmask(alive, alive)
        if member == "m1":
            reveal = Reveal(member="m1", b_shares=reveal.b_shares, s_shares={"m4": 12345})
        aggregator.add_reveal(reveal)
    with pytest.raises(SecAggError):
        aggregator.finish()


def test_prg_is_deterministic_and_seed_bound() -> None:
    seed = bytes(range(32))
    assert prg(seed, 4) == prg(seed, 4)
    assert prg(seed, 4) != prg(bytes(32), 4)
    assert all(0 <= w < MODULUS for w in prg(seed, 100))


def test_a_contributor_state_round_trips() -> None:
    state = Contributor.start(ROUND, "m0", 3)
    assert Contributor.from_bytes(state.to_bytes()) == state
    with pytest.raises(SecAggError, match="malformed"):
        Contributor.from_bytes(b"{}")
