"""Token revocations shared by every process of the service, through PostgreSQL (``fhir.revoked_token``).

The per-request check stays an in-memory lookup (:class:`.auth.TokenGate`); what is shared is the list
behind it. ``POST /auth/revoke`` denies the token in its own process at once and inserts its ``jti``
into the table; every process merges the table's live rows into its denylist every ``every_s``
seconds (default 1). So with several workers a revoked token stops working everywhere within about a
second, instead of staying valid on the other workers until it expires.

Without the table (a database migrated before ``0005_revoked_token``) the service keeps to the
in-memory denylist of each process and says so once in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time

__all__ = ["SharedRevocations"]

log = logging.getLogger("workbench.fhir")
LEEWAY_S = 5  # as the token check's leeway: a token is refused up to 5 s past exp anyway


class SharedRevocations:
    """Writes revocations to ``fhir.revoked_token`` and merges the table into ``gate`` periodically."""

    def __init__(self, gate, pool, *, every_s: float = 1.0) -> None:
        self.gate = gate
        self.pool = pool
        self.every_s = every_s
        self.synced = 0  # merges done (tests wait on it)

    @staticmethod
    async def available(pool) -> bool:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT to_regclass('fhir.revoked_token') IS NOT NULL")).fetchone()
        return bool(row[0])

    async def record(self, claims) -> None:
        """Persist one revocation (the caller has already denied it in this process)."""
        now = int(time.time())
        async with self.pool.connection() as conn:
            await conn.execute("INSERT INTO fhir.revoked_token (jti, expires_at) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                               (claims.token_id, claims.expires_at))  # fmt: skip
            await conn.execute("DELETE FROM fhir.revoked_token WHERE expires_at < %s", (now - 60,))

    async def sync_once(self) -> int:
        """Merge the live rows into the gate's denylist; return how many there were."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute("SELECT jti, expires_at FROM fhir.revoked_token WHERE expires_at >= %s",
                                             (int(time.time()) - LEEWAY_S,))).fetchall()  # fmt: skip
        self.gate.deny_all(rows)
        self.synced += 1
        return len(rows)

    async def start(self) -> None:
        """The first merge, at start-up; a failure is logged and left to :meth:`run` to retry."""
        try:
            await self.sync_once()
        except Exception as exc:
            log.warning("revocation list not merged from the database at start-up: %s", type(exc).__name__)

    async def run(self) -> None:
        """Merge forever (a lifespan task); a failed merge is logged once per streak and retried."""
        failing = False
        while True:
            try:
                await self.sync_once()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database may be away for a while: keep the last merged list
                if not failing:
                    log.warning("revocation list not merged from the database: %s", type(exc).__name__)
                failing = True
            await asyncio.sleep(self.every_s)
