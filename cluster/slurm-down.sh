#!/usr/bin/env bash
# Stop the single-node SLURM that cluster/slurm-up.sh started in DIR.
#
# Usage: cluster/slurm-down.sh [DIR]   (DIR defaults to $SLURM_LOCAL_DIR, else /tmp/stylesweep-slurm)
#
# Stops only the processes listed in DIR/pids (slurmd, slurmctld, munged), after cancelling the jobs
# still queued on that cluster (their job steps outlive slurmd otherwise), and removes the
# /etc/slurm/slurm.conf symlink that slurm-up.sh made. Leaves DIR in place: its logs are the
# evidence of what ran. Idempotent: nothing listed, nothing to do.
#
# Exit status: 0 stopped (or nothing to stop); 2 not root; 4 a daemon would not stop.
set -euo pipefail

DIR="$(realpath -m "${1:-${SLURM_LOCAL_DIR:-/tmp/stylesweep-slurm}}")"
readonly DIR
readonly CONF="$DIR/etc/slurm.conf"
readonly PIDS="$DIR/pids"

say() { printf 'slurm-down: %s\n' "$*" >&2; }

# slurm-up.sh pointed the default configuration path at ours (for srun inside jobs): undo that.
unlink_conf() {
	if [[ "$(readlink /etc/slurm/slurm.conf 2>/dev/null || true)" == "$CONF" ]]; then
		rm -f /etc/slurm/slurm.conf || say "cannot remove the symlink /etc/slurm/slurm.conf"
	fi
}

if [[ ! -s "$PIDS" ]]; then
	say "nothing to stop in $DIR"
	unlink_conf
	exit 0
fi
[[ "$(id -u)" == 0 ]] || {
	say "error: must run as root to stop the daemons in $PIDS"
	exit 2
}

# A pid is ours only while it still names the daemon we started: pids get reused.
ours() { [[ -r "/proc/$2/comm" && "$(cat "/proc/$2/comm" 2>/dev/null)" == "$1" ]]; }

declare -A pid_of=()
while read -r name pid; do
	[[ -n "${name:-}" && -n "${pid:-}" ]] && pid_of[$name]="$pid"
done <"$PIDS"

# Cancel this cluster's jobs while slurmctld can still do it, and give their steps a moment to end.
if [[ -n "${pid_of[slurmctld]:-}" ]] && ours slurmctld "${pid_of[slurmctld]}"; then
	mapfile -t jobs < <(SLURM_CONF="$CONF" timeout 10 squeue -h -o %i 2>/dev/null || true)
	if ((${#jobs[@]})); then
		say "cancelling ${#jobs[@]} job(s): ${jobs[*]}"
		SLURM_CONF="$CONF" timeout 10 scancel "${jobs[@]}" 2>/dev/null || true
		for ((i = 0; i < 30; i++)); do
			[[ -z "$(SLURM_CONF="$CONF" timeout 5 squeue -h -t R,CG -o %i 2>/dev/null || true)" ]] && break
			sleep 0.5
		done
	fi
fi

# Compute daemon first, then the controller, then the authentication they both use.
failed=()
for name in slurmd slurmctld munged; do
	pid="${pid_of[$name]:-}"
	[[ -n "$pid" ]] || continue
	if ! ours "$name" "$pid"; then
		say "$name (pid $pid) is not running"
		continue
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		ours "$name" "$pid" || break
		sleep 0.1
	done
	if ours "$name" "$pid"; then
		say "$name (pid $pid) ignored SIGTERM for 10 s: SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		sleep 0.5
	fi
	if ours "$name" "$pid"; then
		failed+=("$name:$pid")
	else
		say "stopped $name (pid $pid)"
	fi
done

unlink_conf

if ((${#failed[@]})); then
	say "error: still running: ${failed[*]}"
	exit 4
fi
rm -f "$PIDS"
