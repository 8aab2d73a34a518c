"""Interpretation at ingestion: the CRNN reads image features as they are written; the blood-pressure-log demo."""

import datetime as dt
import subprocess
import sys

import polars as pl
import pytest

from workbench.clinical import average_real_variability, mean_arterial_pressure
from workbench.errors import UserError
from workbench.lake import EventKey, FeatureLake
from workbench.lake import bp_log as bp
from workbench.lake.interpretation import TEXT_LINE, decode_image, register_text_line


def test_importing_the_lake_and_its_interpretation_functions_does_not_load_torch():
    code = ("import sys, workbench.lake, workbench.lake.interpretation, workbench.lake.bp_log; "
            "from workbench.lake import FeatureLake; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    lake = FeatureLake.open(tmp_path_factory.mktemp("bp") / "lake")
    bp.register_bp_log(lake)
    sheets, truth = bp.demo_logs(3, seed=0, degraded=(1,))
    report = lake.write(sheets, entities="patient")
    return lake, sheets, truth, report


def test_the_crnn_is_registered_as_the_designs_dl_interpretation_function(demo):
    lake = demo[0]
    spec = lake.registry.function(TEXT_LINE)
    assert (spec.kind, spec.role, spec.inputs, spec.outputs) == ("DL", "interpretation", (bp.SHEET,),
                                                                 (bp.TEXT, bp.CONFIDENCE))
    with pytest.raises(UserError, match="register it first"):
        register_text_line(lake, "/health/feature/patient/image/unknown")
    with pytest.raises(UserError, match="registered as 'float'"):
        register_text_line(lake, bp.SBP_ARV)


def test_writing_the_sheets_reads_them_at_ingestion(demo):
    lake, sheets, truth, report = demo
    called = {c["function"] for c in report.interpreted.calls}
    assert called == {TEXT_LINE, bp.READINGS_FUNCTION}
    text = lake.get(EventKey({"patient": "p000"}), bp.TEXT)
    written = [" ".join(line.split()) for line in bp.sheet_lines(truth.filter(pl.col("patient") == "p000"))]
    assert text.splitlines() == written  # the gap before the pulse reads as one space


def test_confident_sheets_become_map_and_arv_computed_by_the_clinical_functions(demo):
    lake, sheets, truth, _ = demo
    for patient in ("p000", "p002"):
        t = truth.filter(pl.col("patient") == patient)
        key = EventKey({"patient": patient})
        assert lake.get(key, bp.CONFIDENCE) >= bp.THRESHOLD
        assert lake.get(key, bp.N_READINGS) == t.height
        want_map = float(mean_arterial_pressure(t["systolic"], t["diastolic"]).mean())
        assert lake.get(key, bp.MAP_MEAN) == pytest.approx(want_map)
        assert lake.get(key, bp.SBP_ARV) == pytest.approx(average_real_variability(t["systolic"].cast(pl.Float64)))
        assert lake.get(key, bp.REVIEW) is None


def test_a_low_confidence_read_goes_to_review_instead_of_the_features(demo):
    lake, sheets, truth, _ = demo
    key = EventKey({"patient": "p001"})
    assert lake.get(key, bp.CONFIDENCE) < bp.THRESHOLD
    assert lake.get(key, bp.MAP_MEAN) is None and lake.get(key, bp.N_READINGS) is None
    review = bp.review_table(lake)
    assert review["patient"].to_list() == ["p001"]
    assert review["reason"][0].startswith("confidence ")
    assert open(review["image"][0], "rb").read() == sheets[bp.SHEET][1]  # the reviewer opens the very scan


def test_the_readings_arrive_in_a_training_frame_only_from_the_scan_on(demo):
    lake, sheets, truth, _ = demo
    scan = sheets.filter(pl.col("patient") == "p000")["time"][0]
    rows = pl.DataFrame({"patient": ["p000", "p000", "p001"],
                         "event_time": [scan - dt.timedelta(minutes=1), scan, scan + dt.timedelta(days=1)]})
    tf = lake.training_frame(rows, [bp.MAP_MEAN, bp.SBP_ARV, bp.N_READINGS])
    assert tf[bp.MAP_MEAN][0] is None  # the sheet's readings are older, but the clinic learnt them at the scan
    assert tf[bp.N_READINGS].to_list() == [None, 6, None]


def test_the_threshold_decides_between_features_and_review():
    text = "110/03/09\n128/82   71\n131/84   69"
    accepted = bp.BloodPressureLog(0.4).summarize(text, 0.41)
    assert accepted[bp.N_READINGS] == 2 and accepted[bp.REVIEW] is None
    assert accepted[bp.MAP_MEAN] == pytest.approx((82 + 46 / 3 + 84 + 47 / 3) / 2)
    refused = bp.BloodPressureLog(0.4).summarize(text, 0.39)
    assert refused[bp.MAP_MEAN] is None and refused[bp.REVIEW] == "confidence 0.39 < 0.40"
    with pytest.raises(UserError, match="probability"):
        bp.BloodPressureLog(1.5)


@pytest.mark.parametrize("text, reason", [
    ("110/03/09\n128/8271", "neither a date"),
    ("128/82 71", "before any date"),
    ("110/02/30\n128/82 71", "not a calendar date"),
    ("110/03/09\n82/128 71", "not a plausible reading"),
    ("110/03/09\n328/82 71", "systolic 328"),
    ("", "no readings"),
])
def test_a_sheet_that_does_not_parse_names_the_line(text, reason):
    readings, why = bp.parse_log(text)
    assert readings.height == 0 and reason in why


def test_roc_dates_and_parsing_round_trip():
    readings, why = bp.parse_log("110/03/09\n128/82 71\n 111/1/2 \n120/80  60")
    assert why is None
    assert readings["date"].to_list() == [dt.date(2021, 3, 9), dt.date(2022, 1, 2)]
    assert readings["systolic"].to_list() == [128, 120] and bp.roc_date(dt.date(2021, 3, 9)) == "110/03/09"


def test_bytes_that_are_not_an_image_are_a_user_error():
    with pytest.raises(UserError, match="not an image"):
        decode_image(b"not a png")


def test_a_persons_transcription_takes_the_sheet_out_of_review(demo):
    # last in this module: it changes the shared lake
    lake, sheets, truth, _ = demo
    t = truth.filter(pl.col("patient") == "p001")
    scan = sheets.filter(pl.col("patient") == "p001")["time"][0]
    report = bp.transcribe(lake, "p001", scan, "\n".join(bp.sheet_lines(t)))
    assert {c["function"] for c in report.calls} == {bp.READINGS_FUNCTION}  # not the recognizer again
    key = EventKey({"patient": "p001"})
    assert lake.get(key, bp.N_READINGS) == t.height and lake.get(key, bp.REVIEW) is None
    want_map = float(mean_arterial_pressure(t["systolic"], t["diastolic"]).mean())
    assert lake.get(key, bp.MAP_MEAN) == pytest.approx(want_map)
    assert bp.review_table(lake).height == 0
    with pytest.raises(UserError, match="update would add"):
        bp.transcribe(lake, "p999", scan, "110/03/09")  # no such sheet: nothing to correct
