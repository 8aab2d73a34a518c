"""Multi-scale (pyramid) data: a list of ever coarser arrays, or an OME-Zarr 0.4 multiscale group.

A pyramid lets a viewer answer a slider move twice: first from the coarsest level, which is a few
kilobytes even for a huge plane, then from the level the screen needs. Each level has its own transform
from its data index to the finest level's coordinates (OME-Zarr: to physical units), so every level
lands on the same place in world space.

OME-Zarr 0.4 (Moore et al., "OME-NGFF: a next-generation file format for expanding bioimaging data-access
strategies", Nature Methods 18, 2021; specification https://ngff.openmicroscopy.org/0.4/) stores the
levels as zarr v2 arrays in one group and describes them in the group's ``multiscales`` attribute: per
dataset a ``path`` and ``coordinateTransformations`` (a ``scale``, optionally a ``translation``).
:func:`build_pyramid` writes exactly that layout for an existing array, one plane at a time.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import UserError
from workbench.slicing._sources import ArraySource, as_source
from workbench.slicing._transforms import Transform

__all__ = ["MultiscaleSource", "as_multiscale", "build_pyramid"]


@dataclass(eq=False)
class MultiscaleSource:
    """Pyramid levels, finest first, each with the transform from its index to level-0 coordinates."""

    levels: tuple[ArraySource, ...]
    transforms: tuple[Transform, ...]
    kind: str = "multiscale"
    uid: int = field(default=0)

    def __post_init__(self) -> None:
        if not self.uid:
            self.uid = self.levels[0].uid

    @property
    def finest(self) -> ArraySource:
        return self.levels[0]

    @property
    def shape(self) -> tuple[int, ...]:
        return self.levels[0].shape

    @property
    def ndim(self) -> int:
        return self.levels[0].ndim

    @property
    def dtype(self) -> np.dtype:
        return self.levels[0].dtype

    @property
    def dims(self) -> tuple[str, ...]:
        return self.levels[0].dims

    @property
    def coords(self) -> dict[str, np.ndarray]:
        return self.levels[0].coords

    @property
    def in_memory(self) -> bool:
        return all(level.in_memory for level in self.levels)

    def label(self, dim: int, index: int) -> str:
        return self.levels[0].label(dim, index)

    def read(self, key: tuple) -> np.ndarray:
        return self.levels[0].read(key)


def _is_group(data: Any) -> bool:
    return type(data).__module__.startswith("zarr") and hasattr(data, "attrs") and hasattr(data, "members")


def _ome_multiscales(attrs: Any) -> list | None:
    multiscales = attrs.get("multiscales")
    if multiscales is None and isinstance(attrs.get("ome"), dict):  # OME-Zarr 0.5 nests it under "ome"
        multiscales = attrs["ome"].get("multiscales")
    return multiscales


def _dataset_transform(dataset: dict, ndim: int) -> Transform:
    scale, translate = [1.0] * ndim, [0.0] * ndim
    for item in dataset.get("coordinateTransformations", []):
        if item.get("type") == "scale":
            scale = [float(v) for v in item["scale"]]
        elif item.get("type") == "translation":
            translate = [float(v) for v in item["translation"]]
    return Transform(tuple(scale), tuple(translate))


def _from_group(group: Any, name: str) -> MultiscaleSource:
    multiscales = _ome_multiscales(group.attrs)
    if not multiscales:
        raise UserError(
            f"{name}: this zarr group has no OME-Zarr 'multiscales' attribute; pass an array (group['name']) "
            "or build one with workbench.slicing.build_pyramid(array, path)"
        )
    datasets = multiscales[0]["datasets"]
    arrays = [group[d["path"]] for d in datasets]
    levels = tuple(as_source(a, name=f"{name} level {i}") for i, a in enumerate(arrays))
    axes = multiscales[0].get("axes")
    if axes:
        names = tuple(a["name"] if isinstance(a, dict) else str(a) for a in axes)
        if len(names) == levels[0].ndim:
            levels = tuple(
                ArraySource(s.array, s.shape, s.dtype, names, s.coords, s.kind) for s in levels
            )
    transforms = tuple(_dataset_transform(d, levels[0].ndim) for d in datasets)
    return _checked(levels, transforms, name)


def _checked(levels: tuple[ArraySource, ...], transforms: tuple[Transform, ...], name: str) -> MultiscaleSource:
    ndim = levels[0].ndim
    for i, level in enumerate(levels):
        if level.ndim != ndim:
            raise UserError(f"{name}: level {i} has {level.ndim} dims but level 0 has {ndim}; every level needs the same dims")
        if i and any(a > b for a, b in zip(level.shape, levels[i - 1].shape)):
            raise UserError(
                f"{name}: level {i} (shape {level.shape}) is larger than level {i - 1} ({levels[i - 1].shape}); "
                "order the pyramid finest first"
            )
    return MultiscaleSource(levels=levels, transforms=transforms)


def as_multiscale(data: Any, *, name: str = "data") -> MultiscaleSource | None:
    """A :class:`MultiscaleSource` for a pyramid (a list of arrays, an OME-Zarr group or its path), else None."""
    if isinstance(data, MultiscaleSource):
        return data
    if isinstance(data, (str, os.PathLike)):
        import zarr

        try:
            node = zarr.open(str(data), mode="r")
        except Exception:  # noqa: BLE001 - not a zarr node: as_source will explain what it expected
            return None
        return _from_group(node, name) if _is_group(node) else None
    if _is_group(data):
        return _from_group(data, name)
    if isinstance(data, (list, tuple)) and data and all(hasattr(a, "shape") and hasattr(a, "dtype") for a in data):
        levels = tuple(as_source(a, name=f"{name}[{i}]") for i, a in enumerate(data))
        base = np.array(levels[0].shape, dtype=float)
        transforms = []
        for level in levels:
            # Level k pixel i covers finest pixels [i*f, (i+1)*f): its centre is at i*f + (f-1)/2.
            factor = base / np.array(level.shape, dtype=float)
            transforms.append(Transform(tuple(factor), tuple((factor - 1) / 2)))
        return _checked(levels, tuple(transforms), name)
    return None


def _downsample(plane: np.ndarray, factor: int, method: str) -> np.ndarray:
    """Downsample the last two axes by ``factor`` (block mean, or nearest = every factor-th pixel)."""
    if method == "nearest":
        return plane[..., ::factor, ::factor]
    h, w = (plane.shape[-2] // factor) * factor, (plane.shape[-1] // factor) * factor
    cropped = plane[..., :h, :w]
    blocks = cropped.reshape(*cropped.shape[:-2], h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(-3, -1), dtype=np.float64).astype(plane.dtype)


def build_pyramid(
    array: Any,
    path: str | os.PathLike,
    *,
    factor: int = 2,
    min_size: int = 64,
    method: str = "mean",
    chunks: Sequence[int] | None = None,
    axis_names: Sequence[str] | None = None,
) -> Any:
    """Write an OME-Zarr 0.4 multiscale group for ``array`` at ``path`` and return the opened group.

    Level 0 is a copy of ``array``; level ``k`` is level ``k - 1`` downsampled by ``factor`` along the last
    two dims (block mean, or ``method="nearest"`` for label images, whose values must not be averaged),
    until the smaller of them would drop below ``min_size``. Work goes one index of the leading dims at a
    time, so memory stays at about one plane whatever the array's size.
    """
    import zarr

    if method not in ("mean", "nearest"):
        raise UserError(f"method: expected 'mean' or 'nearest', got {method!r}")
    if not isinstance(factor, int) or factor < 2:
        raise UserError(f"factor: expected an integer >= 2, got {factor!r}")
    source = as_source(array, name="array")
    ndim = source.ndim
    names = list(axis_names) if axis_names is not None else list(source.dims)
    if len(names) != ndim:
        raise UserError(f"axis_names: expected {ndim} names, got {len(names)}")
    spatial = source.shape[-2:]
    n_levels = 1
    while min(s // factor**n_levels for s in spatial) >= min_size:
        n_levels += 1
    group = zarr.open_group(str(path), mode="w", zarr_format=2)
    lead = source.shape[:-2]
    previous = None
    datasets = []
    for level in range(n_levels):
        f = factor**level
        shape = lead + tuple(s // f for s in spatial)
        level_chunks = tuple(chunks) if chunks is not None and level == 0 else (1,) * len(lead) + tuple(
            min(256, s) for s in shape[-2:]
        )
        out = group.create_array(name=str(level), shape=shape, chunks=level_chunks, dtype=source.dtype)
        for index in np.ndindex(*lead) if lead else [()]:
            plane = source.read(index + (slice(None), slice(None))) if level == 0 else _downsample(
                previous[index], factor, method
            )
            out[index] = plane
        previous = out
        scale = [1.0] * len(lead) + [float(f)] * 2
        translation = [0.0] * len(lead) + [(f - 1) / 2.0] * 2
        datasets.append({
            "path": str(level),
            "coordinateTransformations": [{"type": "scale", "scale": scale},
                                          {"type": "translation", "translation": translation}],
        })
    axes = [{"name": n, "type": "space" if i >= ndim - 3 else "time" if n.startswith("t") else "channel"}
            for i, n in enumerate(names)]
    group.attrs["multiscales"] = [{
        "version": "0.4", "name": str(getattr(array, "name", None) or "image"), "axes": axes,
        "datasets": datasets, "type": "mean" if method == "mean" else "nearest",
        "metadata": {"method": f"workbench.slicing.build_pyramid (factor {factor}, {method})"},
    }]
    return zarr.open_group(str(path), mode="r")
