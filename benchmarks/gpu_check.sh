#!/usr/bin/env bash
# Every CUDA path in one call on a GPU node (a few minutes on one GPU; 8 min at most):
#   1. the `gpu`-marked tests (gsplat vs the PyTorch rasterizer, HuBERT on CUDA, CUDA vs CPU of the
#      metric networks and LivePortrait), as JUnit XML beside the JSON;
#   2. benchmarks/gpu_check.py: DualForce on the harness on CUDA (and its resume), a bf16 step against
#      float32, FSDP2 on a one-process group, the Gaussian head's end-to-end fps, the shard jobs' batch
#      sizes (RetinaFace probes, SyncNet windows, HuBERT clips: speed-up and agreement) (docstring there).
# Results: benchmarks/results/gpu_check.json and gpu_check_pytest.xml (or $GPU_CHECK_OUT/).
# Usage: bash benchmarks/gpu_check.sh [--gaussians-model data/models/gaussians/<speaker>]
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=${GPU_CHECK_OUT:-benchmarks/results}
mkdir -p "$OUT"
status=0
timeout 240 "$PY" -m pytest -m gpu -q -p no:cacheprovider --junitxml "$OUT/gpu_check_pytest.xml" tests || status=1
timeout 300 "$PY" benchmarks/gpu_check.py --out "$OUT/gpu_check.json" "$@" || status=1
echo "gpu_check: results in $OUT/gpu_check.json and $OUT/gpu_check_pytest.xml (exit $status)"
exit $status
