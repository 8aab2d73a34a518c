"""The pure part: a request in, a layer slice out; compositing slices into a frame; encoding it.

``compute_slice`` reads only what the request references and returns a new immutable :class:`LayerSlice`,
so it can run on any thread, any number of times, and the caller alone decides what to do with it.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import replace

import numpy as np

from workbench.errors import UserError
from workbench.slicing._cache import SliceCache
from workbench.slicing._layers import Geometry, layer_type
from workbench.slicing._model import CancelToken, LayerSlice, SliceRequest
from workbench.slicing._slow import check_cancelled, current_cancel

ENCODINGS = ("png", "jpeg", "bmp")


def compute_slice(request: SliceRequest, *, cancel: CancelToken | None = None,
                  cache: SliceCache | None = None) -> LayerSlice:
    """Slice one layer for ``request`` with its registered type's pure function.

    ``cancel`` is checked before the read and by slow stores before each chunk read; once it is set (a
    newer request, or the layer's data gone) this raises :class:`SliceCancelled` instead of finishing.
    """
    token = current_cancel.set(cancel)
    started = time.perf_counter()
    try:
        check_cancelled()
        piece = layer_type(request.layer.kind).slice(request, cache)
    finally:
        current_cancel.reset(token)
    return replace(piece, started_at=started, finished_at=time.perf_counter(),
                   thread_name=threading.current_thread().name)


def composite(slices: list[LayerSlice], geometry: Geometry) -> np.ndarray:
    """Draw the layers' slices bottom to top into one ``H x W x 4`` uint8 frame."""
    rgba = np.zeros(geometry.shape + (4,), np.uint8)
    rgba[..., 3] = 255
    for piece in slices:
        if piece.request.layer.visible and not piece.empty:
            layer_type(piece.kind).paint(piece, rgba, geometry)
    return rgba


def encode_frame(rgba: np.ndarray, encoding: str = "png", *, quality: int = 90) -> bytes:
    """Encode an ``H x W x 4`` uint8 frame as PNG (fast zlib level 1), JPEG or BMP bytes.

    The alpha channel is dropped when the frame is opaque (it always is after compositing): a third
    less data to compress and send.
    """
    from PIL import Image

    if encoding not in ENCODINGS:
        raise UserError(f"encoding: expected one of {ENCODINGS}, got {encoding!r}")
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
