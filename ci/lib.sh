# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for the ci/ steps: paths, logging with elapsed time, errors.
# Sourced, not run.

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

# zs_guard "$@" (first thing in ci/gate): run this script under ci/zsgate/guard.py, which
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
