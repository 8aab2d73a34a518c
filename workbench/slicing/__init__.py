"""Asynchronous n-D slicing: immutable per-layer requests, a pure slicing function, an ipywidgets viewer.

After napari's NAP-4: a slider move becomes one immutable :class:`SliceRequest` per layer, captured on the
owner's thread; a worker turns each into an immutable :class:`LayerSlice` with the registered layer type's
pure function; the :class:`Viewer` shows a layer's slice only if it is still the newest for that layer and
composites the layers into a :class:`Frame`. Layers carry world transforms (scale, translate), pyramids
are shown coarse first then fine, and :func:`slow_store` injects latency and failures per chunk read.

>>> import numpy as np
>>> from workbench.slicing import Viewer
>>> viewer = Viewer(np.arange(4 * 8 * 8).reshape(4, 8, 8))
>>> viewer.set_index(0, 2)
>>> viewer.wait_idle(5)
True
>>> viewer.frame.indices, int(viewer.frame.data[0, 0])
((2, 0, 0), 128)
>>> viewer.close()
"""

from workbench.slicing._cache import SliceCache
from workbench.slicing._compute import compute_slice, encode_frame
from workbench.slicing._latency_log import read_latency_log
from workbench.slicing._layers import LAYER_TYPES, LayerType, register_layer_type
from workbench.slicing._model import CancelToken, Frame, LayerSlice, SliceCancelled, SliceRequest
from workbench.slicing._multiscale import MultiscaleSource, as_multiscale, build_pyramid
from workbench.slicing._slow import SlowArray, slow_store, store_stats
from workbench.slicing._sources import ArraySource, as_source
from workbench.slicing._transforms import Transform
from workbench.slicing.viewer import Layer, Viewer

__all__ = [
    "LAYER_TYPES",
    "ArraySource",
    "CancelToken",
    "Frame",
    "Layer",
    "LayerSlice",
    "LayerType",
    "MultiscaleSource",
    "SliceCache",
    "SliceCancelled",
    "SliceRequest",
    "SlowArray",
    "Transform",
    "Viewer",
    "as_multiscale",
    "as_source",
    "build_pyramid",
    "compute_slice",
    "encode_frame",
    "read_latency_log",
    "register_layer_type",
    "slow_store",
    "store_stats",
]
