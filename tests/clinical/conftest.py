"""Fixtures shared by the clinical tests: a throwaway PostgreSQL cluster."""

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres_url():
    """URL of a PostgreSQL 15 cluster started for this test session in a temp dir, stopped and removed after."""
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 is not installed (make setup-system installs it)")
    root = Path(tempfile.mkdtemp(prefix="wb-pg-"))
    data, port = root / "data", _free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(root, "postgres")

    def run(*args):
        done = subprocess.run([*as_postgres, *args], capture_output=True, text=True)
        if done.returncode:
            log = (root / "log").read_text() if (root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {done.stderr}{done.stdout}{log}")

    run(PG_BIN / "initdb", "-A", "trust", "-U", "postgres", "-D", data)
    run(PG_BIN / "pg_ctl", "-D", data, "-w", "-l", root / "log",
        "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")  # fmt: skip
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_postgres, PG_BIN / "pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


