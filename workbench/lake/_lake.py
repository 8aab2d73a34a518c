"""FeatureLake: registry + zarr storage + commit/delta log + resolvers + router + point-in-time queries."""

from __future__ import annotations

import contextlib
import datetime as _dt
import io
import re
import threading
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import polars as pl

from workbench.lake._keys import WINDOWS, EventKey
from workbench.lake._registry import (
    DTYPES,
    KINDS,
    FeatureSpec,
    FunctionSpec,
    HttpInvocation,
    Registry,
    callable_ref,
    check_feature_name,
    check_function_name,
)
from workbench.errors import UserError
from workbench.lake._errors import LakeIntegrityError
from workbench.lake._leases import ReaderLease, VersionRetired
from workbench.lake._pit import gather  # point-in-time look-up; walks back per row, no index needed cold
from workbench.lake._router import invoke
from workbench.lake._store import CommitLog, WriterLock, fsync_tree
from workbench.lake._commands import expand
from workbench.lake.media import MEDIA, check_how, is_media, prepare_media, resolve, resolve_series, storage_dtype, write_blobs
from workbench.lake._validate import (
    TIME_RANGE_TEXT,
    LakeValidationError,
    coerce_values,
    instant_ns,
    key_table,
    out_of_range_rows,
    prepare_frame,
    time_to_ns,
)
from workbench.lake._window import (
    WindowData,
    components_frame,
    elapsed_ns,
    empty,
    to_series,
    valid_mask,
)

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|ms|s|m|h|d|w)\s*$")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9,
            "d": 86400 * 10**9, "w": 7 * 86400 * 10**9}


def _duration_ns(value, argname: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.timedelta):
        ns = int(round(value.total_seconds() * 1e9))
    elif isinstance(value, np.timedelta64):
        ns = int(value.astype("timedelta64[ns]").astype(np.int64))
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        ns = int(float(m[1]) * _UNIT_NS[m[2]])
    else:
        raise TypeError(f"{argname}={value!r}; expected a datetime.timedelta or text like '7d', '12h', '30m'")
    ns = min(ns, 2**64 - 1)  # longer than the whole storable span (2**64 ns) means no limit
    if ns < 0:
        raise UserError(f"{argname}={value!r} is negative; a time-to-live is how far back a value may be, "
                        f"pass a positive duration such as '7d' (or None for no limit)")
    return ns


_instant_ns = instant_ns


def _effective_ttl(ttl_ns: int | None, times: np.ndarray, event_ns: np.ndarray) -> int | None:
    """None (no limit) for a ttl that reaches back past every stored time from every event: the same
    answer, and ``event - ttl`` is then never formed, so it cannot overflow int64."""
    if ttl_ns is None or len(times) == 0 or len(event_ns) == 0:
        return ttl_ns
    span = int(np.max(event_ns)) - int(times[0])  # Python ints: exact across the whole range
    return None if ttl_ns >= span else ttl_ns


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
    interpreted: "RunReport | None" = None  # the interpretation functions the batch's media triggered


@dataclass
class RunReport:
    """What :meth:`FeatureLake.run_pending` did: one entry per function call, grouped in rounds.

    A round's outputs are committed together, so ``round_values_changed`` is the number of stored values
    that round's commit changed (shared by the calls of the round)."""

    calls: list[dict] = field(default_factory=list)
    rounds: int = 0
    deltas_processed: int = 0
    commits: list[int] = field(default_factory=list)

    def to_frame(self) -> pl.DataFrame:
        schema = {"round": pl.Int64, "function": pl.String, "window": pl.String, "keys": pl.Int64,
                  "rows_in": pl.Int64, "rows_out": pl.Int64, "round_values_changed": pl.Int64, "routed": pl.String}
        return pl.DataFrame(self.calls, schema=schema)

    def __repr__(self) -> str:
        names = sorted({c["function"] for c in self.calls})
        return (f"RunReport(rounds={self.rounds}, calls={len(self.calls)}, functions={names}, "
                f"deltas_processed={self.deltas_processed}, commits={self.commits})")


class FeatureLake:
    """A feature lake: features keyed by :class:`EventKey` x window time, stored per window as an xarray
    Dataset (dims key, time) in zarr v3, versioned by an atomic commit log, with a registry of features
    and of the functions that compute them.

    Open with :meth:`FeatureLake.open`.  One writer at a time; any number of readers.
    """

    def __init__(self, path, client=None, task_timeout_s: float = 600.0):
        self.url = str(path)
        self.client = client
        self.task_timeout_s = task_timeout_s
        self._log = CommitLog(self.url)
        self._lock = WriterLock(self._log)
        self._versions: dict[str, WindowData] = {}
        self._lease = ReaderLease(self._log)
        self._callables: dict[str, Callable] = {}  # function name -> callable bound in this process
        self._mutex = threading.RLock()

    @classmethod
    def open(cls, path, client=None, *, force_new: bool = False) -> "FeatureLake":
        """Open the lake at ``path`` (a local directory or any fsspec URL), creating it when missing.

        ``client``: a ``dask.distributed.Client`` or a scheduler address (``"tcp://host:8786"``); with
        one, function calls (``run_pending``) and backfills run as tasks on its cluster.  Functions registered with a re-importable callable
        (a module-level function) are bound again automatically; others must be registered again in
        each new process before ``run_pending`` can call them.

        A damaged newest commit is skipped with a :class:`LakeIntegrityWarning` (``lake.skipped_commits``
        lists what was passed over).  When ``path`` holds lake data but no readable commit, open refuses
        with :class:`LakeIntegrityError` rather than start an empty lake over it; ``force_new=True``
        starts one anyway (the old objects stay on disk until ``vacuum``).
        """
        if not isinstance(path, (str,)) and not hasattr(path, "__fspath__"):
            raise TypeError(f"path must be a directory path or fsspec URL, got {type(path).__name__}")
        if isinstance(client, str):
            import distributed

            client = distributed.Client(client)
        elif client is not None and not hasattr(client, "submit"):
            raise TypeError(f"client must be a dask.distributed.Client or a scheduler address, got {client!r}")
        lake = cls(str(path), client=client)
        if lake._log.head() is None:
            with lake._lock:
                if lake._log.head() is None:
                    leftovers = lake._leftover_data()
                    if leftovers and not force_new:
                        raise LakeIntegrityError(
                            f"{lake.url} holds lake data ({', '.join(leftovers[:3])}) but no readable commit; "
                            f"refusing to start a new lake over it. Pass force_new=True to start one anyway",
                            url=lake.url)
                    lake._publish(operation="create", registry=Registry(), windows={}, deltas=None, n_deltas=0,
                                  processed_through=0, parent=None)
        return lake

    def _leftover_data(self) -> list[str]:
        found = [f"commits/{p.rstrip('/').rsplit('/', 1)[-1]}" for p in
                 self._log.fs.ls(self._log.path("commits"), detail=False)
                 if not p.rstrip("/").rsplit("/", 1)[-1].startswith(".")]
        for d in ("windows", "deltas", "media"):
            if self._log.fs.exists(self._log.path(d)):
                found += [f"{d}/{p.rstrip('/').rsplit('/', 1)[-1]}" for p in self._log.fs.ls(self._log.path(d), detail=False)]
        return found

    @property
    def skipped_commits(self) -> dict[str, str]:
        """Commit files passed over as damaged (file -> why); empty for a healthy lake."""
        self._log.head()
        return dict(self._log.skipped)

    def close(self) -> None:
        """Drop this object's reader lease (also done when it is garbage-collected or the process ends)."""
        self._lease.close()
        self._versions.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- state -------------------------------------------------------------------------------------
    def _head(self) -> dict:
        # Under the writer lock nobody else can commit, but read the listing anyway: the base of a write
        # must be the true head, never a cached one.
        head = self._log.head(fresh=self._lock._depth > 0)
        if head is None:
            raise RuntimeError(f"{self.url} is not a feature lake (no commits); open it with FeatureLake.open")
        return head

    @property
    def registry(self) -> Registry:
        """The registry as of the latest commit (functions bound to callables of this process)."""
        reg = self._registry_of(self._head())
        funcs = {}
        for name, spec in reg.functions.items():
            fn = self._callables.get(name)
            funcs[name] = FunctionSpec(**{**spec.__dict__, "fn": fn}) if fn is not None else spec
        return Registry(reg.features, funcs)

    def _registry_of(self, head: dict) -> Registry:
        try:
            return Registry.from_json(head["registry"])
        except Exception as exc:  # noqa: BLE001 - a malformed entry in a checksummed commit is damage too
            raise LakeIntegrityError(f"commit {head.get('id')}: its registry cannot be read "
                                     f"({type(exc).__name__}: {exc})", url=self.url,
                                     file=self._log.commit_file(head.get("id", 0))) from None

    @property
    def version(self) -> int:
        """The id of the latest commit."""
        return self._head()["id"]

    def _window(self, head: dict, window: str) -> WindowData:
        rel = head["windows"].get(window)
        if rel is None:
            return WindowData.empty()
        if rel not in self._versions:
            if self._lock._depth == 0:
                # A reader pins before it reads (VersionRetired if vacuum is retiring it); a writer needs
                # no pin, since vacuum takes the writer lock.
                self._lease.pin(rel)
            # Window versions are immutable, so a cached copy never goes stale; keep a few.
            if len(self._versions) > 8:
                self._versions.pop(next(iter(self._versions)))
            self._versions[rel] = WindowData.open(self._log.url_of(rel), head.get("manifests", {}).get(rel),
                                                  window=window, lake_url=self.url)
        return self._versions[rel]

    def _snapshot(self, window: str) -> tuple[dict, WindowData]:
        """The head and its version of ``window``, pinned; read again if vacuum retires it meanwhile."""
        for _ in range(8):
            head = self._head()
            try:
                return head, self._window(head, window)
            except VersionRetired:
                self._log._head_cache = None
        raise RuntimeError(f"window {window!r} kept being vacuumed while it was opened; try again")

    def _publish(self, *, operation, registry, windows, deltas, n_deltas, processed_through, parent, extra=None,
                 manifests=None):
        head = self._log.head(fresh=True)
        # Each window version's metadata checksums travel with every commit that names the version.
        known = {**((head or {}).get("manifests") or {}), **(manifests or {})}
        extra = dict(extra or {})
        # Feature families travel with every commit, like the registry (a commit says the whole state).
        families = extra.pop("families", None)
        families = (head or {}).get("families") or {} if families is None else families
        if families:
            extra["families"] = families
        commit = {
            # Above every file present, damaged ones included, so no damaged file is ever overwritten.
            "id": self._log.next_id(),
            "parent": parent,
            "operation": operation,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds"),
            "registry": registry.to_json(),
            "windows": windows,
            "deltas": deltas,
            "n_deltas": n_deltas,
            "processed_through": processed_through,
            "manifests": {rel: known[rel] for rel in windows.values() if rel in known},
            **(extra or {}),
        }
        self._before_publish(commit)
        self._log.publish(commit)
        return commit

    def _before_publish(self, commit: dict) -> None:
        """Hook between writing a batch's objects and publishing its commit (tests use it to kill a
        writer at the worst moment)."""

    @contextlib.contextmanager
    def writing(self):
        """Hold the writer lock across several operations (a second writer meanwhile gets LakeLockedError)."""
        with self._mutex, self._lock:
            yield self

    def break_lock(self) -> None:
        """Remove a stale lease on non-local storage (local locks die with their process by themselves)."""
        self._lock.break_lock()

    # ---- registry ----------------------------------------------------------------------------------
    def register_feature(self, name: str, dtype: str, unit: str | None = None, description: str = "",
                         categories: Sequence[str] | None = None, window: str | None = None) -> FeatureSpec:
        """Register a feature ``/<domain>/feature/<entity>/<name>`` with ``dtype`` in
        {float, int, bool, string, categorical}.  Registering the same definition again is a no-op;
        changing the dtype of an existing feature is refused.

        ``window`` ("hour", "day", "week", "month") declares an aggregate over that window: its values are
        then written to that window and each time must be a window boundary (its end), or the write is
        refused. A boundary ends one window and starts the next, so a start-stamped value still passes this
        check; ``write(..., window_start=)`` catches that."""
        check_feature_name(name)
        if dtype not in DTYPES and dtype not in MEDIA:
            raise ValueError(f"dtype={dtype!r} for feature {name!r}; expected one of {DTYPES} or a media "
                             f"quantity {MEDIA}")
        if categories is not None:
            if dtype != "categorical":
                raise ValueError(f"categories= only applies to dtype='categorical', not {dtype!r}")
            categories = tuple(str(c) for c in categories)
        if unit is not None and not isinstance(unit, str):
            raise TypeError(f"unit must be text such as 'dB' or 's', got {unit!r}")
        if window is not None and window not in WINDOWS:
            raise UserError(f"window={window!r} for feature {name!r}; expected one of {WINDOWS} (or None for a "
                            f"value that is not an aggregate)")
        spec = FeatureSpec(name, dtype, unit, description, categories, window)
        with self.writing():
            head = self._head()
            reg = self._registry_of(head)
            if reg.features.get(name) == spec:
                return spec
            old = reg.features.get(name)
            new = reg.with_feature(spec)  # refuses a dtype change
            if old is not None and old.unit != spec.unit:
                raise UserError(
                    f"feature {name!r} is registered with unit={old.unit!r}, not {unit!r}; stored values keep "
                    f"their unit, so register the new unit under a new name (e.g. a _v2 suffix)")
            new = reg.with_feature(spec)
            self._publish(operation="register_feature", registry=new, windows=head["windows"], deltas=None,
                          n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                          extra={"subject": name})
        return spec

    def register_function(self, name: str, fn: Callable | None, inputs: Sequence[str], outputs: Sequence[str],
                          kind: str = "ML", *, attributes: Sequence[str] = (), description: str = "",
                          ttl=None, http: HttpInvocation | dict | None = None) -> FunctionSpec:
        """Register a function ``/<domain>/function/<inference|interpretation>/<name>``: a directed
        hyperedge from ``inputs`` (registered features) to ``outputs`` (registered features).

        Calling convention (the same in-process, on a dask worker or behind HTTP)::

            out = fn(inputs: polars.DataFrame) -> polars.DataFrame

        ``inputs`` has one row per (key, window time) to compute -- the keys and window times whose
        input features changed -- with columns

        * ``key``: the EventKey digest (text), ``time``: the window time (Datetime ns),
        * the key's components as columns (entity ids such as ``customer``, context, attributes),
        * one column per input feature, named by its full name: the latest value at or before ``time``
          (within ``ttl`` when given), null when there is none.

        ``out`` must have the columns ``key`` and ``time`` (copied from ``inputs``) and one column per
        output feature (full names); null means "no value".  Outputs are upserted into the same window
        and may trigger further functions.  Re-registering an identical definition only re-binds ``fn``
        in this process.  ``http={"url": ...}`` instead of ``fn`` POSTs ``inputs`` as JSON records and
        expects JSON records back.  Cycles among functions are refused.
        """
        check_function_name(name)
        if kind not in KINDS:
            raise ValueError(f"kind={kind!r} for function {name!r}; expected one of {KINDS}")
        inputs, outputs = tuple(inputs), tuple(outputs)
        if not inputs or not outputs:
            raise ValueError(f"function {name!r} needs at least one input and one output feature")
        if set(inputs) & set(outputs):
            raise ValueError(f"function {name!r} reads and writes {sorted(set(inputs) & set(outputs))}: a cycle")
        if isinstance(http, dict):
            http = HttpInvocation(**{**http, "headers": tuple(tuple(h) for h in dict(http.get("headers", {})).items())})
        if (fn is None) == (http is None):
            raise ValueError(f"function {name!r}: pass exactly one of fn (a callable) or http (an invocation)")
        if fn is not None and not callable(fn):
            raise TypeError(f"fn for {name!r} must be callable, got {type(fn).__name__}")
        spec = FunctionSpec(name=name, inputs=inputs, outputs=outputs, kind=kind, attributes=tuple(attributes),
                            description=description, ttl_ns=_duration_ns(ttl, "ttl"),
                            callable_ref=callable_ref(fn) if fn is not None else None, http=http)
        with self.writing():
            head = self._head()
            reg = self._registry_of(head)
            old = reg.functions.get(name)
            if old is None or old.to_json() != spec.to_json():
                new = reg.with_function(spec)
                self._publish(operation="register_function", registry=new, windows=head["windows"], deltas=None,
                              n_deltas=0, processed_through=head["processed_through"], parent=head["id"],
                              extra={"subject": name})
            if fn is not None:
                self._callables[name] = fn
        return spec

    # ---- writes ------------------------------------------------------------------------------------
    def write(self, frame: pl.DataFrame, window: str = "day", entities=("customer",), time: str = "time",
              context=(), attributes=(), window_start: str | None = None, interpret: bool = True) -> WriteReport:
        """Upsert a batch of feature values, atomically.

        ``frame``: a polars DataFrame whose ``entities`` columns (plus optional ``context`` and
        ``attributes`` column lists) form the key ``EventKey(entities={col: value}, ..., window=window)``,
        whose ``time`` column is the window end time (when the value became known), and which carries
        either one column per feature (wide; columns named by full feature names; null = no value) or
        ``feature`` and ``value`` columns (long).  Rows are validated before anything is written; a bad
        batch raises :class:`LakeValidationError` (a ValueError) naming the offending rows and the lake
        is unchanged.  Writing the same batch twice changes nothing (no new commit, no deltas).

        ``window_start``: the column holding each row's window start, when the batch has one (polars
        ``group_by_dynamic(..., include_boundaries=True)`` gives ``_lower_boundary``). Each time must then be
        its window's END (start + one window); a value stamped at its start is refused, naming the feature,
        the time and the end to use. Without it the lake cannot tell: midnight is both the end of one day
        and the start of the next, so a time alone never shows which window a value summarises.

        Media features (dtype text/image/audio/video, :mod:`workbench.lake.media`) take ``pl.Binary``
        payloads (stored once by SHA-256, in this batch's commit) or ``pl.String`` URIs. With ``interpret``
        (the default), a batch that changes a media feature read by an interpretation function runs
        :meth:`run_pending` before returning (``WriteReport.interpreted``).
        """
        reserved = [c for c in (*_names(entities), *_names(context), *_names(attributes)) if c in ("key", "time")]
        if reserved:
            raise UserError(f"key column(s) {reserved} use a reserved name: function inputs already carry 'key' "
                            f"(the digest) and 'time' (the window time); rename the column, e.g. to 'time_of_day'")
        with self.writing():
            head = self._head()
            reg = self._registry_of(head)
            blobs: dict[str, bytes] = {}
            frame = prepare_media(frame, reg, blobs)
            batch = prepare_frame(frame, reg, window, entities, time, context, attributes, window_start)
            commit, stats = self._commit_updates(head, reg, {window: batch}, operation="write", blobs=blobs)
            interpreted = None
            if interpret and commit is not None and self._interpretations_of(reg, batch[1]):
                # The design's ingestion layer: a media value is interpreted as it arrives, by the same
                # resolver and router that run every function (so the outputs are ordinary features).
                interpreted = self.run_pending()
        return WriteReport(commit["id"] if commit else None, window, stats["written"], stats["changed"],
                           stats["new_keys"], interpreted)

    @staticmethod
    def _interpretations_of(reg: Registry, updates: dict) -> list[str]:
        """Interpretation functions that read a media feature of this batch."""
        media = {f for f in updates if is_media(reg.feature(f).dtype)}
        return [n for n, f in reg.functions.items() if f.role == "interpretation" and media & set(f.inputs)]

    def _merge_window(self, base: WindowData, reg: Registry, batch, window: str):
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
                    new[~clear] = self._encode(out, feat, dtype, u["value"].filter(~clear))
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

    @staticmethod
    def _encode(out: WindowData, feat: str, dtype: str, values: pl.Series) -> np.ndarray:
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

    def _commit_updates(self, head: dict, reg: Registry, updates_by_window: dict, operation: str,
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
            base = self._window(head, window)
            merged, deltas, s = self._merge_window(base, reg, batch, window)
            for k in stats:
                stats[k] += s[k]
            dropped = False
            for feat in drop or ():
                if feat in merged.dtypes:
                    for d in (merged.dtypes, merged._arrays, merged.categories):
                        d.pop(feat, None)
                    dropped = True
            if deltas or dropped:
                rel = self._log.new_object_name(f"windows/{window}", head["id"] + 1, ".zarr")
                manifests[rel] = merged.write(self._log.url_of(rel))
                if self._log.local:
                    fsync_tree(self._log.path(rel))  # data reaches the disk before the commit naming it
                merged.url, merged.window, merged.lake_url = self._log.url_of(rel), window, self.url
                windows[window] = rel
                new_versions[rel] = merged
                all_deltas.extend(deltas)
        advance = processed_through is not None and processed_through != head["processed_through"]
        if not all_deltas and not advance and windows == head["windows"]:
            return None, stats  # idempotent: the same batch twice leaves no trace
        media_extra = {}
        if blobs and all_deltas:
            # Payloads reach the disk before the commit whose window versions reference them.
            new = write_blobs(self._log, blobs)
            media_extra = {"media": sorted(blobs), "media_written": len(new)}
        delta_rel, n = None, 0
        if all_deltas:
            table = pl.concat(all_deltas)
            n = table.height
            delta_rel = self._log.new_object_name("deltas", head["id"] + 1, ".parquet")
            buf = io.BytesIO()
            table.write_parquet(buf)
            self._log.write_bytes_atomic(delta_rel, buf.getvalue())
            delta_crc = f"{zlib.crc32(buf.getvalue()):08x}"
        commit = self._publish(operation=operation, registry=registry_after or reg, windows=windows, deltas=delta_rel,
                               n_deltas=n,
                               processed_through=head["processed_through"] if processed_through is None
                               else processed_through, parent=head["id"], manifests=manifests,
                               extra={"summary": {k: int(v) for k, v in stats.items()}, **media_extra,
                                      **({"subject": subject} if subject else {}),
                                      **({"deltas_crc": delta_crc} if delta_rel else {})})
        self._versions.update(new_versions)
        return commit, stats

    # ---- delta log, resolvers, router -------------------------------------------------------------
    def deltas(self, pending_only: bool = False) -> pl.DataFrame:
        """The delta log: one row per changed (key, window, feature, window time), with its commit."""
        head = self._head()
        after = head["processed_through"] if pending_only else 0
        frames = []
        for c in self._log.commits_after(after):
            if c["deltas"]:
                frames.append(self._read_deltas(c).with_columns(pl.lit(c["id"], pl.Int64).alias("commit")))
        if not frames:
            return pl.DataFrame(schema={"key": pl.String, "window": pl.String, "feature": pl.String,
                                        "time": pl.Datetime("ns"), "commit": pl.Int64})
        return pl.concat(frames)

    def _read_deltas(self, commit: dict) -> pl.DataFrame:
        rel = commit["deltas"]
        try:
            raw = self._log.fs.cat_file(self._log.path(rel))
        except FileNotFoundError:
            raise LakeIntegrityError(f"delta file {rel} named by commit {commit['id']} is missing", url=self.url,
                                     file=rel) from None
        want = commit.get("deltas_crc")
        if want is not None and f"{zlib.crc32(raw):08x}" != want:
            raise LakeIntegrityError(f"delta file {rel} of commit {commit['id']} fails its checksum", url=self.url,
                                     file=rel)
        try:
            return pl.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # noqa: BLE001 - unreadable parquet is damage
            raise LakeIntegrityError(f"delta file {rel} of commit {commit['id']} cannot be read ({exc})",
                                     url=self.url, file=rel) from None

    def _resolve_inputs(self, spec: FunctionSpec, data: WindowData, targets: pl.DataFrame) -> pl.DataFrame:
        """Feature resolver: for each (key, time) target, every input's latest value at or before time."""
        targets = targets.join(data.key_index(), left_on="key", right_on="__digest", how="left")
        kidx = targets["__kidx"].fill_null(-1).to_numpy()
        t_ns = targets["time"].cast(pl.Int64).to_numpy()
        cols = [targets["key"], targets["time"]]
        comps = components_frame(data.components[kidx])
        for c in comps.columns:
            cols.append(comps[c])
        reg = self._registry_of(self._head())
        for feat in spec.inputs:
            dtype = data.dtypes.get(feat)
            if dtype is None:
                dtype = storage_dtype(reg.feature(feat).dtype)
                s = to_series(feat, dtype, empty(dtype, len(kidx)), np.zeros(len(kidx), bool))
            else:
                vals, ok = gather(data, feat, kidx, t_ns, _effective_ttl(spec.ttl_ns, data.times, t_ns))
                s = to_series(feat, dtype, vals, ok, data.categories.get(feat))
            if is_media(reg.feature(feat).dtype):
                # a function reads the payload itself, wherever it runs (the frame travels to dask workers)
                s = resolve_series(self._log, s, "bytes", f" (input {feat!r} of {spec.name})")
            cols.append(s)
        return pl.DataFrame(cols)

    @staticmethod
    def _affected_targets(spec: FunctionSpec, data: WindowData, changed: pl.DataFrame) -> pl.DataFrame:
        """The (key, window time) cells whose output a change of ``spec``'s inputs can alter.

        Semantics: the output at (key, T) is ``fn`` of the inputs as of T (latest at or before T, within
        ttl), at every T where the key has some input value -- what :meth:`backfill` computes.  A value
        arriving at t therefore changes the outputs at t and at every later T up to t + ttl, so those are
        recomputed too; that makes the result independent of the order in which batches arrive."""
        cells = changed.select("key", pl.col("time").cast(pl.Datetime("ns"))).unique()
        per_key = cells.group_by("key").agg(pl.col("time").cast(pl.Int64).min().alias("t0"),
                                            pl.col("time").cast(pl.Int64).max().alias("t1"))
        kidx = per_key.join(data.key_index(), left_on="key", right_on="__digest", how="left",
                            maintain_order="left")["__kidx"]
        per_key = per_key.with_columns(kidx.alias("__kidx")).filter(pl.col("__kidx").is_not_null())
        extra = []
        if per_key.height and data.shape[1]:
            rows = per_key["__kidx"].to_numpy()
            present = np.zeros((len(rows), data.shape[1]), dtype=bool)
            for feat in spec.inputs:
                if feat in data.dtypes:
                    present |= valid_mask(data.dtypes[feat], data.raw(feat)[rows])
            t0 = per_key["t0"].to_numpy()
            later = data.times[None, :] >= t0[:, None]
            if spec.ttl_ns is not None:
                t1 = per_key["t1"].to_numpy()[:, None]
                after_t1 = data.times[None, :] >= t1
                later &= ~after_t1 | (elapsed_ns(np.broadcast_to(data.times[None, :], later.shape),
                                                 np.broadcast_to(t1, later.shape)) <= np.uint64(spec.ttl_ns))
            ki, ti = np.nonzero(present & later)
            extra.append(pl.DataFrame({"key": per_key["key"].gather(ki),
                                       "time": pl.Series(data.times[ti]).cast(pl.Datetime("ns"))}))
        return pl.concat([cells, *extra]).unique().sort("key", "time")

    def _target(self, spec: FunctionSpec):
        if spec.http is not None:
            return spec.http
        if spec.fn is not None:
            return spec.fn
        if spec.callable_ref is not None:
            return spec.callable_ref
        raise RuntimeError(
            f"function {spec.name!r} has no callable in this process (it was registered elsewhere with a "
            f"local function); bind it with lake.register_function({spec.name!r}, fn, inputs, outputs, kind)"
        )

    def _route(self, calls: list[tuple[FunctionSpec, str, pl.DataFrame]]) -> list[pl.DataFrame]:
        """Function router: in-process, or as dask tasks when the lake has a distributed client."""
        if self.client is not None and calls:
            futures = [self.client.submit(invoke, self._target(spec), frame, pure=False,
                                          key=f"lake-{spec.name.rsplit('/', 1)[-1]}-{uuid.uuid4().hex[:8]}")
                       for spec, _, frame in calls]
            import distributed

            try:
                distributed.wait(futures, timeout=self.task_timeout_s)
            except TimeoutError:
                self.client.cancel(futures)
                raise TimeoutError(
                    f"function tasks did not finish within task_timeout_s={self.task_timeout_s}; a worker that "
                    f"cannot unpickle a function (defined in a module the workers cannot import) waits forever: "
                    f"define it in an importable module or raise lake.task_timeout_s"
                ) from None
            return self.client.gather(futures)
        return [invoke(self._target(spec), frame) for spec, _, frame in calls]

    def _outputs_to_updates(self, spec: FunctionSpec, frame_in: pl.DataFrame, out, reg: Registry,
                            blobs: dict | None = None):
        if not isinstance(out, pl.DataFrame):
            raise TypeError(f"function {spec.name!r} returned {type(out).__name__}; expected a polars DataFrame "
                            f"with columns key, time and {list(spec.outputs)}")
        missing = [c for c in ("key", "time", *spec.outputs) if c not in out.columns]
        if missing:
            raise ValueError(f"function {spec.name!r} returned no column(s) {missing}; it must return key, time "
                             f"and every declared output {list(spec.outputs)}")
        if blobs is not None:
            out = prepare_media(out, reg, blobs)  # a function may write media too: payloads become references
        out = out.with_row_index("__row").with_columns(pl.col("__row").cast(pl.Int64))
        comps = frame_in.select(pl.col("key").alias("__digest")).unique()
        problems = []
        unknown = out.join(comps, left_on="key", right_on="__digest", how="anti")
        if unknown.height:
            problems.append((f"function {spec.name!r} returned keys it was not given", unknown["__row"].to_list()))
        t = out.with_columns(time_to_ns(out, "time", "time").alias("__t"))
        outside = out_of_range_rows(t, "time", "__t")
        if outside:
            problems.append((f"function {spec.name!r} returned times outside {TIME_RANGE_TEXT}", outside))
        nulls = t.filter(pl.col("time").is_null())["__row"].to_list()
        if nulls:
            problems.append((f"function {spec.name!r} returned null times", nulls))
        if problems:
            raise LakeValidationError(problems)
        digests = t["key"].unique(maintain_order=True)
        keys = pl.DataFrame({"__kid": np.arange(len(digests), dtype=np.int64), "__digest": digests,
                             "__components": pl.Series([None] * len(digests), dtype=pl.String)})
        t = t.join(keys.select("__digest", "__kid"), left_on="key", right_on="__digest", how="left")
        updates = {}
        for feat in spec.outputs:
            cells = t.select("__row", "__kid", "__t", pl.col(feat).alias("value"))
            g = coerce_values(cells.filter(pl.col("value").is_not_null()), reg.feature(feat), problems)
            if g is not None:
                # null outputs are kept as nulls: they clear what an earlier computation stored there
                nulls = cells.filter(pl.col("value").is_null()).with_columns(pl.lit(None, g.schema["value"]).alias("value"))
                updates[feat] = (pl.concat([g.select(nulls.columns), nulls]).unique(subset=["__kid", "__t"], keep="last")
                                 .select("__kid", "__t", "value"))
        if problems:
            raise LakeValidationError(problems)
        return keys, updates

    @staticmethod
    def _merge_batches(batches):
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

    def run_pending(self, max_rounds: int = 32) -> RunReport:
        """Process the delta log until nothing is pending: resolve the functions with a changed input,
        gather their inputs, run them (in-process or on the dask cluster), upsert their outputs, and
        mark the deltas processed in the same commit as the outputs (at-least-once: a crash before
        that commit leaves the deltas pending and the rerun is an idempotent upsert)."""
        report = RunReport()
        with self.writing():
            for rnd in range(1, max_rounds + 1):
                head = self._head()
                pending = self.deltas(pending_only=True)
                if pending.height == 0:
                    break
                reg = self.registry
                report.rounds = rnd
                report.deltas_processed += pending.height
                calls = []
                for (window,), wd in pending.partition_by("window", as_dict=True).items():
                    data = self._window(head, window)
                    changed = set(wd["feature"].unique().to_list())
                    for fname in reg.topological_functions():  # function resolver
                        spec = reg.function(fname)
                        if not changed & set(spec.inputs):
                            continue
                        targets = self._affected_targets(spec, data, wd.filter(pl.col("feature").is_in(list(spec.inputs))))
                        calls.append((spec, window, self._resolve_inputs(spec, data, targets)))
                results = self._route(calls)
                batches: dict[str, list] = {}
                blobs: dict[str, bytes] = {}
                for (spec, window, frame), out in zip(calls, results):
                    batches.setdefault(window, []).append(self._outputs_to_updates(spec, frame, out, reg, blobs))
                    report.calls.append({"round": rnd, "function": spec.name, "window": window,
                                         "keys": frame["key"].n_unique(), "rows_in": frame.height,
                                         "rows_out": out.height, "round_values_changed": 0,
                                         "routed": "dask" if self.client is not None else "in-process"})
                # Outputs and the processed cursor move together in one commit.
                updates = {w: self._merge_batches(b) for w, b in batches.items()}
                commit, stats = self._commit_updates(head, reg, updates, operation="run_pending",
                                                     processed_through=head["id"], blobs=blobs)
                if commit is not None:
                    report.commits.append(commit["id"])
                for c in report.calls:
                    if c["round"] == rnd:
                        c["round_values_changed"] = stats["changed"]
            else:
                raise RuntimeError(f"run_pending did not settle in {max_rounds} rounds; raise max_rounds")
        return report

    def run_pending_every(self, interval_s: float, stop: threading.Event | None = None,
                          max_cycles: int | None = None) -> list[RunReport]:
        """Call :meth:`run_pending` every ``interval_s`` seconds until ``stop`` is set or ``max_cycles``
        cycles ran (run it in a thread for a background scheduler). Returns the reports."""
        if interval_s <= 0:
            raise ValueError(f"interval_s={interval_s}; expected a positive number of seconds")
        stop = stop or threading.Event()
        reports = []
        while not stop.is_set() and (max_cycles is None or len(reports) < max_cycles):
            reports.append(self.run_pending())
            stop.wait(interval_s)
        return reports

    def backfill(self, function: str, window: str = "day", start=None, end=None, partitions: int = 4) -> RunReport:
        """Run ``function`` for every key and window time (in [start, end]) where any input has a value,
        split by key into ``partitions`` tasks (dask tasks when the lake has a client); one commit."""
        report = RunReport(rounds=1)
        with self.writing():
            head, reg = self._head(), self.registry
            spec = reg.function(function)
            data = self._window(head, window)
            if data.shape[1] == 0:
                return report
            present = np.zeros(data.shape, dtype=bool)
            for feat in spec.inputs:
                if feat in data.dtypes:
                    present |= valid_mask(data.dtypes[feat], data.raw(feat))
            lo, hi = _instant_ns(start, "start"), _instant_ns(end, "end")
            tsel = np.ones(data.shape[1], bool)
            if lo is not None:
                tsel &= data.times >= lo
            if hi is not None:
                tsel &= data.times <= hi
            present &= tsel[None, :]
            ki, ti = np.nonzero(present)
            targets = pl.DataFrame({"key": data.keys[ki].astype(str),
                                    "time": pl.Series(data.times[ti]).cast(pl.Datetime("ns"))})
            frame = self._resolve_inputs(spec, data, targets)
            parts = [p for p in np.array_split(np.arange(frame.height), max(1, partitions)) if len(p)]
            calls = [(spec, window, frame[int(p[0]): int(p[-1]) + 1]) for p in parts]
            results = self._route(calls)
            batches, blobs = [], {}
            for (_, _, f), out in zip(calls, results):
                batches.append(self._outputs_to_updates(spec, f, out, reg, blobs))
                report.calls.append({"round": 1, "function": spec.name, "window": window,
                                     "keys": f["key"].n_unique(), "rows_in": f.height, "rows_out": out.height,
                                     "round_values_changed": 0,
                                     "routed": "dask" if self.client is not None else "in-process"})
            commit, stats = self._commit_updates(head, reg, {window: self._merge_batches(batches)},
                                                 operation="backfill", blobs=blobs)
            for c in report.calls:
                c["round_values_changed"] = stats["changed"]
            if commit is not None:
                report.commits.append(commit["id"])
        return report

    # ---- delete, update, families (workbench.lake._commands) ----------------------------------------
    def delete(self, feature: str, keys=None, window: str = "day", start=None, end=None) -> WriteReport:
        """Clear the stored values of ``feature`` (every key, or ``keys``; within [start, end]) in one commit.
        The cleared cells are deltas: ``run_pending`` recomputes whatever reads the feature there."""
        from workbench.lake import _commands

        return _commands.delete(self, feature, keys, window, start, end)

    def update(self, frame: pl.DataFrame, window: str = "day", entities=("customer",), time: str = "time",
               context=(), attributes=()) -> WriteReport:
        """Correct stored values (same frame as :meth:`write`); a row that would add a value is refused."""
        from workbench.lake import _commands

        return _commands.update(self, frame, window, entities, time, context, attributes)

    def delete_feature(self, name: str) -> int:
        """Clear every value of feature ``name``, drop its arrays and unregister it (one commit); refused while
        a function or family uses it. Returns the number of values cleared."""
        from workbench.lake import _commands

        return _commands.delete_feature(self, name)

    def register_family(self, name: str, features, description: str = "") -> dict:
        """Group features of one entity as ``/<domain>/family/<entity>/<name>``, written and read together."""
        from workbench.lake import _commands

        return _commands.register_family(self, name, features, description)

    def delete_family(self, name: str) -> None:
        """Remove a family (its features and their values stay)."""
        from workbench.lake import _commands

        _commands.delete_family(self, name)

    def write_family(self, name: str, frame: pl.DataFrame, **write_args) -> WriteReport:
        """:meth:`write` a frame holding exactly the family's features (one commit for all of them)."""
        from workbench.lake import _commands

        return _commands.write_family(self, name, frame, **write_args)

    def families(self) -> pl.DataFrame:
        """The registered families: family, entity, features, description."""
        from workbench.lake import _commands

        return _commands.family_table(self._head())

    def get_family(self, key, name: str, window: str = "day", at=None, media: str = "bytes") -> dict:
        """``{feature: value}`` for every member of family ``name`` (see :meth:`get`)."""
        from workbench.lake import _commands

        _commands.check_family_name(name)
        return {f: self.get(key, f, window, at, media) for f in expand(self._head(), [name])}

    # ---- queries -----------------------------------------------------------------------------------
    def _digest(self, key, window: str) -> str:
        if isinstance(key, EventKey):
            if key.window != window:
                raise ValueError(f"key has window={key.window!r} but window={window!r} was asked for")
            return key.digest
        if isinstance(key, str) and len(key) == 64 and all(c in "0123456789abcdef" for c in key):
            return key
        raise TypeError(f"key must be an EventKey or a 64-character hex digest, got {key!r}")

    def _check_window(self, window: str) -> None:
        if window not in WINDOWS:
            raise ValueError(f"window={window!r}; expected one of {WINDOWS}")

    def key(self, digest: str, window: str | None = None) -> EventKey:
        """Reverse lookup: the EventKey whose digest is ``digest`` (searched in one or all windows)."""
        for w in [window] if window else list(self._head()["windows"]):
            data = self._snapshot(w)[1]
            i = data.key_position(digest)
            if i >= 0:
                return EventKey.from_components(data.components[i])
        raise KeyError(f"no key with digest {digest!r} in the lake")

    def keys(self, window: str = "day") -> pl.DataFrame:
        """All keys of a window: digest plus their readable components as columns."""
        self._check_window(window)
        data = self._snapshot(window)[1]
        comps = components_frame(data.components)
        return pl.DataFrame({"key": data.keys.astype(str)}).hstack(comps) if len(data.keys) else pl.DataFrame(
            schema={"key": pl.String})

    def get(self, key, feature: str, window: str = "day", at=None, media: str = "bytes"):
        """The value of ``feature`` for ``key``: the latest one, or with ``at`` the latest at or before
        ``at``. None when there is no such value. For a media feature, ``media`` picks the payload
        (``"bytes"``), where it lives (``"uri"``) or the stored reference (``"ref"``)."""
        self._check_window(window)
        check_how(media)
        digest = self._digest(key, window)
        at_ns = None if at is None else _instant_ns(at, "at")
        head, data = self._snapshot(window)
        if feature not in data.dtypes:
            self.registry.feature(feature)  # raises for an unknown name
            return None
        k = data.key_position(digest)
        if k < 0 or data.shape[1] == 0:
            return None
        t = data.shape[1] - 1 if at_ns is None else int(np.searchsorted(data.times, at_ns, "right")) - 1
        if t < 0:
            return None
        j = data.ffill_index(feature)[k, t]
        if j < 0:
            return None
        raw = data.raw(feature)[k, j]
        dtype = data.dtypes[feature]
        if dtype == "float":
            return float(raw)
        if dtype == "int":
            return int(raw)
        if dtype == "bool":
            return bool(raw)
        text = data.categories[feature][int(raw)]
        if is_media(self._registry_of(head).feature(feature).dtype):
            return resolve(self._log, text, media, f" (feature {feature!r})")
        return text

    def history(self, key, features, window: str = "day", start=None, end=None, count: int | None = None,
                media: str = "bytes"):
        """The stored values of ``features`` for ``key`` as a polars DataFrame (time + one column per
        feature), rows where any of them has a value, within [start, end], the last ``count`` rows.
        Media features come back as ``media`` says (see :meth:`get`)."""
        self._check_window(window)
        check_how(media)
        features = expand(self._head(), features)  # a family name reads its members
        lo, hi = _instant_ns(start, "start"), _instant_ns(end, "end")
        reg = self.registry
        for f in features:
            reg.feature(f)
        digest = self._digest(key, window)
        data = self._snapshot(window)[1]
        k = data.key_position(digest)
        tsel = np.ones(data.shape[1], dtype=bool)
        if lo is not None:
            tsel &= data.times >= lo
        if hi is not None:
            tsel &= data.times <= hi
        cols, any_valid = {}, np.zeros(data.shape[1], dtype=bool)
        for f in features:
            dtype = storage_dtype(reg.feature(f).dtype)
            if k >= 0 and f in data.dtypes:
                row = data.raw(f)[k]
                ok = valid_mask(dtype, row)
            else:
                row, ok = empty(dtype, data.shape[1]), np.zeros(data.shape[1], bool)
            cols[f] = (dtype, row, ok)
            any_valid |= ok
        sel = np.flatnonzero(any_valid & tsel)
        if count is not None:
            if count < 0:
                raise ValueError(f"count={count}; expected a non-negative number of rows")
            sel = sel[len(sel) - count:] if count else sel[:0]
        series = [pl.Series("time", data.times[sel]).cast(pl.Datetime("ns"))]
        for f, (dtype, row, ok) in cols.items():
            s = to_series(f, dtype, row[sel], ok[sel], data.categories.get(f))
            series.append(resolve_series(self._log, s, media, f" (feature {f!r})") if is_media(reg.feature(f).dtype) else s)
        return pl.DataFrame(series)

    def dataset(self, window: str = "day"):
        """The window as a lazy xarray Dataset (dask arrays), dims (key, time), one variable per feature
        (named by its full name; missing = NaN; string/categorical as codes with ``categories`` attrs)."""
        import xarray as xr

        self._check_window(window)
        rel = self._snapshot(window)[0]["windows"].get(window)  # pinned for this object's life
        if rel is None:
            raise KeyError(f"window {window!r} holds no data yet; write some with lake.write(..., window={window!r})")
        ds = xr.open_zarr(self._log.url_of(rel), consolidated=False, chunks={})
        return ds.rename({v: ds[v].attrs["feature"] for v in ds.data_vars if "feature" in ds[v].attrs})

    def training_frame(self, entity_df: pl.DataFrame, features, window: str = "day", ttl=None,
                       time: str = "event_time", entities=None, context=(), attributes=(),
                       media: str = "bytes") -> pl.DataFrame:
        """Point-in-time join: ``entity_df``'s rows (same order) plus one column per feature holding the
        latest value at or before each row's ``time`` and, with ``ttl``, no older than ``time - ttl``
        (null otherwise).  Never a value from the future.

        ``entities`` defaults to the entities named in the features (``/d/feature/<entity>/x``); their
        columns (plus ``context``/``attributes`` columns) must be in ``entity_df`` and form the keys.
        """
        self._check_window(window)
        check_how(media)
        if not isinstance(entity_df, pl.DataFrame):
            raise TypeError(f"entity_df must be a polars DataFrame, got {type(entity_df).__name__}")
        features = expand(self._head(), features)  # a family name reads its members
        reg = self.registry
        specs = [reg.feature(f) for f in features]
        if entities is None:
            entities = tuple(dict.fromkeys(s.entity for s in specs))
        entities = (entities,) if isinstance(entities, str) else tuple(entities)
        context = (context,) if isinstance(context, str) else tuple(context)
        attributes = (attributes,) if isinstance(attributes, str) else tuple(attributes)
        key_cols = [*entities, *context, *attributes]
        missing = [c for c in (*key_cols, time) if c not in entity_df.columns]
        if missing:
            raise ValueError(f"entity_df lacks columns {missing}; it has {entity_df.columns} (pass time=, "
                             f"entities= to name them)")
        ttl_ns = _duration_ns(ttl, "ttl")
        data = self._snapshot(window)[1]
        event = entity_df.select(time_to_ns(entity_df, time, "time")).to_series()
        outside = entity_df.with_row_index("__row").with_columns(event.alias("__t"))
        outside = out_of_range_rows(outside.with_columns(pl.col("__row").cast(pl.Int64)), time, "__t")
        if outside:
            raise LakeValidationError([(f"entity_df[{time!r}] holds times outside {TIME_RANGE_TEXT}", outside)],
                                      header="training_frame refused")
        if event.null_count():
            raise ValueError(f"entity_df[{time!r}] has {event.null_count()} null(s); every row needs an event time")
        event_ns = event.to_numpy()
        uniq = entity_df.select(key_cols).unique()
        if uniq.select(pl.any_horizontal(pl.col(entities).is_null())).to_series().any():
            raise ValueError(f"entity_df has null entity ids in {list(entities)}; drop or fill those rows")
        keys = key_table(uniq, window, entities, context, attributes, components=False).join(
            data.key_index(), on="__digest", how="left")
        kidx = (entity_df.select(key_cols).join(keys.select(*key_cols, "__kidx"), on=key_cols, how="left",
                                                nulls_equal=True, maintain_order="left")["__kidx"]
                .fill_null(-1).to_numpy())
        out = []
        for spec in specs:
            dtype = storage_dtype(spec.dtype)
            if spec.name not in data.dtypes:
                s = to_series(spec.name, dtype, empty(dtype, len(kidx)), np.zeros(len(kidx), bool))
            else:
                vals, ok = gather(data, spec.name, kidx, event_ns, _effective_ttl(ttl_ns, data.times, event_ns))
                s = to_series(spec.name, dtype, vals, ok, data.categories.get(spec.name))
            if is_media(spec.dtype):
                s = resolve_series(self._log, s, media, f" (feature {spec.name!r})")
            out.append(s)
        return entity_df.with_columns(out)

    # ---- maintenance -------------------------------------------------------------------------------
    def commits(self) -> pl.DataFrame:
        """The commit log as a table (id, operation, subject, n_deltas, processed_through)."""
        rows = [{"id": c["id"], "operation": c["operation"], "subject": c.get("subject"),
                 "n_deltas": c["n_deltas"], "processed_through": c["processed_through"]}
                for c in self._log.all_commits()]
        return pl.DataFrame(rows, schema={"id": pl.Int64, "operation": pl.String, "subject": pl.String,
                                          "n_deltas": pl.Int64, "processed_through": pl.Int64})

    def vacuum(self, keep_versions: int = 2) -> list[str]:
        """Delete what no reader can need: window versions that none of the last ``keep_versions`` versions
        per window is (the head's is always kept), delta files no commit names, media payloads no remaining
        window version references, and leftovers of writers killed mid-batch.  Returns the removed paths.

        Never under a live reader: a version that a live reader has pinned (see :mod:`._leases`) is only
        marked with a tombstone and removed by a later ``vacuum`` once no live lease names it."""
        from workbench.lake._maintenance import vacuum

        return vacuum(self, keep_versions)

    def check(self, repair: bool = False):
        """Verify every commit, registry, window version (metadata and each chunk's checksum) and delta
        file; with ``repair``, roll back to the last good commit and collect orphans. See
        :func:`workbench.lake.check`."""
        from workbench.lake._integrity import check

        return check(self.url, repair=repair)

    # ---- pipelines and knowledge (workbench.lake.pipeline, workbench.lake.knowledge) ---------------
    def pipeline(self, spec):
        """A pipeline bound to this lake, validated now: ``spec`` is a :class:`~workbench.lake.pipeline.Pipeline`,
        a dict or YAML text; ``.run(source=frame)`` writes its leaf outputs as features."""
        from workbench.lake.pipeline import BoundPipeline, Pipeline

        if isinstance(spec, str):
            spec = Pipeline.from_yaml(spec)
        elif isinstance(spec, dict):
            spec = Pipeline.from_dict(spec)
        return BoundPipeline(spec, self)

    @property
    def knowledge(self):
        """The knowledge repository stored beside this lake (entities, attributes, predicates, as of a time)."""
        from workbench.lake.knowledge import KnowledgeRepository

        return KnowledgeRepository.of_lake(self)

    def lineage(self):
        """Features, functions, pipeline processes and knowledge attributes as a ``workbench.graphs``
        LabelledGraph; ``workbench.lake.lineage.downstream(g, name)`` lists everything that depends on one."""
        from workbench.lake.lineage import lineage

        return lineage(self)

    def __repr__(self) -> str:
        head = self._log.head()
        return f"FeatureLake({self.url!r}, version={head['id'] if head else None}, windows={list(head['windows']) if head else []})"
