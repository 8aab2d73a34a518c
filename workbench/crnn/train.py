"""Training loop for the CRNN on synthetic text lines, with a time budget, validation and resume.

Run ``python -m workbench.crnn.train --profile full --out DIR`` (also ``workbench crnn train``).
Every step renders a fresh batch from a generator seeded by ``(seed, step)``, so a run is
reproducible step for step and a resumed run continues exactly where it stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from workbench.crnn._charset import label_to_array
from workbench.crnn._data import TextLineDataset, collate_lines
from workbench.crnn._metrics import character_error_rate, greedy_decode_batch, sequence_accuracy
from workbench.crnn._preprocess import prepare_line
from workbench.crnn._render import SEEN_FONTS, UNSEEN_FONTS, RenderConfig, render_line
from workbench.crnn._corpus import random_text
from workbench.crnn.model import CRNN, count_parameters, get_config

# Validation sets use seeds far from the training stream's (seed, step) pairs.
VAL_SEED_SEEN, VAL_SEED_UNSEEN = 1_000_003, 2_000_003


@dataclass
class TrainConfig:
    """Everything a run depends on; printed at the start and stored in every checkpoint."""

    model: str = "small"
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-5
    max_steps: int = 100_000
    max_minutes: float | None = None
    eval_every: int = 500
    val_size: int = 500
    max_width: int = 1024  # a longer rendered line is redrawn with another text, never squashed
    max_len: int = 20
    curriculum_start_len: int = 4
    curriculum_until: float = 0.3
    grad_clip: float = 5.0
    seed: int = 0
    threads: int = 1
    device: str = "auto"
    log_every: int = 50
    # "matplotlib": DejaVu/STIX (seen) and Computer Modern (unseen), on every machine; "debian": the
    # training and held-out families of workbench.crnn._fonts (the Debian font packages).
    font_set: str = "matplotlib"
    augment: bool = True
    init: str | None = None  # warm start: copy matching weights from this checkpoint (by character)
    n_bucket: int = 8  # batches rendered at once and cut by width (bucketing keeps padding small)
    # bfloat16 autocast of the forward pass (weights and the CTC loss stay float32): about 1.7x faster on
    # CPUs with AVX512-BF16, measured on this project's 2-core machines.
    bf16: bool = False


PROFILES = {
    # quick: a tiny model for about a minute on CPU (the notebook and smoke tests).
    "quick": TrainConfig(model="tiny", batch_size=16, lr=4e-3, max_steps=800, eval_every=200,
                         val_size=100, max_width=256, max_len=6, curriculum_start_len=3, log_every=25,
                         n_bucket=4),
    # full: the shipped `small` model on the Debian font families, lines of up to 48 characters.
    "full": TrainConfig(model="small", batch_size=32, lr=1e-3, max_steps=10_000, eval_every=500,
                        val_size=400, max_width=1024, max_len=48, curriculum_start_len=16,
                        curriculum_until=0.1, log_every=50, font_set="debian", bf16=True),
}  # fmt: skip


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def lr_at(progress: float, base_lr: float, warmup: float = 0.04, floor: float = 0.02) -> float:
    """One-cycle shape over training progress in [0, 1]: linear warm-up, then cosine decay to ``floor``·lr."""
    if progress < warmup:
        return base_lr * (0.1 + 0.9 * progress / warmup)
    q = min(1.0, (progress - warmup) / (1 - warmup))
    return base_lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * q)))


def curriculum_max_len(progress: float, cfg: TrainConfig) -> int:
    """Longest string at this point: grows linearly from ``curriculum_start_len`` to ``max_len``."""
    if cfg.curriculum_until <= 0:
        return cfg.max_len
    f = min(1.0, progress / cfg.curriculum_until)
    return int(round(cfg.curriculum_start_len + f * (cfg.max_len - cfg.curriculum_start_len)))


def font_sets(cfg: TrainConfig) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training fonts, held-out fonts) of ``cfg.font_set``."""
    if cfg.font_set == "matplotlib":
        return SEEN_FONTS, UNSEEN_FONTS
    if cfg.font_set == "debian":
        from workbench.crnn._fonts import heldout_fonts, train_fonts

        train_f, held = train_fonts(), heldout_fonts()
        if not train_f or not held:
            raise ValueError("font_set 'debian': the Debian font packages are missing; run `make setup-train`")
        return train_f, held
    raise ValueError(f"font_set: expected 'matplotlib' or 'debian', got {cfg.font_set!r}")


def make_training_batches(step: int, cfg: TrainConfig, max_len: int, n_batches: int | None = None):
    """Render ``n_batches`` batches from the generator seeded by ``(seed, step)``, grouped by width.

    Every line goes through the same :func:`prepare_line` as the Recognizer's input (with jittered
    crop margins). Sorting several batches' worth of lines by width before cutting them into batches keeps
    padding (wasted convolution) small. A fifth of the batches get a random constant padding value
    instead of each line's background, so the model learns to ignore what lies beyond the content.
    """
    n_batches = n_batches or cfg.n_bucket
    fonts = font_sets(cfg)[0]
    rng = np.random.default_rng([cfg.seed, step])
    items = []
    while len(items) < cfg.batch_size * n_batches:
        text = random_text(rng, max_len=max_len)
        font = fonts[int(rng.integers(len(fonts)))]
        line = prepare_line(render_line(text, font, rng, RenderConfig(), augment=cfg.augment), rng=rng)
        if line.shape[1] > cfg.max_width:
            continue  # never squash: draw another line instead
        items.append((torch.from_numpy(line.astype(np.float32) / 255.0)[None],
                      torch.from_numpy(label_to_array(text)), text))
    items.sort(key=lambda it: it[0].shape[-1])
    batches = []
    for b in range(n_batches):
        chunk = items[b * cfg.batch_size : (b + 1) * cfg.batch_size]
        pad = float(rng.choice([0.0, 1.0, rng.random()])) if rng.random() < 0.2 else None
        batches.append(collate_lines(chunk, pad_value=pad))
    order = rng.permutation(n_batches)
    return [batches[i] for i in order]


def frame_lengths(widths: torch.Tensor, total: int, stride: int = 4) -> torch.Tensor:
    """Frames covering each line's content (``ceil(w / stride)``, at most the T the batch produced);
    ``stride`` is the model's input columns per frame (``CRNNConfig.stride``: 4, or 16 with square pooling)."""
    return torch.clamp((widths + stride - 1) // stride, min=1, max=total).long()


def ctc_step_loss(model, images, targets, target_lengths, widths, bf16: bool = False):
    """Native CTC loss for one batch: log-softmax (T, N, C), input lengths from the conv stride."""
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        log_probs = model(images)
    log_probs = log_probs.float()
    input_lengths = frame_lengths(widths, log_probs.shape[0], model.config.stride)
    loss = F.ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0,
                      reduction="mean", zero_infinity=True)
    return loss, log_probs, input_lengths


@torch.no_grad()
def evaluate(model, dataset, batch_size: int = 64, device=None) -> dict:
    """Sequence accuracy and CER of ``model`` on a :class:`TextLineDataset` (best-path decoding)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    predictions, labels = [], []
    for start in range(0, len(dataset), batch_size):
        batch = [dataset[i] for i in range(start, min(len(dataset), start + batch_size))]
        images, _, _, widths, labs = collate_lines(batch)
        log_probs = model(images.to(device))
        predictions += greedy_decode_batch(log_probs, frame_lengths(widths, log_probs.shape[0], model.config.stride),
                                           model.config.charset)
        labels += labs
    model.train(was_training)
    return {
        "seq_acc": sequence_accuracy(predictions, labels),
        "cer": character_error_rate(predictions, labels),
        "predictions": predictions,
        "labels": labels,
    }


def validation_sets(cfg: TrainConfig) -> dict[str, TextLineDataset]:
    """Fresh lines of up to ``max_len`` characters in the training fonts ("seen", which selects the
    checkpoint) and in the held-out families ("unseen", measured only)."""
    seen, unseen = font_sets(cfg)
    kw = dict(max_len=cfg.max_len, config=RenderConfig(strength=0.5))
    return {
        "seen": TextLineDataset.rendered(cfg.val_size, VAL_SEED_SEEN, seen, **kw),
        "unseen": TextLineDataset.rendered(cfg.val_size, VAL_SEED_UNSEEN, unseen, **kw),
    }


def warm_start(model: CRNN, path) -> str:
    """Copy every tensor of a checkpoint whose name and shape match; map the output layer by character.

    The output rows of characters the old charset has are copied to their new class indices (blank to
    blank); new characters keep their fresh initialization. Returns a one-line summary.
    """
    state = torch.load(path, map_location="cpu", weights_only=True)
    old_sd, old_charset = state["state_dict"], state["charset"]
    new_sd = model.state_dict()
    charset = model.config.charset
    copied = mapped = 0
    for name, tensor in new_sd.items():
        old = old_sd.get(name)
        if old is None:
            continue
        if old.shape == tensor.shape:
            new_sd[name] = old.clone()
            copied += 1
        elif name.startswith("rnn.1.embedding") and old.shape[1:] == tensor.shape[1:]:
            rows = tensor.clone()
            rows[0] = old[0]
            for i, ch in enumerate(charset):
                j = old_charset.find(ch)
                if j >= 0:
                    rows[i + 1] = old[j + 1]
            new_sd[name] = rows
            mapped += 1
    model.load_state_dict(new_sd)
    return f"{copied} tensors copied, {mapped} output tensors mapped by character"


def save_checkpoint(path, model, cfg: TrainConfig, metrics: dict, extra: dict | None = None):
    """State dict + model config + charset + training config + metrics (and resume state in ``extra``)."""
    payload = {
        "state_dict": model.state_dict(),
        "model_config": model.config.to_dict(),
        "charset": model.config.charset,
        "train_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
        "metrics": metrics,
    }
    payload.update(extra or {})
    tmp = Path(str(path) + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)  # never leave a half-written checkpoint behind


def train(cfg: TrainConfig, out_dir, resume: bool = False, progress: bool = True, log=print) -> dict:
    """Train a CRNN per ``cfg``; write ``best.pt``, ``last.pt`` and ``history.json`` into ``out_dir``.

    The learning-rate schedule and the curriculum follow the step count alone, so a run's ``max_steps``
    fixes it; ``max_minutes`` only stops a run early (resume it with ``resume=True`` to finish).
    Returns the history: per-log-step loss/lr and per-eval validation metrics, plus the best metrics.
    """
    if cfg.batch_size < 1 or cfg.max_steps < 1:
        raise ValueError(f"batch_size/max_steps: expected positive ints, got {cfg.batch_size}, {cfg.max_steps}")
    if cfg.max_minutes is not None and cfg.max_minutes <= 0:
        raise ValueError(f"max_minutes: expected a positive budget or None, got {cfg.max_minutes}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    device = pick_device(cfg.device)
    model = CRNN(get_config(cfg.model)).to(device)
    if cfg.init and not (resume and (out / "last.pt").exists()):
        log(f"initialized from {cfg.init}: {warm_start(model, cfg.init)}")
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history = {"train": [], "val": [], "params": count_parameters(model), "config": asdict(cfg)}
    step, elapsed_before, best = 0, 0.0, {"seq_acc_seen": -1.0}
    if resume and (out / "last.pt").exists():
        state = torch.load(out / "last.pt", map_location=device, weights_only=False)
        model.load_state_dict(state["state_dict"])
        opt.load_state_dict(state["optimizer"])
        step, elapsed_before = state["step"], state["elapsed_s"]
        history, best = state["history"], state["best"]
        log(f"resumed from step {step} ({elapsed_before / 60:.1f} min already spent)")
    log(f"device {device}, threads {torch.get_num_threads()}, parameters {history['params']}")
    log(f"config {asdict(cfg)}")
    vals = validation_sets(cfg)
    budget = None if cfg.max_minutes is None else cfg.max_minutes * 60.0
    t0 = time.perf_counter() - elapsed_before
    images_seen = step * cfg.batch_size
    queue: list = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, disable=None, mininterval=10)
    model.train()
    running, running_n = 0.0, 0
    while step < cfg.max_steps:
        elapsed = time.perf_counter() - t0
        frac = step / cfg.max_steps
        if budget is not None:
            if elapsed >= budget:
                log(f"time budget of {cfg.max_minutes} min reached at step {step}")
                break
        if not queue:
            queue = make_training_batches(step, cfg, curriculum_max_len(frac, cfg))
        images, targets, target_lengths, widths, _ = queue.pop()
        lr = lr_at(frac, cfg.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        loss, _, _ = ctc_step_loss(model, images.to(device), targets.to(device),
                                   target_lengths.to(device), widths.to(device), bf16=cfg.bf16)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        images_seen += images.shape[0]
        running += float(loss.detach())
        running_n += 1
        if bar is not None:
            bar.update(1)
        if step % cfg.log_every == 0:
            rec = {"step": step, "loss": running / running_n, "lr": lr,
                   "elapsed_s": time.perf_counter() - t0, "max_len": curriculum_max_len(frac, cfg)}
            history["train"].append(rec)
            running, running_n = 0.0, 0
            log(f"step {step} loss {rec['loss']:.4f} lr {lr:.2e} max_len {rec['max_len']} "
                f"{rec['elapsed_s'] / 60:.1f} min")
        if step % cfg.eval_every == 0 or step == cfg.max_steps:
            best = _validate(model, vals, cfg, step, t0, images_seen, history, best, out, opt, log)
    if not history["val"] or history["val"][-1]["step"] != step:
        best = _validate(model, vals, cfg, step, t0, images_seen, history, best, out, opt, log)
    if bar is not None:
        bar.close()
    history["best"] = best
    history["steps"] = step
    history["images_seen"] = images_seen
    history["elapsed_s"] = time.perf_counter() - t0
    (out / "history.json").write_text(json.dumps(history, indent=1, default=str))
    return history


def _validate(model, vals, cfg, step, t0, images_seen, history, best, out, opt, log):
    res = {name: evaluate(model, ds) for name, ds in vals.items()}
    rec = {"step": step, "elapsed_s": time.perf_counter() - t0, "images_seen": images_seen}
    for name, r in res.items():
        rec[f"seq_acc_{name}"], rec[f"cer_{name}"] = r["seq_acc"], r["cer"]
    history["val"].append(rec)
    log(f"val step {step}: seen acc {rec['seq_acc_seen']:.4f} cer {rec['cer_seen']:.4f} | "
        f"unseen acc {rec['seq_acc_unseen']:.4f} cer {rec['cer_unseen']:.4f}")
    # Model selection on the seen-font set only: the unseen fonts stay a true held-out measurement.
    # Ties in accuracy (early on, all zero) go to the lower character error rate.
    if (rec["seq_acc_seen"], -rec["cer_seen"]) > (best["seq_acc_seen"], -best.get("cer_seen", 2.0)):
        best = dict(rec)
        save_checkpoint(out / "best.pt", model, cfg, best)
    save_checkpoint(out / "last.pt", model, cfg, rec,
                    {"optimizer": opt.state_dict(), "step": step, "elapsed_s": rec["elapsed_s"],
                     "history": history, "best": best})
    return best


def write_report(history: dict, out_dir, command: str) -> dict:
    """Training report beside the checkpoint: curves PNG, metrics JSON, the exact command."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    tr, va = history["train"], history["val"]
    axes[0].plot([r["step"] for r in tr], [r["loss"] for r in tr])
    axes[0].set(xlabel="step", ylabel="CTC loss (mean per target char)", yscale="log", title="training loss")
    for key, ax in (("seq_acc", axes[1]), ("cer", axes[2])):
        for name in ("seen", "unseen"):
            ax.plot([r["step"] for r in va], [r[f"{key}_{name}"] for r in va], marker="o", ms=3,
                    label=f"{name} fonts")
        ax.set(xlabel="step", title=f"validation {key}")
        ax.legend()
    axes[1].set_ylim(0, 1)
    axes[2].set_yscale("log")
    fig.tight_layout()
    fig.savefig(out / "training_curves.png", dpi=100)
    plt.close(fig)
    metrics = {
        "best": history.get("best"),
        "final": va[-1] if va else None,
        "steps": history.get("steps"),
        "images_seen": history.get("images_seen"),
        "elapsed_s": history.get("elapsed_s"),
        "params": history.get("params"),
        "config": history.get("config"),
        "command": command,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch": torch.__version__,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, default=str))
    (out / "command.txt").write_text(command + "\n")
    return metrics


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``python -m workbench.crnn.train`` (shared with ``workbench crnn train``)."""
    from workbench.crnn.cli import add_train_arguments

    p = parser or argparse.ArgumentParser(prog="python -m workbench.crnn.train", description=__doc__)
    add_train_arguments(p)
    return p


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    cfg = PROFILES[args.profile]
    overrides = {k: getattr(args, k) for k in ("model", "max_steps", "max_minutes", "batch_size", "lr",
                                                 "eval_every", "val_size", "seed", "threads", "device",
                                                 "init", "font_set")
                 if getattr(args, k) is not None}
    cfg = replace(cfg, **overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    logfile = open(out / "train.log", "a", encoding="utf-8")

    def log(msg):
        line = f"[{time.strftime('%H:%M:%S')}] {msg}"
        print(line, flush=True)
        logfile.write(line + "\n")
        logfile.flush()

    command = "python -m workbench.crnn.train " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    history = train(cfg, out, resume=args.resume, log=log)
    metrics = write_report(history, out, command)
    log(f"best {metrics['best']}")
    if args.ship:
        ship_checkpoint(out, args.ship)
        log(f"shipped to {args.ship}")
    logfile.close()
    return 0


def ship_checkpoint(run_dir, dest, name: str = "crnn_printed") -> Path:
    """Copy ``best.pt`` (without resume state) and the training report from ``run_dir`` to ``dest``."""
    import shutil

    run_dir, dest = Path(run_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    state = torch.load(run_dir / "best.pt", map_location="cpu", weights_only=False)
    state["state_dict"] = {k: v.cpu() for k, v in state["state_dict"].items()}
    target = dest / f"{name}.pt"
    torch.save(state, target)
    for extra in ("training_curves.png", "metrics.json", "command.txt", "train.log"):
        if (run_dir / extra).exists():
            shutil.copy(run_dir / extra, dest / f"{name}_{extra}")
    return target


if __name__ == "__main__":
    sys.exit(main())
