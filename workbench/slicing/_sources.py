"""One small adapter over every array kind the viewer accepts: numpy, dask, zarr v3, xarray, URLs.

The viewer only ever needs a shape, a dtype, names and coordinate labels for the sliders, and a way to
read one plane as a numpy array. Keeping those five things behind one class keeps the slicing function
free of ``isinstance`` chains.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.errors import UserError

# A source's cache identity: id() can be reused once a source is garbage collected, a counter cannot.
_UIDS = itertools.count(1)


@dataclass(eq=False)
class ArraySource:
    """A read-only n-D array as the viewer sees it.

    ``dims`` names every dimension (xarray's names, else ``dim_0``...); ``coords`` maps a dimension
    name to its coordinate values when the data carries them; ``kind`` says where the data came from.
    """

    array: Any
    shape: tuple[int, ...]
    dtype: np.dtype
    dims: tuple[str, ...]
    coords: dict[str, np.ndarray]
    kind: str
    uid: int = field(default_factory=lambda: next(_UIDS))

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.shape)

    def read(self, key: tuple[int | slice, ...]) -> np.ndarray:
        """Read ``array[key]`` into memory as a numpy array (dask computes, zarr fetches chunks)."""
        return read_array(self.kind, self.array, key)

    @property
    def in_memory(self) -> bool:
        """Whether reads are memory copies (numpy), so slicing is known to be fast."""
        return self.kind in ("numpy", "xarray")

    def label(self, dim: int, index: int) -> str:
        """A slider label: the coordinate value at ``index`` when there is one, else the index."""
        name = self.dims[dim]
        values = self.coords.get(name)
        if values is None:
            return f"{name} = {index}"
        value = values[index]
        if isinstance(value, np.datetime64):
            return f"{name} = {np.datetime_as_string(value, unit='auto')}"
        if isinstance(value, (float, np.floating)):
            return f"{name} = {float(value):.4g}"
        return f"{name} = {value}"


def read_array(kind: str, array: Any, key: tuple) -> np.ndarray:
    """``array[key]`` as numpy. A function, not a method, so a worker need not hold the ArraySource."""
    part = array[key]
    if kind == "dask":
        # The synchronous scheduler: the viewer already runs this on its own worker thread, and a
        # thread pool inside a thread pool only adds contention on a small machine.
        part = part.compute(scheduler="sync")
    return np.asarray(part)


def as_source(data: Any, *, name: str = "data") -> ArraySource:
    """Wrap ``data`` (numpy, dask, zarr array, xarray DataArray, or a zarr path/URL) as an ArraySource.

    Raises ``TypeError`` naming ``name`` for anything else, and ``UserError`` for fewer than 2 dims.
    """
    if isinstance(data, ArraySource):
        return data
    if isinstance(data, (str, os.PathLike)):
        import zarr

        # A local directory or any fsspec URL (file://, memory://, s3://...) holding one zarr array.
        data = zarr.open_array(str(data), mode="r")
    module = type(data).__module__.split(".")[0]
    dims: tuple[str, ...] | None = None
    coords: dict[str, np.ndarray] = {}
    if module == "xarray":
        if not hasattr(data, "dims") or not hasattr(data, "data"):
            raise TypeError(f"{name}: got an xarray {type(data).__name__}; pass a DataArray (ds['var']), not a Dataset")
        dims = tuple(str(d) for d in data.dims)
        for dim in dims:
            if dim in data.coords:
                coords[dim] = np.asarray(data.coords[dim].values)
        inner = data.data
        kind = "dask" if type(inner).__module__.startswith("dask") else "xarray"
        array = inner if kind == "dask" else np.asarray(inner)
    elif module == "dask":
        kind, array = "dask", data
    elif module == "zarr":
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            raise TypeError(f"{name}: got a zarr {type(data).__name__}; pass an array (group['name']), not a group")
        kind, array = "zarr", data
    elif isinstance(data, np.ndarray):
        kind, array = "numpy", data
    elif hasattr(data, "shape") and hasattr(data, "dtype") and hasattr(data, "__getitem__"):
        # Duck arrays (the slow-store wrapper, h5py datasets, ...) are read with __getitem__ like zarr.
        kind, array = "array", data
    elif isinstance(data, (list, tuple)):
        kind, array = "numpy", np.asarray(data)
    else:
        raise TypeError(
            f"{name}: expected a numpy, dask, zarr or xarray array (or a zarr path/URL), got "
            f"{type(data).__name__}. Convert it with numpy.asarray(...) or open it with zarr.open_array(...)."
        )
    shape = tuple(int(s) for s in array.shape)
    if len(shape) < 2:
        raise UserError(f"{name}: expected at least 2 dimensions to display, got shape {shape}; add an axis with data[None]")
    if any(s == 0 for s in shape):
        raise UserError(f"{name}: every dimension needs at least one element, got shape {shape}")
    if dims is None:
        dims = tuple(f"dim_{i}" for i in range(len(shape)))
    return ArraySource(array=array, shape=shape, dtype=np.dtype(array.dtype), dims=dims, coords=coords, kind=kind)
