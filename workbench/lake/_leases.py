"""Reader leases and tombstones: how ``vacuum`` never deletes a window version a live reader may need.

The rule (also in :meth:`FeatureLake.vacuum`):

* A reader *pins* every window version it opens: before reading a byte of it, it writes its lease file
  ``readers/<id>.json`` naming the version, and then checks that the version has no tombstone. A pinned
  version stays pinned until the reader has opened ``PIN_LIMIT`` newer versions or is closed.
* ``vacuum`` (under the writer lock) first writes a tombstone ``tombstones/<window>/<name>`` for each
  version it means to delete, *then* lists the leases, and deletes only versions no live lease names.
  A version that is still pinned keeps its tombstone and is deleted by a later ``vacuum``.
* The two orders interlock: if the reader's check found no tombstone, the tombstone came after the
  lease, so vacuum's listing sees the lease.  If the reader finds a tombstone it drops the pin and reads
  the newest commit again (the head's versions are never tombstoned).
* A lease is live while its process lives: on a local file system the reader holds an exclusive
  ``flock`` on ``readers/<id>.lock`` (the kernel drops it when the process dies, so vacuum can tell a
  dead reader by taking the lock); elsewhere a lease is live while its heartbeat is younger than
  ``LEASE_TTL_S`` (readers refresh it as they read).
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
import weakref

READERS = "readers"
TOMBSTONES = "tombstones"
PIN_LIMIT = 32
LEASE_TTL_S = 600.0


class VersionRetired(Exception):
    """The window version a reader was about to open is being vacuumed; read the head again."""


def tombstone_rel(rel: str) -> str:
    # windows/<window>/<name> -> tombstones/<window>/<name>
    return f"{TOMBSTONES}/{rel.split('/', 1)[1]}"


class ReaderLease:
    """The pins of one lake object (one per process and object; cheap until the first pin)."""

    def __init__(self, log):
        self.log = log
        self.id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._pins: list[str] = []
        self._fd: int | None = None
        self._beat = 0.0
        self._finalizer = None

    @property
    def _json(self) -> str:
        return self.log.path(READERS, f"{self.id}.json")

    def _write(self) -> None:
        if self._finalizer is None:
            self.log.fs.makedirs(self.log.path(READERS), exist_ok=True)
            if self.log.local:
                import fcntl

                # Lock under a private name, then rename: a visible lock file is always already held
                # (or its holder died), so vacuum never mistakes a reader starting up for a dead one.
                tmp = self.log.path(READERS, f".{self.id}.lock")
                self._fd = os.open(tmp, os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(tmp, self.log.path(READERS, f"{self.id}.lock"))
            self._finalizer = weakref.finalize(self, _drop, self.log.fs, self.log.local, self._json, self._fd)
        self._beat = _time.time()
        body = {"pid": os.getpid(), "host": socket.gethostname(), "heartbeat": self._beat,
                "at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), "versions": self._pins}
        data = json.dumps(body).encode()
        if self.log.local:
            tmp = self._json + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, self._json)
        else:
            self.log.fs.pipe_file(self._json, data)

    def pin(self, rel: str) -> None:
        """Pin ``rel`` before opening it; VersionRetired when vacuum is retiring it."""
        if rel in self._pins:
            if not self.log.local and _time.time() - self._beat > LEASE_TTL_S / 2:
                self._write()
            return
        self._pins.append(rel)
        del self._pins[:-PIN_LIMIT]
        try:
            self._write()
        except OSError as exc:
            # A full or read-only disk must not stop reads; the cost is that vacuum cannot see this reader.
            warnings.warn(f"lake {self.log.url}: could not write reader lease ({exc}); a concurrent vacuum may "
                          f"remove what this reader has open", RuntimeWarning, stacklevel=4)
        if self.log.fs.exists(self.log.path(tombstone_rel(rel))):
            self._pins.remove(rel)
            with contextlib.suppress(OSError):
                self._write()
            raise VersionRetired(rel)

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None
            self._pins = []


def _drop(fs, local: bool, path: str, fd: int | None) -> None:
    with contextlib.suppress(Exception):
        fs.rm(path)
    if fd is not None:
        with contextlib.suppress(OSError):
            os.unlink(path[: -len(".json")] + ".lock")
        with contextlib.suppress(OSError):
            os.close(fd)


def live_pins(log) -> set[str]:
    """Window versions named by live readers' leases; dead readers' leases are removed on the way."""
    base = log.path(READERS)
    if not log.fs.exists(base):
        return set()
    pinned: set[str] = set()
    for path in log.fs.ls(base, detail=False):
        if not path.endswith(".json"):
            continue
        try:
            with log.fs.open(path, "rb") as f:
                body = json.loads(f.read())
        except (OSError, ValueError):
            body = None  # being replaced right now, or damaged: judge by the lock alone
        alive = _alive(log, path, body)
        if alive:
            pinned |= set((body or {}).get("versions", []))
            if body is None:
                pinned.add("*")  # a live reader whose lease we could not read: keep everything
        else:
            with contextlib.suppress(Exception):
                log.fs.rm(path)
    return pinned


def _alive(log, path: str, body) -> bool:
    if log.local:
        import fcntl

        lock = path[: -len(".json")] + ".lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)  # closing drops our lock if we got it: the holder is dead
        with contextlib.suppress(OSError):
            os.unlink(lock)
        return False
    return body is not None and _time.time() - float(body.get("heartbeat", 0)) < LEASE_TTL_S
