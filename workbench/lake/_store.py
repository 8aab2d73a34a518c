"""Commit log, atomic publication and the single-writer lock.

Why a commit log of our own (the notebook tells the longer story): every batch writes *new* objects
only (a fresh zarr store per changed window, a fresh parquet file of deltas) and then publishes one
small JSON commit file.  The commit file is written to a temporary name and renamed into place
(``os.replace``, atomic on POSIX file systems; on object stores a single PUT is atomic by itself).
Readers list ``commits/`` and take the highest complete commit, so a writer killed at any instant leaves
either the previous commit (the batch wholly out; its half-written objects are unreferenced garbage that
:meth:`FeatureLake.vacuum` removes) or the new one (the batch wholly in).  Nothing a reader can see is
ever modified in place, which is also why readers need no lock.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time as _time
import uuid

import fsspec
from fsspec.implementations.local import LocalFileSystem

COMMITS = "commits"


class LakeLockedError(RuntimeError):
    """Raised when a second writer tries to write while another holds the lake's writer lock."""


class CommitLog:
    """The ordered list of commits under ``<root>/commits`` and helpers to write objects beside them."""

    def __init__(self, url: str):
        self.url = str(url)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.fs.makedirs(self.path(COMMITS), exist_ok=True)
        self._head_cache: tuple[object, dict | None] | None = None

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def url_of(self, relative: str) -> str:
        """A URL that zarr/xarray can open for an object stored at ``relative`` under the root."""
        if self.local:
            return self.path(relative)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.path(relative).lstrip('/')}" if protocol != "memory" else f"memory://{self.path(relative)}"

    # ---- reading ----------------------------------------------------------------------------------
    def _commit_ids(self) -> list[int]:
        ids = []
        for p in self.fs.ls(self.path(COMMITS), detail=False):
            name = p.rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(".json") and not name.startswith(".") and name[:-5].isdigit():
                ids.append(int(name[:-5]))
        return sorted(ids)

    def read(self, commit_id: int) -> dict:
        with self.fs.open(self.path(COMMITS, f"{commit_id:012d}.json"), "rb") as f:
            return json.loads(f.read())

    def head(self, fresh: bool = False) -> dict | None:
        """The latest published commit, or None for an empty lake (``fresh``: never from the cache)."""
        stamp = None
        if self.local and not fresh:
            # The directory's mtime changes whenever a commit is renamed into it: a cheap validity check
            # that keeps `get` latency off the listing path.  File systems stamp times with a coarse
            # clock, so an mtime from the last moment is not trusted (two commits may share a tick).
            stamp = os.stat(self.path(COMMITS)).st_mtime_ns
            settled = _time.time_ns() - stamp > 100_000_000
            if settled and self._head_cache is not None and self._head_cache[0] == stamp:
                return self._head_cache[1]
            if not settled:
                stamp = None
        ids = self._commit_ids()
        head = self.read(ids[-1]) if ids else None
        self._head_cache = (stamp, head) if stamp is not None else None
        return head

    def commits_after(self, commit_id: int) -> list[dict]:
        return [self.read(i) for i in self._commit_ids() if i > commit_id]

    def all_commits(self) -> list[dict]:
        return [self.read(i) for i in self._commit_ids()]

    # ---- writing ----------------------------------------------------------------------------------
    def new_object_name(self, prefix: str, commit_id: int, suffix: str) -> str:
        # A random part keeps a crashed writer's leftovers from ever colliding with a later attempt.
        return f"{prefix}/{commit_id:012d}-{uuid.uuid4().hex[:8]}{suffix}"

    def write_bytes_atomic(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        self.fs.makedirs(self.path(relative.rsplit("/", 1)[0]) if "/" in relative else self.root, exist_ok=True)
        if self.local:
            tmp = self.path(os.path.dirname(relative), f".tmp-{uuid.uuid4().hex}")
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            # fsync the directory so the rename itself survives a power cut, not only a killed process.
            dfd = os.open(os.path.dirname(target), os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        else:
            self.fs.pipe_file(target, data)

    def publish(self, commit: dict) -> None:
        """Make ``commit`` the new head: the single atomic step of every batch."""
        name = f"{COMMITS}/{commit['id']:012d}.json"
        if self.fs.exists(self.path(name)):
            raise RuntimeError(f"commit {commit['id']} already exists; another writer bypassed the lock")
        self.write_bytes_atomic(name, json.dumps(commit, sort_keys=True).encode("utf-8"))
        self._head_cache = None


class WriterLock:
    """One writer at a time.

    On a local file system the lock is ``fcntl.flock`` on ``<root>/LOCK``: the kernel releases it when
    the holder dies, so a killed writer never leaves a stale lock.  On other fsspec file systems it is a
    lease file created if absent; a crashed holder's lease must be removed with
    :meth:`FeatureLake.break_lock`.  Re-entrant within one lake object.
    """

    def __init__(self, log: CommitLog):
        self.log = log
        self._depth = 0
        self._fd: int | None = None

    def _holder_text(self) -> str:
        try:
            with self.log.fs.open(self.log.path("LOCK.holder"), "rb") as f:
                info = json.loads(f.read())
            return f"pid {info['pid']} on {info['host']} since {info['since']}"
        except Exception:  # noqa: BLE001 - the holder description is best effort
            return "another writer"

    def _refuse(self):
        raise LakeLockedError(
            f"the lake at {self.log.url} is being written by {self._holder_text()}; one writer at a time. "
            f"Wait for that writer to finish (readers are never blocked) or write from that process."
        )

    def acquire(self) -> None:
        if self._depth:
            self._depth += 1
            return
        holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                             "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")})
        if self.log.local:
            import fcntl

            fd = os.open(self.log.path("LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._refuse()
            self._fd = fd
            with open(self.log.path("LOCK.holder"), "w") as f:
                f.write(holder)
        else:
            if self.log.fs.exists(self.log.path("LOCK")):
                self._refuse()
            self.log.fs.pipe_file(self.log.path("LOCK"), holder.encode())
            self.log.fs.pipe_file(self.log.path("LOCK.holder"), holder.encode())
        self._depth = 1

    def release(self) -> None:
        if not self._depth:
            return
        self._depth -= 1
        if self._depth:
            return
        if self.log.local:
            import fcntl

            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        else:
            self.log.fs.rm(self.log.path("LOCK"))

    def break_lock(self) -> None:
        if not self.log.local and self.log.fs.exists(self.log.path("LOCK")):
            self.log.fs.rm(self.log.path("LOCK"))

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()
