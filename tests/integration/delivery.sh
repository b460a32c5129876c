#!/bin/sh
# Delivery that loses nothing, through the durable outbox, to a syslog
# sink on a unix socket read by a real receiver:
#  1. the receiver is down for a while, then comes back: every alert
#     arrives, and the outbox shows them pending meanwhile;
#  2. a sink backlog held full pauses the input (backpressure) instead of
#     dropping, and everything arrives once the receiver is back;
#  3. kill -9 of vigild, repeatedly, during a stream: every expected alert
#     id arrives at least once;
#  4. a full outbox (max_size): a clear error, inputs held back, nothing
#     acknowledged; after a restart with room, every alert arrives.
# The expected alert ids come from a replay of the same posts.
. "$(dirname "$0")/lib.sh"

cat >"$T/receiver.py" <<'PYEOF'
import socket, sys, os
path, out = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
with open(out, "ab", buffering=0) as f:
    while True:
        data = s.recv(65536)
        f.write(data.replace(b"\n", b" ") + b"\n")
PYEOF

RPID=
receiver_start() {
	"$PY" "$T/receiver.py" "$T/syslog.sock" "$T/got.txt" &
	RPID=$!
	PIDS="$PIDS $RPID"
	wait_for 10 test -S "$T/syslog.sock" || fail "receiver did not start"
}
receiver_stop() {
	kill "$RPID" 2>/dev/null
	wait "$RPID" 2>/dev/null || true
	rm -f "$T/syslog.sock"
}

# ids FILE: the distinct alert ids a receiver got.
ids() { grep -o 'id=[0-9a-f]\{32\}' "$1" 2>/dev/null | cut -c4- | sort -u; }

# config FILE EXTRA_DAEMON EXTRA_SINK OUTBOX
config() {
	{
		daemon_section | sed "s|^};|$2\n};|"
		cat <<CONF
workers = { count = 2; batch = 8; };
outbox = { $4 };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = (
  { plugin = "syslog"; name = "s"; socket = "$T/syslog.sock"; format = "text";
    retry_min_ms = 50; retry_max_ms = 400; $3 }
);
CONF
	} >"$1"
}

expected() { # FEED -> the alert ids a replay gives
	"$VIGILD" --replay "$1" -c "$T/vigil.conf" 2>>"$T/replay.log" |
		"$PY" -c '
import json, sys
for line in sys.stdin:
    for f in json.loads(line).get("findings", []):
        print(f["alert_id"])' | sort -u
}

outbox_count() { # STATE
	"$PY" - "$T/state/outbox.db" "$1" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=5)
states = {"pending": 0, "delivered": 1, "dead": 2}
print(db.execute("SELECT count(*) FROM deliveries WHERE state=?",
                 (states[sys.argv[2]],)).fetchone()[0])
PYEOF
}

check_all() { # WHAT EXPECTED_FILE
	ids "$T/got.txt" >"$T/got.ids"
	missing=$(comm -23 "$2" "$T/got.ids" | wc -l)
	[ "$missing" -eq 0 ] || fail "$1: $missing of $(lines "$2") alerts never arrived"
}

# ---- 1. receiver down, then back -----------------------------------------
: >"$T/feed.jsonl"
for i in $(seq 1 30); do post "d$i" "vigiltest down $i" >>"$T/feed.jsonl"; done
config "$T/vigil.conf" "" "" ""
expected "$T/feed.jsonl" >"$T/want1"
[ "$(lines "$T/want1")" -eq 30 ] || fail "replay gave $(lines "$T/want1") alert ids, not 30"

start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 20 sh -c "[ \"\$(\"$PY\" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM deliveries WHERE state=0\").fetchone()[0])' \"$T/state/outbox.db\" 2>/dev/null)\" = 30 ]" ||
	fail "the outbox does not hold the 30 undelivered alerts"
receiver_start
wait_for 20 sh -c "[ \$(grep -c 'id=' \"$T/got.txt\" 2>/dev/null || echo 0) -ge 30 ]" ||
	fail "after the receiver came back: $(lines "$T/got.txt") of 30 alerts"
check_all "receiver down" "$T/want1"
wait_for 10 sh -c "[ \"\$(\"$PY\" -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(\"SELECT count(*) FROM deliveries WHERE state=1\").fetchone()[0])' \"$T/state/outbox.db\")\" = 30 ]" ||
	fail "deliveries not recorded as delivered"
stop_vigild
receiver_stop
echo "1. receiver down then back: 30/30"

# ---- 2. a full sink backlog holds the input back ---------------------------
rm -rf "$T/state" "$T/got.txt"
: >"$T/feed.jsonl"
for i in $(seq 1 200); do post "b$i" "vigiltest backlog $i" >>"$T/feed.jsonl"; done
config "$T/vigil.conf" "  backlog = 4;" "backlog = 10; max_inflight = 2;" ""
expected "$T/feed.jsonl" >"$T/want2"
start_vigild "$T/vigil.conf" "$T/vigild2.log"
sleep 3
received=$(outbox_count pending)
[ "$received" -ge 10 ] || fail "backlog: only $received alerts recorded before the sink filled"
[ "$received" -lt 60 ] || fail "backlog: $received alerts accepted while the sink was full (backlog 10)"
receiver_start
wait_for 40 sh -c "[ \$(grep -c 'id=' \"$T/got.txt\" 2>/dev/null || echo 0) -ge 200 ]" ||
	fail "backlog: $(lines "$T/got.txt") of 200 alerts after the receiver came back"
check_all "backlog" "$T/want2"
stop_vigild
receiver_stop
echo "2. backpressure: held at $received while full; 200/200 after"

# ---- 3. kill -9, again and again, while posts stream in ----------------------
rm -rf "$T/state" "$T/got.txt"
for i in $(seq 1 400); do post "k$i" "vigiltest kill $i"; done >"$T/all.jsonl"
config "$T/vigil.conf" "" "" ""
expected "$T/all.jsonl" >"$T/want3"
: >"$T/feed.jsonl"
# 400 posts over about 4 s, appended as a platform would.
"$PY" - "$T/all.jsonl" "$T/feed.jsonl" <<'PYEOF' &
import sys, time
lines = open(sys.argv[1], "rb").readlines()
with open(sys.argv[2], "ab", buffering=0) as out:
    for i in range(0, len(lines), 10):
        out.write(b"".join(lines[i:i + 10]))
        time.sleep(0.1)
PYEOF
WPID=$!
PIDS="$PIDS $WPID"
receiver_start
for round in 1 2 3 4 5 6; do
	start_vigild "$T/vigil.conf" "$T/vigild3.log"
	sleep "0.$((3 + round))"
	kill -KILL "$VPID"
	wait "$VPID" 2>/dev/null || true
	# The workers die with vigild (PR_SET_PDEATHSIG).
	wait_for 10 sh -c "! pgrep -f '[v]igil-worker.*$T' >/dev/null" || fail "workers outlived vigild"
done
wait "$WPID" || fail "the feed writer failed"
runs=$(grep -c ' running: generation' "$T/vigild3.log")
start_vigild "$T/vigil.conf" "$T/vigild3.log"
# Running (signals handled) before the SIGTERM below.
wait_for 20 sh -c "[ \$(grep -c ' running: generation' \"$T/vigild3.log\") -gt $runs ]" ||
	fail "vigild did not start again"
wait_for 60 sh -c "[ \$(grep -o 'id=[0-9a-f]*' \"$T/got.txt\" | sort -u | wc -l) -ge 400 ]" ||
	fail "kill -9: $(ids "$T/got.txt" | wc -l) of 400 alerts"
check_all "kill -9" "$T/want3"
dups=$(($(grep -c 'id=' "$T/got.txt") - 400))
stop_vigild
receiver_stop
echo "3. kill -9 six times during the stream: 400/400 delivered ($dups duplicates, same ids)"

# ---- 4. a full outbox -----------------------------------------------------------
rm -rf "$T/state" "$T/got.txt"
: >"$T/feed.jsonl"
for i in $(seq 1 300); do post "f$i" "vigiltest full $i" >>"$T/feed.jsonl"; done
config "$T/vigil.conf" "" "" "max_size = 65536;"
expected "$T/feed.jsonl" >"$T/want4"
receiver_start
start_vigild "$T/vigil.conf" "$T/vigild4.log"
wait_for 20 grep -q 'database or disk is full' "$T/vigild4.log" ||
	fail "no clear error when the outbox is full"
got=$(ids "$T/got.txt" | wc -l)
[ "$got" -lt 300 ] || fail "full outbox: all alerts went through a 64 KiB outbox?"
stop_vigild_any() { kill -TERM "$VPID"; wait "$VPID" 2>/dev/null || true; }
stop_vigild_any
config "$T/vigil.conf" "" "" "max_size = 0;"
start_vigild "$T/vigil.conf" "$T/vigild4.log"
wait_for 40 sh -c "[ \$(grep -o 'id=[0-9a-f]*' \"$T/got.txt\" | sort -u | wc -l) -ge 300 ]" ||
	fail "full outbox: $(ids "$T/got.txt" | wc -l) of 300 alerts after a restart with room"
check_all "full outbox" "$T/want4"
stop_vigild
echo "4. full outbox: $got delivered while full, 300/300 after a restart with room"
grep -q "vigiltest" "$T"/vigild*.log && fail "post text leaked into the daemon's log"
echo "delivery: ok"
