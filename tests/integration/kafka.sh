#!/bin/sh
# The kafka input against librdkafka's mock cluster (kafka_mock, three
# brokers, run by this test):
#  1. malformed messages (a fixed set and, when present, every
#     JSONTestSuite file) on their own topic are counted as invalid and
#     crash nothing, while posts flow with a tiny backlog (pause, resume);
#  2. a broker goes down mid-stream and comes back;
#  3. kill -9 of vigild mid-stream, a restart, and a second vigild in the
#     same group (a rebalance): every post's alert arrives at a file sink,
#     duplicates only with the same alert id;
#  4. after SIGTERM the group's committed offsets are each partition's
#     end;
#  5. a stop whose final commit the broker refuses (a rebalance in
#     progress, twice) tries again, and still ends at each end;
#  6. a refusal that another try cannot fix (authorization) is final:
#     the stop leaves the group without waiting out close_timeout_ms.
# KAFKA_STRATEGY picks the assignment strategy (kafka_cooperative.sh).
. "$(dirname "$0")/lib.sh"

KMOCK="$top_builddir/tests/integration/kafka_mock"
STRATEGY="${KAFKA_STRATEGY:-range,roundrobin}"
GROUP=vigil-test
SUITE="${VIGIL_PEER_DIR:-$top_srcdir/../shared/peer/JSONTestSuite/test_parsing}"

mkfifo "$T/ctl"
"$KMOCK" 3 <"$T/ctl" >"$T/mock.out" 2>"$T/mock.log" &
PIDS="$PIDS $!"
exec 3>"$T/ctl"
NCMD=0
answered() { [ "$(grep -c '^done ' "$T/mock.out")" -ge "$1" ]; }
# mock COMMAND: runs one driver command and waits for its answer.
mock() {
	NCMD=$((NCMD + 1))
	echo "$*" >&3
	wait_for 60 answered "$NCMD" ||
		fail "kafka_mock did not answer '$*'"
}
wait_for 20 grep -q '^bootstrap ' "$T/mock.out" || fail "kafka_mock did not start"
BOOT=$(sed -n 's/^bootstrap //p' "$T/mock.out")

mock topic posts 4
mock topic bad 2

# config NAME [ADMIN [COMMIT_MS]]: an instance with its own state and
# alert file.
config() {
	cat >"$T/$1.conf" <<CONF
daemon = {
  state_dir = "$T/state-$1";
  runtime_dir = "$T/run-$1";
  plugin_path = [ "$PLUGINS" ];
  log_level = "info";
  backlog = ${KAFKA_BACKLOG:-50};
  max_post_bytes = 16384;
};
admin = { listen = "${2:-}"; };
workers = { count = 1; batch = 16; };
inputs = ( {
  plugin = "kafka"; name = "k";
  bootstrap_servers = "$BOOT";
  group_id = "$GROUP";
  topics = [ "posts", "bad" ];
  commit_ms = ${3:-50};
  pause_grace_ms = ${KAFKA_GRACE:-500};
  properties = (
    { name = "partition.assignment.strategy"; value = "$STRATEGY"; },
    { name = "session.timeout.ms"; value = "3000"; },
    { name = "heartbeat.interval.ms"; value = "300"; },
    { name = "topic.metadata.refresh.interval.ms"; value = "1000"; },
    { name = "sasl.password"; file = "$T/secret"; }
  );
} );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts-$1.jsonl"; min_severity = "notice"; } );
CONF
}
echo "s3cret-$$" >"$T/secret"
config a 127.0.0.1:0
config b
# Commits at the stop only, within the test's time.
config c "" 60000

# Distinct post ids among the alerts of both instances.
posts_alerted() { cat "$T"/alerts-*.jsonl 2>/dev/null | "$PY" -c '
import json, sys
print(len({json.loads(l)["post"]["id"] for l in sys.stdin if l.strip()}))'; }
alerted_at_least() { [ "$(posts_alerted)" -ge "$1" ]; }

admin_port() { sed -n 's/.*admin: serving .*(port \([0-9]*\)).*/\1/p' "$1" | tail -n 1; }
metric() { # PORT NAME: the value of the kafka input's series NAME
	"$PY" - "$1" "$2" <<'PYEOF'
import sys, urllib.request
body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
for l in body.splitlines():
    if l.startswith(sys.argv[2] + "{") and 'instance="k"' in l:
        print(int(float(l.rsplit(" ", 1)[1])))
        break
else:
    print(-1)
PYEOF
}

# 1. Malformed messages and a first stream of posts, one instance.
mock bad bad
nbad_sent=$(sed -n 's/^bad //p' "$T/mock.out")
nfiles=0
if [ -d "$SUITE" ]; then
	mock files bad "$SUITE"
	nfiles=$(sed -n 's/^files //p' "$T/mock.out")
else
	echo "no $SUITE: JSONTestSuite cases skipped"
fi
mock produce posts 1 300
# Every message of the topic "bad" is invalid: its end offsets count them.
mock committed "$GROUP" bad
nbad=$(sed -n 's/^offsets [0-9]* -\{0,1\}[0-9]* //p' "$T/mock.out" | awk '{ n += $1 } END { print n }')
[ "$nbad" -ge $((nbad_sent + nfiles)) ] || fail "topic bad holds $nbad messages, $((nbad_sent + nfiles)) were sent"

start_vigild "$T/a.conf" "$T/a.log"
A=$VPID
wait_for 20 grep -q "admin: serving" "$T/a.log" || fail "no admin listener"
port=$(admin_port "$T/a.log")
invalid_is() { [ "$(metric "$port" vigil_plugin_kafka_posts_invalid_total)" -eq "$1" ]; }
wait_for 40 invalid_is "$nbad" ||
	fail "expected $nbad invalid, counted $(metric "$port" vigil_plugin_kafka_posts_invalid_total) of $(metric "$port" vigil_plugin_kafka_messages_total) messages, $(metric "$port" vigil_plugin_kafka_pauses_total) pauses"
wait_for 40 alerted_at_least 100 || fail "first alerts did not arrive: $(posts_alerted)"
# With pause_grace_ms = 0 every wait pauses the partitions.
if [ "${KAFKA_GRACE:-500}" = 0 ]; then
	[ "$(metric "$port" vigil_plugin_kafka_pauses_total)" -gt 0 ] || fail "backpressure never paused the partitions"
fi

# 2. A broker fails mid-stream, and comes back.
mock produce posts 301 600
mock down 2
sleep 2
mock up 2
wait_for 40 alerted_at_least 400 || fail "after the broker came back: $(posts_alerted) posts alerted"
kill -0 "$A" || fail "vigild died"

# 3. kill -9 mid-stream, a restart, and a second member for a rebalance.
mock produce posts 601 900
kill -9 "$A"
wait "$A" 2>/dev/null || true
start_vigild "$T/a.conf" "$T/a.log"
A=$VPID
start_vigild "$T/b.conf" "$T/b.log"
B=$VPID
mock produce posts 901 1000
wait_for 50 alerted_at_least 1000 || fail "expected 1000 posts alerted, got $(posts_alerted)"
wait_for 30 grep -q "assigned" "$T/b.log" || fail "the second member got no partitions"

"$PY" - "$T"/alerts-*.jsonl <<'PYEOF' || fail "alerts are wrong"
import json, sys
ids = {}
for f in sys.argv[1:]:
    for l in open(f, encoding="utf-8"):
        a = json.loads(l)
        ids.setdefault(a["post"]["id"], set()).add(a["id"])
want = {"p%d" % i for i in range(1, 1001)}
assert set(ids) == want, sorted(set(ids) ^ want)[:10]
multi = [p for p, s in ids.items() if len(s) != 1]
assert not multi, ("a post got different alert ids", multi[:5])
PYEOF

# 4. Clean stops commit everything. A partition whose last commit was
# refused as it changed hands (a stale generation) is read again by its
# new owner: at-least-once. The group catches up before the stops.
posts_at_end() {
	mock committed "$GROUP" posts
	"$PY" - "$T/mock.out" <<'PYEOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("offsets ")][-4:]
sys.exit(any(r[2] != r[3] for r in rows))
PYEOF
}
wait_for 30 posts_at_end || fail "the group's offsets did not reach the end: $(tail -n 5 "$T/mock.out")"
VPID=$A
stop_vigild
VPID=$B
stop_vigild
mock committed "$GROUP" posts
mock committed "$GROUP" bad
"$PY" - "$T/mock.out" <<'PYEOF' || fail "committed offsets are not at the end"
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.startswith("offsets ")]
rows = rows[-6:]
# An empty partition has nothing to commit.
bad = [r for r in rows if r[2] != r[3] and not (r[2] == "-1" and r[3] == "0")]
assert not bad, bad
PYEOF

# refused_stop LOG FROM TO COUNT ERR: a member with config c reads posts
# FROM..TO, then is stopped with its next COUNT OffsetCommit requests
# (API key 8) refused with error ERR.
refused_stop() {
	start_vigild "$T/c.conf" "$T/$1"
	wait_for 30 grep -q "assigned [1-9]" "$T/$1" || fail "$1: the member got no partitions"
	mock produce posts "$2" "$3"
	wait_for 50 alerted_at_least "$3" || fail "$1: expected $3 posts alerted, got $(posts_alerted)"
	mock fail 8 "$4" "$5"
	stop_vigild
}

# 5. The final commit refused twice: REBALANCE_IN_PROGRESS (27).
refused_stop c.log 1001 1100 2 27
posts_at_end || fail "a refused final commit was not tried again: $(tail -n 5 "$T/mock.out")"
grep -q "offset commit failed: .*rebalanc" "$T/c.log" ||
	fail "the final commit was not refused: $(grep -i commit "$T/c.log" | tail -n 3)"

# 6. GROUP_AUTHORIZATION_FAILED (30), more often than any stop would try.
refused_stop c2.log 1101 1150 64 30
grep -q "offset commit failed: .*; not tried again" "$T/c2.log" ||
	fail "an authorization failure was not final: $(grep -i commit "$T/c2.log" | tail -n 3)"
grep -q "will try again\|not confirmed within\|did not leave the group" "$T/c2.log" &&
	fail "the stop waited on a final refusal: $(grep -i "commit\|leave" "$T/c2.log" | tail -n 3)"
grep -q "s3cret-$$" "$T"/[abc].log "$T/c2.log" && fail "the secret read from a file was logged"
grep -qi "sanitizer\|runtime error" "$T"/[abc].log "$T/c2.log" && fail "sanitizer report"
echo "quit" >&3
echo "kafka ($STRATEGY): ok"
