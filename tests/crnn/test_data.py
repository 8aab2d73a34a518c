import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from workbench.crnn._render import font_path
from workbench.crnn import (
    CHARSET,
    SEEN_FONTS,
    UNSEEN_FONTS,
    TextLineDataset,
    array_to_label,
    collate_lines,
    escape_label,
    label_to_array,
    load_line_folder,
    normalize_polarity,
    random_text,
    render_line,
    render_samples,
    resize_image,
    to_grayscale,
    unescape_label,
)


def test_charset_is_fixed_and_blank_is_zero():
    assert len(CHARSET) == 10 + 26 + 26 + 1 + 8 + 14
    assert list(label_to_array("0aA $")) == [1, 11, 37, 63, 69]  # the first release's classes kept
    assert CHARSET.startswith("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,-/:$%'")
    assert array_to_label(label_to_array("$1,000.50 don't")) == "$1,000.50 don't"


def test_label_to_array_names_bad_character_and_file():
    with pytest.raises(ValueError, match=r"scan_7\.png.*'é'.*position 2"):
        label_to_array("caé", source="scan_7.png")


def test_array_to_label_rejects_blank():
    with pytest.raises(ValueError, match="blank"):
        array_to_label([0, 1])


@given(st.text(alphabet=CHARSET + "_", max_size=25))
@settings(max_examples=100, deadline=None)
def test_escape_round_trip_and_file_safe(label):
    escaped = escape_label(label)
    assert "/" not in escaped and "_" not in escaped and ":" not in escaped
    assert unescape_label(escaped) == label


def test_unescape_rejects_malformed_percent():
    with pytest.raises(ValueError, match="two hex digits"):
        unescape_label("50%")


def test_random_text_lengths_and_alphabet():
    rng = np.random.default_rng(0)
    texts = [random_text(rng, max_len=12) for _ in range(400)]
    assert all(1 <= len(t) <= 12 and set(t) <= set(CHARSET) for t in texts)
    # The mixture covers every kind: digits, upper case, dates' slashes, amounts, percentages.
    joined = "".join(texts)
    for ch in "0A/$%,.":
        assert ch in joined
    assert random_text(np.random.default_rng(5)) == random_text(np.random.default_rng(5))


def test_unseen_fonts_kept_out_of_training():
    assert not set(SEEN_FONTS) & set(UNSEEN_FONTS)
    assert all(not f.startswith("cm") for f in SEEN_FONTS)


def test_render_is_seeded_and_dark_on_light():
    a = render_samples(3, seed=4)
    b = render_samples(3, seed=4)
    assert [t for _, t, _ in a] == [t for _, t, _ in b]
    assert all(np.array_equal(x[0], y[0]) for x, y in zip(a, b))
    clean = render_line("Hello", "DejaVuSans", augment=False)
    assert clean.dtype == np.uint8 and clean.ndim == 2
    assert np.median(clean) > 200 and clean.min() < 60  # light background, dark ink
    with pytest.raises(ValueError, match="font"):
        render_line("x", "Comic Sans")


def test_oldstyle_figures_rendered_on_faces_that_have_them():
    """Training sees hanging figures (EB Garamond's default) through the ``onum`` feature of training faces."""
    from workbench.crnn._fonts import train_fonts
    from workbench.crnn._render import RenderConfig, has_oldstyle_figures

    assert not has_oldstyle_figures(font_path("DejaVuSans"))  # lining figures only
    faces = [f for f in train_fonts() if "pagella-regular" in f.lower() or "libertinus" in f.lower()]
    if not faces or not has_oldstyle_figures(faces[0]):
        pytest.skip("no training face with old-style figures installed (make setup-train installs fonts-texgyre)")
    on, off = RenderConfig(oldstyle_p=1.0, strength=1.0), RenderConfig(oldstyle_p=0.0, strength=1.0)
    a = render_line("2024 1789", faces[0], np.random.default_rng(3), on)
    b = render_line("2024 1789", faces[0], np.random.default_rng(3), off)
    assert a.shape != b.shape or not np.array_equal(a, b)
    # A line without digits draws the same with either setting: the figures are the only change.
    a = render_line("Garamond", faces[0], np.random.default_rng(3), on)
    b = render_line("Garamond", faces[0], np.random.default_rng(3), off)
    assert np.array_equal(a, b)


def test_resize_pads_narrow_and_squeezes_wide():
    narrow = np.full((64, 100), 255, np.uint8)
    narrow[20:40, 10:90] = 0
    out, w = resize_image(narrow, 32, 128)
    assert out.shape == (32, 128) and w == 50
    assert (out[:, 50:] == 255).all()  # padded with the background by default
    out, _ = resize_image(narrow, 32, 128, pad_value=7)
    assert (out[:, 50:] == 7).all()
    wide = np.full((32, 500), 200, np.uint8)
    out, w = resize_image(wide, 32, 128)
    assert out.shape == (32, 128) and w == 128
    out, w = resize_image(wide, 32, None)
    assert out.shape == (32, 500)


def test_grayscale_inputs_and_errors():
    rgb = np.zeros((10, 20, 3), np.uint8)
    assert to_grayscale(rgb).shape == (10, 20)
    assert to_grayscale(Image.new("RGBA", (20, 10))).shape == (10, 20)
    assert to_grayscale(np.ones((4, 4), np.float32)).max() == 255
    with pytest.raises(TypeError, match="uint8"):
        to_grayscale(np.full((4, 4), 300, np.int32))
    with pytest.raises(ValueError, match="shape"):
        to_grayscale(np.zeros((2, 2, 2), np.uint8))


def test_polarity_normalized():
    line = render_line("abc", augment=False)
    assert np.array_equal(normalize_polarity(255 - line), line)
    assert np.array_equal(normalize_polarity(line), line)


def _write(path, array):
    Image.fromarray(array).save(path)


def test_folder_loader_file_names_and_tsv(tmp_path):
    img = render_line("1/2", augment=False)
    _write(tmp_path / f"{escape_label('1/2')}_0001.png", img)
    _write(tmp_path / "hello_x_2.png", render_line("hello_x", augment=False))
    pairs = load_line_folder(tmp_path)
    assert sorted(lab for _, lab in pairs) == ["1/2", "hello"]
    tsv = tmp_path / "tsv"
    tsv.mkdir()
    _write(tsv / "a.png", img)
    (tsv / "labels.tsv").write_text("a.png\t1/2\n")
    assert [lab for _, lab in load_line_folder(tsv)] == ["1/2"]
    ds = TextLineDataset.from_folder(tsv)
    image, target, label = ds[0]
    assert image.shape[:2] == (1, 32) and label == "1/2" and target.tolist() == list(label_to_array("1/2"))


def test_folder_loader_errors_name_the_file(tmp_path):
    _write(tmp_path / "café_1.png", render_line("cafe", augment=False))
    with pytest.raises(ValueError, match=r"café_1\.png.*'é'"):
        load_line_folder(tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no line images"):
        load_line_folder(empty)
    with pytest.raises(ValueError, match="not a directory"):
        load_line_folder(tmp_path / "missing")


def test_dataset_and_collate():
    ds = TextLineDataset.rendered(6, seed=1, max_len=8) + TextLineDataset.rendered(2, seed=2)
    assert len(ds) == 8
    batch = [ds[i] for i in range(len(ds))]
    images, targets, lengths, widths, labels = collate_lines(batch)
    assert images.shape[:3] == (8, 1, 32) and images.shape[3] % 4 == 0
    assert targets.numel() == lengths.sum() and lengths.tolist() == [len(lab) for lab in labels]
    assert widths.max() <= images.shape[3]
    assert images.dtype == torch.float32 and 0 <= images.min() and images.max() <= 1


def test_shipped_sample_lines_load():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "datasets" / "crnn" / "lines"
    labels = sorted(label for _, label in load_line_folder(folder))
    assert len(labels) == 12 and "110/03/09" in labels and "12:30" in labels and "12.5%" in labels
    ds = TextLineDataset.from_folder(folder)
    image, target, label = ds[0]
    assert image.shape[1] == 32 and len(target) == len(label)
