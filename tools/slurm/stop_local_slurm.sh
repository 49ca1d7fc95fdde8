#!/usr/bin/env bash
# Stop the one-node cluster started by tools/slurm/start_local_slurm.sh (by the pids it wrote).
# munged is left running (other programs may use it). Jobs still running are killed with slurmd.
set -uo pipefail
DIR="${MMGCP_SLURM_DIR:-/tmp/mmgcp-slurm}"
for daemon in slurmd slurmctld; do
    pidfile="$DIR/$daemon.pid"
    if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        pid="$(cat "$pidfile")"
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        echo "[stop_local_slurm] stopped $daemon ($pid)" >&2
    fi
done
