"""The slicing controller: turns model changes into per-layer requests and applies their outcomes.

Everything here runs on the owner's thread except ``compute`` (on workers). Per layer it keeps a
``_Track``: the newest chain of requests, what is shown, and how long recent slices took. The display
rule, per layer, is the one a test pins down: **a slice is shown only if its request belongs to the
layer's newest chain, and never over a finer slice of that same chain.** For single-scale data a chain is
one request, so this reads "only the newest request's result is ever shown".

Debounce: a request waits ``debounce_s`` before it starts, and a newer one replaces it meanwhile, so a fast
drag reads nothing until it pauses. The wait is skipped (the fast path) for data in memory and for a layer
whose last slices all took less than ``fast_slice_s``.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from workbench.slicing._cache import SliceCache
from workbench.slicing._compute import composite, compute_slice, encode_frame
from workbench.slicing._latency_log import LatencyLog
from workbench.slicing._layers import layer_type
from workbench.slicing._model import CancelToken, Frame, LayerSlice, SliceRequest
from workbench.slicing._slicer import OwnerDispatcher, Scheduler, SliceOutcome
from workbench.slicing._viewer_model import ViewerModel

STAT_NAMES = ("requested", "started", "cancelled", "discarded", "displayed", "failed", "cache_hits", "frames")


@dataclass
class _Track:
    chain: int = -1  # newest chain made for this layer
    parts: tuple[tuple, ...] = ()  # its parts (level, tile), coarsest first
    open: set[tuple] = field(default_factory=set)  # its parts whose outcome has not arrived
    shown_chain: int = -1
    shown_level: int = 1 << 30
    current: LayerSlice | None = None  # the whole-plane slice shown
    tiles: dict[Any, LayerSlice] = field(default_factory=dict)  # finest-level tiles of shown_chain, over it
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=3))

    @property
    def loading(self) -> bool:
        """Some part of the newest chain's finest level has not arrived (or failed) yet."""
        finest = min((level for level, _ in self.parts), default=0)
        return any(level == finest for level, _ in self.open)

    @property
    def pieces(self) -> list[LayerSlice]:
        """What to paint, bottom to top: the whole-plane slice, then the tiles that arrived over it."""
        return ([self.current] if self.current is not None else []) + list(self.tiles.values())

    @property
    def settled(self) -> bool:
        """Something of the newest chain is shown, or nothing of it is still coming."""
        return self.shown_chain == self.chain or not self.open


class LayerSlicer:
    """Schedules, applies and composites layer slices for a :class:`ViewerModel` (see module docstring)."""

    def __init__(self, model: ViewerModel, *, asynchronous: bool, max_workers: int, cancel_running: bool,
                 cache_bytes: int, debounce_s: float, fast_slice_s: float, layers_together: bool,
                 latency_log: Any, thread_name_prefix: str) -> None:
        self.model = model
        self.asynchronous = bool(asynchronous)
        self.debounce_s = float(debounce_s)
        self.fast_slice_s = float(fast_slice_s)
        self.layers_together = bool(layers_together)
        self.cache = SliceCache(cache_bytes)
        self.log = LatencyLog(latency_log)
        self.tracks: dict[str, _Track] = {}
        self.stats = dict.fromkeys(STAT_NAMES, 0)
        self._stats_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._chains = itertools.count(1)
        self._frames = itertools.count(1)
        self._pending: dict[int, dict[str, Any]] = {}
        self._clock0 = time.perf_counter()
        self.frame: Frame | None = None
        self.frame_hooks: list[Callable[[Frame], None]] = []
        self.layer_hooks: list[Callable[[str, LayerSlice], None]] = []
        self.error_hooks: list[Callable[[str, str], None]] = []
        self.last_latency: float | None = None
        self.encoding: str | None = None
        self.closed = False
        self.dispatcher = OwnerDispatcher()
        # Outcomes that arrive together (a burst of tiles, both layers of a move) are composited once.
        self._dirty = False
        self.dispatcher.after_drain.append(self._flush)
        self.scheduler = (
            Scheduler(self._compute, self._on_outcome, self._on_dropped, max_workers=max_workers,
                      cancel_running=cancel_running, thread_name_prefix=thread_name_prefix)
            if self.asynchronous else None
        )

    # ------------------------------------------------------------------ requests
    def _count(self, name: str, n: int = 1) -> None:
        with self._stats_lock:
            self.stats[name] += n

    def delay_for(self, name: str) -> float:
        """The debounce before this layer's next request starts (0 on the fast path)."""
        state = self.model.entry(name).state
        if self.debounce_s <= 0 or layer_type(state.kind).in_memory(state):
            return 0.0
        track = self.tracks.get(name)
        if track is not None and len(track.durations) == track.durations.maxlen and \
                max(track.durations) < self.fast_slice_s:
            return 0.0
        return self.debounce_s

    def request(self, names: list[str] | None = None) -> None:
        """Make and submit the requests for ``names`` (default: every layer) at the model's current point."""
        names = list(self.model.layers) if names is None else names
        point, indices, displayed = tuple(self.model.point), self.model.indices, self.model.displayed
        for name in names:
            state = self.model.entry(name).state
            track = self.tracks.setdefault(name, _Track())
            parts = layer_type(state.kind).levels(state, displayed)
            if not self.asynchronous:  # synchronous: straight to the finest level, in one piece
                parts = [(level, to_world, None) for level, to_world, _ in parts if level == parts[-1][0]][:1]
            chain = next(self._chains)
            track.chain, track.parts = chain, tuple((level, region) for level, _, region in parts)
            track.open = set(track.parts)
            delay = self.delay_for(name) if self.asynchronous else 0.0
            for level, to_world, region in parts:
                request = SliceRequest(id=next(self._ids), layer=state, point=point, indices=indices,
                                       displayed=displayed, world_to_data=to_world.inverse(), level=level,
                                       chain=chain, region=region, requested_at=time.perf_counter())
                self._count("requested")
                self._pending[request.id] = {"request": request.id, "layer": name, "level": level, "chain": chain,
                                             "indices": list(indices), "requested": self._now()}
                token = CancelToken(data_ref=state.data_ref)
                if self.scheduler is None:
                    self._run_here(request, token)
                else:
                    self.scheduler.submit(request, token, delay=delay)

    def _run_here(self, request: SliceRequest, token: CancelToken) -> None:
        outcome = SliceOutcome(request=request, thread_name=threading.current_thread().name)
        outcome.started_at = time.perf_counter()
        try:
            outcome.response = self._compute(request, token)
        except Exception as exc:  # noqa: BLE001 - shown in the status line like an async failure
            outcome.error = exc
        outcome.finished_at = time.perf_counter()
        self.apply(outcome)

    def _compute(self, request: SliceRequest, token: CancelToken) -> LayerSlice:  # worker thread (or owner)
        self._count("started")
        return compute_slice(request, cancel=token, cache=self.cache)

    def _on_outcome(self, outcome: SliceOutcome) -> None:  # worker thread
        self.dispatcher.post(lambda: self.apply(outcome))

    def _on_dropped(self, request: SliceRequest) -> None:  # owner thread (submit / close)
        self._count("cancelled")
        self._resolve(request)
        self._finish(request.id, "cancelled")

    def _now(self) -> float:
        return time.perf_counter() - self._clock0

    def _resolve(self, request: SliceRequest) -> None:
        track = self.tracks.get(request.layer.name)
        if track is not None and track.chain == request.chain:
            track.open.discard(request.part)

    # ------------------------------------------------------------------ outcomes (owner thread only)
    def should_display(self, track: _Track, request: SliceRequest) -> bool:
        """The display rule (see the module docstring)."""
        if request.chain != track.chain:
            return False
        if request.region is not None:  # a tile of the finest level: always finer than a whole coarse plane
            return True
        return not (track.shown_chain == request.chain and request.level >= track.shown_level)

    def apply(self, outcome: SliceOutcome) -> None:
        request = outcome.request
        name, rid = request.layer.name, request.id
        record = self._pending.get(rid)
        if record is not None and outcome.started_at is not None:
            record.update(started=outcome.started_at - self._clock0, finished=outcome.finished_at - self._clock0,
                          thread=outcome.thread_name)
        track = self.tracks.get(name)
        if track is None or name not in self.model.layers:  # the layer was removed meanwhile
            self._count("discarded" if outcome.response is not None else "cancelled")
            self._finish(rid, "discarded" if outcome.response is not None else "cancelled")
            return
        self._resolve(request)
        if outcome.cancelled:
            self._count("cancelled")
            self._finish(rid, "cancelled")
            self._maybe_compose()
            return
        if outcome.error is not None:
            self._count("failed")
            message = f"{type(outcome.error).__name__}: {outcome.error}"
            self._finish(rid, "failed", error=message)
            for hook in self.error_hooks:
                hook(name, message if request.chain == track.chain else "")
            self._maybe_compose()
            return
        piece = outcome.response
        track.durations.append(piece.finished_at - piece.started_at)
        if self.closed or not self.should_display(track, request):
            self._count("discarded")
            self._finish(rid, "discarded", nbytes=piece.nbytes)
            self._maybe_compose()
            return
        if track.shown_chain != request.chain:
            track.tiles = {}  # the previous move's tiles; this move paints its own
        if request.region is None:
            track.current, track.tiles = piece, {}
        else:
            track.tiles[request.region] = piece
        track.shown_chain, track.shown_level = request.chain, request.level
        if piece.from_cache:
            self._count("cache_hits")
        self._count("displayed")
        self.last_latency = time.perf_counter() - request.requested_at
        for hook in self.layer_hooks:
            hook(name, piece)
        self._finish(rid, "displayed", nbytes=piece.nbytes, cache_hit=piece.from_cache)
        self._maybe_compose()

    def _finish(self, rid: int, outcome: str, **extra: Any) -> None:
        record = self._pending.pop(rid, None)
        if record is None:
            return
        record.setdefault("started", None)
        record.setdefault("finished", None)
        record["applied"] = self._now()
        record["outcome"] = outcome
        record["bytes"] = int(extra.pop("nbytes", 0))
        record.update(extra)
        self.log.write(record)

    # ------------------------------------------------------------------ the frame
    def _maybe_compose(self) -> None:
        if self.closed:
            return
        if self.layers_together and not all(self.tracks.get(n, _Track()).settled for n in self.model.layers):
            return
        if self.scheduler is None:
            self.compose()
        else:
            self._dirty = True  # composited once the current drain has applied everything that arrived

    def _flush(self) -> None:
        if self._dirty and not self.closed:
            self._dirty = False
            self.compose()

    def compose(self) -> Frame | None:
        """Composite every layer's current slice (those made for the current displayed dims) into the frame."""
        displayed = self.model.displayed
        pieces = [p for n in self.model.layers if (t := self.tracks.get(n)) is not None
                  for p in t.pieces if p.request.displayed == displayed]
        if not pieces:
            return None
        # Show each piece with the layer's current look (opacity, visibility) but its sliced pixels.
        pieces = [p if p.request.layer is self.model.entry(p.name).state else
                  replace(p, request=replace(p.request, layer=self.model.entry(p.name).state)) for p in pieces]
        geometry = self.model.geometry()
        rgba = composite(pieces, geometry)
        self._count("frames")
        first = pieces[0].request
        encoded = None
        if self.encoding is not None:
            encoded = encode_frame(rgba, self.encoding)
        self.frame = Frame(id=next(self._frames), indices=first.indices, point=first.point, displayed=displayed,
                           layers=tuple(pieces), rgba=rgba, origin=geometry.origin, pixel=geometry.pixel,
                           encoded=encoded)
        for hook in self.frame_hooks:
            hook(self.frame)
        return self.frame

    # ------------------------------------------------------------------ state and lifetime
    def loading(self) -> dict[str, bool]:
        return {name: self.tracks.get(name, _Track()).loading for name in self.model.layers}

    def forget(self, name: str) -> None:
        self.tracks.pop(name, None)

    def busy(self) -> bool:
        return self.scheduler is not None and (self.scheduler.busy or len(self.dispatcher) > 0)

    def wait_idle(self, timeout: float) -> bool:
        if self.closed:
            return True
        if self.asynchronous and not self.dispatcher.on_owner_thread() and self.dispatcher.loop is None:
            raise RuntimeError("wait_idle: call it from the thread that created the viewer (it applies results there)")
        deadline = time.perf_counter() + float(timeout)
        while True:
            self.dispatcher.drain()
            if not self.busy():
                self.dispatcher.drain()
                return True
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self.scheduler.wait_change(min(left, 0.01))

    def close(self) -> None:
        if self.closed:
            return
        if self.scheduler is not None:
            for request in self.scheduler.close():
                self._on_dropped(request)
        self.dispatcher.drain()
        self.closed = True
        for rid in sorted(self._pending):
            self._finish(rid, "cancelled")
        self.log.close()

    def info(self) -> dict[str, Any]:
        """Counters, cache usage and bytes held by the shown slices (for the benchmark's memory figures)."""
        with self._stats_lock:
            stats = dict(self.stats)
        held = sum(p.nbytes for t in self.tracks.values() for p in t.pieces)
        return {**stats, "cache_bytes": self.cache.nbytes, "slice_bytes": int(held),
                "frame_bytes": int(self.frame.rgba.nbytes) if self.frame is not None else 0}

