"""Text-line recognition with a CRNN (Shi, Bai, Yao 2015): data, model, training, Recognizer."""

from workbench.crnn._charset import BLANK, CHARSET, array_to_label, escape_label, label_to_array, unescape_label
from workbench.crnn._corpus import WORDS, random_text
from workbench.crnn._data import (
    TextLineDataset,
    collate_lines,
    load_line_folder,
    normalize_polarity,
    resize_image,
    to_grayscale,
)
from workbench.crnn._metrics import character_error_rate, greedy_decode_batch, sequence_accuracy
from workbench.crnn._render import SEEN_FONTS, UNSEEN_FONTS, RenderConfig, render_line, render_samples
from workbench.crnn.model import CONFIGS, CRNN, CRNNConfig, count_parameters, output_length, receptive_field
from workbench.crnn.recognizer import SHIPPED_MODEL, Recognizer

__all__ = [
    "BLANK", "CHARSET", "CONFIGS", "CRNN", "CRNNConfig", "RenderConfig", "Recognizer", "SEEN_FONTS", "SHIPPED_MODEL", "UNSEEN_FONTS",
    "WORDS", "TextLineDataset", "array_to_label", "character_error_rate", "collate_lines",
    "count_parameters", "escape_label", "greedy_decode_batch", "label_to_array", "load_line_folder",
    "normalize_polarity", "output_length", "random_text", "receptive_field", "render_line", "render_samples",
    "resize_image", "sequence_accuracy", "to_grayscale", "unescape_label",
]  # fmt: skip
