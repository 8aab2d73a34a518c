"""The notebook 04 exercise check: the right answer passes, each typical wrong answer gets its own hint."""

import json

import pytest

from workbench.exercises import GRADE_LOG_ENV
from workbench.lake.exercises import check_as_of, reference_as_of


def strict_before(times, values, event, ttl):  # t < e instead of t <= e
    for t, v in zip(reversed(times), reversed(values)):
        if t >= event or v is None:
            continue
        return v if ttl is None or event - t <= ttl else None
    return None


def leaky(times, values, event, ttl):  # the naive join: the newest value, whatever the event time
    present = [v for v in values if v is not None]
    return present[-1] if present else None


def returns_absent(times, values, event, ttl):  # takes the last cell at or before e, present or not
    before = [v for t, v in zip(times, values) if t <= event]
    if not before:
        return None
    v = before[-1]
    return None if ttl is not None and event - [t for t in times if t <= event][-1] > ttl else v


def no_ttl(times, values, event, ttl):
    return reference_as_of(times, values, event, None)


def exclusive_ttl(times, values, event, ttl):
    for t, v in zip(reversed(times), reversed(values)):
        if t > event or v is None:
            continue
        return v if ttl is None or event - t < ttl else None
    return None


def stub(times, values, event, ttl):
    raise NotImplementedError("as_of: write your solution here")


def test_the_right_answer_passes(capsys):
    assert check_as_of(reference_as_of) is True
    assert capsys.readouterr().out.startswith("OK: ")


@pytest.mark.parametrize("fn, hint", [
    (leaky, "naive join's leak"),
    (strict_before, "you compared t < e"),
    (returns_absent, "you returned the absent cell"),
    (no_ttl, "you ignored ttl"),
    (exclusive_ttl, "the bound is inclusive"),
    (stub, "not written yet"),
    (lambda *a: 1 / 0, "raised ZeroDivisionError"),
    ("not a function", "expected a function"),
])
def test_each_typical_wrong_answer_gets_its_hint(fn, hint, capsys):
    assert check_as_of(fn) is False
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and hint in out, out


def test_the_verdict_is_logged_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "grade.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check_as_of(leaky)
    check_as_of(reference_as_of)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["passed"]) for r in rows] == [("as_of", False), ("as_of", True)]
