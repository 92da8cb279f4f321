"""The benchmarks still run: bench/bench.py's memory benchmark at a tiny size."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_memory_benchmark_prints_a_ratio(monkeypatch, capsys) -> None:
    spec = importlib.util.spec_from_file_location("bench", ROOT / "bench/bench.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", ["bench.py", "memory", "--sizes", "32", "--device", "cpu"])
    bench.main()
    out = capsys.readouterr().out
    assert re.search(r"^\s+32\s+\d+\s+\d+\s+\d+\.\d\d$", out, flags=re.M), out
