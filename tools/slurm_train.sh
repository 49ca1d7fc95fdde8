#!/usr/bin/env bash
# Usage: GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# A cluster without GPUs: GPUS_PER_NODE=0 runs GPUS tasks on CPUs (gloo) and asks for no GPU
# (Slurm refuses --gres=gpu:N where no GPU is configured); TASKS_PER_NODE of them per node
# (default: GPUS_PER_NODE, or GPUS on a CPU cluster).
set -x
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PY_ARGS=${@:5}
if [ "${GPUS_PER_NODE}" -gt 0 ]; then
    GRES_ARGS="--gres=gpu:${GPUS_PER_NODE}"
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS_PER_NODE}}
else
    GRES_ARGS=""
    TASKS_PER_NODE=${TASKS_PER_NODE:-${GPUS}}
fi

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
srun -p "${PARTITION}" \
    --job-name="${JOB_NAME}" \
    ${GRES_ARGS} \
    --ntasks="${GPUS}" \
    --ntasks-per-node="${TASKS_PER_NODE}" \
    --cpus-per-task="${CPUS_PER_TASK}" \
    --kill-on-bad-exit=1 \
    ${SRUN_ARGS} \
    python -u tools/train.py "${CONFIG}" --work-dir="${WORK_DIR}" --launcher="slurm" ${PY_ARGS}
