"""The pure part: a request in, a response out. Slicing, compositing and encoding, no viewer state.

``slice_layers`` reads only what the request references and returns a new immutable response, so it
can run on any thread, any number of times, and the caller alone decides what to do with the result.
"""

from __future__ import annotations

import functools
import io
import threading
import time

import numpy as np

from workbench.slicing._cache import SliceCache
from workbench.slicing._model import (
    ImageLayerState,
    LayerSlice,
    PointsLayerState,
    SliceRequest,
    SliceResponse,
)
from workbench.slicing._slow import check_cancelled, current_cancel

ENCODINGS = ("png", "jpeg", "bmp")


@functools.lru_cache(maxsize=64)
def colormap_lut(name: str) -> np.ndarray:
    """A 256 x 4 uint8 lookup table for a matplotlib colormap name (raises ValueError for unknown names)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        known = ", ".join(sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))[:12])
        raise ValueError(f"colormap: unknown name {name!r}; use a matplotlib colormap such as {known}, ...") from None
    lut = cmap(np.linspace(0.0, 1.0, 256), bytes=True)
    lut.flags.writeable = False
    return lut


def plane_key(request: SliceRequest, ndim: int) -> tuple:
    """The indexing tuple that reads the displayed plane at the request's indices from an ``ndim`` array."""
    return tuple(slice(None) if d in request.displayed else int(request.indices[d]) for d in range(ndim))


def _image_plane(layer: ImageLayerState, request: SliceRequest, cache: SliceCache | None) -> tuple[np.ndarray, bool]:
    source = layer.source
    world_ndim = source.ndim - (1 if layer.rgb else 0)
    key = plane_key(request, world_ndim)
    cache_key = (id(source), key_hashable(key), request.displayed)
    if cache is not None:
        cached = cache.get(cache_key)
        if cached is not None:
            return cached, True
    plane = source.read(key + ((slice(None),) if layer.rgb else ()))
    # Reading keeps the displayed dims in data order; (2, 0) means rows come from dim 2, so swap.
    if request.displayed[0] > request.displayed[1]:
        plane = np.swapaxes(plane, 0, 1)
    plane = np.ascontiguousarray(plane)
    if cache is not None:
        cache.put(cache_key, plane)
    return plane, False


def key_hashable(key: tuple) -> tuple:
    """A hashable form of an indexing tuple (slices are unhashable before Python 3.12)."""
    return tuple(":" if isinstance(k, slice) else k for k in key)


def auto_contrast_limits(plane: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of the finite values (a flat plane gets a width-1 window)."""
    values = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
    if values.size == 0:
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi)


def slice_image(
    layer: ImageLayerState, request: SliceRequest, cache: SliceCache | None = None
) -> LayerSlice:
    """The displayed plane of an image layer, with the contrast limits that will be applied."""
    plane, hit = _image_plane(layer, request, cache)
    limits = None if layer.rgb else (layer.contrast_limits or auto_contrast_limits(plane))
    return LayerSlice(name=layer.name, kind="image", data=plane, contrast_limits=limits, from_cache=hit)


class PointsIndex:
    """Points sorted along each dimension, built lazily, so a plane query is a binary search.

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


def slice_points(layer: PointsLayerState, request: SliceRequest) -> LayerSlice:
    """The points within ``thickness`` of the current plane, projected on the displayed dims.

    Distance is Euclidean over the non-displayed dims; size falls linearly to half at ``thickness``.
    """
    coords = layer.coords
    hidden = [d for d in range(coords.shape[1]) if d not in request.displayed]
    t = float(layer.thickness)
    if not hidden:
        ids = np.arange(len(coords))
        dist = np.zeros(len(coords))
    else:
        here = np.array([request.indices[d] for d in hidden], dtype=float)
        if layer.index is not None:
            order, values = layer.index.along(hidden[0])
            lo = np.searchsorted(values, here[0] - t, side="left")
            hi = np.searchsorted(values, here[0] + t, side="right")
            ids = np.sort(order[lo:hi])
        else:
            ids = np.flatnonzero(np.abs(coords[:, hidden[0]] - here[0]) <= t)
        offsets = coords[np.ix_(ids, hidden)] - here
        dist = np.sqrt((offsets**2).sum(axis=1))
        keep = dist <= t
        ids, dist = ids[keep], dist[keep]
    shown = coords[np.ix_(ids, list(request.displayed))].astype(float)
    scale = 1.0 - 0.5 * (dist / t) if t > 0 else np.ones_like(dist)
    sizes = float(layer.size) * scale
    return LayerSlice(name=layer.name, kind="points", data=shown, sizes=sizes, point_ids=ids)


def _gray_to_rgba(plane: np.ndarray, limits: tuple[float, float], colormap: str) -> np.ndarray:
    lo, hi = limits
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    scaled = (plane.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(scale)
    np.clip(scaled, 0, 255, out=scaled)
    scaled = np.nan_to_num(scaled, copy=False, nan=0.0)
    return colormap_lut(colormap)[scaled.astype(np.uint8)]


def _rgb_to_rgba(plane: np.ndarray) -> np.ndarray:
    if plane.dtype != np.uint8:
        plane = (np.clip(np.nan_to_num(plane.astype(np.float32)), 0.0, 1.0) * 255).astype(np.uint8)
    if plane.shape[-1] == 4:
        return np.ascontiguousarray(plane)
    alpha = np.full(plane.shape[:2] + (1,), 255, np.uint8)
    return np.concatenate([plane, alpha], axis=-1)


@functools.lru_cache(maxsize=64)
def _disc_offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    dy, dx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    inside = dy**2 + dx**2 <= radius * radius + radius  # +radius rounds small discs into visible dots
    return dy[inside], dx[inside]


def draw_points(rgba: np.ndarray, points: LayerSlice, color: tuple[int, int, int]) -> None:
    """Stamp filled discs (diameter = size in pixels) for ``points`` into ``rgba`` in place."""
    if len(points.data) == 0:
        return
    h, w = rgba.shape[:2]
    rows = np.rint(points.data[:, 0]).astype(np.int64)
    cols = np.rint(points.data[:, 1]).astype(np.int64)
    radii = np.maximum(0, np.rint(points.sizes / 2.0 - 0.5)).astype(np.int64)
    paint = np.array([*color, 255], np.uint8)
    for radius in np.unique(radii):
        pick = radii == radius
        r0, c0 = rows[pick], cols[pick]
        dy, dx = _disc_offsets(int(radius))
        rr = (r0[:, None] + dy[None, :]).ravel()
        cc = (c0[:, None] + dx[None, :]).ravel()
        ok = (rr >= 0) & (rr < h) & (cc >= 0) & (cc < w)
        rgba[rr[ok], cc[ok]] = paint


def composite(request: SliceRequest, slices: tuple[LayerSlice, ...], shape: tuple[int, int]) -> np.ndarray:
    """Draw the layers bottom to top into one ``H x W x 4`` uint8 frame."""
    rgba = np.zeros(shape + (4,), np.uint8)
    rgba[..., 3] = 255
    for state, piece in zip(request.layers, slices):
        if piece.kind == "image":
            layer_rgba = _rgb_to_rgba(piece.data) if state.rgb else _gray_to_rgba(
                piece.data, piece.contrast_limits, state.colormap
            )
            if state.opacity >= 1.0:
                rgba[...] = layer_rgba
            else:
                a = np.float32(state.opacity)
                rgba[..., :3] = (rgba[..., :3] * (1 - a) + layer_rgba[..., :3] * a).astype(np.uint8)
        else:
            draw_points(rgba, piece, state.color)
    return rgba


def encode_frame(rgba: np.ndarray, encoding: str = "png", *, quality: int = 90) -> bytes:
    """Encode an ``H x W x 4`` uint8 frame as PNG (fast zlib level 1), JPEG or BMP bytes.

    The alpha channel is dropped when the frame is opaque (it always is after compositing): a third
    less data to compress and send.
    """
    from PIL import Image

    if encoding not in ENCODINGS:
        raise ValueError(f"encoding: expected one of {ENCODINGS}, got {encoding!r}")
    rgb = rgba[..., :3] if rgba.shape[-1] == 4 and (encoding != "png" or rgba[..., 3].min() == 255) else rgba
    image = Image.fromarray(np.ascontiguousarray(rgb))
    buffer = io.BytesIO()
    if encoding == "png":
        image.save(buffer, format="PNG", compress_level=1)
    elif encoding == "jpeg":
        image.save(buffer, format="JPEG", quality=int(quality))
    else:
        image.save(buffer, format="BMP")
    return buffer.getvalue()


def frame_shape(request: SliceRequest) -> tuple[int, int]:
    """Height and width of the composited frame: the first image layer's displayed extent."""
    for layer in request.layers:
        if isinstance(layer, ImageLayerState):
            return (int(layer.source.shape[request.displayed[0]]), int(layer.source.shape[request.displayed[1]]))
    raise ValueError("layers: a request needs at least one image layer to define the frame size")


def slice_layers(
    request: SliceRequest,
    *,
    cancel: threading.Event | None = None,
    cache: SliceCache | None = None,
) -> SliceResponse:
    """Compute the response for ``request``: every layer's slice, the composited frame, its encoding.

    A pure function of the request (the cache only memoizes reads of data the viewer treats as
    immutable). ``cancel`` is checked between layers and by slow stores before each chunk read; once it
    is set the function raises :class:`SliceCancelled` instead of finishing a stale slice.
    """
    token = current_cancel.set(cancel)
    started = time.perf_counter()
    try:
        slices = []
        for layer in request.layers:
            check_cancelled()
            if isinstance(layer, ImageLayerState):
                slices.append(slice_image(layer, request, cache))
            elif isinstance(layer, PointsLayerState):
                slices.append(slice_points(layer, request))
            else:
                raise TypeError(f"layers: unknown layer state {type(layer).__name__}")
        sliced = time.perf_counter()
        check_cancelled()
        rgba = composite(request, tuple(slices), frame_shape(request))
        rendered = time.perf_counter()
        encoded = encode_frame(rgba, request.encoding) if request.encoding else None
        finished = time.perf_counter()
    finally:
        current_cancel.reset(token)
    return SliceResponse(
        request=request,
        layers=tuple(slices),
        rgba=rgba,
        encoded=encoded,
        started_at=started,
        finished_at=finished,
        thread_name=threading.current_thread().name,
        timings={"slice_s": sliced - started, "render_s": rendered - sliced, "encode_s": finished - rendered},
    )
