"""``Recognizer``: a trained CRNN behind one call, from line images or whole pages to text with confidence."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from workbench.crnn._preprocess import prepare_line
from workbench.crnn.model import CRNN, CRNNConfig

_MODELS = Path(__file__).resolve().parents[2] / "datasets" / "models"
#: The checkpoint committed with the repository: the printed-line model of issue 13 (see its README).
SHIPPED_MODEL = _MODELS / "crnn_printed.pt"


@dataclass(frozen=True)
class Line:
    """One recognized text line: its text, its box ``(x0, y0, x1, y1)`` in the input image, and the
    calibrated probability that ``text`` is exactly right (see ``Recognizer.confidence``)."""

    text: str
    box: tuple[int, int, int, int]
    confidence: float


class Recognizer:
    """Text-line recognizer: preprocess (one path shared with training), batch by width, run the CRNN,
    decode with ``workbench.ctc``.

    Build one with :meth:`load` (the shipped model by default) or from a model in memory. Lines of any
    length keep their aspect ratio at height 32; nothing is squashed.
    """

    def __init__(self, model: CRNN, device=None, metrics: dict | None = None, calibration: dict | None = None,
                 batch_size: int = 32, max_width: int | None = None, dictionary_settings: dict | None = None):
        if not isinstance(model, CRNN):
            raise TypeError(f"model: expected a workbench.crnn.CRNN, got {type(model).__name__}")
        self.device = torch.device(device) if device else next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.charset = model.config.charset
        self.metrics = metrics or {}
        self.calibration = calibration
        #: margin and min_length of dictionary correction tuned for this model (``calibrate.py``), or None.
        self.dictionary_settings = dictionary_settings
        self.batch_size = batch_size
        del max_width  # accepted for old callers; lines are never squashed to a maximum width any more

    @classmethod
    def load(cls, path=None, device=None) -> "Recognizer":
        """Load a checkpoint written by the training loop; ``None`` loads the shipped model."""
        from workbench.errors import UserError

        path = Path(path) if path is not None else SHIPPED_MODEL
        if not path.exists():
            hint = ("train one with `python -m workbench.crnn.train --profile full --out DIR` (see "
                    "datasets/models/README.md)" if path == SHIPPED_MODEL else "pass an existing .pt checkpoint")
            raise UserError(f"--model: no checkpoint at {path}; {hint}")
        try:
            # weights_only: a checkpoint is tensors and plain containers, so no pickled code gets run.
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # not a torch file at all
            raise UserError(f"--model: {path} is not a CRNN checkpoint ({type(err).__name__}); pass a .pt "
                            "file written by `workbench crnn train`") from None
        if not isinstance(state, dict) or any(k not in state for k in ("state_dict", "model_config", "charset")):
            raise UserError(f"--model: {path} is not a CRNN checkpoint (missing 'state_dict', 'model_config' "
                            "or 'charset'); pass a .pt file written by `workbench crnn train`")
        config = CRNNConfig.from_dict(state["model_config"])
        if config.charset != state["charset"]:
            raise UserError(f"--model: {path} stores two different charsets; the checkpoint is corrupt")
        model = CRNN(config)
        model.load_state_dict(state["state_dict"])
        return cls(model, device=device, metrics=state.get("metrics"), calibration=state.get("calibration"),
                   dictionary_settings=state.get("dictionary"))

    def system_dictionary(self, path=None):
        """The system word list as a :class:`~workbench.crnn.Dictionary`, with this model's tuned margin."""
        from workbench.crnn._dictionary import Dictionary

        settings = {k: v for k, v in (self.dictionary_settings or {}).items() if k in ("margin", "min_length")}
        return Dictionary.system(path, **settings)

    # -- preprocessing and the network ------------------------------------------------------------------
    def prepare(self, images) -> list[np.ndarray]:
        """Images -> uint8 (32, w) lines: grayscale, dark on light, cropped to ink, aspect ratio kept."""
        out = []
        for k, image in enumerate(_as_list(images)):
            try:
                out.append(prepare_line(image, self.model.config.height))
            except (TypeError, ValueError) as err:
                raise type(err)(f"images[{k}]: {err}") from None
        if not out:
            raise ValueError("images: expected at least one image")
        return out

    def preprocess(self, images) -> tuple[torch.Tensor, list[int]]:
        """Images -> one padded (N, 1, 32, W) batch in [0, 1] (text dark) and each line's content width."""
        return self._batch(self.prepare(images))

    def _batch(self, lines: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
        widths = [arr.shape[1] for arr in lines]
        stride = self.model.config.stride  # input columns per output frame (4; 16 for the square-pooling ablation)
        batch_width = max(2 * stride, int(np.ceil(max(widths) / stride) * stride))
        batch = np.empty((len(lines), 1, lines[0].shape[0], batch_width), np.float32)
        for k, arr in enumerate(lines):
            batch[k, 0] = float(np.median(arr[:, -1]))  # pad with the line's own background
            batch[k, 0, :, : arr.shape[1]] = arr
        return torch.from_numpy(batch / 255.0), widths

    def log_probs(self, images, batch_size: int | None = None) -> list[np.ndarray]:
        """Per-line (T_i, C) log-probabilities over the frames covering each line's content."""
        return self._lines_log_probs(self.prepare(images), batch_size)

    @torch.no_grad()
    def _lines_log_probs(self, lines: list[np.ndarray], batch_size: int | None = None) -> list[np.ndarray]:
        batch_size = batch_size or self.batch_size
        # Width buckets: lines sorted by width share a batch, so little compute goes to padding.
        order = sorted(range(len(lines)), key=lambda i: lines[i].shape[1])
        results: dict[int, np.ndarray] = {}
        stride = self.model.config.stride
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch, widths = self._batch([lines[i] for i in idx])
            lp = self.model(batch.to(self.device)).float().cpu().numpy()  # (T, N, C)
            for j, i in enumerate(idx):
                frames = min(lp.shape[0], max(1, (widths[j] + stride - 1) // stride))
                results[i] = lp[:frames, j]
        return [results[i] for i in range(len(lines))]

    # -- confidence ---------------------------------------------------------------------------------------
    @staticmethod
    def raw_confidence(log_probs: np.ndarray) -> float:
        """The least certain frame's top probability, min_t max_c p(c | t).

        A line is exactly right only if every frame's decision is; one frame torn between a character and
        the blank (a possible deletion or insertion) or between two characters makes the line doubtful.
        """
        return float(np.exp(np.asarray(log_probs).max(1).min()))

    def confidence(self, log_probs: np.ndarray, corrected: bool = False) -> float:
        """Calibrated P(line exactly right): the raw score through the isotonic map fitted on held-out
        fonts (``calibrate.py``), stored in the checkpoint; the raw score when the model has none.
        ``corrected``: for the reading after dictionary correction, which has its own map."""
        return self._calibrated(self.raw_confidence(log_probs), corrected)

    def _calibrated(self, raw: float, corrected: bool = False, voted: bool = False) -> float:
        cal = self.calibration
        settings = self.dictionary_settings or {}
        if corrected and settings.get("calibration"):
            cal = settings["calibration"]
        if corrected and voted and settings.get("views_calibration"):
            cal = settings["views_calibration"]  # the five-view vote with the dictionary has a map of its own
        if not cal:
            return raw
        return float(np.interp(raw, cal["x"], cal["y"]))

    # -- decoding -------------------------------------------------------------------------------------------
    def read_lines(self, images, lexicon=None, beam_width: int | None = None, max_distance: int = 2,
                   dictionary=None, views: bool = False) -> list[Line]:
        """Transcribe single-line images; each ``Line`` has the image's full box and a confidence.

        ``views``: read each line under five views (``workbench.crnn._preprocess.views``: three widths and
        smaller glyphs besides the line itself), decode each the same way, and keep the reading most views
        agree on (ties: the larger summed raw confidence). The confidence is then the calibrated score of
        the most confident view that gave that reading. Five times the network's work."""
        from workbench.crnn._dictionary import Dictionary
        from workbench.ctc import BKTree

        images = _as_list(images)
        if beam_width is not None and (isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1):
            raise ValueError(f"beam_width: expected a positive int or None, got {beam_width!r}")
        if dictionary is not None and not isinstance(dictionary, Dictionary):
            raise TypeError(f"dictionary: expected a workbench.crnn.Dictionary or None, got {type(dictionary).__name__}; "
                            "Recognizer.system_dictionary() gives the system word list")
        if dictionary is not None and (lexicon is not None or beam_width is not None):
            raise ValueError("dictionary: combine it with neither lexicon (a closed vocabulary) nor beam_width; "
                             "pick one decoding")
        tree = None
        if lexicon is not None:
            words = list(lexicon)
            if not words:
                raise ValueError("lexicon: expected a non-empty list of words, or None for lexicon-free")
            tree = BKTree(_case_variants(words))
        def decode(lp) -> str:
            return dictionary.correct(lp, self.charset) if dictionary is not None else \
                self._decode(lp, tree, beam_width, max_distance)

        corrected = dictionary is not None
        lines = self.prepare(images)
        per_line = 1
        if views:
            from workbench.crnn._preprocess import views as line_views

            lines = [v for line in lines for v in line_views(line)]
            per_line = len(lines) // len(images)
        lps = self._lines_log_probs(lines)
        out = []
        for k, image in enumerate(images):
            h, w = _shape(image)
            group = lps[k * per_line : (k + 1) * per_line]
            if per_line == 1:
                out.append(Line(decode(group[0]), (0, 0, w, h), self.confidence(group[0], corrected)))
                continue
            texts, raws = [decode(lp) for lp in group], [self.raw_confidence(lp) for lp in group]
            votes: dict[str, list[float]] = {}
            for text, raw in zip(texts, raws):
                votes.setdefault(text, []).append(raw)
            text = max(votes, key=lambda t: (len(votes[t]), sum(votes[t])))
            out.append(Line(text, (0, 0, w, h), self._calibrated(max(votes[text]), corrected, voted=True)))
        return out

    def recognize(self, images, lexicon=None, beam_width: int | None = None, max_distance: int = 2,
                  dictionary=None, views: bool = False) -> list[str]:
        """Transcribe text-line images (PIL images or uint8 arrays, any size, gray or RGB, either polarity).

        Decoding: best path by default; ``beam_width`` -> prefix beam search; ``lexicon`` (a list of
        words) -> the CRNN paper's lexicon-based transcription applied word by word (see
        :meth:`_lexicon_words`); ``dictionary`` (a :class:`~workbench.crnn.Dictionary`, for open text) ->
        best path with unknown words corrected to dictionary words the frames find nearly as likely.
        ``views``: vote over five views of each line (see :meth:`read_lines`).
        """
        return [line.text for line in self.read_lines(images, lexicon, beam_width, max_distance, dictionary, views)]

    def read_page(self, image, lexicon=None, beam_width: int | None = None, max_distance: int = 2,
                  deskew: bool = True, dictionary=None, views: bool = False) -> list[Line]:
        """Segment a page (or a paragraph, or one line) into text lines and recognize each, top to bottom.

        Lines are found with the projection profile after deskewing (``workbench.crnn._page``); each
        ``Line.box`` is in the input image's coordinates.
        """
        from workbench.crnn._data import to_grayscale
        from workbench.crnn._page import segment_lines

        gray = to_grayscale(image)
        boxes, _ = segment_lines(gray, deskew=deskew)
        if not boxes:
            return []
        lines = self.read_lines([b.image for b in boxes], lexicon, beam_width, max_distance, dictionary, views)
        return [Line(line.text, b.box, line.confidence) for line, b in zip(lines, boxes)]

    def _decode(self, lp, tree, beam_width, max_distance) -> str:
        from workbench.ctc import best_path_decode, prefix_beam_search

        if tree is not None:
            return self._lexicon_words(lp, tree, max_distance)
        if beam_width is not None:
            labels, _ = prefix_beam_search(lp, beam_width=beam_width)[0]
            return self._text(labels)
        return self._text(best_path_decode(lp))

    def _lexicon_words(self, lp: np.ndarray, tree, max_distance: int) -> str:
        """Lexicon-based transcription word by word (the paper's sec. 2.3.3, applied to each word).

        The best path splits the frames at the spaces and the punctuation around words; each word's frames
        are decoded against the BK-tree (candidates within ``max_distance`` edits of that word's
        lexicon-free reading, ranked by p(word | frames)). A word with no candidate that close (a number,
        a name) keeps its lexicon-free reading instead of being forced onto some lexicon word.
        """
        from workbench.crnn._dictionary import path_characters, segment_frames
        from workbench.ctc import lexicon_decode

        chars = path_characters(lp, self.charset)
        pieces, i = [], 0
        while i < len(chars):
            if not chars[i][0].isalpha():
                pieces.append(chars[i][0])
                i += 1
                continue
            j = i
            while j < len(chars) and chars[j][0].isalpha():
                j += 1
            word = "".join(c for c, _, _ in chars[i:j])
            lo, hi = segment_frames(chars, i, j, len(lp))
            if tree.search(word, max_distance):
                pieces.append(lexicon_decode(lp[lo:hi], tree, self.charset, max_distance=max_distance).word)
            else:
                pieces.append(word)
            i = j
        return "".join(pieces)

    def _text(self, labels) -> str:
        return "".join(self.charset[int(i) - 1] for i in labels)

    def __repr__(self) -> str:
        cfg = self.model.config
        return f"Recognizer(channels={cfg.channels}, hidden={cfg.hidden}, classes={cfg.num_classes}, device={self.device})"


def _case_variants(words) -> list[str]:
    """A lexicon of lower-case words also matches ``Hello`` and ``HELLO`` (case as printed is kept)."""
    out = {}
    for w in words:
        for v in (w, w[:1].upper() + w[1:], w.upper()):
            out.setdefault(v, None)
    return list(out)


def _shape(image) -> tuple[int, int]:
    if hasattr(image, "size") and not isinstance(image, np.ndarray):
        return image.size[1], image.size[0]
    return int(image.shape[0]), int(image.shape[1])


def _as_list(images) -> list:
    """One image or a sequence of them -> a list; errors name the bad input."""
    if isinstance(images, np.ndarray) or hasattr(images, "convert"):
        return [images]
    if isinstance(images, (str, bytes)) or not hasattr(images, "__iter__"):
        raise TypeError(f"images: expected a PIL image, a uint8 array or a list of them, got {type(images).__name__}")
    images = list(images)
    for k, image in enumerate(images):
        if not (isinstance(image, np.ndarray) or hasattr(image, "convert")):
            raise TypeError(f"images[{k}]: expected a PIL.Image or numpy array, got {type(image).__name__}")
    return images
