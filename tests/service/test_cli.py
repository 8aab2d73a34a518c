"""`workbench clinical ...` and `workbench serve fhir`: registered, and working against a real database."""

from __future__ import annotations

import argparse
import json
import secrets

import psycopg
import pytest

from workbench.clinical import cli

pytestmark = pytest.mark.postgres


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command", required=True))
    return parser


def test_register_adds_clinical_and_serve_fhir():
    args = _parser().parse_args(["serve", "fhir"])
    assert (args.host, args.port, args.func) == ("127.0.0.1", 8000, cli.cmd_serve_fhir)
    assert _parser().parse_args(["clinical", "load-db", "--generate", "5"]).func is cli.cmd_load_db


def test_serve_joins_an_existing_serve_command():
    parser = argparse.ArgumentParser(prog="workbench")
    sub = parser.add_subparsers(dest="command")
    other = sub.add_parser("serve").add_subparsers(dest="service")
    other.add_parser("lake")
    cli.register(sub)
    assert parser.parse_args(["serve", "fhir", "--port", "9"]).port == 9
    assert parser.parse_args(["serve", "lake"]).service == "lake"


def test_load_db_migrates_loads_and_maps(make_database, monkeypatch, capsys):
    url = make_database("cli_load")
    monkeypatch.setenv("WORKBENCH_PG_URL", url)
    monkeypatch.setenv("WORKBENCH_PSEUDONYM_KEY", secrets.token_hex(32))
    assert cli.main(["clinical", "load-db", "--generate", "6", "--seed", "3"]) == 0
    counts = json.loads(capsys.readouterr().out)
    assert counts["rows_in"] == counts["rows_exported"] + counts["rows_rejected"] and counts["patients"] == 6
    assert cli.main(["clinical", "load-db", "--generate", "6", "--seed", "3"]) == 0  # replaces, no duplicates
    assert json.loads(capsys.readouterr().out) == counts
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM hospital.vitals").fetchone()[0] == counts["rows_in"]
    assert cli.main(["clinical", "migrate"]) == 0
    assert "up to date" in capsys.readouterr().out


def test_load_db_without_a_url_or_key_says_what_to_set(monkeypatch, capsys):
    monkeypatch.delenv("WORKBENCH_PG_URL", raising=False)
    assert cli.main(["clinical", "load-db", "--generate", "2"]) == 2
    assert "WORKBENCH_PG_URL" in capsys.readouterr().err


def test_add_client_stores_only_a_hash_and_prints_the_secret_once(tmp_path, monkeypatch, capsys):
    from workbench.clinical.service import load_clients

    path = tmp_path / "clients.json"
    monkeypatch.setenv("WORKBENCH_FHIR_CLIENTS_FILE", str(path))
    assert cli.main(["clinical", "add-client", "etl", "--scope", "system/Observation.write"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret and secret not in path.read_text() and (path.stat().st_mode & 0o077) == 0
    record = load_clients({"WORKBENCH_FHIR_CLIENTS_FILE": str(path)})["etl"]
    from argon2 import PasswordHasher

    assert PasswordHasher().verify(record.secret_hash, secret)
    assert cli.main(["clinical", "add-client", "etl", "--scope", "system/Observation.write"]) == 2
    assert cli.main(["clinical", "add-client", "x", "--scope", "admin"]) == 2


def test_init_secrets_creates_private_files_once(tmp_path, monkeypatch, capsys):
    import workbench.clinical.pseudonym as pseudonym
    import workbench.clinical.service.config as config

    monkeypatch.setattr(config, "DEFAULT_JWT_KEY_FILE", tmp_path / "jwt.key")
    monkeypatch.setattr(pseudonym, "DEFAULT_KEY_FILE", tmp_path / "pseudonym.key")
    assert cli.main(["clinical", "init-secrets"]) == 0
    first = (tmp_path / "jwt.key").read_text()
    assert len(first.strip()) == 64 and ((tmp_path / "jwt.key").stat().st_mode & 0o077) == 0
    assert cli.main(["clinical", "init-secrets"]) == 0
    assert (tmp_path / "jwt.key").read_text() == first and "left unchanged" in capsys.readouterr().out


def test_serve_with_an_unreachable_database_exits_fast_with_one_line(clients, monkeypatch, capsys):
    """Issue 22 item 13: it printed its banner, 30 s of connection errors, then a PoolTimeout traceback.

    Timed in process: what the 5 s promise covers is our start-up, not the interpreter's (which alone
    took seconds on a loaded 2-core machine)."""
    import time

    from workbench.clinical.service import free_loopback_port

    stored = {n: {"grant": c.grant, "secret_hash": c.secret_hash, "scopes": sorted(c.scopes)} for n, c in clients.items()}
    monkeypatch.setenv("WORKBENCH_PG_URL", f"postgresql://nobody:pw-never-shown@127.0.0.1:{free_loopback_port()}/x")
    monkeypatch.setenv("WORKBENCH_JWT_KEY", secrets.token_hex(32))
    monkeypatch.setenv("WORKBENCH_FHIR_CLIENTS", json.dumps(stored))
    monkeypatch.delenv("WORKBENCH_LAKE", raising=False)
    started = time.monotonic()
    code = cli.main(["serve", "fhir", "--port", str(free_loopback_port())])
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    assert code == 2 and elapsed < 5, (elapsed, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot reach the database at 127.0.0.1:" in lines[0] and "--demo" in lines[0]
    assert "pw-never-shown" not in err and "Traceback" not in err and "service on" not in err


def test_serve_demo_starts_a_database_prints_the_token_command_and_stops_on_ctrl_c():
    import os
    import shlex
    import signal
    import subprocess
    import sys
    import time

    import httpx

    from workbench.clinical.service import find_postgres_bindir, free_loopback_port

    if find_postgres_bindir() is None:
        pytest.skip("PostgreSQL binaries not found")
    port = free_loopback_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    proc = subprocess.Popen([sys.executable, "-m", "workbench.clinical.cli", "serve", "fhir", "--demo", "--port", str(port),
                             "--demo-patients", "8", "--no-access-log"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        command = proc.stdout.readline().strip()  # the one line on stdout: how to get a token
        assert command.startswith("curl "), command
        words = shlex.split(command)
        form = dict(w.split("=", 1) for w in words[words.index("-d") :: 1] if "=" in w and not w.startswith("http"))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                token = httpx.post(base + "/auth/token", data=form, timeout=10)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
        assert token.status_code == 200, token.text
        bundle = httpx.get(base + "/fhir/Patient", headers={"Authorization": f"Bearer {token.json()['access_token']}"}).json()
        assert bundle["total"] == 8 and bundle["entry"][0]["fullUrl"].startswith(base + "/fhir/Patient/")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    with pytest.raises(httpx.TransportError):
        httpx.get(base + "/fhir/metadata", timeout=2)
