import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from workbench import ctc
from workbench.crnn import CHARSET
from workbench.crnn import SHIPPED_MODEL, CRNN, Recognizer, greedy_decode_batch, render_line
from workbench.crnn import train as T



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


def test_decoders_agree_with_the_training_decoder(tiny_checkpoint):
    rec = Recognizer.load(tiny_checkpoint)
    lines = [render_line(t, augment=False) for t in ("abc", "$1,000.50", "110/03/09")]
    batch, widths = rec.preprocess(lines)
    with torch.no_grad():
        lp = rec.model(batch)
    expected = greedy_decode_batch(lp, T.frame_lengths(torch.tensor(widths), lp.shape[0]), rec.charset)
    assert rec.recognize(lines) == expected
    beam = rec.recognize(lines, beam_width=8)
    for text, logp in zip(beam, rec.log_probs(lines)):
        labels = [rec.charset.index(c) + 1 for c in text]
        greedy = [rec.charset.index(c) + 1 for c in expected[beam.index(text)]] if text else []
        # the beam's labelling is at least as probable as best path's
        assert ctc.log_likelihood(logp, labels) >= ctc.log_likelihood(logp, greedy) - 1e-6
    lexicon = ["abc", "total", "amount"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ctc.LexiconFallbackWarning)
        words = rec.recognize(lines, lexicon=lexicon, max_distance=1)
    assert all(w in lexicon for w in words)
    far = ["q" * 19]
    with pytest.warns(ctc.LexiconFallbackWarning, match="3 of 3 lines"):
        assert rec.recognize(lines, lexicon=far, max_distance=0) == far * 3


def test_errors(tiny_checkpoint, tmp_path):
    rec = Recognizer.load(tiny_checkpoint)
    with pytest.raises(ValueError, match="beam_width"):
        rec.recognize([render_line("a", augment=False)], beam_width=0)
    with pytest.raises(ValueError, match="lexicon"):
        rec.recognize([render_line("a", augment=False)], lexicon=[])
    with pytest.raises(TypeError, match=r"images\[0\]"):
        rec.recognize(["not an image"])
    with pytest.raises(FileNotFoundError, match="path"):
        Recognizer.load(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a CRNN checkpoint"):
        Recognizer.load(tmp_path / "other.pt")
    with pytest.raises(TypeError, match="model"):
        Recognizer(torch.nn.Linear(2, 2))


@pytest.mark.skipif(not SHIPPED_MODEL.exists(), reason="the shipped checkpoint is written by the full training run")
def test_shipped_model_reads_clean_lines():
    rec = Recognizer.load()
    assert isinstance(rec.model, CRNN) and SHIPPED_MODEL.stat().st_size <= 20 * 2**20
    texts = ["invoice", "Total", "$1,000.50", "110/03/09", "12.5%", "RECEIPT 42"]
    lines = [render_line(t, font, augment=False) for t, font in zip(texts, ("DejaVuSans", "DejaVuSerif") * 3)]
    got = rec.recognize(lines)
    assert sum(g == t for g, t in zip(got, texts)) >= 5, got
    # the augmented sample lines shipped for the loader, four of them in unseen fonts
    from workbench.crnn import load_line_folder

    pairs = load_line_folder(SHIPPED_MODEL.parents[1] / "crnn" / "lines")
    got = rec.recognize([Image.open(path) for path, _ in pairs])
    assert sum(g == label for g, (_, label) in zip(got, pairs)) >= 10, got


def test_cli_registers_train_and_recognize(tiny_checkpoint, tmp_path, capsys):
    import argparse

    from workbench.crnn import cli

    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command"))
    image = tmp_path / "Total_1.png"
    Image.fromarray(render_line("Total", augment=False)).save(image)
    args = parser.parse_args(["crnn", "recognize", str(image), "--model", str(tiny_checkpoint), "--beam-width", "4"])
    assert args.func(args) == 0
    path, text = capsys.readouterr().out.strip().split("\t")
    assert path == str(image) and set(text) <= set(CHARSET)
    args = parser.parse_args(["crnn", "train", "--out", str(tmp_path / "run"), "--steps", "1", "--val-size", "2"])
    assert args.func(args) == 0 and (tmp_path / "run" / "best.pt").exists()
    with pytest.raises(SystemExit):
        parser.parse_args(["crnn", "train", "--profile", "huge", "--out", "x"])
