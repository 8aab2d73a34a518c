"""An n-D array viewer for Jupyter: ipywidgets sliders, asynchronous slicing, a static picture for reports.

The viewer owns the display state and only ever touches it on its owner thread (the kernel's main
thread). Every slider move becomes an immutable :class:`SliceRequest`; a worker computes a
:class:`SliceResponse` with the pure :func:`slice_layers`; the owner displays it only if no newer request
was made in the meantime. ``asynchronous=False`` slices on the owner thread instead, which is what a
naive viewer does and what blocks the kernel on slow storage.
"""

from __future__ import annotations

import html
import json
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from workbench.slicing._cache import SliceCache
from workbench.slicing._compute import ENCODINGS, PointsIndex, colormap_lut, encode_frame, slice_layers
from workbench.slicing._model import (
    ImageLayerState,
    PointsLayerState,
    SliceRequest,
    SliceResponse,
)
from workbench.slicing._slicer import OwnerDispatcher, Scheduler, SliceOutcome
from workbench.slicing._sources import ArraySource, as_source

STAT_NAMES = ("requested", "started", "cancelled", "discarded", "displayed", "failed", "cache_hits")


def read_latency_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Read a viewer's latency log (JSON lines) back into a list of records."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


class Viewer:
    """View an n-D array two dimensions at a time, with one slider per other dimension.

    Parameters
    ----------
    data:
        numpy, dask, zarr v3 or xarray array with at least 2 dims, or a zarr path/URL. RGB(A) when the
        last dim has 3 or 4 channels (``rgb=None`` guesses, ``True``/``False`` decides).
    displayed:
        The two displayed dims as ``(rows, columns)``; negative numbers count from the end.
    asynchronous:
        Slice on worker threads (default) or on the calling thread (``False``, for comparison).
    contrast_limits, colormap:
        Grayscale display: limits (default: fixed from the first slice shown) and a matplotlib colormap.
    max_workers:
        Slices computed at once; more than one lets the newest request start while a stale one ends.
    cache_bytes:
        Budget of the LRU cache of recent planes (``0`` disables it).
    encoding:
        Image format for the widget: ``"jpeg"`` (quality 90; default: about 1 ms and 40 kB for a noisy
        512 x 512 frame, where PNG at zlib level 1 takes about 15 ms and 400 kB), ``"png"`` (lossless,
        for label images or when exact pixels matter) or ``"bmp"`` (no compression, largest).
    latency_log:
        Path of an opt-in JSON-lines log with one record per request (times in seconds since the viewer
        was made: requested, started, finished, applied; outcome; bytes).
    error_interval:
        Minimum seconds between two failure messages in the status line (others are counted).
    cancel_running:
        Signal stale running slices to stop at their next chunk read (default) or let them finish.
    """

    def __init__(
        self,
        data: Any,
        *,
        displayed: tuple[int, int] = (-2, -1),
        asynchronous: bool = True,
        name: str = "image",
        rgb: bool | None = None,
        contrast_limits: tuple[float, float] | None = None,
        colormap: str = "gray",
        max_workers: int = 2,
        cache_bytes: int = 256 * 2**20,
        encoding: str = "jpeg",
        latency_log: str | os.PathLike | None = None,
        error_interval: float = 1.0,
        cancel_running: bool = True,
    ) -> None:
        source = as_source(data, name="data")
        if rgb is None:
            rgb = source.ndim >= 3 and source.shape[-1] in (3, 4)
        elif rgb and (source.ndim < 3 or source.shape[-1] not in (3, 4)):
            raise ValueError(f"rgb: True needs a last dim of 3 or 4 channels and >= 3 dims, got shape {source.shape}")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding: expected one of {ENCODINGS}, got {encoding!r}")
        if float(error_interval) < 0:
            raise ValueError(f"error_interval: expected seconds >= 0, got {error_interval!r}")
        colormap_lut(colormap)  # fail here, on the caller's thread, for an unknown name
        self._source = source
        self.ndim = source.ndim - (1 if rgb else 0)
        if self.ndim < 2:
            raise ValueError(f"data: an RGB image needs 2 spatial dims, got shape {source.shape}")
        self.shape = source.shape[: self.ndim]
        self.dims = source.dims[: self.ndim]
        self._displayed = self._normalize_displayed(displayed)
        self._indices = [0] * self.ndim
        self._image = ImageLayerState(
            name=name,
            source=source,
            rgb=bool(rgb),
            contrast_limits=self._check_limits(contrast_limits) if contrast_limits is not None else None,
            colormap=colormap,
        )
        self._points: list[PointsLayerState] = []
        self.asynchronous = bool(asynchronous)
        self.encoding = encoding
        self.error_interval = float(error_interval)
        self.cache = SliceCache(cache_bytes)
        self._clock0 = time.perf_counter()
        self._epoch0 = time.time()
        self._next_id = 0
        self._latest_id = -1
        self._displayed_id = -1
        self._failed_id = -1  # latest request whose slice failed: it is no longer "loading"
        self._frame: SliceResponse | None = None
        self._stats = dict.fromkeys(STAT_NAMES, 0)
        self._stats_lock = threading.Lock()
        self._pending: dict[int, dict[str, Any]] = {}
        self.errors: deque[str] = deque(maxlen=50)
        self._last_error_shown = -np.inf
        self._suppressed_errors = 0
        self._status_error: str | None = None
        self.last_latency: float | None = None
        self._latency_path = Path(latency_log) if latency_log is not None else None
        self.latency_records: list[dict[str, Any]] = []
        if self._latency_path is not None:
            self._latency_path.parent.mkdir(parents=True, exist_ok=True)
            self._latency_file = open(self._latency_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        else:
            self._latency_file = None
        self._dispatcher = OwnerDispatcher()
        self._scheduler = (
            Scheduler(
                self._compute,
                self._on_outcome,
                self._on_dropped,
                max_workers=max_workers,
                cancel_running=cancel_running,
                thread_name_prefix=f"slicer-{id(self):x}",
            )
            if self.asynchronous
            else None
        )
        self._widget = None
        self._controls: dict[str, Any] = {}
        self._closed = False
        self._request()

    # ------------------------------------------------------------------ validation helpers
    def _axis(self, axis: int | str) -> int:
        if isinstance(axis, str):
            if axis not in self.dims:
                raise ValueError(f"axis: no dim named {axis!r}; dims are {list(self.dims)}")
            return self.dims.index(axis)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"axis: expected an int or a dim name, got {type(axis).__name__}")
        if not -self.ndim <= axis < self.ndim:
            raise ValueError(f"axis: expected -{self.ndim} <= axis < {self.ndim}, got {axis}")
        return int(axis) % self.ndim

    def _normalize_displayed(self, displayed: Any) -> tuple[int, int]:
        if not isinstance(displayed, (tuple, list)) or len(displayed) != 2:
            raise ValueError(f"displayed: expected two axes (rows, columns) such as (-2, -1), got {displayed!r}")
        rows, cols = (self._axis(a) for a in displayed)
        if rows == cols:
            raise ValueError(f"displayed: the two axes must differ, got {displayed!r}")
        return (rows, cols)

    @staticmethod
    def _check_limits(limits: Any) -> tuple[float, float]:
        try:
            lo, hi = (float(v) for v in limits)
        except (TypeError, ValueError):
            raise ValueError(f"contrast_limits: expected (low, high) numbers, got {limits!r}") from None
        if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
            raise ValueError(f"contrast_limits: expected finite low < high, got {limits!r}")
        return (lo, hi)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this viewer is closed; create a new Viewer")

    # ------------------------------------------------------------------ public scripting surface
    @property
    def displayed(self) -> tuple[int, int]:
        """The displayed dims ``(rows, columns)``."""
        return self._displayed

    @property
    def indices(self) -> tuple[int, ...]:
        """Current index of every dim (what the sliders show)."""
        return tuple(self._indices)

    @property
    def sliders(self) -> tuple[int, ...]:
        """The dims that have a slider (every dim that is not displayed)."""
        return tuple(d for d in range(self.ndim) if d not in self._displayed)

    def label(self, axis: int | str) -> str:
        """The slider label of dim ``axis`` at its current index (its coordinate value when there is one)."""
        axis = self._axis(axis)
        return self._source.label(axis, self._indices[axis])

    def set_index(self, axis: int | str, index: int) -> None:
        """Move dim ``axis`` (number or name) to ``index``, as its slider does; a no-op if unchanged."""
        self._check_open()
        self._dispatcher.drain()
        axis = self._axis(axis)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not 0 <= index < self.shape[axis]:
            raise ValueError(f"index: expected 0 <= index < {self.shape[axis]} for dim {self.dims[axis]!r}, got {index}")
        if axis in self._displayed:
            raise ValueError(f"axis: dim {self.dims[axis]!r} is displayed and has no slider; sliders are {self.sliders}")
        if self._indices[axis] == int(index):
            return
        self._indices[axis] = int(index)
        self._sync_slider(axis)
        self._request()

    def set_displayed(self, displayed: tuple[int, int]) -> None:
        """Choose the two displayed dims ``(rows, columns)``."""
        self._check_open()
        displayed = self._normalize_displayed(displayed)
        if displayed != self._displayed:
            self._displayed = displayed
            if self._widget is not None:
                self._rebuild_sliders()
            self._request()

    def set_contrast_limits(self, low: float, high: float) -> None:
        """Set the grayscale window."""
        self._check_open()
        limits = self._check_limits((low, high))
        self._image = _replace(self._image, contrast_limits=limits)
        self._request()

    def set_colormap(self, name: str) -> None:
        """Set the grayscale colormap (any matplotlib colormap name)."""
        self._check_open()
        colormap_lut(name)
        self._image = _replace(self._image, colormap=name)
        self._request()

    def add_points(
        self,
        coords: Any,
        *,
        name: str = "points",
        thickness: float = 0.5,
        size: float = 6.0,
        color: tuple[int, int, int] = (255, 64, 64),
    ) -> None:
        """Overlay an ``N x D`` points layer (world index units, one column per dim of the data).

        Points within ``thickness`` of the current plane are drawn, smaller the farther they are.
        """
        self._check_open()
        coords = np.asarray(coords, dtype=float)
        if coords.ndim != 2 or coords.shape[1] != self.ndim:
            raise ValueError(f"coords: expected an N x {self.ndim} array (one column per dim), got shape {coords.shape}")
        if not np.isfinite(coords).all():
            raise ValueError("coords: contains NaN or infinite values; drop those rows first")
        if float(thickness) < 0 or float(size) <= 0:
            raise ValueError(f"thickness/size: expected thickness >= 0 and size > 0, got {thickness!r}, {size!r}")
        if name in [p.name for p in self._points] + [self._image.name]:
            raise ValueError(f"name: a layer called {name!r} exists; pick another name")
        if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
            raise ValueError(f"color: expected an (r, g, b) tuple of 0..255, got {color!r}")
        coords = coords.copy()
        coords.flags.writeable = False
        layer = PointsLayerState(
            name=name,
            coords=coords,
            thickness=float(thickness),
            size=float(size),
            color=tuple(int(c) for c in color),
            index=PointsIndex(coords),
        )
        self._points.append(layer)
        self._request()

    def refresh(self) -> None:
        """Forget cached planes and slice again (after the data changed underneath)."""
        self._check_open()
        self.cache.clear()
        self._request()

    @property
    def layer_names(self) -> tuple[str, ...]:
        """Names of the layers, bottom to top."""
        return (self._image.name, *(p.name for p in self._points))

    @property
    def frame(self) -> SliceResponse | None:
        """The last displayed response (``frame.request.indices``, ``frame.data``), or None before the first."""
        self._dispatcher.drain()
        return self._frame

    @property
    def stats(self) -> dict[str, int]:
        """Counters: requested, started, cancelled, discarded, displayed, failed, cache_hits."""
        self._dispatcher.drain()
        with self._stats_lock:
            return dict(self._stats)

    @property
    def loading(self) -> dict[str, bool]:
        """Per layer: whether a slice newer than the displayed one is still being computed."""
        self._dispatcher.drain()
        busy = self._latest_id > max(self._displayed_id, self._failed_id)
        return dict.fromkeys(self.layer_names, busy)

    @property
    def delivery(self) -> str:
        """How results reach the owner thread: ``"event-loop"`` (kernel), ``"polled"`` or ``"synchronous"``."""
        return self._dispatcher.mode if self.asynchronous else "synchronous"

    def status(self) -> str:
        """The status line as plain text (loading, error, last latency)."""
        self._dispatcher.drain()
        return self._status_text()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Apply results until nothing is running or waiting; False if ``timeout`` seconds passed first."""
        if self._closed:
            return True
        if self.asynchronous and not self._dispatcher.on_owner_thread() and self._dispatcher.loop is None:
            raise RuntimeError("wait_idle: call it from the thread that created the viewer (it applies results there)")
        deadline = time.perf_counter() + float(timeout)
        while True:
            self._dispatcher.drain()
            if self._scheduler is None or (not self._scheduler.busy and len(self._dispatcher) == 0):
                self._dispatcher.drain()
                return True
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            self._scheduler.wait_change(min(left, 0.01))

    def close(self) -> None:
        """Cancel outstanding slices, join the worker threads, close the log and the widgets."""
        if self._closed:
            return
        self._closed = True
        if self._scheduler is not None:
            dropped = self._scheduler.close()
            if dropped is not None:
                self._on_dropped(dropped)
        self._dispatcher.drain()
        for rid in sorted(self._pending):
            self._finish(rid, "cancelled")
        if self._latency_file is not None:
            self._latency_file.close()
        if self._widget is not None:
            self._widget.close()
            for control in self._controls.values():
                if hasattr(control, "close"):
                    control.close()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}={n}" for d, n in zip(self.dims, self.shape))
        mode = "async" if self.asynchronous else "sync"
        return f"<Viewer {mode} ({dims}) displayed={self._displayed} indices={tuple(self._indices)}>"

    # ------------------------------------------------------------------ requests and outcomes
    def _now(self) -> float:
        return time.perf_counter() - self._clock0

    def _make_request(self) -> SliceRequest:
        self._next_id += 1
        return SliceRequest(
            id=self._next_id,
            indices=tuple(self._indices),
            displayed=self._displayed,
            layers=(self._image, *self._points),
            encoding=self.encoding if self._widget is not None else None,
            requested_at=time.perf_counter(),
        )

    def _count(self, name: str) -> None:
        with self._stats_lock:
            self._stats[name] += 1

    def _request(self) -> None:
        request = self._make_request()
        self._latest_id = request.id
        self._count("requested")
        self._pending[request.id] = {"request": request.id, "indices": list(request.indices), "requested": self._now()}
        self._update_status()
        if self._scheduler is None:
            self._count("started")
            outcome = SliceOutcome(request=request, thread_name=threading.current_thread().name)
            outcome.started_at = time.perf_counter()
            try:
                outcome.response = self._compute(request, None)
            except Exception as exc:  # noqa: BLE001 - shown in the status line like an async failure
                outcome.error = exc
            outcome.finished_at = time.perf_counter()
            self._apply(outcome)
        else:
            self._scheduler.submit(request)

    def _compute(self, request: SliceRequest, cancel: threading.Event | None) -> SliceResponse:
        if cancel is not None:
            self._count("started")
        return slice_layers(request, cancel=cancel, cache=self.cache)

    def _on_outcome(self, outcome: SliceOutcome) -> None:  # worker thread
        self._dispatcher.post(lambda: self._apply(outcome))

    def _on_dropped(self, request: SliceRequest) -> None:  # owner thread (submit / close)
        self._count("cancelled")
        self._finish(request.id, "cancelled")

    def _apply(self, outcome: SliceOutcome) -> None:  # owner thread only
        rid = outcome.request.id
        record = self._pending.get(rid)
        if record is not None and outcome.started_at is not None:
            record["started"] = outcome.started_at - self._clock0
            record["finished"] = outcome.finished_at - self._clock0
            record["thread"] = outcome.thread_name
        if outcome.cancelled:
            self._count("cancelled")
            self._finish(rid, "cancelled")
            return
        if outcome.error is not None:
            self._count("failed")
            message = f"{type(outcome.error).__name__}: {outcome.error}"
            self.errors.append(message)
            if rid == self._latest_id:
                self._failed_id = rid
                self._show_error(message)
            self._finish(rid, "failed", error=message)
            return
        response = outcome.response
        if rid != self._latest_id or rid <= self._displayed_id or self._closed:
            self._count("discarded")
            self._finish(rid, "discarded", nbytes=response.nbytes)
            return
        self._displayed_id = rid
        self._frame = response
        self._status_error = None
        hits = sum(1 for layer in response.layers if layer.from_cache)
        if hits:
            with self._stats_lock:
                self._stats["cache_hits"] += hits
        if self._image.contrast_limits is None and not self._image.rgb:
            # Fix the window from the first plane shown, so later planes are comparable (a window that
            # re-fits every plane hides exactly the intensity changes a user scrubs through to see).
            self._image = _replace(self._image, contrast_limits=response.layers[0].contrast_limits)
            self._sync_contrast_control()
        self._count("displayed")
        self.last_latency = time.perf_counter() - response.request.requested_at
        self._show(response)
        self._finish(rid, "displayed", nbytes=response.nbytes, cache_hit=bool(hits))

    def _finish(self, rid: int, outcome: str, **extra: Any) -> None:
        record = self._pending.pop(rid, None)
        if record is None or self._latency_file is None:
            return
        record.setdefault("started", None)
        record.setdefault("finished", None)
        record["applied"] = self._now()
        record["outcome"] = outcome
        record["bytes"] = int(extra.pop("nbytes", 0))
        record.update(extra)
        self.latency_records.append(record)
        if not self._latency_file.closed:
            self._latency_file.write(json.dumps(record) + "\n")
            self._latency_file.flush()

    def _show_error(self, message: str) -> None:
        now = time.perf_counter()
        if now - self._last_error_shown >= self.error_interval:
            suffix = f" (+{self._suppressed_errors} more)" if self._suppressed_errors else ""
            self._status_error = f"slice failed{suffix}: {message}"
            self._last_error_shown = now
            self._suppressed_errors = 0
        else:
            self._suppressed_errors += 1
        self._update_status()

    # ------------------------------------------------------------------ widgets
    def _status_text(self) -> str:
        busy = self._latest_id > max(self._displayed_id, self._failed_id)
        parts = [("loading " if busy else "ready ") + ", ".join(self.layer_names)]
        if self._status_error:
            parts.append(self._status_error)
        if self.last_latency is not None:
            parts.append(f"last latency {self.last_latency * 1e3:.0f} ms")
        return " | ".join(parts)

    def _update_status(self) -> None:
        status = self._controls.get("status")
        if status is None:
            return
        busy = self._latest_id > max(self._displayed_id, self._failed_id)
        badges = " ".join(
            f"<span style='padding:1px 6px;border-radius:8px;background:{'#ffe08a' if busy else '#c8f0c8'}'>"
            f"{'&#8987; ' if busy else ''}{html.escape(name)}</span>"
            for name in self.layer_names
        )
        error = (
            f" <span style='color:#b00020'>{html.escape(self._status_error)}</span>" if self._status_error else ""
        )
        latency = f" last latency {self.last_latency * 1e3:.0f} ms" if self.last_latency is not None else ""
        state = "loading" if busy else "ready"
        status.value = f"<div class='slicing-status'><b>{state}</b> {badges}{latency}{error}</div>"

    def _show(self, response: SliceResponse) -> None:
        image = self._controls.get("image")
        if image is not None:
            encoded = response.encoded or encode_frame(response.rgba, self.encoding)
            image.value = encoded
        self._update_status()

    def _sync_slider(self, axis: int) -> None:
        slider = self._controls.get(f"slider{axis}")
        if slider is not None and slider.value != self._indices[axis]:
            slider.value = self._indices[axis]
        label = self._controls.get(f"label{axis}")
        if label is not None:
            label.value = self._source.label(axis, self._indices[axis])

    def _sync_contrast_control(self) -> None:
        control = self._controls.get("contrast")
        if control is not None and self._image.contrast_limits is not None:
            lo, hi = self._image.contrast_limits
            control.min, control.max = min(control.min, lo), max(control.max, hi)
            control.value = (lo, hi)

    def _slider_rows(self) -> list[Any]:
        import ipywidgets as widgets

        rows = []
        for axis in self.sliders:
            slider = widgets.IntSlider(
                value=self._indices[axis],
                min=0,
                max=self.shape[axis] - 1,
                description=self.dims[axis],
                continuous_update=True,
                layout=widgets.Layout(width="360px"),
            )
            play = widgets.Play(value=self._indices[axis], min=0, max=self.shape[axis] - 1, interval=100)
            widgets.jslink((play, "value"), (slider, "value"))
            label = widgets.Label(self._source.label(axis, self._indices[axis]))
            slider.observe(lambda change, a=axis: self._on_slider(a, change), names="value")
            self._controls[f"slider{axis}"] = slider
            self._controls[f"play{axis}"] = play
            self._controls[f"label{axis}"] = label
            rows.append(widgets.HBox([play, slider, label]))
        return rows

    def _on_slider(self, axis: int, change: dict) -> None:
        if self._closed or change["new"] == self._indices[axis]:
            return
        self.set_index(axis, int(change["new"]))

    def _rebuild_sliders(self) -> None:
        for key in [k for k in self._controls if k.startswith(("slider", "play", "label"))]:
            self._controls.pop(key).close()
        self._controls["sliders"].children = self._slider_rows()

    @property
    def widget(self) -> Any:
        """The ipywidgets UI (built on first use): sliders with play buttons, the frame, controls, status."""
        if self._widget is not None:
            return self._widget
        import ipywidgets as widgets

        image = widgets.Image(format=self.encoding, layout=widgets.Layout(max_width="640px"))
        status = widgets.HTML()
        self._controls.update(image=image, status=status)
        sliders = widgets.VBox(self._slider_rows())
        self._controls["sliders"] = sliders
        controls: list[Any] = []
        if not self._image.rgb:
            colormap = widgets.Dropdown(
                options=["gray", "viridis", "magma", "inferno", "cividis", "twilight"],
                value=self._image.colormap if self._image.colormap in ("gray", "viridis", "magma", "inferno", "cividis", "twilight") else "gray",
                description="colormap",
                layout=widgets.Layout(width="220px"),
            )
            colormap.observe(lambda c: self.set_colormap(c["new"]), names="value")
            lo, hi = self._image.contrast_limits or (0.0, 1.0)
            contrast = widgets.FloatRangeSlider(
                value=(lo, hi), min=lo, max=hi, step=(hi - lo) / 200 or 1.0, description="contrast",
                continuous_update=False, layout=widgets.Layout(width="360px"),
            )
            contrast.observe(
                lambda c: self.set_contrast_limits(*c["new"]) if c["new"][1] > c["new"][0] else None, names="value"
            )
            self._controls.update(colormap=colormap, contrast=contrast)
            controls = [widgets.HBox([colormap, contrast])]
        self._widget = widgets.VBox([sliders, image, *controls, status])
        self._dispatcher.drain()
        if self._frame is not None:
            self._show(self._frame)
            self._sync_contrast_control()
        else:
            self._update_status()
        return self._widget

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    # ------------------------------------------------------------------ static picture
    def render_static(self, ax: Any = None, *, title: bool = True) -> Any:
        """Draw the current frame with matplotlib (for papermill reports); returns the Figure.

        The image is drawn from the sliced data with the same contrast limits and colormap; points are
        drawn as a scatter on top, sized like the widget draws them.
        """
        import matplotlib.pyplot as plt

        frame = self.frame
        if frame is None:
            raise RuntimeError("render_static: nothing displayed yet; call viewer.wait_idle() first")
        if ax is None:
            fig, ax = plt.subplots(figsize=(5, 5))
        else:
            fig = ax.figure
        for state, piece in zip(frame.request.layers, frame.layers):
            if piece.kind == "image":
                if state.rgb:
                    ax.imshow(piece.data, interpolation="nearest")
                else:
                    lo, hi = piece.contrast_limits
                    ax.imshow(piece.data, cmap=state.colormap, vmin=lo, vmax=hi, interpolation="nearest")
            elif len(piece.data):
                ax.scatter(
                    piece.data[:, 1], piece.data[:, 0], s=(piece.sizes / 1.5) ** 2,
                    color=np.array(state.color) / 255, edgecolors="none", label=state.name,
                )
        rows, cols = frame.request.displayed
        ax.set_ylabel(self.dims[rows])
        ax.set_xlabel(self.dims[cols])
        if title:
            where = ", ".join(self._source.label(d, frame.request.indices[d]) for d in range(self.ndim) if d not in (rows, cols))
            ax.set_title(where or "2-D view", fontsize=10)
        return fig


def _replace(state: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(state, **changes)
