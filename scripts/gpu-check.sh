#!/usr/bin/env bash
# On a machine with a CUDA GPU, in a checkout with ganstudy installed (pip install -e '.[test]'):
# the CUDA tests (CUDA against the CPU, repeatability, resume, a CUDA checkpoint read where
# CUDA is hidden), then the quick bench on the GPU. A few minutes on one GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device visible'; print(torch.cuda.get_device_name(0), 'CUDA', torch.version.cuda)"
python -m pytest -q -m cuda tests/engine/test_cuda.py
ganstudy bench --quick --out "${1:-bench-gpu.json}"
