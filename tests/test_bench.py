"""The benchmarks still run: bench/bench.py's memory and objective benchmarks at a tiny size."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _bench(monkeypatch, capsys, *argv: str) -> str:
    spec = importlib.util.spec_from_file_location("bench", ROOT / "bench/bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["bench.py", *argv, "--device", "cpu"])
    bench.main()
    return capsys.readouterr().out


@pytest.mark.slow
def test_the_memory_benchmark_prints_a_ratio(monkeypatch, capsys) -> None:
    out = _bench(monkeypatch, capsys, "memory", "--sizes", "32")
    assert re.search(r"^\s+32\s+\d+\s+\d+\s+\d+\.\d\d$", out, flags=re.M), out


@pytest.mark.slow
def test_the_objective_benchmark_prints_its_ratios_and_shares(monkeypatch, capsys) -> None:
    out = _bench(monkeypatch, capsys, "objective", "--sizes", "32", "--lbfgs-sizes", "32",
                 "--repeats", "1")  # fmt: skip
    assert re.search(r"^\s+32\s+[\d.]+\s+[\d.]+\s+\d+\.\d{3}$", out, flags=re.M), out
    shares = [float(v) for v in re.findall(r"^  \S.*?\s+([\d.]+)%$", out, flags=re.M)]
    assert "convolution" in out and sum(shares) == pytest.approx(100, abs=0.5)
    assert re.search(r"^\s+32\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+[\d.]+$", out, flags=re.M), out


@pytest.mark.slow
def test_the_scale_benchmark_dry_runs_a_synthetic_sweep(monkeypatch, capsys) -> None:
    out = _bench(monkeypatch, capsys, "scale", "--runs", "25")
    # 25 runs: 1 content x 5 styles x 5 settings, 3 jobs each (stylize, publish, gif);
    # 10 sheets, 2 tables, the weights, all; summary, overview, trade-offs, best
    row = r"^\s+25\s+1\s+5\s+93\s+[\d.]+\s+[\d.]+\s+[\d.]+\s+\d+$"
    assert re.search(row, out, flags=re.M), out


@pytest.mark.slow
def test_the_colour_benchmark_prints_each_steps_share(monkeypatch, capsys) -> None:
    out = _bench(monkeypatch, capsys, "colour", "--colour-size", "32", "--colour-iterations", "4",
                 "--colour-save-iter", "2", "--repeats", "1")  # fmt: skip
    shares = re.findall(r"^(?:histogram|luminance|original_colors) .*\s([\d.]+)%$", out, re.M)
    assert len(shares) == 6, out
