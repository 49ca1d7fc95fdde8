#!/usr/bin/env bash
# Check that mmgcp works on this machine's GPU, in one command, and print one summary.
#
#   bash tools/check_gpu.sh            # from the repository root, after tools/setup_env.sh
#
# Parts (each reports PASS, FAIL or SKIPPED with the reason; see docs/gpu.md):
#   env        torch, CUDA, GPU and nvcc
#   mmcv-cuda  setup_env.sh took its CUDA path where nvcc and a GPU are present (mmcv.ops runs a
#              CUDA kernel)
#   tests      the CUDA tests: pytest -m cuda tests/test_ops/test_cuda.py
#   bench      tools/analysis/benchmark_ops.py on CUDA: B=128, d=256, 14x14 and 28x28, fused vs
#              published vs autograd, float32 and bfloat16; then the matrix-power paths
#   train      a short GPU training of the toy GCP classifier with --amp
# Where no GPU is visible every GPU part is SKIPPED and the summary says so (exit status 0);
# a FAILED part makes the exit status 1.
#
# Environment:
#   PYTHON               the Python to use (default: .venv/bin/python, else python3)
#   MMGCP_CHECK_WORKDIR  where logs, toy data and the training go (default: a fresh temp dir)
#   MMGCP_CHECK_REPEATS  timed repeats of the op benchmark (default: 10)
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY="$(command -v python3)"; fi
fi
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
if [ -n "${MMGCP_CHECK_WORKDIR:-}" ]; then WORK="$MMGCP_CHECK_WORKDIR"; else WORK="$(mktemp -d -t mmgcp-check-gpu.XXXXXX)"; TEMP_WORK=1; fi
mkdir -p "$WORK" || exit 1
REPEATS="${MMGCP_CHECK_REPEATS:-10}"

declare -a SUMMARY=()
FAILED=0
note() { printf '[check_gpu] %s\n' "$*"; }
result() {  # result PART STATUS DETAIL
    SUMMARY+=("$(printf '%-10s %-8s %s' "$1" "$2" "$3")")
    [ "$2" = FAIL ] && FAILED=1
    note "$1: $2 $3"
}

# env -----------------------------------------------------------------------------------------
ENV_INFO="$("$PY" - <<'PYEOF' 2>&1
import torch
gpu = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if gpu else '-'
cap = '%d.%d' % torch.cuda.get_device_capability(0) if gpu else '-'
print(f'{int(gpu)}|torch {torch.__version__}, CUDA build {torch.version.cuda}, '
      f'GPU: {name} (sm {cap})')
PYEOF
)"
if [ $? -ne 0 ]; then
    result env FAIL "python/torch does not import: ${ENV_INFO##*$'\n'}"
    printf '\n== mmgcp GPU check summary ==\n'; printf '%s\n' "${SUMMARY[@]}"; exit 1
fi
HAS_GPU="${ENV_INFO%%|*}"
NVCC="$(command -v nvcc || true)"
if [ -n "$NVCC" ]; then NVCC_INFO="nvcc: $("$NVCC" --version | tail -n1)"; else NVCC_INFO="nvcc: not found"; fi
result env INFO "${ENV_INFO#*|}; $NVCC_INFO"

if [ "$HAS_GPU" != 1 ]; then
    REASON="no GPU visible to torch (torch.cuda.is_available() is False)"
    if [ -n "$NVCC" ]; then
        result mmcv-cuda SKIPPED "$REASON; nvcc is here, but setup_env.sh builds mmcv's CUDA ops only where a GPU is visible too"
    else
        result mmcv-cuda SKIPPED "$REASON, and nvcc not found (setup_env.sh builds mmcv's CPU ops only)"
    fi
    for part in tests bench train; do result "$part" SKIPPED "$REASON"; done
    [ -n "${TEMP_WORK:-}" ] && rmdir "$WORK" 2>/dev/null && WORK="(none)"
    printf '\n== mmgcp GPU check summary (work dir %s) ==\n' "$WORK"
    printf '%s\n' "${SUMMARY[@]}"
    note "nothing ran on a GPU: run this script on a machine with a CUDA GPU."
    exit 0
fi

# mmcv-cuda -----------------------------------------------------------------------------------
if [ -z "$NVCC" ]; then
    result mmcv-cuda SKIPPED "nvcc not found: setup_env.sh built mmcv's CPU ops only (the GCP ops and the toy training do not need mmcv's CUDA ops; install the CUDA toolkit and rerun tools/setup_env.sh for them)"
else
    if MMCV_OUT="$("$PY" - <<'PYEOF' 2>&1
import torch
import mmcv
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [50., 50., 60., 60.]]).cuda()
scores = torch.tensor([0.9, 0.8, 0.7]).cuda()
_, keep = nms(boxes, scores, 0.5)
assert keep.is_cuda and keep.tolist() == [0, 2], keep
print(f'mmcv {mmcv.__version__}: mmcv.ops.nms ran on {torch.cuda.get_device_name(0)}')
PYEOF
)"; then
        result mmcv-cuda PASS "${MMCV_OUT##*$'\n'}"
    else
        result mmcv-cuda FAIL "mmcv.ops has no CUDA kernels (${MMCV_OUT##*$'\n'}); setup_env.sh should have built them here: remove the cached CPU wheel (~/.cache/mmgcp/wheels/*-cpu) and .venv's mmcv, then rerun tools/setup_env.sh"
    fi
fi

# tests ---------------------------------------------------------------------------------------
"$PY" -m pytest -m cuda tests/test_ops/test_cuda.py -q -rs -p no:cacheprovider >"$WORK/tests.log" 2>&1
STATUS=$?
TESTS_LINE="$(grep -E '(passed|failed|skipped|error)' "$WORK/tests.log" | tail -n1)"
if [ $STATUS -eq 0 ]; then result tests PASS "$TESTS_LINE"; else result tests FAIL "$TESTS_LINE (log: $WORK/tests.log)"; fi

# bench ---------------------------------------------------------------------------------------
"$PY" tools/analysis/benchmark_ops.py --device cuda --batch-size 128 --channels 256 --size 14 28 \
    --dtype float32 bfloat16 --repeats "$REPEATS" --warmup 3 >"$WORK/bench.log" 2>&1
STATUS=$?
"$PY" tools/analysis/benchmark_ops.py --device cuda --mode power --batch-size 128 --channels 256 \
    --size 14 --repeats "$REPEATS" --warmup 2 >>"$WORK/bench.log" 2>&1
STATUS=$(( STATUS || $? ))
if [ $STATUS -eq 0 ]; then
    result bench PASS "ratios below (log: $WORK/bench.log)"
else
    result bench FAIL "benchmark_ops.py failed (log: $WORK/bench.log)"
fi

# train ---------------------------------------------------------------------------------------
TRAIN_DIR="$WORK/train"
if "$PY" tools/dataset_converters/make_toy_data.py cls --out-dir "$WORK/data" >"$WORK/train.log" 2>&1 \
    && "$PY" tools/train.py configs/toy/resnet18-w16-gcp_1xb32_toy.py --amp --work-dir "$TRAIN_DIR" \
        --cfg-options train_cfg.max_epochs=2 train_cfg.val_interval=2 \
        train_dataloader.dataset.data_root="$WORK/data/cls" \
        val_dataloader.dataset.data_root="$WORK/data/cls" \
        test_dataloader.dataset.data_root="$WORK/data/cls" >>"$WORK/train.log" 2>&1; then
    ACC="$(grep -oE 'accuracy/top1: [0-9.]+' "$WORK/train.log" | tail -n1)"
    AMP="$(grep -oE "type='[A-Za-z.]*AmpOptimWrapper'" "$WORK/train.log" | head -n1)"
    result train PASS "2 epochs with --amp (${AMP:-optimizer wrapper not logged}) on the GPU, ${ACC:-no accuracy logged}"
else
    result train FAIL "toy training failed: $(tail -n1 "$WORK/train.log") (log: $WORK/train.log)"
fi

printf '\n== mmgcp GPU check summary (work dir %s) ==\n' "$WORK"
printf '%s\n' "${SUMMARY[@]}"
if [ -f "$WORK/bench.log" ]; then
    printf -- '-- op benchmark (this run) --\n'
    grep -E '^(== |RATIOS|eigh|iSQRT)' "$WORK/bench.log"
fi
exit $FAILED
