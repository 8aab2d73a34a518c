"""Asynchronous n-D slicing: immutable requests, a pure slicing function, an ipywidgets viewer.

After napari's NAP-4: a slider move becomes an immutable :class:`SliceRequest` captured on the owner's
thread, :func:`slice_layers` turns it into an immutable :class:`SliceResponse` on a worker, and the
:class:`Viewer` displays a response only if it is still the latest. :func:`slow_store` injects latency
and failures per chunk read to make the difference visible.

>>> import numpy as np
>>> from workbench.slicing import Viewer
>>> viewer = Viewer(np.arange(4 * 8 * 8).reshape(4, 8, 8))
>>> viewer.set_index(0, 2)
>>> viewer.wait_idle(5)
True
>>> viewer.frame.request.indices, int(viewer.frame.data[0, 0])
((2, 0, 0), 128)
>>> viewer.close()
"""

from workbench.slicing._cache import SliceCache
from workbench.slicing._compute import encode_frame, slice_layers
from workbench.slicing._model import (
    ImageLayerState,
    LayerSlice,
    PointsLayerState,
    SliceCancelled,
    SliceRequest,
    SliceResponse,
)
from workbench.slicing._slow import SlowArray, slow_store, store_stats
from workbench.slicing._sources import ArraySource, as_source
from workbench.slicing.viewer import Viewer, read_latency_log

__all__ = [
    "ArraySource",
    "ImageLayerState",
    "LayerSlice",
    "PointsLayerState",
    "SliceCache",
    "SliceCancelled",
    "SliceRequest",
    "SliceResponse",
    "SlowArray",
    "Viewer",
    "as_source",
    "encode_frame",
    "read_latency_log",
    "slice_layers",
    "slow_store",
    "store_stats",
]
