"""Paper blood-pressure logs, end to end: scanned sheet -> CRNN text -> readings -> MAP and ARV -> training frame.

A patient keeps a paper log at home and brings it to a visit, where it is scanned. A sheet reads, in the
patient's hand (rendered here with URW's Z003, a chancery script, since no handwriting set ships)::

    110/03/09          a date in the Republic of China calendar (year 110 = 2021), as written in Taiwan
    128/82   71        systolic/diastolic (mm[Hg]) and pulse (/min)
    135/88   76
    110/03/10
    ...

In the lake (entity ``patient``, window ``day``, time = the scan, when the values became known):

1. the sheet is an ``image`` feature (:data:`SHEET`); writing it runs the CRNN interpretation function
   ``/commons/function/interpretation/image/text_line`` (:mod:`.interpretation`) -> :data:`TEXT`, :data:`CONFIDENCE`;
2. the rule :data:`READINGS_FUNCTION` parses the text into readings and, with the clinical package's own
   :func:`~workbench.clinical.mean_arterial_pressure` and :func:`~workbench.clinical.average_real_variability`,
   writes :data:`N_READINGS`, :data:`MAP_MEAN` and :data:`SBP_ARV`;
3. a read below the confidence threshold, or one that does not parse, writes none of those: it writes the
   reason to :data:`REVIEW` instead, and :func:`review_table` lists it for a person to check against the image;
4. the person's reading goes back with :func:`transcribe` -- an ``update`` of the stored text with confidence 1
   -- so the rule of step 2 runs again and the sheet leaves the review table.

The readings are stamped at the scan, not at the dates on the sheet: a model trained on frames before the
visit must not see what the clinic learnt at the visit (the point-in-time rule, as everywhere in the lake).
"""

from __future__ import annotations

import datetime as dt
import glob
import io
import re

import numpy as np
import polars as pl

from workbench.errors import UserError

SHEET = "/health/feature/patient/image/bp_log"
TEXT = "/health/feature/patient/image/bp_log_text"
CONFIDENCE = "/health/feature/patient/image/bp_log_confidence"
N_READINGS = "/health/feature/patient/text/bp_log_readings"
MAP_MEAN = "/health/feature/patient/text/bp_log_map_mean"
SBP_ARV = "/health/feature/patient/text/bp_log_sbp_arv"
REVIEW = "/health/feature/patient/text/bp_log_review"
READINGS_FUNCTION = "/health/function/interpretation/text/bp_log_readings"
#: Below this calibrated confidence (P(the least certain line is exactly right)) a sheet goes to review.
THRESHOLD = 0.4
ROC_OFFSET = 1911  # ROC year 1 = 1912

_DATE = re.compile(r"^(\d{2,3})/(\d{1,2})/(\d{1,2})$")
_READING = re.compile(r"^(\d{2,3})/(\d{2,3})\s+(\d{2,3})$")
_PLAUSIBLE = {"systolic": (60, 260), "diastolic": (30, 160), "pulse": (30, 220)}


# ---- the paper ----------------------------------------------------------------------------------------
def roc_date(day: dt.date) -> str:
    """``2021-03-09`` -> ``110/03/09``."""
    return f"{day.year - ROC_OFFSET}/{day.month:02d}/{day.day:02d}"


def sheet_lines(readings: pl.DataFrame) -> list[str]:
    """The lines a patient writes for ``readings`` (date, systolic, diastolic, pulse), a date line per day."""
    lines, last = [], None
    for day, sbp, dbp, pulse in readings.select("date", "systolic", "diastolic", "pulse").iter_rows():
        if day != last:
            lines.append(roc_date(day))
            last = day
        lines.append(f"{sbp}/{dbp}   {pulse}")
    return lines


def handwriting_font(size: int = 34):
    """URW Z003 (a chancery script) when installed, else DejaVu Sans Oblique, else Pillow's default."""
    from PIL import ImageFont

    for pattern in ("/usr/share/fonts/opentype/urw-base35/Z003-MediumItalic.otf",
                    "/usr/share/fonts/**/Z003-MediumItalic.otf", "/usr/share/fonts/**/DejaVuSans-Oblique.ttf"):
        for path in sorted(glob.glob(pattern, recursive=True)):
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def render_sheet(lines: list[str], *, seed: int = 0, blur: float = 0.6, noise: float = 0.0) -> bytes:
    """A scanned log sheet as PNG bytes: each line a little offset, the page slightly turned, the scan
    blurred by ``blur`` (pixels) with Gaussian sensor ``noise`` (grey levels). Deterministic in ``seed``."""
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    font = handwriting_font()
    img = Image.new("L", (380, 30 + 52 * len(lines)), 245)
    draw = ImageDraw.Draw(img)
    for k, text in enumerate(lines):
        draw.text((20 + int(rng.integers(0, 14)), 14 + 52 * k), text, font=font, fill=int(rng.integers(25, 60)))
    img = img.rotate(float(rng.uniform(-1.5, 1.5)), fillcolor=245, resample=Image.BILINEAR)
    img = img.filter(ImageFilter.GaussianBlur(blur))
    pixels = np.asarray(img, dtype=float) + rng.normal(0.0, noise, (img.size[1], img.size[0]))
    out = io.BytesIO()
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def demo_logs(n_patients: int = 4, *, seed: int = 0, degraded: tuple[int, ...] = (), days: int = 3,
              visit: dt.datetime = dt.datetime(2021, 3, 16)) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Synthetic patients' logs: ``(sheets, truth)``. ``sheets`` has patient, time (the scan) and :data:`SHEET`
    (PNG bytes); ``truth`` the readings written on each sheet. Patients listed in ``degraded`` (indices) get
    a smudged, noisy scan that the recognizer cannot read with confidence."""
    rng = np.random.default_rng(seed)
    sheets, truth = [], []
    for i in range(n_patients):
        patient = f"p{i:03d}"
        first = (visit - dt.timedelta(days=days + 1)).date()
        rows = []
        base_s, base_d, base_p = rng.normal(132, 10), rng.normal(84, 6), rng.normal(72, 6)
        for d in range(days):
            for _ in range(2):  # morning and evening, as home-monitoring guidelines ask
                rows.append({"patient": patient, "date": first + dt.timedelta(days=d),
                             "systolic": int(round(base_s + rng.normal(0, 7))),
                             "diastolic": int(round(base_d + rng.normal(0, 5))),
                             "pulse": int(round(base_p + rng.normal(0, 4)))})
        readings = pl.DataFrame(rows)
        bad = i in degraded
        png = render_sheet(sheet_lines(readings), seed=seed * 1000 + i, blur=2.2 if bad else 0.6,
                           noise=40 if bad else 0)
        sheets.append({"patient": patient, "time": visit + dt.timedelta(hours=9 + i), SHEET: png})
        truth.append(readings)
    frame = pl.DataFrame(sheets, schema={"patient": pl.String, "time": pl.Datetime("us"), SHEET: pl.Binary})
    return frame, pl.concat(truth)


# ---- reading it -----------------------------------------------------------------------------------------
def parse_log(text: str) -> tuple[pl.DataFrame, str | None]:
    """The readings of a sheet's text: (frame of date, systolic, diastolic, pulse; the reason it does not
    parse or None). A line that is neither a date nor a plausible reading is a reason, never skipped:
    dropping it silently would change the patient's ARV."""
    rows, day = [], None
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for k, line in enumerate(lines, 1):
        if m := _DATE.match(line):
            try:
                day = dt.date(int(m[1]) + ROC_OFFSET, int(m[2]), int(m[3]))
            except ValueError:
                return _no_readings(), f"line {k} {line!r} is not a calendar date"
            continue
        m = _READING.match(line)
        if m is None:
            return _no_readings(), f"line {k} {line!r} is neither a date (110/03/09) nor a reading (128/82 71)"
        if day is None:
            return _no_readings(), f"line {k} {line!r} is a reading before any date"
        values = dict(zip(("systolic", "diastolic", "pulse"), map(int, m.groups())))
        off = [f"{n} {v}" for n, v in values.items() if not _PLAUSIBLE[n][0] <= v <= _PLAUSIBLE[n][1]]
        if off or values["systolic"] <= values["diastolic"]:
            return _no_readings(), f"line {k} {line!r} is not a plausible reading ({', '.join(off) or 'SBP <= DBP'})"
        rows.append({"date": day, **values})
    if not rows:
        return _no_readings(), "no readings on the sheet"
    return pl.DataFrame(rows, schema=_SCHEMA), None


_SCHEMA = {"date": pl.Date, "systolic": pl.Int64, "diastolic": pl.Int64, "pulse": pl.Int64}


def _no_readings() -> pl.DataFrame:
    return pl.DataFrame(schema=_SCHEMA)


class BloodPressureLog:
    """The rule that turns a sheet's text into features (or a review entry); picklable, like every function."""

    def __init__(self, threshold: float = THRESHOLD):
        if not 0.0 <= threshold <= 1.0:
            raise UserError(f"threshold={threshold!r}; expected a probability in [0, 1]")
        self.threshold = threshold

    def __repr__(self) -> str:
        return f"BloodPressureLog(threshold={self.threshold})"

    def summarize(self, text: str | None, confidence: float | None) -> dict:
        from workbench.clinical import average_real_variability, mean_arterial_pressure

        empty = {N_READINGS: None, MAP_MEAN: None, SBP_ARV: None, REVIEW: None}
        if text is None:
            return empty
        if confidence is None or confidence < self.threshold:
            return {**empty, REVIEW: f"confidence {confidence or 0.0:.2f} < {self.threshold:.2f}"}
        readings, reason = parse_log(text)
        if reason is not None:
            return {**empty, REVIEW: reason}
        maps = mean_arterial_pressure(readings["systolic"], readings["diastolic"])  # the resting rule at home
        # ARV in the order written: morning and evening readings of a day share a date, so their spacing is
        # not on the sheet; equal weights (Mena et al. 2005 without times).
        arv = average_real_variability(readings["systolic"].cast(pl.Float64))
        return {N_READINGS: readings.height, MAP_MEAN: float(maps.mean()), SBP_ARV: arv, REVIEW: None}

    def __call__(self, inputs: pl.DataFrame) -> pl.DataFrame:
        rows = [self.summarize(t, c) for t, c in zip(inputs[TEXT].to_list(), inputs[CONFIDENCE].to_list())]
        schema = {N_READINGS: pl.Int64, MAP_MEAN: pl.Float64, SBP_ARV: pl.Float64, REVIEW: pl.String}
        return inputs.select("key", "time").hstack(pl.DataFrame(rows, schema=schema))


def register_bp_log(lake, *, threshold: float = THRESHOLD, model=None) -> dict:
    """Register the sheet feature, the CRNN interpretation function over it and the readings rule."""
    from workbench.lake.interpretation import register_text_line

    lake.register_feature(SHEET, "image", description="a scanned page of the patient's paper blood-pressure log")
    register_text_line(lake, SHEET, TEXT, CONFIDENCE, model=model)
    for name, dtype, unit, what in (
            (N_READINGS, "int", "1", "readings on the sheet"),
            (MAP_MEAN, "float", "mm[Hg]", "mean arterial pressure (resting rule) of the sheet's readings"),
            (SBP_ARV, "float", "mm[Hg]", "average real variability of the sheet's systolic readings"),
            (REVIEW, "string", None, "why the sheet was sent to review instead of becoming features")):
        lake.register_feature(name, dtype, unit=unit, description=what)
    lake.register_function(READINGS_FUNCTION, BloodPressureLog(threshold), inputs=[TEXT, CONFIDENCE],
                           outputs=[N_READINGS, MAP_MEAN, SBP_ARV, REVIEW], kind="RULE",
                           description=f"parse the read sheet; MAP and ARV when confidence >= {threshold}, "
                                       f"else a review entry")
    return {"features": [SHEET, TEXT, CONFIDENCE, N_READINGS, MAP_MEAN, SBP_ARV, REVIEW],
            "functions": ["/commons/function/interpretation/image/text_line", READINGS_FUNCTION]}


def transcribe(lake, patient: str, time, text: str, window: str = "day"):
    """Record a person's reading of a sheet in review: its text, with confidence 1 (read by a human), as a
    correction of the stored values (``lake.update``), then ``run_pending`` so the readings rule recomputes
    from it. Returns the RunReport. (Re-running the recognizer over the image, e.g. by a backfill, would
    replace the transcription again.)"""
    frame = pl.DataFrame({"patient": [patient], "time": [time], TEXT: [text], CONFIDENCE: [1.0]})
    lake.update(frame, window=window, entities="patient")
    return lake.run_pending()


def review_table(lake, window: str = "day") -> pl.DataFrame:
    """Sheets waiting for a person: patient, time, confidence, reason, the text read and the image's URI."""
    keys = lake.keys(window)
    rows = []
    if "patient" in keys.columns:
        for digest, patient in keys.select("key", "patient").iter_rows():
            h = lake.history(digest, [REVIEW, CONFIDENCE, TEXT, SHEET], window=window, media="uri")
            for r in h.filter(pl.col(REVIEW).is_not_null()).iter_rows(named=True):
                rows.append({"patient": patient, "time": r["time"], "confidence": r[CONFIDENCE],
                             "reason": r[REVIEW], "text": r[TEXT], "image": r[SHEET]})
    schema = {"patient": pl.String, "time": pl.Datetime("ns"), "confidence": pl.Float64, "reason": pl.String,
              "text": pl.String, "image": pl.String}
    return pl.DataFrame(rows, schema=schema).sort("patient", "time")
