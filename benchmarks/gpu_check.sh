#!/usr/bin/env bash
# One-command GPU check (issue 16): see benchmarks/gpu_check.py for the stages and options.
#   bash benchmarks/gpu_check.sh --out "$OUT/gpu_check.json"      # a CUDA host, under 8 minutes on one H200
#   bash benchmarks/gpu_check.sh --cpu-smoke --out /tmp/smoke.json  # the same stages, small, on CPU
# Needs torch, transformers, peft and accelerate; DeepSpeed and its dependencies come from benchmarks/wheels/.
# PYTHON picks the interpreter (default: the first of python3, python on PATH that has torch).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export TOKENIZERS_PARALLELISM="${TOKENIZERS_PARALLELISM:-false}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1  # nothing is downloaded; a hub call would hang without network
if [ -z "${PYTHON:-}" ]; then
  for candidate in python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)' 2>/dev/null; then
      PYTHON="$candidate"
      break
    fi
  done
  if [ -z "${PYTHON:-}" ]; then
    echo "gpu_check: no python3/python on PATH has torch; set PYTHON=/path/to/python" >&2
    exit 2
  fi
fi
exec "$PYTHON" benchmarks/gpu_check.py "$@"
