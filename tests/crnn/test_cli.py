"""``workbench crnn recognize``: one output line per text line, a warning for multi-line images read as one,
and one-line UserErrors (the workbench CLI prints them and exits 2) for bad input."""

import argparse
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from workbench.crnn import CHARSET, render_line
from workbench.crnn import cli
from workbench.crnn import train as T
from workbench.errors import UserError


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("ckpt")
    T.train(replace(T.PROFILES["quick"], max_steps=1, eval_every=1, val_size=2, batch_size=4), out,
            progress=False, log=lambda m: None)
    return out / "best.pt"


def _parser():
    parser = argparse.ArgumentParser(prog="workbench")
    cli.register(parser.add_subparsers(dest="command"))
    return parser


def _run(argv):
    args = _parser().parse_args(argv)
    return args.func(args)


def _paragraph(texts, gap=14):
    rows = [render_line(t, augment=False) for t in texts]
    page = np.full((sum(r.shape[0] + gap for r in rows) + 2 * gap, max(r.shape[1] for r in rows) + 20), 255, np.uint8)
    y = gap
    for r in rows:
        page[y : y + r.shape[0], 10 : 10 + r.shape[1]] = r
        y += r.shape[0] + gap
    return page


def test_one_output_line_per_text_line(tiny_checkpoint, tmp_path, capsys):
    single, para = tmp_path / "single.png", tmp_path / "para.png"
    Image.fromarray(render_line("Total", augment=False)).save(single)
    Image.fromarray(_paragraph(["one", "two two", "three", "four", "five five"])).save(para)
    assert _run(["crnn", "recognize", str(single), str(para), "--model", str(tiny_checkpoint), "--confidence"]) == 0
    out = capsys.readouterr()
    rows = [r.split("\t") for r in out.out.strip().split("\n")]
    assert [r[0] for r in rows] == [str(single)] + [str(para)] * 5
    assert all(set(r[1]) <= set(CHARSET) and 0 <= float(r[2]) <= 1 for r in rows)
    assert "warning" not in out.err


def test_multi_line_image_in_line_mode_warns(tiny_checkpoint, tmp_path, capsys):
    """Regression (issue 13): a two-line image went to the single-line path silently."""
    para = tmp_path / "two.png"
    Image.fromarray(_paragraph(["first line", "second line"])).save(para)
    assert _run(["crnn", "recognize", str(para), "--model", str(tiny_checkpoint), "--mode", "line"]) == 0
    out = capsys.readouterr()
    assert len(out.out.strip().split("\n")) == 1
    assert "looks like 2 text lines" in out.err


@pytest.mark.parametrize("case", ["missing", "not_image", "unknown_model", "lexicon_missing", "dictionary_missing",
                                  "no_threads"])
def test_bad_input_is_one_line_user_error(case, tiny_checkpoint, tmp_path):
    good = tmp_path / "good.png"
    Image.fromarray(render_line("ok", augment=False)).save(good)
    text_file = tmp_path / "notes.png"
    text_file.write_text("this is not an image")
    argv = {
        "missing": ["crnn", "recognize", str(tmp_path / "nope.png"), "--model", str(tiny_checkpoint)],
        "not_image": ["crnn", "recognize", str(text_file), "--model", str(tiny_checkpoint)],
        "unknown_model": ["crnn", "recognize", str(good), "--model", str(tmp_path / "no_such_model.pt")],
        "lexicon_missing": ["crnn", "recognize", str(good), "--model", str(tiny_checkpoint), "--lexicon",
                            str(tmp_path / "words.txt")],
        "dictionary_missing": ["crnn", "recognize", str(good), "--model", str(tiny_checkpoint), "--dictionary",
                               str(tmp_path / "words.txt")],
        "no_threads": ["crnn", "recognize", str(good), "--model", str(tiny_checkpoint), "--threads", "0"],
    }[case]
    with pytest.raises(UserError) as info:
        _run(argv)
    message = str(info.value)
    assert "\n" not in message and len(message) < 240
    expected = {"missing": "no file at", "not_image": "is not an image", "unknown_model": "no checkpoint at",
                "lexicon_missing": "--lexicon", "dictionary_missing": "--dictionary: cannot read",
                "no_threads": "--threads"}[case]
    assert expected in message


def test_train_subcommand_parses_and_runs(tmp_path):
    assert _run(["crnn", "train", "--out", str(tmp_path / "run"), "--steps", "1", "--val-size", "2"]) == 0
    assert (tmp_path / "run" / "best.pt").exists()
    with pytest.raises(SystemExit):
        _parser().parse_args(["crnn", "train", "--profile", "huge", "--out", "x"])


@pytest.mark.skipif(not __import__("workbench.crnn", fromlist=["SHIPPED_MODEL"]).SHIPPED_MODEL.exists(),
                    reason="the shipped checkpoint is written by the full training run")
def test_shipped_model_reads_the_long_line_and_the_paragraph(capsys):
    """The issue's acceptance check: a 61-character line and a 5-line paragraph in held-out fonts.

    Bookman (lining figures) must read exactly; EB Garamond prints old-style figures, which no training face
    has, and its digits are the known weak spot (datasets/models/README.md), so it gets a CER bound.
    """
    from pathlib import Path

    from workbench.crnn import character_error_rate

    cli_dir = Path(__file__).resolve().parents[2] / "datasets" / "crnn" / "eval" / "cli"

    def read(stem):
        assert _run(["crnn", "recognize", str(cli_dir / f"{stem}.png")]) == 0
        got = [row.split("\t")[1] for row in capsys.readouterr().out.strip().split("\n")]
        return got, (cli_dir / f"{stem}.txt").read_text(encoding="utf-8").splitlines()

    got, want = read("long_line_bookman")
    assert got == want and len(want[0]) >= 60
    got, want = read("paragraph")
    assert len(got) == 5 and sum(g == w for g, w in zip(got, want)) >= PARAGRAPH_EXACT
    assert character_error_rate(got, want) <= 0.02
    got, want = read("long_line")
    assert len(got) == 1 and character_error_rate(got, want) <= 0.15
    assert _run(["crnn", "recognize", "--one-view", "--confidence", str(cli_dir / "long_line_bookman.png")]) == 0
    row = capsys.readouterr().out.strip().split("\t")
    assert len(row) == 3 and 0.0 <= float(row[2]) <= 1.0 and character_error_rate([row[1]], read("long_line_bookman")[1]) <= 0.05


#: Lines of the 5-line paragraph the shipped model must read exactly (see datasets/models/README.md): all five
#: with the default dictionary correction (its case rule reads Roboto's `lD` as `ID`), four without a word list.
PARAGRAPH_EXACT = 5 if __import__("workbench.crnn._dictionary", fromlist=["SYSTEM_WORDS"]).SYSTEM_WORDS.exists() else 4
