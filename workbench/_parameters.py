"""A notebook's parameters: what its tagged cell declares, of which type, and checks of the values given.

The ``parameters`` cell is read without a kernel (papermill parses its source). Each parameter's type comes
from, in order: an annotation (``n: int = None``), a type comment (``n = None  # type: int``), the first word
of its comment (``n = None  # int; None: chosen by the profile``), or its default's own type. Values from
``-p``/``-f`` are checked against it before any kernel starts, so a wrong value fails in a second with the
parameter's name, not half a minute later inside the notebook.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RunnerError

PROFILES = ("quick", "full")
TYPES = ("int", "float", "bool", "str", "list", "dict")
_TYPE_OF_DEFAULT = {bool: "bool", int: "int", float: "float", str: "str", list: "list", dict: "dict"}
_TYPE_WORD = re.compile(r"^(?:Optional\[\s*)?(int|float|bool|str|list|dict)\b")
_EXPECTS = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "text",
            "list": "a list, e.g. [1, 2]", "dict": "a mapping, e.g. {a: 1}"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter: its default, its type (one of :data:`TYPES`, or ``None`` if unknown), its help."""

    name: str
    default: Any
    type: str | None
    help: str = ""


def _declared_type(annotation: str, help_text: str, default: Any) -> str | None:
    for text in (annotation, help_text):
        match = _TYPE_WORD.match(text.strip())
        if match:
            return match.group(1)
    return _TYPE_OF_DEFAULT.get(type(default))


def declared_parameters(path: str | os.PathLike) -> dict[str, Parameter]:
    """The parameters of ``path``'s cell tagged ``parameters``, in order, with defaults and types."""
    import papermill

    path = Path(path)
    try:
        declared = papermill.inspect_notebook(str(path))
    except Exception as exc:  # a corrupt or truncated file: nbformat/json raise many kinds
        reason = " ".join(str(exc).split())[:200]
        raise RunnerError(f"{path} is not a readable notebook ({type(exc).__name__}: {reason}); "
                          "restore it from git or re-save it in Jupyter") from None
    if not declared:
        raise RunnerError(
            f"{path.name} has no cell tagged 'parameters'; tag the cell that sets profile/seed/sizes "
            "(View > Cell Toolbar > Tags in Jupyter) so it can be parameterized"
        )
    out: dict[str, Parameter] = {}
    for name, info in declared.items():
        text = info.get("default")
        try:
            default = ast.literal_eval(text) if text is not None else None
        except (ValueError, SyntaxError):
            default = text  # an expression: kept as its source text
        annotation = info.get("inferred_type_name") or ""
        out[name] = Parameter(name, default, _declared_type("" if annotation == "None" else annotation,
                                                             info.get("help") or "", default), info.get("help") or "")
    return out


def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """The parameters a notebook declares and their default values (literals evaluated, else source text)."""
    return {name: p.default for name, p in declared_parameters(path).items()}


def parse_value(text: str) -> Any:
    """Turn a command-line value into a Python value the way YAML reads it (``3``, ``0.1``, ``true``, ``[1, 2]``)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _fits(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "int":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    return isinstance(value, {"float": (int, float), "str": str, "list": list, "dict": dict}[kind])


def check_parameters(path: Path, parameters: Mapping[str, Any],
                     declared: Mapping[str, Parameter] | None = None) -> dict[str, Any]:
    """Refuse names the notebook does not declare, and values that do not fit a parameter's type.

    ``declared`` (from :func:`declared_parameters`) saves re-reading the notebook when checking many sets.
    ``None`` is accepted where the default is ``None`` (it means "chosen by the profile").
    """
    declared = declared_parameters(path) if declared is None else declared
    unknown = sorted(set(parameters) - set(declared))
    if unknown:
        raise RunnerError(
            f"{path.name} does not declare the parameter(s) {', '.join(unknown)}. "
            f"Valid names: {', '.join(declared)}"
        )
    for name, value in parameters.items():
        spec = declared[name]
        if name == "profile" and value not in PROFILES:
            raise RunnerError(f"{path.name}: profile must be one of {', '.join(PROFILES)}, got {value!r}")
        if spec.type not in TYPES or (value is None and spec.default is None):
            continue
        if not _fits(spec.type, value):
            hint = f"; quote it to pass it as text: -p {name} '\"{value}\"'" if spec.type == "str" else ""
            raise RunnerError(f"{path.name}: parameter {name} expects {_EXPECTS[spec.type]}, got {value!r} "
                              f"(its default is {spec.default!r}){hint}")
    return dict(parameters)


def load_parameter_file(path: str | os.PathLike) -> dict[str, Any]:
    """Parameters from a YAML file (a mapping of name to value)."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise RunnerError(f"parameter file {path} does not exist; check the path given to -f")
    if not path.is_file():
        raise RunnerError(f"parameter file {path} is not a file; give -f a YAML file of name: value lines")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise RunnerError(f"parameter file {path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                          "save it as UTF-8 YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RunnerError(f"parameter file {path} is not valid YAML{where}: {problem}; "
                          "write one name: value per line") from None
    if not isinstance(data, dict):
        raise RunnerError(f"parameter file {path} must hold a mapping of name: value, got {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise RunnerError(f"parameter file {path}: names must be text, got {bad[0]!r}; write name: value lines")
    return data


def merge_cli_parameters(pairs: Iterable[Sequence[str]] | None, files: Iterable[str] | None = None) -> dict[str, Any]:
    """``-f`` files first, then ``-p NAME VALUE`` pairs, later ones winning."""
    params: dict[str, Any] = {}
    for f in files or ():
        params.update(load_parameter_file(f))
    for name, value in pairs or ():
        params[name] = parse_value(value)
    return params
