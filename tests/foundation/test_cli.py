"""The command line: help on every subcommand and errors that say what to do."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from workbench.cli import build_parser, main


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


@pytest.mark.parametrize("command", _subcommands())
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert "usage: workbench " + command in capsys.readouterr().out


def test_console_script_is_installed():
    out = subprocess.run([sys.executable, "-m", "workbench.cli", "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "sweep" in out.stdout and "list" in out.stdout


def test_list_shows_parameters_and_defaults(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "00_workbench_tour" in out
    assert re.search(r"^\s+profile\s+= 'quick'$", out, re.M) and re.search(r"^\s+seed\s+= 0$", out, re.M)
    assert re.search(r"^\s+n_samples\s+= None  \(int\)$", out, re.M)  # a None default shows its declared type


def test_unknown_notebook(capsys):
    assert main(["run", "99_missing"]) == 2
    err = capsys.readouterr().err
    assert "no notebook named '99_missing'" in err and "Available:" in err


def test_unknown_parameter_lists_valid_names(capsys):
    assert main(["run", "00", "-p", "n_sample", "10"]) == 2
    err = capsys.readouterr().err
    assert "does not declare the parameter(s) n_sample" in err and "Valid names: profile, seed, n_samples" in err


def test_in_place_refuses_parameters(capsys):
    assert main(["run", "00", "--in-place", "-p", "seed", "1"]) == 2
    assert "--in-place runs a notebook with its own defaults" in capsys.readouterr().err


def test_sweep_needs_a_grid(capsys):
    assert main(["sweep", "00"]) == 2
    assert "needs at least one grid parameter" in capsys.readouterr().err


def test_sweep_refuses_unknown_grid_names_before_starting_a_cluster(capsys):
    assert main(["sweep", "00", "-p", "bogus", "1", "2"]) == 2
    assert "does not declare the parameter(s) bogus" in capsys.readouterr().err


def test_missing_parameter_file(capsys, tmp_path):
    assert main(["run", "00", "-f", str(tmp_path / "nope.yaml")]) == 2
    assert "parameter file" in capsys.readouterr().err


def test_bench_unknown_topic(capsys):
    assert main(["bench", "no_such_topic"]) == 2
    assert "no benchmark named no_such_topic" in capsys.readouterr().err


def test_missing_kernel_is_reported_with_the_fix(passing_nb, tmp_path, capsys):
    assert main(["run", str(passing_nb), "--kernel", "no-such-kernel", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "kernel 'no-such-kernel' is not registered" in err and "make setup" in err
