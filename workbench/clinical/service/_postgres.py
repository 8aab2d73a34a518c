"""A throwaway PostgreSQL cluster: ``initdb`` into a temporary directory, ``pg_ctl`` on a loopback port.

Tests, the notebook and the benchmark need a real server that nobody has to install by hand and that is
gone afterwards. ``initdb`` refuses to run as root, so when we are root the data directory is handed to
the ``postgres`` system user and every server binary runs through ``runuser``. The server listens on
127.0.0.1 only, its Unix socket lives inside the temporary directory, and an ``atexit`` hook stops it if
the owner forgets (a notebook cell that raised before its clean-up cell, a test run cut short).
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PostgresCluster", "find_postgres_bindir", "free_loopback_port", "throwaway_postgres"]

_CANDIDATE_BINDIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin")


def find_postgres_bindir() -> Path | None:
    """Return the directory holding ``initdb`` and ``pg_ctl``, or None when PostgreSQL is not installed.

    Looked up in this order: ``WORKBENCH_PG_BINDIR``, Debian's versioned directories, then ``PATH``.
    """
    override = os.environ.get("WORKBENCH_PG_BINDIR")
    candidates = [override] if override else []
    candidates += list(_CANDIDATE_BINDIRS)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for cand in candidates:
        if cand and (Path(cand) / "initdb").is_file() and (Path(cand) / "pg_ctl").is_file():
            return Path(cand)
    return None


def free_loopback_port() -> int:
    """Ask the kernel for a currently free TCP port on 127.0.0.1 (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresCluster:
    """A running throwaway cluster. ``url`` is a libpq URL for the ``dbname`` database on loopback."""

    bindir: Path
    root: Path
    port: int
    dbname: str
    _as_postgres: bool
    _stopped: bool = field(default=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    @property
    def running(self) -> bool:
        return not self._stopped

    def _run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete its directory. Safe to call more than once."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if (self.data_dir / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30", "stop", check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _start(bindir: Path, dbname: str, attempts: int = 5) -> PostgresCluster:
    as_postgres = hasattr(os, "geteuid") and os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="workbench-pg-"))
    if as_postgres:
        import pwd

        try:
            entry = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(root, ignore_errors=True)
            raise RuntimeError(
                "throwaway_postgres: running as root needs the 'postgres' system user (initdb refuses root); "
                "install Debian's postgresql package or run as an ordinary user."
            ) from None
        os.chown(root, entry.pw_uid, entry.pw_gid)
    cluster = PostgresCluster(bindir=bindir, root=root, port=0, dbname=dbname, _as_postgres=as_postgres)
    try:
        # --no-sync and fsync=off: the cluster is thrown away, durability would only cost time.
        init = cluster._run(
            "initdb", "-D", str(cluster.data_dir), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--locale=C", "--no-sync", check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed ({init.returncode}): {init.stderr.strip()[-2000:]}")
        last_error = ""
        for _ in range(attempts):
            # The port is free when asked but another process may take it before the server binds:
            # retry with a new port rather than fail.
            cluster.port = free_loopback_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            start = cluster._run(
                "pg_ctl", "-D", str(cluster.data_dir), "-l", str(cluster.log_file), "-o", options, "-w",
                "-t", "60", "start", check=False,
            )
            if start.returncode == 0:
                break
            log_tail = cluster.log_file.read_text(errors="replace")[-1500:] if cluster.log_file.exists() else ""
            last_error = f"{start.stderr.strip()} {log_tail}"
        else:
            raise RuntimeError(f"pg_ctl could not start the throwaway cluster: {last_error}")
        if dbname != "postgres":
            created = cluster._run(
                "createdb", "-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", dbname, check=False
            )
            if created.returncode != 0:
                raise RuntimeError(f"createdb {dbname} failed: {created.stderr.strip()}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


@contextmanager
def throwaway_postgres(dbname: str = "workbench") -> Iterator[PostgresCluster]:
    """Start a private PostgreSQL cluster on 127.0.0.1 and remove it (server and files) on exit.

    Yields a :class:`PostgresCluster`; connect with ``cluster.url``. Authentication is ``trust``, which
    is acceptable only because nothing but loopback can reach it and it lives for one run.

    >>> with throwaway_postgres() as pg:          # doctest: +SKIP
    ...     psycopg.connect(pg.url).execute("select 1")

    Raises RuntimeError when PostgreSQL is not installed (with the package to install) or fails to start.
    """
    if not isinstance(dbname, str) or not dbname.isidentifier():
        raise ValueError(f"throwaway_postgres(dbname=...): expected a plain identifier, got {dbname!r}")
    bindir = find_postgres_bindir()
    if bindir is None:
        raise RuntimeError(
            "throwaway_postgres: initdb/pg_ctl not found (looked in WORKBENCH_PG_BINDIR, "
            f"{', '.join(_CANDIDATE_BINDIRS)} and PATH). Install Debian's 'postgresql' package "
            "(`make setup-system`) or point WORKBENCH_PG_BINDIR at the binaries."
        )
    cluster = _start(bindir, dbname)
    # If the owner never reaches the end of the with-block (kernel shut down after a failed cell),
    # the interpreter's exit still stops the server: nothing is left listening.
    atexit.register(cluster.stop)
    try:
        yield cluster
    finally:
        cluster.stop()
        atexit.unregister(cluster.stop)


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepted connections on {host}:{port} within {timeout:.0f} s") from None
            time.sleep(0.05)
