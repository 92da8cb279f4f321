"""One GPU per job: a lock file per device, so concurrent jobs on one machine never share a GPU."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path

import filelock

# Snakemake counts GPUs (`--resources gpu=N`) but never says which one a job gets; SLURM does,
# through CUDA_VISIBLE_DEVICES, and then we keep out of its way.
VISIBLE = "CUDA_VISIBLE_DEVICES"
LOCK_DIR_ENV = "STYLESWEEP_GPU_LOCK_DIR"
COUNT_ENV = "STYLESWEEP_GPU_COUNT"

log = logging.getLogger(__name__)


def default_lock_dir() -> Path:
    """$STYLESWEEP_GPU_LOCK_DIR, else a folder in the system's temporary directory.

    GPUs belong to the machine, not to one workflow, so every workflow on it shares the folder.
    """
    return Path(os.environ.get(LOCK_DIR_ENV) or Path(tempfile.gettempdir(), "stylesweep-gpu-locks"))


def count_gpus() -> int:
    """How many NVIDIA GPUs this machine has, without initialising CUDA in this process.

    $STYLESWEEP_GPU_COUNT wins; else `nvidia-smi -L`; else the driver's /proc entries; else 0.
    """
    if os.environ.get(COUNT_ENV):
        return int(os.environ[COUNT_ENV])
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(
                ["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30, check=True
            ).stdout
            return sum(1 for line in out.splitlines() if line.startswith("GPU "))
        except (OSError, subprocess.SubprocessError):
            pass
    proc = Path("/proc/driver/nvidia/gpus")
    return len(list(proc.iterdir())) if proc.is_dir() else 0


def try_lock(path: Path) -> filelock.BaseFileLock | None:
    """The lock on `path`, held, or None if another holds it; call `release()` to give it back.

    The OS releases the lock when its process ends: a job that dies releases its GPU.
    """
    lock = filelock.FileLock(path, on_acquired=_write_pid)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        return None
    return lock


def _write_pid(fd: int) -> None:
    # Who holds the GPU, for a person looking in the lock folder.
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())


@contextlib.contextmanager
def claim_gpu(
    n_gpus: int,
    *,
    lock_dir: str | os.PathLike[str] | None = None,
    only: int | None = None,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
    on_wait: Callable[[], None] | None = None,
) -> Iterator[int]:
    """Hold the lock of one free GPU among `n_gpus` (or of GPU `only`), waiting while none is.

    Args:
        n_gpus: how many GPUs the machine has; their locks are `gpu<i>.lock` in `lock_dir`.
        only: claim this index and no other (the config asked for cuda:N).
        poll_s: seconds between tries while every candidate is held.
        timeout_s: give up with TimeoutError after this long; None waits for ever.
        on_wait: called once, when the first try finds nothing free.

    Yields:
        The index of the GPU held until the block ends.
    """
    folder = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    candidates = [only] if only is not None else list(range(n_gpus))
    if not candidates:
        raise ValueError("claim_gpu: no GPU to claim (n_gpus is 0)")
    start = time.monotonic()
    waited = False
    while True:
        for index in candidates:
            lock = try_lock(folder / f"gpu{index}.lock")
            if lock is not None:
                try:
                    yield index
                finally:
                    lock.release()
                return
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            raise TimeoutError(f"no free GPU among {candidates} after {timeout_s:g} s")
        time.sleep(poll_s)


@contextlib.contextmanager
def job_device(
    device: str,
    *,
    n_gpus: int | None = None,
    lock_dir: str | os.PathLike[str] | None = None,
    environ: MutableMapping[str, str] | None = None,
) -> Iterator[str]:
    """The device string a job should pass to the engine, holding its GPU while inside.

    cpu and mps need no lock. If CUDA_VISIBLE_DEVICES is set (SLURM, or the user) the job uses
    what it was given; a SLURM job given no GPU sees none. Else `cuda:N` waits for GPU N, and
    `cuda` or `auto` take any free GPU and set CUDA_VISIBLE_DEVICES to it, so this must run
    before torch initialises CUDA.
    """
    env = os.environ if environ is None else environ
    if device in ("cpu", "mps") or VISIBLE in env:
        yield device
        return
    if "SLURM_JOB_ID" in env:
        # A SLURM job that was given no GPU must not take one that SLURM gave another job (not
        # every cluster fences devices): hide them all, so auto means the CPU here.
        env[VISIBLE] = ""
        try:
            yield device
        finally:
            del env[VISIBLE]
        return
    n = count_gpus() if n_gpus is None else n_gpus
    if n == 0:
        # auto falls back to the CPU in the engine; cuda fails there with a clear message.
        yield device
        return

    def waiting() -> None:
        log.info("waiting for a free GPU: all of %d are held by other jobs", n)

    only = int(device.split(":")[1]) if device.startswith("cuda:") else None
    with claim_gpu(n, lock_dir=lock_dir, only=only, on_wait=waiting) as index:
        log.info("holding GPU %d (lock in %s)", index, lock_dir or default_lock_dir())
        if only is not None:
            yield device
            return
        env[VISIBLE] = str(index)
        try:
            yield device
        finally:
            del env[VISIBLE]
