"""World <-> data transforms of a layer: a scale and a translation per dimension.

A layer's data index ``i`` sits at the world coordinate ``w = i * scale + translate`` (pixel centres, as in
napari and OME-Zarr). Requests carry the inverse (world to data) so a worker can find the data index of the
world point; responses carry the forward transform of the displayed dims so the owner can place the slice
on the canvas. Two layers with different scales therefore line up in world space, whatever their shapes.

An affine is accepted where it is cheap: an axis-aligned one (diagonal linear part plus a translation),
which is exactly a scale and a translation. Rotations and shears would need resampling of every plane and
are refused with a message saying so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import UserError

__all__ = ["Transform"]


@dataclass(frozen=True)
class Transform:
    """``world = data * scale + translate``, elementwise over dimensions."""

    scale: tuple[float, ...]
    translate: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.scale) != len(self.translate):
            raise UserError(f"transform: scale has {len(self.scale)} entries but translate {len(self.translate)}")
        if not all(np.isfinite(s) and s > 0 for s in self.scale):
            raise UserError(f"scale: expected positive finite numbers, got {self.scale}; flip an axis in the data instead")
        if not all(np.isfinite(t) for t in self.translate):
            raise UserError(f"translate: expected finite numbers, got {self.translate}")

    @classmethod
    def identity(cls, ndim: int) -> Transform:
        """The transform of a layer whose data index is its world coordinate."""
        return cls((1.0,) * ndim, (0.0,) * ndim)

    @classmethod
    def make(
        cls, ndim: int, *, scale: Sequence[float] | None = None, translate: Sequence[float] | None = None,
        affine: Any = None,
    ) -> Transform:
        """Build from user arguments (``None`` means identity), checking lengths against ``ndim``."""
        if affine is not None:
            if scale is not None or translate is not None:
                raise UserError("affine: pass either affine or scale/translate, not both")
            return cls.from_affine(affine, ndim)
        scale = (1.0,) * ndim if scale is None else tuple(float(s) for s in scale)
        translate = (0.0,) * ndim if translate is None else tuple(float(t) for t in translate)
        if len(scale) != ndim or len(translate) != ndim:
            raise UserError(
                f"scale/translate: expected {ndim} numbers each (one per dim), got {len(scale)} and {len(translate)}"
            )
        return cls(scale, translate)

    @classmethod
    def from_affine(cls, matrix: Any, ndim: int) -> Transform:
        """An ``(ndim + 1) x (ndim + 1)`` homogeneous affine that is axis-aligned (diagonal plus translation)."""
        m = np.asarray(matrix, dtype=float)
        if m.shape != (ndim + 1, ndim + 1):
            raise UserError(f"affine: expected a {ndim + 1} x {ndim + 1} homogeneous matrix, got shape {m.shape}")
        linear = m[:ndim, :ndim]
        if not np.allclose(linear, np.diag(np.diag(linear))) or not np.allclose(m[ndim], np.eye(ndim + 1)[ndim]):
            raise UserError(
                "affine: only axis-aligned affines (scale and translation) are supported; rotations and shears "
                "need resampling every plane; resample the data first"
            )
        return cls(tuple(float(v) for v in np.diag(linear)), tuple(float(v) for v in m[:ndim, ndim]))

    @property
    def ndim(self) -> int:
        return len(self.scale)

    @property
    def affine(self) -> np.ndarray:
        """The homogeneous matrix of this transform."""
        m = np.eye(self.ndim + 1)
        m[: self.ndim, : self.ndim] = np.diag(self.scale)
        m[: self.ndim, self.ndim] = self.translate
        return m

    def to_world(self, data_coords: Any) -> np.ndarray:
        """Data coordinates (``... x ndim``) to world coordinates."""
        return np.asarray(data_coords, dtype=float) * np.asarray(self.scale) + np.asarray(self.translate)

    def to_data(self, world_coords: Any) -> np.ndarray:
        """World coordinates (``... x ndim``) to data coordinates (floats; round for an index)."""
        return (np.asarray(world_coords, dtype=float) - np.asarray(self.translate)) / np.asarray(self.scale)

    def inverse(self) -> Transform:
        """The transform that undoes this one."""
        inv = tuple(1.0 / s for s in self.scale)
        return Transform(inv, tuple(-t / s for t, s in zip(self.translate, self.scale)))

    def compose(self, inner: Transform) -> Transform:
        """``self after inner``: first ``inner``, then ``self``."""
        if inner.ndim != self.ndim:
            raise UserError(f"transform: cannot compose {self.ndim}-D with {inner.ndim}-D")
        return Transform(
            tuple(a * b for a, b in zip(self.scale, inner.scale)),
            tuple(a * t + b for a, t, b in zip(self.scale, inner.translate, self.translate)),
        )

    def subset(self, dims: Sequence[int]) -> Transform:
        """The transform restricted to ``dims`` (for instance the two displayed dims)."""
        return Transform(tuple(self.scale[d] for d in dims), tuple(self.translate[d] for d in dims))
