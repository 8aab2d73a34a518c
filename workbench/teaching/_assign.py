"""Student copies of a notebook: solution cells become stubs, outputs go, checks stay.

The convention (one for every notebook):

- a code cell tagged ``solution`` holds the model answer as one or more functions; in the student copy each
  function keeps its signature and docstring and its body becomes ``raise NotImplementedError``;
- a code cell tagged ``check`` and ``exercise:<name>`` runs the topic's check (``workbench.<topic>.exercises``),
  which reports its verdict through :func:`workbench.exercises.report` under that same name.
- a code cell tagged ``exercise-setup`` holds imports or data the exercises need; with ``parameters``, ``solution``
  and ``check`` it makes up :func:`exercise_subset`, the quick version of a notebook that the round-trip tests grade.
"""

from __future__ import annotations

import ast
import copy
import hashlib
from pathlib import Path
from typing import Any

from workbench.errors import UserError

SOLUTION_TAG = "solution"
CHECK_TAG = "check"
EXERCISE_PREFIX = "exercise:"
SETUP_TAG = "exercise-setup"
PARAMETERS_TAG = "parameters"
STUB_HEADER = "# Exercise: replace each `raise NotImplementedError(...)` below with your code, then run the check cell.\n"


def _tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def exercise_names(nb) -> list[str]:
    """The exercises a notebook grades, in order: one per cell tagged ``check`` with an ``exercise:`` tag."""
    names: list[str] = []
    for cell in nb.cells:
        tags = _tags(cell)
        if CHECK_TAG in tags:
            names += [t[len(EXERCISE_PREFIX):] for t in tags if t.startswith(EXERCISE_PREFIX)]
    return list(dict.fromkeys(names))


def exercise_subset(nb) -> Any:
    """A copy of ``nb`` keeping only what its exercises need, in order: the cells tagged ``parameters``,
    ``exercise-setup`` (imports and data the exercises use), ``solution`` and ``check``.

    Grading such a subset takes seconds where the whole notebook may take minutes; the tests round-trip the
    subset, and nbval executes the full notebooks.
    """
    keep = {PARAMETERS_TAG, SETUP_TAG, SOLUTION_TAG, CHECK_TAG}
    out = copy.deepcopy(nb)
    out.cells = [cell for cell in out.cells if keep & set(_tags(cell))]
    return out


def _stub_function(node: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.AST:
    body: list[ast.stmt] = []
    first = node.body[0] if node.body else None
    if isinstance(first, ast.Expr) and isinstance(getattr(first, "value", None), ast.Constant) \
            and isinstance(first.value.value, str):
        body.append(first)  # keep the docstring: it states the task
    message = f"{node.name}: write your solution here"
    body.append(ast.Raise(exc=ast.Call(func=ast.Name("NotImplementedError", ast.Load()),
                                       args=[ast.Constant(message)], keywords=[]), cause=None))
    stub = copy.copy(node)
    stub.body = body
    return stub


def _stub_class(node: ast.ClassDef) -> ast.ClassDef:
    stub = copy.copy(node)
    stub.body = [_stub_function(n) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) else n for n in node.body]
    return stub


def stub_source(source: str, where: str = "solution cell") -> str:
    """The student version of a solution cell: imports kept, each function's body replaced by a raise.

    Raises :class:`UserError` when the cell defines no function, since then nothing could be left to write.
    """
    # IPython magics and shell escapes are not Python; a solution cell has no business needing them.
    lines = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError as exc:
        raise UserError(f"{where}: the solution does not parse as Python ({exc.msg}, line {exc.lineno}); fix it "
                        "before assigning") from None
    kept: list[ast.stmt] = []
    functions = 0
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            kept.append(_stub_function(node))
            functions += 1
        elif isinstance(node, ast.ClassDef):
            kept.append(_stub_class(node))
            functions += 1
    if not functions:
        raise UserError(f"{where} is tagged 'solution' but defines no function; write the answer as a function "
                        "(the student copy keeps its signature and docstring) or remove the tag")
    return STUB_HEADER + "\n\n".join(ast.unparse(node) for node in kept) + "\n"


def student_copy(nb) -> Any:
    """A copy of ``nb`` with solutions stubbed and every output cleared (the input is not modified)."""
    import nbformat

    out = copy.deepcopy(nb)
    solutions = 0
    for index, cell in enumerate(out.cells):
        tags = _tags(cell)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            if SOLUTION_TAG in tags:
                cell.source = stub_source(cell.source, where=f"cell {index}")
                solutions += 1
        elif SOLUTION_TAG in tags:  # a written answer in Markdown
            cell.source = "*Your answer here.*"
            solutions += 1
        cell.metadata.pop("execution", None)
    out.metadata["workbench"] = {**out.metadata.get("workbench", {}), "assignment": {
        "solution_cells": solutions,
        "exercises": exercise_names(nb),
        "source_sha256": hashlib.sha256(nbformat.writes(nb).encode()).hexdigest(),
    }}
    out.metadata.pop("papermill", None)
    return out


def assign(notebooks: list[str | Path], out: str | Path) -> list[Path]:
    """Write a student copy of each notebook into ``out``; returns the written paths."""
    import nbformat

    out = Path(out)
    paths = [Path(p) for p in notebooks]
    if not paths:
        raise UserError("assign: no notebook given; name one or more .ipynb files")
    for path in paths:
        if not path.is_file():
            raise UserError(f"assign: {path} does not exist; give the path of a notebook (.ipynb)")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as exc:
            raise UserError(f"assign: {path} is not a readable notebook ({type(exc).__name__}); check the file") from None
        if not exercise_names(nb):
            raise UserError(f"assign: {path.name} has no graded exercise (no cell tagged 'check' and "
                            "'exercise:<name>'); nothing to assign")
        target = out / path.name
        if target.resolve() == path.resolve():
            raise UserError(f"assign: --out {out} would overwrite {path}; choose another folder")
        nbformat.write(student_copy(nb), target)
        written.append(target)
    return written
