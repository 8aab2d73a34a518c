"""The labels layer: an integer image where each value names an object, drawn in its own colour.

Label 0 is background and transparent. Colours come from the label value alone (golden-ratio steps
around the hue circle), so a label keeps its colour across planes, pyramid levels and sessions, and
neighbouring values get well-separated hues. Values are never interpolated or averaged: pyramids for
labels are built with ``build_pyramid(..., method="nearest")``.
"""

from __future__ import annotations

import colorsys
import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from workbench.errors import UserError
from workbench.slicing._cache import SliceCache
from workbench.slicing._layer_image import check_opacity
from workbench.slicing._layers import (
    LayerState,
    LayerType,
    image_source,
    raster_bounds,
    raster_levels,
    read_raster,
    register_layer_type,
    thumbnail,
    weak,
)
from workbench.slicing._model import LayerSlice, SliceRequest
from workbench.slicing._transforms import Transform

_GOLDEN = 0.618033988749895
_LUT_SIZE = 4096  # colours repeat every 4096 labels; enough to tell neighbours apart


@functools.lru_cache(maxsize=8)
def label_lut(seed: float = 0.5) -> np.ndarray:
    """``_LUT_SIZE x 3`` uint8 colours; entry ``k`` is the colour of every label congruent to ``k``."""
    hues = (seed + _GOLDEN * np.arange(_LUT_SIZE)) % 1.0
    lut = np.array([colorsys.hsv_to_rgb(h, 0.65 + 0.35 * ((i * 7) % 3) / 2, 0.95) for i, h in enumerate(hues)])
    lut = (lut * 255).astype(np.uint8)
    lut.flags.writeable = False
    return lut


def label_colors(labels: np.ndarray, seed: float = 0.5) -> np.ndarray:
    """RGB colour of every label value (``... x 3`` uint8)."""
    return label_lut(seed)[np.mod(labels, _LUT_SIZE).astype(np.int64)]


def labels_to_rgba(plane: np.ndarray, opacity: float, seed: float = 0.5) -> np.ndarray:
    rgba = np.zeros(plane.shape + (4,), np.uint8)
    rgba[..., :3] = label_colors(plane, seed)
    rgba[..., 3] = np.where(plane != 0, np.uint8(round(255 * opacity)), np.uint8(0))
    return rgba


@dataclass(frozen=True, eq=False, kw_only=True)
class LabelsState(LayerState):
    kind: ClassVar[str] = "labels"
    seed: float = 0.5
    multiscale: bool = False
    progressive: bool = True
    in_memory: bool = False
    thickness: float = 0.0  # labels are never projected: a slab of ids has no meaningful mean


@register_layer_type
class Labels(LayerType):
    kind: ClassVar[str] = "labels"

    @classmethod
    def make_state(cls, data: Any, *, name: str, ndim: int | None, opacity: float = 0.6, seed: float = 0.5,
                   scale: Any = None, translate: Any = None, affine: Any = None, progressive: bool = True,
                   version: int = 0, **unknown: Any) -> tuple[LabelsState, Any]:
        if unknown:
            raise UserError(f"labels layer: unknown options {sorted(unknown)}")
        source = image_source(data, name="data")
        if np.dtype(source.dtype).kind not in "iub":
            raise UserError(
                f"data: a labels layer needs integer values, got dtype {source.dtype}; "
                "convert with data.astype(int) or add it as an image"
            )
        if ndim is not None and source.ndim != ndim:
            raise UserError(f"data: this viewer has {ndim} dims but the labels have {source.ndim} (shape {source.shape})")
        state = LabelsState(
            name=name, data_ref=weak(source),
            transform=Transform.make(source.ndim, scale=scale, translate=translate, affine=affine),
            opacity=check_opacity(opacity), version=version, seed=float(seed),
            multiscale=source.kind == "multiscale", progressive=bool(progressive), in_memory=source.in_memory,
        )
        return state, source

    bounds = staticmethod(raster_bounds)
    levels = staticmethod(raster_levels)

    @staticmethod
    def in_memory(state: LabelsState) -> bool:
        return state.in_memory

    @staticmethod
    def slice(request: SliceRequest, cache: SliceCache | None) -> LayerSlice:
        state: LabelsState = request.layer
        plane, hit, grid = read_raster(request, cache)
        if plane is None:
            return LayerSlice(request=request, data=np.zeros((0, 0), np.int64), data_to_world=grid, empty=True)
        rgba = labels_to_rgba(plane, state.opacity, state.seed)
        return LayerSlice(request=request, data=plane, data_to_world=grid, rgba=rgba, thumbnail=thumbnail(rgba),
                          from_cache=hit)
