#!/usr/bin/env bash
# The main job: set up (or reuse) the environment, generate the toy data, then train and
# evaluate the toy GAP, GCP and DropCov classifiers with tools/train.py and tools/test.py.
#   bash tools/run_main.sh [WORK_DIR]          (default: work_dirs/main)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
WORK_DIR="${1:-work_dirs/main}"
"$PY" tools/dataset_converters/make_toy_data.py cls --out-dir data/toy
for variant in gap gcp dropcov; do
    cfg="configs/toy/resnet18-w16-${variant}_1xb32_toy.py"
    echo "=== ${variant}: train ${cfg}"
    "$PY" tools/train.py "$cfg" --work-dir "$WORK_DIR/$variant"
    "$PY" tools/test.py "$cfg" "$(cat "$WORK_DIR/$variant/last_checkpoint")" \
        --work-dir "$WORK_DIR/$variant" --out "$WORK_DIR/$variant/test_metrics.json"
done
"$PY" - "$WORK_DIR" <<'PYEOF'
import json, os.path as osp, sys
work_dir = sys.argv[1]
print('\n| pretraining | toy top-1 (%) |\n|---|---|')
for variant in ('gap', 'gcp', 'dropcov'):
    metrics = json.load(open(osp.join(work_dir, variant, 'test_metrics.json')))
    print(f"| {variant} | {metrics['accuracy/top1']:.2f} |")
PYEOF
