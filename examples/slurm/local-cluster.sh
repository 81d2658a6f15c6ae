#!/usr/bin/env bash
# A two-node Slurm cluster on loopback, entirely inside one folder: its own munge key and socket, its
# own slurm.conf with private ports, slurmctld and two slurmd (nodes node1 and node2, each with half of
# this machine's CPUs) as root. The tests run advd's Slurm executor against it, and it lets anyone try
# `executor: slurm` on one machine.
#
#   examples/slurm/local-cluster.sh start DIR   start it (prints the SLURM_CONF to export), wait until the node is idle
#   examples/slurm/local-cluster.sh stop DIR    stop the daemons started in DIR
#   examples/slurm/local-cluster.sh stop-controller DIR / start-controller DIR
#                                               stop or start slurmctld alone (an outage, for tests)
#
# Needs Debian's slurmctld, slurmd, slurm-client and munge (`make slurm-deps`) and root.
set -euo pipefail

# The daemons started here must hold no descriptor of the caller's (a pipe it reads to its end, the
# socket a parent process watches for this script's exit): close every inherited one above stderr,
# except 255, where bash reads this script from.
for fd in $(ls /proc/$$/fd); do
    if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
done

command=${1:-}
dir=${2:-}
[ -n "$command" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop|stop-controller|start-controller DIR" >&2; exit 2; }
dir=$(realpath -m "$dir")
conf=$dir/slurm.conf

stop_pid_file() {
    local file=$1
    [ -f "$file" ] || return 0
    local pid
    pid=$(cat "$file")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

start_controller() {
    slurmctld -f "$conf" -i </dev/null >>"$dir/log/slurmctld.stderr" 2>&1
}

wait_until_idle() {
    for _ in $(seq 150); do
        up=$(SLURM_CONF=$conf sinfo -h -N -o '%t' 2>/dev/null | grep -cE '^(idle|mix|alloc)' || true)
        if [ "$up" -ge 2 ]; then return 0; fi
        sleep 0.2
    done
    echo "the two Slurm nodes did not come up in 30 s; see $dir/log" >&2
    tail -n 20 "$dir"/log/*.log >&2 || true
    return 1
}

case $command in
start)
    for tool in slurmctld slurmd sinfo munged mungekey; do
        command -v "$tool" > /dev/null || { echo "$tool is missing: run make slurm-deps" >&2; exit 1; }
    done
    mkdir -p "$dir"/{munge,state,spool,log}
    chmod 0700 "$dir/munge"
    [ -f "$dir/munge/munge.key" ] || mungekey --create --keyfile="$dir/munge/munge.key"
    munged --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
        --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed" --force </dev/null >>"$dir/log/munged.stderr" 2>&1
    # private ports, different for each folder so that two clusters (two test runs) never collide
    base=$(( 20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000 ))
    # two nodes on this one host (Debian's slurmd runs several per host, each on its own port)
    cpus=$(( $(nproc) / 2 )); [ "$cpus" -ge 1 ] || cpus=1
    memory=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) * 4 / 10 / 1024 ))
    cat > "$conf" <<CONF
ClusterName=advdlocal
SlurmctldHost=localhost
SlurmctldPort=$base
SlurmdPort=$(( base + 1 ))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
# finished jobs stay visible to squeue for 10 minutes (there is no accounting database here)
MinJobAge=600
KillWait=10
NodeName=node1 NodeHostname=localhost Port=$(( base + 1 )) CPUs=$cpus RealMemory=$memory State=UNKNOWN
NodeName=node2 NodeHostname=localhost Port=$(( base + 2 )) CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=debug Nodes=node1,node2 Default=YES MaxTime=INFINITE State=UP
CONF
    mkdir -p "$dir/spool/node1" "$dir/spool/node2"
    start_controller
    for node in node1 node2; do
        slurmd -f "$conf" -N "$node" </dev/null >>"$dir/log/slurmd-$node.stderr" 2>&1
    done
    wait_until_idle
    echo "SLURM_CONF=$conf"
    ;;
stop)
    stop_pid_file "$dir/slurmd-node1.pid"
    stop_pid_file "$dir/slurmd-node2.pid"
    stop_pid_file "$dir/slurmctld.pid"
    stop_pid_file "$dir/munge/munged.pid"
    ;;
stop-controller)
    stop_pid_file "$dir/slurmctld.pid"
    ;;
start-controller)
    start_controller
    wait_until_idle
    ;;
*)
    echo "unknown command $command; use start, stop, stop-controller or start-controller" >&2; exit 2 ;;
esac
