"""Synthetic text lines rendered with Pillow from the fonts that ship inside matplotlib."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from workbench.crnn._corpus import random_text

#: Faces used for training and the seen-font validation set.
SEEN_FONTS = (
    "DejaVuSans", "DejaVuSans-Bold", "DejaVuSans-Oblique", "DejaVuSans-BoldOblique",
    "DejaVuSerif", "DejaVuSerif-Bold", "DejaVuSerif-Italic", "DejaVuSerif-BoldItalic",
    "DejaVuSansMono", "DejaVuSansMono-Bold", "DejaVuSansMono-Oblique", "DejaVuSansMono-BoldOblique",
    "STIXGeneral", "STIXGeneralBol", "STIXGeneralItalic", "STIXGeneralBolIta",
)  # fmt: skip
#: Computer Modern text faces: never used in training, they measure generalization to a new design.
# cmti10 is left out: its OT1 italic encoding draws a pound sign where "$" should be.
UNSEEN_FONTS = ("cmr10", "cmss10", "cmtt10", "cmb10")


def font_path(name: str) -> str:
    """Path of a font shipped with matplotlib, by file stem (``"DejaVuSans"``, ``"cmr10"``)."""
    import matplotlib

    path = os.path.join(matplotlib.get_data_path(), "fonts", "ttf", f"{name}.ttf")
    if not os.path.exists(path):
        raise ValueError(
            f"font: {name!r} is not among matplotlib's fonts (looked for {path}); use one of "
            f"{SEEN_FONTS + UNSEEN_FONTS}"
        )
    return path


@functools.lru_cache(maxsize=512)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(font_path(name), size)


@dataclass(frozen=True)
class RenderConfig:
    """Ranges for the light augmentation; every draw comes from the caller's seeded generator."""

    font_size: tuple[int, int] = (22, 38)
    margin_x: tuple[int, int] = (0, 10)
    margin_y: tuple[int, int] = (0, 6)
    skew_deg: float = 3.0
    blur_p: float = 0.3
    noise_sigma: tuple[float, float] = (0.0, 12.0)
    min_contrast: int = 90
    texture_p: float = 0.4
    invert_p: float = 0.0


def render_line(
    text: str,
    font: str = "DejaVuSans",
    rng: np.random.Generator | None = None,
    config: RenderConfig | None = None,
    augment: bool = True,
) -> np.ndarray:
    """Render ``text`` as a grayscale uint8 image (H, W), dark ink on a light background by default.

    With ``augment`` the font size, margins, skew (up to ±3°), blur, Gaussian noise, contrast and a
    low-frequency background texture are drawn from ``rng``; without it the line is clean and centered.
    """
    if not isinstance(text, str) or not text:
        raise ValueError(f"text: expected a non-empty str, got {text!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    cfg = config or RenderConfig()
    size = int(rng.integers(cfg.font_size[0], cfg.font_size[1] + 1)) if augment else 32
    face = _font(font, size)
    # Vertical extent from the ink of tall and deep reference glyphs (not the font's line metrics,
    # which for STIX are twice the glyph height), so every font fills the 32-pixel line alike.
    _, top, _, bottom = face.getbbox("Ahgy|" + text)
    left, _, right, _ = face.getbbox(text)
    mx = int(rng.integers(cfg.margin_x[0], cfg.margin_x[1] + 1)) if augment else 4
    my = int(rng.integers(cfg.margin_y[0], cfg.margin_y[1] + 1)) if augment else 3
    h, w = bottom - top + 2 * my, max(1, right - left) + 2 * mx
    if augment:
        bg = int(rng.integers(150, 256))
        fg = int(rng.integers(0, max(1, bg - cfg.min_contrast)))
    else:
        bg, fg = 255, 0
    canvas = Image.new("L", (w, h), color=bg)
    ImageDraw.Draw(canvas).text((mx - left, my - top), text, font=face, fill=fg)
    if augment and cfg.skew_deg > 0:
        angle = float(rng.uniform(-cfg.skew_deg, cfg.skew_deg))
        canvas = canvas.rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=bg)
    if augment and rng.random() < cfg.blur_p:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 1.0))))
    img = np.asarray(canvas, dtype=np.float32)
    if augment:
        if rng.random() < cfg.texture_p:
            # Low-frequency texture: a coarse random grid upsampled (cheap stand-in for paper grain).
            coarse = rng.normal(0, 1, size=(3, max(2, img.shape[1] // 24))).astype(np.float32)
            tex = np.asarray(
                Image.fromarray(coarse).resize((img.shape[1], img.shape[0]), Image.BILINEAR)
            )
            img = img + tex * float(rng.uniform(5, 25)) * (img > fg + 0.5 * (bg - fg))
        sigma = float(rng.uniform(*cfg.noise_sigma))
        if sigma > 0:
            img = img + rng.normal(0, sigma, size=img.shape).astype(np.float32)
        if rng.random() < cfg.invert_p:
            img = 255 - img
    return np.clip(img, 0, 255).astype(np.uint8)


def render_samples(
    n: int,
    seed: int,
    fonts=SEEN_FONTS,
    max_len: int = 20,
    min_len: int = 1,
    config: RenderConfig | None = None,
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
        out.append((render_line(text, font, rng, config), text, font))
    return out
