"""Render the evaluation sets of the printed-line recognizer with a renderer it was not trained with.

Training renders with Pillow (FreeType through Pillow's own layout). These sets are rendered by
ImageMagick (Debian's ``imagemagick``): half through Pango (HarfBuzz shaping, Cairo rasterization,
``pango:`` markup), half through ImageMagick's own FreeType text (``label:``), in the **held-out font
families only** (``workbench.crnn._fonts.HELDOUT_FAMILIES``), so a font, a rasterizer and a layout engine the
network never saw meet it here.

- ``eval/heldout/``: clean lines, 10% of them 49-64 characters long (longer than any training line);
- ``eval/cli/``: a 61-character line (EB Garamond, and again in URW Bookman) and a 5-line paragraph
  (Roboto), for the command line;
- ``eval/degraded/``: other held-out lines after photograph-like damage: rescaled (down, and down then up),
  Gaussian blur, JPEG compression, a slight rotation, sensor noise, uneven light; the damage of each line is
  recorded in ``meta.tsv`` (with the face and the engine of every line).

Run from the repository root (about a minute; deterministic for a seed and the same font packages):
``python datasets/crnn/make_eval_sets.py [--n-heldout 400] [--n-degraded 300] [--seed 20261201]``.
"""

from __future__ import annotations

import argparse
import html
import io
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from workbench.crnn._corpus import random_text  # noqa: E402
from workbench.crnn._fonts import HELDOUT_FAMILIES, font_table  # noqa: E402


def heldout_faces() -> list[tuple[str, str, str]]:
    """(family, style, file) of every held-out face: family and style for Pango, the file for label:."""
    from PIL import ImageFont

    out = []
    for family, files in font_table().items():
        if family in HELDOUT_FAMILIES:
            for f in files:
                out.append((family, ImageFont.truetype(f, 12).getname()[1], f))
    return out


def _pango_desc(family: str, style: str, size: int) -> str:
    # Pango's font description: "Family [Style words] Size"; styles like "Demi Italic" map onto weight words.
    words = style.replace("Regular", "").replace("Roman", "").replace("Book", "").replace("Medium", "Medium")
    return f"{family} {words.strip()} {size}".replace("  ", " ")


def _pango_escape(text: str) -> str:
    """Markup-escape twice: ImageMagick decodes entities once before Pango parses the markup; ``%%`` for
    ImageMagick's own property escapes."""
    return html.escape(html.escape(text, quote=False), quote=False).replace("%", "%%")


def render_imagemagick(text: str, face: tuple[str, str, str], size: int, engine: str, tmp: Path) -> np.ndarray:
    """One line (or several, separated by newlines) as uint8 gray, black on white, by ImageMagick."""
    family, style, path = face
    out = tmp / "line.png"
    if engine == "pango":
        markup = f'<span font_desc="{_pango_desc(family, style, size)}">{_pango_escape(text)}</span>'
        cmd = ["convert", "-background", "white", "-fill", "black", f"pango:{markup}", str(out)]
    else:
        # label: expands "%" escapes (written "%%") and reads a file for a leading "@" (escaped "\\@").
        literal = text.replace("%", "%%")
        literal = "\\" + literal if literal.startswith("@") else literal
        cmd = ["convert", "-background", "white", "-fill", "black", "-font", path, "-pointsize", str(size),
               f"label:{literal}", str(out)]
    for attempt in range(4):  # Pango under ImageMagick now and then aborts (SIGABRT) and then works
        if subprocess.run(cmd, capture_output=True, timeout=60).returncode == 0:
            break
    else:
        raise RuntimeError(f"ImageMagick failed 4 times on {cmd}")
    with Image.open(out) as im:
        img = np.asarray(im.convert("L"))
    # Both engines leave a margin of their own; add a little white so no glyph touches the border.
    return np.pad(img, 4, constant_values=255)


def degrade(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Photograph-like damage, two or three kinds per line; returns the image and what was done."""
    page = Image.fromarray(img)
    done = []
    kinds = rng.choice(["rescale", "blur", "jpeg", "rotate", "noise", "light"], size=int(rng.integers(2, 4)),
                       replace=False)
    if "rotate" in kinds:
        angle = float(rng.uniform(-2.5, 2.5))
        page = page.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
        done.append(f"rotate{angle:+.1f}")
    if "light" in kinds:
        a = np.asarray(page, np.float32)
        ramp = np.linspace(0, 1, a.shape[1])[None, :] * float(rng.uniform(40, 90))
        page = Image.fromarray(np.clip(a - ramp + 0, 0, 255).astype(np.uint8))
        done.append("light")
    if "blur" in kinds:
        r = float(rng.uniform(0.6, 1.4))
        page = page.filter(ImageFilter.GaussianBlur(r))
        done.append(f"blur{r:.1f}")
    if "rescale" in kinds:
        f = float(rng.uniform(0.45, 0.75))
        w, h = page.size
        page = page.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR)
        if rng.random() < 0.5:
            page = page.resize((w, h), Image.BILINEAR)
            done.append(f"rescale{f:.2f}+up")
        else:
            done.append(f"rescale{f:.2f}")
    if "noise" in kinds:
        a = np.asarray(page, np.float32)
        s = float(rng.uniform(6, 16))
        page = Image.fromarray(np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8))
        done.append(f"noise{s:.0f}")
    if "jpeg" in kinds:
        q = int(rng.integers(15, 45))
        buf = io.BytesIO()
        page.convert("L").save(buf, format="JPEG", quality=q)
        page = Image.open(io.BytesIO(buf.getvalue()))
        done.append(f"jpeg{q}")
    return np.asarray(page.convert("L")), "+".join(done)


def eval_text(rng: np.random.Generator) -> str:
    """A corpus string of up to 48 characters; one in ten is 49-64 characters (two joined)."""
    if rng.random() < 0.1:
        while True:
            text = random_text(rng, 40, 20, realistic=True) + " " + random_text(rng, 40, 20, realistic=True)
            if 49 <= len(text) <= 64:
                return text
    return random_text(rng, max_len=48, realistic=True)


def write_set(folder: Path, rows: list[tuple[str, str, str]]):
    """``labels.tsv`` (file, label: the loader's format) and ``meta.tsv`` (file, face|engine|damage)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "labels.tsv", "w", encoding="utf-8") as fh:
        fh.writelines(f"{name}\t{label}\n" for name, label, _ in rows)
    with open(folder / "meta.tsv", "w", encoding="utf-8") as fh:
        fh.writelines(f"{name}\t{note}\n" for name, _, note in rows)


#: The issue's acceptance check from the command line: a 60+ character line and a 5-line paragraph.
CLI_LONG = "Invoice 2026-11-23: 3 items, total $1,234.56 (tax 8.5%) paid."
CLI_PARAGRAPH = ("The meeting is on Monday, 2026-12-07 at 10:30.",
                 "Please bring the signed forms and your ID card.",
                 "Room 214 holds 40 people; seats are not numbered.",
                 "Lunch costs $12.50 per person (paid at the door).",
                 "Questions? Write to office.help@uni.edu today.")


def write_cli_samples(out: Path, tmp: Path) -> None:
    """``cli/long_line.png`` (EB Garamond), ``cli/long_line_bookman.png`` (URW Bookman) and
    ``cli/paragraph.png`` (Roboto), all held out, with their texts beside."""
    faces = {(f, s): p for f, s, p in heldout_faces()}
    folder = out / "cli"
    folder.mkdir(parents=True, exist_ok=True)
    assert len(CLI_LONG) >= 60
    garamond = ("EB Garamond", "12 Regular", faces[("EB Garamond", "12 Regular")])
    Image.fromarray(render_imagemagick(CLI_LONG, garamond, 22, "pango", tmp)).save(folder / "long_line.png")
    (folder / "long_line.txt").write_text(CLI_LONG + "\n", encoding="utf-8")
    # EB Garamond prints old-style figures (a 0 like an o, a 1 like a small-cap I, a 5 with a descender);
    # no training face does, so the same line also comes in Bookman, whose figures are lining.
    bookman = ("URW Bookman", "Light", faces[("URW Bookman", "Light")])
    Image.fromarray(render_imagemagick(CLI_LONG, bookman, 18, "pango", tmp)).save(folder / "long_line_bookman.png")
    (folder / "long_line_bookman.txt").write_text(CLI_LONG + "\n", encoding="utf-8")
    roboto = ("Roboto", "Regular", faces[("Roboto", "Regular")])
    para = render_imagemagick("\n".join(CLI_PARAGRAPH), roboto, 16, "pango", tmp)
    Image.fromarray(para).save(folder / "paragraph.png")
    (folder / "paragraph.txt").write_text("\n".join(CLI_PARAGRAPH) + "\n", encoding="utf-8")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-heldout", type=int, default=400)
    p.add_argument("--n-degraded", type=int, default=300)
    p.add_argument("--seed", type=int, default=20261201)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "eval"))
    p.add_argument("--cli-only", action="store_true", help="only the two command-line samples")
    args = p.parse_args(argv)
    faces = heldout_faces()
    if not faces:
        print("no held-out font families are installed; run `make setup-train` first", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp:
        write_cli_samples(out, Path(tmp))
        if args.cli_only:
            return 0
        for name, n, damaged in (("heldout", args.n_heldout, False), ("degraded", args.n_degraded, True)):
            rows = []
            folder = out / name
            folder.mkdir(parents=True, exist_ok=True)
            for old in folder.glob("*.png"):
                old.unlink()
            for k in range(n):
                text = eval_text(rng)
                face = faces[int(rng.integers(len(faces)))]
                engine = "pango" if k % 2 == 0 else "label"
                size = int(rng.integers(20, 40)) if engine == "label" else int(rng.integers(14, 30))
                img = render_imagemagick(text, face, size, engine, Path(tmp))
                note = f"{face[0]} {face[1]}|{engine}"
                if damaged:
                    img, what = degrade(img, rng)
                    note += f"|{what}"
                file = f"{name}_{k:04d}.png"
                Image.fromarray(img).save(folder / file, optimize=True)
                rows.append((file, text, note))
            write_set(folder, rows)
            print(f"{name}: {len(rows)} lines in {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
