"""The study notes' open questions about the CRNN, answered by small experiments on a tiny synthetic task.

Each experiment trains a few small CRNNs (about 0.14 M parameters) that differ in one thing only, on short
strings over a tiny charset rendered in matplotlib's DejaVu faces, so that a full run takes a few CPU
minutes and a quick run seconds::

    python -m workbench.crnn.ablations --full --out datasets/crnn/ablations     # every experiment
    python -m workbench.crnn.ablations --only pooling optimizer --out DIR       # quick mode, two of them

Every experiment writes ``DIR/<name>.json`` (its question, its variants' curves and final metrics, the seed
and the exact command) and ``DIR/<name>.png``. The experiments:

- ``recurrent``: plain RNN vs LSTM vs BiLSTM vs deep (2-layer) BiLSTM;
- ``batch_norm``: no batch norm vs the paper's (after conv 5 and 6) vs after every conv layer;
- ``pooling``: the paper's height-only "1x2" pooling vs square 2x2 pooling, on narrow glyphs (``i l 1 I``);
- ``map_to_sequence``: squeezing a height-1 feature map vs a learned projection of the flattened height;
- ``optimizer``: Adadelta (rho 0.9, as in the paper) vs Adam;
- ``padding``: black vs background padding of a fixed-width ``resize_image`` when the loss reads all frames;
- ``normalization``: fixed scaling vs per-image min-max vs per-image mean/std, under varied contrast;
- ``width``: the longest label a width can hold: a CTC feasibility sweep (exact) and, in full mode,
  models trained on lines squeezed to a fixed width, with accuracy per label length.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.crnn._charset import label_to_array
from workbench.crnn._data import resize_image
from workbench.crnn._metrics import character_error_rate, greedy_decode_batch, sequence_accuracy
from workbench.crnn._preprocess import prepare_line
from workbench.crnn._render import RenderConfig, render_line
from workbench.crnn.model import CRNN, CRNNConfig, output_length

#: Glyphs one or two strokes wide, the case for height-only pooling.
NARROW_GLYPHS = "il1I"


@dataclass(frozen=True)
class Task:
    """A tiny recognition task: random strings over ``charset`` rendered in a few fonts, lightly augmented."""

    charset: str = "0123456789"
    min_len: int = 1
    max_len: int = 5
    fonts: tuple[str, ...] = ("DejaVuSans", "DejaVuSerif", "DejaVuSansMono")
    strength: float = 0.3  # RenderConfig.strength: 0 clean, 1 the full training mixture
    contrast: bool = False  # random ink/background levels after rendering (the normalization experiment)

    def __post_init__(self):
        if not self.charset or self.min_len < 1 or self.max_len < self.min_len:
            raise ValueError(f"task: expected a charset and 1 <= min_len <= max_len, got {self!r}")


#: The model every experiment starts from (and changes one field of).
BASE_MODEL = dict(channels=(8, 16, 32, 32, 48, 48, 48), hidden=48, batch_norm=(0, 1, 2, 3, 4, 5), rnn_init="xavier")


def model_config(task: Task, **changes) -> CRNNConfig:
    """The ablation model for ``task``'s charset, with ``changes`` applied."""
    return CRNNConfig(**{**BASE_MODEL, "charset": task.charset, **changes})


def render_task(task: Task, n: int, seed: int) -> list[tuple[np.ndarray, str]]:
    """``n`` seeded ``(image, label)`` pairs: uint8 (32, w) lines through the Recognizer's ``prepare_line``."""
    rng = np.random.default_rng(seed)
    config = RenderConfig(strength=task.strength)
    out = []
    for _ in range(n):
        length = int(rng.integers(task.min_len, task.max_len + 1))
        label = "".join(rng.choice(list(task.charset), length))
        font = task.fonts[int(rng.integers(len(task.fonts)))]
        image = prepare_line(render_line(label, font, rng, config, augment=task.strength > 0))
        if task.contrast:
            # Ink and paper anywhere between a faint grey-on-grey and full black-on-white.
            lo, hi = float(rng.uniform(0, 140)), float(rng.uniform(150, 255))
            lo, hi = (lo, hi) if hi - lo > 25 else (lo, lo + 25)
            image = (lo + (hi - lo) * (image.astype(np.float32) / 255.0)).astype(np.uint8)
        out.append((image, label))
    return out


def normalize(image: np.ndarray, how: str = "fixed") -> np.ndarray:
    """A uint8 line as float32 in about [0, 1]: ``fixed`` (/255), per-image ``minmax``, or per-image ``mean``
    (zero mean, unit variance, shifted to centre 0.5 so the model's own (x - 0.5)/0.5 keeps it centred)."""
    x = image.astype(np.float32)
    if how == "fixed":
        return x / 255.0
    if how == "minmax":
        lo, hi = float(x.min()), float(x.max())
        return (x - lo) / max(hi - lo, 1.0)
    if how == "mean":
        return 0.5 + 0.25 * (x - float(x.mean())) / max(float(x.std()), 1.0)
    raise ValueError(f"normalization: expected 'fixed', 'minmax' or 'mean', got {how!r}")


def make_batch(items, charset: str, stride: int = 4, normalization: str = "fixed", pad_value: float | None = None):
    """Stack ``(image, label)`` pairs, right-padded to the widest (a multiple of ``stride``, at least two
    frames' worth) with each line's background (``pad_value=None``) or a constant.

    Returns ``images (N, 1, 32, W)``, concatenated ``targets``, ``target_lengths``, content ``widths``, labels.
    """
    arrays = [normalize(img, normalization) for img, _ in items]
    widths = [a.shape[1] for a in arrays]
    width = _padded(max(widths), stride)
    images = torch.empty(len(items), 1, 32, width)
    for k, a in enumerate(arrays):
        images[k].fill_(float(np.median(a[:, -1])) if pad_value is None else pad_value)
        images[k, 0, :, : a.shape[1]] = torch.from_numpy(a)
    targets = [torch.from_numpy(label_to_array(lab, charset)) for _, lab in items]
    return (images, torch.cat(targets), torch.tensor([len(t) for t in targets]), torch.tensor(widths),
            [lab for _, lab in items])


def content_frames(widths: torch.Tensor, stride: int, total: int) -> torch.Tensor:
    """Frames over each line's content, ``ceil(w / stride)``, between 1 and the ``total`` the batch produced
    (the training loop's own rule, :func:`workbench.crnn.train.frame_lengths`)."""
    from workbench.crnn.train import frame_lengths

    return frame_lengths(widths, total, stride)


def train_step(model, opt, batch, frames: str = "content", clip: float = 5.0) -> float:
    """One optimizer step: forward, CTC loss over the content frames (or ``"all"`` frames), backward,
    gradient clipping, step. Returns the loss."""
    images, targets, target_lengths, widths, _ = batch
    log_probs = model(images)  # (T, N, C)
    T = log_probs.shape[0]
    if frames == "all":
        input_lengths = torch.full((images.shape[0],), T, dtype=torch.long)
    else:
        input_lengths = content_frames(widths, model.config.stride, T)
    loss = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
                      zero_infinity=True)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    opt.step()
    return float(loss.detach())


@torch.no_grad()
def evaluate(model, items, frames: str = "content", normalization: str = "fixed", pad_value=None,
             batch_size: int = 100) -> dict:
    """Best-path sequence accuracy and CER on ``(image, label)`` pairs, plus the transcriptions."""
    was_training = model.training
    model.eval()
    preds, labels = [], []
    for start in range(0, len(items), batch_size):
        images, _, _, widths, labs = make_batch(items[start : start + batch_size], model.config.charset,
                                                model.config.stride, normalization, pad_value)
        lp = model(images)
        lengths = None if frames == "all" else content_frames(widths, model.config.stride, lp.shape[0])
        preds += greedy_decode_batch(lp, lengths, model.config.charset)
        labels += labs
    model.train(was_training)
    return {"seq_acc": sequence_accuracy(preds, labels), "cer": character_error_rate(preds, labels),
            "predictions": preds, "labels": labels}


@dataclass
class FitConfig:
    """How one variant is trained (every variant of an experiment shares it but for the field it varies)."""

    steps: int = 300
    batch_size: int = 32
    optimizer: str = "adam"  # "adam" or "adadelta"
    lr: float = 5e-3  # Adam's; Adadelta uses lr 1.0 (its own scale) with rho 0.9
    seed: int = 0
    eval_every: int = 50
    frames: str = "content"
    normalization: str = "fixed"
    pad_value: float | None = None


def make_optimizer(model, fit: FitConfig):
    """Adam, or Adadelta with rho = 0.9 (the paper's setting; it needs no learning rate of its own)."""
    if fit.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=fit.lr)
    if fit.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.9)
    raise ValueError(f"optimizer: expected 'adam' or 'adadelta', got {fit.optimizer!r}")


def fit(model_cfg: CRNNConfig, train_items, val_items, fit_cfg: FitConfig) -> dict:
    """Train one variant; its loss per step and validation accuracy/CER every ``eval_every`` steps."""
    torch.manual_seed(fit_cfg.seed)
    model = CRNN(model_cfg)
    opt = make_optimizer(model, fit_cfg)
    rng = np.random.default_rng([fit_cfg.seed, 1])
    order: list[int] = []
    history = {"loss": [], "val": [], "params": sum(p.numel() for p in model.parameters())}
    t0 = time.perf_counter()
    model.train()
    for step in range(1, fit_cfg.steps + 1):
        if len(order) < fit_cfg.batch_size:
            order += rng.permutation(len(train_items)).tolist()
        idx, order = order[: fit_cfg.batch_size], order[fit_cfg.batch_size :]
        batch = make_batch([train_items[i] for i in idx], model_cfg.charset, model_cfg.stride,
                           fit_cfg.normalization, fit_cfg.pad_value)
        history["loss"].append(train_step(model, opt, batch, fit_cfg.frames))
        if step % fit_cfg.eval_every == 0 or step == fit_cfg.steps:
            res = evaluate(model, val_items, fit_cfg.frames, fit_cfg.normalization, fit_cfg.pad_value)
            history["val"].append({"step": step, "seq_acc": res["seq_acc"], "cer": res["cer"]})
    final = evaluate(model, val_items, fit_cfg.frames, fit_cfg.normalization, fit_cfg.pad_value)
    history["final"] = {"seq_acc": final["seq_acc"], "cer": final["cer"]}
    history["examples"] = list(zip(final["labels"][:8], final["predictions"][:8]))
    history["seconds"] = time.perf_counter() - t0
    history["model"] = model
    return history


# ----------------------------------------------------------------------------------------------------------
# The experiments. Each returns {"question", "variants": {name: history}, ...}; run_experiment adds the rest.


@dataclass(frozen=True)
class Budget:
    """Sizes of one run: quick (seconds, for tests and the notebook) or full (minutes, the saved results)."""

    steps: int
    n_train: int
    n_val: int
    eval_every: int

    @classmethod
    def of(cls, full: bool) -> "Budget":
        return cls(steps=500, n_train=2000, n_val=300, eval_every=50) if full else \
            cls(steps=12, n_train=96, n_val=24, eval_every=6)


def _data(task: Task, budget: Budget, seed: int):
    return render_task(task, budget.n_train, seed), render_task(task, budget.n_val, seed + 7_919)


def _variants(task: Task, budget: Budget, seed: int, models: dict, fits: dict | None = None) -> dict:
    train_items, val_items = _data(task, budget, seed)
    base = FitConfig(steps=budget.steps, seed=seed, eval_every=budget.eval_every)
    out = {}
    for name, changes in models.items():
        out[name] = fit(model_config(task, **changes), train_items, val_items, replace(base, **(fits or {}).get(name, {})))
    return out


def exp_recurrent(full: bool, seed: int) -> dict:
    task = Task(max_len=6)
    models = {"plain RNN": dict(rnn="rnn", bidirectional=False, rnn_layers=1),
              "LSTM": dict(bidirectional=False, rnn_layers=1),
              "BiLSTM": dict(rnn_layers=1),
              "deep BiLSTM (paper)": dict()}
    return {"question": "Does the recurrent part need to be an LSTM, bidirectional, and two layers deep?",
            "task": task, "variants": _variants(task, Budget.of(full), seed, models)}


def exp_batch_norm(full: bool, seed: int) -> dict:
    task = Task()
    models = {"no batch norm": dict(batch_norm=()), "paper (after conv 5, 6)": dict(batch_norm=(4, 5)),
              "after every conv": dict()}
    return {"question": "How much does batch norm speed up convergence?", "task": task,
            "variants": _variants(task, Budget.of(full), seed, models)}


def exp_pooling(full: bool, seed: int) -> dict:
    task = Task(charset=NARROW_GLYPHS, min_len=2, max_len=8)
    budget = Budget.of(full)
    variants = _variants(task, budget, seed, {"1x2 (paper)": dict(), "square 2x2": dict(pooling="square")})
    _, val_items = _data(task, budget, seed)
    feasible = {}
    for name, hist in variants.items():
        stride = hist["model"].config.stride
        ok = [len(lab) + _repeats(lab) <= output_length(_padded(img.shape[1], stride), hist["model"].config)
              for img, lab in val_items]
        feasible[name] = float(np.mean(ok))
    return {"question": "Why height-only pooling? Do narrow glyphs (i l 1 I) still get enough frames with square pooling?",
            "task": task, "variants": variants, "labels_with_enough_frames": feasible}


def _repeats(label: str) -> int:
    return sum(a == b for a, b in zip(label, label[1:]))


def _padded(width: int, stride: int) -> int:
    return max(2 * stride, int(np.ceil(width / stride) * stride))


def exp_map_to_sequence(full: bool, seed: int) -> dict:
    task = Task()
    models = {"squeeze (paper)": dict(), "learned projection": dict(map_to_sequence="project")}
    return {"question": "Map-to-sequence: squeeze a height-1 map, or project the flattened height with a learned layer?",
            "task": task, "variants": _variants(task, Budget.of(full), seed, models)}


def exp_optimizer(full: bool, seed: int) -> dict:
    task = Task()
    models = {"Adadelta, rho 0.9 (paper)": dict(), "Adam, lr 5e-3": dict()}
    fits = {"Adadelta, rho 0.9 (paper)": dict(optimizer="adadelta")}
    return {"question": "Adadelta, as in the paper, or Adam?", "task": task,
            "variants": _variants(task, Budget.of(full), seed, models, fits)}


def fixed_width(items, width: int, pad_value: int | None):
    """Lines through ``resize_image`` to one fixed width (squeezed when wider), padded with ``pad_value``."""
    return [(resize_image(img, 32, width, pad_value)[0], lab) for img, lab in items]


def exp_padding(full: bool, seed: int, width: int = 128) -> dict:
    task = Task()
    budget = Budget.of(full)
    train_items, val_items = _data(task, budget, seed)
    base = FitConfig(steps=budget.steps, seed=seed, eval_every=budget.eval_every, frames="all")
    variants, cross = {}, {}
    for name, pad in (("background", None), ("black", 0)):
        tr, va = fixed_width(train_items, width, pad), fixed_width(val_items, width, pad)
        variants[name] = fit(model_config(task), tr, va, base)
    for name, pad in (("background", None), ("black", 0)):
        other = fixed_width(val_items, width, 0 if pad is None else None)
        cross[f"trained {name}, read with the other padding"] = evaluate(variants[name]["model"], other, "all")["seq_acc"]
    return {"question": f"resize_image to a fixed width {width}: pad with black or with the background, when "
                        "the loss and the decoder read all frames (as fixed-width pipelines do)?",
            "task": task, "variants": variants, "cross_padding_seq_acc": cross}


def exp_normalization(full: bool, seed: int) -> dict:
    task = Task(contrast=True)
    models = {"fixed /255": dict(), "min-max per image": dict(), "mean/std per image": dict()}
    fits = {"fixed /255": dict(normalization="fixed"), "min-max per image": dict(normalization="minmax"),
            "mean/std per image": dict(normalization="mean")}
    return {"question": "Normalize input lines by min-max or by mean (and std), when contrast varies?",
            "task": task, "variants": _variants(task, Budget.of(full), seed, models, fits)}


def longest_feasible_label(width: int, repeats: int = 0, config=None) -> int:
    """Longest label whose CTC loss is finite on ``width`` columns, found by trying lengths (no formula used):
    the labels alternate two classes, with ``repeats`` adjacent equal pairs at the start."""
    T = output_length(width, config)
    if T < 1:
        return 0
    longest = 0
    for S in range(1, T + 2):
        if S < repeats + 1:
            continue
        label = [1] * (repeats + 1) + [2 if k % 2 == 0 else 1 for k in range(S - repeats - 1)]
        log_probs = torch.full((T, 1, 3), float(np.log(1 / 3)))
        loss = F.ctc_loss(log_probs, torch.tensor([label]), torch.tensor([T]), torch.tensor([S]),
                          reduction="sum", zero_infinity=False)
        if torch.isfinite(loss):
            longest = S
    return longest


def exp_width(full: bool, seed: int) -> dict:
    sweep = {str(w): {str(r): longest_feasible_label(w, r) for r in (0, 1, 3)} for w in range(8, 132, 4)}
    out = {"question": "How long a label can a line of width W hold?", "feasibility": sweep, "variants": {}}
    if full:
        task = Task(min_len=1, max_len=12)
        budget = Budget.of(True)
        train_items, val_items = _data(task, budget, seed)
        per_length = {}
        for width in (32, 48, 64):
            tr, va = fixed_width(train_items, width, None), fixed_width(val_items, width, None)
            hist = fit(model_config(task), tr, va, FitConfig(steps=budget.steps, seed=seed, eval_every=budget.eval_every))
            res = evaluate(hist["model"], va)
            per_length[str(width)] = {
                str(n): float(np.mean([p == lab for p, lab in zip(res["predictions"], res["labels"]) if len(lab) == n]))
                for n in range(1, 13) if any(len(lab) == n for lab in res["labels"])}
            out["variants"][f"squeezed to width {width} (T = {output_length(width)})"] = hist
        out["accuracy_by_length"] = per_length
        out["task"] = task
    return out


# ----------------------------------------------------------------------------------------------------------
# What fixed-width TensorFlow implementations do, written out to compare with ours.


def resize_like_belval(gray: np.ndarray, input_width: int, height: int = 32) -> tuple[np.ndarray, int]:
    """Our reading of ``resize_image`` in Belval's TensorFlow CRNN (github.com/Belval/CRNN, ``CRNN/utils.py``),
    rewritten with Pillow: the branch is chosen on the *original* width ``c``.

    - ``c > input_width``: the whole line is resized to ``(height, input_width)``, aspect ratio ignored;
    - otherwise: scaled to ``height`` keeping the aspect ratio, pasted on black (zeros), and every column past
      ``input_width`` is **cut off**: a short but low-resolution line that scales up wider than the input
      loses its end;
    - the second value returned is ``input_width`` in the first case and the original ``c`` (not the scaled
      width) in the second.
    """
    from PIL import Image

    r, c = gray.shape
    if c > input_width:
        return np.asarray(Image.fromarray(gray).resize((input_width, height), Image.BILINEAR), np.uint8), input_width
    scaled = np.asarray(Image.fromarray(gray).resize((max(1, int(c * height / r)), height), Image.BILINEAR), np.uint8)
    out = np.zeros((height, input_width), np.uint8)
    kept = min(input_width, scaled.shape[1])
    out[:, :kept] = scaled[:, :kept]
    return out, c


def sparse_tuple(sequences) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TensorFlow's sparse form of a batch of label sequences, as ``tf.nn.ctc_loss`` takes them:
    ``indices`` (one ``[row, position]`` per label), ``values`` (the labels) and ``dense_shape`` ``[N, S_max]``."""
    indices = [[n, i] for n, seq in enumerate(sequences) for i in range(len(seq))]
    values = [int(v) for seq in sequences for v in seq]
    shape = [len(sequences), max((len(seq) for seq in sequences), default=0)]
    return np.asarray(indices, np.int64).reshape(-1, 2), np.asarray(values, np.int32), np.asarray(shape, np.int64)


def concatenated_targets(sequences) -> tuple[torch.Tensor, torch.Tensor]:
    """``torch.nn.functional.ctc_loss``'s 1-D form: every label of every sequence back to back, plus lengths."""
    lengths = torch.tensor([len(seq) for seq in sequences], dtype=torch.long)
    flat = [int(v) for seq in sequences for v in seq]
    return torch.tensor(flat, dtype=torch.long), lengths


def padded_targets(sequences, pad: int = 0) -> torch.Tensor:
    """The 2-D form ``(N, S_max)`` torch also accepts: each row a sequence, padded (the padding is never read)."""
    out = torch.full((len(sequences), max(len(s) for s in sequences)), pad, dtype=torch.long)
    for n, seq in enumerate(sequences):
        out[n, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return out


EXPERIMENTS = {
    "recurrent": exp_recurrent,
    "batch_norm": exp_batch_norm,
    "pooling": exp_pooling,
    "map_to_sequence": exp_map_to_sequence,
    "optimizer": exp_optimizer,
    "padding": exp_padding,
    "normalization": exp_normalization,
    "width": exp_width,
}


def run_experiment(name: str, full: bool = False, seed: int = 0, out_dir=None, command: str | None = None) -> dict:
    """Run one experiment; return its JSON-ready summary (and write ``<name>.json`` + ``.png`` to ``out_dir``)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment: expected one of {sorted(EXPERIMENTS)}, got {name!r}")
    t0 = time.perf_counter()
    res = EXPERIMENTS[name](full, seed)
    summary = {k: (asdict(v) if isinstance(v, Task) else v) for k, v in res.items() if k != "variants"}
    summary.update(name=name, mode="full" if full else "quick", seed=seed, seconds=time.perf_counter() - t0,
                   budget=asdict(Budget.of(full)), model=BASE_MODEL, fit=asdict(FitConfig()),
                   command=command, torch=torch.__version__, variants={})
    for vname, hist in res["variants"].items():
        summary["variants"][vname] = {k: v for k, v in hist.items() if k != "model"}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(summary, indent=1))
        plot_summary(summary, out / f"{name}.png")
    return summary


def plot_summary(summary: dict, path=None):
    """Loss and validation accuracy per variant (or, for the width sweep, frames and label lengths)."""
    import matplotlib

    if path is not None:
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    if summary["name"] == "width":
        widths = [int(w) for w in summary["feasibility"]]
        for r in ("0", "1", "3"):
            axes[0].plot(widths, [summary["feasibility"][str(w)][r] for w in widths], "o-", ms=3, label=f"{r} repeats")
        axes[0].plot(widths, [output_length(w) for w in widths], "k:", label="T = W//4 - 1")
        axes[0].set(xlabel="width W", ylabel="longest label with finite CTC loss", title="feasibility sweep")
        axes[0].legend(fontsize=8)
        for w, accs in summary.get("accuracy_by_length", {}).items():
            axes[1].plot([int(n) for n in accs], list(accs.values()), "o-", ms=3, label=f"width {w}, T = {output_length(int(w))}")
        axes[1].set(xlabel="label length", ylabel="sequence accuracy", ylim=(-0.02, 1.02), title="trained, squeezed lines")
        if summary.get("accuracy_by_length"):
            axes[1].legend(fontsize=8)
    else:
        for vname, hist in summary["variants"].items():
            loss = np.asarray(hist["loss"])
            k = max(1, len(loss) // 40)
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            axes[0].plot(np.arange(k, len(loss) + 1), smooth, label=vname)
            axes[1].plot([v["step"] for v in hist["val"]], [v["seq_acc"] for v in hist["val"]], "o-", ms=3, label=vname)
        axes[0].set(xlabel="step", ylabel="CTC loss (running mean)", yscale="log", title=summary["name"])
        axes[1].set(xlabel="step", ylabel="validation sequence accuracy", ylim=(-0.02, 1.02))
        axes[0].legend(fontsize=8)
    fig.suptitle(summary["question"], fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=90)
        plt.close(fig)
    return fig


def main(argv=None) -> int:
    """``python -m workbench.crnn.ablations [--full] [--only NAME ...] [--seed N] --out DIR``."""
    p = argparse.ArgumentParser(prog="python -m workbench.crnn.ablations", description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="full mode (minutes per experiment); default quick (seconds)")
    p.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), help="run only these experiments")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machines are shared)")
    p.add_argument("--out", required=True, help="folder for <name>.json and <name>.png")
    args = p.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    command = "python -m workbench.crnn.ablations " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    for name in args.only or EXPERIMENTS:
        s = run_experiment(name, args.full, args.seed, args.out, command)
        finals = {v: h["final"]["seq_acc"] for v, h in s["variants"].items()}
        print(f"{name}: {s['seconds']:.0f} s, final seq acc {finals}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
