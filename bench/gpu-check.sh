#!/usr/bin/env bash
# The GPU checks in one go, on a machine with CUDA and PyTorch (about 11 minutes on an H200):
# the tests marked needs_cuda that need no Snakemake, then bench/gpu.py. Logs go to $OUT
# (default bench/). Arguments go to bench/gpu.py (--weights, --iterations, --render-cap).
set -u
out=${OUT:-bench}
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi -L || true
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
python3 -m pytest -q -p no:cacheprovider -m needs_cuda tests/test_fastpath.py tests/test_tiles.py \
    2>&1 | tee "$out/gpu-tests.txt"
python3 bench/gpu.py --out "$out/gpu-results.txt" "$@"
