"""Each loss term against a hand computation on a small tensor."""

from __future__ import annotations

import pytest
import torch

from stylesweep.losses import content_loss, gram, style_loss, tv_loss


def test_gram_is_f_ft_over_chw():
    f = torch.arange(1.0, 13.0).reshape(1, 2, 2, 3)  # C=2, H=2, W=3
    a = torch.arange(1.0, 7.0)
    b = torch.arange(7.0, 13.0)
    by_hand = torch.tensor([[a @ a, a @ b], [b @ a, b @ b]]) / (2 * 2 * 3)
    assert torch.allclose(gram(f)[0], by_hand)


def test_gram_is_symmetric_and_scales_quadratically():
    f = torch.randn(2, 5, 4, 3, generator=torch.Generator().manual_seed(0))
    g = gram(f)
    assert g.shape == (2, 5, 5)
    assert torch.allclose(g, g.transpose(1, 2))
    assert torch.allclose(gram(3 * f), 9 * g)


LAYOUTS = [torch.contiguous_format, torch.channels_last]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gram_backward_passes_gradcheck_in_float64(layout):
    f = torch.randn(2, 5, 4, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    f = f.contiguous(memory_format=layout).requires_grad_(True)
    assert torch.autograd.gradcheck(gram, (f,))


@pytest.mark.parametrize("layout", LAYOUTS)
def test_gram_gradient_is_autograds_in_the_features_layout(layout):
    # The gradient of a non-symmetric upstream dG is F (dG + dG^T) / n, as autograd finds for
    # the plain product; it comes back in the features' own memory layout, without a copy.
    gen = torch.Generator().manual_seed(4)
    f = torch.randn(2, 8, 6, 5, generator=gen).contiguous(memory_format=layout)
    upstream = torch.randn(2, 8, 8, generator=gen)
    ours = f.clone().requires_grad_(True)
    gram(ours).backward(upstream)
    plain = f.clone().requires_grad_(True)
    flat = plain.reshape(2, 8, 30)
    (flat.bmm(flat.transpose(1, 2)) / (8 * 30)).backward(upstream)
    torch.testing.assert_close(ours.grad, plain.grad)
    assert ours.grad.is_contiguous(memory_format=layout)


def test_content_loss_is_mean_squared_error():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    t = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    assert content_loss(f, t).item() == pytest.approx((0 + 4 + 9 + 16) / 4)
    assert content_loss(t, t).item() == 0


def test_style_loss_is_mse_over_the_c2_gram_entries():
    f = torch.tensor([[[[1.0, 2.0]], [[0.0, 1.0]]]])  # C=2, H=1, W=2
    g = torch.tensor([[5.0, 2.0], [2.0, 1.0]]) / 4  # gram by hand: F F^T / (C H W)
    target = torch.zeros(1, 2, 2)
    assert style_loss(f, target).item() == pytest.approx((g**2).mean().item())
    assert style_loss(f, g.unsqueeze(0)).item() == pytest.approx(0)


def test_tv_hand_computation_over_the_cropped_grid():
    x = torch.tensor([[[[1.0, 2.0, 4.0], [0.0, 5.0, 1.0], [9.0, 9.0, 9.0]]]])
    # differences at the 2x2 top-left grid: right and down neighbours
    dx = [1 - 2, 2 - 4, 0 - 5, 5 - 1]
    dy = [1 - 0, 2 - 5, 0 - 9, 5 - 9]
    by_hand = 0.5 * (sum(d * d for d in dx) + sum(d * d for d in dy))
    assert tv_loss(x).item() == pytest.approx(by_hand)


def test_tv_is_zero_on_a_flat_image():
    assert tv_loss(torch.full((1, 3, 8, 8), 7.0)).item() == 0


def test_tv_gradient_equals_neural_styles_tvloss():
    x = torch.randn(1, 3, 6, 5, generator=torch.Generator().manual_seed(1), requires_grad=True)
    tv_loss(x).sum().backward()
    # neural-style's TVLoss:updateGradInput, written out
    v = x.detach()[0]
    xd = v[:, :-1, :-1] - v[:, :-1, 1:]
    yd = v[:, :-1, :-1] - v[:, 1:, :-1]
    g = torch.zeros_like(v)
    g[:, :-1, :-1] += xd + yd
    g[:, :-1, 1:] -= xd
    g[:, 1:, :-1] -= yd
    assert torch.allclose(x.grad[0], g, atol=1e-6)


def test_losses_are_per_image_in_a_batch():
    f = torch.randn(3, 4, 5, 5, generator=torch.Generator().manual_seed(2))
    t = torch.zeros(1, 4, 5, 5)
    assert content_loss(f, t).shape == (3,)
    assert style_loss(f, gram(t)).shape == (3,)
    assert tv_loss(f).shape == (3,)
    assert torch.allclose(content_loss(f, t)[1], content_loss(f[1:2], t)[0])
