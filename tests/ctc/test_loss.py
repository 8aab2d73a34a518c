"""ctc_loss against torch.nn.functional.ctc_loss: values and gradients, every layout and reduction."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from workbench.ctc import ctc_loss

torch.set_num_threads(1)


def make_batch(seed, T=24, N=12, C=7, S=8, dtype=torch.float64):
    """A batch with repeated labels, an empty target, a minimal-length input and an impossible one."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(T, N, C, generator=g, dtype=dtype)
    targets = torch.randint(1, C, (N, S), generator=g)
    target_lengths = torch.randint(1, S + 1, (N,), generator=g)
    input_lengths = torch.randint(S * 2, T + 1, (N,), generator=g)
    targets[0, :5] = torch.tensor([3, 3, 3, 2, 2])  # consecutive repeats
    target_lengths[0] = 5
    target_lengths[1] = 0  # empty target
    targets[2, :4] = torch.tensor([1, 1, 2, 2])
    target_lengths[2], input_lengths[2] = 4, 6  # exactly the minimal feasible length (4 + 2 repeats)
    targets[3, :4] = torch.tensor([1, 1, 2, 2])
    target_lengths[3], input_lengths[3] = 4, 5  # one frame short: impossible
    input_lengths[4] = T
    targets[:, :] = torch.where(torch.arange(S)[None] < target_lengths[:, None], targets, torch.zeros_like(targets))
    return logits, targets, input_lengths, target_lengths


def loss_and_grad(fn, logits, *args, reduction, zero_infinity, **kwargs):
    x = logits.clone().requires_grad_(True)
    loss = fn(x.log_softmax(2), *args, reduction=reduction, zero_infinity=zero_infinity, **kwargs)
    total = loss.sum() if reduction == "none" else loss
    if torch.isfinite(total):
        total.backward()
        return loss.detach(), x.grad
    return loss.detach(), None


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("gradient", ["autograd", "alpha_beta", "fused"])
def test_matches_torch_native(reduction, zero_infinity, layout, dtype, gradient):
    logits, targets, input_lengths, target_lengths = make_batch(seed=7, dtype=dtype)
    if layout == "concatenated":
        targets = torch.cat([targets[n, : target_lengths[n]] for n in range(len(targets))])
    args = (targets, input_lengths, target_lengths)
    ours, our_grad = loss_and_grad(ctc_loss, logits, *args, reduction=reduction, zero_infinity=zero_infinity, gradient=gradient)
    native, native_grad = loss_and_grad(F.ctc_loss, logits, *args, reduction=reduction, zero_infinity=zero_infinity)
    torch.testing.assert_close(ours, native, rtol=1e-5, atol=1e-5 if dtype == torch.float32 else 1e-8)
    if zero_infinity:
        assert our_grad is not None and native_grad is not None
        torch.testing.assert_close(our_grad, native_grad, rtol=1e-5, atol=1e-6)
    else:
        assert reduction == "none" or torch.isinf(ours)


@pytest.mark.parametrize("gradient", ["autograd", "alpha_beta", "fused"])
def test_impossible_item_is_inf_and_its_gradient_zero(gradient):
    logits, targets, input_lengths, target_lengths = make_batch(seed=3)
    x = logits.clone().requires_grad_(True)
    losses = ctc_loss(x.log_softmax(2), targets, input_lengths, target_lengths, reduction="none", gradient=gradient)
    assert torch.isinf(losses[3]) and torch.isfinite(losses[torch.arange(len(losses)) != 3]).all()
    # The feasible items' gradients still match torch when the impossible one is left out of the sum.
    losses[torch.arange(len(losses)) != 3].sum().backward()
    y = logits.clone().requires_grad_(True)
    native = F.ctc_loss(y.log_softmax(2), targets, input_lengths, target_lengths, reduction="none")
    native[torch.arange(len(native)) != 3].sum().backward()
    keep = torch.arange(len(losses)) != 3
    torch.testing.assert_close(x.grad[:, keep], y.grad[:, keep], rtol=1e-5, atol=1e-8)
    # Torch's kernel leaves NaN in the impossible item's gradient even with zero upstream weight; ours is 0.
    assert torch.isnan(y.grad[: int(input_lengths[3]), 3]).all()
    assert torch.all(x.grad[:, 3] == 0)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("gradient", ["autograd", "alpha_beta", "fused"])
def test_random_batches(seed, gradient):
    g = torch.Generator().manual_seed(100 + seed)
    T, N, C = 30, 16, 5  # few classes: many repeated consecutive labels
    logits = torch.randn(T, N, C, generator=g, dtype=torch.float64)
    target_lengths = torch.randint(0, 12, (N,), generator=g)
    input_lengths = torch.randint(1, T + 1, (N,), generator=g)
    targets = torch.randint(1, C, (N, 12), generator=g)
    ours, our_grad = loss_and_grad(ctc_loss, logits, targets, input_lengths, target_lengths, reduction="mean", zero_infinity=True, gradient=gradient)
    native, native_grad = loss_and_grad(F.ctc_loss, logits, targets, input_lengths, target_lengths, reduction="mean", zero_infinity=True)
    torch.testing.assert_close(ours, native, rtol=1e-5, atol=1e-10)
    torch.testing.assert_close(our_grad, native_grad, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("gradient", ["autograd", "alpha_beta", "fused"])
def test_true_gradient_wrt_log_probs_is_minus_occupancy(gradient):
    # Torch's native kernel hands back y - gamma as the gradient w.r.t. log_probs; ours is -gamma. The
    # difference y sums with gamma's frame total 1 to zero, which is why both agree after log_softmax.
    logits, targets, input_lengths, target_lengths = make_batch(seed=5)
    lp = logits.log_softmax(2).requires_grad_(True)
    ctc_loss(lp, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True, gradient=gradient).backward()
    lp_native = lp.detach().clone().requires_grad_(True)
    F.ctc_loss(lp_native, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True).backward()
    active = (torch.arange(logits.shape[0])[:, None] < input_lengths[None]) & (torch.arange(logits.shape[1]) != 3)[None]
    expected = (lp_native.grad - lp.detach().exp())[active]
    torch.testing.assert_close(lp.grad[active], expected, rtol=1e-5, atol=1e-8)


def test_unbatched_and_list_lengths_and_zero_frames():
    g = torch.Generator().manual_seed(0)
    lp = torch.randn(6, 4, generator=g, dtype=torch.float64).log_softmax(1)
    target = torch.tensor([1, 2, 2])
    ours = ctc_loss(lp, target, 6, 3, reduction="none")
    native = F.ctc_loss(lp, target, torch.tensor(6), torch.tensor(3), reduction="none")
    torch.testing.assert_close(ours, native)
    batch = torch.randn(4, 2, 3, generator=g, dtype=torch.float64).log_softmax(2)
    ours = ctc_loss(batch, torch.zeros(2, 1, dtype=torch.long), [0, 4], (0, 0), reduction="none")
    native = F.ctc_loss(batch, torch.zeros(2, 1, dtype=torch.long), torch.tensor([0, 4]), torch.tensor([0, 0]), reduction="none")
    torch.testing.assert_close(ours, native)


def test_second_blank_index():
    logits, targets, input_lengths, target_lengths = make_batch(seed=9)
    C = logits.shape[2]
    remapped = torch.where(targets == C - 1, torch.zeros_like(targets), targets)  # C-1 is the blank now
    lp = logits.log_softmax(2)
    ours = ctc_loss(lp, remapped, input_lengths, target_lengths, blank=C - 1, reduction="none")
    native = F.ctc_loss(lp, remapped, input_lengths, target_lengths, blank=C - 1, reduction="none")
    torch.testing.assert_close(ours, native)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("gradient", ["autograd", "alpha_beta", "auto"])
def test_cuda_matches_cpu(gradient):
    logits, targets, input_lengths, target_lengths = make_batch(seed=11, dtype=torch.float32)
    results = []
    for dev in ("cpu", "cuda"):
        x = logits.to(dev).requires_grad_(True)
        loss = ctc_loss(x.log_softmax(2), targets.to(dev), input_lengths.to(dev), target_lengths.to(dev), zero_infinity=True, gradient=gradient)
        loss.backward()
        results.append((loss.detach().cpu(), x.grad.cpu()))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(results[1][1], results[0][1], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"log_probs": torch.zeros(2, 3, 4, 5)}, ValueError, r"\(T, N, C\)"),
        ({"log_probs": torch.zeros(5, 2, 4, dtype=torch.long)}, TypeError, "floating"),
        ({"log_probs": [[0.0]]}, TypeError, "torch.Tensor"),
        ({"targets": torch.tensor([[1, 9], [1, 1]])}, ValueError, "label id 9"),
        ({"targets": torch.tensor([[1, 0], [1, 1]])}, ValueError, "blank id 0"),
        ({"targets": torch.tensor([1, 2, 3])}, ValueError, "sum\\(target_lengths\\) = 4"),
        ({"target_lengths": [3, 2]}, ValueError, "only S = 2"),
        ({"input_lengths": [6, 5]}, ValueError, "input_lengths must be <= T = 5"),
        ({"input_lengths": [5]}, ValueError, "one entry per batch item"),
        ({"target_lengths": [-1, 2]}, ValueError, "non-negative"),
        ({"blank": 4}, ValueError, "blank"),
        ({"reduction": "average"}, ValueError, "reduction"),
        ({"gradient": "numeric"}, ValueError, "gradient"),
        ({"targets": torch.tensor([[1.0, 2.0], [1.0, 1.0]])}, TypeError, "integer"),
    ],
)
def test_bad_input(kwargs, error, match):
    call = {
        "log_probs": torch.zeros(5, 2, 4).log_softmax(2),
        "targets": torch.tensor([[1, 2], [1, 1]]),
        "input_lengths": [5, 5],
        "target_lengths": [2, 2],
    } | kwargs
    with pytest.raises(error, match=match):
        ctc_loss(**call)


def test_gradcheck_both_gradients():
    # Finite differences against both backward passes, on a batch with a repeat and a shorter input.
    g = torch.Generator().manual_seed(1)
    lp = torch.randn(5, 2, 3, generator=g, dtype=torch.float64).log_softmax(2).requires_grad_(True)
    args = (torch.tensor([[1, 1], [2, 0]]), [5, 4], [2, 1])
    assert torch.autograd.gradcheck(lambda x: ctc_loss(x, *args, reduction="sum"), (lp,))
    assert torch.autograd.gradcheck(lambda x: ctc_loss(x, *args, reduction="sum", gradient="alpha_beta"), (lp,))


def test_fused_gradient_refuses_cuda_with_the_fix():
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    logits, targets, input_lengths, target_lengths = make_batch(seed=3, dtype=torch.float32)
    with pytest.raises(ValueError, match="CPU only.*alpha_beta"):
        ctc_loss(logits.cuda().log_softmax(2), targets, input_lengths, target_lengths, gradient="fused")


@pytest.mark.parametrize("threads", [1, 2])
def test_fused_matches_native_at_benchmark_shapes_and_threads(threads):
    # The parallel kernel (items spread over numba threads) must give what the serial one gives.
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(5)
        T, N, C, S = 40, 9, 11, 12
        logits = torch.randn(T, N, C, generator=g, dtype=torch.float64)
        targets = torch.randint(1, C, (N, S), generator=g)
        input_lengths = torch.randint(S + 6, T + 1, (N,), generator=g)
        target_lengths = torch.randint(0, S + 1, (N,), generator=g)
        ours, our_grad = loss_and_grad(ctc_loss, logits, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True, gradient="fused")
        native, native_grad = loss_and_grad(F.ctc_loss, logits, targets, input_lengths, target_lengths, reduction="sum", zero_infinity=True)
        torch.testing.assert_close(ours, native, rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(our_grad, native_grad, rtol=1e-9, atol=1e-9)
        if threads > 1:  # small batches stay serial in ctc_loss: check the parallel kernel itself
            from workbench.ctc import _fast_loss

            args = (logits.log_softmax(2).numpy(), targets.numpy(), input_lengths.numpy(), target_lengths.numpy(), 0)
            serial, parallel = _fast_loss.fused(*args), _fast_loss.fused_parallel(*args)
            np.testing.assert_array_equal(serial[0], parallel[0])
            np.testing.assert_array_equal(serial[1], parallel[1])
    finally:
        torch.set_num_threads(before)


def test_default_gradient_on_cpu_is_the_fused_kernel(monkeypatch):
    from workbench.ctc import _loss

    calls = []
    real = _loss._Fused.apply
    monkeypatch.setattr(_loss._Fused, "apply", lambda *a: calls.append(1) or real(*a))
    logits, targets, input_lengths, target_lengths = make_batch(seed=1)
    ctc_loss(logits.log_softmax(2), targets, input_lengths, target_lengths)
    assert calls == [1]
