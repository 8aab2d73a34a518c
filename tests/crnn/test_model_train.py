import json
from dataclasses import replace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.crnn import CONFIGS, CRNN, CRNNConfig, count_parameters, greedy_decode_batch, output_length
from workbench.crnn import train as T


@pytest.mark.parametrize("width", [8, 64, 100, 192])
def test_output_frames_follow_the_stride(width):
    model = CRNN("tiny").eval()
    out = model(torch.rand(2, 1, 32, width))
    assert out.shape == (output_length(width), 2, len(CONFIGS["tiny"].charset) + 1)
    assert torch.allclose(out.exp().sum(-1), torch.ones(out.shape[:2]), atol=1e-5)


def test_paper_config_matches_table_1():
    model = CRNN("paper")
    convs = [m for m in model.cnn if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 256, 512, 512, 512]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.cnn) == 2
    pools = [m.kernel_size for m in model.cnn if isinstance(m, torch.nn.MaxPool2d)]
    assert pools == [2, 2, (2, 1), (2, 1)]
    assert [m.rnn.hidden_size for m in model.rnn] == [256, 256]
    counts = count_parameters(model)
    assert counts["total"] == sum(p.numel() for p in model.parameters()) and 8e6 < counts["total"] < 9e6


def test_config_round_trip_and_errors():
    cfg = CONFIGS["small"]
    assert CRNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="config"):
        CRNN("huge")
    with pytest.raises(ValueError, match=r"images: expected shape \(N, 1, 32, W\)"):
        CRNN("tiny")(torch.rand(1, 3, 32, 64))


def test_greedy_decode_collapses_repeats_and_blanks():
    # path: a a - a b b -  -> "aab"
    path = [11, 11, 0, 11, 12, 12, 0]
    lp = torch.full((len(path), 1, len(CONFIGS["tiny"].charset) + 1), -20.0)
    lp[torch.arange(len(path)), 0, torch.tensor(path)] = 0.0
    assert greedy_decode_batch(lp) == ["aab"]
    assert greedy_decode_batch(lp, lengths=[3]) == ["a"]


def test_schedule_and_curriculum():
    assert T.lr_at(0.0, 1.0) == pytest.approx(0.1)
    assert T.lr_at(0.04, 1.0) == pytest.approx(1.0)
    assert T.lr_at(1.0, 1.0) == pytest.approx(0.02)
    lrs = [T.lr_at(p, 1.0) for p in np.linspace(0.05, 1, 20)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))
    cfg = T.PROFILES["full"]
    assert T.curriculum_max_len(0, cfg) == cfg.curriculum_start_len
    assert T.curriculum_max_len(0.5, cfg) == cfg.max_len


def test_training_batches_are_seeded_and_within_limits():
    cfg = replace(T.PROFILES["quick"], batch_size=4)
    a = T.make_training_batches(3, cfg, max_len=6)
    b = T.make_training_batches(3, cfg, max_len=6)
    assert [x[4] for x in a] == [x[4] for x in b]
    assert all(torch.equal(x[0], y[0]) for x, y in zip(a, b))
    for images, targets, lengths, widths, labels in a:
        assert images.shape[3] <= cfg.max_width and all(len(s) <= 6 for s in labels)
        assert (T.frame_lengths(widths, output_length(images.shape[3])) >= 1).all()


def test_one_step_reduces_loss_on_a_fixed_batch():
    torch.manual_seed(0)
    cfg = replace(T.PROFILES["quick"], batch_size=8)
    images, targets, lengths, widths, _ = T.make_training_batches(0, cfg, max_len=4)[0]
    model = CRNN("tiny")
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(15):
        loss, log_probs, input_lengths = T.ctc_step_loss(model, images, targets, lengths, widths)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]
    # the loss is the native one on the lengths the stride gives
    ref = F.ctc_loss(log_probs, targets, input_lengths, lengths, zero_infinity=True)
    assert float(ref) == pytest.approx(losses[-1], rel=1e-5)


def test_train_checkpoints_resume_and_report(tmp_path):
    cfg = replace(T.PROFILES["quick"], max_steps=4, eval_every=2, val_size=4, batch_size=4, log_every=2)
    logs = []
    history = T.train(cfg, tmp_path, progress=False, log=logs.append)
    assert history["steps"] == 4 and [v["step"] for v in history["val"]] == [2, 4]
    state = torch.load(tmp_path / "best.pt", weights_only=False)
    assert set(state) >= {"state_dict", "model_config", "charset", "metrics", "train_config"}
    assert state["charset"] == CONFIGS["tiny"].charset
    resumed = T.train(replace(cfg, max_steps=6), tmp_path, resume=True, progress=False, log=logs.append)
    assert resumed["steps"] == 6 and any("resumed from step 4" in m for m in logs)
    metrics = T.write_report(resumed, tmp_path, "python -m workbench.crnn.train --profile quick")
    assert (tmp_path / "training_curves.png").stat().st_size > 1000
    assert json.loads((tmp_path / "metrics.json").read_text())["steps"] == 6 == metrics["steps"]


def test_time_budget_stops_cleanly(tmp_path):
    cfg = replace(T.PROFILES["quick"], max_steps=10_000, max_minutes=1e-9, val_size=2)
    history = T.train(cfg, tmp_path, progress=False, log=lambda m: None)
    assert history["steps"] == 0 and (tmp_path / "best.pt").exists()
    with pytest.raises(ValueError, match="max_minutes"):
        T.train(replace(cfg, max_minutes=0), tmp_path, progress=False)


def test_cli_main_runs_and_ships(tmp_path):
    rc = T.main(["--profile", "quick", "--out", str(tmp_path / "run"), "--steps", "2", "--eval-every", "2",
                 "--val-size", "2", "--ship", str(tmp_path / "ship")])
    assert rc == 0
    assert (tmp_path / "ship" / "crnn_printed.pt").exists()
    assert "--steps 2" in (tmp_path / "ship" / "crnn_printed_command.txt").read_text()


@pytest.mark.parametrize("frame", [0, 5, 20])
def test_receptive_field_matches_the_gradient(frame):
    from workbench.crnn import receptive_field

    model = CRNN("tiny").eval()
    rf = receptive_field(model)
    assert rf == {"size": 46.0, "jump": 4.0, "first_center": 3.5}
    x = torch.rand(1, 1, 32, 128, requires_grad=True)
    model.cnn(x)[0, :, 0, frame].sum().backward()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero().ravel()
    center = rf["first_center"] + frame * rf["jump"]
    lo, hi = max(0, center - rf["size"] / 2 + 0.5), min(127, center + rf["size"] / 2 - 0.5)
    assert (int(cols.min()), int(cols.max())) == (lo, hi)
    with pytest.raises(ValueError, match="axis"):
        receptive_field(model, axis=2)


def test_rnn_init_options_and_old_checkpoints():
    old = CONFIGS["small"].to_dict()
    old.pop("rnn_init")
    assert CRNNConfig.from_dict(old).rnn_init == "torch"  # checkpoints written before the option
    tiny = CRNN("tiny")
    h = CONFIGS["tiny"].hidden
    assert torch.all(tiny.rnn[0].rnn.bias_ih_l0[h : 2 * h] == 1) and torch.all(tiny.rnn[0].rnn.bias_hh_l0 == 0)
    with pytest.raises(ValueError, match="rnn_init"):
        CRNN(replace(CONFIGS["tiny"], rnn_init="glorot"))
