"""Check functions for the exercises of notebook 02 (the convention of :mod:`workbench.exercises`): each runs
the reader's function on small cases and says which rule it breaks, in words.
"""

from __future__ import annotations

import torch

from workbench.crnn.model import output_length
from workbench.exercises import attempt, report


def check_frames_and_longest_label(fn) -> bool:
    """Check ``fn(W, r) -> (T, longest)``: the frames of a width-``W`` line and the longest label with ``r``
    adjacent repeats that CTC can align to them."""
    for W, r in [(100, 0), (200, 3), (128, 1), (33, 2)]:
        got, error = attempt(fn, W, r)
        if error:
            return report("frames_and_longest_label", False, f"fn({W}, {r}): {error}")
        try:
            T, longest = got
        except (TypeError, ValueError):
            return report("frames_and_longest_label", False, f"fn({W}, {r}) should return a pair (T, longest), got {got!r}")
        want_T = output_length(W)
        if T != want_T:
            hint = ("you divided by 4 but forgot the last 2x2 convolution without padding, which removes one column"
                    if T == W // 4 else "two 2x2 poolings divide the width by 4 and the final 2x2 valid convolution "
                    "removes one column")
            return report("frames_and_longest_label", False, f"W={W}: you said T={T}, expected {want_T}: {hint}")
        if longest != want_T - r:
            hint = ("each repeat needs a blank between its two copies, which costs a frame: S + r <= T"
                    if longest == want_T else "a label of length S needs S frames plus one blank per repeat: S + r <= T")
            return report("frames_and_longest_label", False, f"W={W}, r={r}: you said {longest}, expected {want_T - r}: {hint}")
    return report("frames_and_longest_label", True, "T = W // 4 - 1 and S + r <= T, on all four widths")


def check_concatenate_targets(fn) -> bool:
    """Check ``fn(padded, lengths) -> targets``: torch's 1-D concatenated targets from a padded ``(N, S_max)``
    matrix whose row ``n`` holds ``lengths[n]`` labels followed by padding."""
    cases = [
        (torch.tensor([[3, 1, 0, 0], [2, 2, 5, 4], [7, 0, 0, 0]]), torch.tensor([2, 4, 1])),
        (torch.tensor([[1, 2, 3]]), torch.tensor([3])),
        (torch.tensor([[4, 9, 9], [6, 9, 9]]), torch.tensor([1, 1])),  # padding that is not 0
    ]
    for padded, lengths in cases:
        got, error = attempt(fn, padded.clone(), lengths.clone())
        if error:
            return report("concatenate_targets", False, f"padded {padded.tolist()}: {error}")
        want = torch.cat([row[:n] for row, n in zip(padded, lengths.tolist())])
        got_t = torch.as_tensor(got) if got is not None else None
        if got_t is not None and got_t.shape == want.shape and torch.equal(got_t.long(), want):
            continue
        flat = padded.flatten()
        if got_t is not None and (torch.equal(got_t.long().flatten(), flat) or
                                  (got_t.numel() == want.numel() and torch.equal(got_t.long(), flat[: want.numel()]))):
            hint = ("you flattened the padded matrix: torch reads the 1-D targets as the sequences back to back, so "
                    "the padding of row 0 becomes the labels of row 1; keep only the first lengths[n] entries of each row")
        elif got_t is not None and got_t.dim() == 2:
            hint = "expected one 1-D tensor (all the sequences back to back), got a 2-D one"
        else:
            hint = "take row n's first lengths[n] labels, for every row in order, and concatenate them"
        return report("concatenate_targets", False,
                      f"padded {padded.tolist()}, lengths {lengths.tolist()}: expected {want.tolist()}, "
                      f"got {got_t.tolist() if got_t is not None else got!r}: {hint}")
    return report("concatenate_targets", True, "the targets are each row's labels back to back, padding dropped")
