"""The image layer: grayscale with a colormap or RGB(A), single- or multi-scale, thin or thick slices."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from workbench.errors import UserError
from workbench.slicing._cache import SliceCache
from workbench.slicing._layers import (
    PROJECTIONS,
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


@functools.lru_cache(maxsize=64)
def colormap_lut(name: str) -> np.ndarray:
    """A 256 x 4 uint8 lookup table for a matplotlib colormap name (raises UserError for unknown names)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        known = ", ".join(sorted(n for n in matplotlib.colormaps if not n.endswith("_r"))[:12])
        raise UserError(f"colormap: unknown name {name!r}; use a matplotlib colormap such as {known}, ...") from None
    lut = cmap(np.linspace(0.0, 1.0, 256), bytes=True)
    lut.flags.writeable = False
    return lut


def check_limits(limits: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in limits)
    except (TypeError, ValueError):
        raise UserError(f"contrast_limits: expected (low, high) numbers, got {limits!r}") from None
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise UserError(f"contrast_limits: expected finite low < high, got {limits!r}")
    return (lo, hi)


def auto_contrast_limits(plane: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of the finite values (a flat plane gets a width-1 window)."""
    values = plane[np.isfinite(plane)] if plane.dtype.kind == "f" else plane
    if values.size == 0:
        return (0.0, 1.0)
    lo, hi = float(values.min()), float(values.max())
    if hi <= lo:
        hi = lo + 1.0
    return (lo, hi)


def gray_to_rgba(plane: np.ndarray, limits: tuple[float, float], colormap: str, opacity: float = 1.0) -> np.ndarray:
    lo, hi = limits
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    scaled = (plane.astype(np.float32, copy=False) - np.float32(lo)) * np.float32(scale)
    np.clip(scaled, 0, 255, out=scaled)
    scaled = np.nan_to_num(scaled, copy=False, nan=0.0)
    rgba = colormap_lut(colormap)[scaled.astype(np.uint8)]
    if opacity < 1.0:
        rgba[..., 3] = np.uint8(round(255 * opacity))
    return rgba


def rgb_to_rgba(plane: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    if plane.dtype != np.uint8:
        plane = (np.clip(np.nan_to_num(plane.astype(np.float32)), 0.0, 1.0) * 255).astype(np.uint8)
    if plane.shape[-1] == 4:
        rgba = np.array(plane)
    else:
        rgba = np.concatenate([plane, np.full(plane.shape[:2] + (1,), 255, np.uint8)], axis=-1)
    if opacity < 1.0:
        rgba[..., 3] = (rgba[..., 3] * opacity).astype(np.uint8)
    return rgba


@dataclass(frozen=True, eq=False, kw_only=True)
class ImageState(LayerState):
    """Display state of an image layer.

    ``contrast_limits`` is ``None`` until the viewer fixes it from the first slice shown (or always, with
    ``auto_contrast``, which re-fits every slice); ``thickness`` > 0 projects the slab of planes within that
    world distance of the point with ``projection``; ``progressive`` shows the coarsest pyramid level first.
    """

    kind: ClassVar[str] = "image"
    rgb: bool = False
    contrast_limits: tuple[float, float] | None = None
    colormap: str = "gray"
    auto_contrast: bool = False
    thickness: float = 0.0
    projection: str = "mean"
    multiscale: bool = False
    progressive: bool = True
    in_memory: bool = False
    tile_size: int | None = None


def check_thickness(thickness: Any, projection: str) -> float:
    if not np.isfinite(float(thickness)) or float(thickness) < 0:
        raise UserError(f"thickness: expected a world distance >= 0, got {thickness!r}")
    if projection not in PROJECTIONS:
        raise UserError(f"projection: expected one of {PROJECTIONS}, got {projection!r}")
    return float(thickness)


@register_layer_type
class Image(LayerType):
    kind: ClassVar[str] = "image"

    @classmethod
    def make_state(cls, data: Any, *, name: str, ndim: int | None, rgb: bool | None = None,
                   contrast_limits: Any = None, colormap: str = "gray", auto_contrast: bool = False,
                   thickness: float = 0.0, projection: str = "mean", opacity: float = 1.0,
                   scale: Any = None, translate: Any = None, affine: Any = None, progressive: bool = True,
                   tile_size: int | None = None, version: int = 0, **unknown: Any) -> tuple[ImageState, Any]:
        if unknown:
            raise UserError(f"image layer: unknown options {sorted(unknown)}")
        if tile_size is not None and (not isinstance(tile_size, int) or tile_size < 16):
            raise UserError(f"tile_size: expected None or an integer >= 16 (pixels of the finest level), got {tile_size!r}")
        source = image_source(data, name="data")
        shape = source.shape
        if rgb is None:
            rgb = len(shape) >= 3 and shape[-1] in (3, 4)
        elif rgb and (len(shape) < 3 or shape[-1] not in (3, 4)):
            raise UserError(f"rgb: True needs a last dim of 3 or 4 channels and >= 3 dims, got shape {shape}")
        own_ndim = len(shape) - (1 if rgb else 0)
        if own_ndim < 2:
            raise UserError(f"data: an RGB image needs 2 spatial dims, got shape {shape}")
        if ndim is not None and own_ndim != ndim:
            raise UserError(f"data: this viewer has {ndim} dims but the layer has {own_ndim} (shape {shape})")
        colormap_lut(colormap)  # fail here, on the caller's thread, for an unknown name
        state = ImageState(
            name=name, data_ref=weak(source), transform=Transform.make(own_ndim, scale=scale, translate=translate,
                                                                       affine=affine),
            opacity=check_opacity(opacity), version=version, rgb=bool(rgb),
            contrast_limits=check_limits(contrast_limits) if contrast_limits is not None else None,
            colormap=colormap, auto_contrast=bool(auto_contrast), thickness=check_thickness(thickness, projection),
            projection=projection, multiscale=source.kind == "multiscale", progressive=bool(progressive),
            in_memory=source.in_memory, tile_size=tile_size,
        )
        return state, source

    bounds = staticmethod(raster_bounds)
    levels = staticmethod(raster_levels)

    @staticmethod
    def in_memory(state: ImageState) -> bool:
        return state.in_memory

    @staticmethod
    def slice(request: SliceRequest, cache: SliceCache | None) -> LayerSlice:
        state: ImageState = request.layer
        plane, hit, grid = read_raster(request, cache, thickness=state.thickness, projection=state.projection,
                                       channels=state.rgb)
        if plane is None:
            return LayerSlice(request=request, data=np.zeros((0, 0)), data_to_world=grid, empty=True)
        if state.rgb:
            limits, rgba = None, rgb_to_rgba(plane, state.opacity)
        else:
            if state.auto_contrast or state.contrast_limits is None:
                limits = auto_contrast_limits(plane)
            else:
                limits = state.contrast_limits
            rgba = gray_to_rgba(plane, limits, state.colormap, state.opacity)
        return LayerSlice(request=request, data=plane, data_to_world=grid, rgba=rgba, contrast_limits=limits,
                          thumbnail=thumbnail(rgba), from_cache=hit)


def check_opacity(opacity: Any) -> float:
    if not 0.0 <= float(opacity) <= 1.0:
        raise UserError(f"opacity: expected a number in [0, 1], got {opacity!r}")
    return float(opacity)
