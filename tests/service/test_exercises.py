"""The check of notebook 07's exercise (one Taiwan week written in UTC), run against the real service.

The right answer, in any precision the service accepts, passes; each typical wrong answer fails with the hint
for its mistake, not a generic "wrong".
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from workbench.clinical.service.exercises import check_taiwan_week, week_interval
from workbench.exercises import GRADE_LOG_ENV


def _shifted(hours: float, end: str = "lt", fmt: str = "%Y-%m-%dT%H:%M:%S"):
    """An answer that writes local midnight shifted by ``hours`` as UTC (-8 is right)."""

    def answer(monday):
        start = dt.datetime.combine(monday, dt.time()) + dt.timedelta(hours=hours)
        return [f"ge{start:{fmt}}Z", f"{end}{start + dt.timedelta(days=7):{fmt}}Z"]

    return answer


def right(monday):
    return _shifted(-8)(monday)


@pytest.fixture()
def check(api, auth, patient_ids):
    return lambda fn: check_taiwan_week(fn, api, auth("reader"), patient_ids[0])


def test_the_right_answer_passes_and_says_why(check, capsys):
    assert check(right)
    assert "OK: both weeks are right" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [
    _shifted(-8, fmt="%Y-%m-%dT%H:%M"),  # minute precision denotes the same bounds
    lambda m: [f"ge{m - dt.timedelta(days=1)}T16:00:00Z", f"le{m + dt.timedelta(days=6)}T15:59:59Z"],
])  # fmt: skip
def test_other_spellings_of_the_same_interval_pass(check, answer):
    assert check(answer)


@pytest.mark.parametrize(("answer", "hint"), [
    (_shifted(0), "you wrote Taiwan midnight as UTC midnight"),
    (_shifted(+8), "shifted by 8 hours the wrong way"),
    (_shifted(-8, end="le"), "the end is included"),
    (lambda m: [f"ge{m}", f"lt{m + dt.timedelta(days=7)}"], "explicit Z"),
    (lambda m: [f"ge{m - dt.timedelta(days=1)}T16:00:00Z", f"lt{m + dt.timedelta(days=6)}T16:00:00Z"][:1],
     "open on one side"),
    (lambda m: [f"ge{m - dt.timedelta(days=1)}T16:00:00Z", f"lt{m + dt.timedelta(days=5)}T16:00:00Z"],
     "a week is 7 days"),
    (lambda m: ["ge2026-09-06T16:00:00Z", "lt2026-09-13T16:00:00Z"], "Monday 2026-09-21"),  # hard-coded week 1
    (lambda m: ["ge2026-09-31T16:00:00Z", "lt2026-10-07T16:00:00Z"], "the service would refuse"),
    (lambda m: "ge2026-09-06T16:00:00Z", "return a list of date strings"),
    (lambda m: 1 / 0, "raised ZeroDivisionError"),
])  # fmt: skip
def test_typical_mistakes_get_their_own_hint(check, capsys, answer, hint):
    assert not check(answer)
    out = capsys.readouterr().out
    assert out.startswith("Not yet: ") and hint in out, out


def test_a_student_stub_is_a_verdict_not_a_traceback(check, capsys):
    def stub(monday):
        raise NotImplementedError("taiwan_week_in_utc: write your solution here")

    assert not check(stub)
    assert "not written yet" in capsys.readouterr().out


def test_the_verdict_reaches_the_grade_log(check, tmp_path, monkeypatch):
    log = tmp_path / "grades.jsonl"
    monkeypatch.setenv(GRADE_LOG_ENV, str(log))
    check(_shifted(0))
    check(right)
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["exercise"], r["passed"]) for r in rows] == [("taiwan_week", False), ("taiwan_week", True)]


def test_week_interval_counts_precision_like_the_service():
    utc = dt.timezone.utc
    assert week_interval(["gt2026-09-06T15:59:59Z", "le2026-09-13T15:59:59Z"]) == (
        dt.datetime(2026, 9, 6, 16, tzinfo=utc), dt.datetime(2026, 9, 13, 16, tzinfo=utc))
    assert week_interval(["ge2026-09-07"]) == (dt.datetime(2026, 9, 6, 16, tzinfo=utc), None)  # Taiwan day
    with pytest.raises(ValueError, match="not 'eq'"):
        week_interval(["2026-09-07"])


def _notebook_07():
    import nbformat

    from workbench.runner import ROOT

    return nbformat.read(ROOT / "notebooks" / "07_fhir_service.ipynb", as_version=4)


def test_notebook_07_labels_every_mention_of_the_password_grant():
    mentions = [c for c in _notebook_07().cells if "password" in c.source.lower()]
    assert len(mentions) >= 3
    unlabelled = [c.source[:80] for c in mentions if "RFC 9700" not in c.source]
    assert not unlabelled, f"cells mention the password grant without the RFC 9700 label: {unlabelled}"


def test_notebook_07_exercise_follows_the_convention():
    cells = _notebook_07().cells
    tags = [c.metadata.get("tags", []) for c in cells]
    solution = [c for c, t in zip(cells, tags) if "solution" in t]
    checks = [c for c, t in zip(cells, tags) if "check" in t and "exercise:taiwan_week" in t]
    assert len(solution) == 1 and "def taiwan_week_in_utc" in solution[0].source
    assert len(checks) == 1 and "check_taiwan_week(taiwan_week_in_utc" in checks[0].source
    assert not any("def check_" in c.source for c in cells), "checks live in workbench.clinical.service.exercises"
    assert sum("exercise-setup" in t for t in tags) >= 5


def test_notebook_07_asserts_offset_breaks_and_keyset_holds():
    source = "\n".join(c.source for c in _notebook_07().cells if c.cell_type == "code")
    assert "LIMIT %s OFFSET %s" in source and "write_between_pages" in source
    assert 'offset_row["served twice"] > 0' in source
    assert 'keyset_row["served twice"] == 0 and keyset_row["skipped (there all along)"] == 0' in source
