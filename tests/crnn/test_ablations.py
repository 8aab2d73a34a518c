"""The ablation options of the CRNN, the ablation helpers, and notebook 02's exercise checks."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.crnn import CRNN, CRNNConfig, SHIPPED_MODEL, output_length, resize_image
from workbench.crnn import ablations as A
from workbench.crnn.exercises import check_concatenate_targets, check_frames_and_longest_label

@pytest.fixture(autouse=True)
def one_thread():
    # Two threads on two shared cores oversubscribe them: a 3-step fit took 19 s instead of 0.5 s.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = dict(channels=(8, 16, 32, 32, 48, 48, 48), hidden=16, charset="0123456789")


def test_the_defaults_keep_the_shipped_state_dict_layout():
    state = torch.load(SHIPPED_MODEL, map_location="cpu", weights_only=False)
    old = {k: v for k, v in state["model_config"].items()
           if k not in ("rnn", "bidirectional", "rnn_layers", "pooling", "map_to_sequence")}
    model = CRNN(CRNNConfig.from_dict(old))
    model.load_state_dict(state["state_dict"], strict=True)  # no missing, no unexpected keys
    cfg = CRNNConfig(**SMALL, pooling="square", rnn="rnn", rnn_layers=3, map_to_sequence="project")
    assert CRNNConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


@pytest.mark.parametrize("width", [32, 64, 100, 200])
def test_square_pooling_has_stride_16_and_output_length_knows_it(width):
    cfg = CRNNConfig(**SMALL, pooling="square")
    out = CRNN(cfg).eval()(torch.rand(2, 1, 32, width))
    assert cfg.stride == 16 and out.shape[0] == output_length(width, cfg) == width // 16 - 1
    assert output_length(width) == width // 4 - 1


def test_projection_keeps_the_frames_and_adds_a_linear_layer():
    squeeze, project = CRNN(CRNNConfig(**SMALL)).eval(), CRNN(CRNNConfig(**SMALL, map_to_sequence="project")).eval()
    x = torch.rand(1, 1, 32, 64)
    assert squeeze.cnn(x).shape[2] == 1 and project.cnn(x).shape[2] == 2
    assert project(x).shape == squeeze(x).shape == (output_length(64), 1, 11)
    assert project.project.in_features == 2 * 48 and not hasattr(squeeze, "project")


def test_recurrent_options_build_the_named_cells():
    plain = CRNN(CRNNConfig(**SMALL, rnn="rnn", bidirectional=False, rnn_layers=1))
    assert len(plain.rnn) == 1 and isinstance(plain.rnn[0].rnn, torch.nn.RNN) and not plain.rnn[0].rnn.bidirectional
    deep = CRNN(CRNNConfig(**SMALL, rnn_layers=3))
    assert [type(b.rnn) for b in deep.rnn] == [torch.nn.LSTM] * 3 and deep.rnn[-1].embedding.out_features == 11
    for bad, match in ((dict(pooling="round"), "pooling"), (dict(map_to_sequence="x"), "map_to_sequence"),
                       (dict(rnn="gru"), "rnn"), (dict(rnn_layers=0), "rnn_layers")):
        with pytest.raises(ValueError, match=match):
            CRNN(CRNNConfig(**SMALL, **bad))


def test_content_frames_round_up_and_stay_inside_the_batch():
    assert A.content_frames(torch.tensor([1, 4, 5, 200]), 4, 20).tolist() == [1, 1, 2, 20]
    assert A.content_frames(torch.tensor([17]), 16, 5).tolist() == [2]


@pytest.mark.parametrize("width", [8, 12, 40, 100, 129])
def test_feasibility_sweep_finds_s_plus_r_at_most_t(width):
    T = output_length(width)
    for r in (0, 1, 3):
        assert A.longest_feasible_label(width, r) == (T - r if T - r >= r + 1 else 0)


def test_belval_resize_truncates_squashes_and_pads_black():
    rng = np.random.default_rng(0)
    low_res = rng.integers(100, 255, (16, 80)).astype(np.uint8)  # scales up to 160 columns
    out, width = A.resize_like_belval(low_res, 128)
    assert out.shape == (32, 128) and width == 80  # the original width, not the scaled one
    scaled = np.asarray(__import__("PIL.Image").Image.fromarray(low_res).resize((160, 32), 2))
    assert np.array_equal(out, scaled[:, :128])  # the last 32 columns are cut off
    ours, content = resize_image(low_res, 32, 128)
    assert content == 128 and ours.shape == (32, 128)  # ours squeezes instead
    short, _ = A.resize_like_belval(np.full((32, 40), 200, np.uint8), 128)
    assert (short[:, 40:] == 0).all()  # black padding
    wide, width = A.resize_like_belval(np.full((64, 300), 200, np.uint8), 128)
    assert wide.shape == (32, 128) and width == 128


def test_sparse_tuple_values_are_torchs_concatenation_and_flattening_is_wrong():
    seqs = [[3, 1], [2, 2, 5, 4], [7]]
    indices, values, shape = A.sparse_tuple(seqs)
    targets, lengths = A.concatenated_targets(seqs)
    assert indices.tolist()[:3] == [[0, 0], [0, 1], [1, 0]] and shape.tolist() == [3, 4]
    assert targets.tolist() == values.tolist() and lengths.tolist() == [2, 4, 1]
    padded = A.padded_targets(seqs)
    lp = torch.randn(10, 3, 8, generator=torch.Generator().manual_seed(0)).log_softmax(-1)
    frames = torch.full((3,), 10)
    loss = lambda t: F.ctc_loss(lp, t, frames, lengths, reduction="none")
    torch.testing.assert_close(loss(targets), loss(padded))
    assert not torch.allclose(loss(padded.flatten()[: int(lengths.sum())]), loss(targets))


def test_normalizations():
    img = np.array([[60, 80], [100, 120]], np.uint8)
    assert A.normalize(img, "fixed").max() == pytest.approx(120 / 255)
    mm = A.normalize(img, "minmax")
    assert mm.min() == 0 and mm.max() == pytest.approx(1)
    assert A.normalize(img, "mean").mean() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="normalization"):
        A.normalize(img, "zscore")


def test_fit_is_deterministic_and_reads_only_its_task():
    task = A.Task(max_len=3)
    tr, va = A.render_task(task, 24, 0), A.render_task(task, 8, 1)
    assert all(set(lab) <= set(task.charset) and img.shape[0] == 32 for img, lab in tr)
    fit = A.FitConfig(steps=3, batch_size=8, eval_every=3)
    a, b = A.fit(A.model_config(task), tr, va, fit), A.fit(A.model_config(task), tr, va, fit)
    assert a["loss"] == b["loss"] and len(a["loss"]) == 3 and np.isfinite(a["loss"]).all()


def test_quick_experiment_writes_json_png_and_command(tmp_path):
    assert A.main(["--only", "width", "pooling", "--out", str(tmp_path)]) == 0
    for name in ("width", "pooling"):
        saved = json.loads((tmp_path / f"{name}.json").read_text())
        assert saved["mode"] == "quick" and saved["command"].startswith("python -m workbench.crnn.ablations --only")
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
    pooling = json.loads((tmp_path / "pooling.json").read_text())
    fits = pooling["labels_with_enough_frames"]
    assert fits["1x2 (paper)"] == 1.0 and fits["square 2x2"] < 0.8  # narrow glyphs outrun square pooling's frames
    assert set(pooling["variants"]) == {"1x2 (paper)", "square 2x2"}


def test_exercise_checks_accept_the_answer_and_name_the_mistake(capsys):
    assert check_frames_and_longest_label(lambda W, r: (W // 4 - 1, W // 4 - 1 - r))
    capsys.readouterr()
    assert not check_frames_and_longest_label(lambda W, r: (W // 4, W // 4 - r))
    assert "forgot the last 2x2 convolution" in capsys.readouterr().out
    assert not check_frames_and_longest_label(lambda W, r: (W // 4 - 1, W // 4 - 1))
    assert "blank between its two copies" in capsys.readouterr().out
    good = lambda padded, lengths: torch.cat([row[:n] for row, n in zip(padded, lengths.tolist())])
    assert check_concatenate_targets(good)
    capsys.readouterr()
    assert not check_concatenate_targets(lambda padded, lengths: padded.flatten())
    assert "you flattened the padded matrix" in capsys.readouterr().out
    assert not check_concatenate_targets(lambda padded, lengths: padded.flatten()[: int(lengths.sum())])
    assert "you flattened the padded matrix" in capsys.readouterr().out
