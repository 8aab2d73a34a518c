"""Storage: a batch merged into new window versions, its deltas and media payloads, published as one commit.

Owner of the lake's write path (see :mod:`._store` for the commit rule): :func:`write` validates a frame,
:func:`merge_window` upserts it into dense (key, time) arrays and lists the changed cells (the deltas),
:func:`commit_updates` writes the new zarr stores, the media payloads and the delta file, all made durable
before the one commit that names them. :class:`WriteReport` says what a write changed.
"""

from __future__ import annotations

import io
import zlib
from dataclasses import dataclass

import numpy as np
import polars as pl

from workbench.errors import UserError
from workbench.lake._errors import LakeIntegrityError
from workbench.lake._registry import Registry
from workbench.lake._store import fsync_tree
from workbench.lake._validate import prepare_frame
from workbench.lake._window import WindowData, empty, valid_mask
from workbench.lake.media import is_media, prepare_media, storage_dtype, write_blobs


def _names(value) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@dataclass
class WriteReport:
    """What one committed write changed (``commit`` is None when the batch changed nothing)."""

    commit: int | None
    window: str
    values_written: int
    values_changed: int
    new_keys: int
    interpreted: "object | None" = None  # the RunReport of the interpretation functions the batch's media triggered


def write(lake, frame: pl.DataFrame, window: str = "day", entities=("customer",), time: str = "time",
          context=(), attributes=(), window_start: str | None = None, interpret: bool = True) -> WriteReport:
    """:meth:`FeatureLake.write` (documented there), for ``lake``."""
    reserved = [c for c in (*_names(entities), *_names(context), *_names(attributes)) if c in ("key", "time")]
    if reserved:
        raise UserError(f"key column(s) {reserved} use a reserved name: function inputs already carry 'key' "
                        f"(the digest) and 'time' (the window time); rename the column, e.g. to 'time_of_day'")
    with lake.writing():
        head = lake._head()
        reg = lake._registry_of(head)
        blobs: dict[str, bytes] = {}
        frame = prepare_media(frame, reg, blobs)
        batch = prepare_frame(frame, reg, window, entities, time, context, attributes, window_start)
        commit, stats = commit_updates(lake, head, reg, {window: batch}, operation="write", blobs=blobs)
        interpreted = None
        if interpret and commit is not None and interpretations_of(reg, batch[1]):
            # The design's ingestion layer: a media value is interpreted as it arrives, by the same
            # resolver and router that run every function (so the outputs are ordinary features).
            interpreted = lake.run_pending()
    return WriteReport(commit["id"] if commit else None, window, stats["written"], stats["changed"],
                       stats["new_keys"], interpreted)


def interpretations_of(reg: Registry, updates: dict) -> list[str]:
    """Interpretation functions that read a media feature of this batch."""
    media = {f for f in updates if is_media(reg.feature(f).dtype)}
    return [n for n, f in reg.functions.items() if f.role == "interpretation" and media & set(f.inputs)]


def merge_window(lake, base: WindowData, reg: Registry, batch, window: str):
    """New dense arrays for one window with ``batch`` upserted, and the deltas (changed cells).

    ``batch`` is (keys[__kid, __digest, __components], {feature: DataFrame[__kid, __t, value]}).
    """
    keys_in, updates = batch
    joined = keys_in.join(base.key_index(), on="__digest", how="left")
    fresh = joined.filter(pl.col("__kidx").is_null())
    k0, t0 = base.shape
    keys = np.concatenate([base.keys, fresh["__digest"].to_numpy().astype(object)])
    components = np.concatenate([base.components, fresh["__components"].to_numpy().astype(object)])
    # batch key id -> row in the merged window (existing rows keep their place, new keys go last)
    kid_to_kidx = np.full(keys_in.height, -1, dtype=np.int64)
    old = joined.filter(pl.col("__kidx").is_not_null())
    kid_to_kidx[old["__kid"].to_numpy()] = old["__kidx"].to_numpy()
    kid_to_kidx[fresh["__kid"].to_numpy()] = k0 + np.arange(fresh.height)
    digest_by_kid = keys_in.sort("__kid")["__digest"]
    # Cells to clear (null values) never add a time column: an absent time has nothing to clear.
    all_t = np.concatenate([u.filter(pl.col("value").is_not_null())["__t"].to_numpy() for u in updates.values()])
    times = np.union1d(base.times, all_t).astype(np.int64)
    shape = (len(keys), len(times))
    same_shape = shape == (k0, t0)
    tpos_old = np.searchsorted(times, base.times)
    out = WindowData(keys, components, times, dict(base.dtypes), {k: list(v) for k, v in base.categories.items()})
    deltas, written, changed = [], 0, 0
    for feat in sorted(set(base.dtypes) | set(updates)):
        dtype = storage_dtype(reg.feature(feat).dtype)  # a media cell stores its reference as text
        out.dtypes[feat] = dtype
        if feat in base.dtypes:
            prev = base.raw(feat)
            if same_shape:
                arr = prev.copy() if feat in updates else prev
            else:
                arr = empty(dtype, shape)
                arr[:k0, tpos_old] = prev
        else:
            arr = empty(dtype, shape)
        if feat in updates:
            u = updates[feat]
            kid = u["__kid"].to_numpy()
            kidx = kid_to_kidx[kid]
            t_ns = u["__t"].to_numpy()
            tidx = np.searchsorted(times, t_ns)
            # A null value (only function outputs carry them) clears the cell: a recomputed output that
            # is now "no value" must not keep the value an earlier computation stored.
            clear = u["value"].is_null().to_numpy()
            new = empty(dtype, len(u))
            if (~clear).any():
                new[~clear] = encode(out, feat, dtype, u["value"].filter(~clear))
            before = arr[kidx, tidx]
            had = valid_mask(dtype, before)
            diff = np.where(clear, had, ~had | (before != new))
            arr[kidx, tidx] = new
            written += int((~clear).sum())
            changed += int(diff.sum())
            if diff.any():
                deltas.append(pl.DataFrame({
                    "key": digest_by_kid.gather(kid[diff]),
                    "window": pl.Series([window], dtype=pl.String).new_from_index(0, int(diff.sum())),
                    "feature": pl.Series([feat], dtype=pl.String).new_from_index(0, int(diff.sum())),
                    "time": pl.Series(t_ns[diff]).cast(pl.Datetime("ns")),
                }))
        out._arrays[feat] = arr
    return out, deltas, {"written": written, "changed": changed, "new_keys": fresh.height}


def encode(out: WindowData, feat: str, dtype: str, values: pl.Series) -> np.ndarray:
    if dtype == "float":
        return values.cast(pl.Float64).to_numpy()
    if dtype == "int":
        return values.cast(pl.Int64).to_numpy()
    if dtype == "bool":
        return values.cast(pl.Int8).to_numpy().astype(np.int8)
    cats = out.categories.setdefault(feat, [])
    lookup = {c: i for i, c in enumerate(cats)}
    for v in values.unique(maintain_order=True).to_list():
        if v not in lookup:
            lookup[v] = len(cats)
            cats.append(v)
    return values.replace_strict(lookup, return_dtype=pl.Int32).to_numpy().astype(np.int32)


def commit_updates(lake, head: dict, reg: Registry, updates_by_window: dict, operation: str,
                    processed_through: int | None = None, blobs: dict | None = None, subject: str | None = None,
                    drop: set | None = None, registry_after: Registry | None = None):
    """Merge, write and publish one batch per window. ``drop``: features whose arrays the new window
    versions leave out (``delete_feature``), with ``registry_after`` the registry the commit records."""
    windows = dict(head["windows"])
    all_deltas, stats = [], {"written": 0, "changed": 0, "new_keys": 0}
    new_versions, manifests = {}, {}
    for window, batch in updates_by_window.items():
        if not batch[1]:
            continue
        base = lake._window(head, window)
        merged, deltas, s = merge_window(lake, base, reg, batch, window)
        for k in stats:
            stats[k] += s[k]
        dropped = False
        for feat in drop or ():
            if feat in merged.dtypes:
                for d in (merged.dtypes, merged._arrays, merged.categories):
                    d.pop(feat, None)
                dropped = True
        if deltas or dropped:
            rel = lake._log.new_object_name(f"windows/{window}", head["id"] + 1, ".zarr")
            manifests[rel] = merged.write(lake._log.url_of(rel))
            if lake._log.local:
                fsync_tree(lake._log.path(rel))  # data reaches the disk before the commit naming it
            merged.url, merged.window, merged.lake_url = lake._log.url_of(rel), window, lake.url
            windows[window] = rel
            new_versions[rel] = merged
            all_deltas.extend(deltas)
    advance = processed_through is not None and processed_through != head["processed_through"]
    if not all_deltas and not advance and windows == head["windows"]:
        return None, stats  # idempotent: the same batch twice leaves no trace
    media_extra = {}
    if blobs and all_deltas:
        # Payloads reach the disk before the commit whose window versions reference them.
        new = write_blobs(lake._log, blobs)
        media_extra = {"media": sorted(blobs), "media_written": len(new)}
    delta_rel, n = None, 0
    if all_deltas:
        table = pl.concat(all_deltas)
        n = table.height
        delta_rel = lake._log.new_object_name("deltas", head["id"] + 1, ".parquet")
        buf = io.BytesIO()
        table.write_parquet(buf)
        lake._log.write_bytes_atomic(delta_rel, buf.getvalue())
        delta_crc = f"{zlib.crc32(buf.getvalue()):08x}"
    commit = lake._publish(operation=operation, registry=registry_after or reg, windows=windows, deltas=delta_rel,
                           n_deltas=n,
                           processed_through=head["processed_through"] if processed_through is None
                           else processed_through, parent=head["id"], manifests=manifests,
                           extra={"summary": {k: int(v) for k, v in stats.items()}, **media_extra,
                                  **({"subject": subject} if subject else {}),
                                  **({"deltas_crc": delta_crc} if delta_rel else {})})
    lake._versions.update(new_versions)
    return commit, stats


def deltas(lake, pending_only: bool = False) -> pl.DataFrame:
    """:meth:`FeatureLake.deltas` (documented there), for ``lake``."""
    head = lake._head()
    after = head["processed_through"] if pending_only else 0
    frames = []
    for c in lake._log.commits_after(after):
        if c["deltas"]:
            frames.append(read_deltas(lake, c).with_columns(pl.lit(c["id"], pl.Int64).alias("commit")))
    if not frames:
        return pl.DataFrame(schema={"key": pl.String, "window": pl.String, "feature": pl.String,
                                    "time": pl.Datetime("ns"), "commit": pl.Int64})
    return pl.concat(frames)


def read_deltas(lake, commit: dict) -> pl.DataFrame:
    """The delta table a commit names, checked against the CRC-32 the commit holds."""
    rel = commit["deltas"]
    try:
        raw = lake._log.fs.cat_file(lake._log.path(rel))
    except FileNotFoundError:
        raise LakeIntegrityError(f"delta file {rel} named by commit {commit['id']} is missing", url=lake.url,
                                 file=rel) from None
    want = commit.get("deltas_crc")
    if want is not None and f"{zlib.crc32(raw):08x}" != want:
        raise LakeIntegrityError(f"delta file {rel} of commit {commit['id']} fails its checksum", url=lake.url,
                                 file=rel)
    try:
        return pl.read_parquet(io.BytesIO(raw))
    except Exception as exc:  # noqa: BLE001 - unreadable parquet is damage
        raise LakeIntegrityError(f"delta file {rel} of commit {commit['id']} cannot be read ({exc})",
                                 url=lake.url, file=rel) from None


def merge_batches(batches):
    """Concatenate several (keys, updates) batches of one window, renumbering key ids."""
    if len(batches) == 1:
        return batches[0]
    digests = pl.concat([k.select("__digest") for k, _ in batches]).unique(maintain_order=True)
    keys = digests.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("__new"))
    all_keys = pl.concat([k for k, _ in batches]).unique("__digest", maintain_order=True).join(
        keys, on="__digest").select(pl.col("__new").alias("__kid"), "__digest", "__components")
    updates: dict[str, pl.DataFrame] = {}
    for k, ups in batches:
        remap = k.join(keys, on="__digest").select("__kid", "__new")
        for feat, u in ups.items():
            u = u.join(remap, on="__kid").select(pl.col("__new").alias("__kid"), "__t", "value")
            updates[feat] = pl.concat([updates[feat], u]) if feat in updates else u
    return all_keys, updates
