#!/usr/bin/env bash
# Stop the one-node cluster started by tools/slurm/start_local_slurm.sh (by the pids it wrote):
# slurmd, slurmctld, slurmdbd, then its MariaDB. munged is left running (other programs may use
# it). Jobs still running are killed with slurmd. The accounting database stays in
# $MMGCP_SLURM_DIR/mariadb, so a restart keeps the job history.
set -uo pipefail
DIR="${MMGCP_SLURM_DIR:-/tmp/mmgcp-slurm}"

# stop NAME PIDFILE SECONDS: SIGTERM, then wait for the process to go (MariaDB flushes first).
stop() {
    local pid
    [[ -f "$2" ]] && pid="$(cat "$2")" && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid"
    for _ in $(seq $(($3 * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "[stop_local_slurm] $1 ($pid) still running after ${3}s; see $DIR/log/$1.log" >&2
        return 1
    fi
    echo "[stop_local_slurm] stopped $1 ($pid)" >&2
}

status=0
stop slurmd "$DIR/slurmd.pid" 30 || status=1
stop slurmctld "$DIR/slurmctld.pid" 30 || status=1
stop slurmdbd "$DIR/slurmdbd.pid" 30 || status=1
stop mariadb "$DIR/mariadb/mariadb.pid" 60 || status=1
exit "$status"
