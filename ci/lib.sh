# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the ci/ steps: paths, logging with elapsed time, errors.
# Sourced, not run. The Python steps take the same defaults from ci/zsgate/config.py
# (ci/tests/test_config.py checks they agree) and log through ci/zsgate/log.py, whose
# lines and .last file are this log()'s (ci/tests/test_log.py).

ZSGATE_ROOT=${ZSGATE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZSGATE_CACHE=${ZSGATE_CACHE:-${HOME:-/root}/.cache/zsgate}
ZSGATE_STEP=${ZSGATE_STEP:-$(basename "$0")}
ZSGATE_T0=${ZSGATE_T0:-$(date +%s)}
export ZSGATE_ROOT ZSGATE_CACHE ZSGATE_T0
export PYTHONDONTWRITEBYTECODE=1

_zs_elapsed() {
	local s=$(( $(date +%s) - ZSGATE_T0 ))
	printf '%02d:%02d' $((s / 60)) $((s % 60))
}

# Progress goes to stderr so stdout stays machine-readable. Under the gate's guard
# (zs_guard) the last line is also kept for it: an interrupted run says what it was doing.
log() {
	printf '[%s] %s: %s\n' "$(_zs_elapsed)" "$ZSGATE_STEP" "$*" >&2
	[ -z "${ZSGATE_GUARD_STATE:-}" ] ||
		printf '%s: %s\n' "$ZSGATE_STEP" "$*" >"$ZSGATE_GUARD_STATE.last" 2>/dev/null || true
}

# zs_guard "$@" (first thing in a script that needs it; ci/zsgate/gate.py does the same for
# the gate in Python): run this script under ci/zsgate/guard.py, which
# ends every process the script starts when the script ends or is interrupted (SIGINT,
# SIGTERM, SIGHUP, kill -9 of it or of make), so no step, build or VM outlives the gate.
zs_guard() {
	[ "${ZSGATE_GUARDED:-}" = "$PPID" ] && return 0
	exec python3 -I "$ZSGATE_ROOT/ci/zsgate/guard.py" run -- "$0" "$@"
}

die() {
	printf 'zsgate: %s: %s\n' "$ZSGATE_STEP" "$*" >&2
	exit 1
}

# zs_need_space DIR MB WHAT: die with one line naming DIR, its free space and MB, before
# WHAT writes there (a full disk mid-way fails in ways that look like other faults: a
# compiler error, a traceback). DIR need not exist yet. ZSGATE_NEED_SCALE (percent, default
# 100) scales every figure, e.g. 0 to skip the checks.
zs_need_space() {
	local dir=$1 mb=$2 what=$3 have mnt
	mb=$(( mb * ${ZSGATE_NEED_SCALE:-100} / 100 ))
	while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
	read -r have mnt < <(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 {print int($4 / 1024), $6}')
	[ -n "$have" ] || return 0
	[ "$have" -ge "$mb" ] ||
		die "not enough space for $what: $1 is on $mnt, which has $have MB free; this needs about $mb MB — free space there or set ZSGATE_CACHE=<dir on a bigger disk>"
}

# zs_die_write TMP MSG: a write into the scratch dir TMP failed: remove TMP (half-done,
# never used) and die; when the file system is full, say so and how full.
zs_die_write() {
	local tmp=$1 msg=$2 have mnt dir=$1
	while [ ! -d "$dir" ]; do dir=$(dirname "$dir"); done
	read -r have mnt < <(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 {print int($4 / 1024), $6}')
	rm -rf "$tmp"
	if [[ $msg == *"No space left on device"* ]] || [ "${have:-1}" -lt 1 ]; then
		die "no space left on $mnt (for $tmp): $msg — removed the half-written $tmp; free space there or set ZSGATE_CACHE=<dir on a bigger disk>"
	fi
	die "$msg (removed the half-written $tmp)"
}

# Run a long command, printing a heartbeat line every minute while it runs.
run_with_progress() {
	local what=$1; shift
	local start=$(date +%s) pid rc
	"$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		sleep 5
		if kill -0 "$pid" 2>/dev/null && (( ($(date +%s) - start) % 60 < 5 )) && (( $(date +%s) - start >= 60 )); then
			log "$what: still running ($(( ($(date +%s) - start) / 60 )) min)"
		fi
	done
	wait "$pid"; rc=$?
	log "$what: done in $(( $(date +%s) - start )) s (exit $rc)"
	return $rc
}

# Kernel builds hold this lock: only one runs at a time on the machine.
ZSGATE_BUILD_LOCK=${ZSGATE_BUILD_LOCK:-/tmp/zsgate-build.lock}
