"""CRNN benchmark: training and inference throughput, and the shipped model's accuracy.

Side by side in one run (reported as ratios):
- training images/s of the `small` CRNN with torch's native CTC loss vs `workbench.ctc.ctc_loss`
  (same batches, forward + backward + Adam step), and the renderer's lines/s that feed it;
- inference lines/s of the shipped Recognizer with best path, prefix beam search and lexicon decoding,
  at batch size 64 vs 1;
- sequence accuracy and CER of the shipped model on fresh seen-font and unseen-font (Computer Modern) sets.
CPU always, CUDA too when present. Writes reports/benchmarks/crnn.json and crnn.md.

Defaults take a few minutes on 2 cores; full sizes: --train-steps 50 --infer-lines 1000 --val-size 2000.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from workbench import crnn, ctc  # noqa: E402
from workbench.crnn import train as T  # noqa: E402


def bench_training(device, steps: int, batch_size: int) -> dict:
    cfg = replace(T.PROFILES["full"], batch_size=batch_size, seed=123)
    t0 = time.perf_counter()
    batches = []
    while len(batches) < steps + 2:
        batches += T.make_training_batches(len(batches), cfg, max_len=20)
    render_s = time.perf_counter() - t0
    n_lines = sum(b[0].shape[0] for b in batches)
    out = {"render_lines_per_s": n_lines / render_s}
    for name, loss_fn in (("native", F.ctc_loss), ("workbench.ctc", ctc.ctc_loss)):
        torch.manual_seed(0)
        model = crnn.CRNN("small").to(device).train()
        opt = torch.optim.Adam(model.parameters(), 1e-3)

        def step(b):
            images, targets, lengths, widths, _ = (x.to(device) if torch.is_tensor(x) else x for x in b)
            log_probs = model(images)
            loss = loss_fn(log_probs, targets, T.frame_lengths(widths, log_probs.shape[0]), lengths,
                           blank=0, reduction="mean", zero_infinity=True)
            opt.zero_grad()
            loss.backward()
            opt.step()

        for b in batches[:2]:  # warm-up (allocator, kernels)
            step(b)
        _sync(device)
        t0 = time.perf_counter()
        for b in batches[2:]:
            step(b)
        _sync(device)
        seconds = time.perf_counter() - t0
        out[f"train_images_per_s_{name}"] = sum(b[0].shape[0] for b in batches[2:]) / seconds
    out["ratio_native_over_workbench_ctc"] = out["train_images_per_s_native"] / out["train_images_per_s_workbench.ctc"]
    return out


def bench_inference(rec, lines, lexicon) -> dict:
    out = {}
    tree = ctc.BKTree(lexicon)
    runs = {
        "best_path_batch64": lambda: rec.recognize(lines),
        "best_path_batch1": lambda: [rec.recognize([x])[0] for x in lines[: max(1, len(lines) // 4)]],
        "beam10_batch64": lambda: rec.recognize(lines, beam_width=10),
        "lexicon_batch64": lambda: rec.recognize(lines, lexicon=tree),
    }
    rec.recognize(lines[:4])  # warm-up
    for name, fn in runs.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _sync(rec.device)
            t0 = time.perf_counter()
            n = len(fn())
            _sync(rec.device)
        out[f"{name}_lines_per_s"] = n / (time.perf_counter() - t0)
    base = out["best_path_batch64_lines_per_s"]
    out["ratio_batch64_over_batch1"] = base / out["best_path_batch1_lines_per_s"]
    out["ratio_best_path_over_beam10"] = base / out["beam10_batch64_lines_per_s"]
    out["ratio_best_path_over_lexicon"] = base / out["lexicon_batch64_lines_per_s"]
    return out


def accuracy(rec, val_size: int) -> dict:
    out = {}
    for name, fonts, seed in (("seen", crnn.SEEN_FONTS, 31_000_001), ("unseen", crnn.UNSEEN_FONTS, 32_000_001)):
        samples = crnn.render_samples(val_size, seed=seed, fonts=fonts)
        labels = [t for _, t, _ in samples]
        preds = rec.recognize([img for img, _, _ in samples])
        out[name] = {"lines": val_size, "seq_acc": crnn.sequence_accuracy(preds, labels),
                     "cer": crnn.character_error_rate(preds, labels)}
    return out


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--train-steps", type=int, default=8, help="timed training steps per loss (default 8)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--infer-lines", type=int, default=192, help="lines per inference measurement")
    p.add_argument("--val-size", type=int, default=300, help="lines per accuracy set (seen, unseen)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default=None, help="checkpoint (default: the shipped model)")
    p.add_argument("--out", default=str(ROOT / "reports" / "benchmarks"))
    args = p.parse_args(argv)
    for name in ("train_steps", "batch_size", "infer_lines", "val_size", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')}: expected a positive int, got {getattr(args, name)}")
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    result = {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
              "args": vars(args), "devices": {}}
    model_path = Path(args.model) if args.model else crnn.SHIPPED_MODEL
    lines = [img for img, _, _ in crnn.render_samples(args.infer_lines, seed=41_000_001)]
    for device in devices:
        print(f"[{device}] training throughput ...", flush=True)
        entry = {"training": bench_training(device, args.train_steps, args.batch_size)}
        if model_path.exists():
            rec = crnn.Recognizer.load(model_path, device=device)
            print(f"[{device}] inference throughput ...", flush=True)
            entry["inference"] = bench_inference(rec, lines, crnn.WORDS)
            if device == devices[0]:
                print("accuracy ...", flush=True)
                result["accuracy"] = accuracy(rec, args.val_size)
                result["model"] = {"path": str(model_path.relative_to(ROOT) if model_path.is_relative_to(ROOT) else model_path),
                                   "size_bytes": model_path.stat().st_size,
                                   "params": crnn.count_parameters(rec.model)["total"]}
        result["devices"][device] = entry
    if not model_path.exists():
        result["note"] = f"no checkpoint at {model_path}: inference and accuracy skipped"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "crnn.json").write_text(json.dumps(result, indent=1))
    (out / "crnn.md").write_text(to_markdown(result))
    print(to_markdown(result))
    return 0


def to_markdown(r: dict) -> str:
    lines = ["# CRNN benchmark", "",
             f"torch {r['torch']}, {r['threads']} CPU threads, args `{json.dumps(r['args'])}`", ""]
    for device, e in r["devices"].items():
        t = e["training"]
        lines += [f"## {device}", "", "| measurement | value |", "| --- | --- |",
                  f"| rendering (lines/s, 1 process) | {t['render_lines_per_s']:.0f} |",
                  f"| training, native CTC (images/s) | {t['train_images_per_s_native']:.1f} |",
                  f"| training, workbench.ctc (images/s) | {t['train_images_per_s_workbench.ctc']:.1f} |",
                  f"| ratio native / workbench.ctc | {t['ratio_native_over_workbench_ctc']:.2f}x |"]
        if "inference" in e:
            i = e["inference"]
            lines += [f"| inference best path, batch 64 (lines/s) | {i['best_path_batch64_lines_per_s']:.0f} |",
                      f"| inference best path, batch 1 (lines/s) | {i['best_path_batch1_lines_per_s']:.0f} |",
                      f"| inference beam 10, batch 64 (lines/s) | {i['beam10_batch64_lines_per_s']:.0f} |",
                      f"| inference lexicon, batch 64 (lines/s) | {i['lexicon_batch64_lines_per_s']:.0f} |",
                      f"| ratio batch 64 / batch 1 | {i['ratio_batch64_over_batch1']:.1f}x |",
                      f"| ratio best path / beam 10 | {i['ratio_best_path_over_beam10']:.1f}x |",
                      f"| ratio best path / lexicon | {i['ratio_best_path_over_lexicon']:.1f}x |"]
        lines.append("")
    if "accuracy" in r:
        lines += ["## Shipped model accuracy (best path)", "", f"{r['model']}", "",
                  "| fonts | lines | sequence accuracy | CER |", "| --- | --- | --- | --- |"]
        for name, a in r["accuracy"].items():
            lines.append(f"| {name} | {a['lines']} | {a['seq_acc']:.4f} | {a['cer']:.4f} |")
    if "note" in r:
        lines += ["", r["note"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
