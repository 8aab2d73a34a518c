"""The checks of notebooks 00, 03 and 05: a right answer passes, each typical slip gets its own hint."""

from __future__ import annotations

import json
import math

import pytest

from workbench._tour_exercises import check_standard_error
from workbench.exercises import GRADE_LOG_ENV
from workbench.graphs.exercises import check_closure
from workbench.slicing.demo import reference_display_order
from workbench.slicing.exercises import check_display_rule


def _stub(*args):
    raise NotImplementedError("write your solution here")


def _verdict(capsys) -> str:
    return capsys.readouterr().out.strip()


# -- notebook 00: the standard error of the pi estimate ---------------------------------------------------

@pytest.mark.parametrize("wrong, hint", [
    (lambda n: math.sqrt(math.pi * (4 - math.pi)) / n, "1/sqrt(n), not 1/n"),
    (lambda n: math.pi * (4 - math.pi) / n, "that is the variance"),
    (lambda n: math.sqrt(math.pi / 4 * (1 - math.pi / 4) / n), "4 times larger"),
    (lambda n: math.pi / n, "p(1-p) with p = pi/4"),
    (lambda n: float("nan"), "finite number"),
    (lambda n: "0.1", None),  # a string that parses as a number is accepted as that number, then judged
    (_stub, "not written yet"),
])
def test_standard_error_check_names_the_slip(wrong, hint, capsys):
    assert check_standard_error(wrong) is False
    out = _verdict(capsys)
    assert out.startswith("Not yet:")
    if hint:
        assert hint in out


def test_standard_error_check_passes_the_formula(capsys):
    assert check_standard_error(lambda n: math.sqrt(math.pi * (4 - math.pi) / n)) is True
    assert _verdict(capsys).startswith("OK:")


# -- notebook 03: the display rule --------------------------------------------------------------------------

def _show_everything(events):
    return [rid for kind, rid in events if kind == "done"]


def _newer_than_shown(events):
    shown, displayed = -1, []
    for kind, rid in events:
        if kind == "done" and rid > shown:
            shown = rid
            displayed.append(rid)
    return displayed


def _shows_nothing(events):
    return []


def _twice(events):
    out = reference_display_order(events)
    return out + out[-1:]


@pytest.mark.parametrize("wrong, hint", [
    (_show_everything, "must never replace a newer one"),
    (_newer_than_shown, "already stale when they finished"),
    (_shows_nothing, "you never showed [1]"),
    (_twice, "displayed a slice twice"),
    (lambda events: None, "return a list of request ids"),
    (_stub, "not written yet"),
])
def test_display_rule_check_names_the_slip(wrong, hint, capsys):
    assert check_display_rule(wrong) is False
    assert hint in _verdict(capsys)


def test_display_rule_check_passes_the_viewers_rule(capsys):
    assert check_display_rule(reference_display_order) is True
    assert _verdict(capsys).startswith("OK:")


# -- notebook 05: the transitive closure --------------------------------------------------------------------

def _closure(edges):
    closure = set(edges)
    while True:
        longer = {(i, l) for i, j in closure for k, l in edges if j == k} - closure
        if not longer:
            return closure
        closure |= longer


def _reflexive(edges):
    return _closure(edges) | {(i, i) for e in edges for i in e}


def _two_steps(edges):
    return set(edges) | {(i, l) for i, j in edges for k, l in edges if j == k}


def _no_cycles_on_diagonal(edges):
    return {(i, j) for i, j in _closure(edges) if i != j}


@pytest.mark.parametrize("wrong, hint", [
    (_reflexive, "not the reflexive closure"),
    (_two_steps, "missing (0, 3): walk [0, 1, 2, 3]"),
    (_no_cycles_on_diagonal, "lies on the cycle"),
    (lambda edges: set(edges), "missing"),
    (lambda edges: 42, "return a set of (i, j) pairs"),
    (_stub, "not written yet"),
])
def test_closure_check_names_the_slip(wrong, hint, capsys):
    assert check_closure(wrong) is False
    assert hint in _verdict(capsys)


def test_closure_check_passes_a_closure_and_accepts_a_list_of_pairs(capsys):
    assert check_closure(_closure) is True
    assert check_closure(lambda edges: sorted(_closure(edges))) is True


def test_checks_log_their_verdict_under_their_exercise_name(tmp_path, monkeypatch):
    log = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check_standard_error(_stub)
    check_display_rule(reference_display_order)
    check_closure(_closure)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["passed"]) for r in rows] == [
        ("standard_error", False), ("display_rule", True), ("closure", True)]
