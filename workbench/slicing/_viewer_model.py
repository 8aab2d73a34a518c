"""The viewer's model: layers, dims and transforms. No threads, no widgets.

World dims span the union of the layers' world boxes; a dim's step is the finest world step any layer has
along it, so a slider visits every plane of the finest layer and coarser layers repeat planes. The
current position is a float world point; ``indices`` are the slider steps of that point. The canvas is
laid out in the same world units, so layers with different scales and translations line up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.slicing._layers import Geometry, LayerState, layer_type


@dataclass
class LayerEntry:
    """A layer as the model holds it: its frozen state and a strong reference to its data."""

    state: LayerState
    data: Any
    options: dict[str, Any]


class ViewerModel:
    """Ordered layers, the world dims and the current point (see the module docstring)."""

    def __init__(self, dims: tuple[str, ...] | None = None) -> None:
        self.layers: dict[str, LayerEntry] = {}
        self.ndim: int | None = None
        self._dim_names = dims
        self.displayed: tuple[int, int] = (0, 1)
        self._displayed_arg: Any = (-2, -1)
        self.point: list[float] = []
        self.lo = np.zeros(0)
        self.hi = np.zeros(0)
        self.step = np.ones(0)

    # ------------------------------------------------------------------ layers
    def add(self, kind: str, data: Any, *, name: str, **options: Any) -> LayerState:
        if name in self.layers:
            raise UserError(f"name: a layer called {name!r} exists; pick another name")
        state, obj = layer_type(kind).make_state(data, name=name, ndim=self.ndim, **options)
        first = self.ndim is None
        if first:
            self.ndim = state.ndim
            source_dims = getattr(obj, "dims", None)
            self._dim_names = tuple(source_dims[: self.ndim]) if source_dims is not None else tuple(
                f"dim_{i}" for i in range(self.ndim))
        self.layers[name] = LayerEntry(state, obj, dict(options))
        self._update_ranges(keep_point=not first)
        if first:
            self.displayed = self.normalize_displayed(self._displayed_arg)
        return state

    def remove(self, name: str) -> None:
        self.entry(name)
        if len(self.layers) == 1:
            raise UserError("name: cannot remove the last layer; close the viewer instead")
        del self.layers[name]
        self._update_ranges(keep_point=True)

    def replace_state(self, name: str, **changes: Any) -> LayerState:
        entry = self.entry(name)
        entry.state = replace(entry.state, **changes)
        return entry.state

    def replace_data(self, name: str, data: Any, **options: Any) -> LayerState:
        """New data for layer ``name`` (same options unless given): a new state with a new version."""
        entry = self.entry(name)
        old = entry.state
        options = {**entry.options, **options}
        state, obj = layer_type(old.kind).make_state(data, name=name, ndim=self.ndim, version=old.version + 1,
                                                     **options)
        keep = {k: getattr(old, k) for k in ("visible", "opacity", "colormap") if hasattr(state, k)}
        entry.state, entry.data, entry.options = replace(state, **keep), obj, options
        self._update_ranges(keep_point=True)
        return state

    def entry(self, name: str) -> LayerEntry:
        try:
            return self.layers[name]
        except KeyError:
            raise UserError(f"name: no layer called {name!r}; layers are {list(self.layers)}") from None

    @property
    def states(self) -> list[LayerState]:
        return [entry.state for entry in self.layers.values()]

    # ------------------------------------------------------------------ dims
    @property
    def dims(self) -> tuple[str, ...]:
        return tuple(self._dim_names or ())

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of slider steps along every dim."""
        return tuple(int(round((h - lo) / s)) + 1 for lo, h, s in zip(self.lo, self.hi, self.step))

    def _update_ranges(self, keep_point: bool) -> None:
        boxes = [layer_type(s.kind).bounds(s) for s in self.states]
        lo = np.min([b[0] for b in boxes], axis=0)
        hi = np.max([b[1] for b in boxes], axis=0)
        steps = np.min([b[2] for b in boxes], axis=0)
        steps = np.where(np.isfinite(steps), steps, 1.0)
        old = list(self.point) if keep_point and self.point else None
        self.lo, self.hi, self.step = lo, hi, steps
        self.point = [float(np.clip(p, a, b)) for p, a, b in zip(old, lo, hi)] if old else [float(v) for v in lo]

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(int(round((p - lo) / s)) for p, lo, s in zip(self.point, self.lo, self.step))

    def axis(self, axis: int | str) -> int:
        if isinstance(axis, str):
            if axis not in self.dims:
                raise UserError(f"axis: no dim named {axis!r}; dims are {list(self.dims)}")
            return self.dims.index(axis)
        if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
            raise TypeError(f"axis: expected an int or a dim name, got {type(axis).__name__}")
        if not -self.ndim <= axis < self.ndim:
            raise UserError(f"axis: expected -{self.ndim} <= axis < {self.ndim}, got {axis}")
        return int(axis) % self.ndim

    def normalize_displayed(self, displayed: Any) -> tuple[int, int]:
        if not isinstance(displayed, (tuple, list)) or len(displayed) != 2:
            raise UserError(f"displayed: expected two axes (rows, columns) such as (-2, -1), got {displayed!r}")
        if self.ndim is None:
            self._displayed_arg = tuple(displayed)
            return (0, 1)
        rows, cols = (self.axis(a) for a in displayed)
        if rows == cols:
            raise UserError(f"displayed: the two axes must differ, got {displayed!r}")
        return (rows, cols)

    @property
    def sliders(self) -> tuple[int, ...]:
        return tuple(d for d in range(self.ndim) if d not in self.displayed)

    def set_index(self, axis: int | str, index: Any) -> bool:
        """Move ``axis`` to slider step ``index``; False if nothing changed."""
        axis = self.axis(axis)
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        n = self.shape[axis]
        if not 0 <= index < n:
            raise UserError(f"index: expected 0 <= index < {n} for dim {self.dims[axis]!r}, got {index}")
        if axis in self.displayed:
            raise UserError(f"axis: dim {self.dims[axis]!r} is displayed and has no slider; sliders are {self.sliders}")
        return self.set_point(axis, float(self.lo[axis] + int(index) * self.step[axis]))

    def set_point(self, axis: int | str, value: float) -> bool:
        """Move ``axis`` to the world coordinate ``value`` (clipped to the dims' range)."""
        axis = self.axis(axis)
        value = float(np.clip(float(value), self.lo[axis], self.hi[axis]))
        if self.point[axis] == value:
            return False
        self.point[axis] = value
        return True

    def label(self, axis: int) -> str:
        """A slider label: the first layer's coordinate value when it has coordinates, else the world value."""
        first = next(iter(self.layers.values()))
        index = self.indices[axis]
        if hasattr(first.data, "label") and first.state.transform.scale[axis] == self.step[axis] and \
                first.state.transform.translate[axis] == self.lo[axis] and index < first.data.shape[axis]:
            return first.data.label(axis, index)
        return f"{self.dims[axis]} = {self.point[axis]:.4g}"

    # ------------------------------------------------------------------ canvas
    def geometry(self) -> Geometry:
        """Canvas pixels along the displayed dims: the finest step, spanning every layer's box."""
        r, c = self.displayed
        origin = (float(self.lo[r]), float(self.lo[c]))
        pixel = (float(self.step[r]), float(self.step[c]))
        shape = (int(round((self.hi[r] - self.lo[r]) / pixel[0])) + 1, int(round((self.hi[c] - self.lo[c]) / pixel[1])) + 1)
        return Geometry(origin=origin, pixel=pixel, shape=shape)
