"""An n-D multi-layer viewer for Jupyter: a small facade over the model, the slicer and the widget view.

- :mod:`~workbench.slicing._viewer_model` holds layers, dims and transforms (no threads, no widgets);
- :mod:`~workbench.slicing._slicing` turns model changes into per-layer requests, runs them on workers
  and applies the newest results on the owner's thread;
- :mod:`~workbench.slicing._view` draws sliders, the frame and a per-layer status line with ipywidgets.

Layer types are registered (``image``, ``labels``, ``points``; see :mod:`~workbench.slicing._layers`), and
``viewer.add_<kind>(data, ...)`` exists for each. ``asynchronous=False`` slices on the calling thread,
which is what a naive viewer does and what blocks the kernel on slow storage.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

from workbench.errors import UserError
from workbench.slicing import _layer_image, _layer_labels, _layer_points  # noqa: F401 - they register themselves
from workbench.slicing._compute import ENCODINGS
from workbench.slicing._layer_image import check_limits, colormap_lut
from workbench.slicing._layers import LAYER_TYPES
from workbench.slicing._model import Frame
from workbench.slicing._slicing import LayerSlicer
from workbench.slicing._view import WidgetView, render_static
from workbench.slicing._viewer_model import ViewerModel


class Layer:
    """A handle on one layer of a viewer: read its state, assign ``data``, ``refresh()`` after in-place edits.

    In-place mutation of a numpy array (``layer.data[3] = 0``) cannot be seen by the viewer; call
    ``layer.refresh()`` (or ``viewer.refresh()``) afterwards. Assigning ``layer.data = new`` re-slices by itself.
    """

    def __init__(self, viewer: Viewer, name: str) -> None:
        self._viewer, self.name = viewer, name

    @property
    def state(self) -> Any:
        return self._viewer._model.entry(self.name).state

    @property
    def kind(self) -> str:
        return self.state.kind

    @property
    def data(self) -> Any:
        """The layer's data as the viewer holds it (an ArraySource, MultiscaleSource or PointsIndex)."""
        return self._viewer._model.entry(self.name).data

    @data.setter
    def data(self, value: Any) -> None:
        self._viewer._check_open()
        self._viewer._slicer.cache.clear()
        self._viewer._model.replace_data(self.name, value)
        self._viewer._changed([self.name], ranges=True)

    def refresh(self) -> None:
        """Re-read this layer (after its data changed in place): cached planes are dropped first."""
        self._viewer._check_open()
        self._viewer._model.replace_state(self.name, version=self.state.version + 1)
        self._viewer._changed([self.name])

    @property
    def loading(self) -> bool:
        return self._viewer.loading[self.name]

    @property
    def thumbnail(self) -> Any:
        track = self._viewer._slicer.tracks.get(self.name)
        return track.pieces[0].thumbnail if track is not None and track.pieces else None

    def set(self, **changes: Any) -> None:
        """Change display fields of the state (``opacity``, ``visible``, ``colormap``, ``thickness``, ...)."""
        self._viewer._check_open()
        unknown = [k for k in changes if not hasattr(self.state, k) or k in ("data_ref", "name", "version")]
        if unknown:
            raise UserError(f"layer {self.name!r}: cannot set {unknown}; settable fields are display options")
        self._viewer._model.replace_state(self.name, **changes)
        self._viewer._changed([self.name])

    def __repr__(self) -> str:
        return f"<Layer {self.name!r} ({self.kind})>"


class Viewer:
    """View n-D data two dimensions at a time, in layers, with one slider per other dimension.

    Parameters
    ----------
    data:
        The first layer's data (an image by default, ``kind=`` picks another type): numpy, dask, zarr v3,
        xarray, a zarr path/URL, or a pyramid (a list of arrays finest first, or an OME-Zarr multiscale
        group or its path). ``None`` starts empty: add layers with ``add_image``/``add_labels``/``add_points``.
    displayed:
        The two displayed dims as ``(rows, columns)``; negative numbers count from the end.
    asynchronous:
        Slice on worker threads (default) or on the calling thread (``False``, for comparison).
    max_workers:
        Slices computed at once over all layers; more than one lets the newest request start while a stale
        one ends, and lets a fast layer finish while a slow one loads.
    cancel_running:
        Signal stale running slices to stop at their next chunk read (default) or let them finish.
    cache_bytes:
        Budget of the LRU cache of recent planes (``0`` disables it).
    debounce_s, fast_slice_s:
        A request waits ``debounce_s`` before it starts (a newer one replaces it meanwhile), except for data
        in memory and for layers whose last three slices each took under ``fast_slice_s``.
    layers_together:
        Redraw only once every layer has a slice for the newest move (no mixed-time blending), instead of
        showing each layer as soon as it is ready.
    encoding:
        Image format for the widget: ``"jpeg"`` (default), ``"png"`` (lossless) or ``"bmp"``.
    latency_log:
        Path of an opt-in JSON-lines log with one record per request; a write failure (full disk) stops the
        log, says so in the status line, and never stops the viewer.
    error_interval:
        Minimum seconds between two failure messages in the status line (others are counted).
    **layer_options:
        Options of the first layer (``name``, ``scale``, ``translate``, ``affine``, ``colormap``,
        ``contrast_limits``, ``auto_contrast``, ``thickness``, ``projection``, ``rgb``, ``opacity``, ...).
    """

    def __init__(
        self,
        data: Any = None,
        *,
        kind: str = "image",
        displayed: tuple[int, int] = (-2, -1),
        asynchronous: bool = True,
        name: str | None = None,
        max_workers: int = 2,
        cancel_running: bool = True,
        cache_bytes: int = 256 * 2**20,
        debounce_s: float = 0.03,
        fast_slice_s: float = 0.01,
        layers_together: bool = False,
        encoding: str = "jpeg",
        latency_log: str | os.PathLike | None = None,
        error_interval: float = 1.0,
        **layer_options: Any,
    ) -> None:
        if encoding not in ENCODINGS:
            raise UserError(f"encoding: expected one of {ENCODINGS}, got {encoding!r}")
        if float(error_interval) < 0:
            raise UserError(f"error_interval: expected seconds >= 0, got {error_interval!r}")
        if float(debounce_s) < 0 or float(fast_slice_s) < 0:
            raise UserError(f"debounce_s/fast_slice_s: expected seconds >= 0, got {debounce_s!r}, {fast_slice_s!r}")
        self._closed = False
        self.asynchronous = bool(asynchronous)
        self.encoding = encoding
        self.error_interval = float(error_interval)
        self._model = ViewerModel()
        self._model.normalize_displayed(displayed)
        self._slicer = LayerSlicer(
            self._model, asynchronous=asynchronous, max_workers=max_workers, cancel_running=cancel_running,
            cache_bytes=cache_bytes, debounce_s=debounce_s, fast_slice_s=fast_slice_s,
            layers_together=layers_together, latency_log=latency_log, thread_name_prefix=f"slicer-{id(self):x}",
        )
        self._slicer.layer_hooks.append(self._on_layer_slice)
        self._slicer.frame_hooks.append(self._on_frame)
        self._slicer.error_hooks.append(self._on_error)
        self.errors: deque[str] = deque(maxlen=50)
        self._last_error_shown = float("-inf")
        self._suppressed_errors = 0
        self._status_error: str | None = None
        self._error_layer: str | None = None
        self._log_error_reported = False
        self._view: WidgetView | None = None
        if data is not None:
            self.add_layer(kind, data, name=name or kind, **layer_options)
        elif layer_options:
            raise UserError(f"layer options {sorted(layer_options)} need data; pass data or use add_layer later")

    # ------------------------------------------------------------------ layers
    def add_layer(self, kind: str, data: Any, *, name: str | None = None, **options: Any) -> Layer:
        """Add a layer of a registered type (``image``, ``labels``, ``points``, ...) on top; returns its handle."""
        self._check_open()
        self._dispatch()
        name = name or kind
        first = self._model.ndim is None
        self._model.add(kind, data, name=name, **options)
        if first and self._view is not None:
            self._view.rebuild_sliders()
        self._changed([name], ranges=not first)
        return Layer(self, name)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("add_") and attr[4:] in LAYER_TYPES:
            kind = attr[4:]

            def add(data: Any, *, name: str | None = None, **options: Any) -> Layer:
                return self.add_layer(kind, data, name=name or kind, **options)

            add.__doc__ = f"Add a {kind} layer (see Viewer.add_layer)."
            return add
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def remove_layer(self, name: str) -> None:
        """Remove a layer; its running slices stop at their next chunk read once its data is released."""
        self._check_open()
        self._model.remove(name)
        self._slicer.forget(name)
        self._slicer.compose()
        self._update_status()

    @property
    def layers(self) -> dict[str, Layer]:
        """Handles of the layers, bottom to top."""
        return {name: Layer(self, name) for name in self._model.layers}

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(self._model.layers)

    def _changed(self, names: list[str] | None = None, *, ranges: bool = False) -> None:
        if ranges and self._view is not None:
            self._view.rebuild_sliders()
        self._slicer.request(names)
        self._update_status()

    # ------------------------------------------------------------------ dims
    @property
    def ndim(self) -> int:
        return self._model.ndim or 0

    @property
    def dims(self) -> tuple[str, ...]:
        return self._model.dims

    @property
    def shape(self) -> tuple[int, ...]:
        """Slider steps along every dim (the data's shape for one untransformed layer)."""
        return self._model.shape

    @property
    def displayed(self) -> tuple[int, int]:
        return self._model.displayed

    @property
    def indices(self) -> tuple[int, ...]:
        return self._model.indices

    @property
    def point(self) -> tuple[float, ...]:
        """The current world point (one float per dim)."""
        return tuple(self._model.point)

    @property
    def sliders(self) -> tuple[int, ...]:
        return self._model.sliders

    def label(self, axis: int | str) -> str:
        return self._model.label(self._model.axis(axis))

    def set_index(self, axis: int | str, index: int) -> None:
        """Move dim ``axis`` (number or name) to slider step ``index``; a no-op if unchanged."""
        self._check_open()
        self._dispatch()
        axis = self._model.axis(axis)
        if self._model.set_index(axis, index):
            if self._view is not None:
                self._view.sync_slider(axis)
            self._changed()

    def set_point(self, axis: int | str, value: float) -> None:
        """Move dim ``axis`` to the world coordinate ``value`` (float; between slider steps is fine)."""
        self._check_open()
        self._dispatch()
        axis = self._model.axis(axis)
        if axis in self._model.displayed:
            raise UserError(f"axis: dim {self.dims[axis]!r} is displayed; move a slider dim {self.sliders}")
        if self._model.set_point(axis, value):
            if self._view is not None:
                self._view.sync_slider(axis)
            self._changed()

    def set_displayed(self, displayed: tuple[int, int]) -> None:
        """Choose the two displayed dims ``(rows, columns)``."""
        self._check_open()
        displayed = self._model.normalize_displayed(displayed)
        if displayed != self._model.displayed:
            self._model.displayed = displayed
            if self._view is not None:
                self._view.rebuild_sliders()
            self._changed()

    # ------------------------------------------------------------------ display options
    def _image_name(self, layer: str | None) -> str:
        if layer is not None:
            self._model.entry(layer)
            return layer
        for state in self._model.states:
            if state.kind == "image":
                return state.name
        raise UserError("layer: this viewer has no image layer; name the layer to change")

    def set_contrast_limits(self, low: float, high: float, *, layer: str | None = None) -> None:
        """Set the grayscale window of an image layer (the first one by default)."""
        self._check_open()
        name = self._image_name(layer)
        self._model.replace_state(name, contrast_limits=check_limits((low, high)))
        self._changed([name])

    def set_colormap(self, colormap: str, *, layer: str | None = None) -> None:
        """Set the colormap of an image layer (any matplotlib colormap name)."""
        self._check_open()
        colormap_lut(colormap)
        name = self._image_name(layer)
        self._model.replace_state(name, colormap=colormap)
        self._changed([name])

    def refresh(self, layer: str | None = None) -> None:
        """Forget cached planes and slice again (after data changed in place)."""
        self._check_open()
        self._slicer.cache.clear()
        for name in [layer] if layer is not None else list(self._model.layers):
            self._model.replace_state(name, version=self._model.entry(name).state.version + 1)
        self._changed([layer] if layer is not None else None)

    # ------------------------------------------------------------------ results
    def _dispatch(self) -> None:
        self._slicer.dispatcher.drain()
        if self._slicer.log.error and not self._log_error_reported:
            self._log_error_reported = True
            self.errors.append(self._slicer.log.error)
            self._status_error = self._slicer.log.error
            self._update_status()

    @property
    def frame(self) -> Frame | None:
        """The displayed frame (``frame.indices``, ``frame.data``, ``frame.layer(name)``), or None before the first."""
        self._dispatch()
        return self._slicer.frame

    @property
    def stats(self) -> dict[str, int]:
        """Counters: requested, started, cancelled, discarded, displayed, failed, cache_hits, frames."""
        self._dispatch()
        with self._slicer._stats_lock:
            return dict(self._slicer.stats)

    def info(self) -> dict[str, Any]:
        """Counters plus bytes held: the cache, the shown slices, the frame."""
        self._dispatch()
        return self._slicer.info()

    @property
    def cache(self) -> Any:
        return self._slicer.cache

    @property
    def loading(self) -> dict[str, bool]:
        """Per layer: whether the newest request's finest slice is still being computed."""
        self._dispatch()
        return self._slicer.loading()

    @property
    def latency_records(self) -> list[dict[str, Any]]:
        return list(self._slicer.log.records)

    @property
    def last_latency(self) -> float | None:
        return self._slicer.last_latency

    @property
    def delivery(self) -> str:
        """How results reach the owner thread: ``"event-loop"`` (kernel), ``"polled"`` or ``"synchronous"``."""
        return self._slicer.dispatcher.mode if self.asynchronous else "synchronous"

    def status(self) -> str:
        """The status line as plain text (per-layer loading, error, last latency)."""
        self._dispatch()
        loading = self._slicer.loading()
        parts = [" ".join(f"{name}:{'loading' if busy else 'ready'}" for name, busy in loading.items())]
        parts[0] = ("loading " if any(loading.values()) else "ready ") + parts[0]
        if self._status_error:
            parts.append(self._status_error)
        if self._slicer.last_latency is not None:
            parts.append(f"last latency {self._slicer.last_latency * 1e3:.0f} ms")
        return " | ".join(parts)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Apply results until nothing is running or waiting; False if ``timeout`` seconds passed first."""
        done = self._slicer.wait_idle(timeout)
        if not self._closed:
            self._dispatch()
        return done

    def _on_layer_slice(self, name: str, piece: Any) -> None:
        state = self._model.entry(name).state
        if getattr(state, "contrast_limits", "n/a") is None and not state.auto_contrast and not state.rgb:
            # Fix the window from the first plane shown, so later planes are comparable (a window that
            # re-fits every plane hides exactly the intensity changes a user scrubs through to see).
            self._model.replace_state(name, contrast_limits=piece.contrast_limits)
            if self._view is not None:
                self._view.sync_contrast()
        if self._error_layer == name:
            self._status_error, self._error_layer = None, None

    def _on_frame(self, frame: Frame) -> None:
        if self._view is not None:
            self._view.show(frame)

    def _on_error(self, name: str, message: str) -> None:
        if not message:  # a stale request failed: counted, not shown
            return
        self.errors.append(f"{name}: {message}")
        now = time.perf_counter()
        if now - self._last_error_shown >= self.error_interval:
            suffix = f" (+{self._suppressed_errors} more)" if self._suppressed_errors else ""
            self._status_error = f"{name}: slice failed{suffix}: {message}"
            self._error_layer = name
            self._last_error_shown = now
            self._suppressed_errors = 0
        else:
            self._suppressed_errors += 1
        self._update_status()

    def _update_status(self) -> None:
        if self._view is not None:
            self._view.update_status()

    # ------------------------------------------------------------------ widget and picture
    @property
    def widget(self) -> Any:
        """The ipywidgets UI (built on first use): sliders with play buttons, the frame, controls, status."""
        if self._view is None:
            self._view = WidgetView(self)
            self._slicer.encoding = self.encoding
            self._dispatch()
            frame = self._slicer.frame
            if frame is not None:
                self._view.show(frame)
                self._view.sync_contrast()
            else:
                self._view.update_status()
        return self._view.root

    @property
    def _controls(self) -> dict[str, Any]:
        return self._view.controls if self._view is not None else {}

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def render_static(self, ax: Any = None, *, title: bool = True) -> Any:
        """Draw the current frame with matplotlib in world units (for papermill reports); returns the Figure."""
        return render_static(self, ax, title=title)

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this viewer is closed; create a new Viewer")

    def close(self) -> None:
        """Cancel outstanding slices, join the worker threads, close the log and the widgets."""
        if self._closed:
            return
        self._closed = True
        self._slicer.close()
        if self._view is not None:
            self._view.close()

    def __enter__(self) -> Viewer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        dims = ", ".join(f"{d}={n}" for d, n in zip(self.dims, self.shape))
        mode = "async" if self.asynchronous else "sync"
        return f"<Viewer {mode} ({dims}) layers={list(self.layer_names)} indices={self.indices}>"
