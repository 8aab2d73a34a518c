"""Scheduling slices off the owner's thread and handing results back to it.

Two pieces, both independent of widgets:

``OwnerDispatcher`` moves callables from worker threads to the thread that owns the viewer. In a Jupyter
kernel that thread runs an asyncio event loop (ipykernel's tornado IOLoop), so a finished slice is
handed over with ``loop.call_soon_threadsafe`` and applied between the kernel's other messages, exactly
where widget callbacks run. Without a running loop (a script, pytest, a papermill cell that blocks in
``wait_idle``) results queue up and are applied whenever the owner calls into the viewer (``frame``,
``stats``, ``wait_idle``, ``set_index``): the owner still applies every result itself and no lock is
needed around display state. (Qt's ``processEvents`` plays the same role in a desktop viewer.)

``Scheduler`` runs a bounded number of slices at once, keeps at most one request waiting (the newest:
anything older still waiting is dropped), and when a newer request arrives it signals every older
running slice to stop at its next chunk read. The newest request therefore never queues behind stale
work for longer than one chunk read, and a drag of 25 events computes only a few slices.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from workbench.slicing._model import SliceCancelled, SliceRequest, SliceResponse


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
                    return ran
                callback = self._queue.popleft()
            callback()
            ran += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue)


@dataclass
class SliceOutcome:
    """What a worker reports for one request: a response, or the error, or that it was cancelled."""

    request: SliceRequest
    response: SliceResponse | None = None
    error: BaseException | None = None
    cancelled: bool = False
    started_at: float | None = None
    finished_at: float | None = None
    thread_name: str = ""


class Scheduler:
    """Bounded-concurrency, latest-wins execution of slice requests.

    ``compute(request, cancel_event)`` runs on a worker; ``report(outcome)`` is called on the worker
    when it ends (the viewer posts it to its owner thread). ``drop(request)`` is called on the caller's
    thread for a waiting request that a newer one replaced before it started.
    """

    def __init__(
        self,
        compute: Callable[[SliceRequest, threading.Event], SliceResponse],
        report: Callable[[SliceOutcome], None],
        drop: Callable[[SliceRequest], None],
        *,
        max_workers: int = 2,
        cancel_running: bool = True,
        thread_name_prefix: str = "slicer",
    ) -> None:
        if not isinstance(max_workers, int) or isinstance(max_workers, bool) or max_workers < 1:
            raise ValueError(f"max_workers: expected an integer >= 1, got {max_workers!r}")
        self._compute = compute
        self._report = report
        self._drop = drop
        self.max_workers = max_workers
        self.cancel_running = bool(cancel_running)
        self._executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._running: dict[int, threading.Event] = {}
        self._waiting: SliceRequest | None = None
        self._closed = False

    def submit(self, request: SliceRequest) -> None:
        """Start ``request`` now if a worker is free, else make it the one waiting request."""
        dropped = None
        with self._lock:
            if self._closed:
                raise RuntimeError("the viewer is closed; create a new Viewer to slice again")
            if self.cancel_running:
                for rid, event in self._running.items():
                    if rid < request.id:
                        event.set()
            if len(self._running) < self.max_workers:
                self._start_locked(request)
            else:
                dropped, self._waiting = self._waiting, request
        if dropped is not None:
            self._drop(dropped)

    def _start_locked(self, request: SliceRequest) -> None:
        event = threading.Event()
        self._running[request.id] = event
        self._executor.submit(self._run, request, event)

    def _run(self, request: SliceRequest, event: threading.Event) -> None:
        outcome = SliceOutcome(request=request, thread_name=threading.current_thread().name)
        outcome.started_at = time.perf_counter()
        try:
            if event.is_set():
                raise SliceCancelled("stale before it started")
            outcome.response = self._compute(request, event)
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
                del self._running[request.id]
                if self._waiting is not None and not self._closed:
                    waiting, self._waiting = self._waiting, None
                    self._start_locked(waiting)
                self._idle.notify_all()

    @property
    def busy(self) -> bool:
        """Whether a slice is running or waiting."""
        with self._lock:
            return bool(self._running) or self._waiting is not None

    def wait_change(self, timeout: float) -> None:
        """Block until a slice ends or ``timeout`` seconds pass."""
        with self._lock:
            if self._running or self._waiting is not None:
                self._idle.wait(timeout)

    def close(self) -> SliceRequest | None:
        """Stop: cancel running slices, drop the waiting one (returned), join the worker threads."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, None
            for event in self._running.values():
                event.set()
        self._executor.shutdown(wait=True, cancel_futures=True)
        return waiting
