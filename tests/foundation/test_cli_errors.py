"""Every subcommand answers bad input with one line on stderr and exit status 2, never a traceback.

Each subcommand that exists is driven with at least three kinds of bad input: a malformed argument (argparse),
a value the command refuses, and a file or path that cannot be used. The line must name what was wrong (the
argument, file or parameter). No case is expected to fail: every subcommand, topic ones included, meets this.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODEL = ROOT / "datasets" / "models" / "crnn_small.pt"
LINE_IMAGE = next((ROOT / "datasets" / "crnn" / "lines").glob("*.png"), None)
CLINICAL_ENV = ("WORKBENCH_PG_URL", "WORKBENCH_JWT_KEY", "WORKBENCH_JWT_KEY_FILE", "WORKBENCH_PSEUDONYM_KEY",
                "WORKBENCH_PSEUDONYM_KEY_FILE", "WORKBENCH_FHIR_CLIENTS", "WORKBENCH_FHIR_CLIENTS_FILE", "WORKBENCH_DEBUG")




_TOP_COMMANDS = set(next(a for a in build_parser()._actions if a.dest == "command").choices)
needs_teaching = pytest.mark.skipif("assign" not in _TOP_COMMANDS,
                                    reason="the teaching commands (workbench/teaching/cli.py) are not in this checkout")
needs_lake_cli = pytest.mark.skipif("lake" not in _TOP_COMMANDS,
                                    reason="the lake commands (workbench/lake/cli.py) are not in this checkout")
needs_model = pytest.mark.skipif(not SHIPPED_MODEL.is_file() or LINE_IMAGE is None,
                                 reason="the shipped recognizer datasets/models/crnn_small.pt is not in this checkout")


@pytest.fixture
def files(tmp_path, monkeypatch):
    """Bad files of every kind, an environment without the clinical settings, and no server ever started."""
    for name in CLINICAL_ENV:
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "bad.yaml").write_text("seed: [1\n")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    (tmp_path / "a_file").write_text("not a folder\n")
    (tmp_path / "not_an_image.png").write_text("plain text\n")
    (tmp_path / "clients.json").write_text("{not json")
    broken = tmp_path / "broken_nbs"
    broken.mkdir()
    (broken / "10_broken.ipynb").write_text('{"cells": [')
    bare = tmp_path / "bare_nbs"
    bare.mkdir()
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), bare / "10_bare.ipynb")
    # The developer's own git-ignored secrets/ must not change what these commands see.
    from workbench.clinical import pseudonym
    from workbench.clinical.service import config

    monkeypatch.setattr(config, "DEFAULT_JWT_KEY_FILE", tmp_path / "secrets" / "jwt.key")
    monkeypatch.setattr(config, "DEFAULT_CLIENTS_FILE", tmp_path / "secrets" / "fhir_clients.json")
    monkeypatch.setattr(pseudonym, "DEFAULT_KEY_FILE", tmp_path / "secrets" / "pseudonym.key")
    import uvicorn

    def no_server(*args, **kwargs):
        raise AssertionError("the test reached uvicorn.run: a bad input was not refused")

    monkeypatch.setattr(uvicorn, "run", no_server)
    return tmp_path


# (argv, fragments the line must contain, marks). "{t}" is the test's temporary folder.
CASES = {
    # the command itself
    "no-command": ([], ["COMMAND"]),
    "unknown-command": (["nosuch"], ["nosuch"]),
    "unknown-top-option": (["--verbose", "list"], ["--verbose"]),
    # list
    "list/missing-directory": (["list", "--directory", "{t}/nope"], ["nope", "does not exist"]),
    "list/corrupt-notebook": (["list", "--json", "--directory", "{t}/broken_nbs"], ["10_broken.ipynb", "not a readable notebook"]),
    "list/no-parameters-cell": (["list", "--json", "--directory", "{t}/bare_nbs"], ["10_bare.ipynb", "parameters"]),
    "list/unknown-option": (["list", "--jsn"], ["--jsn"]),
    # run
    "run/unknown-notebook": (["run", "99_missing"], ["99_missing", "Available"]),
    "run/unknown-parameter": (["run", "00", "-p", "n_sample", "10"], ["n_sample", "Valid names"]),
    "run/wrong-type": (["run", "00", "-p", "seed", "abc"], ["seed", "integer"]),
    "run/untyped-default-none": (["run", "00", "-p", "n_samples", "abc"], ["n_samples", "integer", "abc"]),
    "run/bad-profile": (["run", "00", "--profile", "medium"], ["--profile", "medium"]),
    "run/malformed-yaml": (["run", "00", "-f", "{t}/bad.yaml"], ["bad.yaml", "not valid YAML", "line 2"]),
    "run/yaml-not-a-mapping": (["run", "00", "-f", "{t}/list.yaml"], ["list.yaml", "mapping"]),
    "run/missing-yaml": (["run", "00", "-f", "{t}/nope.yaml"], ["nope.yaml", "does not exist"]),
    "run/yaml-is-a-folder": (["run", "00", "-f", "{t}"], ["is not a file"]),
    "run/timeout-not-a-number": (["run", "00", "--timeout", "soon"], ["--timeout", "soon"]),
    "run/out-under-a-file": (["run", "00", "--out", "{t}/a_file/reports"], ["a_file", "Not a directory"]),
    "run/in-place-with-parameters": (["run", "00", "--in-place", "-p", "seed", "1"], ["--in-place"]),
    # sweep
    "sweep/no-grid": (["sweep", "00"], ["grid parameter"]),
    "sweep/unknown-grid-name": (["sweep", "00", "-p", "bogus", "1", "2"], ["bogus"]),
    "sweep/wrong-grid-type": (["sweep", "00", "-p", "seed", "a", "b"], ["seed", "integer"]),
    "sweep/no-workers": (["sweep", "00", "-p", "seed", "1", "--workers", "0"], ["--workers"]),
    "sweep/malformed-yaml": (["sweep", "00", "-p", "seed", "1", "-f", "{t}/bad.yaml"], ["bad.yaml", "YAML"]),
    "sweep/unknown-notebook": (["sweep", "nope", "-p", "seed", "1"], ["nope"]),
    # bench
    "bench/unknown-topic": (["bench", "no_such_topic"], ["no_such_topic", "Available"]),
    "bench/unbalanced-args": (["bench", "--args", "--x 'open"], ["--args", "quotation"]),
    "bench/unknown-option": (["bench", "--fast"], ["--fast"]),
    # crnn train
    "crnn-train/steps-not-a-number": (["crnn", "train", "--out", "{t}/run", "--steps", "many"], ["--steps", "many"]),
    "crnn-train/unknown-profile": (["crnn", "train", "--out", "{t}/run", "--profile", "medium"], ["--profile"]),
    "crnn-train/out-is-a-file": (["crnn", "train", "--out", "{t}/a_file"], ["a_file", "exists"]),
    "crnn-train/zero-steps": (["crnn", "train", "--out", "{t}/run", "--steps", "0"], ["steps"]),
    # crnn recognize
    "crnn-recognize/no-image": (["crnn", "recognize"], ["images"]),
    "crnn-recognize/missing-model": (["crnn", "recognize", str(LINE_IMAGE), "--model", "{t}/nosuch.pt"], ["nosuch.pt"],
                                     [needs_model]),
    "crnn-recognize/missing-image": (["crnn", "recognize", "{t}/missing.png"], ["missing.png"], [needs_model]),
    "crnn-recognize/not-an-image": (["crnn", "recognize", "{t}/not_an_image.png"], ["not_an_image.png"],
                                    [needs_model]),
    "crnn-recognize/zero-beam": (["crnn", "recognize", str(LINE_IMAGE), "--beam-width", "0"], ["beam"],
                                 [needs_model]),
    # clinical load-db
    "load-db/no-database-url": (["clinical", "load-db"], ["WORKBENCH_PG_URL"]),
    "load-db/generate-not-a-number": (["clinical", "load-db", "--generate", "many"], ["--generate", "many"]),
    "load-db/missing-key-file": (["clinical", "load-db"], ["no.key"], [],
                                 {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none",
                                  "WORKBENCH_PSEUDONYM_KEY_FILE": "{t}/no.key"}),
    "load-db/no-key": (["clinical", "load-db"], ["WORKBENCH_PSEUDONYM_KEY"], [],
                       {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none"}),
    "load-db/missing-source": (["clinical", "load-db", "--source", "{t}/nope.csv"], ["nope.csv"], [],
                               {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none",
                                "WORKBENCH_PSEUDONYM_KEY": "0123456789abcdef0123456789abcdef"}),
    # clinical migrate
    "migrate/no-database-url": (["clinical", "migrate"], ["WORKBENCH_PG_URL"]),
    "migrate/extra-argument": (["clinical", "migrate", "now"], ["now", "clinical migrate"]),
    "migrate/server-down": (["clinical", "migrate"], ["127.0.0.1"], [],
                            {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none"}),
    # clinical init-secrets
    "init-secrets/extra-argument": (["clinical", "init-secrets", "now"], ["now", "clinical init-secrets"]),
    "init-secrets/unknown-option": (["clinical", "init-secrets", "--force"], ["--force"]),
    "init-secrets/secrets-under-a-file": (["clinical", "init-secrets"], ["a_file"]),
    # clinical add-client
    "add-client/no-scope": (["clinical", "add-client", "demo"], ["--scope"]),
    "add-client/unknown-scope": (["clinical", "add-client", "demo", "--scope", "bogus/Read"], ["--scope", "bogus/Read"]),
    "add-client/no-name": (["clinical", "add-client"], ["name"]),
    "add-client/corrupt-clients-file": (["clinical", "add-client", "demo", "--scope", "system/Patient.read"], ["clients.json"],
                                        [],
                                        {"WORKBENCH_FHIR_CLIENTS_FILE": "{t}/clients.json"}),
    # serve fhir
    "serve-fhir/public-host": (["serve", "fhir", "--host", "0.0.0.0"], ["--host", "0.0.0.0"]),
    "serve-fhir/port-not-a-number": (["serve", "fhir", "--port", "http"], ["--port", "http"]),
    "serve-fhir/unknown-log-level": (["serve", "fhir", "--log-level", "loud"], ["--log-level", "loud"]),
    "serve-fhir/no-database-url": (["serve", "fhir"], ["WORKBENCH_PG_URL"], [], {"WORKBENCH_JWT_KEY": "k" * 64}),
    "serve-fhir/missing-jwt-key-file": (["serve", "fhir"], ["jwt.key"], [],
                                        {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none",
                                         "WORKBENCH_JWT_KEY_FILE": "{t}/jwt.key"}),
    "serve-fhir/no-jwt-key": (["serve", "fhir"], ["WORKBENCH_JWT_KEY"], [],
                              {"WORKBENCH_PG_URL": "postgresql://nobody@127.0.0.1:1/none"}),
    "serve/no-service": (["serve"], ["SERVICE"]),
    # lake check
    "lake-check/no-path": (["lake", "check"], ["path"], [needs_lake_cli]),
    "lake-check/missing-folder": (["lake", "check", "{t}/nope"], ["nope", "not a feature lake"], [needs_lake_cli]),
    "lake-check/not-a-lake": (["lake", "check", "{t}/bare_nbs"], ["bare_nbs", "not a feature lake"], [needs_lake_cli]),
    "lake-check/a-file": (["lake", "check", "{t}/a_file"], ["a_file"], [needs_lake_cli]),
    "lake-check/unknown-option": (["lake", "check", "{t}/nope", "--fix"], ["--fix", "lake check"], [needs_lake_cli]),
    # teaching: assign, grade, reset (never given a real notebook: reset would restore it)
    "assign/no-out": (["assign", "01"], ["--out"], [needs_teaching]),
    "assign/unknown-notebook": (["assign", "99_missing", "--out", "{t}/class"], ["99_missing"], [needs_teaching]),
    "assign/out-under-a-file": (["assign", "00", "--out", "{t}/a_file/class"], ["a_file"], [needs_teaching]),
    "assign/corrupt-notebook": (["assign", "{t}/broken_nbs/10_broken.ipynb", "--out", "{t}/class"], ["10_broken.ipynb"],
                                [needs_teaching]),
    "grade/no-submission": (["grade"], ["SUBMISSION"], [needs_teaching]),
    "grade/missing-submission": (["grade", "{t}/nope.ipynb", "--out", "{t}/grades"], ["nope.ipynb"], [needs_teaching]),
    "grade/corrupt-submission": (["grade", "{t}/broken_nbs/10_broken.ipynb", "--out", "{t}/grades"], ["10_broken.ipynb"],
                                 [needs_teaching]),
    "grade/timeout-not-a-number": (["grade", "{t}/nope.ipynb", "--timeout", "soon"], ["--timeout", "soon"], [needs_teaching]),
    "reset/no-notebook": (["reset"], ["NOTEBOOK"], [needs_teaching]),
    "reset/missing-notebook": (["reset", "{t}/nope.ipynb"], ["nope.ipynb"], [needs_teaching]),
    "reset/unknown-option": (["reset", "{t}/nope.ipynb", "--all"], ["--all", "workbench reset"], [needs_teaching]),
}


def _params():
    return list(_each_param())


def _each_param():
    for case_id, (argv, names, *rest) in CASES.items():
        marks = rest[0] if rest else []
        env = rest[1] if len(rest) > 1 else {}
        yield pytest.param(argv, names, env, id=case_id, marks=marks)


def _call(argv):
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse refusals exit from inside parse_args
        return exit_.code


@pytest.mark.parametrize("argv, names, env", _params())
def test_bad_input_gets_one_line_and_status_2(argv, names, env, files, monkeypatch, capsys, request):
    t = str(files)
    for key, value in env.items():
        monkeypatch.setenv(key, value.replace("{t}", t))
    if request.node.callspec.id == "init-secrets/secrets-under-a-file":
        from workbench.clinical import pseudonym
        from workbench.clinical.service import config

        monkeypatch.setattr(config, "DEFAULT_JWT_KEY_FILE", files / "a_file" / "jwt.key")
        monkeypatch.setattr(pseudonym, "DEFAULT_KEY_FILE", files / "a_file" / "pseudonym.key")
    status = _call([a.replace("{t}", t) for a in argv])
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert status == 2, f"exit status {status}, stderr: {err!r}"
    assert len(lines) == 1, f"expected one line, got {len(lines)}: {err!r}"
    assert lines[0].startswith("workbench") and ": error: " in lines[0], lines[0]
    for name in names:
        assert name in lines[0], f"the message does not name {name!r}: {lines[0]}"


def test_every_subcommand_is_driven_with_three_kinds_of_bad_input():
    """Adding a subcommand without bad-input cases here fails, so the table above stays complete."""
    parser = build_parser()
    leaves = []

    def walk(p, path):
        subs = [a for a in p._actions if a.__class__.__name__ == "_SubParsersAction"]
        if not subs:
            leaves.append(" ".join(path))
        for action in subs:
            for name, child in action.choices.items():
                walk(child, [*path, name])

    walk(parser, [])
    prefix = {"crnn train": "crnn-train/", "crnn recognize": "crnn-recognize/", "clinical load-db": "load-db/",
              "clinical migrate": "migrate/", "clinical init-secrets": "init-secrets/", "clinical add-client": "add-client/",
              "serve fhir": "serve-fhir/", "lake check": "lake-check/"}
    for leaf in leaves:
        key = prefix.get(leaf, leaf + "/")
        count = sum(case_id.startswith(key) for case_id in CASES)
        assert count >= 3, f"`workbench {leaf}` has {count} bad-input cases in CASES; add at least three"


def test_debug_variable_adds_the_traceback(files, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_DEBUG", "1")
    assert main(["run", "00", "-f", str(files / "bad.yaml")]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RunnerError" in err
    assert err.rstrip().splitlines()[-1].startswith("workbench run: error: parameter file")


def test_a_bug_keeps_its_traceback(monkeypatch):
    """Only user errors are shortened: anything else is a bug whose traceback a report needs."""
    import workbench.cli as cli

    def broken(args):
        raise KeyError("internal")

    monkeypatch.setattr(cli, "cmd_list", broken)
    with pytest.raises(KeyError):
        cli.main(["list"])


def test_console_error_is_one_line_in_a_real_process(tmp_path):
    """The same through the interpreter, as a user sees it (no pytest capture in between)."""
    (tmp_path / "p.yaml").write_text("a: b: c\n")
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "run", "00", "-f", str(tmp_path / "p.yaml")],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "p.yaml is not valid YAML at line 1" in done.stderr, done.stderr
