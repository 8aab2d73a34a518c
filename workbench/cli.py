"""The ``workbench`` command: list, run and sweep notebooks, run benchmarks, and the topics' own commands.

A topic adds commands by providing ``workbench/<topic>/cli.py`` with ``register(subparsers)``; its heavy
imports belong inside the handlers so that ``workbench --help`` stays fast. The CLI finds these files on disk
and loads them without importing the topic package (whose ``__init__`` pulls in numpy, polars, matplotlib).

Errors: a user error (:class:`workbench.errors.UserError`, the runner's errors, a path that cannot be used, a
bad argument) is printed as one line ``workbench COMMAND: error: ...`` and the exit status is 2. Set
``WORKBENCH_DEBUG=1`` to see the traceback as well.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import traceback
from pathlib import Path
from types import ModuleType

from workbench import runner
from workbench.errors import UserError, user_message

# Topic modules that may contribute commands, in the order their commands are listed (others follow, sorted).
TOPIC_CLIS = ("ctc", "crnn", "slicing", "lake", "graphs", "clinical")
PACKAGE_DIR = Path(__file__).resolve().parent
BENCHMARKS_DIR = runner.ROOT / "benchmarks"
DEBUG_ENV = "WORKBENCH_DEBUG"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors, which remembers which (sub)command parsed the arguments (``_parser``)."""

    def error(self, message: str):  # argparse prints the whole usage block before the error; one line is enough
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        # Subcommand parsers finish first and their namespace is copied up: the deepest one names the command.
        if not hasattr(namespace, "_parser"):
            namespace._parser = self
        return namespace, extras


def _parameter_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="set a notebook parameter (VALUE read as YAML: 3, 0.5, true, [1, 2], text)")
    p.add_argument("-f", "--parameters-file", action="append", metavar="FILE", default=[],
                   help="YAML file of name: value parameters (applied before -p)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="per-cell execution timeout (default: none)")
    p.add_argument("--out", default=str(runner.REPORTS_DIR), metavar="DIR",
                   help="reports root; the run goes to DIR/<run-id> and DIR/latest points at it (default: reports/)")
    p.add_argument("--run-id", default=None, help="name of the run folder (default: a timestamp)")
    p.add_argument("--kernel", default=runner.KERNEL_NAME, help="Jupyter kernel name (default: workbench)")


def cmd_list(args: argparse.Namespace) -> int:
    notebooks = runner.list_notebooks(args.directory)
    if args.json:
        print(json.dumps({p.stem: runner.notebook_parameters(p) for p in notebooks}, indent=2, default=str))
        return 0
    for path in notebooks:
        print(path.stem)
        try:
            params = runner.declared_parameters(path)
        except runner.RunnerError as exc:
            print(f"    ! {exc}")
            continue
        width = max(len(n) for n in params)
        for name, p in params.items():
            # A None default says nothing about what to pass: show the declared type beside it.
            kind = f"  ({p.type})" if p.default is None and p.type else ""
            print(f"    {name:<{width}} = {p.default!r}{kind}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    params = runner.merge_cli_parameters(args.parameter, args.parameters_file)
    if args.in_place:
        if params or args.profile:
            raise runner.RunnerError("--in-place runs a notebook with its own defaults (what gets committed); "
                                     "drop -p/-f/--profile, or run without --in-place to write a report")
        paths = [runner.resolve_notebook(n) for n in args.notebooks] if args.notebooks else runner.list_notebooks()
        failed = 0
        for path in paths:
            result = runner.execute_in_place(path, timeout=args.timeout, kernel_name=args.kernel)
            print(f"{path.name}: {result.status} in {result.duration_s:.1f} s"
                  + (f" (cell {result.error['cell']}: {result.error['ename']}: {result.error['evalue']})" if result.error else ""))
            failed += result.status != "passed"
        return 1 if failed else 0
    summary = runner.run_notebooks(args.notebooks or None, params, profile=args.profile, out=args.out,
                                   run_id=args.run_id, timeout=args.timeout, kernel_name=args.kernel,
                                   progress=not args.no_progress)
    run_dir = Path(args.out).resolve() / summary["run"]
    print(f"{summary['passed']} passed, {summary['failed']} failed -> {run_dir / 'index.html'}")
    for nb in summary["notebooks"]:
        if nb["error"]:
            e = nb["error"]
            print(f"  FAILED {nb['name']}: cell {e['cell']}: {e['ename']}: {e['evalue'][:300]}", file=sys.stderr)
    return 1 if summary["failed"] else 0


def cmd_sweep(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise runner.RunnerError(f"--workers {args.workers}: a local cluster needs at least 1 worker process")
    if not args.grid:
        raise runner.RunnerError("a sweep needs at least one grid parameter: -p NAME V1 V2 ...")
    grid = {}
    for name, *values in args.grid:
        if not values:
            raise runner.RunnerError(f"-p {name} needs at least one value")
        grid[name] = [runner.parse_value(v) for v in values]
    fixed = runner.merge_cli_parameters(args.set, args.parameters_file)
    if args.profile:
        fixed["profile"] = args.profile
    summary = runner.sweep(args.notebook, grid, fixed=fixed, scheduler=args.scheduler, workers=args.workers,
                           out=args.out, run_id=args.run_id, timeout=args.timeout, kernel_name=args.kernel)
    run_dir = Path(args.out).resolve() / summary["run"]
    print(f"{summary['passed']} passed, {summary['failed']} failed over {len(summary['points'])} points -> "
          f"{run_dir / 'index.html'}")
    return 1 if summary["failed"] else 0


def cmd_bench(args: argparse.Namespace) -> int:
    import shlex

    available = sorted(p.stem for p in BENCHMARKS_DIR.glob("*.py") if not p.name.startswith("_"))
    chosen = args.topics or available
    unknown = [t for t in chosen if t not in available]
    if unknown:
        raise runner.RunnerError(f"no benchmark named {', '.join(unknown)}. Available: {', '.join(available)}")
    try:
        extra = shlex.split(args.args)
    except ValueError as exc:
        raise UserError(f"--args {args.args!r} cannot be split into arguments ({exc}); quote it like --args '--smoke'") from None
    status = 0
    for topic in chosen:
        print(f"== benchmarks/{topic}.py", flush=True)
        status |= subprocess.call([sys.executable, str(BENCHMARKS_DIR / f"{topic}.py"), *extra])
    return 1 if status else 0


def topic_cli_files() -> dict[str, Path]:
    """``workbench/<topic>/cli.py`` of every topic that has one, in listing order, found without importing."""
    found = {p.parent.name: p for p in PACKAGE_DIR.glob("*/cli.py") if not p.parent.name.startswith(("_", "."))}
    order = [t for t in TOPIC_CLIS if t in found] + sorted(set(found) - set(TOPIC_CLIS))
    return {t: found[t] for t in order}


def load_topic_cli(topic: str, path: Path) -> ModuleType:
    """The topic's ``cli`` module, executed from its file so that the topic package itself is not imported.

    The module keeps its real name and package (its handlers' imports, relative or absolute, work as usual)
    but is not entered in ``sys.modules``, so a later ``import workbench.<topic>.cli`` loads it properly
    after its package. If it is imported already (a test did), that module is used.
    """
    name = f"workbench.{topic}.cli"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="workbench", description="Run, sweep and report the workbench notebooks.",
                    epilog=f"User errors print one line and exit with status 2; {DEBUG_ENV}=1 adds the traceback.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="the notebooks and their parameters with defaults")
    p.add_argument("--directory", default=str(runner.NOTEBOOKS_DIR), help="notebook folder (default: notebooks/)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("run", help="execute notebooks headlessly into reports/<run-id>/",
                       description="Execute notebooks with papermill. Without NOTEBOOK, runs every notebook in "
                                   "notebooks/. A notebook is named by path, file name, stem or number (01).")
    p.add_argument("notebooks", nargs="*", metavar="NOTEBOOK")
    _parameter_options(p)
    p.add_argument("--profile", choices=runner.PROFILES, default=None, help="quick (default in notebooks) or full")
    p.add_argument("--in-place", action="store_true",
                   help="execute with the notebook's defaults and save outputs into the notebook (for committing)")
    p.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("sweep", help="run a notebook over a parameter grid on dask.distributed",
                       description="Runs the cartesian grid of the -p values, each point its own papermill execution, "
                                   "on a LocalCluster (default) or the scheduler at --scheduler / WORKBENCH_DASK_SCHEDULER.")
    p.add_argument("notebook", metavar="NOTEBOOK")
    p.add_argument("-p", "--parameter", dest="grid", nargs="+", action="append", metavar=("NAME", "V"), default=[],
                   help="a grid axis: NAME V1 V2 ...")
    p.add_argument("-s", "--set", nargs=2, action="append", metavar=("NAME", "VALUE"), default=[],
                   help="a parameter fixed for every point")
    p.add_argument("-f", "--parameters-file", action="append", metavar="FILE", default=[],
                   help="YAML file of fixed parameters")
    p.add_argument("--profile", choices=runner.PROFILES, default=None)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--scheduler", default=None, metavar="ADDRESS", help="dask scheduler address (tcp://host:8786)")
    group.add_argument("--workers", type=int, default=2, metavar="N", help="LocalCluster worker processes (default 2)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="per-cell execution timeout")
    p.add_argument("--out", default=str(runner.REPORTS_DIR), metavar="DIR", help="reports root (default: reports/)")
    p.add_argument("--run-id", default=None)
    p.add_argument("--kernel", default=runner.KERNEL_NAME)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("bench", help="run benchmarks/<topic>.py side by side with their peers")
    p.add_argument("topics", nargs="*", metavar="TOPIC", help="benchmark names (default: all)")
    p.add_argument("--args", default="", metavar="'ARGS'", help="arguments passed to each script, e.g. --args '--full'")
    p.set_defaults(func=cmd_bench)

    for topic, path in topic_cli_files().items():
        load_topic_cli(topic, path).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # blamed on the subcommand that was given them, not on `workbench`
        args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    command = args._parser.prog
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `workbench list | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        message = user_message(exc)
        if message is None:
            raise  # a bug, not a user error: its traceback is what a bug report needs
        if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
            traceback.print_exc()
        print(f"{command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
