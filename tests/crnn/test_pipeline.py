"""The training data pipeline: fonts and their split, the corpus, the augmentations, one preprocessing path,
page segmentation and confidence calibration."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from workbench.crnn import CHARSET, random_text, render_line
from workbench.crnn import train as T
from workbench.crnn._fonts import HELDOUT_FAMILIES, font_table, heldout_fonts, train_fonts
from workbench.crnn._page import estimate_skew, segment_lines
from workbench.crnn._preprocess import crop_to_ink, ink_box, ink_mask, normalize_polarity, prepare_line
from workbench.crnn._render import RenderConfig
from workbench.crnn.calibrate import isotonic_fit, reliability

needs_debian_fonts = pytest.mark.skipif(not heldout_fonts(), reason="Debian font packages missing (make setup-train)")


@needs_debian_fonts
def test_font_split_is_by_design_and_disjoint():
    table = font_table()
    train, held = set(train_fonts()), set(heldout_fonts())
    assert not train & held and len(train) > 100 and len(held) > 20
    trained_families = {fam for fam in table if fam not in HELDOUT_FAMILIES}
    assert len(trained_families) >= 30
    # both metric clones of a held-out design stay out of training
    for twins in (("URW Bookman", "TeX Gyre Bonum"), ("C059", "TeX Gyre Schola")):
        assert not set(twins) & trained_families
    # no symbol, math or script faces; every face covers the charset
    assert not any(w in fam for fam in table for w in ("Math", "Symbol", "Z003"))
    # matplotlib's faces are part of training
    assert any("DejaVuSans.ttf" in f for f in train)


def test_corpus_reaches_48_characters_and_covers_the_kinds():
    rng = np.random.default_rng(0)
    texts = [random_text(rng, max_len=48) for _ in range(2000)]
    assert all(1 <= len(t) <= 48 and set(t) <= set(CHARSET) for t in texts)
    assert max(len(t) for t in texts) >= 45 and np.mean([len(t) > 30 for t in texts]) > 0.15
    joined = "".join(texts)
    for ch in "0A/$%,.!?()\"@:;-":
        assert ch in joined
    assert any(len(t) == 10 and t[4] == "-" and t[7] == "-" for t in texts)  # ISO dates
    assert any(len(t) == 9 and t[3] == "/" and t[6] == "/" for t in texts)  # ROC dates 110/03/09
    realistic = [random_text(rng, 48, realistic=True) for _ in range(300)]
    assert all(set(t) <= set(CHARSET) for t in realistic)


def test_augmentations_each_change_the_line():
    clean_cfg = RenderConfig(strength=1e-12, noise_sigma=(0.0, 0.0))
    base = render_line("Sample 123", "DejaVuSerif", np.random.default_rng(1), clean_cfg)
    assert base.dtype == np.uint8 and base.ndim == 2
    for field in ("rotate_p", "perspective_p", "spacing_p", "stroke_p", "blur_p", "rescale_p", "texture_p",
                  "gradient_p", "invert_p", "jpeg_p"):
        cfg = replace(RenderConfig(strength=1e-12, noise_sigma=(0.0, 0.0)), **{field: 1e15})
        out = render_line("Sample 123", "DejaVuSerif", np.random.default_rng(1), cfg)
        assert out.shape != base.shape or not np.array_equal(out, base), field
    inv = render_line("Sample", "DejaVuSans", np.random.default_rng(2), replace(clean_cfg, invert_p=1e15))
    assert np.median(inv) < 100  # light on dark


def test_polarity_survives_bold_tight_crops_and_noise():
    """Regression: the old rule compared the border with the image median and flipped bold tight crops."""
    bold = np.full((30, 60), 230, np.uint8)
    bold[2:28, 1:59] = 20  # ink covers most of the image, touching the border only at the top/bottom rows' ends
    bold[2:28, 25:35] = 230
    assert np.array_equal(normalize_polarity(bold), bold)
    rng = np.random.default_rng(0)
    line = render_line("noisy text", augment=False).astype(np.float32)
    noisy = np.clip(line + rng.normal(0, 20, line.shape), 0, 255).astype(np.uint8)
    assert np.array_equal(normalize_polarity(noisy), noisy)
    assert np.array_equal(normalize_polarity(255 - noisy), noisy)


def test_crop_to_ink_and_keep_aspect():
    img = np.full((120, 400), 250, np.uint8)
    img[50:70, 100:300] = 10  # the ink
    x0, y0, x1, y1 = ink_box(img)
    assert (x0, y0, x1, y1) == (100, 50, 300, 70)
    crop = crop_to_ink(img)
    assert crop.shape == (20 + 2 * round(0.12 * 20), 200 + 2 * round(0.25 * 20))
    out = prepare_line(img)
    assert out.shape[0] == 32 and abs(out.shape[1] - crop.shape[1] * 32 / crop.shape[0]) <= 1
    blank = np.full((20, 30), 255, np.uint8)
    assert prepare_line(blank).shape[0] == 32


def test_crop_keeps_thin_marks_at_the_ends_of_a_line():
    """Regression: a 3 x 3 median erased a one-pixel stem and a 2 x 2 full stop, so a crop to the ink cut
    off a line's leading ``I`` and its final period; specks further away still stay out."""
    img = np.full((60, 300), 245, np.uint8)
    img[20:40, 100:200] = 15   # the body of the line
    img[20:40, 95] = 15        # a one-pixel stem 4 columns before it (a thin I)
    img[38:40, 204:206] = 15   # a 2 x 2 full stop 4 columns after it
    img[30, 280] = 15          # a speck far to the right
    assert ink_box(img) == (95, 20, 206, 40)
    assert ink_mask(img)[20:40, 95].sum() == 0  # what the robust mask alone misses
    img[20:40, 95] = 245
    img[20:40, 40] = 15        # a stem 60 columns away is no part of the line
    assert ink_box(img) == (100, 20, 206, 40)


def test_training_and_inference_share_prepare_line(monkeypatch):
    calls = []
    real = T.prepare_line

    def spy(image, height=32, rng=None):
        calls.append(rng is not None)
        return real(image, height, rng)

    monkeypatch.setattr(T, "prepare_line", spy)
    cfg = replace(T.PROFILES["quick"], batch_size=4, n_bucket=2)
    batches = T.make_training_batches(0, cfg, max_len=6)
    assert len(calls) >= 8 and all(calls)  # every training line, with jittered margins
    assert sum(b[0].shape[0] for b in batches) == 8


def test_training_lines_are_never_squashed():
    cfg = replace(T.PROFILES["quick"], batch_size=4, n_bucket=2, max_width=120)
    for images, _, _, widths, labels in T.make_training_batches(1, cfg, max_len=12):
        assert int(widths.max()) <= 120  # too wide lines are redrawn, not squeezed


def test_schedule_is_step_based_and_max_minutes_only_stops(tmp_path):
    cfg = replace(T.PROFILES["quick"], max_steps=4, eval_every=4, val_size=2, batch_size=2, log_every=1)
    a = T.train(cfg, tmp_path / "a", progress=False, log=lambda m: None)
    b = T.train(replace(cfg, max_minutes=60.0), tmp_path / "b", progress=False, log=lambda m: None)
    assert [r["lr"] for r in a["train"]] == [r["lr"] for r in b["train"]]


def test_warm_start_maps_output_rows_by_character(tmp_path):
    import torch

    from workbench.crnn import CRNN, CONFIGS

    old_charset = "abc"
    old = CRNN(replace(CONFIGS["tiny"], charset=old_charset))
    torch.save({"state_dict": old.state_dict(), "charset": old_charset}, tmp_path / "old.pt")
    new = CRNN("tiny")
    summary = T.warm_start(new, tmp_path / "old.pt")
    assert "mapped by character" in summary
    w_old, w_new = old.rnn[1].embedding.weight, new.rnn[1].embedding.weight
    for i, ch in enumerate(old_charset):
        assert torch.equal(w_new[CHARSET.index(ch) + 1], w_old[i + 1])
    assert torch.equal(w_new[0], w_old[0])
    assert torch.equal(new.cnn[0].weight, old.cnn[0].weight)


def test_segment_lines_deskews_a_paragraph():
    rows = [render_line(t, augment=False) for t in ("A first line of text", "second line here", "third",
                                                    "the fourth line", "and the fifth")]
    width = max(r.shape[1] for r in rows) + 40
    page = np.full((sum(r.shape[0] + 14 for r in rows) + 40, width), 255, np.uint8)
    y = 20
    for r in rows:
        page[y : y + r.shape[0], 20 : 20 + r.shape[1]] = r
        y += r.shape[0] + 14
    tilted = np.asarray(Image.fromarray(page).rotate(2.0, resample=Image.BILINEAR, expand=True, fillcolor=255))
    assert estimate_skew(tilted < 128) == pytest.approx(-2.0, abs=0.3)
    lines, angle = segment_lines(tilted)
    assert len(lines) == 5 and angle == pytest.approx(-2.0, abs=0.3)
    tops = [ln.box[1] for ln in lines]
    assert tops == sorted(tops)
    # a line with a dotted i and descenders stays one line
    single, _ = segment_lines(render_line("jiggly quip; i.j", augment=False))
    assert len(single) == 1


def test_isotonic_fit_is_monotone_and_reliability_counts():
    x = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    y = np.array([0, 1, 0, 0, 1, 1])
    xs, ys = isotonic_fit(x, y)
    assert np.all(np.diff(ys) >= 0) and np.all(np.diff(xs) > 0)
    assert ys[0] == 0 and ys[-1] == 1 and np.interp(0.3, xs, ys) == pytest.approx(1 / 3)
    rel = reliability([0.05, 0.95, 0.95, 0.96], [0, 1, 1, 0], bins=10)
    assert rel["n"] == 4 and sum(b["n"] for b in rel["bins"]) == 4
    assert rel["ece"] == pytest.approx(0.25 * 0.05 + 0.75 * abs(np.mean([0.95, 0.95, 0.96]) - 2 / 3))
    with pytest.raises(ValueError, match="x, y"):
        isotonic_fit([], [])
