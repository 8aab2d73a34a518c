"""Text-line recognition with a CRNN (Shi, Bai, Yao 2015): data, model, training, Recognizer.

The public names load on first use: most of them need torch, and ``workbench --help`` (which imports this
package to find ``workbench.crnn.cli``) should not pay for it.
"""

from workbench._lazy import lazy_exports

_EXPORTS = {
    "workbench.crnn._charset": ("BLANK", "CHARSET", "array_to_label", "escape_label", "label_to_array", "unescape_label"),
    "workbench.crnn._corpus": ("WORDS", "random_text"),
    "workbench.crnn._data": ("TextLineDataset", "collate_lines", "load_line_folder", "resize_image", "to_grayscale"),
    "workbench.crnn._preprocess": ("crop_to_ink", "normalize_polarity", "prepare_line"),
    "workbench.crnn._metrics": ("character_error_rate", "greedy_decode_batch", "sequence_accuracy"),
    "workbench.crnn._render": ("SEEN_FONTS", "UNSEEN_FONTS", "RenderConfig", "render_line", "render_samples"),
    "workbench.crnn.model": ("CONFIGS", "CRNN", "CRNNConfig", "count_parameters", "output_length", "receptive_field"),
    "workbench.crnn.recognizer": ("SHIPPED_MODEL", "Line", "Recognizer"),
    "workbench.crnn._fonts": ("HELDOUT_FAMILIES", "heldout_fonts", "train_fonts"),
    "workbench.crnn._page": ("segment_lines",),
    "workbench.crnn._dictionary": ("Dictionary",),
}  # fmt: skip
__all__, __getattr__, __dir__ = lazy_exports("workbench.crnn", _EXPORTS, globals())
