"""FeatureLake: the small facade over the lake's owners.

=====================  =========================================================================
concern                owner module
=====================  =========================================================================
commits, lock, leases  :mod:`._store`, :mod:`._leases` (and the state methods of this class)
storage (writes)       :mod:`._storage`: validate, merge into window versions, deltas, media, commit
registry               :mod:`._registration` (commands), :mod:`._registry` (the model)
resolvers and router   :mod:`._resolvers`: ``run_pending``, ``backfill``, dask or in-process calls
queries                :mod:`._queries`: ``get``, ``history``, ``keys``, ``dataset``, ``training_frame``
delete and families    :mod:`._commands`
pipelines, knowledge   :mod:`.pipeline`, :mod:`.knowledge`, :mod:`.lineage`
maintenance            :mod:`._maintenance` (``vacuum``), :mod:`._integrity` (``check``)
=====================  =========================================================================

Each public method here is one line that hands its arguments to its owner; the state every owner shares
(the commit log, the writer lock, the reader lease, cached window versions, bound callables) lives on the
object.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import threading
from typing import Callable, Sequence

import polars as pl

from workbench.lake import _queries as queries_
from workbench.lake import _registration as registration_
from workbench.lake import _resolvers as resolvers_
from workbench.lake import _storage as storage_
from workbench.lake._errors import LakeIntegrityError
from workbench.lake._keys import EventKey
from workbench.lake._leases import ReaderLease, VersionRetired
from workbench.lake._pit import gather  # noqa: F401 - the kernel _queries and _resolvers use (tests check it is _pit's)
from workbench.lake._registry import FeatureSpec, FunctionSpec, HttpInvocation, Registry
from workbench.lake._resolvers import RunReport
from workbench.lake._storage import WriteReport
from workbench.lake._store import CommitLog, WriterLock
from workbench.lake._window import WindowData

__all__ = ["FeatureLake", "RunReport", "WriteReport"]


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
        return registration_.register_feature(self, name, dtype, unit, description, categories, window)

    def register_function(self, name: str, fn: Callable | None, inputs: Sequence[str], outputs: Sequence[str],
                          kind: str = "ML", *, attributes: Sequence[str] = (), description: str = "",
                          ttl=None, http: HttpInvocation | dict | None = None,
                          knowledge: Sequence[str] = ()) -> FunctionSpec:
        """Register a function ``/<domain>/function/<inference|interpretation>/<name>``: a directed
        hyperedge from ``inputs`` (registered features) to ``outputs`` (registered features).

        Calling convention (the same in-process, on a dask worker or behind HTTP)::

            out = fn(inputs: polars.DataFrame) -> polars.DataFrame

        ``inputs`` has one row per (key, window time) to compute -- the keys and window times whose
        input features changed -- with columns

        * ``key``: the EventKey digest (text), ``time``: the window time (Datetime ns),
        * the key's components as columns (entity ids such as ``customer``, context, attributes),
        * one column per input feature, named by its full name: the latest value at or before ``time``
          (within ``ttl`` when given), null when there is none,
        * one column per ``knowledge`` attribute (defined in :attr:`knowledge`): the entity's value as
          valid at ``time``, never a later one (changing an attribute does not by itself re-run the function).

        ``out`` must have the columns ``key`` and ``time`` (copied from ``inputs``) and one column per
        output feature (full names); null means "no value".  Outputs are upserted into the same window
        and may trigger further functions.  Re-registering an identical definition only re-binds ``fn``
        in this process.  ``http={"url": ...}`` instead of ``fn`` POSTs ``inputs`` as JSON records and
        expects JSON records back.  Cycles among functions are refused.
        """
        return registration_.register_function(self, name, fn, inputs, outputs, kind, attributes=attributes,
                                               description=description, ttl=ttl, http=http, knowledge=knowledge)

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
        return storage_.write(self, frame, window, entities, time, context, attributes, window_start, interpret)

    def _commit_updates(self, head: dict, reg: Registry, updates_by_window: dict, operation: str,
                        processed_through: int | None = None, blobs: dict | None = None, subject: str | None = None,
                        drop: set | None = None, registry_after: Registry | None = None):
        """See :func:`workbench.lake._storage.commit_updates`."""
        return storage_.commit_updates(self, head, reg, updates_by_window, operation, processed_through, blobs,
                                       subject, drop, registry_after)

    # ---- delta log, resolvers, router -------------------------------------------------------------
    def deltas(self, pending_only: bool = False) -> pl.DataFrame:
        """The delta log: one row per changed (key, window, feature, window time), with its commit."""
        return storage_.deltas(self, pending_only)

    def _route(self, calls: list[tuple[FunctionSpec, str, pl.DataFrame]]) -> list[pl.DataFrame]:
        """See :func:`workbench.lake._resolvers.route`."""
        return resolvers_.route(self, calls)

    def run_pending(self, max_rounds: int = 32) -> RunReport:
        """Process the delta log until nothing is pending: resolve the functions with a changed input,
        gather their inputs, run them (in-process or on the dask cluster), upsert their outputs, and
        mark the deltas processed in the same commit as the outputs (at-least-once: a crash before
        that commit leaves the deltas pending and the rerun is an idempotent upsert)."""
        return resolvers_.run_pending(self, max_rounds)

    def run_pending_every(self, interval_s: float, stop: threading.Event | None = None,
                          max_cycles: int | None = None) -> list[RunReport]:
        """Call :meth:`run_pending` every ``interval_s`` seconds until ``stop`` is set or ``max_cycles``
        cycles ran (run it in a thread for a background scheduler). Returns the reports."""
        return resolvers_.run_pending_every(self, interval_s, stop, max_cycles)

    def backfill(self, function: str, window: str = "day", start=None, end=None, partitions: int = 4) -> RunReport:
        """Run ``function`` for every key and window time (in [start, end]) where any input has a value,
        split by key into ``partitions`` tasks (dask tasks when the lake has a client); one commit."""
        return resolvers_.backfill(self, function, window, start, end, partitions)

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
        return {f: self.get(key, f, window, at, media) for f in _commands.expand(self._head(), [name])}

    # ---- queries -----------------------------------------------------------------------------------
    def _digest(self, key, window: str) -> str:
        """See :func:`workbench.lake._queries.digest_of`."""
        return queries_.digest_of(self, key, window)

    def _check_window(self, window: str) -> None:
        """See :func:`workbench.lake._queries.check_window`."""
        return queries_.check_window(self, window)

    def key(self, digest: str, window: str | None = None) -> EventKey:
        """Reverse lookup: the EventKey whose digest is ``digest`` (searched in one or all windows)."""
        return queries_.key(self, digest, window)

    def keys(self, window: str = "day") -> pl.DataFrame:
        """All keys of a window: digest plus their readable components as columns."""
        return queries_.keys(self, window)

    def get(self, key, feature: str, window: str = "day", at=None, media: str = "bytes"):
        """The value of ``feature`` for ``key``: the latest one, or with ``at`` the latest at or before
        ``at``. None when there is no such value. For a media feature, ``media`` picks the payload
        (``"bytes"``), where it lives (``"uri"``) or the stored reference (``"ref"``)."""
        return queries_.get(self, key, feature, window, at, media)

    def history(self, key, features, window: str = "day", start=None, end=None, count: int | None = None,
                media: str = "bytes"):
        """The stored values of ``features`` for ``key`` as a polars DataFrame (time + one column per
        feature), rows where any of them has a value, within [start, end], the last ``count`` rows.
        Media features come back as ``media`` says (see :meth:`get`)."""
        return queries_.history(self, key, features, window, start, end, count, media)

    def dataset(self, window: str = "day"):
        """The window as a lazy xarray Dataset (dask arrays), dims (key, time), one variable per feature
        (named by its full name; missing = NaN; string/categorical as codes with ``categories`` attrs)."""
        return queries_.dataset(self, window)

    def training_frame(self, entity_df: pl.DataFrame, features, window: str = "day", ttl=None,
                       time: str = "event_time", entities=None, context=(), attributes=(),
                       media: str = "bytes") -> pl.DataFrame:
        """Point-in-time join: ``entity_df``'s rows (same order) plus one column per feature holding the
        latest value at or before each row's ``time`` and, with ``ttl``, no older than ``time - ttl``
        (null otherwise).  Never a value from the future.

        ``entities`` defaults to the entities named in the features (``/d/feature/<entity>/x``); their
        columns (plus ``context``/``attributes`` columns) must be in ``entity_df`` and form the keys.
        """
        return queries_.training_frame(self, entity_df, features, window, ttl, time, entities, context, attributes,
                                       media)

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
