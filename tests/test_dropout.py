"""The CPU dropout: keep rate, exact expectation, gradients through the same mask, seeding, and no position bias."""

import pytest
import torch

from asr.model.dropout import Dropout, dropout, keep_mask, keep_probability, scaled_mask


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5])
def test_keep_rate_matches_p_in_every_word_position(p):
    torch.manual_seed(0)
    keep, scale = keep_mask(torch.Size([4_000_000]), p)
    k = round(p * 32768)
    assert scale == pytest.approx(32768 / (32768 - k))
    rate = keep.float().view(-1, 4).mean(0)  # each of the four 16-bit words of a draw
    # 1M samples per position: the standard error is ~0.0005, so 0.003 is six of them.
    torch.testing.assert_close(rate, torch.full((4,), 1 - k / 32768), atol=3e-3, rtol=0)


def test_masks_are_independent_of_neighbours():
    torch.manual_seed(1)
    keep, _ = keep_mask(torch.Size([2_000_000]), 0.5)
    a, b = keep[:-1].float(), keep[1:].float()
    corr = ((a - a.mean()) * (b - b.mean())).mean() / (a.std() * b.std())
    assert abs(float(corr)) < 5e-3


def test_expected_output_equals_input_and_grad_uses_the_same_mask():
    torch.manual_seed(2)
    x = torch.randn(64, 50, 300, requires_grad=True)
    y = dropout(x, 0.1, training=True)
    dropped = y == 0
    assert 0.09 < dropped.float().mean() < 0.11
    kept = ~dropped
    torch.testing.assert_close(y[kept], x[kept] * (32768 / (32768 - 3277)))
    y.backward(torch.ones_like(y))
    assert bool((x.grad[dropped] == 0).all())
    torch.testing.assert_close(x.grad[kept], torch.full_like(x.grad[kept], 32768 / (32768 - 3277)))
    # the mean over many elements is unbiased
    ones = torch.ones(2_000_000)
    assert float(dropout(ones, 0.3, True).mean()) == pytest.approx(1.0, abs=3e-3)


def test_seeded_like_torch_and_identity_in_eval():
    layer = Dropout(0.2)
    x = torch.randn(8, 100)
    torch.manual_seed(3)
    a = layer(x)
    torch.manual_seed(3)
    b = layer(x)
    assert torch.equal(a, b)
    assert not torch.equal(a, layer(x))  # the generator moved on
    layer.eval()
    assert layer(x) is x
    assert Dropout(0.0).train()(x) is x
    assert bool((Dropout(1.0).train()(x) == 0).all())
    big = torch.ones(100_000)
    assert float((Dropout(0.99999).train()(big) == 0).float().mean()) > 0.999  # rounds to 1: no division by 0
    with pytest.raises(ValueError):
        Dropout(1.5)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_masks_keep_the_expectation_exact(dtype):
    """Under autocast the mask is built in the activation's dtype: its scale is rounded to that dtype (1/0.9 ->
    1.109375 in bf16) and P(keep) chosen to match, so E[dropout(x)] = x to 1e-4, not biased by the rounding."""
    k, scale = keep_probability(0.1, dtype)
    assert torch.tensor(scale, dtype=dtype).item() == scale  # representable
    assert (1 - k / 32768) * scale == pytest.approx(1.0, abs=1e-4)
    assert abs(scale - 1 / 0.9) > 1e-3 if dtype == torch.bfloat16 else True  # the rounding the choice of k undoes
    torch.manual_seed(4)
    ones = torch.ones(4_000_000, dtype=dtype, requires_grad=True)
    y = dropout(ones, 0.1, True)
    assert y.dtype == dtype and set(y.detach().unique().tolist()) == {0.0, scale}
    assert float(y.detach().float().mean()) == pytest.approx(1.0, abs=2e-3)
    y.backward(torch.ones_like(y))
    assert torch.equal(ones.grad, y.detach())  # the same mask, the same scale


def test_scaled_mask_is_the_scale_where_kept_and_zero_elsewhere():
    keep = torch.tensor([True, False, True, False])
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        m = scaled_mask(keep, 1.25, dtype)
        assert m.dtype == dtype and m.tolist() == [1.25, 0.0, 1.25, 0.0]
