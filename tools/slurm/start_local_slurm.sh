#!/usr/bin/env bash
# Install (if needed), configure and start a one-node Slurm cluster on this machine, with
# accounting as a real cluster has it: MariaDB + slurmdbd (so `sacct` reports final states, exit
# codes and times), slurmctld + slurmd on localhost with munge authentication, partition `debug`
# with every CPU of the machine.
# Idempotent: a running cluster is left as it is. Needs root (apt-get, daemons). No systemd needed.
#   bash tools/slurm/start_local_slurm.sh          # then: export SLURM_CONF=$MMGCP_SLURM_DIR/slurm.conf
# State, spool, database, pid and log files live in MMGCP_SLURM_DIR (default /tmp/mmgcp-slurm).
# Ports: MMGCP_SLURMCTLD_PORT (6817), MMGCP_SLURMD_PORT (6818), MMGCP_SLURMDBD_PORT (6819),
# MMGCP_MARIADB_PORT (6820; MariaDB listens on 127.0.0.1 only).
# Stop it with tools/slurm/stop_local_slurm.sh.
set -euo pipefail
DIR="${MMGCP_SLURM_DIR:-/tmp/mmgcp-slurm}"
CONF="$DIR/slurm.conf"
DBD_CONF="$DIR/slurmdbd.conf"  # slurmdbd reads slurmdbd.conf next to $SLURM_CONF
DB_DIR="$DIR/mariadb"
DB_SOCK="$DB_DIR/mariadb.sock"
CTLD_PORT="${MMGCP_SLURMCTLD_PORT:-6817}"
SLURMD_PORT="${MMGCP_SLURMD_PORT:-6818}"
DBD_PORT="${MMGCP_SLURMDBD_PORT:-6819}"
DB_PORT="${MMGCP_MARIADB_PORT:-6820}"
CLUSTER=mmgcp-local
DB_NAME=slurm_acct_db
export SLURM_CONF="$CONF"

log() { echo "[start_local_slurm] $*" >&2; }
fail() { log "$*"; exit 1; }

node_ready() {
    local state
    state="$(sinfo -h -n localhost -o %T 2>/dev/null | head -1)" || return 1
    [[ "$state" == idle* || "$state" == mix* || "$state" == alloc* ]]
}

alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

db_ready() { mariadb-admin --no-defaults --socket="$DB_SOCK" -u root ping >/dev/null 2>&1; }

# sacctmgr answers only when slurmdbd is up and connected to its database.
dbd_ready() { sacctmgr -n -P list cluster format=cluster >/dev/null 2>&1; }

if [[ -f "$CONF" ]] && alive "$DB_DIR/mariadb.pid" && alive "$DIR/slurmdbd.pid" \
        && alive "$DIR/slurmctld.pid" && alive "$DIR/slurmd.pid" && node_ready; then
    log "already running ($CONF)"
    echo "export SLURM_CONF=$CONF"
    exit 0
fi

[[ "$(id -u)" == 0 ]] \
    || fail "needs root to install and start the Slurm daemons (run it as root or with sudo)."

# 1. Packages (Debian's Slurm 22.05, munge, slurmdbd with MariaDB), only when missing.
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
        || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null \
        || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
    log "installing slurmctld slurmd slurm-client munge slurmdbd mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The packages' own services are not wanted (no init here, and ours run from $DIR): a
    # policy-rc.d that refuses every start keeps their postinst scripts from launching them.
    policy=/usr/sbin/policy-rc.d
    own_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        own_policy=1
    fi
    status=0
    apt-get install -y -qq --no-install-recommends \
        slurmctld slurmd slurm-client munge slurmdbd mariadb-server >/dev/null || status=$?
    [[ "$own_policy" == 1 ]] && rm -f "$policy"
    [[ "$status" == 0 ]] || fail "apt-get install failed ($status); see its output above."
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
    munge -n | unmunge >/dev/null || fail "munged did not start; see /var/log/munge/munged.log"
fi

mkdir -p "$DIR/spool/ctld" "$DIR/spool/d" "$DIR/log" "$DB_DIR"
chmod 755 "$DIR"

# 3. MariaDB of its own in $DIR/mariadb (data, socket, pid, log), run as the mysql user and
# reachable on 127.0.0.1 only (slurmdbd connects over TCP: it has no socket setting).
chown mysql:mysql "$DB_DIR"
runuser -u mysql -- test -x "$DB_DIR" \
    || fail "the mysql user cannot reach $DB_DIR (a parent folder is not world-searchable);" \
            "choose another MMGCP_SLURM_DIR."
if [[ ! -d "$DB_DIR/data/mysql" ]]; then
    log "creating the MariaDB data folder $DB_DIR/data"
    rm -rf "$DB_DIR/data.init"
    # Into a side folder first, so that an interrupted initialisation is redone, not reused.
    mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR/data.init" \
        --auth-root-authentication-method=socket --skip-test-db \
        >"$DIR/log/mariadb-install.log" 2>&1 \
        || fail "mariadb-install-db failed; see $DIR/log/mariadb-install.log"
    mv "$DB_DIR/data.init" "$DB_DIR/data"
fi
if ! alive "$DB_DIR/mariadb.pid"; then
    log "starting MariaDB (127.0.0.1:$DB_PORT)"
    # Half of the buffer pool and the lock wait Slurm's accounting guide asks for: below them
    # slurmdbd logs "Database settings not recommended values" (the pool is only reserved).
    setsid mariadbd --no-defaults --user=mysql --datadir="$DB_DIR/data" --socket="$DB_SOCK" \
        --pid-file="$DB_DIR/mariadb.pid" --log-error="$DIR/log/mariadb.log" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --innodb-lock-wait-timeout=900 \
        --innodb-buffer-pool-size=512M \
        </dev/null >/dev/null 2>&1 &
fi
for _ in $(seq 300); do db_ready && break; sleep 0.1; done
db_ready || fail "MariaDB did not start; see $DIR/log/mariadb.log"

# 4. The accounting database and its user. The password is made once and kept in slurmdbd.conf
# (mode 600, root only), which is rewritten with the same one on every start.
DB_PASS="$(sed -n 's/^StoragePass=//p' "$DBD_CONF" 2>/dev/null || true)"
[[ -n "$DB_PASS" ]] || DB_PASS="$(head -c 18 /dev/urandom | base64 | tr -d '+/=')"
mariadb --no-defaults --socket="$DB_SOCK" -u root <<SQLEOF \
    || fail "could not create the accounting database; see $DIR/log/mariadb.log"
CREATE DATABASE IF NOT EXISTS $DB_NAME;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON $DB_NAME.* TO 'slurm'@'127.0.0.1';
SQLEOF
(
    umask 077
    cat > "$DBD_CONF" <<DBDEOF
# Written by tools/slurm/start_local_slurm.sh: accounting for the one-node cluster.
AuthType=auth/munge
DbdHost=localhost
DbdPort=$DBD_PORT
SlurmUser=root
PidFile=$DIR/slurmdbd.pid
LogFile=$DIR/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=$DB_NAME
DBDEOF
)
chown root:root "$DBD_CONF"
chmod 600 "$DBD_CONF"

# 5. Configuration: one node (localhost) with this machine's CPUs and memory. Final job states
# come from accounting (sacct), so no job completion log is kept.
# The machine's CPUs as slurmd detects them (nproc would report only the CPUs this shell may use,
# e.g. 1 when started from inside a job).
CPUS="$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^CPUs=//p' | head -1)"
CPUS="${CPUS:-$(getconf _NPROCESSORS_ONLN)}"
MEM="$(slurmd -C 2>/dev/null | tr ' ' '\n' | sed -n 's/^RealMemory=//p' | head -1)"
MEM="${MEM:-1000}"
cat > "$CONF.new" <<CONFEOF
# Written by tools/slurm/start_local_slurm.sh: a one-node cluster on localhost.
ClusterName=$CLUSTER
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
# A requeued job may start again cred_expire + 1 s after it stopped (default 120 s), once a
# scheduling pass sees it (default every 60 s): 2-3 minutes. 15 s still covers a step launch on a
# loaded machine; passes every 2 s cost nothing on one node.
AuthInfo=cred_expire=15
CredType=cred/munge
SchedulerParameters=sched_interval=2
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=$DBD_PORT
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
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
NodeName=localhost CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONFEOF
# Daemons still running from an older configuration (a cluster started by an earlier version of
# this script, say) are restarted below with the new one; their jobs keep running.
if ! cmp -s "$CONF.new" "$CONF"; then
    for daemon in slurmd slurmctld; do
        if alive "$DIR/$daemon.pid"; then
            log "configuration changed: restarting $daemon"
            pid="$(cat "$DIR/$daemon.pid")"
            kill "$pid"
            for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        fi
    done
fi
mv "$CONF.new" "$CONF"

# 6. Daemons (each writes its pid file; stop_local_slurm.sh uses them). slurmdbd first, and the
# cluster registered in it, so that slurmctld records every job from the start.
if ! alive "$DIR/slurmdbd.pid"; then
    log "starting slurmdbd (port $DBD_PORT)"
    slurmdbd || fail "slurmdbd did not start; see $DIR/log/slurmdbd.log"
fi
for _ in $(seq 150); do dbd_ready && break; sleep 0.2; done
dbd_ready || fail "slurmdbd does not answer; see $DIR/log/slurmdbd.log and $DIR/log/mariadb.log"
if [[ -z "$(sacctmgr -n -P list cluster "$CLUSTER" format=cluster)" ]]; then
    log "registering cluster $CLUSTER in the accounting database"
    sacctmgr -i add cluster "$CLUSTER" >/dev/null \
        || fail "sacctmgr could not add cluster $CLUSTER; see $DIR/log/slurmdbd.log"
fi
if ! alive "$DIR/slurmctld.pid"; then
    log "starting slurmctld"
    slurmctld -f "$CONF" || fail "slurmctld did not start; see $DIR/log/slurmctld.log"
fi
if ! alive "$DIR/slurmd.pid"; then
    log "starting slurmd"
    slurmd -f "$CONF" -N localhost || fail "slurmd did not start; see $DIR/log/slurmd.log"
fi
for _ in $(seq 150); do node_ready && break; sleep 0.2; done
node_ready \
    || fail "the node did not become idle; see $DIR/log/slurmctld.log and $DIR/log/slurmd.log"
log "running: partition debug, $CPUS CPUs, accounting by slurmdbd ($CONF)"
echo "export SLURM_CONF=$CONF"
