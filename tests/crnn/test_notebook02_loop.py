"""Notebook 02 writes its training loop out (d2l style); it must stay the package's loop, step for step."""

from dataclasses import replace
from pathlib import Path

import nbformat
import numpy as np
import torch
import torch.nn.functional as F

from workbench.crnn import CRNN
from workbench.crnn import train as crnn_train

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "02_crnn_training.ipynb"


def notebook_function(name: str):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    [source] = [c.source for c in nb.cells if c.cell_type == "code" and c.source.startswith(f"def {name}(")]
    namespace = {"torch": torch, "F": F, "crnn_train": crnn_train}
    exec(compile(source, f"{NOTEBOOK.name}:{name}", "exec"), namespace)
    return namespace[name]


def test_the_notebooks_loop_gives_the_packages_losses(tmp_path):
    train_loop = notebook_function("train_loop")
    before = torch.get_num_threads()
    try:
        cfg = replace(crnn_train.PROFILES["quick"], max_steps=3, batch_size=4, n_bucket=2, log_every=1, eval_every=3,
                      val_size=2, seed=3, threads=1, device="cpu")
        package = [r["loss"] for r in crnn_train.train(cfg, tmp_path, progress=False, log=lambda m: None)["train"]]
        torch.manual_seed(cfg.seed)
        batches = lambda step: crnn_train.make_training_batches(
            step, cfg, crnn_train.curriculum_max_len(step / cfg.max_steps, cfg))
        ours = train_loop(CRNN(cfg.model), batches, cfg.max_steps, cfg.lr, cfg.weight_decay, cfg.grad_clip)
    finally:
        torch.set_num_threads(before)
    assert len(ours) == len(package) == 3
    np.testing.assert_allclose(ours, package, rtol=1e-5)
    assert ours[0] != ours[-1]  # it did train
