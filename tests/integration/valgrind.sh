#!/bin/sh
# The daemon and its workers under valgrind's memcheck: a replay through
# real workers, and a configuration check, with no error and no leak.
# Skipped (77) without valgrind, or in a sanitizer build, where ASan
# already watches and the two cannot run together.
. "$(dirname "$0")/lib.sh"

command -v valgrind >/dev/null || { echo "no valgrind: skipped"; exit 77; }
if grep -q -- '-fsanitize' "$top_builddir/Makefile" 2>/dev/null &&
	grep -q '^SAN_CFLAGS = -fsanitize' "$top_builddir/Makefile"; then
	echo "sanitizer build: skipped"
	exit 77
fi
{
	daemon_section
	echo 'workers = { count = 2; batch = 8; };'
	echo 'rules = ('
	watchlist_rule
	echo ');'
} >"$T/replay.conf"
i=0
while [ $i -lt 100 ]; do post "v$i" "vigiltest опрос $i"; i=$((i + 1)); done >"$T/in.jsonl"
echo 'not json' >>"$T/in.jsonl"

VG="valgrind --quiet --leak-check=full --show-possibly-lost=yes --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=99 --trace-children=yes"
$VG "$VIGILD" --replay "$T/in.jsonl" -c "$T/replay.conf" >"$T/out.jsonl" 2>"$T/vg.log" ||
	fail "valgrind on replay: exit $? (see $T/vg.log)"
[ "$(lines "$T/out.jsonl")" -eq 101 ] || fail "replay under valgrind: $(lines "$T/out.jsonl") lines"
grep -q '==[0-9]*== ' "$T/vg.log" && fail "valgrind reported: $(grep '==' "$T/vg.log" | head -20)"
$VG "$VIGILD" -t -c "$T/replay.conf" 2>"$T/vgt.log" || fail "valgrind on -t: exit $?"
grep -q '==[0-9]*== ' "$T/vgt.log" && fail "valgrind reported on -t: $(grep '==' "$T/vgt.log" | head -20)"

# The daemon itself: input, outbox (its writer thread), sinks with a
# rate limit and redaction, and a drain on SIGTERM.
{
	daemon_section
	cat <<CONF
workers = { count = 1; batch = 8; };
outbox = { rate_limit = 20; rate_interval_s = 1; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/in.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = (
  { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; },
  { plugin = "file"; name = "r"; path = "$T/redacted.jsonl"; redact = [ "excerpt" ]; }
);
CONF
} >"$T/daemon.conf"
$VG "$VIGILD" -c "$T/daemon.conf" 2>"$T/vgd.log" &
VPID=$!
PIDS="$PIDS $VPID"
wait_for 120 grep -q vigil.rate_limit "$T/alerts.jsonl" || fail "the daemon under valgrind raised no summary alert"
kill -TERM "$VPID"
rc=0
wait "$VPID" || rc=$?
[ "$rc" -eq 0 ] || fail "valgrind on the daemon: exit $rc (see $T/vgd.log)"
grep -q '==[0-9]*== ' "$T/vgd.log" && fail "valgrind reported on the daemon: $(grep '==' "$T/vgd.log" | head -20)"
echo "valgrind: ok"
