#!/bin/sh
# vigilctl outbox against the real vigild: two sinks that refuse alerts
# for good (the test plugin "gate") leave dead letters beside a file sink
# that takes them; stats and list show them; once the sinks accept, retry
# --id sends one alert again and retry --all the rest, each delivered once
# to each sink; purge --all removes later dead letters; usage errors exit
# 2 and change nothing; an unreachable daemon exits 3.
. "$(dirname "$0")/lib.sh"

VIGILCTL="$top_builddir/daemon/vigilctl"
SOCK="$T/run/control.sock"
N=6

{
	daemon_section
	cat <<CONF
workers = { count = 1; batch = 8; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
$(watchlist_rule)
);
sinks = (
  { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; },
  { plugin = "gate"; name = "g"; open_when = "$T/open"; out = "$T/accepted.g"; },
  { plugin = "gate"; name = "h"; open_when = "$T/open"; out = "$T/accepted.h"; }
);
CONF
} >"$T/vigil.conf"

: >"$T/feed.jsonl"
for i in $(seq 1 $N); do post "p$i" "vigiltest $i" >>"$T/feed.jsonl"; done
start_vigild "$T/vigil.conf" "$T/vigild.log"

ctl() { "$VIGILCTL" -s "$SOCK" "$@"; }

# stats_of SINK: its row of `vigilctl outbox`, "pending delivered dead held".
stats_of() { ctl outbox | awk -v s="$1" '$1 == s { print $2, $3, $4, $5 }'; }
stats_are() { [ "$(stats_of "$1")" = "$2" ]; }

wait_for 30 has_lines "$T/alerts.jsonl" $N || fail "file sink: $(lines "$T/alerts.jsonl") alerts, want $N"
wait_for 30 stats_are g "0 0 $N 0" || fail "gate sink: counts '$(stats_of g)', want '0 0 $N 0'"
wait_for 10 stats_are h "0 0 $N 0" || fail "gate sink h: counts '$(stats_of h)', want '0 0 $N 0'"
stats_are f "0 $N 0 0" || fail "file sink: counts '$(stats_of f)', want '0 $N 0 0'"
ctl outbox stats | head -n 1 | grep -Eq '^SINK +PENDING +DELIVERED +DEAD +HELD$' ||
	fail "stats header: $(ctl outbox stats | head -n 1)"
[ "$(ctl outbox --sink g | wc -l)" -eq 2 ] || fail "stats --sink g shows other sinks"
[ "$(ctl outbox list --state dead | wc -l)" -eq $((2 * N + 1)) ] || fail "list --state dead: $(ctl outbox list --state dead)"

# list: a header, then one line per dead letter of g.
ctl outbox list --state dead --sink g >"$T/dead.txt" || fail "list --state dead --sink g failed"
[ "$(lines "$T/dead.txt")" -eq $((N + 1)) ] || fail "list --state dead: $(cat "$T/dead.txt")"
head -n 1 "$T/dead.txt" | grep -Eq '^TIME +ID +RULE +SINK +STATE +ATTEMPTS +ERROR$' ||
	fail "list header: $(head -n 1 "$T/dead.txt")"
tail -n +2 "$T/dead.txt" | awk '
	$1 !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/ ||
	$2 !~ /^[0-9a-f]+$/ || length($2) != 32 || $3 != "watchlist.marker" ||
	$4 != "g" || $5 != "dead" || $6 != "1" || $7 != "refused" { bad = 1 }
	END { exit bad }' || fail "list lines: $(cat "$T/dead.txt")"
[ "$(ctl outbox list --state dead --sink f)" = "no deliveries match" ] || fail "list --sink f shows g's"

# The human list and the JSON reply agree, times in UTC to the second.
ctl outbox list --state dead --sink=g --json >"$T/dead.json" || fail "list --json failed"
"$PY" - "$T/dead.json" "$T/dead.txt" <<'PYEOF' || fail "list --json disagrees with the list"
import json, sys, time, datetime
reply = json.load(open(sys.argv[1]))
assert reply["ok"] is True and reply["action"] == "list", reply
rows = [l.split() for l in open(sys.argv[2]).read().splitlines()[1:]]
ds = reply["deliveries"]
assert len(ds) == len(rows), (len(ds), len(rows))
for d, r in zip(ds, rows):
    t = datetime.datetime.fromtimestamp(d["updated"] // 1000000, datetime.timezone.utc)
    assert r[0] == t.strftime("%Y-%m-%dT%H:%M:%SZ"), (r[0], d)
    assert abs(d["updated"] / 1e6 - time.time()) < 600, d
    assert (r[1], r[2], r[3], r[4]) == (d["id"], d["rule"], d["sink"], d["state"]), (r, d)
    assert d["error"] == "refused by the sink" and d["attempts"] == 1, d
assert [d["seq"] for d in ds] == sorted(d["seq"] for d in ds), "not oldest first"
PYEOF

# --limit keeps the newest, oldest first, and says there may be more.
ctl outbox list --state dead --sink g --limit 2 >"$T/two.txt" 2>"$T/two.err" || fail "list --limit 2 failed"
[ "$(tail -n 2 "$T/dead.txt")" = "$(tail -n +2 "$T/two.txt")" ] || fail "list --limit 2: $(cat "$T/two.txt")"
grep -q "there may be more" "$T/two.err" || fail "list --limit 2 gave no hint on stderr"

# Usage errors exit 2 and touch nothing.
usage() { # MESSAGE ARGS...
	msg=$1
	shift
	rc=0
	ctl "$@" >"$T/usage.out" 2>"$T/usage.err" || rc=$?
	[ "$rc" -eq 2 ] || fail "vigilctl $*: exit $rc, want 2"
	grep -qF -- "$msg" "$T/usage.err" || fail "vigilctl $*: '$(cat "$T/usage.err")' lacks '$msg'"
	[ ! -s "$T/usage.out" ] || fail "vigilctl $*: printed $(cat "$T/usage.out")"
}
ID=$(awk 'NR == 2 { print $2 }' "$T/dead.txt")
usage "needs --id ID, or --all" outbox retry
usage "needs --id ID, or --all" outbox purge
usage "needs --id ID, or --all" outbox purge --sink g
usage "not both" outbox purge --id "$ID" --all
usage "dead deliveries only" outbox retry --all --state dead
usage "unknown state 'gone'" outbox list --state gone
usage "--limit wants a whole number" outbox list --limit 0
usage "--limit wants a whole number" outbox list --limit 12x
usage "--limit wants a whole number" outbox list --limit=100001
usage "--id wants an alert id" outbox list --id p1
usage "--sink wants" outbox list --sink "a b"
usage "--sink needs a value" outbox list --sink
usage "--sink needs a value" outbox purge --sink --all
usage "--id does not apply to outbox stats" outbox stats --id "$ID"
usage "--all does not apply to outbox list" outbox list --all
usage "--all given twice" outbox purge --all --all
usage "unknown outbox action 'delete'" outbox delete --all
usage "unexpected argument 'extra'" outbox list extra
stats_are g "0 0 $N 0" && stats_are h "0 0 $N 0" || fail "usage errors changed the outbox"

# retry --id: once the sinks accept, that alert is delivered to each.
touch "$T/open"
out=$(ctl outbox retry --id "$ID") || fail "retry --id failed"
[ "$out" = "2 dead deliveries pending again" ] || fail "retry --id said: $out"
for s in g h; do
	wait_for 20 stats_are $s "0 1 $((N - 1)) 0" || fail "after retry --id: $s counts '$(stats_of $s)'"
	[ "$(cat "$T/accepted.$s")" = "$ID" ] || fail "sink $s got '$(cat "$T/accepted.$s")', want $ID"
done
[ "$(ctl outbox list --id "$ID" --sink g | awk 'NR == 2 { print $5 }')" = delivered ] ||
	fail "list --id: $(ctl outbox list --id "$ID")"
[ "$(ctl outbox retry --id "$ID")" = "no dead deliveries matched: nothing retried" ] ||
	fail "a delivered alert was retried"

# retry --all: the rest, across both sinks, each delivered exactly once.
out=$(ctl outbox retry --all) || fail "retry --all failed"
[ "$out" = "$((2 * (N - 1))) dead deliveries pending again" ] || fail "retry --all said: $out"
for s in g h; do
	wait_for 20 stats_are $s "0 $N 0 0" || fail "after retry --all: $s counts '$(stats_of $s)'"
done
sleep 0.5
for s in g h; do
	[ "$(sort -u "$T/accepted.$s" | wc -l)" -eq $N ] || fail "sink $s got $(sort -u "$T/accepted.$s" | wc -l) alerts, want $N"
	[ "$(lines "$T/accepted.$s")" -eq $N ] || fail "sink $s got alerts more than once: $(lines "$T/accepted.$s") deliveries for $N alerts"
done

# purge: only dead letters, of the sink named, go.
rm "$T/open"
for i in $(seq $((N + 1)) $((N + 3))); do post "p$i" "vigiltest $i" >>"$T/feed.jsonl"; done
for s in g h; do
	wait_for 30 stats_are $s "0 $N 3 0" || fail "new dead letters: $s counts '$(stats_of $s)'"
done
[ "$(ctl outbox purge --all --sink f)" = "no dead deliveries matched: nothing purged" ] ||
	fail "purge --sink f purged something"
out=$(ctl outbox purge --all --sink h) || fail "purge --all --sink h failed"
[ "$out" = "3 dead deliveries purged" ] || fail "purge --all --sink h said: $out"
stats_are g "0 $N 3 0" || fail "purge --sink h touched g: '$(stats_of g)'"
out=$(ctl outbox purge --all) || fail "purge --all failed"
[ "$out" = "3 dead deliveries purged" ] || fail "purge --all said: $out"
for s in g h; do
	stats_are $s "0 $N 0 0" || fail "after purge: $s counts '$(stats_of $s)'"
done
stats_are f "0 $((N + 3)) 0 0" || fail "purge touched the file sink: '$(stats_of f)'"
[ "$(ctl outbox list --state dead)" = "no deliveries match" ] || fail "dead letters left after purge"
ctl outbox purge --all --json >"$T/purge.json" || fail "purge --json failed"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r=={"ok":True,"action":"purge","deliveries":[]}, r' \
	"$T/purge.json" || fail "purge --json: $(cat "$T/purge.json")"
touch "$T/open"
[ "$(ctl outbox retry --all)" = "no dead deliveries matched: nothing retried" ] || fail "purged alerts were retried"
[ "$(lines "$T/accepted.g")" -eq $N ] || fail "purged alerts were delivered: $(lines "$T/accepted.g")"

# The daemon checks raw requests too: nothing is purged without an id or
# all:true, and arguments of the wrong type are refused.
"$PY" - "$SOCK" <<'PYEOF' || fail "raw outbox requests not checked"
import json, socket, sys
def ask(req):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall((json.dumps(req) + "\n").encode())
    buf = b""
    while not buf.endswith(b"\n"):
        buf += s.recv(65536)
    s.close()
    return json.loads(buf)
for req, why in [
    ({"cmd": "outbox", "action": "purge"}, "an 'id' or"),
    ({"cmd": "outbox", "action": "retry", "sink": "g"}, "an 'id' or"),
    ({"cmd": "outbox", "action": "purge", "sink": 5, "all": True}, "'sink' must be a string"),
    ({"cmd": "outbox", "action": "list", "limit": -1}, "'limit' must be"),
    ({"cmd": "outbox", "action": "list", "state": "gone"}, "unknown state"),
    ({"cmd": "outbox", "action": "drop"}, "unknown outbox action"),
]:
    r = ask(req)
    assert r["ok"] is False and why in r["error"], (req, r)
PYEOF

# No daemon on the socket: exit 3.
rc=0
"$VIGILCTL" -s "$T/run/none.sock" outbox >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "no daemon: exit $rc, want 3"

stop_vigild
echo "outbox_ctl: ok"
