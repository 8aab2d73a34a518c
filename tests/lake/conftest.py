"""Helpers shared by the lake's crash tests: writer processes started from a script, watched line by line."""

import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace

import pytest


def spawn(script: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() == expected:
            return
        if not line and proc.poll() is not None:
            raise AssertionError(f"child exited before {expected!r}: {proc.stderr.read()}")
    raise AssertionError(f"child did not print {expected!r} in {timeout}s")


@pytest.fixture
def writers():
    """``writers.spawn(script, *args)`` starts a child Python; ``writers.wait_for_line(child, text)`` waits for it."""
    return SimpleNamespace(spawn=spawn, wait_for_line=wait_for_line)
