"""Commit log, atomic publication and the single-writer lock.

Why a commit log of our own (the notebook tells the longer story): every batch writes *new* objects
only (a fresh zarr store per changed window, a fresh parquet file of deltas) and then publishes one
small JSON commit file.  The commit file is written to a temporary name and renamed into place
(``os.replace``, atomic on POSIX file systems; on object stores a single PUT is atomic by itself).
Readers list ``commits/`` and take the highest complete commit, so a writer killed at any instant leaves
either the previous commit (the batch wholly out; its half-written objects are unreferenced garbage that
:meth:`FeatureLake.vacuum` removes) or the new one (the batch wholly in).  Nothing a reader can see is
ever modified in place, which is also why readers need no lock.

Power cuts.  On a local file system every data file of a batch (each zarr chunk and metadata file, the
delta parquet) and the directories holding them are fsynced *before* the commit file naming them is
written, fsynced and renamed into place, and the commits directory is fsynced after the rename.  So a
power cut can lose only batches whose ``write`` had not returned (their files are orphans that
``vacuum`` or ``workbench lake check --repair`` collect); it cannot lose a batch whose ``write`` returned,
and it cannot leave a commit that names a file the disk never received.  On object stores a PUT is
durable when it returns, which gives the same rule.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import socket
import time as _time
import uuid
import warnings
import zlib

import fsspec
from fsspec.implementations.local import LocalFileSystem

from workbench.lake._errors import LakeIntegrityError

COMMITS = "commits"


class LakeLockedError(RuntimeError):
    """Raised when a second writer tries to write while another holds the lake's writer lock."""


class CommitLog:
    """The ordered list of commits under ``<root>/commits`` and helpers to write objects beside them.

    Every commit carries a CRC-32 of its own canonical JSON.  A commit file that is empty, truncated,
    not JSON, misnamed or fails its checksum is *skipped*: readers fall back to the last complete commit
    below it and :attr:`skipped` says which files were passed over and why.  New commits take an id above
    every file present, so a damaged file is never overwritten and stays for ``workbench lake check``.
    """

    def __init__(self, url: str):
        self.url = str(url)
        self.fs, self.root = fsspec.core.url_to_fs(self.url)
        self.local = isinstance(self.fs, LocalFileSystem)
        self.fs.makedirs(self.path(COMMITS), exist_ok=True)
        self._head_cache: tuple[object, dict | None] | None = None
        self._good: dict[int, dict] = {}  # commit files are immutable once valid: cache them
        self.skipped: dict[str, str] = {}  # file -> why it was skipped
        self._warned: set[str] = set()

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def url_of(self, relative: str) -> str:
        """A URL that zarr/xarray can open for an object stored at ``relative`` under the root."""
        if self.local:
            return self.path(relative)
        protocol = self.fs.protocol if isinstance(self.fs.protocol, str) else self.fs.protocol[0]
        return f"{protocol}://{self.path(relative).lstrip('/')}" if protocol != "memory" else f"memory://{self.path(relative)}"

    # ---- reading ----------------------------------------------------------------------------------
    def commit_file(self, commit_id: int) -> str:
        return f"{COMMITS}/{commit_id:012d}.json"

    def listed_ids(self) -> list[int]:
        """Ids of every file named like a commit (complete or not), ascending."""
        ids = []
        for p in self.fs.ls(self.path(COMMITS), detail=False):
            name = p.rstrip("/").rsplit("/", 1)[-1]
            if name.endswith(".json") and not name.startswith(".") and name[:-5].isdigit():
                ids.append(int(name[:-5]))
        return sorted(ids)

    def read(self, commit_id: int) -> dict:
        """The commit ``commit_id``; :class:`LakeIntegrityError` naming the file when it is not complete."""
        if commit_id in self._good:
            return self._good[commit_id]
        rel = self.commit_file(commit_id)
        try:
            with self.fs.open(self.path(rel), "rb") as f:
                raw = f.read()
        except FileNotFoundError:
            raise LakeIntegrityError(f"commit file {rel} is missing", url=self.url, file=rel) from None
        commit = parse_commit(raw, rel, commit_id, self.url)
        self._good[commit_id] = commit
        return commit

    def _scan(self, ids: list[int]) -> list[dict]:
        good = []
        for i in ids:
            try:
                good.append(self.read(i))
            except LakeIntegrityError as exc:
                self._skip(self.commit_file(i), str(exc))
        return good

    def _skip(self, rel: str, why: str) -> None:
        self.skipped[rel] = why
        if rel not in self._warned:
            self._warned.add(rel)
            warnings.warn(f"lake {self.url}: skipped {rel} ({why.split('; run')[0]}); reading the last complete "
                          f"commit before it", LakeIntegrityWarning, stacklevel=4)

    def head(self, fresh: bool = False) -> dict | None:
        """The latest complete commit, or None when there is none (``fresh``: never from the cache)."""
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
        head = None
        for i in reversed(self.listed_ids()):
            try:
                head = self.read(i)
                break
            except LakeIntegrityError as exc:
                self._skip(self.commit_file(i), str(exc))
        self._head_cache = (stamp, head) if stamp is not None else None
        return head

    def next_id(self) -> int:
        # Ids of commits that `lake check --repair` moved to quarantine/ are never reused either: a reader
        # that cached such a commit by id must not mistake a new commit for it.
        ids = self.listed_ids()
        q = self.path("quarantine", COMMITS)
        if self.fs.exists(q):
            ids += [int(n[:-5]) for n in (p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(q, detail=False))
                    if n.endswith(".json") and n[:-5].isdigit()]
        return max(ids) + 1 if ids else 1

    def commits_after(self, commit_id: int) -> list[dict]:
        return self._scan([i for i in self.listed_ids() if i > commit_id])

    def all_commits(self) -> list[dict]:
        return self._scan(self.listed_ids())

    # ---- writing ----------------------------------------------------------------------------------
    def new_object_name(self, prefix: str, commit_id: int, suffix: str) -> str:
        # A random part keeps a crashed writer's leftovers from ever colliding with a later attempt.
        return f"{prefix}/{commit_id:012d}-{uuid.uuid4().hex[:8]}{suffix}"

    def write_bytes_atomic(self, relative: str, data: bytes) -> None:
        target = self.path(relative)
        self.fs.makedirs(self.path(relative.rsplit("/", 1)[0]) if "/" in relative else self.root, exist_ok=True)
        if self.local:
            tmp = self.path(os.path.dirname(relative), f".tmp-{uuid.uuid4().hex}")
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)  # a full disk must not leave half files behind
                raise
            # fsync the directory so the rename itself survives a power cut, not only a killed process
            # (and the lake root, which names that directory when this write created it).
            fsync_dir(os.path.dirname(target))
            fsync_dir(self.root)
        else:
            self.fs.pipe_file(target, data)

    def publish(self, commit: dict) -> None:
        """Make ``commit`` the new head: the single atomic step of every batch."""
        name = self.commit_file(commit["id"])
        if self.fs.exists(self.path(name)):
            raise RuntimeError(f"commit {commit['id']} already exists; another writer bypassed the lock")
        self.write_bytes_atomic(name, encode_commit(commit))
        self._head_cache = None


class LakeIntegrityWarning(UserWarning):
    """A damaged commit file was skipped; the lake reads the last complete commit before it."""


_COMMIT_FIELDS = ("id", "parent", "operation", "registry", "windows", "deltas", "n_deltas", "processed_through")


def _canonical(commit: dict) -> bytes:
    body = {k: v for k, v in commit.items() if k != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encode_commit(commit: dict) -> bytes:
    """The commit's file bytes: its JSON with a CRC-32 of the canonical form of everything else."""
    body = {k: v for k, v in commit.items() if k != "checksum"}
    return json.dumps({**body, "checksum": f"crc32:{zlib.crc32(_canonical(body)):08x}"}, sort_keys=True).encode()


def parse_commit(raw: bytes, rel: str, commit_id: int, url: str) -> dict:
    """Decode and verify one commit file; LakeIntegrityError names the file and what is wrong."""
    def bad(why: str):
        return LakeIntegrityError(f"commit file {rel} is damaged: {why}", url=url, file=rel)

    if not raw:
        raise bad("it is empty")
    try:
        commit = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"not complete JSON ({len(raw)} bytes; {exc.__class__.__name__}: {exc})") from None
    if not isinstance(commit, dict):
        raise bad("not a JSON object")
    missing = [k for k in (*_COMMIT_FIELDS, "checksum") if k not in commit]
    if missing:
        raise bad(f"fields {missing} are missing")
    expected = f"crc32:{zlib.crc32(_canonical(commit)):08x}"
    if commit["checksum"] != expected:
        raise bad(f"checksum {commit['checksum']!r} does not match its content ({expected})")
    if commit["id"] != commit_id:
        raise bad(f"it holds commit {commit['id']!r}, not {commit_id}")
    if not isinstance(commit["windows"], dict) or not isinstance(commit["registry"], dict):
        raise bad("windows or registry is not an object")
    return commit


def fsync_dir(path: str) -> None:
    dfd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def fsync_tree(path: str) -> None:
    """fsync every file and directory under ``path`` and the directory holding it (data before commit)."""
    for dirpath, _, files in os.walk(path, topdown=False):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(dirpath)
    # and the chain of folders above it, which may have been created by this very batch
    parent = os.path.dirname(path.rstrip("/"))
    for _ in range(3):  # windows/<window>/ , windows/ , the lake root
        fsync_dir(parent)
        parent = os.path.dirname(parent)


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
            try:
                with open(self.log.path("LOCK.holder"), "w") as f:
                    f.write(holder)
            except OSError:
                pass  # a full disk: the holder text is only for messages; the flock is the lock
            self._fd = fd
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
