# lib.sh - shared helpers for the integration tests. Each test starts the
# real vigild (and its real workers) from the build tree on a temporary
# configuration, with LD_BIND_NOW=1 so that an unresolved plugin symbol
# fails at load.
set -eu

: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
VIGILD="$top_builddir/daemon/vigild"
PLUGINS="$top_builddir/plugins"
TESTPLUGINS="$top_builddir/tests/integration/plugins"
PY="${PYTHON3:-python3}"
# The Python clients' shared helpers (vigiltest.py).
PYTHONPATH="$top_srcdir/tests/integration${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONPATH
export LD_BIND_NOW=1

# A short directory: ipc socket paths must fit in 107 bytes.
T=$(mktemp -d /tmp/vt.XXXXXX)
PIDS=""
cleanup() {
	# Its sleep too, or that lingers for TEST_TIMEOUT after the test.
	pkill -P "$WATCHDOG" 2>/dev/null || true
	kill "$WATCHDOG" 2>/dev/null || true
	for p in $PIDS; do kill -9 "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap "exit 1" INT TERM

# A test never hangs the suite: past TEST_TIMEOUT seconds the watchdog
# ends the test (the trap runs once the foreground command is killed).
(
	sleep "${TEST_TIMEOUT:-600}"
	echo "FAIL: timed out after ${TEST_TIMEOUT:-600} s" >&2
	kill -TERM $$
	pkill -KILL -P $$
) &
WATCHDOG=$!

fail() {
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "--- $f (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
	echo "--- vigil processes" >&2
	ps -eo pid,ppid,stat,etime,args 2>/dev/null | grep '[v]igil' >&2 || true
	# Again last: CI shows the tail of a failed test's output.
	echo "FAIL: $*" >&2
	exit 1
}

# wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
wait_for() {
	secs=$1
	shift
	end=$(($(date +%s) + secs))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

lines() { if [ -f "$1" ]; then wc -l <"$1" | tr -d ' '; else echo 0; fi; }
has_lines() { [ "$(lines "$1")" -ge "$2" ]; }

# write_config FILE: the common parts; the caller appends lists. The
# admin listener is off unless ADMIN_LISTEN names an address: tests run
# side by side, and its default port would clash.
daemon_section() {
	cat <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  plugin_path = [ "$PLUGINS", "$TESTPLUGINS" ];
  log_level = "${LOG_LEVEL:-info}";
};
admin = { listen = "${ADMIN_LISTEN:-}"; };
CONF
}

# A watchlist that every test post matches (term "vigiltest") and one
# that only some do.
watchlist_rule() {
	cat <<'CONF'
  {
    plugin = "watchlist";
    name = "t";
    lists = (
      { name = "marker"; terms = [ "vigiltest" ]; weight = 2.0; severity = "notice"; },
      { name = "poll"; terms = [ "опрос", "poll" ]; weight = 6.0; }
    );
  }
CONF
}

# post ID TEXT [CREATED_AT]
post() {
	printf '{"id":"%s","platform":"telegram","channel":"@c","author":{"id":"tg:1","handle":"@a","name":"A","kind":"person"},"created_at":"%s","text":"%s"}\n' \
	    "$1" "${3:-2021-01-05T10:00:00+06:00}" "$2"
}

start_vigild() { # CONFIG LOG
	"$VIGILD" -c "$1" >>"$2" 2>&1 &
	VPID=$!
	PIDS="$PIDS $VPID"
}

stop_vigild() { # expects exit 0
	kill -TERM "$VPID"
	rc=0
	wait "$VPID" || rc=$?
	[ "$rc" -eq 0 ] || fail "vigild exited with $rc after SIGTERM"
}

worker_pids() { pgrep -P "$VPID" -f vigil-worker || true; }
