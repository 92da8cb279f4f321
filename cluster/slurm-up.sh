#!/usr/bin/env bash
# Bring up a real single-node SLURM on this machine, for testing the slurm profile.
#
# Usage: cluster/slurm-up.sh [DIR]      (DIR defaults to $SLURM_LOCAL_DIR, else /tmp/stylesweep-slurm)
#        eval "$(cluster/slurm-up.sh)"  (stdout is only the `export SLURM_CONF=...` line)
#
# Everything it writes lives under DIR: munge key and socket, slurm.conf, gres.conf, the fake GPU
# devices, state, spool, logs, pid files, and DIR/pids (the daemons it started, for slurm-down.sh).
# Outside DIR: a symlink /etc/slurm/slurm.conf -> DIR/etc/slurm.conf (srun inside jobs needs it,
# see below), and `127.0.0.1 <hostname>` in /etc/hosts if the name does not resolve there.
# The daemons listen on 127.0.0.1 only. The node offers all CPUs, 90% of the memory and two fake
# GPUs (gres gpu:fake:2): jobs that ask for a GPU get CUDA_VISIBLE_DEVICES, nothing more.
# Needs root (slurmd runs jobs as their user; munged and the devices need it). Installs the Debian
# packages with apt-get when they are missing. Idempotent: a cluster already up is reused.
#
# Exit status: 0 up; 2 not root; 3 packages missing and cannot be installed; 4 failed to come up.
set -euo pipefail

readonly PACKAGES=(slurm-wlm slurmctld slurmd slurm-client munge)
DIR="$(realpath -m "${1:-${SLURM_LOCAL_DIR:-/tmp/stylesweep-slurm}}")"
readonly DIR
readonly PARTITION="${SLURM_LOCAL_PARTITION:-local}"
readonly CTLD_PORT="${SLURM_LOCAL_CTLD_PORT:-6817}"
readonly SLURMD_PORT="${SLURM_LOCAL_SLURMD_PORT:-6818}"
readonly WAIT_S="${SLURM_LOCAL_WAIT_S:-60}"
readonly CONF="$DIR/etc/slurm.conf"
readonly PIDS="$DIR/pids"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly HERE

say() { printf 'slurm-up: %s\n' "$*" >&2; }
STARTED=0
die() {
	local code="$1"
	shift
	say "error: $*"
	# Leave no half-started daemons behind.
	if ((STARTED)); then "$HERE/slurm-down.sh" "$DIR" >&2 || true; fi
	exit "$code"
}

alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

node_state() {
	SLURM_CONF="$CONF" timeout 10 sinfo -h -n "$NODE" -o %T 2>/dev/null | head -n1 || true
}

print_env() {
	say "up: partition '$PARTITION', node '$NODE', logs in $DIR/log; stop with cluster/slurm-down.sh $DIR"
	printf 'export SLURM_CONF=%q\n' "$CONF"
}

# --- preconditions -------------------------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || die 2 "must run as root (munged, slurmd and mknod need it); try: sudo $0 $*"

missing=()
for cmd in munged mungekey munge unmunge slurmctld slurmd sinfo sbatch squeue scontrol; do
	command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if ((${#missing[@]})); then
	command -v apt-get >/dev/null 2>&1 ||
		die 3 "missing ${missing[*]} and no apt-get to install them; install ${PACKAGES[*]} (Slurm 22.05) yourself"
	say "installing ${PACKAGES[*]} (missing: ${missing[*]})"
	# A fresh container often has empty package lists: update only when the first try fails.
	apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >"$1" 2>&1; }
	log="$(mktemp)"
	if ! apt_install "$log"; then
		DEBIAN_FRONTEND=noninteractive apt-get update -q >>"$log" 2>&1 || true
		apt_install "$log" || die 3 "apt-get install ${PACKAGES[*]} failed (no network?); last lines:
$(tail -n 5 "$log")"
	fi
	rm -f "$log"
fi

NODE="$(hostname -s)"
readonly NODE

# --- already up? ---------------------------------------------------------------------------------
if [[ -f "$PIDS" ]]; then
	up=1
	while read -r _ pid; do alive "$pid" || up=0; done <"$PIDS"
	if ((up)) && [[ "$(node_state)" =~ ^(idle|mixed|allocated|completing) ]]; then
		say "already running (pids in $PIDS)"
		print_env
		exit 0
	fi
	say "a previous cluster in $DIR is half up: stopping what is left of it"
	"$HERE/slurm-down.sh" "$DIR" || true
fi

# slurmd must find its own node name at 127.0.0.1, where slurmctld reaches it.
if ! getent ahostsv4 "$NODE" | grep -q '^127\.'; then
	say "adding '127.0.0.1 $NODE' to /etc/hosts (the node name must resolve to the loopback)"
	printf '127.0.0.1 %s\n' "$NODE" >>/etc/hosts
fi

# Ports taken by another slurmctld/slurmd (a system one, or another DIR) would make ours fail late.
for port in "$CTLD_PORT" "$SLURMD_PORT"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		die 4 "port $port on 127.0.0.1 is in use (another SLURM?); set SLURM_LOCAL_CTLD_PORT/SLURM_LOCAL_SLURMD_PORT"
	fi
done

# --- layout --------------------------------------------------------------------------------------
mkdir -p "$DIR"/{etc,state,spool,log,run,dev}
# munged refuses directories that others can write, and a key that others can read.
install -d -o munge -g munge -m 0755 "$DIR/munge"
runuser -u munge -- test -w "$DIR/munge" ||
	die 4 "user munge cannot reach $DIR/munge: DIR and its parents must be traversable (chmod o+x), e.g. not under a 0700 folder"
if [[ ! -s "$DIR/munge/munge.key" ]]; then
	mungekey --create --keyfile="$DIR/munge/munge.key"
fi
chown munge:munge "$DIR/munge/munge.key"
chmod 0400 "$DIR/munge/munge.key"
readonly MUNGE_SOCKET="$DIR/munge/munge.socket.2"

# Fake GPUs: gres.conf only accepts character devices. Major 1, minor 3 is /dev/null's: harmless.
for i in 0 1; do
	dev="$DIR/dev/fakegpu$i"
	[[ -c "$dev" ]] || { rm -f "$dev" && mknod -m 0666 "$dev" c 1 3; } ||
		die 4 "cannot create the character device $dev (filesystem mounted nodev?); choose another DIR"
done

# --- configuration -------------------------------------------------------------------------------
# Use what slurmd itself detects, so the node does not register as invalid; keep 10% of the memory
# for the submit host (Snakemake, local rules) that shares the machine.
read -r cpus boards sockets cores threads mem < <(
	slurmd -C | sed -n 's/^NodeName=.*CPUs=\([0-9]*\) Boards=\([0-9]*\) SocketsPerBoard=\([0-9]*\) CoresPerSocket=\([0-9]*\) ThreadsPerCore=\([0-9]*\) RealMemory=\([0-9]*\).*/\1 \2 \3 \4 \5 \6/p'
) || true
[[ -n "${mem:-}" ]] || die 4 "could not parse 'slurmd -C': $(slurmd -C 2>&1 | head -n1)"
mem=$((mem * 9 / 10))

cat >"$CONF" <<EOF
# Generated by cluster/slurm-up.sh: a single-node test cluster under $DIR.
ClusterName=stylesweep-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
# Listen on 127.0.0.1 only.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET

StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info

# No cgroups, no systemd, no database.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
# Without slurmdbd, sacct cannot answer: keep a plain-text record of every finished job instead.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none

SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default, one job would take the whole node's memory.
DefMemPerCPU=1000
# Finished jobs stay visible to squeue long enough for Snakemake's status checks.
MinJobAge=600
ReturnToService=2
# scancel: SIGTERM, then SIGKILL after 5 s rather than 30.
KillWait=5
InactiveLimit=0
# Records each task's job, step and CUDA_VISIBLE_DEVICES in log/tasks.log: how the tests see which
# fake GPU a job step was given (there is no CUDA here to ask).
TaskProlog=$DIR/etc/task-prolog.sh

GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$mem Gres=gpu:fake:2 State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF

# Inside a job, the Snakemake plugin starts the rule with `srun` after removing every SLURM_*
# variable, SLURM_CONF included, so srun reads the default path. Point it at ours with a symlink;
# never replace a real configuration (this machine would then belong to another cluster).
readonly SYSTEM_CONF=/etc/slurm/slurm.conf
if [[ -L "$SYSTEM_CONF" || ! -e "$SYSTEM_CONF" ]]; then
	current="$(readlink "$SYSTEM_CONF" || true)"
	if [[ -n "$current" && "$current" != "$CONF" && -e "$current" ]]; then
		die 4 "$SYSTEM_CONF points to $current, another local cluster; stop it first (cluster/slurm-down.sh $(dirname "$(dirname "$current")"))"
	fi
	mkdir -p "$(dirname "$SYSTEM_CONF")"
	ln -sfn "$CONF" "$SYSTEM_CONF"
else
	die 4 "$SYSTEM_CONF is a real SLURM configuration: this machine belongs to a cluster already"
fi

cat >"$DIR/etc/gres.conf" <<EOF
AutoDetect=off
NodeName=$NODE Name=gpu Type=fake File=$DIR/dev/fakegpu[0-1]
EOF

# It runs as the job's user with the task's environment; what it prints to stdout would set
# variables in the task, so it prints nothing.
cat >"$DIR/etc/task-prolog.sh" <<EOF
#!/bin/sh
printf 'job=%s step=%s CUDA_VISIBLE_DEVICES=%s\n' "\$SLURM_JOB_ID" "\${SLURM_STEP_ID-}" \\
	"\${CUDA_VISIBLE_DEVICES-unset}" >>"$DIR/log/tasks.log" 2>/dev/null
exit 0
EOF
chmod 0755 "$DIR/etc/task-prolog.sh"
touch "$DIR/log/tasks.log"
chmod 0666 "$DIR/log/tasks.log"

# --- daemons -------------------------------------------------------------------------------------
: >"$PIDS"
STARTED=1
record() { printf '%s %s\n' "$1" "$2" >>"$PIDS"; }

pid_from() { # pidfile, seconds: the daemon writes its pid file once it has forked
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		[[ -s "$1" ]] && alive "$(cat "$1")" && { cat "$1"; return 0; }
		sleep 0.1
	done
	return 1
}

rm -f "$DIR/munge/munged.pid" "$MUNGE_SOCKET" "$DIR/run/slurmctld.pid" "$DIR/run/slurmd.pid"
runuser -u munge -- munged --socket="$MUNGE_SOCKET" --key-file="$DIR/munge/munge.key" \
	--pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
	--seed-file="$DIR/munge/munged.seed" ||
	die 4 "munged failed to start: $(tail -n 3 "$DIR/munge/munged.log" 2>/dev/null)"
pid="$(pid_from "$DIR/munge/munged.pid" 10)" || die 4 "munged did not write its pid file"
record munged "$pid"
munge -n --socket="$MUNGE_SOCKET" | unmunge --socket="$MUNGE_SOCKET" >/dev/null ||
	die 4 "munge credentials do not round-trip; see $DIR/munge/munged.log"

# -c: start from a clean state (no jobs or node states from an earlier run in DIR).
slurmctld -c -f "$CONF" || die 4 "slurmctld failed to start; see $DIR/log/slurmctld.log"
pid="$(pid_from "$DIR/run/slurmctld.pid" 15)" ||
	die 4 "slurmctld did not stay up: $(tail -n 5 "$DIR/log/slurmctld.log" 2>/dev/null)"
record slurmctld "$pid"

slurmd -f "$CONF" || die 4 "slurmd failed to start; see $DIR/log/slurmd.log"
pid="$(pid_from "$DIR/run/slurmd.pid" 15)" ||
	die 4 "slurmd did not stay up: $(tail -n 5 "$DIR/log/slurmd.log" 2>/dev/null)"
record slurmd "$pid"

state=""
for ((i = 0; i < WAIT_S * 2; i++)); do
	state="$(node_state)"
	[[ "$state" == idle ]] && break
	sleep 0.5
done
[[ "$state" == idle ]] || die 4 "node '$NODE' is '${state:-unreachable}' after ${WAIT_S}s, not idle; see $DIR/log/
$(tail -n 5 "$DIR/log/slurmctld.log" 2>/dev/null)"

print_env
