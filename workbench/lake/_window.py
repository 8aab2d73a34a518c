"""One window's data as dense (key, time) arrays, its zarr layout, and the point-in-time kernel.

Each feature is one (key, time) array.  Missing cells hold a per-dtype sentinel that is also the zarr
``_FillValue``, so xarray's lazy view masks them to NaN while the lake's own readers get raw arrays:

==============  ============  =========
dtype           stored as     missing
==============  ============  =========
float           float64       NaN
int             int64         INT64_MIN
bool            int8          -1
string / categ  int32 code    -1  (the code's text lives in the variable's ``categories`` attribute)
==============  ============  =========
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

INT_MISSING = np.iinfo(np.int64).min

STORAGE = {
    "float": (np.float64, np.nan),
    "int": (np.int64, INT_MISSING),
    "bool": (np.int8, -1),
    "string": (np.int32, -1),
    "categorical": (np.int32, -1),
}


def var_name(feature: str) -> str:
    """Zarr array names cannot contain '/', feature names always do: '/a/feature/b/c' -> 'a.feature.b.c'."""
    return feature.strip("/").replace("/", ".")


def feature_name(var: str) -> str:
    return "/" + var.replace(".", "/")


def valid_mask(dtype: str, raw: np.ndarray) -> np.ndarray:
    if dtype == "float":
        return ~np.isnan(raw)
    return raw != STORAGE[dtype][1]


def empty(dtype: str, shape) -> np.ndarray:
    np_dtype, missing = STORAGE[dtype]
    return np.full(shape, missing, dtype=np_dtype)


@dataclass
class WindowData:
    """A window version held in memory (or lazily loaded feature by feature from its zarr store)."""

    keys: np.ndarray  # object array of digests, insertion order
    components: np.ndarray  # object array of JSON texts, aligned with keys
    times: np.ndarray  # int64 ns, sorted ascending
    dtypes: dict[str, str]  # feature -> registry dtype, for the features stored here
    categories: dict[str, list[str]] = field(default_factory=dict)
    url: str | None = None
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _ffill: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _key_index: pl.DataFrame | None = field(default=None, repr=False)
    _key_dict: dict | None = field(default=None, repr=False)

    @classmethod
    def empty(cls) -> "WindowData":
        return cls(np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.int64), {})

    @classmethod
    def open(cls, url: str) -> "WindowData":
        import zarr

        group = zarr.open_group(url, mode="r")
        dtypes, cats = {}, {}
        for name in group.array_keys():
            attrs = group[name].attrs
            if "feature" in attrs:
                dtypes[attrs["feature"]] = attrs["lake_dtype"]
                if attrs["lake_dtype"] in ("string", "categorical"):
                    cats[attrs["feature"]] = list(attrs["categories"])
        return cls(
            keys=np.asarray(group["key"][:], dtype=object),
            components=np.asarray(group["key_components"][:], dtype=object),
            times=np.asarray(group["time"][:], dtype=np.int64),
            dtypes=dtypes,
            categories=cats,
            url=url,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.keys), len(self.times))

    def raw(self, feature: str) -> np.ndarray:
        """The stored (key, time) array of ``feature`` (sentinel-coded); loaded once, then cached."""
        if feature not in self._arrays:
            if feature not in self.dtypes:
                raise KeyError(f"feature {feature!r} has no values in this window yet")
            import zarr

            self._arrays[feature] = zarr.open_array(f"{self.url}/{var_name(feature)}", mode="r")[:]
        return self._arrays[feature]

    def ffill_index(self, feature: str) -> np.ndarray:
        """For each (key, t): the largest time index <= t where the feature has a value, else -1.

        This turns "latest value at or before t" into one array lookup, which is what makes the
        point-in-time join a gather instead of a search.
        """
        if feature not in self._ffill:
            valid = valid_mask(self.dtypes[feature], self.raw(feature))
            idx = np.where(valid, np.arange(valid.shape[1], dtype=np.int32)[None, :], np.int32(-1))
            np.maximum.accumulate(idx, axis=1, out=idx)
            self._ffill[feature] = idx
        return self._ffill[feature]

    def key_index(self) -> pl.DataFrame:
        if self._key_index is None:
            self._key_index = pl.DataFrame(
                {"__digest": pl.Series(self.keys.astype(str), dtype=pl.String),
                 "__kidx": np.arange(len(self.keys), dtype=np.int64)}
            )
        return self._key_index

    def key_position(self, digest: str) -> int:
        if self._key_dict is None:
            self._key_dict = {k: i for i, k in enumerate(self.keys)}
        return self._key_dict.get(digest, -1)

    def write(self, url: str) -> None:
        """Write this window version as a new zarr v3 store laid out as an xarray Dataset (key, time)."""
        import xarray as xr

        data_vars, encoding = {}, {}
        for feat, dtype in self.dtypes.items():
            v = var_name(feat)
            attrs = {"feature": feat, "lake_dtype": dtype}
            if dtype in ("string", "categorical"):
                attrs["categories"] = list(self.categories.get(feat, []))
            data_vars[v] = xr.Variable(("key", "time"), self._arrays[feat], attrs=attrs)
            encoding[v] = {"_FillValue": STORAGE[dtype][1]}
            # Chunk along time so a reader of recent windows touches only recent chunks.
            k, t = self.shape
            encoding[v]["chunks"] = (max(1, min(k, 65536)), max(1, min(t, max(1, 2**22 // max(1, min(k, 65536))))))
        ds = xr.Dataset(
            data_vars,
            coords={
                "key": ("key", self.keys.astype(object)),
                "time": ("time", self.times.astype("datetime64[ns]")),
                "key_components": ("key", self.components.astype(object)),
            },
        )
        encoding["time"] = {"units": "nanoseconds since 1970-01-01", "dtype": "int64"}
        ds.to_zarr(url, mode="w-", zarr_format=3, consolidated=False, encoding=encoding)


def gather(window: WindowData, feature: str, kidx: np.ndarray, event_ns: np.ndarray, ttl_ns: int | None):
    """Point-in-time lookup: for each (kidx, event time) the latest stored value at or before the event
    time and, with ``ttl_ns``, no older than ``event - ttl``.  Returns (raw values, valid mask)."""
    n = len(kidx)
    out_dtype, missing = STORAGE[window.dtypes[feature]]
    values = np.full(n, missing, dtype=out_dtype)
    ok = np.zeros(n, dtype=bool)
    if n == 0 or window.shape[1] == 0:
        return values, ok
    t = np.searchsorted(window.times, event_ns, side="right") - 1
    ok = (kidx >= 0) & (t >= 0)
    rows = np.flatnonzero(ok)
    j = window.ffill_index(feature)[kidx[rows], t[rows]]
    found = j >= 0
    if ttl_ns is not None:
        found[found] = window.times[j[found]] >= event_ns[rows[found]] - ttl_ns
    rows, j = rows[found], j[found]
    ok[:] = False
    ok[rows] = True
    values[rows] = window.raw(feature)[kidx[rows], j]
    return values, ok


def to_series(name: str, dtype: str, values: np.ndarray, ok: np.ndarray, categories=None) -> pl.Series:
    """Raw sentinel-coded values -> a polars Series with nulls (via Arrow masks, no Python loop)."""
    mask = ~ok
    if dtype == "float":
        arr = pa.array(values, mask=mask, type=pa.float64())
    elif dtype == "int":
        arr = pa.array(values, mask=mask, type=pa.int64())
    elif dtype == "bool":
        arr = pa.array(values.astype(bool), mask=mask, type=pa.bool_())
    else:
        cats = pa.array(list(categories or []), type=pa.string())
        codes = pa.array(np.where(ok, values, 0).astype(np.int32), mask=mask, type=pa.int32())
        arr = pa.DictionaryArray.from_arrays(codes, cats).cast(pa.string()) if len(cats) else pa.nulls(len(values), pa.string())
    return pl.Series(name, pl.from_arrow(arr))


def components_frame(components: np.ndarray) -> pl.DataFrame:
    """Decode JSON key components into columns: entity/context/attribute names as columns."""
    rows = []
    for text in components:
        c = json.loads(text)
        rows.append({**c["entities"], **c["context"], **c["attributes"]})
    return pl.DataFrame(rows) if rows else pl.DataFrame()
