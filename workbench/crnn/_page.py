"""Pages into lines: deskew by the projection profile, then cut at the blank rows between text lines.

The horizontal projection profile (ink pixels per row) of a page of printed text is a comb: one peak per
line, near zero between lines. It is sharpest when the lines are exactly horizontal, so the skew angle is
the rotation that maximizes the profile's variance (the classic projection-profile method; see e.g.
Hull, *Document Image Skew Detection: Survey and Annotated Bibliography*, 1998). After deskewing, runs of
inked rows are the lines; runs far smaller than the typical line (an accent, a stray speck) are merged
into their neighbour or dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from workbench.crnn._preprocess import ink_mask, normalize_polarity


@dataclass(frozen=True)
class LineBox:
    """One text line found on a page: its crop (dark on light, deskewed) and its box in page coordinates."""

    image: np.ndarray
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the input image (axis-aligned around the line)


def estimate_skew(mask: np.ndarray, max_angle: float = 6.0) -> float:
    """Skew in degrees (counter-clockwise positive, as ``PIL.Image.rotate``) of a page's text lines."""
    h, w = mask.shape
    if mask.sum() == 0:
        return 0.0
    scale = min(1.0, 600 / max(h, w))  # the angle survives downsampling; the search gets cheap
    small = Image.fromarray((mask * 255).astype(np.uint8))
    if scale < 1:
        small = small.resize((max(1, int(w * scale)), max(1, int(h * scale))), Image.BOX)

    def sharpness(angle):
        rotated = np.asarray(small.rotate(angle, resample=Image.BILINEAR, expand=True), np.float32)
        return float(np.var(rotated.sum(1)))

    coarse = np.arange(-max_angle, max_angle + 1e-9, 0.5)
    best = max(coarse, key=sharpness)
    fine = np.arange(best - 0.5, best + 0.5 + 1e-9, 0.1)
    return float(max(fine, key=sharpness))


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges of the True runs of a boolean vector."""
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def line_bands(mask: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges of the text lines of a deskewed ink mask."""
    profile = mask.sum(1).astype(np.float32)
    if profile.max(initial=0) == 0:
        return []
    runs = _runs(profile > max(1.0, 0.01 * profile.max()))
    if not runs:
        return []
    typical = float(np.median([b - a for a, b in runs]))
    merged: list[list[int]] = []
    for a, b in runs:
        small = (b - a) < 0.4 * typical
        if merged and small and a - merged[-1][1] < 0.5 * typical:
            merged[-1][1] = b  # a descender's tail or a comma below the line
        elif merged and (merged[-1][1] - merged[-1][0]) < 0.4 * typical and a - merged[-1][1] < 0.5 * typical:
            merged[-1][1] = b  # the previous run was an accent or i-dot above this line
        else:
            merged.append([a, b])
    tall = max(b - a for a, b in merged)
    # Specks: runs with a fifth of the tallest line's height and little ink are noise, not text.
    return [(a, b) for a, b in merged if (b - a) >= 0.2 * tall or profile[a:b].sum() > 0.05 * profile.sum()]


def _rotation_back(angle: float, old_size, new_size):
    """Map points of ``Image.rotate(angle, expand=True)``'s output back to the input image."""
    (w, h), (nw, nh) = old_size, new_size
    t = math.radians(angle)
    c, s = math.cos(t), math.sin(t)

    def back(x, y):
        dx, dy = x - nw / 2, y - nh / 2
        # PIL rotates counter-clockwise on screen (y down): the inverse is this rotation.
        return c * dx - s * dy + w / 2, s * dx + c * dy + h / 2

    return back


def segment_lines(gray: np.ndarray, deskew: bool = True, max_angle: float = 6.0) -> tuple[list[LineBox], float]:
    """Split a page (uint8 gray, any polarity) into line crops; returns ``(lines, skew_degrees)``."""
    gray = normalize_polarity(gray)
    mask = ink_mask(gray)
    angle = estimate_skew(mask, max_angle) if deskew else 0.0
    page = gray
    if abs(angle) >= 0.05:
        bg = int(np.median(gray))
        page = np.asarray(Image.fromarray(gray).rotate(angle, resample=Image.BILINEAR, expand=True, fillcolor=bg))
        mask = ink_mask(page)
    else:
        angle = 0.0
    back = _rotation_back(angle, gray.shape[::-1], page.shape[::-1])
    out = []
    for a, b in line_bands(mask):
        cols = np.flatnonzero(mask[a:b].any(0))
        if cols.size == 0:
            continue
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        pad = max(2, (b - a) // 4)
        y0, y1 = max(0, a - pad), min(page.shape[0], b + pad)
        xs0, xs1 = max(0, x0 - pad), min(page.shape[1], x1 + pad)
        corners = [back(x, y) for x in (xs0, xs1) for y in (y0, y1)]
        box = (max(0, int(min(p[0] for p in corners))), max(0, int(min(p[1] for p in corners))),
               min(gray.shape[1], int(math.ceil(max(p[0] for p in corners)))),
               min(gray.shape[0], int(math.ceil(max(p[1] for p in corners)))))
        out.append(LineBox(np.ascontiguousarray(page[y0:y1, xs0:xs1]), box))
    return out, angle
