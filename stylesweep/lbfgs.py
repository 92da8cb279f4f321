"""The optimizers: neural-style's L-BFGS, batched and free of host syncs, and Adam."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .options import Options


class LBFGS:
    """neural-style's L-BFGS (no line search, step 1, tolerances off) with no host sync.

    One history per image of a (B, ...) batch, updated together: the same arithmetic as
    torch.optim.LBFGS with max_iter=1, but every data-dependent branch (a pair skipped when
    y.s <= 1e-10, the ring of the last `history_size` pairs) is a mask or an index kept on the
    device, so the loop never waits for it (torch reads each two-loop coefficient back to the
    host: about 2 x history syncs per step). `step()` moves from the gradient already in
    `img.grad`: the loop evaluates once per iteration, as neural-style's optim.lbfgs does.

    The two-loop is memory-bound (2 x history image-sized vectors, each read twice a step), so
    q and d are updated in place (an FMA, as torch's `add_(alpha=)`) and, where the images'
    rings are aligned and reading the ring's head costs nothing (the CPU), the pairs are read
    as views rather than gathered.
    """

    def __init__(self, img: Tensor, history_size: int = 100, lr: float = 1.0):
        self.img = img
        self.m = history_size
        self.lr = lr
        self.state: dict[str, Any] = {"n_iter": 0}

    def step(self) -> None:
        """One iteration from the gradient in `img.grad`."""
        st = self.state
        assert self.img.grad is not None
        b = self.img.shape[0]
        g = self.img.grad.reshape(b, -1)  # (B, N)
        st["n_iter"] += 1
        if st["n_iter"] == 1:
            d, t = self._first(g)
        else:
            self._remember(g)
            d, t = self._direction(g), g.new_full((b,), self.lr)
        st["prev_flat_grad"].copy_(g)
        st["d"], st["t"] = d, t
        # torch stops without a step when g.d > -tolerance_change (here 1): never for a descent
        # direction, kept for parity.
        move = torch.where(_dot(g, d) > 1.0, 0.0, t)
        with torch.no_grad():
            self.img.view(b, -1).addcmul_(d, move[:, None])

    def _first(self, g: Tensor) -> tuple[Tensor, Tensor]:
        # The first step: steepest descent, scaled to at most lr / |g|_1 (as torch).
        st, m, b = self.state, self.m, g.shape[0]
        st["dirs"] = g.new_zeros(m, *g.shape)  # y pairs, (m, B, N): one ring per image
        st["stps"] = g.new_zeros(m, *g.shape)  # s pairs
        st["ro"] = g.new_zeros(m, b)
        st["head"] = torch.zeros(b, dtype=torch.long, device=g.device)  # next slot
        st["count"] = torch.zeros(b, dtype=torch.long, device=g.device)  # pairs held
        st["H_diag"] = g.new_ones(b)
        st["prev_flat_grad"] = torch.empty_like(g)  # filled by step()
        return g.neg(), (1.0 / g.abs().sum(1)).clamp(max=1.0) * self.lr

    def _remember(self, g: Tensor) -> None:
        # Update the memory with the last step's pair, where y.s > 1e-10 (as torch).
        st, m = self.state, self.m
        dirs, stps, ro, head, count = (st[n] for n in ("dirs", "stps", "ro", "head", "count"))
        rows = torch.arange(g.shape[0], device=g.device)
        y = g - st["prev_flat_grad"]
        s = st["d"] * st["t"][:, None]
        ys = _dot(y, s)
        keep = ys > 1e-10
        if g.device.type == "cpu":
            # Reading `keep` costs nothing here: copy each kept pair into its slot's view.
            for i in (i for i, kept in enumerate(keep.tolist()) if kept):
                dirs[int(head[i]), i].copy_(y[i])
                stps[int(head[i]), i].copy_(s[i])
        else:
            dirs[head, rows] = torch.where(keep[:, None], y, dirs[head, rows])
            stps[head, rows] = torch.where(keep[:, None], s, stps[head, rows])
        ro[head, rows] = torch.where(keep, 1.0 / ys, ro[head, rows])
        st["head"] = torch.where(keep, (head + 1) % m, head)
        st["count"] = torch.where(keep, (count + 1).clamp(max=m), count)
        st["H_diag"] = torch.where(keep, ys / _dot(y, y), st["H_diag"])

    def _direction(self, g: Tensor) -> Tensor:
        # Two-loop recursion, newest pair first; pairs an image does not hold weigh 0.
        pair = self._pairs(g.shape[0])
        held = range(min(self.state["n_iter"] - 1, self.m))
        q = g.neg()
        al = []
        for j in held:
            s, y, ro = pair(j)
            a = _dot(s, q) * ro
            q.addcmul_(y, a[:, None], value=-1)
            al.append(a)
        d = q.mul_(self.state["H_diag"][:, None])
        for j, a in zip(reversed(held), reversed(al), strict=True):
            s, y, ro = pair(j)
            be = _dot(y, d) * ro
            d.addcmul_(s, (a - be)[:, None])
        return d

    def _pairs(self, b: int) -> Callable[[int], tuple[Tensor, Tensor, Tensor]]:
        """pair(j) -> (s, y, ro) of each image's j-th newest pair: (B, N), (B, N), (B,), with
        ro = 0 for an image that holds fewer pairs."""
        st, m = self.state, self.m
        dirs, stps, ro, head, count = (st[n] for n in ("dirs", "stps", "ro", "head", "count"))
        rows = torch.arange(b, device=head.device)
        # On the CPU reading the rings' places is free: where every image's ring is at the
        # same place (always for one image; for a batch until one skips a pair) the pairs are
        # views, and ro needs no mask where every image holds the pair.
        host = head.device.type == "cpu"
        heads = set(head.tolist()) if host else set()
        fewest = int(count.min()) if host else 0

        def pair(j: int) -> tuple[Tensor, Tensor, Tensor]:
            if len(heads) == 1:
                k = (next(iter(heads)) - 1 - j) % m
                s, y, r = stps[k], dirs[k], ro[k]
            else:
                slot = (head - 1 - j) % m
                s, y, r = stps[slot, rows], dirs[slot, rows], ro[slot, rows]
            return s, y, r if j < fewest else torch.where(j < count, r, 0.0)

        return pair

    def state_dict(self) -> dict[str, Any]:
        """The state; only the part of the history written so far (a checkpoint stays small)."""
        st = dict(self.state)
        filled = min(max(st["n_iter"] - 1, 0), self.m)
        for key in ("dirs", "stps", "ro"):
            if key in st:
                st[key] = st[key][:filled]
        return st

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.img.device
        st = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in state.items()}
        for key in ("dirs", "stps", "ro"):
            if key in st and st[key].shape[0] < self.m:
                pad = st[key].new_zeros(self.m - st[key].shape[0], *st[key].shape[1:])
                st[key] = torch.cat([st[key], pad])
        self.state = st


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise dot products: (B, N) x (B, N) -> (B,).

    One BLAS dot per image, as torch.optim.LBFGS's: linalg.vecdot would write a full-size
    product before summing it, and costs 3x as much here.
    """
    return torch.stack([torch.dot(x, y) for x, y in zip(a, b, strict=True)])


Optimizer = LBFGS | torch.optim.Adam


def make_optimizer(opts: Options, img: Tensor) -> Optimizer:
    """neural-style's optimizers: L-BFGS without line search, step 1, tolerances off; or Adam.

    Both step from the gradient the loop has put in `img.grad`, one history or one Adam state
    per image: Adam works element by element, so one Adam over a batch is B separate ones.
    """
    if opts.optimizer == "lbfgs":
        return LBFGS(img, history_size=opts.lbfgs_num_correction)
    return torch.optim.Adam([img], lr=opts.learning_rate)
