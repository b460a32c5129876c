#!/bin/sh
# The redis-streams input against a real redis-server on loopback (a free
# port and a unix socket in the test's directory), with an ACL user whose
# password is read from a file and a database other than 0:
#  - posts XADDed to two streams, before and after the start, each get an
#    alert in the file sink, and every entry is XACKed;
#  - entries without the field, bad JSON and the JSONTestSuite files
#    through the field are counted, acknowledged, and crash nothing;
#  - kill -9 of vigild mid-stream, then a restart: every post has an alert;
#  - redis-server restarted mid-stream: vigild reconnects, nothing is lost;
#  - a second consumer dies with entries pending; the first claims them.
TEST_TIMEOUT=${TEST_TIMEOUT:-170}
. "$(dirname "$0")/lib.sh"

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	{ echo "no redis-server: skipped"; exit 77; }

RPORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RSOCK="$T/redis.sock"
DB=3
mkdir -p "$T/redis"
printf 'pw-%s\n' "$$" >"$T/pw"
cat >"$T/redis.conf" <<CONF
bind 127.0.0.1
port $RPORT
unixsocket $RSOCK
unixsocketperm 700
dir $T/redis
logfile $T/redis.log
daemonize no
save ""
appendonly yes
appendfsync always
user default on nopass ~* &* +@all
user vigil on >pw-$$ ~* &* +@all
CONF

rcli() { redis-cli -s "$RSOCK" -n "$DB" "$@"; }
start_redis() {
	redis-server "$T/redis.conf" &
	RPID=$!
	PIDS="$PIDS $RPID"
	wait_for 20 rcli PING || fail "redis-server did not start"
}
stop_redis() {
	kill -TERM "$RPID"
	wait "$RPID" 2>/dev/null || true
}
start_redis

# gen.py: RESP for redis-cli --pipe, from operations separated by "--":
# "posts STREAM PREFIX FROM TO" adds posts that all raise an alert,
# "files STREAM DIR" each file of DIR as the post field, "raw STREAM
# FIELD VALUE" one entry.
cat >"$T/gen.py" <<'PYEOF'
import os, sys
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.write(b"$%d\r\n%s\r\n" % (len(a), a))
def posts(stream, prefix, first, last):
    for i in range(int(first), int(last) + 1):
        pid = "%s%d" % (prefix, i)
        post = ('{"id":"%s","platform":"telegram","channel":"@c",'
                '"author":{"id":"tg:1","handle":"@a","name":"A","kind":"person"},'
                '"created_at":"2021-01-05T10:00:00+06:00",'
                '"text":"vigiltest %s"}' % (pid, pid))
        cmd("XADD", stream, "*", "post", post)
def files(stream, d):
    for n in sorted(os.listdir(d)):
        cmd("XADD", stream, "*", "post", open(os.path.join(d, n), "rb").read())
def raw(stream, field, value):
    cmd("XADD", stream, "*", field, value)
cmd("SELECT", os.environ["DB"])
ops, cur = [], []
for a in sys.argv[1:] + ["--"]:
    if a == "--":
        ops.append(cur)
        cur = []
    else:
        cur.append(a)
for op in ops:
    if op:
        {"posts": posts, "files": files, "raw": raw}[op[0]](*op[1:])
PYEOF
export DB
gen() { "$PY" "$T/gen.py" "$@" | redis-cli -s "$RSOCK" --pipe >>"$T/pipe.out" 2>&1 || fail "redis-cli --pipe failed"; }

# has_posts PREFIX FROM TO: every post of the range has an alert.
has_posts() {
	"$PY" - "$T/alerts.jsonl" "$@" <<'PYEOF'
import json, sys
try:
    seen = {json.loads(l)["post"]["id"] for l in open(sys.argv[1], encoding="utf-8")}
except FileNotFoundError:
    seen = set()
want = {"%s%d" % (sys.argv[2], i) for i in range(int(sys.argv[3]), int(sys.argv[4]) + 1)}
missing = sorted(want - seen)
if missing:
    print("missing %d, e.g. %s" % (len(missing), missing[:5]))
    sys.exit(1)
PYEOF
}
pending() { rcli XPENDING "$1" vigil | head -n 1; }
none_pending() { [ "$(pending posts)" = 0 ] && [ "$(pending more)" = 0 ]; }
metric() { # NAME: its value for the input "r", 0 when absent
	"$top_builddir/daemon/vigilctl" -s "$T/run/control.sock" metrics |
	    awk -v n="vigil_plugin_$1{" 'index($0, n) == 1 && /instance="r"/ { print $2; f = 1 } END { if (!f) print 0 }'
}

# conf CONSUMER EXTRA [WORKERS]: vigild reading both streams as CONSUMER.
conf() {
	daemon_section
	cat <<CONF
workers = { ${3:-count = 2;} batch = 16; };
inputs = ( { plugin = "redis-streams"; name = "r"; streams = [ "posts", "more" ];
  consumer = "$1"; db = $DB; count = 16; block_ms = 300;
  claim_interval_ms = 300; claim_min_idle_ms = 1500;
  reconnect_min_ms = 50; reconnect_max_ms = 400; $2 } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; min_severity = "notice"; } );
CONF
}
TCP="host = \"127.0.0.1\"; port = $RPORT; username = \"vigil\"; password_file = \"$T/pw\";"
UNIX="socket = \"$RSOCK\";"
conf c1 "$TCP" >"$T/c1.conf"
conf c1 "$UNIX" >"$T/c1-unix.conf"

# A wrong password is refused with the server's reason, then retried.
printf 'nope\n' >"$T/badpw"
conf c1 "host = \"127.0.0.1\"; port = $RPORT; username = \"vigil\"; password_file = \"$T/badpw\";" >"$T/bad.conf"
start_vigild "$T/bad.conf" "$T/bad.log"
wait_for 20 grep -q "AUTH: WRONGPASS" "$T/bad.log" || fail "a wrong password was not reported"
grep -q "nope" "$T/bad.log" && fail "the password was logged"
stop_vigild

# 1. Posts before and after the start, on both streams.
gen posts posts a 1 150 -- posts more m 1 40
start_vigild "$T/c1.conf" "$T/vigild.log"
gen posts posts a 151 300
wait_for 40 has_posts a 1 300 || fail "posts: $(has_posts a 1 300)"
wait_for 20 has_posts m 1 40 || fail "more: $(has_posts m 1 40)"
wait_for 10 none_pending || fail "entries still pending: $(pending posts), $(pending more)"

# 2. Malformed entries: counted, acknowledged, no crash.
SUITE="${VIGIL_PEER_DIR:-$top_srcdir/../shared/peer/JSONTestSuite/test_parsing}"
n_suite=0
suite=""
if [ -d "$SUITE" ]; then
	n_suite=$(ls "$SUITE" | grep -c '^n_')
	suite="files posts $SUITE --"
else
	echo "no $SUITE: the suite part is skipped"
fi
# shellcheck disable=SC2086
gen raw posts other '{"id":"x"}' -- raw posts post '{"id": "bad", ' -- \
    raw more post "$(post z1 'vigiltest after the bad ones')" -- $suite \
    raw more post "$(post z2 'vigiltest after the suite')"
wait_for 60 has_posts z 1 2 || fail "posts after malformed entries: $(has_posts z 1 2)"
wait_for 10 none_pending || fail "malformed entries not acknowledged: $(pending posts)"
kill -0 "$VPID" || fail "vigild died on malformed entries"
invalid=$(metric redis_entries_invalid_total)
[ "${invalid%.*}" -ge $((2 + n_suite)) ] ||
	fail "invalid entries counted: $invalid, expected at least $((2 + n_suite))"
grep -q "no string field 'post'; acknowledged as invalid" "$T/vigild.log" ||
	fail "an entry without the field was not logged"

# 3. kill -9 mid-stream, then a restart: every post has its alert.
# The posts go on being added while vigild dies.
"$PY" "$T/gen.py" posts posts k 1 3000 | redis-cli -s "$RSOCK" --pipe >>"$T/pipe.out" 2>&1 &
GEN=$!
wait_for 30 grep -q '"id":"k[0-9]' "$T/alerts.jsonl" || fail "kill: nothing scored before the kill"
kill -9 "$VPID"
wait "$VPID" 2>/dev/null || true
echo "killed with $(pending posts) entries pending"
wait "$GEN" || fail "adding posts failed"
start_vigild "$T/c1.conf" "$T/vigild.log"
wait_for 40 has_posts k 1 3000 || fail "after kill -9: $(has_posts k 1 3000)"
wait_for 10 none_pending || fail "after kill -9: $(pending posts) pending"

# 4. redis-server restarted mid-stream.
gen posts posts r 1 300
stop_redis
sleep 0.5
start_redis
gen posts more r 301 400
wait_for 40 has_posts r 1 400 || fail "after the redis restart: $(has_posts r 1 400)"
wait_for 10 none_pending || fail "after the redis restart: $(pending posts), $(pending more) pending"
grep -q "connection lost" "$T/vigild.log" || fail "the lost connection was not logged"
[ "$(metric redis_connection_failures_total)" != 0 ] || fail "the lost connection was not counted"
stop_vigild

# 5. A consumer that cannot score (no workers) takes entries and dies;
# the first one, now on the unix socket, claims them.
conf c2 "$UNIX" "count = -1; listen = [ \"ipc://$T/nobody.sock\" ];" >"$T/c2.conf"
start_vigild "$T/c2.conf" "$T/c2.log"
C2=$VPID
gen posts posts d 1 40
c2_holds() { [ "$(rcli XPENDING posts vigil - + 100 c2 | grep -cE '^[0-9]+-[0-9]+$')" -ge 40 ]; }
wait_for 20 c2_holds || fail "c2 did not take the entries: $(rcli XPENDING posts vigil)"
kill -9 "$C2"
wait "$C2" 2>/dev/null || true
start_vigild "$T/c1-unix.conf" "$T/vigild.log"
wait_for 40 has_posts d 1 40 || fail "claim: $(has_posts d 1 40)"
wait_for 10 none_pending || fail "claim: $(pending posts) pending"
claimed=$(metric redis_entries_claimed_total)
[ "${claimed%.*}" -ge 40 ] || fail "claimed entries counted: $claimed"
stop_vigild
[ "$(pending posts)" = 0 ] || fail "entries pending after a clean stop"
echo "redis_streams: ok"
