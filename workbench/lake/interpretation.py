"""Interpretation functions: deep-learning readers that turn media features into ordinary features.

The design's interpretation functions run at ingestion: a media value arrives, a model reads it, and what
it read becomes features like any other. Here that is the lake's own machinery -- a registered function
(role ``interpretation``, kind ``DL``) whose input is a media feature -- and :meth:`FeatureLake.write` runs
it when a batch changes that feature (``write(..., interpret=True)``, the default).

:func:`register_text_line` registers the shipped CRNN recognizer (:mod:`workbench.crnn`, the one join
between the two packages) as ``/commons/function/interpretation/image/text_line``: it reads an image
feature and writes the text it reads (lines top to bottom, joined by newlines) and its confidence, the
recognizer's calibrated probability that a line is exactly right, taken for the least certain line (a
page is only as trustworthy as its worst line). torch loads on the first call, never on
``import workbench.lake``.
"""

from __future__ import annotations

import io
import threading

import polars as pl

from workbench.errors import UserError
from workbench.lake._registry import FEATURE_NAME

TEXT_LINE = "/commons/function/interpretation/image/text_line"

_RECOGNIZERS: dict = {}
_LOCK = threading.Lock()


def recognizer(model=None):
    """The CRNN recognizer for checkpoint ``model`` (the shipped one when None), loaded once per process."""
    key = str(model) if model is not None else None
    with _LOCK:
        if key not in _RECOGNIZERS:
            import torch

            from workbench.crnn import Recognizer

            torch.set_num_threads(min(2, torch.get_num_threads()))  # the workbench's 2-core budget
            _RECOGNIZERS[key] = Recognizer.load(model)
        return _RECOGNIZERS[key]


def decode_image(payload: bytes):
    """Image bytes (PNG, JPEG, ...) as a grayscale PIL image; a payload that is not an image is a user error."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(io.BytesIO(payload))
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"an image feature holds {len(payload)} bytes that are not an image ({exc}); write PNG or "
                        f"JPEG bytes") from None
    return img.convert("L")


class TextLineReader:
    """The ``text_line`` function: ``fn(inputs) -> outputs`` in the lake's calling convention.

    A plain object with three names and a checkpoint path, so it pickles to dask workers (each loads the
    model once) and says what it is in ``repr``."""

    def __init__(self, image: str, text: str, confidence: str, model=None):
        self.image, self.text, self.confidence, self.model = image, text, confidence, model

    def __repr__(self) -> str:
        return f"TextLineReader({self.image!r} -> {self.text!r}, {self.confidence!r})"

    def read(self, payload: bytes | None) -> tuple[str | None, float | None]:
        if payload is None:
            return None, None
        lines = recognizer(self.model).read_page(decode_image(payload))
        if not lines:
            return "", 0.0  # nothing legible: certainly not a right reading
        return "\n".join(line.text for line in lines), min(line.confidence for line in lines)

    def __call__(self, inputs: pl.DataFrame) -> pl.DataFrame:
        reads = [self.read(p) for p in inputs[self.image].to_list()]
        return inputs.select("key", "time").with_columns(
            pl.Series(self.text, [r[0] for r in reads], dtype=pl.String),
            pl.Series(self.confidence, [r[1] for r in reads], dtype=pl.Float64))


def derived_names(image: str) -> tuple[str, str]:
    """``/d/feature/e/image/x`` -> (``/d/feature/e/image/x_text``, ``/d/feature/e/image/x_confidence``)."""
    m = FEATURE_NAME.match(image)
    if m is None:
        raise UserError(f"image feature {image!r} is not a feature name; see workbench.lake.check_feature_name")
    prefix = image.rsplit("/", 1)[0]
    return f"{prefix}/{m['name']}_text", f"{prefix}/{m['name']}_confidence"


def register_text_line(lake, image: str, text: str | None = None, confidence: str | None = None, *, model=None,
                       name: str = TEXT_LINE):
    """Register the CRNN recognizer as the interpretation function ``name`` over the image feature ``image``
    (registered with dtype ``image``), writing ``text`` (string) and ``confidence`` (float in [0, 1]); the
    output names default to ``<image>_text`` and ``<image>_confidence``. Returns the FunctionSpec.

    Call it again in each new process (the reader is an object, not an importable function)."""
    spec = lake.registry.features.get(image)
    if spec is None or spec.dtype != "image":
        have = "unregistered" if spec is None else f"registered as {spec.dtype!r}"
        raise UserError(f"{image!r} is {have}; register it first with lake.register_feature({image!r}, 'image')")
    default_text, default_conf = derived_names(image)
    text, confidence = text or default_text, confidence or default_conf
    lake.register_feature(text, "string", description=f"text the CRNN read in {image}, lines joined by newlines")
    lake.register_feature(confidence, "float", unit="1",
                          description=f"calibrated P(line exactly right) of the least certain line of {text}")
    return lake.register_function(
        name, TextLineReader(image, text, confidence, model), inputs=[image], outputs=[text, confidence], kind="DL",
        description="CRNN text-line recognizer (workbench.crnn, shipped checkpoint unless model=): segments the "
                    "image into lines, reads each, confidence of the least certain line")
