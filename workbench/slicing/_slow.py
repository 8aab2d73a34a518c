"""Slow, failing storage for demos and benchmarks, and the cancellation signal that reads listen to.

Local disks answer in microseconds, so the problems asynchronous slicing solves only show up against
remote object stores. ``slow_store`` wraps a zarr store, a zarr array or any array with a fixed
latency per chunk read and optional failures, so the blocking problem and its fix can be shown and
measured on one machine.

Cancellation travels as a ``contextvars.ContextVar`` holding a ``threading.Event``: the slicer sets it
around the read on its worker thread, and because zarr hands its coroutines to its own event-loop
thread with ``asyncio.run_coroutine_threadsafe`` (which copies the caller's context), a store's ``get``
sees the same event. A stale slice therefore stops before its next chunk read; with
``interruptible=True`` the injected wait itself is abandoned too, which is what cancelling the task of
an asynchronous HTTP range request does with a real remote store.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import Iterable
from typing import Any

import numpy as np

from workbench.errors import UserError

from workbench.slicing._model import SliceCancelled

current_cancel: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "workbench_slicing_cancel", default=None
)

# Polling step of the interruptible async wait: small against a chunk latency, large against overhead.
_POLL_S = 0.005


def check_cancelled() -> None:
    """Raise :class:`SliceCancelled` when the slice running in this context has been made stale."""
    event = current_cancel.get()
    if event is not None and event.is_set():
        raise SliceCancelled("a newer request made this slice stale")


def _wait(seconds: float, interruptible: bool) -> None:
    event = current_cancel.get()
    if interruptible and event is not None:
        if event.wait(seconds):
            raise SliceCancelled("a newer request made this slice stale during a chunk read")
    elif seconds > 0:
        time.sleep(seconds)


async def _await(seconds: float, interruptible: bool) -> None:
    event = current_cancel.get()
    if not interruptible or event is None:
        await asyncio.sleep(seconds)
        return
    deadline = time.perf_counter() + seconds
    while True:
        if event.is_set():
            raise SliceCancelled("a newer request made this slice stale during a chunk read")
        left = deadline - time.perf_counter()
        if left <= 0:
            return
        await asyncio.sleep(min(_POLL_S, left))


class _FaultPlan:
    """Decides which chunk reads fail: listed chunk coordinates always, others at a seeded rate."""

    def __init__(self, failure_rate: float, fail_chunks: Iterable[tuple[int, ...]], seed: int) -> None:
        if not 0.0 <= float(failure_rate) <= 1.0:
            raise UserError(f"failure_rate: expected a probability in [0, 1], got {failure_rate!r}")
        self.failure_rate = float(failure_rate)
        self.fail_chunks = {tuple(int(c) for c in chunk) for chunk in fail_chunks}
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()

    def should_fail(self, chunk: tuple[int, ...] | None) -> bool:
        if chunk is not None and chunk in self.fail_chunks:
            return True
        if self.failure_rate == 0.0:
            return False
        with self._lock:  # a Generator is not thread-safe; reads arrive from several threads
            return bool(self._rng.random() < self.failure_rate)


class _Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reads = 0
        self.failed = 0
        self.cancelled = 0

    def add(self, name: str) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + 1)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"reads": self.reads, "failed": self.failed, "cancelled": self.cancelled}


def _chunk_coords(key: str) -> tuple[int, ...] | None:
    """Chunk grid coordinates from a zarr key (v3 ``.../c/1/0/0`` or v2 ``.../1.0.0``); None for metadata."""
    leaf = key.rsplit("/", 1)[-1]
    if leaf in ("zarr.json", ".zarray", ".zattrs", ".zgroup", ".zmetadata"):
        return None
    parts = key.split("/")
    if "c" in parts:
        at = len(parts) - 1 - parts[::-1].index("c")
        tail = parts[at + 1 :]
        if tail and all(p.isdigit() for p in tail):
            return tuple(int(p) for p in tail)
    if all(p.isdigit() for p in leaf.split(".")):
        return tuple(int(p) for p in leaf.split("."))
    return None


def _check_bandwidth(bandwidth: float | None) -> float | None:
    if bandwidth is None:
        return None
    if not float(bandwidth) > 0:
        raise UserError(f"bandwidth: expected bytes per second > 0 (or None), got {bandwidth!r}")
    return float(bandwidth)


def _make_slow_store_class():
    from zarr.storage import WrapperStore

    class SlowStore(WrapperStore):
        """A zarr store wrapper that waits ``latency`` seconds per chunk read and can fail reads.

        Metadata reads are not delayed (a viewer opens an array once; chunk reads are what a slider
        triggers). ``stats()`` counts chunk reads, failures and reads abandoned by cancellation.
        """

        def __init__(
            self,
            store: Any,
            *,
            latency: float = 0.1,
            failure_rate: float = 0.0,
            fail_chunks: Iterable[tuple[int, ...]] = (),
            seed: int = 0,
            interruptible: bool = True,
            bandwidth: float | None = None,
            _plan: _FaultPlan | None = None,
            _counters: _Counters | None = None,
        ) -> None:
            super().__init__(store)
            if float(latency) < 0:
                raise UserError(f"latency: expected seconds >= 0, got {latency!r}")
            self.latency = float(latency)
            self.bandwidth = _check_bandwidth(bandwidth)
            self.interruptible = bool(interruptible)
            self._plan = _plan or _FaultPlan(failure_rate, fail_chunks, seed)
            self._counters = _counters or _Counters()

        def _with_store(self, store: Any) -> SlowStore:
            return type(self)(
                store,
                latency=self.latency,
                interruptible=self.interruptible,
                bandwidth=self.bandwidth,
                _plan=self._plan,
                _counters=self._counters,
            )

        def stats(self) -> dict[str, int]:
            """Chunk reads made, failed and abandoned so far."""
            return self._counters.snapshot()

        async def _delay(self, key: str, nbytes: int = 0) -> None:
            chunk = _chunk_coords(key)
            if chunk is None:
                return
            check_cancelled()
            self._counters.add("reads")
            try:
                await _await(self.latency + (nbytes / self.bandwidth if self.bandwidth else 0.0), self.interruptible)
            except SliceCancelled:
                self._counters.add("cancelled")
                raise
            if self._plan.should_fail(chunk):
                self._counters.add("failed")
                raise OSError(f"injected failure reading chunk {key!r}")

        async def get(self, key, prototype, byte_range=None):
            if self.bandwidth is None:
                await self._delay(key)
                return await self._store.get(key, prototype, byte_range)
            # Fetch first to know the size, then pay for it: latency plus bytes over the link's bandwidth.
            value = await self._store.get(key, prototype, byte_range)
            await self._delay(key, len(value) if value is not None else 0)
            return value

        async def get_partial_values(self, prototype, key_ranges):
            key_ranges = list(key_ranges)
            await asyncio.gather(*(self._delay(key) for key, _ in key_ranges))
            return await self._store.get_partial_values(prototype, key_ranges)

        def __repr__(self) -> str:
            return f"SlowStore({self._store!r}, latency={self.latency})"

    return SlowStore


_SLOW_STORE_CLASS = None


def _slow_store_class():
    global _SLOW_STORE_CLASS
    if _SLOW_STORE_CLASS is None:
        _SLOW_STORE_CLASS = _make_slow_store_class()
    return _SLOW_STORE_CLASS


class SlowArray:
    """An array wrapper that pays ``latency`` seconds for every chunk an indexing touches, one after another.

    ``chunks`` is the chunk shape (default: one chunk per index along all but the last two dims).
    Reads check for cancellation before each chunk, so a stale slice stops at chunk granularity.
    """

    def __init__(
        self,
        array: Any,
        *,
        latency: float = 0.1,
        chunks: tuple[int, ...] | None = None,
        failure_rate: float = 0.0,
        fail_chunks: Iterable[tuple[int, ...]] = (),
        seed: int = 0,
        interruptible: bool = True,
        bandwidth: float | None = None,
    ) -> None:
        if not hasattr(array, "shape") or not hasattr(array, "__getitem__"):
            raise TypeError(f"array: expected an indexable array with .shape, got {type(array).__name__}")
        if float(latency) < 0:
            raise UserError(f"latency: expected seconds >= 0, got {latency!r}")
        self._array = array
        self.shape = tuple(int(s) for s in array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        if chunks is None:
            chunks = (1,) * (self.ndim - 2) + self.shape[-2:]
        chunks = tuple(int(c) for c in chunks)
        if len(chunks) != self.ndim or any(c < 1 for c in chunks):
            raise UserError(f"chunks: expected {self.ndim} positive sizes, got {chunks}")
        self.chunks = chunks
        self.latency = float(latency)
        self.interruptible = bool(interruptible)
        self.bandwidth = _check_bandwidth(bandwidth)
        self._chunk_bytes = int(np.prod(chunks)) * self.dtype.itemsize
        self._plan = _FaultPlan(failure_rate, fail_chunks, seed)
        self._counters = _Counters()

    def stats(self) -> dict[str, int]:
        """Chunk reads made, failed and abandoned so far."""
        return self._counters.snapshot()

    @property
    def size(self) -> int:
        """Number of elements (array-protocol viewers such as napari ask for it)."""
        return int(np.prod(self.shape))

    def _chunk_ranges(self, key: tuple) -> list[range]:
        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (self.ndim - len(key))
        ranges = []
        for k, n, c in zip(key, self.shape, self.chunks):
            if isinstance(k, (int, np.integer)):
                i = int(k) % n
                ranges.append(range(i // c, i // c + 1))
            elif isinstance(k, slice):
                start, stop, _ = k.indices(n)
                ranges.append(range(start // c, max(start // c, (stop - 1) // c) + 1) if stop > start else range(0))
            else:
                raise TypeError(f"SlowArray supports integer and slice indexing, got {type(k).__name__}")
        return ranges

    def __getitem__(self, key: Any) -> np.ndarray:
        ranges = self._chunk_ranges(key)
        for chunk in np.ndindex(*(len(r) for r in ranges)):
            coords = tuple(r[i] for r, i in zip(ranges, chunk))
            check_cancelled()
            self._counters.add("reads")
            try:
                _wait(self.latency + (self._chunk_bytes / self.bandwidth if self.bandwidth else 0.0), self.interruptible)
            except SliceCancelled:
                self._counters.add("cancelled")
                raise
            if self._plan.should_fail(coords):
                self._counters.add("failed")
                raise OSError(f"injected failure reading chunk {coords}")
        return np.asarray(self._array[key])

    def __array__(self, dtype=None, copy=None):
        # Whole-array conversion (np.asarray(slow)) bypasses the latency: it is for checks, not viewing.
        return np.asarray(self._array, dtype=dtype)

    def __repr__(self) -> str:
        return f"SlowArray(shape={self.shape}, chunks={self.chunks}, latency={self.latency})"


def slow_store(
    target: Any,
    *,
    latency: float = 0.1,
    failure_rate: float = 0.0,
    fail_chunks: Iterable[tuple[int, ...]] = (),
    seed: int = 0,
    interruptible: bool = True,
    bandwidth: float | None = None,
) -> Any:
    """Wrap ``target`` so every chunk read waits ``latency`` seconds (plus bytes / ``bandwidth``) and may fail.

    - a zarr ``Store`` gives a ``SlowStore`` (open arrays on it with ``zarr.open_array(store=...)``);
    - a zarr array or group gives the same node opened read-only through a ``SlowStore``;
    - a list of arrays (a pyramid) gives a list of slow arrays sharing one set of counters' semantics;
    - any other array (numpy, ...) gives a :class:`SlowArray` with one chunk per plane.

    ``fail_chunks`` lists chunk grid coordinates that always fail; ``failure_rate`` fails others at
    random (seeded). ``interruptible=False`` makes a cancelled slice finish its current chunk wait, as a
    blocking read would.
    """
    options = dict(
        latency=latency, failure_rate=failure_rate, fail_chunks=fail_chunks, seed=seed, interruptible=interruptible,
        bandwidth=bandwidth,
    )
    if isinstance(target, (list, tuple)):
        return [slow_store(level, **options) for level in target]
    module = type(target).__module__
    if module.startswith("zarr"):
        import zarr
        from zarr.abc.store import Store

        cls = _slow_store_class()
        if isinstance(target, Store):
            return cls(target, **options)
        if hasattr(target, "store") and hasattr(target, "path") and hasattr(target, "shape"):
            store = cls(target.store, **options)
            return zarr.open_array(store=store, path=target.path, mode="r")
        if hasattr(target, "store") and hasattr(target, "members"):
            return zarr.open_group(store=cls(target.store, **options), path=target.path, mode="r")
        raise TypeError(f"target: expected a zarr store or array, got {type(target).__name__}")
    if hasattr(target, "shape") and hasattr(target, "__getitem__"):
        return SlowArray(target, **options)
    raise TypeError(
        f"target: expected a zarr store, a zarr array or an array with .shape, got {type(target).__name__}"
    )


def store_stats(target: Any) -> dict[str, int]:
    """Chunk-read counters of a slow store, a zarr array/group opened on one, a SlowArray, or a list of them."""
    if isinstance(target, (list, tuple)):
        totals: dict[str, int] = {}
        for level in target:
            for k, v in store_stats(level).items():
                totals[k] = totals.get(k, 0) + v
        return totals
    if hasattr(target, "stats") and callable(target.stats):
        return target.stats()
    store = getattr(target, "store", None)
    if store is not None and hasattr(store, "stats"):
        return store.stats()
    raise TypeError(f"target: {type(target).__name__} was not made by slow_store(...)")
