"""Nothing Unix-only on the way to `stylesweep stylize`, and peak memory read in each OS's unit."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from stylesweep import runner

REPO = Path(__file__).resolve().parents[1]

# Loaded by Python at start-up from PYTHONPATH: `import resource` and `import fcntl` then fail
# as they do on Windows.
SITECUSTOMIZE = """\
import sys
for name in ("resource", "fcntl"):
    sys.modules[name] = None
"""


# Run first in each child, so that a test that would pass anyway fails instead.
BLOCKED = """\
import importlib
for name in ("resource", "fcntl"):
    try:
        importlib.import_module(name)
    except ImportError:
        continue
    raise SystemExit(f"{name} is importable here: the test proves nothing")
"""


def run_without_unix_modules(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    return subprocess.run(
        [sys.executable, "-c", BLOCKED + code],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.parametrize(
    "module", ["stylesweep.cli", "stylesweep.fetch", "stylesweep.gpus", "stylesweep.runner"]
)
def test_imports_without_resource_and_fcntl(module: str, tmp_path: Path) -> None:
    proc = run_without_unix_modules(f"import {module}", tmp_path)
    assert proc.returncode == 0, proc.stderr


def test_stylize_help_without_resource_and_fcntl(tmp_path: Path) -> None:
    code = "from stylesweep.cli import main\nmain(['stylize', '--help'])"
    proc = run_without_unix_modules(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: stylesweep stylize")


def test_no_peak_rss_without_resource(tmp_path: Path) -> None:
    code = "from stylesweep import runner\nprint(runner.peak_rss_mb())"
    proc = run_without_unix_modules(code, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["None"]


@pytest.mark.parametrize(
    ("platform", "rss_mb"),
    [("linux", 2048.0), ("freebsd14", 2048.0), ("darwin", 2.0)],
)
def test_peak_rss_unit(monkeypatch: pytest.MonkeyPatch, platform: str, rss_mb: float) -> None:
    # One number, 2**21: 2 GiB where ru_maxrss counts KiB (Linux, the BSDs), 2 MiB where it
    # counts bytes (macOS).
    usage = types.SimpleNamespace(ru_maxrss=2 * 2**20)
    fake = types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)
    monkeypatch.setitem(sys.modules, "resource", fake)
    monkeypatch.setattr(sys, "platform", platform)
    assert runner.peak_rss_mb() == rss_mb


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_peak_rss_agrees_with_the_kernel() -> None:
    status = Path("/proc/self/status").read_text()
    (hwm_kb,) = [int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")]
    assert runner.peak_rss_mb() == pytest.approx(hwm_kb / 1024, rel=0.05)
