#!/bin/sh
# The jsonl input follows its file like tail -F: through rotation and
# truncation while running and while the daemon is down, and through a
# kill -9 of vigild, without skipping a post (after kill -9 a post may be
# scored again, with the same alert id).
. "$(dirname "$0")/lib.sh"

{
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 8; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

feed() { # FROM TO [FILE]
	i=$1
	while [ "$i" -le "$2" ]; do post "p$i" "vigiltest $i" >>"${3:-$T/feed.jsonl}"; i=$((i + 1)); done
}
ids() { "$PY" -c 'import json,sys; print(len({json.loads(l)["post"]["id"] for l in open(sys.argv[1])}))' "$T/alerts.jsonl"; }
ids_at_least() { [ "$(ids)" -ge "$1" ]; }

: >"$T/feed.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"
feed 1 20
wait_for 30 ids_at_least 20 || fail "start: $(ids) posts"

# Rotation while running: rename, then a new file at the same path.
mv "$T/feed.jsonl" "$T/feed.jsonl.1"
feed 21 25 "$T/feed.jsonl.1"   # written to the old file after the rename
feed 26 40
wait_for 30 ids_at_least 40 || fail "rotation: $(ids) posts, want 40"

# Truncation while running.
: >"$T/feed.jsonl"
feed 41 50
wait_for 30 ids_at_least 50 || fail "truncation: $(ids) posts, want 50"

# Rotation while the daemon is down.
stop_vigild
mv "$T/feed.jsonl" "$T/feed.jsonl.2"
feed 51 60
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 ids_at_least 60 || fail "rotation while down: $(ids) posts, want 60"

# Truncation while down, to a file shorter than the saved offset.
stop_vigild
: >"$T/feed.jsonl"
feed 61 62
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 ids_at_least 62 || fail "truncation while down: $(ids) posts, want 62"

# kill -9 mid-stream: nothing skipped.
feed 63 2000
sleep 0.3
kill -9 "$VPID"
wait "$VPID" 2>/dev/null || true
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 60 ids_at_least 2000 || fail "kill -9: $(ids) posts, want 2000"
stop_vigild

# The position is in the outbox, at the end of the file, and a clean
# restart repeats nothing.
"$PY" - "$T/state/outbox.db" "$(wc -c <"$T/feed.jsonl")" <<'PYEOF' || fail "recorded position"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute("SELECT input, pos FROM positions").fetchall()
assert len(rows) == 1 and rows[0][0] == "feed", rows
pos = rows[0][1].decode()
assert " off=%s " % sys.argv[2] in pos, (pos, sys.argv[2])
assert " line=1940 " in pos, pos
PYEOF
before=$(lines "$T/alerts.jsonl")
start_vigild "$T/vigil.conf" "$T/vigild.log"
feed 2001 2001
wait_for 30 ids_at_least 2001 || fail "after a clean restart: $(ids) posts"
sleep 0.5
stop_vigild
[ "$(lines "$T/alerts.jsonl")" -eq $((before + 1)) ] ||
	fail "a clean restart repeated posts: $before then $(lines "$T/alerts.jsonl") alerts"
total=$(lines "$T/alerts.jsonl")
echo "jsonl_follow: ok ($total alerts for 2001 posts)"
