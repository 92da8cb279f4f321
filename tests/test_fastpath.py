"""The fast path: bf16 autocast, precision switches, an L-BFGS that never syncs on CUDA."""

from __future__ import annotations

import logging

import pytest
import torch
from conftest import stylize_one
from conftest import tiny_options as _opts
from conftest import tiny_tensors as _tensors

from stylesweep import transfer
from stylesweep.lbfgs import LBFGS


def _totals(result: transfer.Result) -> list[float]:
    return [values[0] for _, values, _ in result.rows]


def test_bf16_autocast_runs_on_the_cpu_and_ends_near_fp32(tiny_images, random_extractor):
    # Adam: smooth enough to compare endings. Tolerance: final total within 10% of fp32's.
    content, styles = _tensors(tiny_images)
    opts = _opts(tiny_images, optimizer="adam")
    fp32 = stylize_one(opts, random_extractor, "caffe", content, styles)
    bf16 = stylize_one(opts.replace(precision="bf16"), random_extractor, "caffe", content, styles)
    totals = _totals(bf16)
    assert totals[-1] < 0.5 * totals[0]
    assert totals[-1] == pytest.approx(_totals(fp32)[-1], rel=0.10)
    assert bf16.image.dtype == torch.float32


def test_tf32_and_cudnn_benchmark_are_noops_on_the_cpu(tiny_images, random_extractor, caplog):
    content, styles = _tensors(tiny_images)
    opts = _opts(tiny_images, num_iterations=3)
    ref = stylize_one(opts, random_extractor, "caffe", content, styles)
    with caplog.at_level(logging.INFO, logger="stylesweep"):
        fast = stylize_one(
            opts.replace(precision="tf32", cudnn_benchmark=True),
            random_extractor,
            "caffe",
            content,
            styles,
        )
    assert torch.equal(fast.image, ref.image)
    assert "no effect on cpu" in caplog.text


@pytest.mark.needs_cuda
@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_precisions_run_on_cuda_and_put_the_flags_back(tiny_images, random_extractor, precision):
    content, styles = _tensors(tiny_images, 64)
    device = torch.device("cuda")
    extractor = random_extractor.to(device)
    before = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.benchmark,
    )
    try:
        opts = _opts(tiny_images, image_size=64, precision=precision, cudnn_benchmark=True)
        result = stylize_one(opts, extractor, "caffe", content, styles, device=device)
    finally:
        random_extractor.to("cpu")
    totals = _totals(result)
    assert min(totals[-5:]) < 0.9 * totals[0]
    after = (
        torch.backends.cuda.matmul.fp32_precision,
        torch.backends.cudnn.conv.fp32_precision,
        torch.backends.cudnn.benchmark,
    )
    assert after == before


@pytest.mark.needs_cuda
def test_lbfgs_never_syncs_on_cuda(tiny_images, random_extractor):
    content, styles = _tensors(tiny_images, 64)
    device = torch.device("cuda")
    try:
        problem = transfer.setup(
            [_opts(tiny_images, image_size=64)],
            random_extractor.to(device),
            "caffe",
            content,
            styles,
            device=device,
        )
        optimizer = LBFGS(problem.img, history_size=5)
        for _ in range(8):
            problem.evaluate()
            torch.cuda.set_sync_debug_mode("error")
            try:
                optimizer.step()
            finally:
                torch.cuda.set_sync_debug_mode("default")
    finally:
        random_extractor.to("cpu")
