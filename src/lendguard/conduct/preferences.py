"""Marketing consent and third-party opt-outs: a small interface and a simple store.

The contact guard asks one question about marketing, through :class:`ConsentState`: may this
customer be marketed to on this channel at this instant? ``True``/``False`` when the store
knows, ``None`` when it does not. A known answer wins over whatever the caller sends in the
request (``marketing_opted_out``); only when the store says ``None`` does the caller's view
count, and after that the policy's ``marketing_opt_out.unknown`` default.

:class:`PreferenceStore` is the simple table-backed implementation here (``marketing_
preferences``). The privacy work backs the same interface with the consent ledger and passes
it to :class:`~lendguard.conduct.contacts.ContactGuard`; nothing else changes.

Third-party opt-outs (R18, "stop at once if they ask not to be contacted") live here too:
they are preferences of the people contacted, recorded by id, by number, or both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Select,
    and_,
    bindparam,
    insert,
    or_,
    select,
)

from lendguard.auth import audit
from lendguard.models.base import UTCDateTime
from lendguard.models.conduct import MarketingPreference, ThirdPartyOptOut

ALL_CHANNELS = "*"


@runtime_checkable
class ConsentState(Protocol):
    """Where the guard learns a customer's marketing choice."""

    def marketing_allowed(self, customer_id: str, channel: str, at: datetime) -> bool | None:
        """``False`` if the customer opted out of marketing on ``channel`` (or all channels)
        as of ``at``; ``True`` if they opted (back) in; ``None`` if nothing is known."""
        ...


def latest_marketing_choice() -> Select[Any]:
    """``opted_out`` of the latest choice of customer ``:debtor`` for ``:channel`` or ``*`` at or
    before ``:at`` (bind parameters); no row when none was recorded. Built once, and embedded
    as a scalar subquery where a check reads it with other facts."""
    m = MarketingPreference
    return (
        select(m.opted_out)
        .where(
            m.customer_id == bindparam("debtor"),
            or_(m.channel == bindparam("channel"), m.channel == ALL_CHANNELS),
            m.at <= bindparam("at", type_=UTCDateTime()),
        )
        .order_by(m.at.desc(), m.id.desc())
        .limit(1)
    )


def third_party_opt_out_since() -> Select[Any]:
    """When the third party opted out: by number ``:contact`` anywhere, or by id ``:party``
    under debtor ``:debtor``, at or before ``:at``; no row when they did not."""
    t = ThirdPartyOptOut
    return (
        select(t.at)
        .where(
            or_(
                t.contact_hash == bindparam("contact"),
                and_(t.debtor_id == bindparam("debtor"), t.third_party_id == bindparam("party")),
            ),
            t.at <= bindparam("at", type_=UTCDateTime()),
        )
        .order_by(t.at)
        .limit(1)
    )


class PreferenceStore:
    """Table-backed :class:`ConsentState`, and the store of third-party opt-outs.

    A marketing choice applies to one channel or to ``*`` (all). The latest choice recorded
    at or before the instant asked about, among the channel's and the ``*`` ones, decides: an
    opt-out of everything followed by an opt-in to SMS allows SMS only.
    """

    def __init__(self, engine: Engine) -> None:
        self.db = engine
        # Autocommit reads on PostgreSQL (see lendguard.conduct.contacts.read_options).
        self._read_options = (
            {"isolation_level": "AUTOCOMMIT"} if engine.dialect.name == "postgresql" else {}
        )
        self._latest = latest_marketing_choice()

    # -- marketing -------------------------------------------------------------------------------

    def marketing_allowed(self, customer_id: str, channel: str, at: datetime) -> bool | None:
        with self.db.connect().execution_options(**self._read_options) as conn:
            opted_out = conn.execute(
                self._latest, {"debtor": customer_id, "channel": channel, "at": at}
            ).scalar_one_or_none()
        return None if opted_out is None else not opted_out

    def set_marketing(
        self,
        customer_id: str,
        channel: str,
        opted_out: bool,
        source: str,
        actor: str,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Record a choice; ``conn`` writes inside the caller's transaction."""
        now = datetime.now(UTC)
        values = {
            "customer_id": customer_id,
            "channel": channel,
            "opted_out": opted_out,
            "at": at or now,
            "source": source,
            "actor": actor,
            "recorded_at": now,
        }
        return _insert_row(self.db, MarketingPreference, values, conn)

    def operator_set_marketing(
        self,
        customer_id: str,
        channel: str,
        opted_out: bool,
        source: str,
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """An operator records a customer's marketing choice: the choice and its audit entry
        (``conduct.marketing``) in one transaction, so a choice is never recorded unaudited."""
        with self.db.begin() as conn:
            pk = self.set_marketing(customer_id, channel, opted_out, source, actor, at, conn=conn)
            detail = {"channel": channel, "opted_out": opted_out}
            audit.record(conn, actor, "conduct.marketing", customer_id, ip, detail)
        return pk

    # -- third parties ---------------------------------------------------------------------------

    def operator_add_third_party_opt_out(
        self,
        debtor_id: str,
        third_party_id: str | None,
        contact_hash: str | None,
        source: str,
        actor: str,
        ip: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """An operator records a third party's opt-out: the row and its audit entry
        (``conduct.third_party_opt_out``) in one transaction."""
        with self.db.begin() as conn:
            pk = self.add_third_party_opt_out(
                debtor_id, third_party_id, contact_hash, source, actor, at, conn=conn
            )
            detail = {"third_party_id": third_party_id, "contact_hash": contact_hash}
            audit.record(conn, actor, "conduct.third_party_opt_out", debtor_id, ip, detail)
        return pk

    def add_third_party_opt_out(
        self,
        debtor_id: str | None,
        third_party_id: str | None,
        contact_hash: str | None,
        source: str,
        actor: str,
        at: datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        if third_party_id is None and contact_hash is None:
            raise ValueError("a third-party opt-out needs a third-party id or a contact")
        now = datetime.now(UTC)
        values = {
            "debtor_id": debtor_id,
            "third_party_id": third_party_id,
            "contact_hash": contact_hash,
            "at": at or now,
            "source": source,
            "actor": actor,
            "recorded_at": now,
        }
        return _insert_row(self.db, ThirdPartyOptOut, values, conn)

    # -- reading ---------------------------------------------------------------------------------

    def for_customer(self, customer_id: str) -> dict[str, Any]:
        m, t = MarketingPreference, ThirdPartyOptOut
        with self.db.connect() as conn:
            marketing = conn.execute(
                select(m).where(m.customer_id == customer_id).order_by(m.at, m.id)
            ).all()
            third = conn.execute(
                select(t).where(t.debtor_id == customer_id).order_by(t.at, t.id)
            ).all()
        return {
            "marketing": [
                {
                    "id": r.id,
                    "channel": r.channel,
                    "opted_out": r.opted_out,
                    "at": r.at,
                    "source": r.source,
                    "actor": r.actor,
                }
                for r in marketing
            ],
            "third_party_opt_outs": [
                {
                    "id": r.id,
                    "third_party_id": r.third_party_id,
                    "contact_hash": r.contact_hash,
                    "at": r.at,
                    "source": r.source,
                    "actor": r.actor,
                }
                for r in third
            ],
        }


def _insert_row(db: Engine, table: Any, values: dict[str, Any], conn: Connection | None) -> int:
    """Insert one row and return its id: inside the caller's transaction when ``conn`` is
    given (so an audit row written there commits with it), else in a transaction of its own."""
    if conn is not None:
        return _pk(conn.execute(insert(table), values))
    with db.begin() as own:
        return _pk(own.execute(insert(table), values))


def _pk(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
