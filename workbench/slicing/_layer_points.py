"""The points layer: N x D coordinates, shown where they lie within ``thickness`` of the current plane.

Distance is Euclidean over the non-displayed dims, in world units (after the layer's scale and
translate), and a point's drawn size falls linearly to half at the thickness. The same thickness notion
selects the slab of an image layer's thick slice.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from workbench.errors import UserError
from workbench.slicing._cache import SliceCache
from workbench.slicing._layers import Geometry, LayerState, LayerType, register_layer_type, weak
from workbench.slicing._model import LayerSlice, SliceCancelled, SliceRequest
from workbench.slicing._transforms import Transform


class PointsIndex:
    """World coordinates sorted along each dimension, built lazily, so a plane query is a binary search.

    Finding the points near a plane by scanning all N coordinates costs O(N) per slider step; with the
    coordinates sorted along the first non-displayed dimension it costs O(log N + M) for M candidates.
    """

    def __init__(self, coords: np.ndarray) -> None:
        self.coords = coords
        self._sorted: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def along(self, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """``(order, sorted_values)`` of the coordinates along ``axis``, computed once."""
        with self._lock:
            if axis not in self._sorted:
                order = np.argsort(self.coords[:, axis], kind="stable")
                self._sorted[axis] = (order, np.ascontiguousarray(self.coords[order, axis]))
            return self._sorted[axis]


@dataclass(frozen=True, eq=False, kw_only=True)
class PointsState(LayerState):
    """``data_ref`` points at the layer's :class:`PointsIndex` over world coordinates."""

    kind: ClassVar[str] = "points"
    thickness: float = 0.5
    size: float = 6.0
    color: tuple[int, int, int] = (255, 64, 64)
    use_index: bool = True


def points_near_plane(index: PointsIndex, point: np.ndarray, displayed: tuple[int, int], thickness: float,
                      use_index: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the points within ``thickness`` of ``point`` over the hidden dims, and their distances."""
    coords = index.coords
    hidden = [d for d in range(coords.shape[1]) if d not in displayed]
    t = float(thickness)
    if not hidden:
        return np.arange(len(coords)), np.zeros(len(coords))
    here = np.array([point[d] for d in hidden], dtype=float)
    if use_index:
        order, values = index.along(hidden[0])
        lo = np.searchsorted(values, here[0] - t, side="left")
        hi = np.searchsorted(values, here[0] + t, side="right")
        ids = np.sort(order[lo:hi])
    else:
        ids = np.flatnonzero(np.abs(coords[:, hidden[0]] - here[0]) <= t)
    offsets = coords[np.ix_(ids, hidden)] - here
    dist = np.sqrt((offsets**2).sum(axis=1))
    keep = dist <= t
    return ids[keep], dist[keep]


@functools.lru_cache(maxsize=64)
def _disc_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dy**2 + dx**2 <= radius * radius + radius  # +radius rounds small discs into visible dots
    return dy[inside], dx[inside]


def draw_discs(rgba: np.ndarray, rows_cols: np.ndarray, sizes: np.ndarray, color: tuple[int, int, int]) -> None:
    """Stamp filled discs (diameter = size in pixels) centred at ``rows_cols`` (pixels) into ``rgba``."""
    if len(rows_cols) == 0:
        return
    h, w = rgba.shape[:2]
    rows = np.rint(rows_cols[:, 0]).astype(np.int64)
    cols = np.rint(rows_cols[:, 1]).astype(np.int64)
    radii = np.maximum(0, np.rint(sizes / 2.0 - 0.5)).astype(np.int64)
    paint = np.array([*color, 255], np.uint8)
    for radius in np.unique(radii):
        pick = radii == radius
        dy, dx = _disc_offsets(int(radius))
        rr = (rows[pick][:, None] + dy[None, :]).ravel()
        cc = (cols[pick][:, None] + dx[None, :]).ravel()
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rgba[rr[ok], cc[ok]] = paint


@register_layer_type
class Points(LayerType):
    kind: ClassVar[str] = "points"

    @classmethod
    def make_state(cls, data: Any, *, name: str, ndim: int | None, thickness: float = 0.5, size: float = 6.0,
                   color: tuple[int, int, int] = (255, 64, 64), scale: Any = None, translate: Any = None,
                   affine: Any = None, opacity: float = 1.0, use_index: bool = True, version: int = 0,
                   **unknown: Any) -> tuple[PointsState, Any]:
        if unknown:
            raise UserError(f"points layer: unknown options {sorted(unknown)}")
        coords = np.asarray(data, dtype=float)
        want = ndim if ndim is not None else (coords.shape[1] if coords.ndim == 2 else "D")
        if coords.ndim != 2 or (ndim is not None and coords.shape[1] != ndim):
            raise UserError(f"coords: expected an N x {want} array (one column per dim), got shape {coords.shape}")
        if not np.isfinite(coords).all():
            raise UserError("coords: contains NaN or infinite values; drop those rows first")
        if float(thickness) < 0 or float(size) <= 0:
            raise UserError(f"thickness/size: expected thickness >= 0 and size > 0, got {thickness!r}, {size!r}")
        if len(color) != 3 or not all(0 <= int(c) <= 255 for c in color):
            raise UserError(f"color: expected an (r, g, b) tuple of 0..255, got {color!r}")
        transform = Transform.make(coords.shape[1], scale=scale, translate=translate, affine=affine)
        world = transform.to_world(coords) if transform != Transform.identity(coords.shape[1]) else coords.copy()
        world.flags.writeable = False
        index = PointsIndex(world)
        state = PointsState(name=name, data_ref=weak(index), transform=transform, opacity=float(opacity),
                            version=version, thickness=float(thickness), size=float(size),
                            color=tuple(int(c) for c in color), use_index=bool(use_index))
        return state, index

    @staticmethod
    def bounds(state: PointsState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        index = state.data_ref()
        coords = index.coords
        if len(coords) == 0:
            zeros = np.zeros(state.ndim)
            return zeros, zeros, np.ones(state.ndim)
        return coords.min(axis=0), coords.max(axis=0), np.full(state.ndim, np.inf)  # no step of their own

    @staticmethod
    def slice(request: SliceRequest, cache: SliceCache | None) -> LayerSlice:
        state: PointsState = request.layer
        index = state.data_ref()
        if index is None:
            raise SliceCancelled("the layer's data is gone")
        ids, dist = points_near_plane(index, np.asarray(request.point), request.displayed, state.thickness,
                                      state.use_index)
        shown = index.coords[np.ix_(ids, list(request.displayed))].astype(float)
        t = state.thickness
        sizes = state.size * (1.0 - 0.5 * (dist / t)) if t > 0 else np.full(len(ids), state.size)
        return LayerSlice(request=request, data=shown, sizes=sizes, point_ids=ids,
                          data_to_world=Transform.identity(2))

    @staticmethod
    def paint(piece: LayerSlice, canvas: np.ndarray, geometry: Geometry) -> None:
        draw_discs(canvas, geometry.to_pixels(piece.data), piece.sizes, piece.request.layer.color)
