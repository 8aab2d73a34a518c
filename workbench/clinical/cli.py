"""Commands of the clinical topic: ``workbench clinical ...`` and ``workbench serve fhir``.

``workbench clinical load-db``      migrate the database at $WORKBENCH_PG_URL, COPY the cohort, map to FHIR
``workbench clinical migrate``      apply pending SQL migrations only
``workbench clinical init-secrets`` create git-ignored secrets/jwt.key and secrets/pseudonym.key if absent
``workbench clinical add-client``   add an OAuth2 client (argon2-hashed secret) and print its secret once
``workbench serve fhir``            run the FHIR service with uvicorn (127.0.0.1:8000 by default)
``workbench serve fhir --demo``     the same on a throwaway PostgreSQL with the synthetic cohort

Heavy imports (polars, FastAPI, psycopg) happen inside the handlers so ``workbench --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _fail(command: str, exc: BaseException) -> int:
    print(f"workbench {command}: error: {exc}", file=sys.stderr)
    return 2


def _pg_url(args: argparse.Namespace) -> str:
    from workbench.clinical.service.config import PG_URL_ENV

    url = os.environ.get(PG_URL_ENV)
    if not url:
        raise RuntimeError(f"set {PG_URL_ENV}=postgresql://user@host:port/dbname (the URL is read from the environment only)")
    return url


def cmd_load_db(args: argparse.Namespace) -> int:
    try:
        from workbench.clinical.cohort import generate_cohort, read_vitals
        from workbench.clinical.pseudonym import load_key
        from workbench.clinical.service.db import prepare_database

        url = _pg_url(args)
        key = load_key()
        if args.generate is not None:
            frame = generate_cohort(n_patients=args.generate, seed=args.seed)
        else:
            frame = read_vitals(args.source)
        counts = prepare_database(url, frame, key, replace=not args.append)
    except (RuntimeError, ValueError, TypeError, OSError) as exc:
        return _fail("clinical load-db", exc)
    print(json.dumps({"rows_in": counts.rows_in, "rows_exported": counts.rows_exported,
                      "rows_rejected": counts.rows_rejected, "patients": counts.patients,
                      "observations": counts.observations}))  # fmt: skip
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    try:
        from workbench.clinical.service.db import apply_migrations, connect

        with connect(_pg_url(args)) as conn:
            applied = apply_migrations(conn)
    except (RuntimeError, ValueError, OSError) as exc:
        return _fail("clinical migrate", exc)
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


def _write_secret_file(path: Path, text: str) -> bool:
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    return True


def cmd_init_secrets(args: argparse.Namespace) -> int:
    import secrets

    from workbench.clinical.pseudonym import DEFAULT_KEY_FILE
    from workbench.clinical.service.config import DEFAULT_JWT_KEY_FILE

    for path in (DEFAULT_JWT_KEY_FILE, DEFAULT_KEY_FILE):
        made = _write_secret_file(path, secrets.token_hex(32))
        print(f"{path}: {'created (mode 600)' if made else 'exists, left unchanged'}")
    return 0


def cmd_add_client(args: argparse.Namespace) -> int:
    import secrets

    from workbench.clinical.service.config import CLIENTS_FILE_ENV, DEFAULT_CLIENTS_FILE, SCOPES, hash_secret

    path = Path(os.environ.get(CLIENTS_FILE_ENV) or DEFAULT_CLIENTS_FILE)
    bad = [s for s in args.scope if s not in SCOPES]
    if bad or not args.scope:
        return _fail("clinical add-client", ValueError(f"--scope must be given and drawn from {sorted(SCOPES)}; got {bad or 'none'}"))
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        return _fail("clinical add-client", ValueError(
            f"{path} is not valid JSON ({getattr(exc, 'msg', type(exc).__name__)}); fix or move the file, then add the client again"))
    if not isinstance(data, dict):
        return _fail("clinical add-client", ValueError(f"{path} must hold a JSON object of clients; fix or move the file"))
    if args.name in data and not args.replace:
        return _fail("clinical add-client", ValueError(f"{args.name!r} exists in {path}; pass --replace to rotate its secret"))
    secret = secrets.token_urlsafe(32)
    data[args.name] = {"grant": "password" if args.password_grant else "client_credentials",
                       "secret_hash": hash_secret(secret), "scopes": sorted(set(args.scope))}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2)
    tmp.replace(path)
    print(f"added {args.name!r} to {path}. Its secret (shown once, store it safely):", file=sys.stderr)
    print(secret)
    return 0


def _database_reachable(url: str, timeout_s: float = 4.0) -> None:
    """Raise UserError (one line, no password) unless the database answers within ``timeout_s``."""
    from urllib.parse import urlsplit

    import psycopg

    from workbench.errors import UserError

    parts = urlsplit(url)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(timeout_s)), autocommit=True) as conn:
            conn.execute("SELECT 1 FROM fhir.patient LIMIT 1")
    except psycopg.errors.UndefinedTable:
        raise UserError(f"the database at {where} has no FHIR tables; run `workbench clinical load-db` first "
                        "(or try `workbench serve fhir --demo`)") from None  # fmt: skip
    except psycopg.Error as exc:
        reason = " ".join(str(exc).split()[-12:])[:160] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot reach the database at {where} ({reason}); start PostgreSQL or fix "
                        "WORKBENCH_PG_URL, or try `workbench serve fhir --demo`") from None  # fmt: skip


def _run_uvicorn(app, args: argparse.Namespace) -> None:
    import uvicorn

    from workbench.clinical.service._protocol import uvicorn_config

    config = app.state.config
    server = uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port, log_level=args.log_level,
                                           access_log=not args.no_access_log, header_timeout_s=config.header_timeout_s,
                                           keep_alive_s=config.keep_alive_s))  # fmt: skip
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown; that is the normal way out
        pass


def _serve_demo(args: argparse.Namespace) -> int:
    """A throwaway PostgreSQL with the synthetic cohort and a demo client; everything stops on Ctrl-C."""
    import secrets

    from workbench.clinical.cohort import generate_cohort
    from workbench.clinical.service import (ClientRecord, JwtKey, ServiceConfig, create_app, hash_secret,
                                            prepare_database, throwaway_postgres)  # fmt: skip
    from workbench.clinical.service.config import SCOPES

    secret = secrets.token_urlsafe(24)
    jwt_secret = secrets.token_hex(32).encode()
    clients = {"demo": ClientRecord("demo", "client_credentials", hash_secret(secret), frozenset(SCOPES))}
    print("starting a throwaway PostgreSQL and loading the synthetic cohort ...", file=sys.stderr)
    with throwaway_postgres() as pg:
        counts = prepare_database(pg.url, generate_cohort(n_patients=args.demo_patients, seed=0), secrets.token_bytes(32))
        base = f"http://{args.host}:{args.port}"
        config = ServiceConfig(pg_url=pg.url, jwt_key=JwtKey("HS256", jwt_secret, jwt_secret), clients=clients,
                               public_base_url=base)  # fmt: skip
        app = create_app(config)
        print(f"demo: {counts.patients} patients, {counts.observations} Observations (synthetic). "
              f"FHIR service on {base}/fhir/metadata, OpenAPI UI {base}/docs. Ctrl-C stops everything.", file=sys.stderr)
        print("get a token with:", file=sys.stderr)
        print(f"curl -s -d grant_type=client_credentials -d client_id=demo -d client_secret={secret} {base}/auth/token")
        sys.stdout.flush()
        _run_uvicorn(app, args)
    return 0


def cmd_serve_fhir(args: argparse.Namespace) -> int:
    from workbench.errors import UserError

    if args.host not in LOOPBACK and not args.allow_remote:
        return _fail("serve fhir", ValueError(
            f"--host {args.host} would expose the service beyond this machine; put it behind TLS and pass "
            "--allow-remote if that is intended"))  # fmt: skip
    if args.demo:
        return _serve_demo(args)
    try:
        from workbench.clinical.service.app import create_app
        from workbench.clinical.service.config import ServiceConfig

        config = ServiceConfig.from_env()
        _database_reachable(config.pg_url)
        app = create_app(config, pool_open_timeout_s=5.0)
    except (UserError, RuntimeError, ValueError, TypeError, OSError) as exc:
        return _fail("serve fhir", exc)
    print(f"FHIR service on http://{args.host}:{args.port}/fhir/metadata  (OpenAPI UI: /docs)", file=sys.stderr)
    _run_uvicorn(app, args)
    return 0


def _serve_subparsers(subparsers: argparse._SubParsersAction) -> argparse._SubParsersAction:
    # Another topic may already have registered `serve`; add `fhir` beside its subcommands then.
    existing = subparsers.choices.get("serve")
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
        raise RuntimeError("a `serve` command without subcommands already exists; cannot add `serve fhir`")
    serve = subparsers.add_parser("serve", help="run a service (fhir)")
    return serve.add_subparsers(dest="service", required=True, metavar="SERVICE")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``clinical`` (load-db, migrate, init-secrets, add-client) and ``serve fhir`` to the CLI."""
    clinical = subparsers.add_parser("clinical", help="clinical data: load the FHIR database, manage secrets")
    sub = clinical.add_subparsers(dest="clinical_command", required=True, metavar="COMMAND")

    p = sub.add_parser("load-db", help="migrate $WORKBENCH_PG_URL, COPY the vitals, build the FHIR tables in SQL")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source", default=None, help="CSV/parquet of vitals (default: datasets/clinical/vitals.csv)")
    src.add_argument("--generate", type=int, default=None, metavar="N", help="generate a synthetic cohort of N patients")
    p.add_argument("--seed", type=int, default=0, help="seed for --generate (default 0)")
    p.add_argument("--append", action="store_true", help="add to the loaded vitals instead of replacing them")
    p.set_defaults(func=cmd_load_db)

    p = sub.add_parser("migrate", help="apply pending SQL migrations to $WORKBENCH_PG_URL")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("init-secrets", help="create secrets/jwt.key and secrets/pseudonym.key (git-ignored) if absent")
    p.set_defaults(func=cmd_init_secrets)

    p = sub.add_parser("add-client", help="add an OAuth2 client to secrets/fhir_clients.json; prints its secret")
    p.add_argument("name")
    p.add_argument("--scope", action="append", default=[], help="SMART scope (repeat), e.g. system/Patient.read")
    p.add_argument("--password-grant", action="store_true", help="a demo user for the password grant")
    p.add_argument("--replace", action="store_true", help="rotate the secret of an existing client")
    p.set_defaults(func=cmd_add_client)

    serve = _serve_subparsers(subparsers)
    p = serve.add_parser("fhir", help="the FHIR R4 service (FastAPI + uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--allow-remote", action="store_true", help="permit a non-loopback --host")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--no-access-log", action="store_true", help="do not log one line per request")
    p.add_argument("--demo", action="store_true",
                   help="throwaway local PostgreSQL + synthetic cohort + a demo client (prints how to get a token)")
    p.add_argument("--demo-patients", type=int, default=100, help="cohort size for --demo (default 100)")
    p.set_defaults(func=cmd_serve_fhir)


def main(argv: list[str] | None = None) -> int:
    """Run these commands without the rest of the CLI: ``python -m workbench.clinical.cli serve fhir``."""
    parser = argparse.ArgumentParser(prog="workbench")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
