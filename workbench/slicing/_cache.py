"""A least-recently-used cache of sliced planes, bounded in bytes rather than in entries.

Planes of one array all have one size, but planes of different layers do not, and a byte budget is what
a user can reason about ("keep 256 MB of recent slices"), so the bound is in bytes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

from workbench.errors import UserError


class SliceCache:
    """Thread-safe LRU map from a slice key to a read-only numpy array, holding at most ``max_bytes``.

    An array larger than the whole budget is not stored (storing it would evict everything for one
    entry). ``max_bytes=0`` disables caching.
    """

    def __init__(self, max_bytes: int = 256 * 2**20) -> None:
        if not isinstance(max_bytes, (int, np.integer)) or isinstance(max_bytes, bool) or max_bytes < 0:
            raise UserError(f"cache_bytes: expected an integer number of bytes >= 0, got {max_bytes!r}")
        self.max_bytes = int(max_bytes)
        self._entries: OrderedDict[Hashable, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def get(self, key: Hashable) -> np.ndarray | None:
        """The cached array for ``key`` (marking it most recently used), or None."""
        with self._lock:
            array = self._entries.get(key)
            if array is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return array

    def put(self, key: Hashable, array: np.ndarray) -> None:
        """Store ``array`` under ``key``, evicting least recently used entries to stay within budget."""
        size = int(array.nbytes)
        if size > self.max_bytes:
            return
        array = array.view()
        array.flags.writeable = False
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            self._entries[key] = array
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._bytes -= evicted.nbytes
                self.evictions += 1

    def clear(self) -> None:
        """Forget every entry (after the underlying data changed)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        """Bytes currently held."""
        with self._lock:
            return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def info(self) -> dict[str, int]:
        """Entries, bytes, budget, hits, misses and evictions so far."""
        with self._lock:
            return {
                "entries": len(self._entries),
                "bytes": self._bytes,
                "max_bytes": self.max_bytes,
                "hits": self.hits,
                "misses": self.misses,
                "evictions": self.evictions,
            }
