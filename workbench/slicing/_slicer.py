"""Scheduling slices off the owner's thread and handing results back to it.

Two pieces, both independent of widgets:

``OwnerDispatcher`` moves callables from worker threads to the thread that owns the viewer. In a Jupyter
kernel that thread runs an asyncio event loop (ipykernel's tornado IOLoop), so a finished slice is
handed over with ``loop.call_soon_threadsafe`` and applied between the kernel's other messages, exactly
where widget callbacks run. Without a running loop (a script, pytest, a papermill cell that blocks in
``wait_idle``) results queue up and are applied whenever the owner calls into the viewer (``frame``,
``stats``, ``wait_idle``, ``set_index``): the owner still applies every result itself and no lock is
needed around display state. (Qt's ``processEvents`` plays the same role in a desktop viewer.)

``Scheduler`` runs a bounded number of slices at once over one shared thread pool, in *lanes*: one per
layer, so a slow layer never holds up a fast one. Per lane and part (pyramid level, tile) at most one request waits
(the newest: anything older still waiting is dropped), and a request of a newer *chain* (a newer move)
signals every running slice of an older chain in its lane to stop at its next chunk read. The levels of
one chain (coarsest first, then the finest) run side by side. A waiting request may carry a *due* time:
that is the debounce, which lets a quick succession of events coalesce before anything is read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from workbench.errors import UserError
from workbench.slicing._model import CancelToken, LayerSlice, SliceCancelled, SliceRequest


def _owner_loop() -> asyncio.AbstractEventLoop | None:
    """The asyncio loop running on this thread (ipykernel's), or None in a plain script."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:  # ipykernel runs cells inside its loop, but keep tornado's view as a second opinion
        from tornado.ioloop import IOLoop

        ioloop = IOLoop.current(instance=False)
    except Exception:  # noqa: BLE001 - tornado absent or no current loop: headless
        return None
    loop = getattr(ioloop, "asyncio_loop", None)
    return loop if loop is not None and loop.is_running() else None


class OwnerDispatcher:
    """Runs callables posted from any thread on the thread that created it (see the module docstring)."""

    def __init__(self) -> None:
        self.owner = threading.get_ident()
        self.loop = _owner_loop()
        self._queue: deque[Callable[[], None]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.after_drain: list[Callable[[], None]] = []  # run once after a drain that ran something

    @property
    def mode(self) -> str:
        """``"event-loop"`` when results are pushed through the owner's loop, ``"polled"`` otherwise."""
        return "event-loop" if self.loop is not None else "polled"

    def on_owner_thread(self) -> bool:
        """Whether the caller is the owner thread."""
        return threading.get_ident() == self.owner

    def post(self, callback: Callable[[], None]) -> None:
        """Queue ``callback`` for the owner thread and wake its loop when there is one."""
        with self._lock:
            self._queue.append(callback)
            wake = self.loop is not None and not self._scheduled
            self._scheduled = self._scheduled or wake
        if wake:
            try:
                self.loop.call_soon_threadsafe(self.drain)
            except RuntimeError:  # loop closed (kernel shutting down): the next owner call drains
                with self._lock:
                    self._scheduled = False

    def drain(self) -> int:
        """Run every queued callback, in order, if called on the owner thread; return how many ran."""
        if not self.on_owner_thread():
            return 0
        ran = 0
        while True:
            with self._lock:
                if not self._queue:
                    self._scheduled = False
                    break
                callback = self._queue.popleft()
            callback()
            ran += 1
        if ran:
            for hook in self.after_drain:
                hook()
        return ran

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


@dataclass
class SliceOutcome:
    """What a worker reports for one request: a slice, or the error, or that it was cancelled."""

    request: SliceRequest
    response: LayerSlice | None = None
    error: BaseException | None = None
    cancelled: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    thread_name: str = ""


@dataclass
class _Lane:
    waiting: dict[tuple, tuple[SliceRequest, CancelToken, float]] = field(default_factory=dict)  # part -> (.., due)
    running: dict[int, tuple[SliceRequest, CancelToken]] = field(default_factory=dict)  # request id -> ..


class Scheduler:
    """Bounded-concurrency, latest-wins execution of slice requests in per-layer lanes.

    ``compute(request, token)`` runs on a worker; ``report(outcome)`` is called on the worker when it ends
    (the viewer posts it to its owner thread). ``drop(request)`` is called on the caller's thread for a
    waiting request that a newer one replaced before it started.
    """

    def __init__(
        self,
        compute: Callable[[SliceRequest, CancelToken], LayerSlice],
        report: Callable[[SliceOutcome], None],
        drop: Callable[[SliceRequest], None],
        *,
        max_workers: int = 2,
        cancel_running: bool = True,
        thread_name_prefix: str = "slicer",
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise UserError(f"max_workers: expected an integer >= 1, got {max_workers!r}")
        self._compute = compute
        self._report = report
        self._drop = drop
        self.max_workers = max_workers
        self.cancel_running = bool(cancel_running)
        self._prefix = thread_name_prefix
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._lanes: dict[str, _Lane] = {}
        self._n_running = 0
        self._timer: threading.Timer | None = None
        self._timer_due = float("inf")
        self._closed = False

    def submit(self, request: SliceRequest, token: CancelToken, *, delay: float = 0.0) -> None:
        """Queue ``request`` in its lane (replacing older waiting work), to start after ``delay`` seconds."""
        dropped = []
        with self._lock:
            if self._closed:
                raise RuntimeError("the viewer is closed; create a new Viewer to slice again")
            lane = self._lanes.setdefault(request.lane, _Lane())
            for part, (old, _, _) in list(lane.waiting.items()):
                if old.chain < request.chain or part == request.part:
                    dropped.append(old)
                    del lane.waiting[part]
            if self.cancel_running:
                for old, old_token in lane.running.values():
                    if old.chain < request.chain:
                        old_token.set()
            lane.waiting[request.part] = (request, token, time.perf_counter() + max(0.0, float(delay)))
            self._pump_locked()
        for old in dropped:
            self._drop(old)

    def _pump_locked(self) -> None:
        """Start due waiting requests while workers are free (coarsest level first); arm the timer for the rest."""
        now = time.perf_counter()
        while self._n_running < self.max_workers:
            best = None
            for lane in self._lanes.values():
                for part, (request, token, due) in lane.waiting.items():
                    if due <= now and (best is None or (-part[0], due) < (-best[1][0], best[4])):
                        best = (lane, part, request, token, due)
            if best is None:
                break
            lane, part, request, token, _ = best
            del lane.waiting[part]
            lane.running[request.id] = (request, token)
            self._n_running += 1
            self._executor.submit(self._run, lane, request, token)
        next_due = min((due for lane in self._lanes.values() for _, _, due in lane.waiting.values()),
                       default=float("inf"))
        if next_due < float("inf") and self._n_running < self.max_workers and next_due < self._timer_due - 1e-4:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_due = next_due
            self._timer = threading.Timer(max(0.0, next_due - now), self._on_timer)
            self._timer.name = f"{self._prefix}-debounce"
            self._timer.daemon = True
            self._timer.start()

    def _on_timer(self) -> None:
        with self._lock:
            self._timer, self._timer_due = None, float("inf")
            if not self._closed:
                self._pump_locked()

    def _run(self, lane: _Lane, request: SliceRequest, token: CancelToken) -> None:
        outcome = SliceOutcome(request=request, thread_name=threading.current_thread().name)
        outcome.started_at = time.perf_counter()
        try:
            if token.is_set():
                raise SliceCancelled("stale before it started")
            outcome.response = self._compute(request, token)
        except SliceCancelled:
            outcome.cancelled = True
        except BaseException as exc:  # noqa: BLE001 - any failure is reported to the owner, never lost
            outcome.error = exc
        outcome.finished_at = time.perf_counter()
        # Report before freeing the slot, so "idle" (nothing running) implies every outcome was posted.
        try:
            self._report(outcome)
        finally:
            with self._lock:
                del lane.running[request.id]
                self._n_running -= 1
                if not self._closed:
                    self._pump_locked()
                self._idle.notify_all()

    @property
    def busy(self) -> bool:
        """Whether a slice is running or waiting (debounced ones included)."""
        with self._lock:
            return self._n_running > 0 or any(lane.waiting for lane in self._lanes.values())

    def wait_change(self, timeout: float) -> None:
        """Block until a slice ends or ``timeout`` seconds pass."""
        with self._lock:
            if self._n_running or any(lane.waiting for lane in self._lanes.values()):
                self._idle.wait(timeout)

    def close(self) -> list[SliceRequest]:
        """Stop: cancel running slices, drop the waiting ones (returned), join the worker threads."""
        with self._lock:
            self._closed = True
            waiting = [r for lane in self._lanes.values() for r, _, _ in lane.waiting.values()]
            for lane in self._lanes.values():
                lane.waiting.clear()
                for _, token in lane.running.values():
                    token.set()
            if self._timer is not None:
                self._timer.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
        if self._timer is not None:
            self._timer.join()
        return waiting
