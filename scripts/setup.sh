#!/usr/bin/env bash
# Make a virtual environment (default .venv, or $VENV) with convbench and its test tools.
# Without an NVIDIA GPU it installs PyTorch's CPU build first, so pip does not pull the CUDA one.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${VENV:-.venv}"
python3 -m venv "$venv"
if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1; then
        "$venv/bin/python" -m pip install --quiet torch
    else
        # TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu where no CPU wheel is at hand locally.
        "$venv/bin/python" -m pip install --quiet "torch==${TORCH_VERSION:-2.13.0}" \
            ${TORCH_INDEX_URL:+--extra-index-url "$TORCH_INDEX_URL"}
    fi
fi
"$venv/bin/python" -m pip install --quiet -e ".[test]"
echo "convbench installed in $venv"
