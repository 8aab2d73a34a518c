"""Abuse limits of the token endpoint: failed-login lockout with back-off, and a bounded hashing pool.

Each failed login counts against the principal name it tried and the address it came from. Past
``max_failures`` the key is locked for ``base_s * 2**(extra failures)`` seconds (capped at 15 minutes);
a locked key is refused with 429 and ``Retry-After`` *before* any argon2 work, so a guessing client
spends nothing of ours. A success clears the principal's count. Memory is bounded: at most
``max_keys`` keys are remembered, least recently failed first out.

argon2 is slow on purpose (tens of milliseconds of CPU). Verifications run in a small dedicated thread
pool, and at most ``queue`` token requests may wait for it; beyond that the endpoint answers 429 at
once, so a flood of bad logins cannot occupy the threads and event loop the FHIR routes need.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

__all__ = ["HashPool", "LoginLimiter", "Throttled"]

MAX_LOCKOUT_S = 900.0


class Throttled(Exception):
    """Refused for now; ``retry_after`` whole seconds until the next attempt may be considered."""

    def __init__(self, retry_after: float, reason: str) -> None:
        super().__init__(reason)
        self.retry_after = max(1, math.ceil(retry_after))
        self.reason = reason


@dataclass
class _Failures:
    count: int
    locked_until: float


class LoginLimiter:
    """Failure counts per key (``"client:NAME"``, ``"addr:IP"``) with lockout and exponential back-off."""

    def __init__(self, *, max_failures: int = 5, address_max_failures: int = 20, base_s: float = 2.0,
                 forget_after_s: float = 900.0, max_keys: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.max_failures = max_failures
        self.address_max_failures = address_max_failures
        self.base_s = base_s
        self.forget_after_s = forget_after_s
        self.max_keys = max_keys
        self.clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._keys)

    def check(self, name: str | None, address: str | None) -> None:
        """Raise :class:`Throttled` when the principal or the address is locked out now."""
        now = self.clock()
        with self._lock:
            for key in self._keys_of(name, address):
                entry = self._keys.get(key)
                if entry is not None and entry.locked_until > now:
                    raise Throttled(entry.locked_until - now, "too many failed logins; try again later")

    def failed(self, name: str | None, address: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key in self._keys_of(name, address):
                limit = self.address_max_failures if key.startswith("addr:") else self.max_failures
                entry = self._keys.pop(key, None)
                if entry is None or now - entry.locked_until > self.forget_after_s:
                    entry = _Failures(0, now)
                entry.count += 1
                if entry.count >= limit:
                    entry.locked_until = now + min(MAX_LOCKOUT_S, self.base_s * 2 ** (entry.count - limit))
                self._keys[key] = entry
            while len(self._keys) > self.max_keys:
                self._keys.popitem(last=False)

    def succeeded(self, name: str | None) -> None:
        with self._lock:
            if name:
                self._keys.pop(f"client:{name}", None)

    @staticmethod
    def _keys_of(name: str | None, address: str | None) -> list[str]:
        keys = []
        if name:
            keys.append(f"client:{name[:200]}")
        if address:
            keys.append(f"addr:{address}")
        return keys


class HashPool:
    """A few threads for password hashing, with a bounded number of waiters (429 beyond it)."""

    def __init__(self, workers: int = 2, queue: int = 16) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")
        self._slots = asyncio.Semaphore(workers + queue)
        self._capacity = workers + queue

    async def run(self, fn: Callable, *args, **kwargs):
        if self._slots.locked():
            raise Throttled(1, "the token endpoint is busy; retry shortly")
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
