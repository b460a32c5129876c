#!/bin/sh
# The http input against the real vigild: one post, an array, NDJSON,
# Cyrillic and Kazakh text; items that are not posts (400 with an error
# each while the valid ones are recorded and reach the file sink); 401
# with WWW-Authenticate, 405, 413, 415; malformed and truncated bodies
# and the JSONTestSuite files (nothing crashes); a daemon with no workers
# and a backlog of 2 (503 + Retry-After and retry_from; the held request
# answered once a worker comes; a stop answers what is held with 503);
# kill -9 right after a 202: the post's alert is delivered after the
# restart.
TEST_TIMEOUT=120 # read by lib.sh's watchdog
. "$(dirname "$0")/lib.sh"

free_port() {
	"$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
TOKEN=tok-$$-secret
printf '%s\n' "$TOKEN" >"$T/token"
chmod 600 "$T/token"

{
	daemon_section
	cat <<CONF
http = { listen = "127.0.0.1:$PORT"; max_body = 65536; };
workers = { count = 1; };
inputs = ( { plugin = "http"; name = "api"; token_file = "token"; } );
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
[ -d "$SUITE" ] || echo "no $SUITE: the JSONTestSuite part is skipped"
"$PY" - "$PORT" "$TOKEN" "$SUITE" <<'PYEOF' || fail "http input answers are wrong"
import http.client, json, os, sys
port, token, suite = int(sys.argv[1]), sys.argv[2], sys.argv[3]
AUTH = {"Authorization": "Bearer " + token}

def post(body, ctype="application/json", headers=AUTH, method="POST", path="/v1/posts"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    h = dict(headers)
    if ctype:
        h["Content-Type"] = ctype
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    try:
        j = json.loads(data)
    except ValueError:
        j = None
    return r.status, j, r

def p(i, text):
    return {"id": i, "platform": "web", "channel": "c", "created_at": "2021-01-05T10:00:00+06:00",
            "author": {"id": "w:1", "name": "A"}, "text": text}

s, j, _ = post(json.dumps(p("h1", "vigiltest one")))
assert (s, j) == (202, {"accepted": 1}), (s, j)
s, j, _ = post(json.dumps([p("h2", "vigiltest опрос Алматы"), p("h3", "vigiltest сайлау Қазақстан өңір")]))
assert (s, j) == (202, {"accepted": 2}), (s, j)
nd = "\n".join(json.dumps(p("h%d" % i, "vigiltest nd %d" % i), ensure_ascii=False) for i in (4, 5))
s, j, _ = post((nd + "\r\n\n" + json.dumps(p("h6", "vigiltest nd 6")) + "\n").encode(), "application/x-ndjson; charset=utf-8")
assert (s, j) == (202, {"accepted": 3}), (s, j)

# Mixed: errors by index, the valid ones taken.
s, j, _ = post(json.dumps([p("h7", "vigiltest mixed"), {"id": "", "created_at": "x"}, 42, p("h8", "vigiltest mixed 2")]))
assert s == 400 and j["accepted"] == 2, (s, j)
assert [e["index"] for e in j["errors"]] == [1, 2] and all(e["error"] for e in j["errors"]), j
s, j, _ = post(json.dumps(p("h9", "vigiltest nd ok")) + "\n\n{\"id\": \"h10\"\n", "application/x-ndjson")
assert s == 400 and j["accepted"] == 1 and [e["index"] for e in j["errors"]] == [2], (s, j)

# Refusals.
s, j, r = post(json.dumps(p("x1", "vigiltest")), headers={})
assert s == 401 and r.getheader("WWW-Authenticate", "").startswith("Bearer"), (s, j)
s, j, r = post(json.dumps(p("x1", "vigiltest")), headers={"Authorization": "Bearer " + token + "x"})
assert s == 401, s
s, j, r = post(json.dumps(p("x1", "vigiltest")), headers={"Authorization": "Basic " + token})
assert s == 401, s
s, j, r = post(json.dumps(p("x1", "vigiltest")), "text/plain")
assert s == 415, (s, j)
s, j, r = post(json.dumps(p("x1", "vigiltest")), None)
assert s == 415, (s, j)
s, j, r = post(None, None, method="GET")
assert s == 405 and r.getheader("Allow") == "POST", s
s, j, r = post("[" + ",".join([json.dumps(p("big", "x" * 1000))] * 80) + "]")
assert s == 413, s
for bad in ["", "   ", "{", "[1,", "[]", "nul", "\"str\"", "{\"id\": \"t\", \"created_at\": \"2021-01-05T10:00:00Z\"", "[{\"id\": \"t\"},"]:
    s, j, _ = post(bad)
    assert s == 400 and j["accepted"] == 0, (bad, s, j)
s, j, _ = post("\n\n", "application/x-ndjson")
assert s == 400, (s, j)

# JSONTestSuite: whatever it is, an answer and no crash.
if os.path.isdir(suite):
    n = 0
    for name in sorted(os.listdir(suite)):
        data = open(os.path.join(suite, name), "rb").read()
        for ct in ("application/json", "application/x-ndjson"):
            s, j, _ = post(data, ct)
            assert s in (202, 400, 413), (name, s, j)
            n += 1
    print("suite: %d requests" % n)
s, j, _ = post(json.dumps(p("h11", "vigiltest after suite")))
assert s == 202, s
PYEOF

# What was accepted reaches the file sink; nothing refused does.
want="h1 h10 h11 h2 h3 h4 h5 h6 h7 h8 h9"
got() { "$PY" -c 'import json,sys; print(" ".join(sorted({json.loads(l)["post"]["id"] for l in open(sys.argv[1]) if json.loads(l)["rule"] == "watchlist.marker"})))' "$T/alerts.jsonl"; }
alerts_are() { [ "$(got)" = "$1" ]; }
wait_for 20 alerts_are "$(echo $want | sed 's/ h10//')" || fail "alerts for: $(got); want $want without h10"
grep -q 'Қазақстан' "$T/alerts.jsonl" || fail "Kazakh text lost"
kill -0 "$VPID" || fail "vigild died"
grep -q "$TOKEN" "$T/vigild.log" && fail "the token was logged"
stop_vigild

# Off loopback without a token: refused at start, naming the settings.
sed -e "s/127.0.0.1:$PORT/0.0.0.0:$PORT/" -e 's/token_file = "token"; //' "$T/vigil.conf" >"$T/open.conf"
rc=0
"$VIGILD" -c "$T/open.conf" >"$T/open.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "vigild ran on 0.0.0.0 without a token"
grep -q 'http.listen = "0.0.0.0:.*set token or token_file' "$T/open.log" || fail "no clear message: $(cat "$T/open.log")"

# No workers yet and a backlog of 2: the request of three is held.
SOCK="$T/w.sock"
{
	daemon_section | sed 's/^};$/  backlog = 2;\n};/'
	cat <<CONF
http = { listen = "127.0.0.1:$PORT"; };
workers = { count = -1; listen = [ "ipc://$SOCK" ]; };
inputs = ( { plugin = "http"; name = "api"; token = "$TOKEN"; retry_after_s = 3; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts2.jsonl"; } );
CONF
} >"$T/busy.conf"
grep -q 'backlog = 2' "$T/busy.conf" || fail "busy.conf has no backlog"
start_vigild "$T/busy.conf" "$T/busy.log"
wait_for 20 port_open "$PORT" || fail "busy vigild does not listen"

# A stop answers the held request 503 (the post was not recorded).
"$PY" - "$PORT" "$TOKEN" "$VPID" <<'PYEOF' || fail "held request at stop"
import http.client, json, os, signal, sys, threading, time
port, token, pid = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
c.request("POST", "/v1/posts", body=json.dumps({"id": "s1", "created_at": "2021-01-05T10:00:00Z", "text": "vigiltest"}),
          headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
time.sleep(0.5)
# No worker will come: a second signal stops without draining.
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
r = c.getresponse()
j = json.loads(r.read())
assert r.status == 503 and "shutting down" in j["error"] and j["accepted"] == 0, (r.status, j)
assert r.getheader("Retry-After") == "3", r.getheaders()
PYEOF
wait "$VPID" || true

start_vigild "$T/busy.conf" "$T/busy.log"
wait_for 20 port_open "$PORT" || fail "busy vigild does not listen"
"$PY" - "$PORT" "$TOKEN" "$top_builddir/daemon/vigil-worker" "$T/busy.conf" "ipc://$SOCK" "$T/worker.log" <<'PYEOF' || fail "backpressure answers are wrong"
import http.client, json, subprocess, sys, threading, time
port, token, worker, conf, url, wlog = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6]
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def p(i):
    return {"id": i, "created_at": "2021-01-05T10:00:00Z", "text": "vigiltest " + i}
res = {}
def held():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("POST", "/v1/posts", body=json.dumps([p("b1"), p("b2"), p("b3")]), headers=H)
    r = c.getresponse()
    res["held"] = (r.status, json.loads(r.read()), r.getheader("Retry-After"), time.time())
t = threading.Thread(target=held)
t.start()
time.sleep(1.0)
assert "held" not in res, res
# Paused: answered at once, nothing taken.
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
c.request("POST", "/v1/posts", body=json.dumps(p("b4")), headers=H)
r = c.getresponse()
j = json.loads(r.read())
assert r.status == 503 and j["accepted"] == 0 and j["retry_from"] == 0 and r.getheader("Retry-After") == "3", (r.status, j)
started = time.time()
w = subprocess.Popen([worker, "-c", conf, "--connect", url], stderr=open(wlog, "w"))
try:
    t.join(30)
    s, j, ra, at = res["held"]
    assert at >= started, "answered before the posts were recorded"
    assert s == 503 and j["accepted"] == 2 and j["retry_from"] == 2 and ra == "3", (s, j, ra)
    # The client resends the rest, and room is back.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("POST", "/v1/posts", body=json.dumps([p("b3"), p("b4")]), headers=H)
    r = c.getresponse()
    j = json.loads(r.read())
    assert r.status == 202 and j == {"accepted": 2}, (r.status, j)
finally:
    w.terminate()
    w.wait()
PYEOF
busy_alerts() { [ "$(grep -c watchlist.marker "$T/alerts2.jsonl" 2>/dev/null)" -ge 4 ]; }
wait_for 20 busy_alerts || fail "backlog test: $(lines "$T/alerts2.jsonl") alerts, want 4"
stop_vigild

# kill -9 right after a 202: the alert is in the outbox, and a receiver
# that is up only after the restart gets it.
RPORT=$(free_port)
{
	daemon_section
	cat <<CONF
http = { listen = "127.0.0.1:$PORT"; };
workers = { count = 1; };
inputs = ( { plugin = "http"; name = "api"; token = "$TOKEN"; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "webhook"; name = "w"; url = "http://127.0.0.1:$RPORT/in"; retry_min_ms = 100; retry_max_ms = 300; } );
CONF
} >"$T/crash.conf"
start_vigild "$T/crash.conf" "$T/crash.log"
wait_for 20 port_open "$PORT" || fail "crash vigild does not listen"
"$PY" - "$PORT" "$TOKEN" <<'PYEOF' || fail "no 202 before the crash"
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=20)
c.request("POST", "/v1/posts", body=json.dumps({"id": "k1", "created_at": "2021-01-05T10:00:00Z", "text": "vigiltest crash"}),
          headers={"Authorization": "Bearer " + sys.argv[2], "Content-Type": "application/json"})
r = c.getresponse()
assert r.status == 202, r.status
PYEOF
kill -9 "$VPID"
wait "$VPID" 2>/dev/null || true
"$PY" - "$RPORT" "$T/received" <<'PYEOF' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as f:
            f.write(body + b"\n")
        self.send_response(204)
        self.end_headers()
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PYEOF
PIDS="$PIDS $!"
start_vigild "$T/crash.conf" "$T/crash.log"
got_k1() { grep -q '"k1"' "$T/received"; }
wait_for 30 got_k1 || fail "the alert of the post answered 202 was not delivered after the restart"
stop_vigild
echo "http_input: ok"
