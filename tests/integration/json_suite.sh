#!/bin/sh
# The JSONTestSuite parsing cases (../shared/peer) through the post parser
# as the daemon runs it: every file as one line of a replay. Nothing may
# crash; every n_ case must be answered with an error. Skipped (exit 77)
# where the folder does not exist.
. "$(dirname "$0")/lib.sh"

SUITE="$top_srcdir/../shared/peer/JSONTestSuite/test_parsing"
[ -d "$SUITE" ] || { echo "no $SUITE: skipped"; exit 77; }
{
	daemon_section
	echo 'workers = { count = 2; };'
	echo 'rules = ('
	watchlist_rule
	echo ');'
} >"$T/replay.conf"

# One file per line, newlines inside a file folded to spaces (JSON white
# space), and a list of names in the same order.
"$PY" - "$SUITE" "$T/suite.jsonl" "$T/names" <<'PYEOF'
import os, sys
names = sorted(os.listdir(sys.argv[1]))
with open(sys.argv[2], "wb") as out, open(sys.argv[3], "w") as nf:
    for n in names:
        data = open(os.path.join(sys.argv[1], n), "rb").read()
        data = data.replace(b"\r", b" ").replace(b"\n", b" ")
        if not data.strip(b" \t"):
            data = b"\"\""  # keep one output line per file
        out.write(data + b"\n")
        nf.write(n + "\n")
PYEOF
"$VIGILD" --replay "$T/suite.jsonl" -c "$T/replay.conf" >"$T/out.jsonl" 2>"$T/replay.log" ||
	fail "replay of the suite exited $?"
"$PY" - "$T/out.jsonl" "$T/names" <<'PYEOF' || fail "suite results are wrong"
import json, sys
names = open(sys.argv[2]).read().split("\n")[:-1]
out = {}
for l in open(sys.argv[1], encoding="utf-8"):
    o = json.loads(l)
    out[o["line"]] = o
assert len(out) == len(names), (len(out), len(names))
bad = [n for i, n in enumerate(names, 1) if n.startswith("n_") and "error" not in out[i]]
assert not bad, bad
print("%d files, %d rejected" % (len(names), sum(1 for o in out.values() if "error" in o)))
PYEOF
echo "json_suite: ok"
