#!/bin/sh
# Workers die mid-stream: kill -9 one, and a poison post that aborts every
# worker that scores it. Every other post still gets exactly one verdict,
# and the poison post is quarantined instead of taking down every worker
# in turn. max_crashes is 3: a post in flight beside the poison one is
# blamed once, and once more if the kill -9 finds it scored alone after
# that, which is no reason to quarantine it; the poison post fails alone.
# Last, a worker whose parent dies without a death signal exits anyway,
# and one still checking its rules ends at once on SIGTERM.
. "$(dirname "$0")/lib.sh"

N=3000
{
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 8; inflight = 2; max_crashes = 3; restart_min_ms = 50; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
$(watchlist_rule),
  { plugin = "crashy"; }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

"$PY" - "$T/feed.jsonl" "$N" <<'PYEOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        text = "vigiltest %d" % i
        if i == 1500:
            text = "vigiltest CRASH-ME"
        f.write('{"id":"p%d","created_at":"2021-01-05T10:00:00+06:00","text":"%s"}\n' % (i, text))
PYEOF

start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 has_lines "$T/alerts.jsonl" 200 || fail "no progress"
# The poison post keeps the workers restarting: kill one that lives.
kill_a_worker() {
	victim=$(worker_pids | head -n 1)
	[ -n "$victim" ] && kill -9 "$victim"
}
wait_for 30 kill_a_worker || fail "no worker to kill"
wait_for 120 has_lines "$T/alerts.jsonl" $((N - 1)) || fail "expected $((N - 1)) alerts, got $(lines "$T/alerts.jsonl")"
sleep 1
grep -q "quarantined" "$T/vigild.log" || fail "the poison post was not quarantined"
"$PY" - "$T/alerts.jsonl" "$N" <<'PYEOF' || fail "verdicts are not exactly one per post"
import json, sys
n = int(sys.argv[2])
posts = [json.loads(l)["post"]["id"] for l in open(sys.argv[1])]
assert len(posts) == len(set(posts)), "a post was alerted twice"
want = {"p%d" % i for i in range(n) if i != 1500}
assert set(posts) == want, (len(set(posts)), len(want))
PYEOF
stop_vigild

# A worker whose parent died without sending the death signal (here a
# shell, which never asks for one) notices through --parent and exits.
sh -c '"$1" -c "$2" --connect "ipc://$3/orphan.sock" --parent $$ \
	>>"$3/orphan.log" 2>&1 & echo $! >"$3/orphan.pid"; exec sleep 60' \
	sh "$top_builddir/daemon/vigil-worker" "$T/vigil.conf" "$T" &
SH=$!
PIDS="$PIDS $SH"
wait_for 10 test -s "$T/orphan.pid" || fail "the orphan worker did not start"
opid=$(cat "$T/orphan.pid")
PIDS="$PIDS $opid"
wait_for 30 grep -q 'rule watchlist' "$T/orphan.log" || fail "the orphan worker did not load its rules"
# Running, not a zombie its new parent has yet to reap.
alive() { s=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${s#Z}" = "$s" ]; }
gone() { ! alive "$1"; }
alive "$opid" || fail "the worker exited while its parent lived"
kill -9 "$SH"
wait_for 5 gone "$opid" ||
	fail "a worker outlived its --parent"
grep -q 'is gone; exiting' "$T/orphan.log" || fail "the orphan worker did not say why it exited"

# Rules that take 30 s to check: SIGTERM does not wait for them.
{
	daemon_section
	echo 'rules = ( { plugin = "crashy"; validate_delay_ms = 30000; } );'
} >"$T/slow.conf"
"$top_builddir/daemon/vigil-worker" -c "$T/slow.conf" --connect "ipc://$T/slow.sock" \
	>"$T/slow.log" 2>&1 &
slow=$!
PIDS="$PIDS $slow"
sleep 1
alive "$slow" || fail "the slow worker exited by itself: $(cat "$T/slow.log")"
kill -TERM "$slow"
wait_for 3 gone "$slow" || fail "a worker checking its rules outlived SIGTERM by 3 s"
echo "worker_crash: ok"
