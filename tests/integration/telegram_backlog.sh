#!/bin/sh
# The telegram input with a backlog held full (no workers until the test
# starts one). Polling, daemon.backlog = 2: while the posts of an answer
# are not all recorded, getUpdates is not called again (the fake Bot API
# sees one request during the hold); once a worker comes every update is
# scored exactly once and polling goes on from the right offsets.
# Webhook, daemon.backlog = 1: with the backlog full a post is answered
# 503 (an update without a post still 200), a held request is answered
# 200 only once recorded, a stop answers held and new requests 503,
# Telegram's later deliveries of the refused updates are scored once, and
# the resumed input does not spin.
TEST_TIMEOUT=${TEST_TIMEOUT:-90}
. "$(dirname "$0")/lib.sh"

TOKEN="5151:vigil-backlog_TOKEN"
SECRET="backlog-$$-secret"
free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
port_open() { "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1"; }
WORKER="$top_builddir/daemon/vigil-worker"

# conf FILE SOCKET INPUT ALERTS BACKLOG [ADMIN_PORT]: workers only from
# the socket, no deduplication (a post scored twice would show).
conf() {
	{
		ADMIN_LISTEN="${6:+127.0.0.1:$6}" daemon_section | sed "s/^};\$/  backlog = $5;\\n};/"
		cat <<CONF
workers = { count = -1; listen = [ "ipc://$2" ]; };
outbox = { dedup_window_s = 0; };
inputs = ( $3 );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$4"; } );
CONF
	} >"$1"
	grep -q "backlog = $5;" "$1" || fail "$1 has no backlog"
}
# marked ALERTS: "post-id count" per post with a marker alert.
marked() {
	"$PY" - "$1" <<'PYEOF'
import collections, json, os, sys
n = collections.Counter()
if os.path.exists(sys.argv[1]):
    for l in open(sys.argv[1]):
        a = json.loads(l)
        if a["rule"] == "watchlist.marker":
            n[a["post"]["id"]] += 1
print(" ".join("%s:%d" % kv for kv in sorted(n.items())))
PYEOF
}
marked_is() { [ "$(marked "$1")" = "$2" ]; }
start_worker() { # CONFIG SOCKET
	"$WORKER" -c "$1" --connect "ipc://$2" 2>>"$T/worker.log" &
	WPID=$!
	PIDS="$PIDS $WPID"
}
stop_worker() {
	kill -TERM "$WPID"
	wait "$WPID" || true
}

# --- Polling. Five updates are waiting; the first answer brings them
# all, and the backlog takes two.
mkdir "$T/api"
"$PY" - >"$T/api/updates.jsonl" <<'PYEOF'
import json
for i in range(1, 6):
    print(json.dumps({"update_id": 7000000000 + i, "message": {
        "message_id": 100 + i, "date": 1609480800 + i,
        "chat": {"id": -100777, "type": "supergroup", "title": "Алматы"},
        "from": {"id": 9, "first_name": "Дана"},
        "text": "vigiltest %d сайлау" % i}}, ensure_ascii=False))
PYEOF
"$PY" "$top_srcdir/tests/integration/telegram_fake.py" "$T/port" "$T/api" "$TOKEN" \
	2>"$T/fake.log" &
PIDS="$PIDS $!"
wait_for 10 test -s "$T/port" || fail "fake Bot API did not start"
conf "$T/poll.conf" "$T/wp.sock" "{ plugin = \"telegram\"; name = \"tg\";
	base_url = \"http://127.0.0.1:$(cat "$T/port")\"; token = \"$TOKEN\"; timeout_s = 1;
	backoff_min_ms = 20; backoff_max_ms = 200; }" "$T/poll.jsonl" 2
start_vigild "$T/poll.conf" "$T/poll.log"
requests() { lines "$T/api/requests.jsonl"; }
wait_for 20 has_lines "$T/api/requests.jsonl" 1 || fail "no getUpdates"
# Held: an idle poll would come within a second or two (timeout_s = 1);
# none may come while the answer's posts wait.
sleep 3
[ "$(requests)" -eq 1 ] || fail "getUpdates called during the hold: $(cat "$T/api/requests.jsonl")"
[ -s "$T/poll.jsonl" ] && fail "alerts without a worker"
kill -0 "$VPID" || fail "vigild died"
# Two more arrive meanwhile; they come with the next poll.
"$PY" - >>"$T/api/updates.jsonl" <<'PYEOF'
import json
for i in (6, 7):
    print(json.dumps({"update_id": 7000000000 + i, "channel_post": {
        "message_id": 100 + i, "date": 1609480800 + i,
        "chat": {"id": -100888, "type": "channel", "title": "Арна"},
        "text": "vigiltest %d жаңалық" % i}}))
PYEOF
sleep 1.5
[ "$(requests)" -eq 1 ] || fail "getUpdates called during the hold: $(cat "$T/api/requests.jsonl")"
start_worker "$T/poll.conf" "$T/wp.sock"
ALL="-100777/101:1 -100777/102:1 -100777/103:1 -100777/104:1 -100777/105:1 -100888/106:1 -100888/107:1"
wait_for 30 marked_is "$T/poll.jsonl" "$ALL" || fail "polling: alerts $(marked "$T/poll.jsonl"), want $ALL"
asked_past() { grep -q '"offset": 7000000008' "$T/api/requests.jsonl"; }
wait_for 20 asked_past || fail "no poll past the last update: $(cat "$T/api/requests.jsonl")"
sleep 0.5
marked_is "$T/poll.jsonl" "$ALL" || fail "polling: alerts $(marked "$T/poll.jsonl") after the last poll, want $ALL"
"$PY" - "$T/api/requests.jsonl" <<'PYEOF' || fail "polling: getUpdates requests are wrong"
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert r[0]["offset"] is None and r[0]["served"] == [7000000001 + i for i in range(5)], r[0]
# The next poll confirms the whole first answer, then the two that came
# later; no update is served twice.
assert r[1]["offset"] == 7000000006 and r[1]["served"] == [7000000006, 7000000007], r[1]
assert all(x["offset"] == 7000000008 and x["served"] == [] for x in r[2:]), r[2:]
assert not any("fault" in x or "unauthorized" in x for x in r), r
PYEOF
stop_worker
stop_vigild

# --- Webhook. A stop first: a held request and one that comes while
# stopping get 503, as the post was not recorded.
HPORT=$(free_port)
HOOK_INPUT="{ plugin = \"telegram\"; name = \"hook\"; mode = \"webhook\";
	webhook_path = \"/tg/hook\"; webhook_secret = \"$SECRET\"; }"
ADMIN_PORT=$(free_port)
conf "$T/hook.conf" "$T/wh.sock" "$HOOK_INPUT" "$T/hook.jsonl" 1 "$ADMIN_PORT"
printf 'http = { listen = "127.0.0.1:%s"; };\n' "$HPORT" >>"$T/hook.conf"
cat >"$T/hookclient.py" <<'PYEOF'
import http.client, json, time, urllib.request
from vigiltest import metric, wait_until
def update(uid):
    return json.dumps({"update_id": uid, "message": {
        "message_id": 200 + uid, "date": 1609480800,
        "chat": {"id": -100999, "type": "supergroup", "title": "Шымкент"},
        "from": {"id": 11, "first_name": "Ерлан"},
        "text": "vigiltest хук %d" % uid}}, ensure_ascii=False).encode()
def post(port, secret, body, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/tg/hook", body=body, headers={"Content-Type": "application/json",
              "X-Telegram-Bot-Api-Secret-Token": secret})
    r = c.getresponse()
    d = r.read()
    c.close()
    return r.status, json.loads(d), time.time()
PYEOF
start_vigild "$T/hook.conf" "$T/hook.log"
wait_for 20 port_open "$HPORT" || fail "vigild does not listen on $HPORT"
"$PY" - "$HPORT" "$SECRET" "$VPID" "$T" "$ADMIN_PORT" <<'PYEOF' || fail "webhook: held request at stop"
import os, signal, sys, threading, time
port, secret, pid, admin = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[5])
sys.path.insert(0, sys.argv[4])
from hookclient import metric, post, update, wait_until
log = os.path.join(sys.argv[4], "hook.log")
res = {}
def held():
    res["held"] = post(port, secret, update(10))
t = threading.Thread(target=held)
t.start()
wait_until(lambda: metric(admin, "vigil_plugin_telegram_posts_total") == 1, "the update")
time.sleep(0.2)
assert "held" not in res, res
os.kill(pid, signal.SIGTERM)
wait_until(lambda: "SIGTERM: draining" in open(log).read(), "the stop")
s, j, _ = post(port, secret, update(19))
assert (s, j) == (503, {"ok": False, "error": "stopping"}), (s, j)
assert "held" not in res, res
# No worker will come: a second signal stops without draining.
os.kill(pid, signal.SIGTERM)
t.join(20)
s, j, _ = res["held"]
assert (s, j) == (503, {"ok": False, "error": "stopping"}), (s, j)
PYEOF
wait "$VPID" || true
[ -s "$T/hook.jsonl" ] && fail "webhook: alerts without a worker"

# Held full (a backlog of 1): a post held, the next refused as the
# backlog is full, the third refused at once; Telegram delivers the
# refused ones again later.
start_vigild "$T/hook.conf" "$T/hook.log"
wait_for 20 port_open "$HPORT" || fail "vigild does not listen on $HPORT"
"$PY" - "$HPORT" "$SECRET" "$T" "$WORKER" "$T/hook.conf" "ipc://$T/wh.sock" "$T/worker.log" "$VPID" "$ADMIN_PORT" <<'PYEOF' || fail "webhook: backpressure answers are wrong"
import subprocess, sys, threading, time
port, secret, admin = int(sys.argv[1]), sys.argv[2], int(sys.argv[9])
sys.path.insert(0, sys.argv[3])
from hookclient import metric, post, update, wait_until
worker, conf, url, wlog, vpid = sys.argv[4:9]
def cpu_ticks():
    return sum(int(x) for x in open("/proc/%s/stat" % vpid).read().rsplit(")", 1)[1].split()[11:13])
res = {}
def held():
    res[11] = post(port, secret, update(11))
t = threading.Thread(target=held)
t.start()
wait_until(lambda: metric(admin, "vigil_plugin_telegram_posts_total") == 1, "the update")
time.sleep(0.2)
assert res == {}, res
s, j, _ = post(port, secret, update(12), timeout=10)
assert (s, j) == (503, {"ok": False, "error": "not taken"}), (s, j)
s, j, _ = post(port, secret, update(13), timeout=10)
assert (s, j) == (503, {"ok": False, "error": "busy"}), (s, j)
# Nothing to record: answered at once, full or not.
s, j, _ = post(port, secret, b'{"update_id": 15, "callback_query": {"id": "1"}}', timeout=10)
assert (s, j) == (200, {"ok": True}), (s, j)
time.sleep(0.5)
assert res == {}, res
started = time.time()
w = subprocess.Popen([worker, "-c", conf, "--connect", url], stderr=open(wlog, "a"))
try:
    t.join(30)
    s, j, at = res[11]
    assert (s, j) == (200, {"ok": True}), (s, j)
    assert at >= started, "answered before the post was recorded"
    # Resumed and idle, vigild must not spin (a webhook input once
    # armed its poll timer on resume and tried it without end).
    c0 = cpu_ticks()
    time.sleep(2)
    c1 = cpu_ticks()
    assert c1 - c0 < 50, "idle vigild used %d ticks of CPU in 2 s" % (c1 - c0)
    # Telegram's own retries: the stop's two and the refused two.
    for uid in (10, 19, 12, 13):
        s, j, _ = post(port, secret, update(uid))
        assert (s, j) == (200, {"ok": True}), (uid, s, j)
finally:
    w.terminate()
    w.wait()
PYEOF
HOOKED="-100999/210:1 -100999/211:1 -100999/212:1 -100999/213:1 -100999/219:1"
wait_for 20 marked_is "$T/hook.jsonl" "$HOOKED" || fail "webhook: alerts $(marked "$T/hook.jsonl"), want $HOOKED"
busy=$("$PY" -c 'import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
print(sum(float(l.split()[-1]) for l in t.splitlines() if l.split("{")[0].split()[:1] == [sys.argv[2]]))' \
	"$ADMIN_PORT" vigil_plugin_telegram_webhook_busy_total)
[ "$busy" = "2.0" ] || fail "webhook: telegram_webhook_busy_total is $busy, want 2"
kill -0 "$VPID" || fail "vigild died"
stop_vigild
grep -q "$SECRET" "$T/hook.log" && fail "the webhook secret was logged"
echo "telegram_backlog: ok"
