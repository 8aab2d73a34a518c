"""Immutable slice requests and responses (after napari's NAP-4 on asynchronous slicing).

A request is captured on the owner's thread and carries everything a worker needs: references to the
layers' data, the index of every dimension, which two dimensions are displayed and the display state
(contrast limits, colormap). A worker turns it into a response with a pure function; the owner then
decides whether the response is still the latest and displays it or throws it away. Because neither
object can change after it is made, a worker never sees half-updated viewer state and the owner never
has to lock anything to read a response.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

__all__ = [
    "ImageLayerState",
    "LayerSlice",
    "PointsLayerState",
    "SliceCancelled",
    "SliceRequest",
    "SliceResponse",
]


class SliceCancelled(Exception):
    """Raised inside a worker when a newer request made this slice stale before it finished reading."""


def _readonly(array: np.ndarray) -> np.ndarray:
    """Return ``array`` marked read-only so a response cannot be changed after the worker made it."""
    array = np.asarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


# eq=False: a layer state holds a reference to (possibly huge, possibly lazy) data; comparing two states
# must mean "the same object", never an element-wise comparison of arrays.
@dataclass(frozen=True, eq=False)
class ImageLayerState:
    """Display state of an image layer at the moment a request was made.

    ``source`` is the viewer's adapter around the data (numpy, dask, zarr or xarray); ``rgb`` says the
    last data dimension holds 3 or 4 colour channels; ``contrast_limits`` is ``None`` until the viewer
    has fixed them from the first slice it showed.
    """

    name: str
    source: Any = field(repr=False)
    rgb: bool = False
    contrast_limits: tuple[float, float] | None = None
    colormap: str = "gray"
    opacity: float = 1.0
    kind: Literal["image"] = "image"


@dataclass(frozen=True, eq=False)
class PointsLayerState:
    """Display state of a points layer: ``coords`` is an ``N x D`` array in world (data index) units.

    Points whose distance to the current plane (over the non-displayed dimensions) is at most
    ``thickness`` are shown; their size shrinks linearly with that distance.
    """

    name: str
    coords: np.ndarray = field(repr=False)
    thickness: float = 0.5
    size: float = 6.0
    color: tuple[int, int, int] = (255, 64, 64)
    index: Any = field(default=None, repr=False)  # the layer's _PointsIndex, shared by requests so it is built once
    kind: Literal["points"] = "points"


LayerState = ImageLayerState | PointsLayerState


@dataclass(frozen=True, eq=False)
class SliceRequest:
    """Everything needed to compute one view of all layers, captured on the owner's thread.

    ``indices`` has one integer per world dimension (the entries of the displayed dimensions are kept
    but ignored, like napari's ``dims.point``); ``displayed`` holds the two displayed dimensions as
    non-negative ``(row_axis, column_axis)``; ``encoding`` is the image format to encode the frame in
    (``None`` when no widget will show it); ``id`` increases with every request a viewer makes, so a
    larger id is always the newer request.
    """

    id: int
    indices: tuple[int, ...]
    displayed: tuple[int, int]
    layers: tuple[LayerState, ...]
    encoding: str | None = None
    requested_at: float = field(default=0.0, repr=False)

    @property
    def plane_key(self) -> tuple[int | None, ...]:
        """The indices with the displayed dimensions blanked: two requests with equal keys show one plane."""
        return tuple(None if d in self.displayed else i for d, i in enumerate(self.indices))


@dataclass(frozen=True, eq=False)
class LayerSlice:
    """One layer's share of a response.

    For an image, ``data`` is the 2-D plane (or ``H x W x C`` for RGB) in the displayed axis order and
    ``contrast_limits`` the limits that were applied. For points, ``data`` is the ``M x 2`` displayed
    coordinates of the visible points, ``sizes`` their drawn sizes and ``point_ids`` their rows in the
    layer's coordinates.
    """

    name: str
    kind: str
    data: np.ndarray = field(repr=False)
    contrast_limits: tuple[float, float] | None = None
    sizes: np.ndarray | None = field(default=None, repr=False)
    point_ids: np.ndarray | None = field(default=None, repr=False)
    from_cache: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _readonly(self.data))
        if self.sizes is not None:
            object.__setattr__(self, "sizes", _readonly(self.sizes))
        if self.point_ids is not None:
            object.__setattr__(self, "point_ids", _readonly(self.point_ids))

    @property
    def nbytes(self) -> int:
        """Bytes held by this slice's arrays."""
        extra = sum(a.nbytes for a in (self.sizes, self.point_ids) if a is not None)
        return int(self.data.nbytes + extra)


@dataclass(frozen=True, eq=False)
class SliceResponse:
    """The result of slicing one request: per-layer slices, the composited RGBA frame and its encoding.

    ``started_at``/``finished_at`` are ``time.perf_counter()`` readings taken by the worker;
    ``thread_name`` names the thread that computed it (the owner's thread in synchronous mode).
    """

    request: SliceRequest
    layers: tuple[LayerSlice, ...]
    rgba: np.ndarray = field(repr=False)
    encoded: bytes | None = field(default=None, repr=False)
    started_at: float = field(default=0.0, repr=False)
    finished_at: float = field(default=0.0, repr=False)
    thread_name: str = field(default="", repr=False)
    timings: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rgba", _readonly(self.rgba))

    @property
    def data(self) -> np.ndarray:
        """The sliced array of the first image layer (what ``viewer.frame.data`` is usually asked for)."""
        for layer in self.layers:
            if layer.kind == "image":
                return layer.data
        raise LookupError("this response has no image layer; look in .layers for the points slice")

    @property
    def indices(self) -> tuple[int, ...]:
        """The request's indices (one per world dimension)."""
        return self.request.indices

    def layer(self, name: str) -> LayerSlice:
        """The slice of the layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = [layer.name for layer in self.layers]
        raise KeyError(f"no layer named {name!r} in this response; layers are {names}")

    @property
    def nbytes(self) -> int:
        """Bytes of sliced data (what the cache and the latency log count)."""
        return sum(layer.nbytes for layer in self.layers)
