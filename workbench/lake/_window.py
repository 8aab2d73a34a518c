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

The sentinel is also zarr's own ``fill_value``, so a chunk file that is absent reads as "missing" for
every dtype, never as 0.  Every chunk is written (``write_empty_chunks``), so ``workbench lake check``
can tell an absent chunk from an empty one, and each chunk ends in a CRC-32C (zarr 3's ``crc32c``
codec): a flipped bit or a truncated chunk raises :class:`LakeIntegrityError` naming window, feature,
chunk and file instead of decoding to a wrong value.  The metadata files (``zarr.json``) carry no
checksum of their own in zarr, so the commit holds a CRC-32 of each (:func:`manifest`), checked on open.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field

import numpy as np
import polars as pl
import pyarrow as pa

from workbench.lake._errors import LakeIntegrityError

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
    window: str = "?"
    lake_url: str | None = None
    _arrays: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _ffill: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _key_index: pl.DataFrame | None = field(default=None, repr=False)
    _key_dict: dict | None = field(default=None, repr=False)

    @classmethod
    def empty(cls) -> "WindowData":
        return cls(np.array([], dtype=object), np.array([], dtype=object), np.array([], dtype=np.int64), {})

    @classmethod
    def open(cls, url: str, manifest: dict | None = None, window: str = "?", lake_url: str | None = None):
        """Open a stored window version; ``manifest`` ({metadata file: crc}) is checked first."""
        import zarr

        where = f"window {window!r} ({url})"
        if manifest is not None:
            verify_manifest(url, manifest, where, lake_url)
        try:
            group = zarr.open_group(url, mode="r")
            dtypes, cats = {}, {}
            for name in group.array_keys():
                attrs = group[name].attrs
                if "feature" in attrs:
                    dtypes[attrs["feature"]] = attrs["lake_dtype"]
                    if attrs["lake_dtype"] in ("string", "categorical"):
                        cats[attrs["feature"]] = list(attrs["categories"])
        except Exception as exc:  # noqa: BLE001 - any failure to read stored metadata is damage
            raise LakeIntegrityError(f"{where}: its metadata cannot be read ({type(exc).__name__}: {exc})",
                                     url=lake_url, window=window, file=url) from None
        coords = {}
        for name in ("key", "key_components", "time"):
            coords[name] = read_array(url, name, where, lake_url, window=window)
        return cls(
            keys=np.asarray(coords["key"], dtype=object),
            components=np.asarray(coords["key_components"], dtype=object),
            times=np.asarray(coords["time"], dtype=np.int64),
            dtypes=dtypes,
            categories=cats,
            url=url,
            window=window,
            lake_url=lake_url,
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.keys), len(self.times))

    def raw(self, feature: str) -> np.ndarray:
        """The stored (key, time) array of ``feature`` (sentinel-coded); loaded once, then cached."""
        if feature not in self._arrays:
            if feature not in self.dtypes:
                raise KeyError(f"feature {feature!r} has no values in this window yet")
            where = f"window {self.window!r} ({self.url}) feature {feature!r}"
            self._arrays[feature] = read_array(self.url, var_name(feature), where, self.lake_url,
                                               window=self.window, feature=feature)
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

    def write(self, url: str) -> dict:
        """Write this window version as a new zarr v3 store laid out as an xarray Dataset (key, time).

        Returns its manifest (CRC-32 of each metadata file) for the commit that will name it."""
        import xarray as xr
        from zarr.codecs import Crc32cCodec, ZstdCodec

        def codecs():
            # Checksum last, over the compressed bytes: a damaged chunk fails before zstd sees it.
            return (ZstdCodec(level=3), Crc32cCodec())

        data_vars, encoding = {}, {}
        for feat, dtype in self.dtypes.items():
            v = var_name(feat)
            attrs = {"feature": feat, "lake_dtype": dtype}
            if dtype in ("string", "categorical"):
                attrs["categories"] = list(self.categories.get(feat, []))
            data_vars[v] = xr.Variable(("key", "time"), self._arrays[feat], attrs=attrs)
            missing = STORAGE[dtype][1]
            encoding[v] = {"_FillValue": missing, "fill_value": missing, "compressors": codecs()}
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
        encoding["time"] = {"units": "nanoseconds since 1970-01-01", "dtype": "int64", "compressors": codecs()}
        encoding["key"] = {"compressors": codecs()}
        encoding["key_components"] = {"compressors": codecs()}
        ds.to_zarr(url, mode="w-", zarr_format=3, consolidated=False, encoding=encoding, write_empty_chunks=True)
        return manifest(url)


def _open_fs(url: str):
    import fsspec

    return fsspec.core.url_to_fs(url)


def manifest(url: str) -> dict[str, str]:
    """CRC-32 of every ``zarr.json`` of a store (zarr checksums chunks, not metadata)."""
    fs, root = _open_fs(url)
    out = {}
    for path in sorted(fs.find(root)):
        rel = path[len(root.rstrip("/")) + 1:]
        if rel == "zarr.json" or rel.endswith("/zarr.json"):
            out[rel] = f"{zlib.crc32(fs.cat_file(path)):08x}"
    return out


def verify_manifest(url: str, expected: dict, where: str, lake_url: str | None) -> None:
    fs, root = _open_fs(url)
    for rel, crc in expected.items():
        path = f"{root.rstrip('/')}/{rel}"
        try:
            got = f"{zlib.crc32(fs.cat_file(path)):08x}"
        except FileNotFoundError:
            raise LakeIntegrityError(f"{where}: metadata file {rel} is missing", url=lake_url,
                                     file=f"{url}/{rel}") from None
        if got != crc:
            raise LakeIntegrityError(f"{where}: metadata file {rel} fails its checksum (crc32 {got}, the commit "
                                     f"says {crc})", url=lake_url, file=f"{url}/{rel}")


def chunk_files(arr) -> list[tuple[tuple[int, ...], str]]:
    """(chunk coordinates, key relative to the array) for every chunk of a zarr 3 array."""
    import itertools

    return [(c, "c/" + "/".join(map(str, c))) for c in itertools.product(*[range(n) for n in arr.cdata_shape])]


def read_array(url: str, name: str, where: str, lake_url: str | None, **ids) -> np.ndarray:
    """A whole stored array, or LakeIntegrityError naming the chunk and file that failed to decode."""
    import zarr

    try:
        arr = zarr.open_array(f"{url}/{name}", mode="r")
    except Exception as exc:  # noqa: BLE001 - unreadable metadata is damage, whatever zarr raises
        raise LakeIntegrityError(f"{where}: array {name!r} cannot be opened ({type(exc).__name__}: {exc})",
                                 url=lake_url, file=f"{url}/{name}/zarr.json", **ids) from None
    try:
        return arr[:]
    except Exception:  # noqa: BLE001 - find the chunk at fault (slow path, only on damage)
        for coords, key in chunk_files(arr):
            try:
                arr.get_block_selection(coords)
            except Exception as exc:  # noqa: BLE001
                raise LakeIntegrityError(
                    f"{where}: chunk {coords} in file {url}/{name}/{key} is damaged "
                    f"({type(exc).__name__}: {str(exc)[:120]})", url=lake_url, chunk=coords,
                    file=f"{url}/{name}/{key}", **ids) from None
        raise


def elapsed_ns(later: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """``later - earlier`` for int64 times with later >= earlier, exact as uint64 (the int64 difference
    overflows across the range, e.g. 2262 minus 1678)."""
    return later.astype(np.int64).view(np.uint64) - earlier.astype(np.int64).view(np.uint64)


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
        found[found] = elapsed_ns(event_ns[rows[found]], window.times[j[found]]) <= np.uint64(ttl_ns)
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
