#!/bin/sh
# Configuration alone moves scoring to workers elsewhere over tcp://:
# a worker that listens (vigild dials it) and one that dials vigild's
# listener, here both on loopback, with no local workers at all.
. "$(dirname "$0")/lib.sh"

port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P1=$(port)
P2=$(port)
{
	daemon_section
	cat <<CONF
workers = { count = -1; remote = [ "tcp://127.0.0.1:$P1" ]; listen = [ "tcp://127.0.0.1:$P2" ]; };
rules = (
$(watchlist_rule)
);
CONF
} >"$T/vigil.conf"

W="$top_builddir/daemon/vigil-worker"
"$W" -c "$T/vigil.conf" --listen "tcp://127.0.0.1:$P1" 2>"$T/w1.log" &
PIDS="$PIDS $!"
"$W" -c "$T/vigil.conf" --connect "tcp://127.0.0.1:$P2" 2>"$T/w2.log" &
W2=$!
PIDS="$PIDS $W2"

"$PY" - "$T/in.jsonl" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(500):
        f.write('{"id":"r%d","created_at":"2021-01-05T10:00:00Z","text":"vigiltest %d"}\n' % (i, i))
PYEOF
"$VIGILD" --replay "$T/in.jsonl" -c "$T/vigil.conf" >"$T/out.jsonl" 2>"$T/replay.log" ||
	fail "replay over tcp exited $?"
[ "$(lines "$T/out.jsonl")" -eq 500 ] || fail "got $(lines "$T/out.jsonl") verdicts, want 500"
grep -c '"severity":"notice"' "$T/out.jsonl" | grep -qx 500 || fail "verdicts are wrong"

# Losing one remote worker mid-run: the other carries on.
"$PY" - "$T/big.jsonl" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        f.write('{"id":"b%d","created_at":"2021-01-05T10:00:00Z","text":"vigiltest %d"}\n' % (i, i))
PYEOF
"$VIGILD" --replay "$T/big.jsonl" -c "$T/vigil.conf" >"$T/big.out" 2>>"$T/replay.log" &
R=$!
sleep 0.5
kill -9 "$W2"
wait "$R" || fail "replay after losing a worker exited $?"
[ "$(lines "$T/big.out")" -eq 20000 ] || fail "after losing a worker: $(lines "$T/big.out") verdicts, want 20000"
# A daemon whose only workers dial its listener keeps them through a
# reload: the new generation takes the listener over.
P3=$(port)
{
	daemon_section
	cat <<CONF
workers = { count = -1; listen = [ "tcp://127.0.0.1:$P3" ]; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/daemon.conf"
: >"$T/feed.jsonl"
start_vigild "$T/daemon.conf" "$T/vigild.log"
"$W" -c "$T/daemon.conf" --connect "tcp://127.0.0.1:$P3" 2>"$T/w3.log" &
PIDS="$PIDS $!"
for i in $(seq 1 50); do post "d$i" "vigiltest $i" >>"$T/feed.jsonl"; done
wait_for 30 has_lines "$T/alerts.jsonl" 50 || fail "before reload: $(lines "$T/alerts.jsonl")"
kill -HUP "$VPID"
wait_for 10 grep -q "generation 2 running" "$T/vigild.log" || fail "reload with a listener failed"
for i in $(seq 51 100); do post "d$i" "vigiltest $i" >>"$T/feed.jsonl"; done
wait_for 30 has_lines "$T/alerts.jsonl" 100 || fail "after reload: $(lines "$T/alerts.jsonl")"
stop_vigild
echo "remote_workers: ok"
