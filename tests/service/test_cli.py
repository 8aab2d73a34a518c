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
