"""The one preprocessing path of training and inference: grayscale, polarity, crop to ink, pad, height 32.

Training lines (``train.make_training_batches``) and every image the ``Recognizer`` reads go through
:func:`prepare_line`, so the network never sees a normalization at test time that it did not see while
training. The aspect ratio is always kept: a long line becomes a wide input, never a squashed one.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

#: Margin added around the ink box, as a fraction of the ink height (top/bottom, left/right).
MARGIN_Y, MARGIN_X = 0.12, 0.25


def normalize_polarity(gray: np.ndarray) -> np.ndarray:
    """Make text dark on a light background.

    The border of a line image is mostly background (even in a tight crop ink touches it only here and
    there), so its median is the background level; ink is what lies far from that level. When those
    far pixels are on average brighter, the text is light on dark and the image is inverted. (The whole
    image's median is no background level for bold text in a tight crop, where ink can be half the pixels.)
    """
    g = gray.astype(np.int16)
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    dev = g - int(np.median(border))
    spread = np.abs(dev)
    far = spread > max(8, 0.5 * float(np.percentile(spread, 99.5)))
    if far.any() and float(dev[far].mean()) > 0:
        return 255 - gray
    return gray


def _background_map(gray: np.ndarray) -> np.ndarray:
    """Local background level: a max filter (ink is dark) over a window wider than a stroke, downsampled
    for speed. It follows illumination gradients that a single global level would not."""
    h, w = gray.shape
    f = 4 if min(h, w) >= 16 else 1
    small = Image.fromarray(gray).resize((max(1, w // f), max(1, h // f)), Image.BOX)
    k = 5 if min(small.size) >= 5 else 3 if min(small.size) >= 3 else 1
    bg = small.filter(ImageFilter.MaxFilter(k)) if k > 1 else small
    return np.asarray(bg.resize((w, h), Image.BILINEAR), np.float32)


def _median3(a: np.ndarray, axis: int) -> np.ndarray:
    """Median of each pixel and its two neighbours along ``axis`` (edges repeat): max(min(a, b), min(max(a, b), c))."""
    pad = [(0, 0), (0, 0)]
    pad[axis] = (1, 1)
    p = np.pad(a, pad, mode="edge")
    n = a.shape[axis]
    lo, mid, hi = (np.take(p, np.arange(k, k + n), axis=axis) for k in range(3))
    return np.maximum(np.minimum(lo, mid), np.minimum(np.maximum(lo, mid), hi))


def ink_mask(gray: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of ink pixels of a dark-on-light image, robust to noise, texture and gradients.

    Dark against the local background (``background``: :func:`_background_map` of ``gray``, computed when
    not given) after a 3 x 3 median, which removes specks of noise (and also the thinnest marks: see
    :func:`thin_ink_mask`)."""
    background = _background_map(gray) if background is None else background
    smooth = np.asarray(Image.fromarray(gray).filter(ImageFilter.MedianFilter(3)), np.float32)
    dark = background - smooth
    top = float(np.percentile(dark, 99.5))
    return dark > max(12.0, 0.4 * top)


def thin_ink_mask(gray: np.ndarray, background: np.ndarray | None = None) -> np.ndarray:
    """Ink that a 3 x 3 median erases: dark after a 3-pixel median along the rows *or* along the columns.

    Either median removes an isolated speck; the two together keep a one-pixel stroke in the direction it
    runs (the stem of a thin ``i``, ``l`` or ``I``, an apostrophe) and a 2 x 2 full stop. ``background`` as
    for :func:`ink_mask`."""
    background = _background_map(gray) if background is None else background
    dark = background - gray.astype(np.float32)
    along_cols, along_rows = _median3(dark, 0), _median3(dark, 1)
    thr = max(12.0, 0.4 * float(np.percentile(np.maximum(along_cols, along_rows), 99.5)))
    return (along_cols > thr) | (along_rows > thr)


def _reach_thin_marks(thin_cols: np.ndarray, x0: int, x1: int, ink_h: int) -> tuple[int, int]:
    """Widen ``[x0, x1)`` over thin marks next to it: columns of ``thin_cols`` (True where a column holds
    thin ink) at most ``gap`` columns apart, up to ``limit`` columns on each side. A line's first ``I`` or
    its final period stays in the crop; a gradient or a smudge further away does not."""
    gap, limit = max(2, int(round(0.35 * ink_h))), int(round(0.8 * ink_h))
    end = x1
    while end - x1 < limit:
        hit = np.flatnonzero(thin_cols[end : min(end + gap, x1 + limit)])
        if not hit.size:
            break
        end += int(hit[-1]) + 1
    start = x0
    while x0 - start < limit and start > 0:
        lo = max(0, start - gap, x0 - limit)
        hit = np.flatnonzero(thin_cols[lo:start])
        if not hit.size:
            break
        start = lo + int(hit[0])
    return start, end


def ink_box(gray: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` (exclusive ends) around the ink of a dark-on-light line, or None if blank.

    Rows count as ink when they hold at least 2% of the busiest row's ink (drops specks of noise above
    and below the line); columns when they hold any ink within those rows. The box then reaches over thin
    marks just beyond its ends (:func:`thin_ink_mask`; a 3 x 3 median alone cut off a line's leading ``I``
    and its final period).
    """
    background = _background_map(gray)  # shared by both masks: computed once per line
    mask = ink_mask(gray, background)
    rows = mask.sum(1)
    if rows.max(initial=0) == 0:
        return None
    keep = np.nonzero(rows >= max(1.0, 0.02 * rows.max()))[0]
    y0, y1 = int(keep[0]), int(keep[-1]) + 1
    cols = mask[y0:y1].sum(0)
    kc = np.nonzero(cols > 0)[0]
    thin_cols = thin_ink_mask(gray, background)[y0:y1].sum(0) >= 2
    x0, x1 = _reach_thin_marks(thin_cols, int(kc[0]), int(kc[-1]) + 1, y1 - y0)
    return x0, y0, x1, y1


def crop_to_ink(gray: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
    """Crop a dark-on-light line to its ink plus a margin (pad with the background where needed).

    ``rng`` (training only) jitters the margins so the network tolerates imperfect crops.
    """
    box = ink_box(gray)
    if box is None:
        return gray
    x0, y0, x1, y1 = box
    ink_h = max(1, y1 - y0)
    if rng is None:
        my_t = my_b = int(round(MARGIN_Y * ink_h))
        mx_l = mx_r = int(round(MARGIN_X * ink_h))
    else:
        my_t, my_b = (int(round(float(rng.uniform(0.0, 0.3)) * ink_h)) for _ in range(2))
        mx_l, mx_r = (int(round(float(rng.uniform(0.0, 0.6)) * ink_h)) for _ in range(2))
    bg = int(np.median(gray))
    out = np.full((ink_h + my_t + my_b, (x1 - x0) + mx_l + mx_r), bg, np.uint8)
    # Copy the part of the padded box that lies inside the image.
    sy0, sy1 = max(0, y0 - my_t), min(gray.shape[0], y1 + my_b)
    sx0, sx1 = max(0, x0 - mx_l), min(gray.shape[1], x1 + mx_r)
    oy, ox = sy0 - (y0 - my_t), sx0 - (x0 - mx_l)
    out[oy : oy + sy1 - sy0, ox : ox + sx1 - sx0] = gray[sy0:sy1, sx0:sx1]
    return out


def to_height(gray: np.ndarray, height: int = 32) -> np.ndarray:
    """Scale to ``height`` rows keeping the aspect ratio (width at least 8 columns, one CTC frame)."""
    h, w = gray.shape
    new_w = max(8, int(round(w * height / h)))
    resample = Image.BILINEAR if h <= 2 * height else Image.BOX  # area-average when shrinking a lot
    return np.asarray(Image.fromarray(gray).resize((new_w, height), resample), np.uint8)


def prepare_line(image, height: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """Any line image -> uint8 (height, w), dark ink on light, cropped to ink, aspect ratio kept."""
    from workbench.crnn._data import to_grayscale

    gray = normalize_polarity(to_grayscale(image))
    return to_height(crop_to_ink(gray, rng), height)


#: Test-time views of a prepared line: widths scaled by these factors (the network's frames then fall
#: differently on the glyphs), plus one with the glyphs a little smaller in the 32-row frame.
VIEW_STRETCHES = (0.85, 1.15, 1.3)
VIEW_SHRINK_PAD = 3


def _stretch(line: np.ndarray, factor: float) -> np.ndarray:
    h, w = line.shape
    return np.asarray(Image.fromarray(line).resize((max(8, int(round(w * factor))), h), Image.BILINEAR), np.uint8)


def _shrink(line: np.ndarray, pad: int) -> np.ndarray:
    """The line framed by ``pad`` background pixels on every side, scaled back to its height."""
    h, w = line.shape
    framed = np.full((h + 2 * pad, w + 2 * pad), int(np.median(line[:, -1])), np.uint8)
    framed[pad : pad + h, pad : pad + w] = line
    return to_height(framed, h)


def views(line: np.ndarray) -> list[np.ndarray]:
    """The prepared line and four variants of it, read separately and voted on (``Recognizer(views=True)``):
    widths x0.85, x1.15, x1.3 and slightly smaller glyphs. A reading the network gives under several views
    is rarely a misreading peculiar to one scale of one font."""
    return [line, *(_stretch(line, f) for f in VIEW_STRETCHES), _shrink(line, VIEW_SHRINK_PAD)]
