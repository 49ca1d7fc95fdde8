#!/usr/bin/env bash
# The main job: set up (or reuse) the environment, then run the toy cross-task transfer benchmark
# (toy data -> GAP/GCP/DropCov pretraining -> Mask R-CNN and UperNet fine-tuning -> evaluation ->
# table and plots). Extra arguments go to tools/benchmark_transfer.py, e.g. --seeds 3.
#   bash tools/run_main.sh [--work-dir DIR] [--seeds N]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/python" tools/benchmark_transfer.py configs/benchmark/toy.py "$@"
