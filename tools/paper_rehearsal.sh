#!/usr/bin/env bash
# Rehearse the paper-scale benchmark end to end on this machine's one-node Slurm, on CPU:
#   configs/benchmark/paper.py itself -- its configs, pipelines, input sizes (1333x800, 512x512,
#   224), images per GPU and models -- on tiny data sets in the exact layouts it reads, from
#   checkpoints in the published layouts (random weights) put through the conversion step of
#   docs/checkpoints.md. Only budgets shrink (1 epoch / 1 iteration, no evaluation during
#   training, a handful of images) and the world size (1 process per run, the lr scaled as
#   --auto-scale-lr does; recorded in plan.json and the report); the other options only say
#   where the rehearsal's data and checkpoints are and that the recipes run on CPU processes.
#
#   bash tools/paper_rehearsal.sh [OUT_DIR] [extra benchmark_transfer.py args]
#
# OUT_DIR (default work_dirs/paper_rehearsal): data/, published/, checkpoints/, benchmark/ (the
# report: results.md/json, metrics.png, plan.json, runs/). A second call reuses the data,
# checkpoints and finished runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-work_dirs/paper_rehearsal}"
shift || true
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
PY="$ROOT/.venv/bin/python"

eval "$(bash tools/slurm/start_local_slurm.sh)"   # exports SLURM_CONF

echo "[paper_rehearsal] data and published-layout checkpoints in $OUT"
"$PY" tools/dataset_converters/make_paper_rehearsal.py "$OUT" --num-imagenet-val 4 \
    --num-coco-train 2 --num-coco-val 1 --num-ade-train 4 --num-ade-val 1

echo "[paper_rehearsal] the conversion step (docs/checkpoints.md)"
mkdir -p "$OUT/checkpoints"
convert() {  # convert SRC DST [args]: skipped when DST is newer than SRC
    if [ "$2" -nt "$1" ]; then echo "$2 is up to date"; return; fi
    "$PY" tools/model_converters/gcp2mmpretrain.py "$@"
}
convert "$OUT/published/iSQRT-COV-R50.pth.tar" "$OUT/checkpoints/resnet50-gcp_8xb32_in1k.pth"
convert "$OUT/published/DropCov-R50.pth.tar" "$OUT/checkpoints/resnet50-dropcov_8xb32_in1k.pth"
convert "$(ls "$OUT"/published/resnet50-*.pth)" "$OUT/checkpoints/resnet50-gap_8xb32_in1k.pth" \
    --config configs/pretrain/resnet50-gap_8xb32_in1k.py
# fast-MPN-COV's own layout converts to the same GCP model (not benchmarked: one GCP variant)
convert "$OUT/published/mpncovresnet50/model_best.pth.tar" \
    "$OUT/checkpoints/resnet50-gcp-fastmpncov_8xb32_in1k.pth" --format fast-mpncov \
    --config configs/pretrain/resnet50-gcp_8xb32_in1k.py

echo "[paper_rehearsal] configs/benchmark/paper.py on the local Slurm"
BUDGETS=()
# 1 epoch / 1 iteration, no validation during training (val_begin after the end): each run is
# evaluated once, by tools/test.py.
for task in coco coco_d2 coco_s1 coco_faster_rcnn; do
    BUDGETS+=("cfg_options.$task.train_cfg.max_epochs=1" "cfg_options.$task.train_cfg.val_begin=2")
done
for task in ade20k; do
    BUDGETS+=("cfg_options.$task.train_cfg.max_iters=1" "cfg_options.$task.train_cfg.val_begin=2")
done
exec "$PY" tools/benchmark_transfer.py configs/benchmark/paper.py --launcher slurm --wait \
    --poll-interval 5 --gpus 1 --auto-scale-lr --seeds 1 --work-dir "$OUT/benchmark" "$@" \
    --options device=cpu "data_root=$OUT/data" \
    "variants.gap.checkpoint=$OUT/checkpoints/resnet50-gap_8xb32_in1k.pth" \
    "variants.gcp.checkpoint=$OUT/checkpoints/resnet50-gcp_8xb32_in1k.pth" \
    "variants.dropcov.checkpoint=$OUT/checkpoints/resnet50-dropcov_8xb32_in1k.pth" \
    "${BUDGETS[@]}"
