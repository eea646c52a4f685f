"""ECDH-PSI and the bucketed OPRF lookup of the alliance: pure functions, no I/O, no database.

**PSI** (semi-honest, Huberman–Franklin–Hogg), requester A with canonical identifiers X,
responder B with Y, one identifier kind:

1. A draws ``a`` and sends ``H(x)^a`` for x in X, in its own order (:class:`RequesterSession`).
2. B draws ``b`` for this session only (:func:`respond`) and returns ``(H(x)^a)^b`` — in A's
   order in mode ``intersection``, sorted bytewise in mode ``cardinality`` so that A cannot tell
   which of its items matched — and ``H(y)^b`` for y in Y, sorted bytewise (its list's order
   says nothing). ``b`` is then forgotten.
3. A raises B's values to ``a`` and compares: its own matching items, or only their number
   (:meth:`RequesterSession.finish`).

``H`` is :func:`.group.hash_to_group` (domain-separated by kind), so low-entropy identifiers
cannot be brute-forced from what travels: every value is keyed by a secret scalar. A fresh
scalar per session keeps two sessions' values unlinkable.

**Lookup** (one applicant against a member's list): the member keeps a long-lived scalar ``k``
and an index of ``tag(y) = sha256("lendguard-alliance-tag-v1|" || H(y)^k)[:16]`` grouped by a
public 16-bit bucket of y. The asker sends ``H(x)^r`` and x's bucket, gets back ``(H(x)^r)^k``
and the bucket's tags, unblinds with ``r^-1`` and checks whether ``tag(x)`` is among them. The
member learns 16 bits of a public hash of x and nothing else; the asker learns whether x is on
the list and how many entries share its bucket.

Peer bytes that are not ristretto255 points raise :class:`.group.InvalidPoint`.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from lendguard.alliance import group

Mode = Literal["intersection", "cardinality"]
MODES: Final = ("intersection", "cardinality")
BUCKET_DOMAIN: Final = b"lendguard-alliance-bucket-v1|"
TAG_DOMAIN: Final = b"lendguard-alliance-tag-v1|"
TAG_BYTES: Final = 16
BUCKETS: Final = 1 << 16


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown PSI mode {mode!r}; expected one of {', '.join(MODES)}")


# -- PSI -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PsiResult:
    """What A learns: the positions of its matching items (mode ``intersection``; ``None`` in
    mode ``cardinality``) and how many matched."""

    matched_indices: list[int] | None
    count: int


@dataclass(frozen=True, slots=True)
class PsiResponse:
    """What B sends back: A's values raised to ``b`` and B's own ``H(y)^b``, sorted."""

    double_blinded: list[bytes]
    own_blinded: list[bytes]


class RequesterSession:
    """A's side of one PSI: a fresh secret scalar, its blinded items, then the result.

    The scalar lives in this object only; drop the session when the exchange ends.
    """

    __slots__ = ("_blinded", "_canonicals", "_kind", "_scalar")

    def __init__(self, kind: str, canonicals: Sequence[str]) -> None:
        self._kind = kind
        self._canonicals = list(canonicals)
        self._scalar = group.new_scalar()
        self._blinded: list[bytes] | None = None

    @property
    def size(self) -> int:
        return len(self._canonicals)

    def blinded(self) -> list[bytes]:
        """``H(x)^a`` for every item, in the order given (computed once)."""
        if self._blinded is None:
            self._blinded = group.hash_and_blind_many(self._kind, self._scalar, self._canonicals)
        return list(self._blinded)

    def finish(
        self, double_blinded: Sequence[bytes], peer_blinded: Sequence[bytes], mode: Mode
    ) -> PsiResult:
        """Compare B's answer with B's own values raised to ``a``.

        In mode ``intersection`` ``double_blinded`` must be in this session's order (one per
        item); in mode ``cardinality`` its order is ignored and only the count comes out.
        """
        _check_mode(mode)
        if len(double_blinded) != len(self._canonicals):
            raise ValueError(
                f"the peer answered {len(double_blinded)} values for {len(self._canonicals)} items"
            )
        group.check_points(double_blinded)
        theirs = set(group.blind_many(self._scalar, peer_blinded))
        if mode == "cardinality":
            return PsiResult(None, sum(1 for value in double_blinded if value in theirs))
        matched = [i for i, value in enumerate(double_blinded) if value in theirs]
        return PsiResult(matched, len(matched))


def respond(
    kind: str, own_canonicals: Sequence[str], their_blinded: Sequence[bytes], mode: Mode
) -> PsiResponse:
    """B's side: a scalar for this call only, A's values raised to it (A's order, or sorted in
    mode ``cardinality``) and B's own items hashed and raised to it, sorted bytewise."""
    _check_mode(mode)
    scalar = group.new_scalar()
    double = group.blind_many(scalar, their_blinded)
    if mode == "cardinality":
        double.sort()
    own = group.hash_and_blind_many(kind, scalar, own_canonicals)
    own.sort()
    return PsiResponse(double_blinded=double, own_blinded=own)


# -- lookup --------------------------------------------------------------------------------------


def bucket_of(kind: str, canonical: str) -> int:
    """The public 16-bit bucket of an identifier (first two bytes of a domain-separated sha256)."""
    digest = hashlib.sha256(BUCKET_DOMAIN + kind.encode() + b"|" + canonical.encode()).digest()
    return int.from_bytes(digest[:2], "big")


def tag_of(evaluated: bytes) -> bytes:
    """The 16-byte tag of ``H(y)^k``: what the index keeps and the asker recomputes."""
    return hashlib.sha256(TAG_DOMAIN + evaluated).digest()[:TAG_BYTES]


@dataclass(slots=True)
class LookupIndex:
    """A member's list, as OPRF tags grouped by bucket (each bucket's tags sorted)."""

    kind: str
    scalar: bytes
    buckets: dict[int, list[bytes]] = field(default_factory=dict)

    @classmethod
    def build(cls, kind: str, canonicals: Iterable[str], k: bytes) -> LookupIndex:
        values = list(dict.fromkeys(canonicals))
        index = cls(kind=kind, scalar=k)
        evaluated = group.hash_and_blind_many(kind, k, values)
        for value, point in zip(values, evaluated, strict=True):
            index.buckets.setdefault(bucket_of(kind, value), []).append(tag_of(point))
        for tags in index.buckets.values():
            tags.sort()
        return index

    def __len__(self) -> int:
        return sum(len(tags) for tags in self.buckets.values())

    def bucket_tags(self, bucket: int) -> list[bytes]:
        """The sorted tags of one bucket (empty when none); a bucket outside 0..65535 raises."""
        if not 0 <= bucket < BUCKETS:
            raise ValueError("a bucket is 0..65535")
        return list(self.buckets.get(bucket, ()))

    def add(self, canonical: str) -> None:
        """Put one identifier on the indexed list (no-op when already there)."""
        self._insert(*self._locate(canonical))

    def remove(self, canonical: str) -> None:
        """Take one identifier off the indexed list (no-op when absent)."""
        bucket, tag = self._locate(canonical)
        tags = self.buckets.get(bucket)
        if not tags:
            return
        at = bisect.bisect_left(tags, tag)
        if at < len(tags) and tags[at] == tag:
            del tags[at]
            if not tags:
                del self.buckets[bucket]

    def _locate(self, canonical: str) -> tuple[int, bytes]:
        point = group.blind(self.scalar, group.hash_to_group(self.kind, canonical))
        return bucket_of(self.kind, canonical), tag_of(point)

    def _insert(self, bucket: int, tag: bytes) -> None:
        tags = self.buckets.setdefault(bucket, [])
        at = bisect.bisect_left(tags, tag)
        if at == len(tags) or tags[at] != tag:
            tags.insert(at, tag)


@dataclass(frozen=True, slots=True)
class LookupQuery:
    """The asker's side of one lookup: what to send (``blinded``, ``bucket``) and the secret
    ``r`` that unblinds the answer (keep it in memory only)."""

    blinded: bytes
    bucket: int
    r: bytes = field(repr=False)

    def is_hit(self, evaluated: bytes, tags: Iterable[bytes]) -> bool:
        """Whether the member's answer ``(H(x)^r)^k`` unblinds to a tag among ``tags``."""
        unblinded = group.blind(group.invert(self.r), evaluated)
        return tag_of(unblinded) in set(tags)


def lookup_query(kind: str, canonical: str) -> LookupQuery:
    """``H(x)^r`` under a fresh ``r``, and x's public bucket."""
    r = group.new_scalar()
    return LookupQuery(
        blinded=group.blind(r, group.hash_to_group(kind, canonical)),
        bucket=bucket_of(kind, canonical),
        r=r,
    )


def lookup_answer(k: bytes, blinded: bytes) -> bytes:
    """The member's evaluation ``blinded^k``; bytes that are no point raise InvalidPoint."""
    return group.blind(k, blinded)
