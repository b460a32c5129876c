#!/bin/sh
# The alertmanager sink against a real Prometheus Alertmanager on loopback,
# with basic authentication: vigild starts first and the sink retries
# until Alertmanager is up; then every alert is there with its labels and
# annotations (checked against the file sink's documents of the same
# alerts), re-sends move endsAt forward, and an Alertmanager restarted
# empty gets the active alerts back. The password never reaches the log.
AM="${ALERTMANAGER:-/usr/bin/prometheus-alertmanager}"
if [ ! -x "$AM" ]; then
	echo "SKIP: $AM not installed (Debian: prometheus-alertmanager)"
	exit 77
fi
: "${TEST_TIMEOUT:=180}"
. "$(dirname "$0")/lib.sh"

port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
AMPORT=$(port)
PASS='s3cret:пароль'
printf '%s\n' "$PASS" >"$T/am-pass"

# The Alertmanager: its own configuration, storage and web config (the
# bcrypt hash of $PASS, cost 4); clustering off.
cat >"$T/am.yml" <<'YML'
route:
  receiver: review
  group_by: ['alertname', 'jurisdiction']
receivers:
  - name: review
YML
cat >"$T/web.yml" <<'YML'
basic_auth_users:
  vigil: $2b$04$rhCNfKeRqqMKCdjTNnDimugrdwsfM/o/UNf79corfhL0pBJ5sVfmK
YML
start_am() {
	"$AM" --config.file="$T/am.yml" --web.config.file="$T/web.yml" \
	    --storage.path="$T/am-data" --web.listen-address="127.0.0.1:$AMPORT" \
	    --cluster.listen-address= --log.level=warn >>"$T/am.log" 2>&1 &
	AMPID=$!
	PIDS="$PIDS $AMPID"
}
stop_am() {
	kill -TERM "$AMPID"
	wait "$AMPID" 2>/dev/null || true
}

# am.py MODE ...: ready SECS | has DOCS SECS | check DOCS | ends DOCS OUT |
# later DOCS OUT SECS. The waits poll inside one python process: starting
# one per poll is slow on a loaded machine.
cat >"$T/am.py" <<'PYEOF'
import base64, json, sys, time, urllib.request
from datetime import datetime, timezone

port, password, mode = sys.argv[1], sys.argv[2], sys.argv[3]
auth = "Basic " + base64.b64encode(("vigil:" + password).encode()).decode()

def get(path):
    req = urllib.request.Request("http://127.0.0.1:%s%s" % (port, path),
                                 headers={"Authorization": auth})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.status, r.read()

def when(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))

def alerts():
    status, body = get("/api/v2/alerts")
    assert status == 200, status
    return {a["labels"]["alert_id"]: a for a in json.loads(body)
            if "alert_id" in a["labels"]}

def until(secs, test):
    """Polls test() until it returns None (done) or secs pass; exits 1
    with its last complaint."""
    end = time.monotonic() + float(secs)
    while True:
        try:
            why = test()
        except Exception as e:
            why = repr(e)
        if why is None:
            sys.exit(0)
        if time.monotonic() > end:
            print(why)
            sys.exit(1)
        time.sleep(0.2)

if mode == "ready":
    until(sys.argv[4], lambda: None if get("/-/ready")[0] == 200 else "not ready")
docs = [json.loads(l) for l in open(sys.argv[4], encoding="utf-8")]

def missing():
    got = alerts()
    gone = [d["id"] for d in docs if d["id"] not in got]
    return "missing: %s" % gone if gone else None

if mode == "has":
    until(sys.argv[5], missing)
if mode == "later":
    before = json.load(open(sys.argv[5]))
    def moved():
        got = alerts()
        stale = [d["id"] for d in docs
                 if when(got[d["id"]]["endsAt"]) <= when(before[d["id"]])]
        return "endsAt did not move: %s" % stale if stale else None
    until(sys.argv[6], moved)
got = alerts()
if mode == "ends":
    json.dump({d["id"]: got[d["id"]]["endsAt"] for d in docs}, open(sys.argv[5], "w"))
    sys.exit(0)
assert mode == "check", mode
now = datetime.now(timezone.utc)
assert len(docs) >= 5, "too few alerts to check: %d" % len(docs)
cyrillic = 0
for d in docs:
    a = got[d["id"]]
    lb, an, post = a["labels"], a["annotations"], d["post"]
    want = {"alertname": d["rule"], "alert_id": d["id"],
            "severity": d["severity"], "platform": post["platform"],
            "channel": post["channel"], "team": "moderation"}
    if d["jurisdiction"]:
        want["jurisdiction"] = d["jurisdiction"]
    assert lb == want, (lb, want)
    assert an["title"] == d["title"], (an, d["title"])
    if d["evidence"]:
        assert an["evidence"] == d["evidence"][0]["excerpt"], (an, d["evidence"])
    else:
        assert "evidence" not in an, an
    assert an["post_id"] == post["id"], an
    assert post["id"] in an["summary"] and d["title"] in an["summary"], an
    if post["url"]:
        assert an["url"] == post["url"] and a["generatorURL"] == post["url"], a
    else:
        assert "url" not in an and not a.get("generatorURL"), a
    if d.get("legal"):
        lg = d["legal"]
        assert an["legal_basis"] == "%s, %s" % (lg["law"], lg["article"]), an
    else:
        assert "legal_basis" not in an, an
    if d.get("window"):
        w = d["window"]
        assert an["window"].startswith(w["name"] + ", "), an
        start, end = an["window"][len(w["name"]) + 2:].split(" to ")
        assert when(start) == when(w["start"]) and when(end) == when(w["end"]), an
    assert when(a["startsAt"]) == when(post["created_at"]), (a["startsAt"], post)
    assert when(a["endsAt"]) > now, a["endsAt"]
    assert a["status"]["state"] == "active", a["status"]
    if any("\u0400" <= c <= "\u04ff" for c in an["title"] + an.get("evidence", "")):
        cyrillic += 1
assert cyrillic > 0, "no Cyrillic text among the alerts"
assert any(not d["jurisdiction"] for d in docs), "every alert has a jurisdiction"
assert any(d["jurisdiction"] for d in docs), "no alert has a jurisdiction"
PYEOF
am() { "$PY" "$T/am.py" "$AMPORT" "$PASS" "$@"; }

# The sample feed under the kz rules and the election watchlist. The file
# sink writes the same alerts as documents to check against.
# (libconfig finds @include files beside the configuration).
for f in kz rule-kz.conf watchlist-elections.conf; do
	ln -s "$top_srcdir/etc/$f" "$T/$f"
done
cp "$top_srcdir/etc/sample-posts.jsonl" "$T/feed.jsonl"
{
	cat <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  control_socket = "$T/run/control.sock";
  plugin_path = [ "$PLUGINS" ];
  log_level = "info";
};
workers = { count = 1; };
# No admin listener: its default port would clash with other tests.
admin = { listen = ""; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; jurisdictions = [ "kz" ]; } );
rules = (
  {
@include "rule-kz.conf"
  },
  {
@include "watchlist-elections.conf"
  }
);
sinks = (
  { plugin = "file"; name = "ref"; path = "$T/alerts.jsonl"; min_severity = "warning"; },
  {
    plugin = "alertmanager"; name = "am"; min_severity = "warning";
    url = "http://127.0.0.1:$AMPORT/";
    username = "vigil"; password_file = "$T/am-pass";
    labels = ( { name = "team"; value = "moderation"; } );
    lifetime_s = 60; resend_interval_s = 1; batch = 3; timeout_ms = 2000;
  }
);
CONF
} >"$T/vigil.conf"

# Every post has its verdict (and its alerts are with the sinks) once the
# verdict counters add up to the feed's lines.
posts=$(lines "$T/feed.jsonl")
all_scored() {
	"$top_builddir/daemon/vigilctl" -s "$T/run/control.sock" -t 5 metrics |
	    awk -v n="$posts" '/^vigil_verdicts_total/ { s += $NF } END { exit s != n }'
}

# vigild first: Alertmanager is not there yet, so the sink retries.
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 90 all_scored || fail "the feed was not scored"
want=$(lines "$T/alerts.jsonl")
[ "$want" -ge 5 ] || fail "the sample feed gave only $want alerts"
wait_for 20 grep -q "to be retried" "$T/vigild.log" ||
	fail "the sink did not report Alertmanager down"

start_am
am ready 30 || fail "Alertmanager did not become ready"
am has "$T/alerts.jsonl" 40 || fail "not every alert reached Alertmanager"
am check "$T/alerts.jsonl" || fail "alerts in Alertmanager are wrong"

# Re-sends keep the alerts active: endsAt moves forward.
am ends "$T/alerts.jsonl" "$T/ends.json" || fail "cannot read endsAt"
am later "$T/alerts.jsonl" "$T/ends.json" 15 || fail "re-sends did not move endsAt"

# Alertmanager keeps alerts in memory only: restarted, it gets them back
# from the re-sends.
stop_am
start_am
am ready 30 || fail "Alertmanager did not come back"
am has "$T/alerts.jsonl" 20 || fail "alerts not re-sent after Alertmanager restarted"
am check "$T/alerts.jsonl" || fail "re-sent alerts are wrong"

stop_vigild
grep -q "пароль" "$T/vigild.log" && fail "the password reached the log"
grep -q "refused for good" "$T/vigild.log" && fail "alerts were refused"
[ "$(lines "$T/alerts.jsonl")" -eq "$want" ] || fail "the feed gave $(lines "$T/alerts.jsonl") alerts, not $want"
stop_am
echo "alertmanager: ok"
