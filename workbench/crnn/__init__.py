"""Text-line recognition with a CRNN (Shi, Bai, Yao 2015): data, model, training, Recognizer.

The public names load on first use: most of them need torch, and ``workbench --help`` (which imports this
package to find ``workbench.crnn.cli``) should not pay for it.
"""

from importlib import import_module

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
}  # fmt: skip
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'workbench.crnn' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
