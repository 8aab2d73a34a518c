"""``workbench assign``, ``workbench grade`` and ``workbench reset``: a class's exercises from the shell."""

from __future__ import annotations

import argparse


def cmd_assign(args: argparse.Namespace) -> int:
    import nbformat

    from workbench import runner
    from workbench.teaching import assign, exercise_names

    paths = [runner.resolve_notebook(n) for n in args.notebooks] if args.notebooks else runner.list_notebooks()
    if not args.notebooks:  # "every notebook" means every one that has exercises
        paths = [p for p in paths if exercise_names(nbformat.read(p, as_version=4))]
    for target in assign(paths, args.out):
        print(f"student copy: {target}")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from workbench.teaching import format_scores, grade

    scores = grade(args.submissions, args.out, timeout=args.timeout, kernel_name=args.kernel)
    print(format_scores(scores))
    print(f"scores: {args.out}/scores.csv, scores.json, scores.html")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    from workbench.teaching import reset

    for name in args.notebooks:
        path, saved = reset(name)
        print(f"{path}: restored" + (f" (your version saved as {saved})" if saved else " (it was unchanged)"))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("assign", help="write student copies of notebooks: solutions stubbed, outputs cleared")
    p.add_argument("notebooks", nargs="*", help="notebook names or paths (default: every notebook with exercises)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the student copies")
    p.set_defaults(func=cmd_assign)

    p = subparsers.add_parser("grade", help="execute submitted notebooks and tabulate each exercise's check")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb")
    p.add_argument("--out", default="grades", metavar="DIR", help="where scores.csv/json/html go (default: grades/)")
    p.add_argument("--timeout", type=float, default=300.0, metavar="SECONDS", help="per-cell time limit (default 300)")
    p.add_argument("--kernel", default="workbench", help="Jupyter kernel name (default: workbench)")
    p.set_defaults(func=cmd_grade)

    p = subparsers.add_parser("reset", help="restore a notebook's committed state (your version is backed up first)")
    p.add_argument("notebooks", nargs="+", metavar="NOTEBOOK")
    p.set_defaults(func=cmd_reset)
