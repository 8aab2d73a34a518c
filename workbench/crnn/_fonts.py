"""The type designs the recognizer trains and is evaluated on, and the documented split between them.

Fonts come from the Debian font packages (``make setup-train`` installs them: fonts-liberation,
fonts-noto-core, fonts-texgyre, fonts-urw-base35, fonts-freefont-ttf, fonts-crosextra-carlito/-caladea,
fonts-linuxlibertine, fonts-ebgaramond, fonts-roboto, fonts-lato, fonts-open-sans, fonts-cantarell,
fonts-hack, fonts-inconsolata, fonts-dejavu-extra; since the third training stage also fonts-sil-charis,
fonts-sil-gentium, fonts-cmu, fonts-adf-accanthis, fonts-adf-baskervald, fonts-adf-gillius, fonts-quattrocento;
since the fourth, thirty more: fonts-cardo, -vollkorn, -oldstandard, -fanwood, -junction, -cabin, -inter, -paratype,
-clear-sans, -oxygen, -go, -karla, -adf-berenis/-libris/-romande/-switzera/-verana/-universalis, -elstob,
-jetbrains-mono, -courier-prime, -goudybookletter, -tuffy, -b612, -manrope, -quicksand, -prociono, -gfs-didot,
-sora, -play) and from matplotlib (DejaVu, STIX). Nothing comes from
text-image generator packages: their fonts and images are reserved for independent evaluation.

The split is by **design**, not by file: metric clones of one design (URW Bookman and TeX Gyre Bonum are
both ITC Bookman; C059 and TeX Gyre Schola are both Century Schoolbook) are held out together, so a
held-out family never has a twin in training.

- ``HELDOUT_FAMILIES`` (evaluation only): Bookman, Century Schoolbook, EB Garamond (serif); Roboto,
  Cantarell, Linux Biolinum (sans); Inconsolata (mono).
- ``TRAIN_FAMILIES``: every other Latin text family found (109 with the packages above, 57 before the fourth stage: Liberation, Nimbus,
  TeX Gyre Termes/Heros/Pagella/Cursor/Adventor, FreeSans/Serif/Mono, Noto Sans/Serif/Mono, DejaVu, STIX,
  Carlito, Caladea, Lato, Open Sans, Hack, Linux Libertine, P052, URW Gothic, Charis SIL (Charter), Gentium,
  CMU (Computer Modern), Accanthis, Baskervald (Baskerville), Gillius (Gill Sans), Quattrocento, ...).
- Excluded: symbol, math, script, dingbat, display-initials, small-capital and non-Latin faces, and any face
  that lacks a glyph for a character of the charset. (fonts-linex is not used: its phonetic and Greek faces
  map ASCII codes to other letters.)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

FONT_DIRS = ("/usr/share/fonts", "/usr/share/texmf/fonts/opentype")

HELDOUT_FAMILIES = (
    "URW Bookman", "TeX Gyre Bonum",          # ITC Bookman
    "C059", "TeX Gyre Schola",                # Century Schoolbook
    "EB Garamond",
    "Roboto", "Roboto Condensed",
    "Cantarell",
    "Linux Biolinum O",
    "Inconsolata",
)  # fmt: skip

# Families that are not running text in Latin script (or hold no usable glyphs for our charset).
_EXCLUDED_WORDS = ("Math", "Symbol", "MathJax", "Dingbat", "D050000L", "Z003", "Chorus", "Initials",
                   "Keyboard", "Fallback", "Standard Symbols", "Display O",
                   "Smallcaps", "Style Std", "Script")  # small capitals draw lower case as capitals
_NOTO_LATIN = ("Noto Sans", "Noto Serif", "Noto Mono", "Noto Sans Mono", "Noto Sans Display",
               "Noto Serif Display")
_EXTENSIONS = (".ttf", ".otf")


def _is_text_family(family: str) -> bool:
    if family.startswith("Noto") and family not in _NOTO_LATIN:
        return False
    return not any(word in family for word in _EXCLUDED_WORDS)


def _covers(path: str, charset: str) -> bool:
    """Whether the font maps every character of ``charset`` to a glyph (its Unicode cmap)."""
    from fontTools.ttLib import TTFont

    try:
        with TTFont(path, lazy=True, fontNumber=0) as tt:
            cmap = tt.getBestCmap() or {}
    except Exception:  # a damaged or unsupported file is simply not used
        return False
    return all(ord(c) in cmap for c in charset if c != " ")


@functools.lru_cache(maxsize=4)
def font_table(charset: str | None = None, dirs: tuple[str, ...] = FONT_DIRS) -> dict[str, tuple[str, ...]]:
    """``{family: (font file, ...)}`` of every usable text face on this machine, matplotlib's included.

    A face is usable when it is a Latin text family and covers ``charset`` (default: the recognizer's).
    Sorted, so a seeded draw picks the same file on every machine that has the same packages.
    """
    from PIL import ImageFont

    from workbench.crnn._charset import CHARSET

    charset = CHARSET if charset is None else charset
    paths = []
    for d in dirs:
        if os.path.isdir(d):
            for root, _, files in os.walk(d):
                paths += [os.path.join(root, f) for f in files if f.lower().endswith(_EXTENSIONS)]
    paths += _matplotlib_fonts()
    table: dict[str, list[str]] = {}
    for path in sorted(set(paths)):
        if "noto" in path.lower() and not os.path.basename(path).startswith(
                ("NotoSans-", "NotoSerif-", "NotoMono-", "NotoSansMono-", "NotoSansDisplay-", "NotoSerifDisplay-")):
            continue  # the hundreds of non-Latin Noto files: skip before opening them
        try:
            family, _ = ImageFont.truetype(path, 12).getname()
        except OSError:
            continue
        if family and _is_text_family(family) and _covers(path, charset):
            table.setdefault(family, []).append(path)
    return {fam: tuple(sorted(files)) for fam, files in sorted(table.items())}


def _matplotlib_fonts() -> list[str]:
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    # DejaVu and STIX text faces; the Computer Modern (BaKoMa) files use TeX encodings, not Unicode text.
    return [str(p) for p in sorted(ttf.glob("*.ttf")) if p.name.startswith(("DejaVu", "STIXGeneral"))]


def train_fonts(charset: str | None = None) -> tuple[str, ...]:
    """Font files of the training families (everything usable but the held-out designs)."""
    return tuple(f for fam, files in font_table(charset).items() if fam not in HELDOUT_FAMILIES for f in files)


def heldout_fonts(charset: str | None = None) -> tuple[str, ...]:
    """Font files of the held-out families (evaluation and confidence calibration only)."""
    return tuple(f for fam, files in font_table(charset).items() if fam in HELDOUT_FAMILIES for f in files)


def family_of(path: str) -> str:
    """The family name a font file declares (``"Liberation Serif"``)."""
    from PIL import ImageFont

    return ImageFont.truetype(str(path), 12).getname()[0]
