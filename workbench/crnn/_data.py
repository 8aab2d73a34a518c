"""Image normalization (``resize_image``), the on-disk line loader and one Dataset over all sources."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from workbench.crnn._charset import CHARSET, label_to_array, unescape_label
from workbench.crnn._preprocess import normalize_polarity, prepare_line  # noqa: F401  (re-exported)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")


def to_grayscale(image) -> np.ndarray:
    """A PIL image or uint8 array (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) as a uint8 (H, W) array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("L"), dtype=np.uint8)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected a PIL.Image or numpy array, got {type(image).__name__}")
    arr = image
    if arr.dtype != np.uint8:
        if np.issubdtype(arr.dtype, np.floating) and arr.size and arr.min() >= 0 and arr.max() <= 1:
            arr = (arr * 255).round().astype(np.uint8)
        else:
            raise TypeError(
                f"image: expected dtype uint8 (0..255) or floats in [0, 1], got {arr.dtype}; "
                "convert with .astype(np.uint8)"
            )
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = np.asarray(Image.fromarray(np.ascontiguousarray(arr[:, :, :3])).convert("L"))
    elif arr.ndim != 2:
        raise ValueError(f"image: expected shape (H, W) or (H, W, 1|3|4), got {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"image: expected a non-empty image, got shape {arr.shape}")
    return arr


def resize_image(image, height: int = 32, width: int | None = 128, pad_value: int | None = None):
    """Scale a line image to ``height`` keeping its aspect ratio, then fit it to ``width``.

    - narrower than ``width``: pad on the right with ``pad_value`` (default: the median of the
      image's border, i.e. the background) so the glyphs keep their shape;
    - wider than ``width``: squeeze horizontally to ``width`` (the aspect ratio is given up rather
      than cutting characters off);
    - ``width=None``: only the height is fixed.

    Returns ``(resized, content_width)``: a uint8 (height, width) array and how many of its columns
    hold the line (the rest is padding). The CTC loss and the decoder only use the frames over the
    content, which is why the padding value hardly matters (the notebook checks it).
    """
    gray = to_grayscale(image)
    if not isinstance(height, int) or height < 1:
        raise ValueError(f"height: expected a positive int, got {height!r}")
    if width is not None and (not isinstance(width, int) or width < 1):
        raise ValueError(f"width: expected a positive int or None, got {width!r}")
    h, w = gray.shape
    new_w = max(1, int(round(w * height / h)))
    if width is not None and new_w > width:
        new_w = width
    resized = np.asarray(Image.fromarray(gray).resize((new_w, height), Image.BILINEAR), np.uint8)
    if width is None or new_w == width:
        return resized, new_w
    if pad_value is None:
        border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
        pad_value = int(np.median(border))
    out = np.full((height, width), pad_value, dtype=np.uint8)
    out[:, :new_w] = resized
    return out, new_w


def _label_from_filename(path: Path) -> str:
    stem = path.stem
    if "_" not in stem:
        raise ValueError(
            f"file {path.name!r}: expected the name '<label>_<anything>{path.suffix}' (escape '_' "
            "inside the label as %5F), or list the files in a labels.tsv"
        )
    return unescape_label(stem.split("_", 1)[0])  # the label never holds a raw "_"


def load_line_folder(folder, charset: str = CHARSET) -> list[tuple[Path, str]]:
    """List ``(path, label)`` pairs of a folder of line images.

    Labels come from ``labels.tsv`` (``file<TAB>label`` per line) when the folder has one, else
    from file names ``<label>_<anything>.<ext>`` with ``%XX`` escapes (see ``escape_label``).
    Every label is checked against ``charset``; an error names the character and the file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"folder: {str(root)!r} is not a directory of line images")
    tsv = root / "labels.tsv"
    pairs: list[tuple[Path, str]] = []
    if tsv.exists():
        with open(tsv, newline="", encoding="utf-8") as fh:
            for lineno, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != 2:
                    raise ValueError(
                        f"labels.tsv line {lineno}: expected 'file<TAB>label', got {len(row)} fields"
                    )
                path = root / row[0]
                if not path.exists():
                    raise ValueError(f"labels.tsv line {lineno}: file {row[0]!r} does not exist in {root}")
                pairs.append((path, row[1]))
    else:
        for path in sorted(root.iterdir()):
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                pairs.append((path, _label_from_filename(path)))
    if not pairs:
        raise ValueError(f"folder: no line images ({', '.join(IMAGE_EXTENSIONS)}) found in {root}")
    for path, label in pairs:
        label_to_array(label, charset, source=str(path))
    return pairs


class TextLineDataset(torch.utils.data.Dataset):
    """Text lines from any mix of sources, normalized for the CRNN.

    ``items`` is a sequence whose entries are ``(image, label)`` with ``image`` a uint8 array, a PIL
    image or a path. Build one from rendered lines with :meth:`rendered`, from a folder with
    :meth:`from_folder`, or add two datasets with ``+``. ``__getitem__`` returns
    ``(image, target, label)``: a float tensor (1, height, w) in [0, 1] with ink dark (aspect ratio kept,
    not padded: :func:`collate_lines` pads a batch), the int64 class indices, and the label string.
    """

    def __init__(self, items, height: int = 32, charset: str = CHARSET):
        self.items = list(items)
        self.height, self.charset = height, charset

    @classmethod
    def rendered(cls, n: int, seed: int, fonts=None, max_len: int = 20, config=None, **kw) -> "TextLineDataset":
        """``n`` seeded synthetic lines (default fonts: the seen set)."""
        from workbench.crnn._render import SEEN_FONTS, render_samples

        samples = render_samples(n, seed, fonts or SEEN_FONTS, max_len=max_len, config=config)
        return cls([(img, text) for img, text, _ in samples], **kw)

    @classmethod
    def from_folder(cls, folder, **kw) -> "TextLineDataset":
        """Lines from a folder (file-name labels or ``labels.tsv``, see :func:`load_line_folder`)."""
        return cls(load_line_folder(folder, kw.get("charset", CHARSET)), **kw)

    def __len__(self) -> int:
        return len(self.items)

    def __add__(self, other):
        return TextLineDataset(self.items + list(other.items), self.height, self.charset)

    def __getitem__(self, i):
        image, label = self.items[i]
        source = None
        if isinstance(image, (str, os.PathLike)):
            source = str(image)
            with Image.open(image) as im:
                image = im.convert("L")
        resized = prepare_line(image, self.height)  # the Recognizer's own preprocessing, never squashed
        target = torch.from_numpy(label_to_array(label, self.charset, source=source))
        return torch.from_numpy(resized.astype(np.float32) / 255.0)[None], target, label


def collate_lines(batch, pad_to: int | None = None, pad_value: float | None = None, multiple: int = 4):
    """Stack ``(image, target, label)`` items into a padded batch.

    Images are right-padded to the widest in the batch (rounded up to ``multiple``, the model's
    horizontal stride) or to ``pad_to``; ``pad_value`` defaults to each image's own background (its
    right-edge median). Returns ``images (N, 1, H, W)``, ``targets`` (concatenated),
    ``target_lengths``, ``widths`` (content widths) and the labels.
    """
    if not batch:
        raise ValueError("batch: expected at least one (image, target, label) item")
    widths = [item[0].shape[-1] for item in batch]
    width = pad_to or int(np.ceil(max(widths) / multiple) * multiple)
    height = batch[0][0].shape[-2]
    images = torch.empty(len(batch), 1, height, width)
    for k, (img, _, _) in enumerate(batch):
        fill = float(img[0, :, -1].median()) if pad_value is None else pad_value
        images[k].fill_(fill)
        images[k, :, :, : min(width, img.shape[-1])] = img[..., :width]
    targets = torch.cat([item[1] for item in batch]) if batch else torch.empty(0, dtype=torch.long)
    target_lengths = torch.tensor([len(item[1]) for item in batch], dtype=torch.long)
    return images, targets, target_lengths, torch.tensor(widths), [item[2] for item in batch]
