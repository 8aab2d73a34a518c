"""``Recognizer``: a trained CRNN behind one call, from images of any size to strings."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from workbench.crnn._data import normalize_polarity, resize_image, to_grayscale
from workbench.crnn.model import CRNN, CRNNConfig

#: The checkpoint committed with the repository (trained by ``python -m workbench.crnn.train``).
SHIPPED_MODEL = Path(__file__).resolve().parents[2] / "datasets" / "models" / "crnn_small.pt"


class Recognizer:
    """Text-line recognizer: resize, batch, run the CRNN, decode with ``workbench.ctc``.

    Build one with :meth:`load` (the shipped model by default) or from a model in memory.
    """

    def __init__(self, model: CRNN, max_width: int = 192, device=None, metrics: dict | None = None):
        if not isinstance(model, CRNN):
            raise TypeError(f"model: expected a workbench.crnn.CRNN, got {type(model).__name__}")
        self.device = torch.device(device) if device else next(model.parameters()).device
        self.model = model.to(self.device).eval()
        self.charset = model.config.charset
        self.max_width = max_width
        self.metrics = metrics or {}

    @classmethod
    def load(cls, path=None, device=None) -> "Recognizer":
        """Load a checkpoint written by the training loop; ``None`` loads the shipped model."""
        path = Path(path) if path is not None else SHIPPED_MODEL
        if not path.exists():
            hint = ("train one with `python -m workbench.crnn.train --profile full --out DIR --ship "
                    "datasets/models`" if path == SHIPPED_MODEL else "check the path")
            raise FileNotFoundError(f"path: no checkpoint at {path}; {hint}")
        # weights_only: a checkpoint is tensors and plain containers, so no pickled code gets run.
        state = torch.load(path, map_location="cpu", weights_only=True)
        for key in ("state_dict", "model_config", "charset"):
            if key not in state:
                raise ValueError(f"path: {path} is not a CRNN checkpoint (missing {key!r})")
        config = CRNNConfig.from_dict(state["model_config"])
        if config.charset != state["charset"]:
            raise ValueError(f"path: {path} stores two different charsets; the checkpoint is corrupt")
        model = CRNN(config)
        model.load_state_dict(state["state_dict"])
        max_width = int(state.get("train_config", {}).get("max_width", 192))
        return cls(model, max_width=max_width, device=device, metrics=state.get("metrics"))

    def preprocess(self, images) -> tuple[torch.Tensor, list[int]]:
        """Images -> a padded (N, 1, 32, W) batch in [0, 1] (text dark) and each line's content width."""
        return self._batch(_grayscale_list(images))

    def _batch(self, grays: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
        arrays, widths = [], []
        for gray in grays:
            resized, width = resize_image(gray, 32, None)
            if width > self.max_width:
                resized, width = resize_image(gray, 32, self.max_width)
            arrays.append(resized)
            widths.append(width)
        if not arrays:
            raise ValueError("images: expected at least one image")
        batch_width = max(8, int(np.ceil(max(widths) / 4) * 4))
        batch = np.empty((len(arrays), 1, 32, batch_width), np.float32)
        for k, arr in enumerate(arrays):
            batch[k, 0] = float(np.median(arr[:, -1]))
            batch[k, 0, :, : arr.shape[1]] = arr
        return torch.from_numpy(batch / 255.0), widths

    @torch.no_grad()
    def log_probs(self, images, batch_size: int = 64) -> list[np.ndarray]:
        """Per-line (T_i, C) log-probabilities over the frames covering each line's content."""
        images = _grayscale_list(images)
        # Lines of similar width share a batch so little compute goes to padding.
        order = sorted(range(len(images)), key=lambda i: images[i].shape[1] / images[i].shape[0])
        results: dict[int, np.ndarray] = {}
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch, widths = self._batch([images[i] for i in idx])
            lp = self.model(batch.to(self.device)).cpu().numpy()  # (T, N, C)
            for j, i in enumerate(idx):
                frames = min(lp.shape[0], max(1, (widths[j] + 3) // 4))
                results[i] = lp[:frames, j]
        return [results[i] for i in range(len(images))]

    def recognize(self, images, lexicon=None, beam_width: int | None = None, max_distance: int = 2) -> list[str]:
        """Transcribe text-line images (PIL images or uint8 arrays, any size, gray or RGB, either polarity).

        Decoding: best path by default; ``beam_width`` -> prefix beam search; ``lexicon`` (a list of
        words) -> the CRNN paper's lexicon-based transcription (BK-tree candidates within
        ``max_distance`` of the lexicon-free result, ranked by p(l|y)).
        """
        from workbench.ctc import BKTree, LexiconFallbackWarning, best_path_decode, lexicon_decode
        from workbench.ctc import prefix_beam_search

        if beam_width is not None and (isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1):
            raise ValueError(f"beam_width: expected a positive int or None, got {beam_width!r}")
        tree = None
        if lexicon is not None:
            tree = lexicon if isinstance(lexicon, BKTree) else BKTree(list(lexicon))
            if len(tree) == 0:
                raise ValueError("lexicon: expected a non-empty list of words, or None for lexicon-free")
        texts, fallbacks = [], 0
        for lp in self.log_probs(images):
            if tree is not None:
                # One summary warning instead of one per line (see below).
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", LexiconFallbackWarning)
                    result = lexicon_decode(lp, tree, self.charset, max_distance=max_distance)
                fallbacks += result.fell_back
                texts.append(result.word)
            elif beam_width is not None:
                labels, _ = prefix_beam_search(lp, beam_width=beam_width)[0]
                texts.append(self._text(labels))
            else:
                texts.append(self._text(best_path_decode(lp)))
        if fallbacks:
            warnings.warn(
                f"lexicon: {fallbacks} of {len(texts)} lines had no word within {max_distance} edits of "
                "the lexicon-free result; the whole lexicon was scored for them",
                LexiconFallbackWarning,
                stacklevel=2,
            )
        return texts

    def _text(self, labels) -> str:
        return "".join(self.charset[int(i) - 1] for i in labels)

    def __repr__(self) -> str:
        cfg = self.model.config
        return f"Recognizer(channels={cfg.channels}, hidden={cfg.hidden}, classes={cfg.num_classes}, device={self.device})"


def _grayscale_list(images) -> list[np.ndarray]:
    """One image or a sequence of them -> dark-on-light uint8 arrays; errors name the bad item."""
    if isinstance(images, np.ndarray) or hasattr(images, "convert"):
        images = [images]
    if isinstance(images, (str, bytes)) or not hasattr(images, "__iter__"):
        raise TypeError(f"images: expected a PIL image, a uint8 array or a list of them, got {type(images).__name__}")
    out = []
    for k, image in enumerate(images):
        try:
            out.append(normalize_polarity(to_grayscale(image)))
        except (TypeError, ValueError) as err:
            raise type(err)(f"images[{k}]: {err}") from None
    if not out:
        raise ValueError("images: expected at least one image")
    return out
