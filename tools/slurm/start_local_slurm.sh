#!/usr/bin/env bash
# Install (if needed), configure and start a one-node Slurm cluster on this machine: slurmctld +
# slurmd on localhost with munge authentication, partition `debug` with every CPU of the machine.
# Idempotent: a running cluster is left as it is. Needs root (apt-get, daemons).
#   bash tools/slurm/start_local_slurm.sh          # then: export SLURM_CONF=$MMGCP_SLURM_DIR/slurm.conf
# State, spool, pid and log files live in MMGCP_SLURM_DIR (default /tmp/mmgcp-slurm).
# Stop it with tools/slurm/stop_local_slurm.sh.
set -euo pipefail
DIR="${MMGCP_SLURM_DIR:-/tmp/mmgcp-slurm}"
CONF="$DIR/slurm.conf"
export SLURM_CONF="$CONF"

log() { echo "[start_local_slurm] $*" >&2; }

node_ready() {
    local state
    state="$(sinfo -h -n localhost -o %T 2>/dev/null | head -1)" || return 1
    [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]]
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [[ -f "$CONF" ]] && alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && node_ready; then
    log "already running ($CONF)"
    echo "export SLURM_CONF=$CONF"
    exit 0
fi

if [[ "$(id -u)" != 0 ]]; then
    log "needs root to install and start the Slurm daemons (run it as root or with sudo)."
    exit 1
fi

# 1. Packages (Debian's Slurm 22.05 + munge), only when missing.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# 2. munge: runs as the munge user (as root it refuses to start).
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    if [[ ! -f /etc/munge/munge.key ]]; then
        if command -v mungekey >/dev/null; then mungekey --create --keyfile /etc/munge/munge.key
        else dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    chmod 755 /run/munge
    log "starting munged"
    if command -v runuser >/dev/null; then runuser -u munge -- /usr/sbin/munged
    else su -s /bin/sh munge -c /usr/sbin/munged; fi
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || { log "munged did not start"; exit 1; }
fi

# 3. Configuration: one node (localhost) with this machine's CPUs and memory.
mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log"
CPUS="$(nproc)"
MEM="$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -1)"
MEM="${MEM:-1000}"
cat > "$CONF" <<CONFEOF
# Written by tools/slurm/start_local_slurm.sh: a one-node cluster on localhost.
ClusterName=mmgcp-local
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
JobAcctGatherType=jobacct_gather/none
MinJobAge=86400
ReturnToService=2
MailProg=/bin/true
SchedulerType=sched/backfill
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
StateSaveLocation=$DIR/spool/ctld
SlurmdSpoolDir=$DIR/spool/d
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldPort=${MMGCP_SLURMCTLD_PORT:-6817}
SlurmdPort=${MMGCP_SLURMD_PORT:-6818}
NodeName=localhost CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONFEOF

# 4. Daemons (each writes its pid file; stop_local_slurm.sh uses them).
if ! alive "$DIR/slurmctld.pid"; then
    log "starting slurmctld"
    slurmctld -f "$CONF"
fi
if ! alive "$DIR/slurmd.pid"; then
    log "starting slurmd"
    slurmd -f "$CONF" -N localhost
fi
for _ in $(seq 150); do node_ready && break; sleep 0.2; done
if ! node_ready; then
    log "the node did not become idle; see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
    exit 1
fi
log "running: partition debug, $CPUS CPUs ($CONF)"
echo "export SLURM_CONF=$CONF"
