"""The batched L-BFGS against torch.optim.LBFGS, one image at a time, skipped pairs included."""

from __future__ import annotations

import pytest
import torch

from stylesweep.lbfgs import LBFGS

N = 40


def _loss(x: torch.Tensor, curve: float) -> torch.Tensor:
    # A wavy bowl: its curvature turns negative in places, so some pairs have y.s < 0 and are
    # skipped (the case that moves a batch's rings apart). (B, N) -> (B,)
    scale = torch.linspace(0.5, 3.0, N, dtype=x.dtype)
    return (0.5 * scale * x.pow(2) + curve * torch.cos(3 * x)).sum(1)


def _torch_path(x0: torch.Tensor, curve: float, history: int, n: int) -> list[torch.Tensor]:
    x = x0.clone().requires_grad_(True)
    seen = []
    optimizer = torch.optim.LBFGS(
        [x], lr=1, max_iter=n, history_size=history, tolerance_grad=-1, tolerance_change=-1
    )

    def closure():
        optimizer.zero_grad()
        loss = _loss(x, curve).sum()
        loss.backward()
        seen.append(x.detach().clone())
        return loss

    optimizer.step(closure)
    return seen


@pytest.mark.parametrize("history", [3, 100])
def test_a_batch_follows_each_image_own_torch_lbfgs(history):
    # Two images, one smooth and one wavy: their skips differ, so their rings fall out of step.
    n, curves = 25, (0.0, 0.8)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(2, N, generator=gen, dtype=torch.float64) * 2
    x = x0.clone().requires_grad_(True)
    optimizer = LBFGS(x, history_size=history)
    seen, apart = [], []
    for _ in range(n):
        x.grad = None
        loss = sum(_loss(x[i : i + 1], c).sum() for i, c in enumerate(curves))
        loss.backward()
        seen.append(x.detach().clone())
        optimizer.step()
        head = optimizer.state["head"]
        apart.append(bool(head[0] != head[1]))
    assert any(apart)  # the rings were out of step: pairs were gathered, not viewed
    assert not all(apart)
    for i, c in enumerate(curves):
        expected = torch.cat(_torch_path(x0[i : i + 1], c, history, n))
        ours = torch.cat([s[i : i + 1] for s in seen])
        torch.testing.assert_close(ours, expected, rtol=1e-9, atol=1e-9)
