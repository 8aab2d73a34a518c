"""`workbench --help` and every `workbench <command> --help` import no topic package and no heavy library.

Help must answer in well under a second; what makes it slow is importing (numpy, polars, matplotlib, torch,
scipy, Jupyter). The guard is on the import set, not on the time, so it holds on a loaded machine too.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from workbench.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
TOPICS = sorted(p.parent.name for p in (ROOT / "workbench").glob("*/__init__.py"))
HEAVY = ("numpy", "torch", "matplotlib", "scipy", "polars", "pandas", "pyarrow", "xarray", "zarr", "dask",
         "papermill", "nbformat", "nbconvert", "jupyter_client", "ipykernel", "IPython", "yaml", "PIL", "fastapi",
         "psycopg", "uvicorn", "networkx", "rdflib", "fhir", "pydantic", "jsonschema")


def _help_commands() -> list[list[str]]:
    commands = [[]]

    def walk(parser, path):
        for action in parser._actions:
            if action.__class__.__name__ == "_SubParsersAction":
                for name, child in action.choices.items():
                    commands.append([*path, name])
                    walk(child, [*path, name])

    walk(build_parser(), [])
    return commands


PROBE = textwrap.dedent("""
    import json, sys
    commands = json.loads(sys.argv[1])
    before = set(sys.modules)
    from workbench.cli import main
    seen = {}
    for argv in commands:
        try:
            main([*argv, "--help"])
        except SystemExit:
            pass
        seen[" ".join(argv) or "(top)"] = sorted(set(sys.modules) - before)
    print(json.dumps(seen))
""")


def test_help_imports_no_topic_package_and_nothing_heavy():
    commands = _help_commands()
    assert ["crnn", "train"] in commands and ["serve", "fhir"] in commands  # the topic commands are listed
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True,
                          cwd=ROOT, check=True)
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    offenders = {}
    for command, modules in imported.items():
        bad = [m for m in modules
               if m.split(".")[0] in HEAVY or any(m == f"workbench.{t}" or m.startswith(f"workbench.{t}.") for t in TOPICS)]
        if bad:
            offenders[command] = bad[:8]
    assert not offenders, (
        f"`workbench <command> --help` imported heavy modules: {offenders}. Move those imports into the handlers "
        "(see CONTRIBUTING.md) so help stays fast")


def test_topic_commands_come_from_their_files_not_their_packages():
    """The topic CLI is executed from workbench/<topic>/cli.py; its package is imported only by a handler."""
    from workbench import cli

    files = cli.topic_cli_files()
    assert {"crnn", "clinical"} <= set(files)
    assert all(path.name == "cli.py" and path.parent.name == topic for topic, path in files.items())
    known = [t for t in files if t in cli.TOPIC_CLIS]
    assert known == [t for t in cli.TOPIC_CLIS if t in files]  # listed in TOPIC_CLIS order, the others after
