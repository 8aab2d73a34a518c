"""``workbench lake check``: verify every byte a reader trusts, say what is wrong and how to repair it.

What is checked, newest commit first until one passes completely:

* every commit file: complete JSON, its CRC-32, its id; files that are not commits are listed as strays;
* the registry of the commit: decodes, every feature has a known dtype, every function names registered
  features;
* each window version the commit names: the metadata checksums of its manifest, every chunk file present
  (the lake writes all chunks, so an absent one is damage even though readers read it as missing) and
  decoding with its CRC-32C, coordinates agreeing with the arrays;
* every delta file a commit names: present and matching the CRC-32 in the commit;
* every media payload a window version references (``media/sha256/..``): present and hashing to its name.
  A payload nothing references (a writer killed before its commit) is an orphan.

``repair`` (under the writer lock) moves damaged and stray commit files and every commit newer than the
last good one into ``quarantine/`` (a rollback to the last good commit; nothing is deleted that could
still be examined) and collects orphans: window versions and delta files no commit names, temporary files
of killed writers, leases of dead readers.  Exit codes follow fsck: 0 clean, 1 repaired, 4 damage left.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from workbench.errors import UserError
from workbench.lake._errors import LakeIntegrityError
from workbench.lake._keys import WINDOWS
from workbench.lake._leases import tombstone_rel
from workbench.lake._registry import DTYPES, Registry, check_feature_name
from workbench.lake._store import COMMITS, CommitLog, WriterLock, parse_commit
from workbench.lake._window import STORAGE, chunk_files, var_name, verify_manifest
from workbench.lake.media import MEDIA, blob_ref, blob_rel, media_features, stored_blobs, window_refs

QUARANTINE = "quarantine"


@dataclass
class Finding:
    kind: str  # "damage" or "orphan" or "stray"
    file: str
    what: str
    fix: str


@dataclass
class CheckReport:
    url: str
    head: int | None = None
    good_head: int | None = None
    findings: list[Finding] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    damage_left: bool = False
    bad_ids: list[int] = field(default_factory=list)  # commits that must go for a consistent head

    @property
    def damage(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "damage"]

    @property
    def exit_code(self) -> int:
        if self.damage_left:
            return 4
        return 1 if self.repaired else 0

    def lines(self) -> list[str]:
        out = [f"lake {self.url}: newest commit {self.head}, last good commit {self.good_head}"]
        for f in self.findings:
            out.append(f"  {f.kind}: {f.file}: {f.what} -> {f.fix}")
        for r in self.repaired:
            out.append(f"  repaired: {r}")
        verdict = {0: "clean", 1: "repaired, now clean", 4: "damage left"}[self.exit_code]
        out.append(f"{verdict} ({len(self.damage)} damaged, "
                   f"{sum(f.kind == 'orphan' for f in self.findings)} orphan, "
                   f"{sum(f.kind == 'stray' for f in self.findings)} stray)")
        return out


def _name(p: str) -> str:
    return p.rstrip("/").rsplit("/", 1)[-1]


def _verify_registry(commit: dict) -> str | None:
    try:
        reg = Registry.from_json(commit["registry"])
        for name, spec in reg.features.items():
            check_feature_name(name)
            if spec.dtype not in DTYPES and spec.dtype not in MEDIA:
                return f"feature {name!r} has unknown dtype {spec.dtype!r}"
        for name, fn in reg.functions.items():
            for feat in (*fn.inputs, *fn.outputs):
                if feat not in reg.features:
                    return f"function {name!r} names unregistered feature {feat!r}"
    except Exception as exc:  # noqa: BLE001 - any failure to decode is the finding
        return f"registry cannot be read ({type(exc).__name__}: {exc})"
    return None


def verify_window(log: CommitLog, rel: str, manifest: dict | None, window: str) -> list[str]:
    """Problems of one stored window version (empty when it verifies)."""
    import zarr

    url = log.url_of(rel)
    if not log.fs.exists(log.path(rel)):
        return [f"window version {rel} is missing"]
    try:
        if manifest is not None:
            verify_manifest(url, manifest, f"window {window!r} ({rel})", None)
        group = zarr.open_group(url, mode="r")
        present = {p[len(log.path(rel)) + 1:] for p in log.fs.find(log.path(rel))}
        names = sorted(group.array_keys())
    except Exception as exc:  # noqa: BLE001
        return [str(exc).split("; run")[0]]
    problems = []
    shapes = {}
    for name in names:
        try:
            arr = group[name]
            shapes[name] = arr.shape
        except Exception as exc:  # noqa: BLE001
            problems.append(f"array {name!r} cannot be opened ({type(exc).__name__}: {exc})")
            continue
        attrs = dict(arr.attrs)
        if "feature" in attrs:
            dtype = attrs.get("lake_dtype")
            if dtype not in STORAGE or var_name(attrs["feature"]) != name:
                problems.append(f"array {name!r} has malformed attributes {attrs}")
            elif arr.metadata.fill_value != STORAGE[dtype][1] and not (dtype == "float" and arr.metadata.fill_value != arr.metadata.fill_value):
                problems.append(f"array {name!r} has fill value {arr.metadata.fill_value}, not the missing marker")
        for coords, key in chunk_files(arr):
            if f"{name}/{key}" not in present:
                problems.append(f"feature array {name!r}: chunk {coords} file {rel}/{name}/{key} is missing "
                                f"(it would read as missing values)")
                continue
            try:
                arr.get_block_selection(coords)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"array {name!r}: chunk {coords} file {rel}/{name}/{key} is damaged "
                                f"({type(exc).__name__}: {str(exc)[:100]})")
    for coord in ("key", "key_components", "time"):
        if coord not in shapes:
            problems.append(f"coordinate {coord!r} is missing")
    n_keys, n_times = shapes.get("key", (None,))[0], shapes.get("time", (None,))[0]
    for name, shape in shapes.items():
        if len(shape) == 2 and shape != (n_keys, n_times):
            problems.append(f"array {name!r} has shape {shape}, the coordinates say {(n_keys, n_times)}")
    return problems


def _verify_deltas(log: CommitLog, commit: dict) -> str | None:
    import zlib

    rel = commit.get("deltas")
    if not rel:
        return None
    try:
        raw = log.fs.cat_file(log.path(rel))
    except FileNotFoundError:
        return f"delta file {rel} is missing"
    want = commit.get("deltas_crc")
    if want is not None and f"{zlib.crc32(raw):08x}" != want:
        return f"delta file {rel} fails its checksum"
    return None


def check(url, repair: bool = False) -> CheckReport:
    """Verify the lake at ``url``; with ``repair``, roll back to the last good commit and collect orphans."""
    url = str(url)
    import fsspec

    fs, root = fsspec.core.url_to_fs(url)
    if not fs.exists(f"{root.rstrip('/')}/{COMMITS}"):
        raise UserError(f"{url} is not a feature lake (no commits/ folder); pass the folder FeatureLake.open made")
    log = CommitLog(url)
    if not repair:
        return _check(log)
    with WriterLock(log):
        report = _check(log)
        _repair(log, report)
        after = _check(CommitLog(url))
        after.repaired = report.repaired
        after.damage_left = bool(after.damage)
        if not after.damage:
            after.findings = []
        return after


def _check(log: CommitLog) -> CheckReport:
    report = CheckReport(log.url)
    fs = log.fs
    ids = log.listed_ids()
    report.head = ids[-1] if ids else None
    good: dict[int, dict] = {}
    for p in fs.ls(log.path(COMMITS), detail=False):
        n = _name(p)
        rel = f"{COMMITS}/{n}"
        if n.startswith(".tmp-"):
            report.findings.append(Finding("orphan", rel, "temporary file of a killed writer", "--repair removes it"))
        elif not (n.endswith(".json") and n[:-5].isdigit()):
            report.findings.append(Finding("stray", rel, "not a commit file", "--repair moves it to quarantine/"))
    for i in ids:
        rel = log.commit_file(i)
        try:
            with fs.open(log.path(rel), "rb") as f:
                good[i] = parse_commit(f.read(), rel, i, log.url)
        except (LakeIntegrityError, OSError) as exc:
            report.findings.append(Finding("damage", rel, str(exc).split("; run")[0].split(": ", 1)[-1],
                                           "--repair moves it to quarantine/ (readers already skip it)"))
    # The newest commit whose registry, window versions and deltas all verify is the one to keep.
    bad_above: list[int] = []
    verified: dict[str, list[str]] = {}

    media = media_features(good.values())
    blob_ok: dict[str, str | None] = {}

    def blob_problem(ref):
        if ref not in blob_ok:
            rel = blob_rel(ref)
            try:
                blob_ok[ref] = None if blob_ref(fs.cat_file(log.path(rel))) == ref else \
                    f"media payload {rel} fails its SHA-256"
            except FileNotFoundError:
                blob_ok[ref] = f"media payload {rel} is missing (a dangling reference)"
        return blob_ok[ref]

    def window_problems(c, w, rel):
        if rel not in verified:
            verified[rel] = verify_window(log, rel, c.get("manifests", {}).get(rel), w)
            if not verified[rel]:
                verified[rel] = [p for ref in sorted(window_refs(log, rel, media)) if (p := blob_problem(ref))]
        return verified[rel]

    for i in sorted(good, reverse=True):
        c = good[i]
        problems = []
        if (why := _verify_registry(c)) is not None:
            problems.append(why)
        for w, rel in c["windows"].items():
            problems += [f"window {w!r}: {p}" for p in window_problems(c, w, rel)]
        if problems:
            for p in problems:
                report.findings.append(Finding("damage", log.commit_file(i), p,
                                               f"--repair rolls back to the last good commit below {i}"))
            bad_above.append(i)
            continue
        report.good_head = i
        break
    report.bad_ids = bad_above
    # Older versions that still exist (vacuum keeps a few) are verified too: a rollback may need them.
    head_rels = set(good[report.good_head]["windows"].values()) if report.good_head is not None else set()
    for i in sorted(good, reverse=True):
        for w, rel in good[i]["windows"].items():
            if rel in verified or rel in head_rels or not fs.exists(log.path(rel)):
                continue
            if fs.exists(log.path(tombstone_rel(rel))):
                verified[rel] = []
                report.findings.append(Finding("orphan", rel, "retired by vacuum (maybe partly removed by an "
                                               "interrupted vacuum); no reader opens it", "vacuum removes it"))
                continue
            for p in window_problems(good[i], w, rel):
                report.findings.append(Finding("damage", rel, f"window {w!r} (named by older commits): {p}",
                                               "--repair moves it to quarantine/ (the head does not need it)"))
    readable = [good[i] for i in sorted(good) if report.good_head is not None and i <= report.good_head]
    for c in readable:
        if (why := _verify_deltas(log, c)) is not None:
            report.findings.append(Finding("damage", c["deltas"], why + f" (named by commit {c['id']})",
                                           "--repair rolls back to before that commit"))
            report.bad_ids.append(c["id"])
    if report.good_head is None and (ids or _data_dirs(log)):
        report.findings.append(Finding("damage", COMMITS, "no readable commit, but lake data is present",
                                       "restore commits/ from a backup; FeatureLake.open(path, force_new=True) "
                                       "starts a new lake over the old files"))
    # Orphans: only meaningful relative to the good commits.
    named = {rel for c in good.values() for rel in c["windows"].values()}
    named_deltas = {c["deltas"] for c in good.values() if c["deltas"]}
    for w in WINDOWS:
        base = log.path("windows", w)
        if fs.exists(base):
            for p in fs.ls(base, detail=False):
                rel = f"windows/{w}/{_name(p)}"
                if rel not in named:
                    report.findings.append(Finding("orphan", rel, "window version no commit names",
                                                   "vacuum or --repair removes it"))
    if fs.exists(log.path("deltas")):
        for p in fs.ls(log.path("deltas"), detail=False):
            rel = f"deltas/{_name(p)}"
            if rel not in named_deltas:
                report.findings.append(Finding("orphan", rel, "delta file no commit names",
                                               "vacuum or --repair removes it"))
    live = live_blob_refs(log, media, named)
    for rel, ref in sorted(stored_blobs(log).items()):
        if ref is None:
            report.findings.append(Finding("orphan", rel, "not a media payload (a temporary file of a killed "
                                           "writer, or a stray)", "vacuum or --repair removes it"))
        elif ref not in live:
            report.findings.append(Finding("orphan", rel, "media payload no window version references",
                                           "vacuum or --repair removes it"))
    report.damage_left = bool(report.damage)
    return report


def live_blob_refs(log: CommitLog, media: set[str], named: set[str]) -> set[str]:
    """References held by the window versions still on disk that a commit names (a vacuumed-away version
    holds none, and neither does a killed writer's unpublished one)."""
    refs: set[str] = set()
    if not media:
        return refs
    for w in WINDOWS:
        base = log.path("windows", w)
        if log.fs.exists(base):
            for p in log.fs.ls(base, detail=False):
                rel = f"windows/{w}/{_name(p)}"
                if rel in named:
                    refs |= window_refs(log, rel, media)
    return refs


def _data_dirs(log: CommitLog) -> bool:
    return any(log.fs.exists(log.path(d)) and log.fs.ls(log.path(d), detail=False) for d in ("windows", "deltas"))


def _quarantine(log: CommitLog, rel: str, report: CheckReport) -> None:
    fs = log.fs
    fs.makedirs(log.path(QUARANTINE, os.path.dirname(rel)), exist_ok=True)
    fs.mv(log.path(rel), log.path(QUARANTINE, rel), recursive=True)
    report.repaired.append(f"moved {rel} to {QUARANTINE}/{rel}")


def _quarantined_commits(log: CommitLog) -> list[dict]:
    import json

    out = []
    folder = log.path(QUARANTINE, COMMITS)
    if log.fs.exists(folder):
        for p in log.fs.ls(folder, detail=False):
            with contextlib.suppress(Exception):
                c = json.loads(log.fs.cat_file(p))
                if isinstance(c, dict):
                    out.append(c)
    return out


def _named_in(log: CommitLog, folder: str) -> set[str]:
    import json

    out: set[str] = set()
    if log.fs.exists(folder):
        for p in log.fs.ls(folder, detail=False):
            with contextlib.suppress(Exception):
                c = json.loads(log.fs.cat_file(p))
                out |= set(c.get("windows", {}).values()) | ({c["deltas"]} if c.get("deltas") else set())
    return out


def _repair(log: CommitLog, report: CheckReport) -> None:
    fs = log.fs
    bad_ids = set(report.bad_ids)
    damaged_commit_files = {f.file for f in report.findings if f.kind == "damage" and f.file.startswith(COMMITS + "/")}
    if report.good_head is None:
        # Nothing to roll back to; keep everything for a human (repairing here could only lose data).
        damaged_commit_files = {f for f in damaged_commit_files if not f.endswith(".json")}
    # Roll back: every commit above the lowest bad one goes, so the head becomes the last good commit.
    cut = min(bad_ids) if bad_ids else None
    for i in log.listed_ids():
        rel = log.commit_file(i)
        if rel in damaged_commit_files or (cut is not None and i >= cut) or (
                report.good_head is not None and i > report.good_head):
            _quarantine(log, rel, report)
    for f in report.findings:
        if f.kind == "stray" or (f.kind == "damage" and f.file.startswith("windows/") and log.fs.exists(log.path(f.file))):
            _quarantine(log, f.file, report)
    if report.good_head is None:
        return
    # Orphans relative to what remains: objects of rolled-back commits go to quarantine with them, and
    # objects no commit ever named (killed writers' leftovers) are removed.
    remaining = CommitLog(log.url).all_commits()
    named = {rel for c in remaining for rel in c["windows"].values()}
    named |= {c["deltas"] for c in remaining if c["deltas"]}
    rolled_back = _named_in(log, log.path(QUARANTINE, COMMITS))
    objects = [f"windows/{w}/{_name(p)}" for w in WINDOWS if fs.exists(log.path("windows", w))
               for p in fs.ls(log.path("windows", w), detail=False)]
    for d in ("deltas", COMMITS):
        if fs.exists(log.path(d)):
            objects += [f"{d}/{_name(p)}" for p in fs.ls(log.path(d), detail=False)
                        if d == "deltas" or _name(p).startswith(".tmp-")]
    for rel in objects:
        if rel in named:
            continue
        if rel in rolled_back:
            _quarantine(log, rel, report)
        else:
            fs.rm(log.path(rel), recursive=True)
            report.repaired.append(f"removed orphan {rel}")
    # Media payloads: kept while a remaining window version references them; those only rolled-back
    # commits named go to quarantine with them, the rest (killed writers' leftovers) are removed.
    live = live_blob_refs(log, media_features(remaining + _quarantined_commits(log)), named)
    quarantined_refs = {r for c in _quarantined_commits(log) for r in c.get("media", [])}
    for rel, ref in stored_blobs(log).items():
        if ref is not None and ref in live:
            continue
        if ref is not None and ref in quarantined_refs:
            _quarantine(log, rel, report)
        else:
            fs.rm(log.path(rel))
            report.repaired.append(f"removed orphan {rel}")
    with contextlib.suppress(Exception):
        from workbench.lake._leases import live_pins

        live_pins(log)  # drops dead readers' leases
