"""Layer types: a registry, the state every layer shares, and helpers the image-like types share.

A layer type is one module that defines a frozen state dataclass and registers a :class:`LayerType`
with :func:`register_layer_type`. The viewer, the slicer and the widget only talk to the registry, so a
new type (say, vectors) touches one new file and nothing else:

- ``make_state(data, name=..., ndim=..., **options)`` validates user input on the owner's thread;
- ``bounds(state)`` gives the world box and the finest world step per dim (for the sliders and canvas);
- ``levels(state, displayed)`` lists ``(level, data_to_world, region)`` coarsest first (one entry for
  single-scale data; with tiles, one per tile of the finest level, ``region`` its rows and columns);
- ``slice(request, cache)`` is the pure worker function: a request in, a :class:`LayerSlice` out;
- ``paint(piece, canvas, geometry)`` draws a slice onto the frame on the owner's thread.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from workbench.errors import UserError
from workbench.slicing._cache import SliceCache
from workbench.slicing._model import SliceCancelled, SliceRequest
from workbench.slicing._multiscale import MultiscaleSource, as_multiscale
from workbench.slicing._slow import check_cancelled
from workbench.slicing._sources import ArraySource, as_source, read_array
from workbench.slicing._transforms import Transform

LAYER_TYPES: dict[str, type[LayerType]] = {}


def register_layer_type(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: make ``cls`` available as ``viewer.add_layer(cls.kind, ...)`` and ``add_<kind>``."""
    LAYER_TYPES[cls.kind] = cls
    return cls


def layer_type(kind: str) -> type[LayerType]:
    try:
        return LAYER_TYPES[kind]
    except KeyError:
        raise UserError(f"kind: unknown layer type {kind!r}; registered types are {sorted(LAYER_TYPES)}") from None


@dataclass(frozen=True, eq=False, kw_only=True)
class LayerState:
    """What every layer carries: its name, a weak reference to its data, its transform and display basics.

    ``version`` changes when the data is reassigned or refreshed, so cached planes of the old data are never
    served for the new.
    """

    name: str
    kind: ClassVar[str] = "layer"
    data_ref: Any = field(repr=False)  # weakref.ref to the layer's source
    transform: Transform
    opacity: float = 1.0
    visible: bool = True
    version: int = 0

    @property
    def ndim(self) -> int:
        return self.transform.ndim


class LayerType:
    """Base of the registered layer types (see the module docstring for the interface)."""

    kind: ClassVar[str] = "layer"

    @classmethod
    def make_state(cls, data: Any, *, name: str, ndim: int | None, **options: Any) -> tuple[LayerState, Any]:
        """Validate ``data`` and ``options``; return the frozen state and the object it weakly references."""
        raise NotImplementedError

    @staticmethod
    def bounds(state: LayerState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError

    @staticmethod
    def levels(state: LayerState, displayed: tuple[int, int]) -> list[tuple[int, Transform, Any]]:
        return [(0, state.transform, None)]

    @staticmethod
    def in_memory(state: LayerState) -> bool:
        return True

    @staticmethod
    def slice(request: SliceRequest, cache: SliceCache | None) -> Any:
        raise NotImplementedError

    @staticmethod
    def paint(piece: Any, canvas: np.ndarray, geometry: Geometry) -> None:
        paint_raster(piece, canvas, geometry)


# ---------------------------------------------------------------------------------------- image-like data
def image_source(data: Any, name: str) -> ArraySource | MultiscaleSource:
    """An ArraySource, or a MultiscaleSource for a pyramid (list of arrays, OME-Zarr group or its path)."""
    multiscale = as_multiscale(data, name=name)
    return multiscale if multiscale is not None else as_source(data, name=name)


def source_levels(source: ArraySource | MultiscaleSource, ndim: int) -> list[tuple[ArraySource, Transform]]:
    """``(level source, level index -> layer data coordinates)`` over the first ``ndim`` dims, finest first.

    (An RGB layer has one more data dim than world dims: the colour channels.)
    """
    if isinstance(source, MultiscaleSource):
        return [(level, t.subset(range(ndim))) for level, t in zip(source.levels, source.transforms)]
    return [(source, Transform.identity(ndim))]


def raster_bounds(state: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """World box (centres of the first and last pixels) and the finest world step of an image-like layer."""
    source = state.data_ref()
    if source is None:
        raise SliceCancelled("the layer's data is gone")
    shape = np.array(source.shape[: state.ndim], dtype=float)
    to_world = state.transform.compose(source_levels(source, state.ndim)[0][1])
    lo = to_world.to_world(np.zeros(state.ndim))
    hi = to_world.to_world(shape - 1)
    return np.minimum(lo, hi), np.maximum(lo, hi), np.asarray(to_world.scale)


def raster_levels(state: Any, displayed: tuple[int, int]) -> list[tuple[int, Transform, Any]]:
    """Parts to request on a move, coarsest level first, then the finest: ``(level, level data -> world, region)``.

    With ``tile_size``, the finest level is asked for tile by tile (``region`` = its row and column ranges),
    so a large plane is painted as its tiles arrive instead of all at once at the end.
    """
    source = state.data_ref()
    if source is None:
        return []
    levels = source_levels(source, state.ndim)
    chosen = [len(levels) - 1, 0] if len(levels) > 1 and state.progressive else [0]
    tile = getattr(state, "tile_size", None)
    parts = []
    for k in chosen:
        to_world = state.transform.compose(levels[k][1])
        if k == 0 and tile:
            rows, cols = (levels[0][0].shape[d] for d in displayed)
            parts += [(0, to_world, ((r, min(rows, r + tile)), (c, min(cols, c + tile))))
                      for r in range(0, rows, tile) for c in range(0, cols, tile)]
        else:
            parts.append((k, to_world, None))
    return parts


def _hidden_key(point: np.ndarray, shape: tuple[int, ...], hidden: list[int], half_width: np.ndarray | None):
    """Per hidden dim: an index (thin slice) or a slice of the slab; None when the point is outside the data."""
    key: dict[int, int | slice] = {}
    for j, d in enumerate(hidden):
        p = float(point[d])
        if half_width is None or half_width[j] == 0:
            i = int(np.floor(p + 0.5))
            if not 0 <= i < shape[d]:
                return None
            key[d] = i
        else:
            lo = max(0, int(np.ceil(p - half_width[j] - 1e-9)))
            hi = min(shape[d] - 1, int(np.floor(p + half_width[j] + 1e-9)))
            if hi < lo:
                return None
            key[d] = slice(lo, hi + 1)
    return key


PROJECTIONS = ("max", "mean", "sum")


def read_raster(request: SliceRequest, cache: SliceCache | None, *, thickness: float = 0.0,
                projection: str = "mean", channels: bool = False) -> tuple[np.ndarray | None, bool, Transform]:
    """Read the displayed plane (or the projected slab) of an image-like layer at the request's point.

    Returns ``(plane or None when the point is outside the data, from_cache, plane grid -> world)``.
    """
    state = request.layer
    source = state.data_ref()
    if source is None:
        raise SliceCancelled("the layer's data is gone")
    level_source, _ = source_levels(source, state.ndim)[request.level]
    # Keep only the inner array: holding the source would keep the data alive after the layer drops it.
    kind, array, shape, uid = level_source.kind, level_source.array, level_source.shape, source.uid
    del source, level_source
    ndim = state.ndim
    displayed = request.displayed
    hidden = [d for d in range(ndim) if d not in displayed]
    level_to_world = request.world_to_data.inverse()
    point = request.data_point
    half = None
    if thickness > 0:
        half = np.array([thickness / level_to_world.scale[d] for d in hidden])
    hidden_key = _hidden_key(point, shape, hidden, half)
    grid = level_to_world.subset(displayed)
    if hidden_key is None:
        return None, False, grid
    if request.region is not None:  # one tile: its rows and columns, and its place in world space
        (r0, r1), (c0, c1) = request.region
        hidden_key[displayed[0]], hidden_key[displayed[1]] = slice(r0, r1), slice(c0, c1)
        grid = Transform(grid.scale, (grid.translate[0] + r0 * grid.scale[0], grid.translate[1] + c0 * grid.scale[1]))
    key = tuple(hidden_key.get(d, slice(None)) for d in range(ndim)) + ((slice(None),) if channels else ())
    cache_key = (uid, state.version, request.level, tuple(":" if k == slice(None) else (k.start, k.stop) if
                 isinstance(k, slice) else k for k in key), displayed, projection if half is not None else "")
    if cache is not None:
        cached = cache.get(cache_key)
        if cached is not None:
            return cached, True, grid
    check_cancelled()
    plane = read_array(kind, array, key)
    kept = [d for d in range(ndim) if isinstance(key[d], slice)]
    slab_axes = tuple(kept.index(d) for d in hidden if isinstance(key[d], slice))
    if slab_axes:
        reduce = {"max": np.max, "mean": np.mean, "sum": np.sum}[projection]
        plane = reduce(plane, axis=slab_axes)
    # Reading keeps the displayed dims in data order; (2, 0) means rows come from dim 2, so swap.
    if displayed[0] > displayed[1]:
        plane = np.swapaxes(plane, 0, 1)
    # A copy when the read returned a view of the user's array: a response must not change under the
    # frame when the user edits the data in place (that is what refresh() is for).
    plane = np.array(plane, order="C") if isinstance(array, np.ndarray) and np.may_share_memory(plane, array) \
        else np.ascontiguousarray(plane)
    if cache is not None:
        cache.put(cache_key, plane)
    return plane, False, grid


def thumbnail(rgba: np.ndarray, size: int = 32) -> np.ndarray:
    """A small RGBA picture of a layer's slice: every n-th pixel, at most ``size`` on the longer side."""
    step = max(1, int(np.ceil(max(rgba.shape[:2]) / size)))
    return np.ascontiguousarray(rgba[::step, ::step])


# ---------------------------------------------------------------------------------------- the canvas
@dataclass(frozen=True)
class Geometry:
    """The canvas: world coordinate of pixel (0, 0), world size of one pixel, and the shape in pixels."""

    origin: tuple[float, float]
    pixel: tuple[float, float]
    shape: tuple[int, int]

    def to_pixels(self, world_rc: np.ndarray) -> np.ndarray:
        return (np.asarray(world_rc, dtype=float) - np.asarray(self.origin)) / np.asarray(self.pixel)


def _sample_axis(n_canvas: int, origin: float, pixel: float, to_world_scale: float, to_world_translate: float,
                 n_data: int) -> tuple[slice, np.ndarray]:
    """The canvas window a piece covers along one axis, and the piece's index for each pixel in it."""
    world = origin + np.arange(n_canvas) * pixel
    index = np.floor((world - to_world_translate) / to_world_scale + 0.5).astype(np.int64)
    inside = np.flatnonzero((index >= 0) & (index < n_data))  # contiguous: index grows with the pixel
    if inside.size == 0:
        return slice(0, 0), index[:0]
    window = slice(int(inside[0]), int(inside[-1]) + 1)
    return window, index[window]


def paint_raster(piece: Any, canvas: np.ndarray, geometry: Geometry) -> None:
    """Blend a layer's RGBA plane onto the canvas, nearest-neighbour through its data-to-world transform.

    Only the window of canvas pixels the piece covers is touched, so painting a small tile costs the tile,
    not the whole canvas.
    """
    if piece.rgba is None or piece.empty:
        return
    rgba, grid = piece.rgba, piece.data_to_world
    h, w = rgba.shape[:2]
    same_grid = (
        (h, w) == geometry.shape
        and np.allclose(grid.scale, geometry.pixel)
        and np.allclose(grid.translate, geometry.origin)
    )
    if same_grid:
        target, sampled = canvas, rgba
    else:
        rows_at, rows = _sample_axis(geometry.shape[0], geometry.origin[0], geometry.pixel[0], grid.scale[0],
                                     grid.translate[0], h)
        cols_at, cols = _sample_axis(geometry.shape[1], geometry.origin[1], geometry.pixel[1], grid.scale[1],
                                     grid.translate[1], w)
        if rows.size == 0 or cols.size == 0:
            return
        target, sampled = canvas[rows_at, cols_at], rgba[np.ix_(rows, cols)]
    alpha = sampled[..., 3]
    if alpha.min() == 255:
        target[...] = sampled
        return
    a = (alpha.astype(np.float32) / 255.0)[..., None]
    target[..., :3] = (target[..., :3] * (1.0 - a) + sampled[..., :3] * a).astype(np.uint8)


def weak(obj: Any) -> weakref.ref:
    return weakref.ref(obj)
