"""Notebook 06's ARV check: the convention of workbench.exercises (verdict printed, returned, logged) and one
specific hint per typical mistake."""

import json

import numpy as np
import pytest

from workbench.clinical import average_real_variability
from workbench.clinical.exercises import check_arv
from workbench.exercises import GRADE_LOG_ENV


def _sorted(v, t):
    order = np.argsort(t.to_numpy(), kind="stable")
    return v.to_numpy()[order], t.to_numpy()[order]


def my_arv(values, times):
    """A learner's numpy answer, as in the notebook's solution cell."""
    v, t = _sorted(values, times)
    w = np.diff(t).astype(float)
    return float((w * np.abs(np.diff(v))).sum() / w.sum())


def unweighted(v, t):
    return float(np.mean(np.abs(np.diff(v.to_numpy()))))


def divides_by_n(v, t):
    return float(np.sum(np.abs(np.diff(v.to_numpy()))) / len(v))


def unsorted(v, t):
    w = np.diff(t.to_numpy()).astype(float)
    return float((w * np.abs(np.diff(v.to_numpy()))).sum() / w.sum())


def unnormalized(values, times):
    v, t = _sorted(values, times)
    w = np.diff(t).astype("timedelta64[s]").astype(float) / 3600  # hours
    return float((w * np.abs(np.diff(v))).sum() / (len(v) - 1))


def standard_deviation(v, t):
    return float(np.std(v.to_numpy(), ddof=1))


def stub(v, t):
    raise NotImplementedError("my_arv: write your solution here")


@pytest.mark.parametrize("answer", [average_real_variability, my_arv])
def test_a_right_answer_passes_and_says_ok(answer, capsys):
    assert check_arv(answer) is True
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.parametrize(("answer", "hint"), [
    (unweighted, "time weights ignored"),
    (divides_by_n, "divides by N instead of N - 1"),
    (unsorted, "not sorted by time"),
    (unnormalized, "the weights are not normalized"),
    (standard_deviation, "that is the standard deviation"),
    (lambda v, t: 0.0, "on equal gaps (values 120, 130, 125, 140 at hours 0, 12, 24, 36): expected 10.0000, got 0.0000"),
    (lambda v, t: "ten", "expected a number, got str"),
    (stub, "not written yet"),
    (lambda v, t: 1 / 0, "it raised ZeroDivisionError"),
])
def test_each_typical_mistake_gets_its_own_hint(answer, hint, capsys):
    assert check_arv(answer) is False
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and hint in out, out


def test_a_value_instead_of_a_function_is_a_verdict_not_a_traceback(capsys):
    assert check_arv(10.0) is False
    assert "expected a function" in capsys.readouterr().out


def test_the_verdict_is_logged_for_workbench_grade(tmp_path, monkeypatch):
    log = tmp_path / "verdicts.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check_arv(unweighted)
    check_arv(my_arv)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["passed"]) for r in rows] == [("arv", False), ("arv", True)]
    assert rows[0]["message"].startswith("time weights ignored")
