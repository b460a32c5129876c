#!/bin/sh
# The facebook input against the real vigild: the subscription handshake
# (200 with the challenge, 403 otherwise), deliveries signed right (200
# once recorded; the posts reach the file sink with the mapped fields),
# with no, malformed or wrong signatures (401, counted), removals and
# likes (ignored), bad bodies (400), and the JSONTestSuite files signed
# (nothing crashes). The secrets never reach the log. A daemon with no
# workers yet and a backlog of 2: a stop answers a held delivery 503 with
# Retry-After, and one that comes while stopping too; a delivery of more
# posts than the backlog holds is held until a worker comes, then
# answered 503 with Retry-After, "accepted" and "retry_from" (one during
# the hold at once, and its retry later 200); the posts taken raise their
# alerts and the others none; a retry of the big delivery records its
# first posts again, each alert once, and is answered 503 again.
# Read by lib.sh for its watchdog.
TEST_TIMEOUT=${TEST_TIMEOUT:-90}
. "$(dirname "$0")/lib.sh"

PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
SECRET=app-$$-secret
VERIFY=verify-$$-token
printf '%s\n' "$SECRET" >"$T/app_secret"
chmod 600 "$T/app_secret"
ADMIN_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
{
	ADMIN_LISTEN="127.0.0.1:$ADMIN_PORT" daemon_section
	cat <<CONF
http = { listen = "127.0.0.1:$PORT"; };
workers = { count = 1; };
inputs = ( { plugin = "facebook"; name = "fb"; app_secret_file = "app_secret"; verify_token = "$VERIFY"; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

start_vigild "$T/vigil.conf" "$T/vigild.log"
port_open() { "$PY" -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$1"; }
wait_for 20 port_open "$PORT" || fail "vigild does not listen on $PORT"

SUITE=${VIGIL_PEER_DIR:-/work/shared/peer/JSONTestSuite/test_parsing}
"$PY" - "$PORT" "$SECRET" "$VERIFY" "$SUITE" <<'PYEOF' || fail "facebook input answers are wrong"
import hashlib, hmac, http.client, json, os, sys, urllib.parse
port, secret, verify, suite = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4]

def req(method, path, body=None, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request(method, path, body=body, headers=headers)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data, r

def sign(body):
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()

def deliver(obj, sig=None, raw=None):
    body = raw if raw is not None else json.dumps(obj, ensure_ascii=False).encode()
    h = {"Content-Type": "application/json"}
    s = sign(body) if sig is None else sig
    if s != "":
        h["X-Hub-Signature-256"] = s
    return req("POST", "/v1/facebook", body, h)

def hs(q):
    return req("GET", "/v1/facebook?" + urllib.parse.urlencode(q))

s, d, r = hs({"hub.mode": "subscribe", "hub.verify_token": verify, "hub.challenge": "1158201444"})
assert s == 200 and d == b"1158201444" and r.getheader("Content-Type").startswith("text/plain"), (s, d)
for q in ({"hub.mode": "subscribe", "hub.verify_token": verify + "x", "hub.challenge": "1"},
          {"hub.mode": "unsubscribe", "hub.verify_token": verify, "hub.challenge": "1"},
          {"hub.mode": "subscribe", "hub.challenge": "1"},
          {"hub.mode": "subscribe", "hub.verify_token": verify}):
    s, d, r = hs(q)
    assert s == 403, (q, s, d)
s, d, r = req("PUT", "/v1/facebook", b"")
assert s == 405, s

def change(item, verb, **kw):
    v = {"item": item, "verb": verb}
    v.update(kw)
    return {"field": "feed", "value": v}

delivery = {"object": "page", "entry": [
    {"id": "1001", "time": 1609826400, "changes": [
        change("status", "add", post_id="1001_1", message="vigiltest Сайлау жақында, опрос",
               created_time=1609826400, **{"from": {"id": "77", "name": "Әсем"}}),
        change("comment", "add", post_id="1001_1", comment_id="1001_1_9", parent_id="1001_1",
               message="vigiltest комментарий", created_time=1609826500, **{"from": {"id": 78, "name": "B"}}),
        change("post", "remove", post_id="1001_2"),
        change("reaction", "add", post_id="1001_1", reaction_type="like"),
        {"field": "ratings", "value": {"item": "rating"}},
        change("status", "edited", post_id="1001_3", message="vigiltest edited"),
    ]}]}
s, d, r = deliver(delivery)
assert s == 200, (s, d)
assert json.loads(d) == {"accepted": 3}, d

# Refused signatures.
body = json.dumps(delivery, ensure_ascii=False).encode()
s, d, _ = deliver(delivery, sig="")
assert s == 401, s
for bad in ("sha1=" + "0" * 40, "sha256=xyz", "sha256=" + "g" * 64, sign(body)[:-2]):
    s, d, _ = deliver(delivery, sig=bad)
    assert s == 401, (bad, s)
s, d, _ = deliver(delivery, sig="sha256=" + "0" * 64)
assert s == 401, s
s, d, _ = deliver(delivery, sig=sign(body + b" "))
assert s == 401, s
s, d, _ = deliver(delivery, sig=sign(body).upper().replace("SHA256=", "sha256="))
assert s == 200, s  # the hex in capitals is the same signature

# Bodies that are not deliveries, signed.
for raw in (b"", b"{", b"[]", b"{\"object\": \"user\", \"entry\": []}", b"{\"object\": \"page\"}"):
    s, d, _ = deliver(None, raw=raw)
    assert s == 400, (raw, s, d)
s, d, _ = deliver({"object": "page", "entry": [{"id": "1", "changes": [change("status", "add", message="no id")]}]})
assert s == 200 and json.loads(d) == {"accepted": 0}, (s, d)

if os.path.isdir(suite):
    for name in sorted(os.listdir(suite)):
        data = open(os.path.join(suite, name), "rb").read()
        s, d, _ = deliver(None, raw=data)
        assert s in (200, 400, 413), (name, s)
PYEOF

alert_of() { # POST_ID
	"$PY" -c 'import json,sys
for l in open(sys.argv[1]):
    a = json.loads(l)
    if a["post"]["id"] == sys.argv[2] and a["rule"] == "watchlist.marker":
        print(json.dumps(a["post"], sort_keys=True, ensure_ascii=False)); break' "$T/alerts.jsonl" "$1"
}
have_three() { [ -n "$(alert_of 1001_1)" ] && [ -n "$(alert_of 1001_1_9)" ] && [ -n "$(alert_of 1001_3)" ]; }
wait_for 20 have_three || fail "alerts missing: $(cat "$T/alerts.jsonl")"
"$PY" - "$(alert_of 1001_1)" "$(alert_of 1001_1_9)" <<'PYEOF' || fail "fields are not mapped as documented"
import json, sys
p, c = json.loads(sys.argv[1]), json.loads(sys.argv[2])
assert p["platform"] == "facebook" and p["channel"] == "1001", p
assert p["url"] == "https://www.facebook.com/1001_1", p
assert p["author"]["id"] == "fb:77" and p["author"]["name"] == "Әсем", p
assert p["created_at"].startswith("2021-01-05T06:00:00"), p
assert c["author"]["id"] == "fb:78" and c["url"] == "https://www.facebook.com/1001_1", c
PYEOF
grep -q 1001_2 "$T/alerts.jsonl" && fail "a removal was scored"
metric() { "$PY" -c 'import sys, urllib.request
t = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read().decode()
print(sum(float(l.split()[-1]) for l in t.splitlines() if l.split("{")[0].split()[:1] == [sys.argv[2]]))' "$ADMIN_PORT" "$1"; }
for m in missing:1 malformed:4 mismatch:2; do
	got=$(metric "vigil_plugin_facebook_signature_${m%%:*}_total")
	[ "$got" = "${m#*:}.0" ] || fail "signature ${m%%:*}: counted $got, want ${m#*:}"
done
grep -qE "$SECRET|$VERIFY" "$T/vigild.log" && fail "a secret was logged"
kill -0 "$VPID" || fail "vigild died"
stop_vigild

# No workers yet and a backlog of 2 (workers come from the test).
SOCK="$T/w.sock"
{
	ADMIN_LISTEN="127.0.0.1:$ADMIN_PORT" daemon_section | sed 's/^};$/  backlog = 2;\n};/'
	cat <<CONF
http = { listen = "127.0.0.1:$PORT"; };
workers = { count = -1; listen = [ "ipc://$SOCK" ]; };
inputs = ( { plugin = "facebook"; name = "fb"; app_secret_file = "app_secret"; verify_token = "$VERIFY"; retry_after_s = 7; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts2.jsonl"; } );
CONF
} >"$T/busy.conf"
grep -q 'backlog = 2' "$T/busy.conf" || fail "busy.conf has no backlog"
cat >"$T/fbclient.py" <<'PYEOF'
import hashlib, hmac, http.client, json, time, urllib.request
from vigiltest import metric, wait_until
def change(pid, text):
    return {"field": "feed", "value": {"item": "status", "verb": "add", "post_id": pid,
            "message": text, "created_time": 1609826400, "from": {"id": "77", "name": "A"}}}
def body(changes):
    return json.dumps({"object": "page", "entry": [{"id": "2002", "time": 1609826400,
                       "changes": changes}]}, ensure_ascii=False).encode()
def deliver(port, secret, raw, timeout=30):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    c.request("POST", "/v1/facebook", body=raw, headers={"Content-Type": "application/json",
              "X-Hub-Signature-256": "sha256=" + hmac.new(secret, raw, hashlib.sha256).hexdigest()})
    r = c.getresponse()
    d = r.read()
    c.close()
    return r.status, json.loads(d), r.getheader("Retry-After"), time.time()
PYEOF

start_vigild "$T/busy.conf" "$T/busy.log"
wait_for 20 port_open "$PORT" || fail "busy vigild does not listen"
# A stop: a delivery that comes while draining is answered 503 at once;
# the held one gets 503 when a second signal ends the drain (its post
# was not recorded).
"$PY" - "$PORT" "$SECRET" "$VPID" "$T" "$ADMIN_PORT" <<'PYEOF' || fail "held delivery at stop"
import os, signal, sys, threading, time
port, secret, pid, admin = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[3]), int(sys.argv[5])
sys.path.insert(0, sys.argv[4])
from fbclient import body, change, deliver, metric, wait_until
log = os.path.join(sys.argv[4], "busy.log")
res = {}
def held():
    res["held"] = deliver(port, secret, body([change("2002_0", "vigiltest stop")]))
t = threading.Thread(target=held)
t.start()
wait_until(lambda: metric(admin, "vigil_plugin_facebook_deliveries_total") == 1, "the delivery")
time.sleep(0.2)
assert "held" not in res, res
os.kill(pid, signal.SIGTERM)
wait_until(lambda: "SIGTERM: draining" in open(log).read(), "the stop")
s, j, ra, _ = deliver(port, secret, body([change("2002_9", "vigiltest late")]))
assert (s, j, ra) == (503, {"error": "shutting down"}, "7"), (s, j, ra)
assert "held" not in res, res
# No worker will come: a second signal stops without draining.
os.kill(pid, signal.SIGTERM)
t.join(20)
s, j, ra, _ = res["held"]
assert (s, j, ra) == (503, {"error": "shutting down before every post was recorded"}, "7"), (s, j, ra)
PYEOF
wait "$VPID" || true
[ -s "$T/alerts2.jsonl" ] && fail "alerts without a worker: $(cat "$T/alerts2.jsonl")"

start_vigild "$T/busy.conf" "$T/busy.log"
wait_for 20 port_open "$PORT" || fail "busy vigild does not listen"
"$PY" - "$PORT" "$SECRET" "$T" "$top_builddir/daemon/vigil-worker" "$T/busy.conf" "ipc://$SOCK" "$T/worker.log" "$T/alerts2.jsonl" "$ADMIN_PORT" <<'PYEOF' || fail "backpressure answers are wrong"
import json, os, subprocess, sys, threading, time
port, secret, admin = int(sys.argv[1]), sys.argv[2].encode(), int(sys.argv[9])
sys.path.insert(0, sys.argv[3])
from fbclient import body, change, deliver, metric, wait_until
worker, conf, url, wlog, alerts = sys.argv[4:9]
# Changes 0, 2 and 3 make posts, 1 is a removal: the backlog takes 0
# and 2 and refuses 3.
raw = body([change("2002_1", "vigiltest one"),
            {"field": "feed", "value": {"item": "post", "verb": "remove", "post_id": "2002_5"}},
            change("2002_2", "vigiltest two"), change("2002_3", "vigiltest three")])
late = body([change("2002_4", "vigiltest four")])
def marked():
    if not os.path.exists(alerts):
        return []
    return sorted(a["post"]["id"] for a in map(json.loads, open(alerts))
                  if a["rule"] == "watchlist.marker")
def wait_marked(want):
    end = time.time() + 20
    while marked() != want and time.time() < end:
        time.sleep(0.1)
    time.sleep(0.3)
    assert marked() == want, (marked(), want)
res = {}
def held():
    res["held"] = deliver(port, secret, raw)
t = threading.Thread(target=held)
t.start()
wait_until(lambda: metric(admin, "vigil_plugin_facebook_deliveries_total") == 1, "the delivery")
time.sleep(0.2)
assert "held" not in res, res
# Paused: answered at once, nothing taken.
s, j, ra, _ = deliver(port, secret, late, timeout=10)
assert (s, j, ra) == (503, {"error": "the backlog is full"}, "7"), (s, j, ra)
assert marked() == [], marked()
started = time.time()
w = subprocess.Popen([worker, "-c", conf, "--connect", url], stderr=open(wlog, "w"))
try:
    t.join(30)
    s, j, ra, at = res["held"]
    assert at >= started, "answered before the posts were recorded"
    assert (s, ra) == (503, "7"), (s, j, ra)
    assert j == {"accepted": 2, "retry_from": 3,
                 "error": "the backlog is full: deliver again later"}, j
    # What was taken is recorded; nothing else is.
    wait_marked(["2002_1", "2002_2"])
    # Facebook delivers the refused one again: room is back.
    s, j, ra, _ = deliver(port, secret, late)
    assert (s, j) == (200, {"accepted": 1}), (s, j)
    wait_marked(["2002_1", "2002_2", "2002_4"])
    # A delivery of more posts than the backlog holds is never taken
    # whole: each try records its first posts again (same alert ids,
    # recorded once) and is answered 503.
    s, j, ra, _ = deliver(port, secret, raw)
    assert (s, j["accepted"], j["retry_from"]) == (503, 2, 3), (s, j)
    wait_marked(["2002_1", "2002_2", "2002_4"])
finally:
    w.terminate()
    w.wait()
PYEOF
for m in vigil_plugin_facebook_busy_total:3 vigil_plugin_facebook_posts_accepted_total:5 \
	vigil_alerts_deduplicated_total:2; do
	got=$(metric "${m%%:*}")
	[ "$got" = "${m#*:}.0" ] || fail "${m%%:*} is $got, want ${m#*:}"
done
grep -q '2002_[359]' "$T/alerts2.jsonl" && fail "a post that was not taken was scored"
kill -0 "$VPID" || fail "busy vigild died"
stop_vigild
echo "facebook_input: ok"
