#!/bin/bash
# A single-node Slurm on localhost for the cluster tests, everything (munge included) in one scratch
# directory: `slurm-local.sh start DIR` prints the SLURM_CONF to export; `slurm-local.sh stop DIR`
# stops slurmctld, slurmd and munged. Needs root and Debian's slurmctld, slurmd, slurm-client and
# munge (scripts/test.sh installs them). Recipe: ../shared/notes/ci-recipes.md.
set -euo pipefail
cmd=${1:?start|stop}; SD=${2:?scratch directory}

if [ "$cmd" = stop ]; then
    SLURM_CONF=$SD/slurm.conf timeout 10 scontrol shutdown >/dev/null 2>&1 || true
    pids=$(cat "$SD/slurmctld.pid" "$SD/slurmd.pid" "$SD/munge/munged.pid" 2>/dev/null || true)
    [ -n "$pids" ] && kill $pids 2>/dev/null
    pkill -f -- "$SD/" 2>/dev/null  # munged names its socket there
    for _ in $(seq 1 25); do
        alive=""; for p in $pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
        [ -z "$alive" ] && break; sleep 0.2
    done
    [ -n "${alive:-}" ] && kill -KILL $alive 2>/dev/null
    exit 0
fi

# slurmd initialises its cgroup plugin even with proctrack/linuxproc and task/none, and fails
# ("No filesystem mounted on /sys/fs/cgroup") where nothing is mounted there, as in a bare chroot.
# Mount what the kernel's hierarchy calls for: cgroup2 alone on a unified host; on a v1 host the
# plugin wants a tmpfs with the name=systemd hierarchy (a cgroup2 mount there is "hybrid", refused).
if ! mountpoint -q /sys/fs/cgroup; then
    if grep -qv '^0::' /proc/self/cgroup; then
        mount -t tmpfs -o mode=755 tmpfs /sys/fs/cgroup
        mkdir -p /sys/fs/cgroup/systemd
        mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    else
        mount -t cgroup2 none /sys/fs/cgroup
    fi
fi

mkdir -p "$SD/state" "$SD/spool" "$SD/log" "$SD/munge"
chown munge:munge "$SD/munge"; chmod 0755 "$SD" "$SD/munge"
M=$SD/munge
[ -s "$M/munge.key" ] || runuser -u munge -- mungekey --create --keyfile="$M/munge.key"
runuser -u munge -- munged --socket="$M/munge.sock" --key-file="$M/munge.key" --pid-file="$M/munged.pid" \
    --log-file="$M/munged.log" --seed-file="$M/munged.seed"
munge --socket="$M/munge.sock" -n | unmunge --socket="$M/munge.sock" >/dev/null

MEM=$(slurmd -C | sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p')
NCPU=$(nproc)
cat > "$SD/slurm.conf" <<CONF
ClusterName=stylefarm-test
SlurmctldHost=localhost
SlurmctldPort=${SLURMCTLD_PORT:-6817}
SlurmdPort=${SLURMD_PORT:-6818}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$M/munge.sock
StateSaveLocation=$SD/state
SlurmdSpoolDir=$SD/spool
SlurmctldPidFile=$SD/slurmctld.pid
SlurmdPidFile=$SD/slurmd.pid
SlurmctldLogFile=$SD/log/slurmctld.log
SlurmdLogFile=$SD/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$NCPU Sockets=1 CoresPerSocket=$NCPU ThreadsPerCore=1 RealMemory=$MEM State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$SD/slurm.conf
slurmctld
slurmd -N localhost
for _ in $(seq 1 60); do sinfo -h -o '%t' 2>/dev/null | grep -qx idle && break; sleep 0.5; done
sinfo -h -o '%t' | grep -qx idle || { echo "slurm did not come up; logs in $SD/log" >&2; exit 1; }
echo "$SLURM_CONF"
