"""Synthetic text lines rendered with Pillow, with the augmentations printed lines meet in practice.

Fonts are named by a file path (any TrueType/OpenType file, e.g. from :func:`train_fonts`) or by the stem
of a font shipped inside matplotlib (``"DejaVuSans"``, ``"cmr10"``), which the tests and the notebook's
quick mode use so they run on any machine.
"""

from __future__ import annotations

import functools
import io
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from workbench.crnn._corpus import random_text

#: matplotlib's DejaVu and STIX faces: always installed, used by the quick profile and the tests.
SEEN_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
)  # fmt: skip
#: Computer Modern text faces shipped with matplotlib, never trained on (their TeX encoding has no glyphs
#: for some of the newer punctuation, so render only digits, letters and ``.,-/:$%'`` with them).
# cmti10 is left out: its OT1 italic encoding draws a pound sign where "$" should be.
UNSEEN_FONTS = ("cmr10", "cmss10", "cmtt10", "cmb10")


def font_path(name: str) -> str:
    """Path of a font: an existing file path as is, else a font shipped with matplotlib by file stem."""
    if os.path.sep in str(name) or str(name).lower().endswith((".ttf", ".otf")):
        if not os.path.exists(name):
            raise ValueError(f"font: no font file at {name!r}; install the font packages with `make setup-train`")
        return str(name)
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", f"{name}.ttf")
    if not os.path.exists(path):
        raise ValueError(
            f"font: {name!r} is neither a font file nor among matplotlib's fonts (looked for {path}); use "
            f"a path or one of {SEEN_FONTS + UNSEEN_FONTS}"
        )
    return path


@functools.lru_cache(maxsize=2048)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(name), size)


@functools.lru_cache(maxsize=1024)
def has_oldstyle_figures(path: str) -> bool:
    """Whether a font file offers old-style figures (the OpenType ``onum`` feature).

    Faces such as EB Garamond draw hanging figures by default; training on the ``onum`` figures of the
    training faces that have them teaches their shapes without training on a held-out design.
    """
    from PIL import features

    if not features.check("raqm"):  # Pillow applies OpenType features through libraqm only
        return False
    try:
        from fontTools.ttLib import TTFont

        font = TTFont(path, fontNumber=0, lazy=True)
        gsub = font["GSUB"].table if "GSUB" in font else None
        records = gsub.FeatureList.FeatureRecord if gsub is not None and gsub.FeatureList else []
        return any(r.FeatureTag == "onum" for r in records)
    except Exception:  # an unreadable table only means no old-style figures for this face
        return False


@dataclass(frozen=True)
class RenderConfig:
    """Probabilities and ranges of every augmentation; every draw comes from the caller's seeded generator.

    ``strength`` scales all probabilities: 0 gives clean lines, 1 the training mixture.
    """

    font_size: tuple[int, int] = (20, 44)
    margin: tuple[float, float] = (0.0, 0.8)  # of the font size: tight to loose crops
    rotate_deg: float = 2.5
    rotate_p: float = 0.5
    perspective_p: float = 0.25
    spacing_p: float = 0.25  # letter spacing from tight (-0.04 em) to loose (+0.35 em)
    stroke_p: float = 0.25  # dilate or erode the ink
    blur_p: float = 0.35
    rescale_p: float = 0.2  # down- and up-sampling (low resolution scans)
    noise_sigma: tuple[float, float] = (0.0, 18.0)
    texture_p: float = 0.45  # paper grain and blotches
    gradient_p: float = 0.3  # uneven illumination
    low_contrast_p: float = 0.2
    invert_p: float = 0.1
    jpeg_p: float = 0.25
    oldstyle_p: float = 0.35  # old-style (hanging) figures, on faces that have them (OpenType ``onum``)
    strength: float = 1.0
    # Old name of the rotation range, kept for callers of the first release.
    skew_deg: float | None = None


def _p(rng, p, cfg) -> bool:
    return rng.random() < p * cfg.strength


def _draw_text(text, face, size, rng, cfg, augment):
    """Ink (255) on black, exactly as wide as the glyphs plus the margins; letter spacing on request."""
    spacing = float(rng.uniform(-0.04, 0.35)) * size if augment and _p(rng, cfg.spacing_p, cfg) else 0.0
    oldstyle = (augment and any(c.isdigit() for c in text) and has_oldstyle_figures(face.path)
                and _p(rng, cfg.oldstyle_p, cfg))
    kw = {"features": ["onum"]} if oldstyle else {}
    _, top, _, bottom = face.getbbox("Ahgy|" + text, **kw)  # ascender-to-descender extent of this face
    if spacing:
        advances = [face.getlength(c, **kw) + spacing for c in text]
        width = int(np.ceil(sum(advances) - spacing)) + size
    else:
        left, _, right, _ = face.getbbox(text, **kw)
        width = right - left + size
    pad = size  # room for italics' overhang and the later crop
    canvas = Image.new("L", (max(1, width) + 2 * pad, bottom - top + 2 * pad), 0)
    draw = ImageDraw.Draw(canvas)
    if spacing:
        x = float(pad)
        for c, adv in zip(text, advances):
            draw.text((x, pad - top), c, font=face, fill=255, **kw)
            x += adv
    else:
        left = face.getbbox(text, **kw)[0]
        draw.text((pad - left, pad - top), text, font=face, fill=255, **kw)
    return canvas


def _crop_with_margin(mask: Image.Image, size, rng, cfg, augment):
    box = mask.getbbox() or (0, 0, mask.width, mask.height)
    if augment:
        lo, hi = cfg.margin
        m = [int(round(float(rng.uniform(lo, hi)) * size * f)) for f in (1.0, 0.5, 1.0, 0.5)]
        if rng.random() < 0.15:  # a crop tighter than the ink: a pixel or two cut off
            m = [-int(rng.integers(0, 3)) for _ in range(4)]
    else:
        m = [4, 3, 4, 3]
    x0, y0, x1, y1 = box[0] - m[0], box[1] - m[1], box[2] + m[2], box[3] + m[3]
    if x1 - x0 < 2 or y1 - y0 < 2:  # a glyph as small as "." keeps its ink box
        x0, y0, x1, y1 = box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1
    return mask.crop((x0, y0, x1, y1))  # outside the canvas counts as background (0)


def _geometry(mask: Image.Image, rng, cfg):
    if _p(rng, cfg.rotate_p, cfg):
        rot = cfg.skew_deg if cfg.skew_deg is not None else cfg.rotate_deg
        mask = mask.rotate(float(rng.uniform(-rot, rot)), resample=Image.BILINEAR, expand=True, fillcolor=0)
    if _p(rng, cfg.perspective_p, cfg):
        w, h = mask.size
        d = 0.06 * h
        # Corners moved by up to 6% of the height: a page photographed a little off-axis, plus shear.
        shear = float(rng.uniform(-0.25, 0.25)) * h
        quad = [(rng.uniform(-d, d) + shear, rng.uniform(-d, d)),
                (rng.uniform(-d, d), h + rng.uniform(-d, d)),
                (w + rng.uniform(-d, d), h + rng.uniform(-d, d)),
                (w + rng.uniform(-d, d) + shear, rng.uniform(-d, d))]
        mask = mask.transform(mask.size, Image.QUAD, [float(v) for xy in quad for v in xy], Image.BILINEAR,
                              fillcolor=0)
    return mask


def _background(shape, rng, cfg, bg):
    h, w = shape
    page = np.full(shape, float(bg), np.float32)
    if _p(rng, cfg.gradient_p, cfg):
        # Uneven illumination: a linear ramp in a random direction.
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        angle = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(angle) * xx / max(w, 1) + np.sin(angle) * yy / max(h, 1))
        page += (ramp - ramp.mean()) * float(rng.uniform(20, 80))
    if _p(rng, cfg.texture_p, cfg):
        # Paper: low-frequency blotches (a coarse random grid upsampled) plus fine grain.
        coarse = rng.normal(0, 1, size=(max(2, h // 12), max(2, w // 12))).astype(np.float32)
        blotch = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC))
        page += blotch * float(rng.uniform(4, 18)) + rng.normal(0, float(rng.uniform(1, 6)), shape)
    return page


def render_line(
    text: str,
    font: str = "DejaVuSans",
    rng: np.random.Generator | None = None,
    config: RenderConfig | None = None,
    augment: bool = True,
) -> np.ndarray:
    """Render ``text`` as a grayscale uint8 image (H, W), dark ink on a light background by default.

    With ``augment``: font size, tight or loose crops, letter spacing, stroke width (dilate/erode),
    rotation and perspective, paper texture and illumination gradients, low contrast, blur, rescaling,
    Gaussian noise, inverted polarity and JPEG artifacts, each drawn from ``rng``. Without it the line is
    clean, black on white, with a small margin.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text: expected a non-empty str, got {text!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    cfg = config or RenderConfig()
    size = int(rng.integers(cfg.font_size[0], cfg.font_size[1] + 1)) if augment else 32
    face = _font(font, size)
    mask = _draw_text(text, face, size, rng, cfg, augment)
    if augment and _p(rng, cfg.stroke_p, cfg):
        k = 3 if size < 36 else 5
        mask = mask.filter(ImageFilter.MaxFilter(k) if rng.random() < 0.5 else ImageFilter.MinFilter(3))
    if augment:
        mask = _geometry(mask, rng, cfg)
    mask = _crop_with_margin(mask, size, rng, cfg, augment)
    alpha = np.asarray(mask, np.float32) / 255.0
    if not augment:
        return np.clip(255.0 * (1.0 - alpha), 0, 255).astype(np.uint8)
    bg = float(rng.integers(150, 256))
    contrast = float(rng.uniform(35, 90)) if _p(rng, cfg.low_contrast_p, cfg) else float(rng.uniform(100, bg))
    fg = max(0.0, bg - contrast)
    page = Image.fromarray(np.clip(_background(alpha.shape, rng, cfg, bg) * (1 - alpha) + fg * alpha, 0, 255)
                           .astype(np.uint8))
    # Blur and low resolution scale with the font size and never stack, so the text stays legible.
    if _p(rng, cfg.blur_p, cfg):
        page = page.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.3, 1.0)) * size / 28))
    elif _p(rng, cfg.rescale_p, cfg):
        w, h = page.size
        f = float(rng.uniform(min(0.9, 16 / size), 0.8))
        page = page.resize((max(1, int(w * f)), max(1, int(h * f))), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    img = np.asarray(page, np.float32)
    sigma = min(float(rng.uniform(*cfg.noise_sigma)) * min(1.0, cfg.strength), contrast / 3)
    if sigma > 0:
        img = img + rng.normal(0, sigma, size=img.shape).astype(np.float32)
    out = np.clip(img, 0, 255).astype(np.uint8)
    if _p(rng, cfg.invert_p, cfg):
        out = 255 - out
    if _p(rng, cfg.jpeg_p, cfg):
        buf = io.BytesIO()
        Image.fromarray(out).save(buf, format="JPEG", quality=int(rng.integers(15, 60)))
        out = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("L"))
    return out


def render_samples(
    n: int,
    seed: int,
    fonts=SEEN_FONTS,
    max_len: int = 20,
    min_len: int = 1,
    config: RenderConfig | None = None,
    augment: bool = True,
) -> list[tuple[np.ndarray, str, str]]:
    """Render ``n`` seeded lines, returning ``(image, text, font)`` triples (fonts drawn uniformly)."""
    if n < 0:
        raise ValueError(f"n: expected a count >= 0, got {n}")
    fonts = tuple(fonts)
    if not fonts:
        raise ValueError("fonts: expected at least one font name")
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        text = random_text(rng, max_len=max_len, min_len=min_len)
        font = fonts[int(rng.integers(len(fonts)))]
        if os.path.basename(str(font)).startswith("cm") and not os.path.basename(str(font)).startswith("cmun"):
            # matplotlib's TeX-encoded Computer Modern files (not the Unicode CMU fonts of fonts-cmu)
            text = _cm_safe(text)
        out.append((render_line(text, font, rng, config, augment=augment), text, font))
    return out


_CM_SAFE = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,-/:$%'")


def _cm_safe(text: str) -> str:
    """Drop characters Computer Modern's TeX encoding draws as other glyphs (``"`` ``<`` ...)."""
    kept = "".join(c for c in text if c in _CM_SAFE).strip()
    return kept or "x"
