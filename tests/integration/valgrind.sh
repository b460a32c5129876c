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
echo "valgrind: ok"
