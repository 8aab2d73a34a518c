"""The Makefile: `make lab` as root and as an unprivileged user, set-up progress and the torch choice.

The command is the one the Makefile prints (`make -n lab`), so a change to the Makefile is what is tested. The
server is started with throwaway config/runtime folders, a token and a free port, polled until it answers,
then stopped.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(sys.prefix)
IS_ROOT = os.geteuid() == 0
HAS_RUNUSER = shutil.which("runuser") is not None


def _lab_command(as_user: str | None = None) -> list[str]:
    """The `jupyter lab ...` line of `make -n lab`, as root or as ``as_user``."""
    make = ["make", "-s", "-n", "-C", str(ROOT), "lab", f"VENV={VENV}"]
    if as_user:
        make = ["runuser", "-u", as_user, "--", *make]
    out = subprocess.run(make, capture_output=True, text=True, check=True, cwd="/tmp").stdout
    line = next(line for line in reversed(out.splitlines()) if "jupyter lab" in line)
    return shlex.split(line)


def test_lab_adds_allow_root_only_for_root():
    if IS_ROOT:
        assert "--allow-root" in _lab_command()
        if HAS_RUNUSER:
            assert "--allow-root" not in _lab_command("nobody")
    else:
        assert "--allow-root" not in _lab_command()
    assert "--ServerApp.ip=127.0.0.1" in _lab_command()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_and_poll(command: list[str], home: Path, user: str | None) -> str:
    port, token = _free_port(), "t" + os.urandom(8).hex()
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "IPYTHONDIR": str(home / "ipython"),
           "JUPYTER_DATA_DIR": str(home / "data")}
    args = [*command, "--no-browser", f"--port={port}", f"--IdentityProvider.token={token}",
            f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}"]
    if user:
        keep = ",".join(k for k in ("HOME", "JUPYTER_CONFIG_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "JUPYTER_DATA_DIR",
                                     "PYTHONPATH", "PATH"))
        args = ["runuser", "-u", user, f"--whitelist-environment={keep}", "--", *args]
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log = proc.stdout.read().decode(errors="replace")
                pytest.fail(f"JupyterLab exited with {proc.returncode}: {log[-800:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2) as r:
                    return r.read().decode()
            except OSError:
                time.sleep(0.5)
        pytest.fail("JupyterLab did not answer within 90 s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("who", ["current user", "unprivileged user"])
def test_make_lab_opens(who, tmp_path):
    user = None
    if who == "unprivileged user":
        if not (IS_ROOT and HAS_RUNUSER):
            pytest.skip("starting as another user needs root and runuser; the current user is unprivileged already")
        user = "nobody"
        probe = subprocess.run(["runuser", "-u", user, "--", str(VENV / "bin" / "python"), "-c", "pass"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"{user} cannot run this environment's interpreter ({probe.stderr.strip()[:120]}); "
                        "on such a machine a non-root user has a .venv of their own")
        home = tmp_path / "home"
        home.mkdir()
        os.chmod(tmp_path, 0o755)
        shutil.chown(home, user="nobody")
        command = _lab_command(user)
    else:
        home = tmp_path
        command = _lab_command()
    status = _serve_and_poll(command, home, user)
    assert '"started"' in status


def _dry_run(*args: str) -> list[str]:
    out = subprocess.run(["make", "-s", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def test_setup_says_what_it_installs_and_installs_the_torch_spec_first(tmp_path):
    venv = tmp_path / "v"
    spec = "torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu"
    lines = _dry_run("setup", f"VENV={venv}", f"TORCH_SPEC={spec}")
    pips = [i for i, line in enumerate(lines) if "/bin/pip install" in line]
    assert lines[pips[1]] == f"{venv}/bin/pip install -q {spec}"  # after pip's own upgrade, before the package
    assert '-e ".[dev]"' in lines[pips[2]]
    for i in pips[1:]:  # every long step is announced before it starts
        assert lines[i - 1].startswith('echo "setup '), lines[i - 1]
    assert any("setup done" in line for line in lines)


def test_default_torch_is_the_pin_environment_yml_installs_first(tmp_path):
    import yaml

    lines = _dry_run("setup", f"VENV={tmp_path / 'v'}")
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert f"{tmp_path / 'v'}/bin/pip install -q {pip_section[0]}" in lines
