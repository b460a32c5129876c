#!/bin/sh
# vigild --replay: one JSON object per input line, in input order, on
# stdout only; errors for lines that are not posts; blank lines skipped;
# CRLF and a leading BOM tolerated; exit codes 0, 1, 2.
. "$(dirname "$0")/lib.sh"

{
	daemon_section
	echo 'workers = { count = 2; batch = 4; };'
	echo 'rules = ('
	watchlist_rule
	echo ');'
} >"$T/replay.conf"

{
	printf '\357\273\277'
	post r1 "vigiltest опрос"
	printf '\n'
	printf '%s\r\n' "$(post r2 "nothing to see")"
	echo 'not json'
	echo '{"id":"r4"}'
	post r5 "a poll, vigiltest"
	"$PY" -c 'print("{\"id\":\"big\",\"text\":\"" + "x"*300000 + "\"}")'
	post r7 "last line without newline" | tr -d '\n'
} >"$T/in.jsonl"

"$VIGILD" --replay "$T/in.jsonl" -c "$T/replay.conf" >"$T/out.jsonl" 2>"$T/replay.log" ||
	fail "replay exited $?"
"$PY" - "$T/out.jsonl" <<'PYEOF' || fail "replay output is wrong"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
lines = [o["line"] for o in out]
assert lines == [1, 3, 4, 5, 6, 7, 8], lines
by = {o["line"]: o for o in out}
assert by[1]["post_id"] == "r1" and by[1]["severity"] != "none", by[1]
rules = sorted(f["rule"] for f in by[1]["findings"])
assert rules == ["watchlist.marker", "watchlist.poll"], rules
assert by[3]["post_id"] == "r2" and by[3]["severity"] == "none" and by[3]["findings"] == [], by[3]
assert "error" in by[4] and by[4]["error"], by[4]
assert "created_at" in by[5]["error"], by[5]
assert by[6]["post_id"] == "r5"
assert "longer than" in by[7]["error"], by[7]
assert by[8]["post_id"] == "r7"
PYEOF

# stdin, and the same answer twice.
"$VIGILD" --replay - -c "$T/replay.conf" <"$T/in.jsonl" >"$T/out2.jsonl" 2>>"$T/replay.log" ||
	fail "replay from stdin exited $?"
cmp -s "$T/out.jsonl" "$T/out2.jsonl" || fail "replay from stdin differs"

rc=0
"$VIGILD" --replay "$T/missing.jsonl" -c "$T/replay.conf" >/dev/null 2>>"$T/replay.log" || rc=$?
[ "$rc" -eq 1 ] || fail "unreadable file: exit $rc, want 1"
echo 'daemon = { bogus = 1; };' >"$T/bad.conf"
rc=0
"$VIGILD" --replay "$T/in.jsonl" -c "$T/bad.conf" >/dev/null 2>>"$T/replay.log" || rc=$?
[ "$rc" -eq 2 ] || fail "bad config: exit $rc, want 2"
# Workers that cannot start: replay ends with 1 instead of waiting.
{
	daemon_section
	echo 'workers = { count = 2; command = "/bin/false"; restart_min_ms = 10; };'
	echo 'rules = ('
	watchlist_rule
	echo ');'
} >"$T/noworkers.conf"
rc=0
"$VIGILD" --replay "$T/in.jsonl" -c "$T/noworkers.conf" >/dev/null 2>"$T/noworkers.log" || rc=$?
[ "$rc" -eq 1 ] || fail "workers that cannot start: exit $rc, want 1"
grep -q "no worker could start" "$T/noworkers.log" || fail "no reason given for giving up"
echo "replay: ok"
