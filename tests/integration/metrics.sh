#!/bin/sh
# The admin listener: a real vigild reads a feed of good, invalid and
# oversized posts; its /metrics passes `promtool check metrics` and counts
# them (posts by input and reason, verdicts, findings by rule, alerts by
# sink and state, cumulative latency buckets, a worker restart, build
# info); /healthz answers 200, and 503 while the daemon drains; a
# non-loopback address is refused with file:line unless allow_remote; ""
# opens no port. The Grafana dashboard parses, and every PromQL expression
# in it is valid and names only metrics the daemon exposes.
. "$(dirname "$0")/lib.sh"

command -v promtool >/dev/null || {
	echo "no promtool (Debian package prometheus): skipped"
	exit 77
}
DASHBOARD="$top_srcdir/contrib/grafana/vigil-dashboard.json"

# config NAME ADMIN-SECTION WORKERS-SECTION
config() {
	cat >"$T/$1.conf" <<CONF
daemon = {
  state_dir = "$T/state-$1";
  runtime_dir = "$T/run-$1";
  plugin_path = [ "$PLUGINS" ];
  max_post_bytes = 2048;
};
$2
$3
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed-$1.jsonl"; poll_ms = 50; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts-$1.jsonl"; min_severity = "notice"; } );
CONF
}

# The admin port, from the log line that announces it.
admin_port() { sed -n 's/.*admin: serving .*(port \([0-9]*\)).*/\1/p' "$1" | tail -n 1; }

# get PORT PATH: "STATUS CONTENT-TYPE" on the first line, then the body.
get() {
	"$PY" - "$1" "$2" <<'PYEOF'
import sys, urllib.request, urllib.error
try:
    r = urllib.request.urlopen("http://127.0.0.1:%s%s" % (sys.argv[1], sys.argv[2]), timeout=10)
except urllib.error.HTTPError as e:
    r = e
sys.stdout.write("%d %s\n" % (r.status, r.headers.get("Content-Type")))
sys.stdout.write(r.read().decode())
PYEOF
}

# TCP ports on which process PID listens.
listening() {
	"$PY" - "$1" <<'PYEOF'
import os, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir("/proc/%s/fd" % pid):
    try:
        link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
    except OSError:
        continue
    if link.startswith("socket:["):
        inodes.add(link[8:-1])
for table in ("tcp", "tcp6"):
    with open("/proc/%s/net/%s" % (pid, table)) as f:
        next(f)
        for line in f:
            col = line.split()
            if col[3] == "0A" and col[9] in inodes:
                print(int(col[1].split(":")[1], 16))
PYEOF
}

# ---- a daemon with a feed --------------------------------------------------
config main 'admin = { listen = "127.0.0.1:0"; };' 'workers = { count = 2; batch = 8; };'
{
	for i in $(seq 1 40); do post "p$i" "vigiltest number $i"; done
	for i in 1 2 3; do post "q$i" "vigiltest poll $i"; done
	post "plain" "nothing to see"
	echo 'not json at all'
	echo '{"created_at": "2021-01-05T10:00:00+06:00", "text": "no id"}'
	echo '{"id": 7, "created_at": "2021-01-05T10:00:00+06:00"}'
	echo '{"id": "bad-time", "created_at": "yesterday"}'
	post "big" "vigiltest $(head -c 3000 /dev/zero | tr '\0' x)"
} >"$T/feed-main.jsonl"

start_vigild "$T/main.conf" "$T/main.log"
# 43 marker findings and 3 poll findings, each an alert.
wait_for 60 has_lines "$T/alerts-main.jsonl" 46 ||
	fail "expected 46 alerts, got $(lines "$T/alerts-main.jsonl")"
port=$(admin_port "$T/main.log")
[ -n "$port" ] || fail "no 'admin: serving' line in the log"

# A worker dies and is started again.
w=$(worker_pids | head -n 1)
[ -n "$w" ] || fail "no worker to kill"
kill -9 "$w"
restarted() { get "$port" /metrics | grep -q '^vigil_worker_restarts_total [1-9]'; }
wait_for 20 restarted || fail "the restart was not counted"
# The verdicts are in once the sink has recorded every alert and the
# invalid posts are acked: wait until nothing is pending.
settled() { get "$port" /metrics | grep -q '^vigil_posts_pending 0$'; }
wait_for 20 settled || fail "posts still pending"

get "$port" /metrics >"$T/scrape.txt"
head -n 1 "$T/scrape.txt" | grep -q '^200 text/plain; version=0.0.4' ||
	fail "/metrics: $(head -n 1 "$T/scrape.txt")"
sed 1d "$T/scrape.txt" >"$T/metrics.txt"
promtool check metrics <"$T/metrics.txt" >"$T/promtool.log" 2>&1 ||
	fail "promtool check metrics: $(cat "$T/promtool.log")"
version=$("$VIGILD" -V | sed 's/^vigild //')

"$PY" - "$T/metrics.txt" "$version" <<'PYEOF' || fail "metric values are wrong (scrape in $T/metrics.txt)"
import re, sys

series = {}
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
for line in open(sys.argv[1], encoding="utf-8"):
    if line.startswith("#") or not line.strip():
        continue
    m = line_re.match(line.rstrip("\n"))
    assert m, line
    labels = frozenset(label_re.findall(m.group(2) or ""))
    series[(m.group(1), labels)] = float(m.group(3))

def val(name, **labels):
    key = (name, frozenset(labels.items()))
    assert key in series, "missing %s%s" % (name, labels)
    return series[key]

def total(name):
    return sum(v for (n, _), v in series.items() if n == name)

# 44 good posts and 4 the worker refuses were accepted; the oversized
# one was refused before.
assert val("vigil_posts_received_total", input="feed") == 48
for reason, n in (("json", 1), ("missing_field", 1), ("wrong_type", 1),
                  ("bad_value", 1), ("too_large", 1), ("other", 0)):
    got = val("vigil_posts_invalid_total", input="feed", reason=reason)
    assert got == n, (reason, got)
assert val("vigil_posts_quarantined_total", input="feed") == 0
assert total("vigil_verdicts_total") == 44, total("vigil_verdicts_total")
assert val("vigil_verdicts_total", severity="none") == 1
assert val("vigil_verdicts_total", severity="notice") == 40
assert val("vigil_findings_total", rule="watchlist.marker") == 43
assert val("vigil_findings_total", rule="watchlist.poll") == 3
assert val("vigil_alerts_total", sink="f", state="sent") == 46
assert val("vigil_alerts_total", sink="f", state="failed") == 0

# Every post that reached a worker has its latency; buckets cumulative.
buckets = sorted(((float(dict(l)["le"]), v) for (n, l), v in series.items()
                  if n == "vigil_scoring_latency_seconds_bucket"))
assert len(buckets) > 2 and buckets[-1][0] == float("inf"), buckets
counts = [v for _, v in buckets]
assert counts == sorted(counts), counts
assert counts[-1] == val("vigil_scoring_latency_seconds_count") == 48, counts
assert val("vigil_scoring_latency_seconds_sum") > 0

assert val("vigil_build_info", version=sys.argv[2]) == 1
assert val("vigil_worker_restarts_total") >= 1
assert val("vigil_workers_running") == 2
for gauge in ("vigil_dispatch_queued_posts", "vigil_dispatch_in_flight_posts",
              "vigil_posts_pending", "vigil_sink_queued_alerts",
              "vigil_sink_in_flight_alerts", "vigil_outbox_queued_ops"):
    assert val(gauge) == 0, gauge
PYEOF

# The dashboard: valid JSON on a Prometheus data source variable; every
# expression names only series of this scrape, and parses as PromQL
# (promtool reads each as a recording rule).
"$PY" - "$DASHBOARD" "$T/metrics.txt" "$T/dashboard-rules.json" <<'PYEOF' || fail "the dashboard is wrong"
import json, re, sys

dash = json.load(open(sys.argv[1], encoding="utf-8"))
exposed = set()
for line in open(sys.argv[2], encoding="utf-8"):
    m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)', line)
    if m:
        exposed.add(m.group(1))

variables = {v["name"]: v for v in dash["templating"]["list"]}
ds = variables["datasource"]
assert ds["type"] == "datasource" and ds["query"] == "prometheus", ds
inst = variables["instance"]
assert inst["datasource"]["uid"] == "${datasource}", inst
m = re.fullmatch(r"label_values\((\w+), instance\)", inst["query"]["query"])
assert m and m.group(1) in exposed, inst["query"]

def panels(ps):
    for p in ps:
        yield p
        yield from panels(p.get("panels", []))

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right",
            "offset", "bool", "and", "or", "unless", "inf", "nan"}

def metric_names(expr):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)     # strings
    e = re.sub(r"\{[^}]*\}", "", e)                  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)                 # ranges
    e = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in KEYWORDS:
            continue  # a function or an aggregation
        names.add(m.group(0))
    return names

titles, rules = [], []
for p in panels(dash["panels"]):
    if p["type"] == "row":
        continue
    titles.append(p["title"])
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert p["targets"], p["title"]
    for t in p["targets"]:
        assert t["datasource"]["uid"] == "${datasource}", p["title"]
        names = metric_names(t["expr"])
        assert names, (p["title"], t["expr"])
        unknown = names - exposed
        assert not unknown, (p["title"], sorted(unknown))
        expr = t["expr"].replace("$__rate_interval", "5m")
        expr = expr.replace("$instance", ".*")
        assert "$" not in expr, expr
        rules.append({"record": "dashboard:panel%d:%s" % (p["id"], t["refId"]),
                      "expr": expr})
want = ["posts received", "refused", "verdicts", "findings", "alerts",
        "queues", "latency", "workers", "build"]
for w in want:
    assert any(w in t.lower() for t in titles), (w, titles)
json.dump({"groups": [{"name": "dashboard", "rules": rules}]},
          open(sys.argv[3], "w"))
PYEOF
promtool check rules "$T/dashboard-rules.json" >"$T/rules.log" 2>&1 ||
	fail "the dashboard's PromQL: $(cat "$T/rules.log")"

# /healthz while running; other paths and methods.
get "$port" /healthz >"$T/health.txt"
[ "$(cat "$T/health.txt")" = "200 text/plain; charset=utf-8
ok" ] || fail "/healthz: $(cat "$T/health.txt")"
get "$port" /nothing | head -n 1 | grep -q '^404 ' || fail "/nothing was not 404"
"$PY" - "$port" <<'PYEOF' || fail "POST /metrics was not 405"
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], data=b"x", timeout=10)
    sys.exit(1)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 405 else 1)
PYEOF
[ "$(listening "$VPID")" = "$port" ] || fail "vigild listens on $(listening "$VPID"), not $port alone"
stop_vigild

# ---- 503 while draining ------------------------------------------------------
# No worker ever connects, so the posts wait and SIGTERM has to drain.
config drain 'admin = { listen = "127.0.0.1:0"; };' \
	'workers = { count = -1; listen = [ "tcp://127.0.0.1:0" ]; };'
for i in 1 2 3; do post "d$i" "vigiltest $i"; done >"$T/feed-drain.jsonl"
start_vigild "$T/drain.conf" "$T/drain.log"
wait_for 20 grep -q "admin: serving" "$T/drain.log" || fail "drain: no admin listener"
port=$(admin_port "$T/drain.log")
queued() { get "$port" /metrics | grep -q '^vigil_dispatch_queued_posts 3$'; }
wait_for 20 queued || fail "drain: the 3 posts are not counted as queued"
get "$port" /metrics | grep -q '^vigil_posts_pending 3$' || fail "drain: 3 posts not pending"
get "$port" /healthz | head -n 1 | grep -q '^200 ' || fail "drain: /healthz not 200 while running"
kill -TERM "$VPID"
stopping() { [ "$(get "$port" /healthz | cut -d' ' -f1 | tr '\n' ' ')" = "503 stopping " ]; }
wait_for 10 stopping || fail "drain: /healthz is not 503 while stopping: $(get "$port" /healthz)"
kill -TERM "$VPID" # a second signal: exit at once
rc=0
wait "$VPID" || rc=$?
[ "$rc" -eq 1 ] || fail "drain: vigild exited $rc after a second SIGTERM"

# ---- refused and disabled ------------------------------------------------------
config remote 'admin = {
  listen = "0.0.0.0:9470";
};' 'workers = { count = 1; };'
rc=0
"$VIGILD" -t -c "$T/remote.conf" >"$T/remote.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "a non-loopback admin.listen was accepted"
grep -q "remote.conf:[0-9]*: setting 'admin.listen': '0.0.0.0:9470' is not a loopback address" "$T/remote.log" ||
	fail "no file:line error for a non-loopback address: $(cat "$T/remote.log")"
rc=0
"$VIGILD" -c "$T/remote.conf" >>"$T/remote.log" 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "vigild started (exit $rc) with a non-loopback admin.listen"
config allowed 'admin = { listen = "0.0.0.0:9470"; allow_remote = true; };' 'workers = { count = 1; };'
"$VIGILD" -t -c "$T/allowed.conf" >"$T/allowed.log" 2>&1 ||
	fail "allow_remote = true did not allow it: $(cat "$T/allowed.log")"

config off 'admin = { listen = ""; };' 'workers = { count = 1; };'
post "o1" "vigiltest" >"$T/feed-off.jsonl"
start_vigild "$T/off.conf" "$T/off.log"
wait_for 60 has_lines "$T/alerts-off.jsonl" 1 || fail "off: no alert"
[ -z "$(listening "$VPID")" ] || fail "off: vigild listens on $(listening "$VPID")"
grep -q "admin: serving" "$T/off.log" && fail "off: the admin listener opened"
# The same metrics, gauges included, over the control socket.
"$top_builddir/daemon/vigilctl" -s "$T/run-off/control.sock" metrics >"$T/off-metrics.txt" ||
	fail "off: vigilctl metrics failed"
grep -q '^vigil_sink_queued_alerts 0$' "$T/off-metrics.txt" ||
	fail "off: vigilctl metrics lacks the gauges"
stop_vigild
echo "metrics: ok"
