"""Typed notebook parameters, parameter files and the one-line wording of user errors."""

from __future__ import annotations

import errno

import pytest

from workbench import runner
from workbench.errors import RunnerError, UserError, user_message


@pytest.fixture
def typed_nb(tmp_path, notebook_factory):
    return notebook_factory(
        tmp_path / "40_typed.ipynb",
        "\n".join([
            'profile = "quick"',
            "seed = 0",
            "n_samples = None  # int; None: chosen by the profile",
            "rate = None  # float: learning rate (None: by profile)",
            "mode = None  # str; None: by profile",
            "steps: int = None",
            "width = None  # type: int",
            "flag = None  # bool",
            "sizes = None  # list of ints",
            "free = None  # None: anything goes",
        ]),
        "print(n_samples)",
    )


def test_types_come_from_annotation_type_comment_first_word_or_default(typed_nb):
    types = {name: p.type for name, p in runner.declared_parameters(typed_nb).items()}
    assert types == {"profile": "str", "seed": "int", "n_samples": "int", "rate": "float", "mode": "str",
                     "steps": "int", "width": "int", "flag": "bool", "sizes": "list", "free": None}


@pytest.mark.parametrize("name, value, expects", [
    ("n_samples", "abc", "expects an integer"),
    ("n_samples", 2.5, "expects an integer"),
    ("n_samples", True, "expects an integer"),
    ("rate", "fast", "expects a number"),
    ("mode", 3, "expects text"),
    ("steps", "x", "expects an integer"),
    ("width", [1], "expects an integer"),
    ("flag", "yes", "expects true or false"),
    ("sizes", 3, "expects a list"),
    ("seed", None, "expects an integer"),  # None only where the default is None
])
def test_values_that_do_not_fit_the_declared_type_are_refused_naming_the_parameter(typed_nb, name, value, expects):
    with pytest.raises(RunnerError) as err:
        runner.check_parameters(typed_nb, {name: value})
    assert f"parameter {name} {expects}" in str(err.value) and "40_typed.ipynb" in str(err.value)


@pytest.mark.parametrize("params", [
    {"n_samples": 100}, {"n_samples": 100.0}, {"n_samples": None}, {"rate": 1}, {"rate": 0.5}, {"mode": "sex"},
    {"flag": False}, {"sizes": [1, 2]}, {"free": "anything"}, {"free": [1]},
])
def test_values_that_fit_are_accepted(typed_nb, params):
    assert runner.check_parameters(typed_nb, params) == params


def test_typed_none_parameter_is_refused_before_any_kernel_starts(typed_nb, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(runner, "execute_notebook", lambda *a, **k: started.append(a))
    with pytest.raises(RunnerError, match="parameter n_samples expects an integer, got 'abc'"):
        runner.run_notebooks([typed_nb], runner.merge_cli_parameters([("n_samples", "abc")]), out=tmp_path / "r")
    assert started == [] and not (tmp_path / "r").exists()


def test_text_parameter_refusal_says_how_to_quote(typed_nb):
    with pytest.raises(RunnerError, match="""quote it to pass it as text: -p mode '"3"'"""):
        runner.check_parameters(typed_nb, {"mode": 3})


@pytest.mark.parametrize("content, fragment", [
    ("seed: [1\n", "is not valid YAML at line 2, column 1"),
    ("a: b: c\n", "is not valid YAML at line 1, column 5: mapping values are not allowed here"),
    ("\tseed: 1\n", "is not valid YAML at line 1"),
    ("- 1\n", "must hold a mapping of name: value, got list"),
    ("1: 2\n", "names must be text, got 1"),
])
def test_parameter_file_errors_name_the_file_and_the_place(tmp_path, content, fragment):
    f = tmp_path / "params.yaml"
    f.write_text(content)
    with pytest.raises(RunnerError) as err:
        runner.load_parameter_file(f)
    message = str(err.value)
    assert fragment in message and str(f) in message and "\n" not in message


def test_parameter_file_that_is_not_utf8_or_not_a_file(tmp_path):
    f = tmp_path / "latin1.yaml"
    f.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(RunnerError, match="is not UTF-8 text"):
        runner.load_parameter_file(f)
    with pytest.raises(RunnerError, match="is not a file"):
        runner.load_parameter_file(tmp_path)


def test_a_corrupt_notebook_is_a_user_error_naming_it(tmp_path):
    bad = tmp_path / "50_cut.ipynb"
    bad.write_text('{"cells": [')
    with pytest.raises(RunnerError, match="50_cut.ipynb is not a readable notebook"):
        runner.notebook_parameters(bad)


def test_runner_errors_are_user_errors():
    assert issubclass(RunnerError, UserError) and issubclass(UserError, ValueError)


@pytest.mark.parametrize("exc, expected", [
    (UserError("first line\n  second line"), "first line second line"),
    (PermissionError(errno.EACCES, "Permission denied", "/srv/x"), "/srv/x: Permission denied; check its permissions"),
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "in.png"), "in.png: No such file or directory; check the path"),
    (FileNotFoundError("path: no checkpoint at m.pt"), "path: no checkpoint at m.pt"),
    (OSError(errno.ENOSPC, "No space left on device", "/data/out"), "/data/out: No space left on device; the disk is full"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "f/x"), "f/x: Not a directory; a part of the path is a file"),
])
def test_user_message_words_user_errors_in_one_line(exc, expected):
    assert user_message(exc).startswith(expected)


@pytest.mark.parametrize("exc", [ValueError("a bug"), KeyError("k"), OSError("cannot identify image file"),
                                 ConnectionResetError(errno.ECONNRESET, "reset"), TypeError("t")])
def test_anything_else_is_a_bug_and_keeps_its_traceback(exc):
    assert user_message(exc) is None
