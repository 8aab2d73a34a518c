from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from workbench import ctc
from workbench.crnn import CHARSET, SHIPPED_MODEL, CRNN, Recognizer, greedy_decode_batch, output_length, render_line
from workbench.crnn import train as T
from workbench.errors import UserError


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    cfg = replace(T.PROFILES["quick"], max_steps=2, eval_every=2, val_size=2, batch_size=4)
    T.train(cfg, out, progress=False, log=lambda m: None)
    return out / "best.pt"


def test_load_and_accept_any_image_form(tiny_checkpoint):
    rec = Recognizer.load(tiny_checkpoint)
    line = render_line("Total 12", augment=False)
    rgb = np.stack([line] * 3, -1)
    inputs = [line, rgb, Image.fromarray(line), Image.fromarray(rgb).resize((300, 90)), 255 - line,
              np.full((5, 3), 255, np.uint8)]
    texts = rec.recognize(inputs)
    assert len(texts) == len(inputs) and all(isinstance(t, str) for t in texts)
    assert set("".join(texts)) <= set(rec.charset)
    # light-on-dark is normalized to dark-on-light before the network sees it
    a, _ = rec.preprocess([line])
    b, _ = rec.preprocess([255 - line])
    assert torch.equal(a, b)
    assert rec.recognize(line) == texts[:1]  # a single image is accepted too


def test_long_lines_keep_their_aspect_ratio(tiny_checkpoint):
    """Regression (issue 13): lines wider than 192 px at height 32 were squashed to 192 columns."""
    rec = Recognizer.load(tiny_checkpoint)
    text = "The quick brown fox jumps over the lazy dog 0123456789 again."
    assert len(text) >= 60
    line = render_line(text, augment=False)
    batch, widths = rec.preprocess([line])
    ratio = line.shape[1] / line.shape[0]
    assert widths[0] > 600 and abs(widths[0] / 32 - ratio) / ratio < 0.15
    (lp,) = rec.log_probs([line])
    assert lp.shape[0] == min(output_length(batch.shape[3]), (widths[0] + 3) // 4) > 150  # all of it is read


def test_decoders_agree_with_the_training_decoder(tiny_checkpoint):
    rec = Recognizer.load(tiny_checkpoint)
    lines = [render_line(t, augment=False) for t in ("abc", "$1,000.50", "110/03/09")]
    batch, widths = rec.preprocess(lines)
    with torch.no_grad():
        lp = rec.model(batch)
    expected = greedy_decode_batch(lp, T.frame_lengths(torch.tensor(widths), lp.shape[0]), rec.charset)
    assert rec.recognize(lines) == expected
    beam = rec.recognize(lines, beam_width=8)
    for text, greedy, logp in zip(beam, expected, rec.log_probs(lines)):
        labels = [rec.charset.index(c) + 1 for c in text]
        best = [rec.charset.index(c) + 1 for c in greedy]
        # the beam's labelling is at least as probable as best path's
        assert ctc.log_likelihood(logp, labels) >= ctc.log_likelihood(logp, best) - 1e-6


def _peaked_log_probs(path, charset, p=0.9):
    """(T, C) log-probabilities whose best path is ``path`` (characters, "-" for blank)."""
    C = len(charset) + 1
    lp = np.full((len(path), C), np.log((1 - p) / (C - 1)))
    for t, ch in enumerate(path):
        lp[t, 0 if ch == "-" else charset.index(ch) + 1] = np.log(p)
    return lp


def test_lexicon_corrects_word_by_word(tiny_checkpoint):
    """Regression (issue 13): --lexicon turned a whole line into one word ("Hello world" -> "world")."""
    rec = Recognizer.load(tiny_checkpoint)
    tree = ctc.BKTree(["hello", "world", "Hello"])
    lp = _peaked_log_probs("-H-e-l-o- -w-o-r-l-d-.-", rec.charset)
    assert rec._lexicon_words(lp, tree, 2) == "Hello world."
    # a number or a name far from every word keeps its lexicon-free reading
    lp = _peaked_log_probs("-w-o-r-d- -1-2-3- -X-y-z-q-", rec.charset)
    assert rec._lexicon_words(lp, tree, 1) == "world 123 Xyzq"


def test_confidence_is_calibrated_through_the_stored_map(tiny_checkpoint):
    rec = Recognizer.load(tiny_checkpoint)
    lp = _peaked_log_probs("-a-b-", rec.charset, p=0.6)
    assert rec.raw_confidence(lp) == pytest.approx(0.6)
    rec.calibration = {"x": [0.0, 0.5, 1.0], "y": [0.0, 0.1, 0.9]}
    assert rec.confidence(lp) == pytest.approx(0.1 + 0.8 * 0.2)
    (line,) = rec.read_lines([render_line("ab", augment=False)])
    assert 0.0 <= line.confidence <= 1.0 and line.box[:2] == (0, 0)
    # The dictionary-corrected reading has its own map (calibrate.py stores it beside the margin).
    rec.dictionary_settings = {"margin": 4.0, "min_length": 3, "calibration": {"x": [0.0, 1.0], "y": [0.5, 0.5]}}
    assert rec.confidence(lp, corrected=True) == pytest.approx(0.5)
    assert rec.confidence(lp) == pytest.approx(0.1 + 0.8 * 0.2)
    from workbench.crnn import Dictionary

    (fixed,) = rec.read_lines([render_line("ab", augment=False)], dictionary=Dictionary(["ab"]))
    assert fixed.confidence == pytest.approx(0.5)
    # ... and so does the five-view vote with the dictionary, when calibrate.py has fitted one.
    rec.dictionary_settings["views_calibration"] = {"x": [0.0, 1.0], "y": [0.25, 0.25]}
    (voted,) = rec.read_lines([render_line("ab", augment=False)], dictionary=Dictionary(["ab"]), views=True)
    assert voted.confidence == pytest.approx(0.25)
    (fixed,) = rec.read_lines([render_line("ab", augment=False)], dictionary=Dictionary(["ab"]))
    assert fixed.confidence == pytest.approx(0.5)


def test_read_page_returns_lines_top_to_bottom(tiny_checkpoint):
    rec = Recognizer.load(tiny_checkpoint)
    rows = [render_line(t, augment=False) for t in ("first line", "second", "third one here")]
    width = max(r.shape[1] for r in rows) + 20
    page = np.full((sum(r.shape[0] + 16 for r in rows) + 20, width), 255, np.uint8)
    y = 10
    for r in rows:
        page[y : y + r.shape[0], 10 : 10 + r.shape[1]] = r
        y += r.shape[0] + 16
    lines = rec.read_page(page)
    assert len(lines) == 3
    tops = [ln.box[1] for ln in lines]
    assert tops == sorted(tops) and all(0 <= ln.confidence <= 1 for ln in lines)
    assert rec.read_page(np.full((40, 80), 255, np.uint8)) == []


def test_errors(tiny_checkpoint, tmp_path):
    rec = Recognizer.load(tiny_checkpoint)
    with pytest.raises(ValueError, match="beam_width"):
        rec.recognize([render_line("a", augment=False)], beam_width=0)
    with pytest.raises(ValueError, match="lexicon"):
        rec.recognize([render_line("a", augment=False)], lexicon=[])
    with pytest.raises(TypeError, match=r"images\[0\]"):
        rec.recognize(["not an image"])
    with pytest.raises(UserError, match="no checkpoint"):
        Recognizer.load(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(UserError, match="not a CRNN checkpoint"):
        Recognizer.load(tmp_path / "other.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(UserError, match="not a CRNN checkpoint"):
        Recognizer.load(tmp_path / "text.pt")
    with pytest.raises(TypeError, match="model"):
        Recognizer(torch.nn.Linear(2, 2))


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="the shipped checkpoint is written by the full training run")
def test_shipped_model_reads_held_out_lines():
    from workbench.crnn import load_line_folder

    rec = Recognizer.load()
    assert isinstance(rec.model, CRNN) and SHIPPED_MODEL.stat().st_size <= 25 * 2**20
    pairs = load_line_folder(SHIPPED_MODEL.parents[1] / "crnn" / "eval" / "heldout")[:40]
    got = rec.recognize([Image.open(path) for path, _ in pairs])
    assert sum(g == label for g, (_, label) in zip(got, pairs)) >= 28, got  # 70%; measured 80-85%


def test_frames_follow_the_models_stride():
    """A square-pooling model (an ablation, 16 columns per frame) is read over its own frames, not over a
    stride-4 count that would run past its content into padding."""
    from workbench.crnn.model import get_config

    model = CRNN(replace(get_config("tiny"), pooling="square")).eval()
    assert model.config.stride == 16
    rec = Recognizer(model)
    line = render_line("Total 1234 due", augment=False)
    (lp,) = rec.log_probs([line])
    width = rec.prepare([line])[0].shape[1]
    assert lp.shape[0] == min(output_length(int(np.ceil(width / 16) * 16), model.config), -(-width // 16))
    widths = torch.tensor([width, 40])
    assert T.frame_lengths(widths, 100, stride=16).tolist() == [-(-width // 16), 3]
    assert T.frame_lengths(widths, 100).tolist() == [-(-width // 4), 10]


def test_calibrate_writes_every_map_into_the_checkpoint(tiny_checkpoint, tmp_path, monkeypatch):
    """calibrate.py end to end on a tiny model (matplotlib's DejaVu standing in for the held-out families,
    which only `make setup-train` installs): the best-path map, and with a word list the dictionary's margin
    and the maps of the corrected reading and of the five-view vote, all stored and used by Recognizer.load."""
    import shutil

    import workbench.crnn._dictionary as D
    import workbench.crnn._fonts as F
    from workbench.crnn.calibrate import calibrate

    words = tmp_path / "words.txt"
    words.write_text("the\nand\nwater\nway\n")
    monkeypatch.setattr(F, "heldout_fonts", lambda charset=None: ("DejaVuSans",))
    monkeypatch.setattr(D, "SYSTEM_WORDS", words)
    model = tmp_path / "m.pt"
    shutil.copy(tiny_checkpoint, model)
    report = calibrate(model, tmp_path / "cal", n=12, seed=3)
    assert {"raw", "calibrated", "dictionary"} <= set(report) and (tmp_path / "cal" / "reliability.png").exists()
    assert "views" in report["dictionary"]["test_accuracy"]
    rec = Recognizer.load(model)
    assert rec.calibration["x"] and rec.dictionary_settings["margin"] >= 0
    assert rec.dictionary_settings["views_calibration"]["x"] and rec.dictionary_settings["word_list"] == str(words)
