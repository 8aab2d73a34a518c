"""Maintenance: ``vacuum`` (what may be deleted, and when) for :class:`FeatureLake`."""

from __future__ import annotations

import contextlib

from workbench.errors import UserError
from workbench.lake._keys import WINDOWS
from workbench.lake._leases import TOMBSTONES, live_pins, tombstone_rel


def _name(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[-1]


def vacuum(lake, keep_versions: int) -> list[str]:
    if isinstance(keep_versions, bool) or not isinstance(keep_versions, int) or keep_versions < 1:
        raise UserError(f"keep_versions={keep_versions!r}; expected a whole number >= 1 (the newest version of "
                        f"each window is what readers read, so at least that one is always kept)")
    log = lake._log
    fs = log.fs
    with lake.writing():
        head = log.head(fresh=True)
        commits = log.all_commits()
        if log.skipped:
            raise UserError(f"{lake.url} has damaged commit files {sorted(log.skipped)}; vacuum could delete data "
                            f"they name. Run `workbench lake check {lake.url} --repair` first")
        referenced = set()
        for w in WINDOWS:
            seen = []
            for c in reversed(commits):
                rel = c["windows"].get(w)
                if rel and rel not in seen:
                    seen.append(rel)
            referenced |= set(seen[:keep_versions])
        referenced |= set((head or {"windows": {}})["windows"].values())
        removed = []
        # Orphan deltas and temporary files: no live writer exists (we hold the lock), and readers only
        # open delta files that a commit names.
        named = {c["deltas"] for c in commits if c["deltas"]}
        for d in ("deltas", "commits"):
            if not fs.exists(log.path(d)):
                continue
            for p in fs.ls(log.path(d), detail=False):
                n = _name(p)
                rel = f"{d}/{n}"
                if n.startswith(".tmp-") or (d == "deltas" and rel not in named):
                    fs.rm(p, recursive=True)
                    removed.append(rel)
        # Window versions: tombstone first, then read the leases, then delete the unpinned (see _leases).
        # A version no commit ever named (a killed writer's) cannot be pinned and goes at once, which also
        # lets vacuum free a full disk before it needs room for tombstones (empty files: inodes only).
        ever_named = {rel for c in commits for rel in c["windows"].values()}
        candidates = []
        for w in WINDOWS:
            base = log.path("windows", w)
            if not fs.exists(base):
                continue
            for p in fs.ls(base, detail=False):
                rel = f"windows/{w}/{_name(p)}"
                if rel in referenced:
                    continue
                lake._versions.pop(rel, None)
                if rel not in ever_named:
                    fs.rm(p, recursive=True)
                    removed.append(rel)
                    continue
                fs.makedirs(log.path(TOMBSTONES, w), exist_ok=True)
                fs.touch(log.path(tombstone_rel(rel)))
                candidates.append((rel, p))
        if candidates:
            pinned = live_pins(log) - set(lake._lease._pins)  # our own pins are ours to drop
            for rel, p in candidates:
                if "*" in pinned or rel in pinned:
                    continue  # a live reader has it open: deleted by a later vacuum
                fs.rm(p, recursive=True)
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(log.path(tombstone_rel(rel)))
                removed.append(rel)
        # Tombstones of versions already gone (an earlier vacuum killed between the two steps).
        if fs.exists(log.path(TOMBSTONES)):
            for w in WINDOWS:
                base = log.path(TOMBSTONES, w)
                if fs.exists(base):
                    for p in fs.ls(base, detail=False):
                        if not fs.exists(log.path("windows", w, _name(p))):
                            fs.rm(p)
        # Media payloads go with the last window version that references them; one no version references
        # (a killed writer's, or all of whose versions are gone) cannot be read by anyone.
        from workbench.lake._integrity import live_blob_refs
        from workbench.lake.media import media_features, stored_blobs

        live = live_blob_refs(log, media_features(commits), ever_named)
        for rel, ref in sorted(stored_blobs(log).items()):
            if ref is None or ref not in live:
                fs.rm(log.path(rel))
                removed.append(rel)
        lake._lease._pins = [r for r in lake._lease._pins if r in referenced]
        return removed
