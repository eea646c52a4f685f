"""Secure aggregation of the alliance's statistics: the members learn the sum of their vectors
and nothing else; the aggregator learns only the sum, even though it relays every message.

Why pairwise additive masking (Bonawitz et al., "Practical Secure Aggregation for
Privacy-Preserving Machine Learning", CCS 2017, the semi-honest variant with double masking)
and not additively homomorphic encryption:

* Paillier needs a decryptor. If the aggregator holds the key it can decrypt each member's
  ciphertext alone; if another member holds it, that member can decrypt everything the
  aggregator relays. Threshold Paillier avoids that but needs a distributed key generation,
  and ``phe`` (the usual Python implementation) is GPLv3. With pairwise masks no single party
  ever holds anything that decrypts one member's vector.
* It is pure Python plus ``cryptography`` (X25519, HKDF, AES-GCM, SHAKE-256), all of which the
  project already ships; vectors are a few dozen counters, so speed is no concern.
* It tolerates members that go away mid-round (a network fault, a restart): the survivors'
  shares of a dropped member's mask key let the aggregator remove its pairwise masks.

The protocol, for a round with members U (ids ordered as strings) and threshold
t = max(2, floor((|U|+1)/2) + 1):

1. **advertise** — each member u makes two X25519 key pairs: ``c`` (encrypting shares for one
   another) and ``s`` (agreeing pairwise mask seeds), and sends both public keys.
2. **share** — u draws a self-mask seed b_u and Shamir-shares b_u and s_u's private key among
   all advertised members (threshold t, over the prime field 2^521 - 1), each share encrypted
   with AES-GCM under HKDF(X25519(c_u, c_v)) for its recipient v; the aggregator relays them.
   U2: the members whose shares arrived.
3. **collect** — u sends y_u = x_u + PRG(b_u) + Σ_{v∈U2, u<v} PRG(s_uv) − Σ_{v∈U2, v<u}
   PRG(s_uv) mod 2^64, with s_uv = HKDF(X25519(s_u, s_v)) bound to the round and the pair.
   U3: the members whose masked vectors arrived (the others are dropped, for good).
4. **consistency** — the aggregator sends every survivor U3; each signs (round id, sorted
   U3) with its alliance Ed25519 key and signs ONE list per round (kept in its sealed state:
   asked again with the same list it signs it again, with another it refuses).
5. **unmask** — the aggregator sends U3 with the survivors' signatures on it. A survivor
   reveals only if U3 is the list it signed and at least t members of U3 signed exactly U3
   (itself counted); then, for every member v of U2, its share of b_v if v survived and its
   share of s_v's private key if v dropped, never both (a member answers one unmask per
   round). With t revealed shares of each, the aggregator removes the self-masks of the
   survivors and the pairwise masks shared with the dropped, and gets Σ_{u∈U3} x_u.

**A hostile aggregator** (it relays every message, so it can tell each member a different
U3): telling some honest members that V dropped (they reveal shares of s_V) and others that V
survived (they reveal shares of b_V) would, with t of each, strip both of V's masks off y_V.
Why it cannot (Bonawitz et al. §4, the malicious-secure ConsistencyCheck):

* an honest member reveals once per round, and only for the one list U it signed, with U
  signed by at least t of its members; so honest members revealing for two different lists
  U_A ≠ U_B are two disjoint groups, and the honest signers of U_A and of U_B are disjoint too;
* the aggregator is itself a member (c = 1 corrupt holder of shares: its own shares of b_V
  and s_V); with only the aggregator hostile, U_A and U_B each need t signers of which at most
  the aggregator is common: 2t − 1 ≤ n. The threshold t = floor((n+1)/2) + 1 gives 2t ≥ n + 2,
  so two valid lists cannot coexist, and V's b and s can never both be reconstructed
  (counting shares instead of signers gives the same bound: 2(t − 1) honest shares needed
  from n − 1 honest members). The previous t = floor(n/2) + 1 allowed it for odd n (n = 5,
  t = 3: {A, V, H1} and {A, H2, H3}), which is why t was raised.
* the bound is against the aggregator alone. k further members colluding with it (and
  handing it their own shares) would need t > (n + 1 + k)/2; a coalition that large can in
  any case subtract its own figures from a sum and learn the rest's.

What the aggregator sees of one member: two public keys, ciphertexts it cannot open, a vector
masked by PRG(b_u) (uniform over Z_2^64 per element, fresh every round) and, at the end, either
t shares of b_u or t shares of s_u — never both, so it can strip only one of the two masks.
Fewer than t shares of a secret are consistent with every value of that secret (Shamir).
A masked vector arriving after its member was declared dropped is refused: the survivors have
revealed that member's mask key, so adding it would expose it up to its self-mask only, and
the sum would no longer match the participants.

Values are non-negative integers below 2^62 (counts, money in fen); the sum is exact as long as
the true total is below 2^64 (1.8e17 fen), which every figure of the alliance is. Message
authenticity is the peer layer's signed requests; the signatures on adverts and survivors lists
are checked by the caller (lendguard.alliance.aggregation), which hands :meth:`Contributor.unmask`
the members whose signature on the list verified.

Everything here is pure (no I/O). State objects serialise to JSON bytes so a contributor can
seal them between steps, and every message has a JSON form with base64 binary values.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass, field
from hashlib import shake_256
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MODULUS = 1 << 64
VALUE_BOUND = 1 << 62
# Shamir field: a Mersenne prime above any 256-bit secret (seeds and X25519 private keys)
FIELD_PRIME = (1 << 521) - 1
MAX_VECTOR_LENGTH = 65_536
PROTOCOL = b"lendguard-secagg-v1"


class SecAggError(ValueError):
    """A step cannot go on: too few members, a bad value, a message out of turn or forged."""


def threshold_for(members: int) -> int:
    """t = floor((n+1)/2) + 1, at least 2: the smallest t with 2t > n + 1, so that two
    disjoint groups of honest members, each topped up by the aggregator's own shares, can
    never both reach t (see "A hostile aggregator" in the module's docstring). n = 3 → 3,
    4 → 3, 5 → 4, 6 → 4, 7 → 5."""
    return max(2, (members + 1) // 2 + 1)


CONSISTENCY_DOMAIN = PROTOCOL + b"|consistency"


def consistency_message(round_id: str, survivors: list[str]) -> bytes:
    """The bytes a survivor signs (its alliance Ed25519 key) to vouch for the survivors list
    U of a round: the round id and U sorted, one id a line (ids hold no line breaks)."""
    names = sorted(set(survivors))
    if any("\n" in name for name in names):
        raise SecAggError("a member id holds a line break")
    return b"\n".join([CONSISTENCY_DOMAIN, round_id.encode(), *(n.encode() for n in names)])


# --- encoding helpers -------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError) as exc:
        raise SecAggError(f"{what} is not base64") from exc


def _public_bytes(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _private_bytes(key: X25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def _public_key(raw: bytes, what: str) -> X25519PublicKey:
    if len(raw) != 32:
        raise SecAggError(f"{what} is not a 32-byte X25519 public key")
    return X25519PublicKey.from_public_bytes(raw)


def _hkdf(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def _label(*parts: str) -> bytes:
    return PROTOCOL + b"|" + "|".join(parts).encode("utf-8")


# --- vectors ----------------------------------------------------------------------------------


def check_vector(values: list[int], length: int) -> list[int]:
    """Refuses anything but ``length`` integers in [0, 2^62) (bools are not numbers here)."""
    if not isinstance(values, list) or len(values) != length:
        raise SecAggError(f"the vector must hold {length} values")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SecAggError(f"value {index} is not an integer")
        if not 0 <= value < VALUE_BOUND:
            raise SecAggError(f"value {index} is outside [0, 2^62)")
    return list(values)


def prg(seed: bytes, length: int) -> list[int]:
    """SHAKE-256 of a 32-byte seed, read as ``length`` little-endian 64-bit words."""
    stream = shake_256(PROTOCOL + b"|prg|" + seed).digest(8 * length)
    return [int.from_bytes(stream[i : i + 8], "little") for i in range(0, 8 * length, 8)]


def _add(into: list[int], mask: list[int], sign: int) -> None:
    for i, m in enumerate(mask):
        into[i] = (into[i] + sign * m) % MODULUS


def _pair_seed(
    own_private: X25519PrivateKey, their_public: bytes, round_id: str, a: str, b: str
) -> bytes:
    """The mask seed two members agree on: X25519 then HKDF bound to the round and the pair."""
    low, high = sorted((a, b))
    shared = own_private.exchange(_public_key(their_public, f"mask key of {b}"))
    return _hkdf(shared, _label("mask", round_id, low, high))


def _pair_sign(me: str, other: str) -> int:
    return 1 if me < other else -1


# --- Shamir over GF(2^521 - 1) ----------------------------------------------------------------


def shamir_split(secret: bytes, points: list[int], threshold: int) -> dict[int, int]:
    """Shares of a secret of at most 64 bytes at the given x-coordinates (non-zero, distinct)."""
    if threshold < 2 or threshold > len(points):
        raise SecAggError("the threshold must be between 2 and the number of shares")
    value = int.from_bytes(secret, "big")
    coefficients = [value] + [secrets.randbelow(FIELD_PRIME) for _ in range(threshold - 1)]
    shares = {}
    for x in points:
        y = 0
        for coefficient in reversed(coefficients):
            y = (y * x + coefficient) % FIELD_PRIME
        shares[x] = y
    return shares


def shamir_combine(shares: dict[int, int], threshold: int, size: int = 32) -> bytes:
    """The secret from at least ``threshold`` shares (Lagrange at 0); fewer fail loudly."""
    if len(shares) < threshold:
        raise SecAggError(f"{len(shares)} shares, {threshold} needed to reconstruct")
    chosen = sorted(shares.items())[:threshold]
    value = 0
    for i, (xi, yi) in enumerate(chosen):
        numerator, denominator = 1, 1
        for j, (xj, _) in enumerate(chosen):
            if i != j:
                numerator = numerator * (-xj) % FIELD_PRIME
                denominator = denominator * (xi - xj) % FIELD_PRIME
        value = (value + yi * numerator * pow(denominator, -1, FIELD_PRIME)) % FIELD_PRIME
    if value >= 1 << (8 * size):
        raise SecAggError("the shares do not reconstruct a secret of this size")
    return value.to_bytes(size, "big")


# --- messages ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Advert:
    """Step 1: a member's two public keys for this round."""

    member: str
    c_public: bytes
    s_public: bytes

    def to_json(self) -> dict[str, str]:
        return {
            "member": self.member,
            "c_public": _b64(self.c_public),
            "s_public": _b64(self.s_public),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Advert:
        try:
            advert = cls(
                member=str(data["member"]),
                c_public=_unb64(str(data["c_public"]), "c_public"),
                s_public=_unb64(str(data["s_public"]), "s_public"),
            )
        except KeyError as exc:
            raise SecAggError(f"advert misses {exc.args[0]}") from exc
        _public_key(advert.c_public, "c_public")
        _public_key(advert.s_public, "s_public")
        return advert


@dataclass(frozen=True)
class Roster:
    """The advertised members the aggregator announces for the share step, and t."""

    round_id: str
    vector_length: int
    adverts: tuple[Advert, ...]
    threshold: int

    def members(self) -> list[str]:
        return [a.member for a in self.adverts]

    def point_of(self, member: str) -> int:
        """A member's Shamir x-coordinate: its 1-based place in the ordered roster."""
        return self.members().index(member) + 1

    def advert_of(self, member: str) -> Advert:
        for advert in self.adverts:
            if advert.member == member:
                return advert
        raise SecAggError(f"{member} is not on the round's roster")

    def to_json(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "vector_length": self.vector_length,
            "threshold": self.threshold,
            "adverts": [a.to_json() for a in self.adverts],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Roster:
        try:
            adverts = tuple(Advert.from_json(a) for a in data["adverts"])
            roster = cls(
                round_id=str(data["round_id"]),
                vector_length=int(data["vector_length"]),
                adverts=adverts,
                threshold=int(data["threshold"]),
            )
        except (KeyError, TypeError) as exc:
            raise SecAggError("the roster is malformed") from exc
        roster.check()
        return roster

    def check(self) -> None:
        names = self.members()
        if names != sorted(set(names)):
            raise SecAggError("the roster's members must be distinct and ordered")
        if len(names) < 3:
            raise SecAggError("a round needs at least 3 members")
        if self.threshold != threshold_for(len(names)):
            raise SecAggError("the roster's threshold is not floor((n+1)/2)+1")
        if not 1 <= self.vector_length <= MAX_VECTOR_LENGTH:
            raise SecAggError("the vector length is out of range")


@dataclass(frozen=True)
class Reveal:
    """Step 4: one survivor's shares — of b for the survivors, of s for the dropped."""

    member: str
    b_shares: dict[str, int]
    s_shares: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "b_shares": {k: format(v, "x") for k, v in sorted(self.b_shares.items())},
            "s_shares": {k: format(v, "x") for k, v in sorted(self.s_shares.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Reveal:
        try:
            return cls(
                member=str(data["member"]),
                b_shares={str(k): int(str(v), 16) for k, v in data["b_shares"].items()},
                s_shares={str(k): int(str(v), 16) for k, v in data["s_shares"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SecAggError("the reveal is malformed") from exc


# --- a contributor ----------------------------------------------------------------------------

CONTRIBUTOR_STEPS = ("advertised", "shared", "masked", "consistent", "unmasked")


@dataclass
class Contributor:
    """One member's side of a round. Its secrets live here between steps; :meth:`to_bytes`
    gives what to seal, :meth:`from_bytes` reads it back."""

    round_id: str
    member: str
    vector_length: int
    c_private: bytes
    s_private: bytes
    step: str = "advertised"
    b_seed: bytes = b""
    roster: dict[str, Any] | None = None
    # shares held for each member (its own included): {member: [b_share, s_share]}
    held: dict[str, list[int]] = field(default_factory=dict)
    shared_with: list[str] = field(default_factory=list)
    # the one survivors list (U3) this member signed in the round, once it signed one
    signed_survivors: list[str] | None = None

    @classmethod
    def start(cls, round_id: str, member: str, vector_length: int) -> Contributor:
        if not 1 <= vector_length <= MAX_VECTOR_LENGTH:
            raise SecAggError("the vector length is out of range")
        return cls(
            round_id=round_id,
            member=member,
            vector_length=vector_length,
            c_private=_private_bytes(X25519PrivateKey.generate()),
            s_private=_private_bytes(X25519PrivateKey.generate()),
        )

    def _c(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.c_private)

    def _s(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.s_private)

    def advert(self) -> Advert:
        return Advert(
            member=self.member,
            c_public=_public_bytes(self._c().public_key()),
            s_public=_public_bytes(self._s().public_key()),
        )

    def _expect(self, step: str) -> None:
        if self.step != step:
            raise SecAggError(f"this member is at step {self.step}, not {step}")

    def _roster(self) -> Roster:
        if self.roster is None:
            raise SecAggError("no roster yet")
        return Roster.from_json(self.roster)

    def share(self, roster: Roster) -> dict[str, str]:
        """Step 2: shares of b and of s's private key for every advertised member, each
        encrypted for its recipient (base64 AES-GCM). One's own shares stay in the state."""
        self._expect("advertised")
        roster.check()
        if roster.round_id != self.round_id or roster.vector_length != self.vector_length:
            raise SecAggError("the roster is for another round")
        if roster.advert_of(self.member) != self.advert():
            raise SecAggError("the roster does not carry this member's keys")
        self.b_seed = secrets.token_bytes(32)
        points = [roster.point_of(m) for m in roster.members()]
        b_shares = shamir_split(self.b_seed, points, roster.threshold)
        s_shares = shamir_split(self.s_private, points, roster.threshold)
        out: dict[str, str] = {}
        for advert in roster.adverts:
            point = roster.point_of(advert.member)
            if advert.member == self.member:
                self.held[self.member] = [b_shares[point], s_shares[point]]
                continue
            key = _hkdf(
                self._c().exchange(_public_key(advert.c_public, "c_public")),
                _label("share", self.round_id, self.member, advert.member),
            )
            nonce = secrets.token_bytes(12)
            plain = json.dumps(
                {"b": format(b_shares[point], "x"), "s": format(s_shares[point], "x")}
            ).encode()
            aad = _label("share", self.round_id, self.member, advert.member)
            out[advert.member] = _b64(nonce + AESGCM(key).encrypt(nonce, plain, aad))
        self.roster = roster.to_json()
        self.step = "shared"
        return out

    def _open(self, roster: Roster, sender: str, sealed: str) -> list[int]:
        advert = roster.advert_of(sender)
        key = _hkdf(
            self._c().exchange(_public_key(advert.c_public, "c_public")),
            _label("share", self.round_id, sender, self.member),
        )
        raw = _unb64(sealed, f"the shares from {sender}")
        aad = _label("share", self.round_id, sender, self.member)
        try:
            plain = json.loads(AESGCM(key).decrypt(raw[:12], raw[12:], aad))
            return [int(plain["b"], 16), int(plain["s"], 16)]
        except (InvalidTag, ValueError, KeyError, TypeError) as exc:
            raise SecAggError(f"the shares from {sender} do not open") from exc

    def masked_input(
        self, values: list[int], survivors: list[str], inbox: dict[str, str]
    ) -> list[int]:
        """Step 3: this member's vector masked by its self-mask and the pairwise masks with
        every member whose shares arrived (``survivors``, U2); ``inbox`` holds their shares
        for this member."""
        self._expect("shared")
        roster = self._roster()
        vector = check_vector(values, self.vector_length)
        u2 = sorted(set(survivors))
        if self.member not in u2 or not set(u2) <= set(roster.members()):
            raise SecAggError("the survivors must be advertised members, this one among them")
        if len(u2) < roster.threshold:
            raise SecAggError(f"{len(u2)} members shared, {roster.threshold} needed")
        if set(inbox) != set(u2) - {self.member}:
            raise SecAggError("the shares received do not match the survivors")
        for sender, sealed in inbox.items():
            self.held[sender] = self._open(roster, sender, sealed)
        masked = list(vector)
        _add(masked, prg(self.b_seed, self.vector_length), 1)
        for other in u2:
            if other == self.member:
                continue
            seed = _pair_seed(
                self._s(), roster.advert_of(other).s_public, self.round_id, self.member, other
            )
            _add(masked, prg(seed, self.vector_length), _pair_sign(self.member, other))
        self.shared_with = u2
        self.step = "masked"
        return masked

    def _check_survivors(self, survivors: list[str]) -> list[str]:
        roster = self._roster()
        u3 = sorted(set(survivors))
        if self.member not in u3 or not set(u3) <= set(self.shared_with):
            raise SecAggError("the survivors must be members that shared, this one among them")
        if len(u3) < roster.threshold:
            raise SecAggError(f"{len(u3)} members left, {roster.threshold} needed to unmask")
        return u3

    def consistency(self, survivors: list[str]) -> list[str]:
        """Step 4: the survivors list this member agrees to sign (the caller signs
        :func:`consistency_message` of it). One list per round: asked again with the same
        list it answers the same; with another list it refuses."""
        if self.step == "consistent":
            if sorted(set(survivors)) != self.signed_survivors:
                raise SecAggError("this member signed another survivors list in this round")
            return list(self.signed_survivors)
        self._expect("masked")
        u3 = self._check_survivors(survivors)
        self.signed_survivors = u3
        self.step = "consistent"
        return list(u3)

    def unmask(self, survivors: list[str], signers: Collection[str]) -> Reveal:
        """Step 5, answered once per round: shares of b for the survivors (U3), of s for the
        members that shared but sent no masked vector. Never both for one member. Only for the
        list this member signed, and only when ``signers`` — the members whose signature on
        exactly this list the caller verified — with this member make at least t members of
        the list."""
        self._expect("consistent")
        roster = self._roster()
        u3 = self._check_survivors(survivors)
        if u3 != self.signed_survivors:
            raise SecAggError("the survivors list is not the one this member signed")
        agreed = (set(signers) & set(u3)) | {self.member}
        if len(agreed) < roster.threshold:
            raise SecAggError(
                f"{len(agreed)} members signed the survivors list, {roster.threshold} needed"
            )
        dropped = [m for m in self.shared_with if m not in u3]
        self.step = "unmasked"
        return Reveal(
            member=self.member,
            b_shares={m: self.held[m][0] for m in u3},
            s_shares={m: self.held[m][1] for m in dropped},
        )

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "round_id": self.round_id,
                "member": self.member,
                "vector_length": self.vector_length,
                "c_private": _b64(self.c_private),
                "s_private": _b64(self.s_private),
                "step": self.step,
                "b_seed": _b64(self.b_seed),
                "roster": self.roster,
                "held": {k: [format(v, "x") for v in pair] for k, pair in self.held.items()},
                "shared_with": self.shared_with,
                "signed_survivors": self.signed_survivors,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_bytes(cls, raw: bytes) -> Contributor:
        try:
            data = json.loads(raw)
            return cls(
                round_id=data["round_id"],
                member=data["member"],
                vector_length=int(data["vector_length"]),
                c_private=_unb64(data["c_private"], "c_private"),
                s_private=_unb64(data["s_private"], "s_private"),
                step=data["step"],
                b_seed=_unb64(data["b_seed"], "b_seed"),
                roster=data["roster"],
                held={k: [int(v, 16) for v in pair] for k, pair in data["held"].items()},
                shared_with=list(data["shared_with"]),
                signed_survivors=(
                    None
                    if data.get("signed_survivors") is None
                    else [str(m) for m in data["signed_survivors"]]
                ),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SecAggError("the sealed state is malformed") from exc


# --- the aggregator ---------------------------------------------------------------------------


@dataclass
class Aggregator:
    """The relay and summer. It never holds a secret that opens one member's vector: its view
    is the adverts, ciphertexts, masked vectors and one kind of share per member."""

    round_id: str
    vector_length: int
    step: str = "advertise"
    adverts: dict[str, Advert] = field(default_factory=dict)
    roster: Roster | None = None
    # sender -> {recipient: ciphertext}
    shares: dict[str, dict[str, str]] = field(default_factory=dict)
    masked: dict[str, list[int]] = field(default_factory=dict)
    reveals: dict[str, Reveal] = field(default_factory=dict)
    u2: list[str] = field(default_factory=list)
    u3: list[str] = field(default_factory=list)

    def _expect(self, step: str) -> None:
        if self.step != step:
            raise SecAggError(f"the round is at step {self.step}, not {step}")

    def add_advert(self, advert: Advert) -> None:
        self._expect("advertise")
        if advert.member in self.adverts:
            raise SecAggError(f"{advert.member} advertised twice")
        self.adverts[advert.member] = advert

    def close_adverts(self) -> Roster:
        self._expect("advertise")
        members = sorted(self.adverts)
        if len(members) < 3:
            raise SecAggError(f"{len(members)} members advertised, at least 3 needed")
        self.roster = Roster(
            round_id=self.round_id,
            vector_length=self.vector_length,
            adverts=tuple(self.adverts[m] for m in members),
            threshold=threshold_for(len(members)),
        )
        self.step = "share"
        return self.roster

    def _rost(self) -> Roster:
        assert self.roster is not None
        return self.roster

    def add_shares(self, sender: str, sealed: dict[str, str]) -> None:
        self._expect("share")
        roster = self._rost()
        if sender not in roster.members() or sender in self.shares:
            raise SecAggError(f"{sender} may not share now")
        if set(sealed) != set(roster.members()) - {sender}:
            raise SecAggError(f"the shares of {sender} are not one per other member")
        self.shares[sender] = dict(sealed)

    def close_shares(self) -> dict[str, dict[str, str]]:
        """U2 and, per member of U2, the shares addressed to it by the other members of U2."""
        self._expect("share")
        roster = self._rost()
        self.u2 = sorted(self.shares)
        if len(self.u2) < roster.threshold:
            self.step = "failed"
            raise SecAggError(f"{len(self.u2)} members shared, {roster.threshold} needed")
        self.step = "collect"
        return {
            member: {sender: self.shares[sender][member] for sender in self.u2 if sender != member}
            for member in self.u2
        }

    def add_masked(self, sender: str, masked: list[int]) -> None:
        """A masked vector; refused from anyone not in U2, twice, or after the collect step
        closed (a member declared dropped is dropped for good: its s key may be revealed)."""
        if self.step != "collect":
            raise SecAggError(f"masked input from {sender} refused: the collect step is closed")
        if sender not in self.u2 or sender in self.masked:
            raise SecAggError(f"masked input from {sender} refused")
        if len(masked) != self.vector_length or any(
            isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < MODULUS for v in masked
        ):
            raise SecAggError(f"masked input from {sender} is not {self.vector_length} words")
        self.masked[sender] = list(masked)

    def roster_threshold(self) -> int:
        """t of the round (once the adverts are closed)."""
        return self._rost().threshold

    def close_collect(self) -> list[str]:
        self._expect("collect")
        self.u3 = sorted(self.masked)
        if len(self.u3) < self._rost().threshold:
            self.step = "failed"
            raise SecAggError(f"{len(self.u3)} masked inputs, {self._rost().threshold} needed")
        self.step = "unmask"
        return list(self.u3)

    def dropped(self) -> list[str]:
        """Advertised members that are not in the sum (left before sharing or before collect)."""
        if self.roster is None:
            return []
        return [m for m in self.roster.members() if m not in self.u3]

    def add_reveal(self, reveal: Reveal) -> None:
        self._expect("unmask")
        if reveal.member not in self.u3 or reveal.member in self.reveals:
            raise SecAggError(f"reveal from {reveal.member} refused")
        dropped = set(self.u2) - set(self.u3)
        if set(reveal.b_shares) != set(self.u3) or set(reveal.s_shares) != dropped:
            raise SecAggError(f"reveal from {reveal.member} does not match the survivors")
        self.reveals[reveal.member] = reveal

    def finish(self) -> list[int]:
        """Σ x_u over the survivors; fails loudly with fewer than t reveals."""
        self._expect("unmask")
        roster = self._rost()
        if len(self.reveals) < roster.threshold:
            self.step = "failed"
            raise SecAggError(f"{len(self.reveals)} reveals, {roster.threshold} needed")
        total = [0] * self.vector_length
        for member in self.u3:
            _add(total, self.masked[member], 1)
        for member in self.u3:
            shares = {roster.point_of(r.member): r.b_shares[member] for r in self.reveals.values()}
            b_seed = shamir_combine(shares, roster.threshold)
            _add(total, prg(b_seed, self.vector_length), -1)
        for gone in sorted(set(self.u2) - set(self.u3)):
            shares = {roster.point_of(r.member): r.s_shares[gone] for r in self.reveals.values()}
            raw = shamir_combine(shares, roster.threshold)
            s_private = X25519PrivateKey.from_private_bytes(raw)
            if _public_bytes(s_private.public_key()) != roster.advert_of(gone).s_public:
                self.step = "failed"
                raise SecAggError(f"the shares of {gone}'s mask key do not match its advert")
            for member in self.u3:
                seed = _pair_seed(
                    s_private, roster.advert_of(member).s_public, self.round_id, gone, member
                )
                # the survivor added sign(member, gone) * PRG(seed): take it away
                _add(total, prg(seed, self.vector_length), -_pair_sign(member, gone))
        self.step = "done"
        return total
