"""Immutable slice requests and responses (after napari's NAP-4 on asynchronous slicing).

Each layer is sliced as its own request. A request is captured on the owner's thread and carries what
a worker needs: a weak reference to the layer's data, the float world point, which two dims are displayed,
the world-to-data transform of the level it reads, and the layer's display state. A worker turns it into
a :class:`LayerSlice` (with the data-to-world transform of its displayed dims) by a pure function; the
owner keeps it only if it is still the newest for that layer. The owner composites the layers' current
slices into a :class:`Frame`. Neither object changes after it is made, so a worker never sees half-updated
viewer state and the owner never locks anything to read a response.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.slicing._transforms import Transform

__all__ = ["CancelToken", "Frame", "LayerSlice", "SliceCancelled", "SliceRequest"]


class SliceCancelled(Exception):
    """Raised inside a worker when a newer request made this slice stale before it finished reading."""


class CancelToken:
    """Set when a newer request supersedes this one, or when the layer's data has been dropped.

    The data test is a weak reference: once the viewer lets go of a layer's data (the layer was removed,
    or its data reassigned) nothing keeps it alive, and work on it stops at the next chunk read.
    """

    def __init__(self, event: threading.Event | None = None, data_ref: weakref.ref | None = None) -> None:
        self.event = event if event is not None else threading.Event()
        self.data_ref = data_ref

    def set(self) -> None:
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set() or (self.data_ref is not None and self.data_ref() is None)

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; True as soon as the token is set (polling the weak reference)."""
        deadline = time.perf_counter() + seconds
        while True:
            if self.is_set():
                return True
            left = deadline - time.perf_counter()
            if left <= 0:
                return False
            if self.event.wait(min(left, 0.005)):
                return True


def _readonly(array: np.ndarray) -> np.ndarray:
    """Return ``array`` marked read-only so a response cannot be changed after the worker made it."""
    array = np.asarray(array)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


@dataclass(frozen=True, eq=False)
class SliceRequest:
    """One layer's slice at one world point, captured on the owner's thread.

    ``point`` has one float world coordinate per dim (displayed dims are kept but ignored, like napari's
    ``dims.point``); ``indices`` are the dims' slider steps for the same point; ``world_to_data`` maps world
    to the index space of the level read (``level``, 0 = finest); ``chain`` numbers the move that made
    it (one move asks for the coarsest level and then finer ones in the same chain); ``id`` grows with every
    request, so a larger id is always newer.
    """

    id: int
    layer: Any  # the layer's frozen state (ImageState, LabelsState, PointsState, ...)
    point: tuple[float, ...]
    indices: tuple[int, ...]
    displayed: tuple[int, int]
    world_to_data: Transform
    level: int = 0
    chain: int = 0
    region: tuple[tuple[int, int], tuple[int, int]] | None = None  # a tile: (row range, column range)
    requested_at: float = field(default=0.0, repr=False)

    @property
    def part(self) -> tuple[int, Any]:
        """Which part of the chain this is: the level, and the tile (None: the whole plane)."""
        return (self.level, self.region)

    @property
    def lane(self) -> str:
        """The scheduling lane: one per layer, so layers never wait for each other's stale work."""
        return self.layer.name

    @property
    def data_point(self) -> np.ndarray:
        """The world point in the read level's data coordinates (floats)."""
        # world_to_data is itself a Transform whose forward direction goes from world to data.
        return self.world_to_data.to_world(self.point)


@dataclass(frozen=True, eq=False)
class LayerSlice:
    """One layer's response.

    ``data`` is the sliced plane (images, labels: in displayed axis order; points: ``M x 2`` displayed world
    coordinates); ``rgba`` the layer drawn on its own pixel grid (None for points, which are drawn onto the
    canvas); ``data_to_world`` maps that grid's (row, column) to world coordinates of the displayed dims;
    ``thumbnail`` is a small RGBA picture of the slice.
    """

    request: SliceRequest
    data: np.ndarray = field(repr=False)
    data_to_world: Transform | None = None
    rgba: np.ndarray | None = field(default=None, repr=False)
    contrast_limits: tuple[float, float] | None = None
    sizes: np.ndarray | None = field(default=None, repr=False)
    point_ids: np.ndarray | None = field(default=None, repr=False)
    thumbnail: np.ndarray | None = field(default=None, repr=False)
    from_cache: bool = False
    empty: bool = False
    started_at: float = field(default=0.0, repr=False)
    finished_at: float = field(default=0.0, repr=False)
    thread_name: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        for name in ("data", "rgba", "sizes", "point_ids", "thumbnail"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _readonly(value))

    @property
    def name(self) -> str:
        return self.request.layer.name

    @property
    def kind(self) -> str:
        return self.request.layer.kind

    @property
    def level(self) -> int:
        return self.request.level

    @property
    def nbytes(self) -> int:
        """Bytes held by this slice's arrays."""
        return int(sum(a.nbytes for a in (self.data, self.rgba, self.sizes, self.point_ids, self.thumbnail)
                       if a is not None))


@dataclass(frozen=True, eq=False)
class Frame:
    """What the viewer shows: the layers' current slices composited on the canvas.

    ``id`` grows with every composite; ``indices``/``point`` are the dims' state the newest requests were
    made for; ``origin``/``pixel`` give the world coordinate of canvas pixel (0, 0) and the world size of a
    canvas pixel along the displayed dims.
    """

    id: int
    indices: tuple[int, ...]
    point: tuple[float, ...]
    displayed: tuple[int, int]
    layers: tuple[LayerSlice, ...]
    rgba: np.ndarray = field(repr=False)
    origin: tuple[float, float] = (0.0, 0.0)
    pixel: tuple[float, float] = (1.0, 1.0)
    encoded: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "rgba", _readonly(self.rgba))

    @property
    def data(self) -> np.ndarray:
        """The sliced array of the first image-like layer (what ``viewer.frame.data`` is usually asked for)."""
        for piece in self.layers:
            if piece.rgba is not None:
                return piece.data
        raise LookupError("this frame has no image layer; look in .layers for the points slice")

    @property
    def thread_name(self) -> str:
        """The thread that computed the first layer's slice."""
        return self.layers[0].thread_name if self.layers else ""

    def layer(self, name: str) -> LayerSlice:
        """The slice of the layer called ``name``."""
        for piece in self.layers:
            if piece.name == name:
                return piece
        raise KeyError(f"no layer named {name!r} in this frame; layers are {[p.name for p in self.layers]}")

    @property
    def extent(self) -> tuple[float, float, float, float]:
        """matplotlib ``imshow`` extent (left, right, bottom, top) in world units of the displayed dims."""
        h, w = self.rgba.shape[:2]
        (r0, c0), (pr, pc) = self.origin, self.pixel
        return (c0 - pc / 2, c0 + (w - 0.5) * pc, r0 + (h - 0.5) * pr, r0 - pr / 2)

    @property
    def nbytes(self) -> int:
        return int(self.rgba.nbytes + sum(p.nbytes for p in self.layers))
