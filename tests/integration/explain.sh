#!/bin/sh
# vigilctl explain and check-config against the real vigild, with the kz
# rules (etc/rule-kz.conf) and the election watchlist: a Russian poll with
# Kazakh options inside the 2021 blackout is explained with its rule, law,
# article, window and evidence in context, and its --json verdict is the
# one a replay gives; invalid, oversized and plain-text posts, a post of
# 200 KiB (the request line's limit follows daemon.max_post_bytes, across
# a reload), routing by --jurisdiction, a post that crashes its worker, a
# client that hangs up;
# no alert is raised and no input counts the posts. check-config accepts
# the running file and names file:line in a broken copy. A daemon that is
# reloading or stopping refuses to explain; no daemon exits 3.
. "$(dirname "$0")/lib.sh"

VIGILCTL="$top_builddir/daemon/vigilctl"
SOCK="$T/run/control.sock"
ctl() { "$VIGILCTL" -s "$SOCK" "$@"; }

# libconfig finds @include files beside the configuration.
for f in kz rule-kz.conf watchlist-elections.conf; do
	ln -s "$top_srcdir/etc/$f" "$T/$f"
done
cat >"$T/vigil.conf" <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  plugin_path = [ "$PLUGINS", "$TESTPLUGINS" ];
  log_level = "info";
  max_post_bytes = 4096;
};
# No admin listener: its default port would clash with other tests.
admin = { listen = ""; };
workers = { count = 1; max_crashes = 1; restart_min_ms = 50; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; jurisdictions = [ "kz" ]; } );
rules = (
  {
@include "rule-kz.conf"
  },
  {
@include "watchlist-elections.conf"
  },
$(watchlist_rule),
  { plugin = "crashy"; }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF

# own-016: a poll in Russian with Kazakh options, 2021-01-07, blackout.
grep '"id": "own-016"' "$top_srcdir/tests/kz/cases.jsonl" >"$T/post.json"
[ -s "$T/post.json" ] || fail "own-016 is not in tests/kz/cases.jsonl"

post p1 "vigiltest one" >"$T/feed.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"
# The kz rules take many seconds to load in a sanitizer build on a busy
# machine: a generous ceiling, not a wait.
wait_for 90 has_lines "$T/alerts.jsonl" 1 || fail "the feed's first alert never came"

# The human form: no tty, so evidence is marked [[...]].
ctl explain "$T/post.json" >"$T/human.txt" 2>"$T/human.err" ||
	fail "explain exited $?: $(cat "$T/human.err")"
grep -q '^ALERT kz.poll.blackout, score ' "$T/human.txt" ||
	fail "no kz.poll.blackout finding: $(cat "$T/human.txt")"
ctl explain --json <"$T/post.json" >"$T/explain.json" || fail "explain --json exited $?"
"$VIGILD" --replay "$T/post.json" -c "$T/vigil.conf" >"$T/replay.out" 2>"$T/replay.log" ||
	fail "replay exited $?"

"$PY" - "$T/post.json" "$T/explain.json" "$T/replay.out" "$T/human.txt" <<'PYEOF' || fail "explain disagrees with replay or misprints the verdict"
import json, sys
post = json.load(open(sys.argv[1], encoding="utf-8"))
ex = json.load(open(sys.argv[2], encoding="utf-8"))
rep = json.loads(open(sys.argv[3], encoding="utf-8").readline())
human = open(sys.argv[4], encoding="utf-8").read()

assert ex["ok"] is True and ex["post_id"] == "own-016", ex
for k in ("severity", "score", "findings"):
    assert ex[k] == rep[k], (k, ex[k], rep[k])

bl = [f for f in ex["findings"] if f["rule"] == "kz.poll.blackout"]
assert len(bl) == 1, ex["findings"]
bl = bl[0]
assert bl["severity"] == "alert" and bl["jurisdiction"] == "kz", bl
assert "On Elections" in bl["legal"]["law"], bl["legal"]
assert bl["legal"]["article"] == "Art. 28 para 9", bl["legal"]
assert bl["window"] == {"name": "mazhilis-2021/blackout",
                        "start": "2021-01-04T18:00:00Z",
                        "end": "2021-01-10T15:00:00Z"}, bl["window"]

def text_of(field):
    if field == "text":
        return post["text"]
    if field == "poll.question":
        return post["poll"]["question"]
    return post["poll"]["options"][int(field.split("[")[1][:-1])]

lines = human.split("\n")
head = "own-016: severity %s, score %s, %d findings" % (
    ex["severity"], "%.1f" % ex["score"], len(ex["findings"]))
assert lines[0] == head, (lines[0], head)
blocks = human.split("\n\n")[1:]
assert len(blocks) == len(ex["findings"]), blocks
for f, block in zip(ex["findings"], blocks):
    b = block.rstrip("\n").split("\n")
    assert b[0] == "%s %s, score %.1f" % (f["severity"].upper(), f["rule"], f["score"]), b[0]
    rows = {}
    key = None
    for l in b[1:]:
        name, value = l[:16].strip(), l[16:]
        key = name.rstrip(":") if name else key
        rows.setdefault(key, []).append(value)
    legal = f.get("legal") or {}
    w = f.get("window")
    assert rows["title"] == [f["title"]], rows
    assert rows["jurisdiction"] == [f["jurisdiction"] or "-"], rows
    for k in ("law", "article", "penalty"):
        assert rows[k] == [legal.get(k) or "-"], (k, rows[k])
    assert rows["window"] == ["%s, %s to %s" % (w["name"], w["start"], w["end"]) if w else "-"], rows
    assert rows["signals"] == ["%s %.1f" % (s["name"], s["weight"]) for s in f["signals"]], rows
    assert len(rows["evidence"]) == len(f["evidence"]), rows
    for ev, shown in zip(f["evidence"], rows["evidence"]):
        src = text_of(ev["field"]).encode("utf-8")
        before = src[:ev["start"]].decode("utf-8")
        match = src[ev["start"]:ev["end"]].decode("utf-8")
        after = src[ev["end"]:].decode("utf-8")
        want = "%s: %s%s[[%s]]%s%s" % (ev["field"],
            "\u2026" if len(before) > 40 else "", before[-40:], match,
            after[:40], "\u2026" if len(after) > 40 else "")
        assert shown == want, (shown, want)
assert "[[" in "".join(rows["evidence"])
PYEOF

# Routing: the post names no jurisdictions, so --jurisdiction picks the
# rules; fr leaves the kz rules out.
ctl explain --jurisdiction fr --json "$T/post.json" >"$T/fr.json" || fail "explain --jurisdiction fr exited $?"
ctl explain --jurisdiction=KZ --json "$T/post.json" >"$T/kz.json" || fail "explain --jurisdiction=KZ exited $?"
"$PY" - "$T/fr.json" "$T/kz.json" "$T/explain.json" <<'PYEOF' || fail "--jurisdiction does not route"
import json, sys
fr, kz, alls = (json.load(open(p)) for p in sys.argv[1:4])
assert fr["findings"] and not any(f["rule"].startswith("kz.") for f in fr["findings"]), fr
assert kz["findings"] == alls["findings"], kz
PYEOF

# Invalid posts: exit 1 with the reason, as the daemon gives it.
expect_fail() { # RC PATTERN ARGS... (stdin: the input)
	want=$1 pat=$2
	shift 2
	rc=0
	ctl "$@" >"$T/f.out" 2>"$T/f.err" || rc=$?
	[ "$rc" -eq "$want" ] || fail "vigilctl $*: exit $rc, want $want ($(cat "$T/f.err"))"
	grep -qe "$pat" "$T/f.err" || fail "vigilctl $*: '$(cat "$T/f.err")' lacks '$pat'"
}
echo '{"id":"bad","text":"x"}' | expect_fail 1 "the post is invalid: field 'created_at': missing" explain
echo '{"id": "bad", ' | expect_fail 1 "the post is invalid: invalid JSON" explain -
"$PY" -c 'import json; print(json.dumps({"id":"big","created_at":"2021-01-06T10:00:00Z","text":"a"*5000}))' |
	expect_fail 1 "over daemon.max_post_bytes (4096)" explain
# The request line may hold any post up to daemon.max_post_bytes however
# it escapes (6 x 4096 here, and 64 KiB for the rest): a post of raw
# control characters reaches the daemon, which finds it invalid; a text
# over 64 KiB is judged by its size; a longer line is refused with the
# limit named.
"$PY" -c 'import sys; sys.stdout.write("{" + "\x01" * 4000)' |
	expect_fail 1 "the post is invalid: invalid JSON" explain
"$PY" -c 'print("a" * 70000)' | expect_fail 1 "over daemon.max_post_bytes (4096)" explain
"$PY" -c 'print("{" + "a" * 100000)' |
	expect_fail 1 "request line over 90112 bytes, the limit of this control socket: 65536 bytes and 6 times daemon.max_post_bytes (4096)" explain
printf '   \n' | expect_fail 1 "is empty" explain
# A post that kills its worker is quarantined, as from an input.
echo '{"id":"poison","created_at":"2021-01-06T10:00:00Z","text":"CRASH-ME"}' |
	expect_fail 1 "not scored: quarantined" explain
# Usage errors: exit 2, nothing asked.
expect_fail 2 "two-letter code" explain --jurisdiction kaz "$T/post.json" </dev/null
expect_fail 2 "needs a value" explain --jurisdiction </dev/null
expect_fail 2 "is a second" explain "$T/post.json" "$T/post.json" </dev/null
expect_fail 2 "unexpected argument '--verbose'" explain --verbose </dev/null
expect_fail 2 "cannot read $T/none.json" explain "$T/none.json" </dev/null
expect_fail 2 "unexpected argument" check-config a.conf b.conf </dev/null

# Plain text is the text of a post published now.
printf 'vigiltest: опрос\n' | ctl explain >"$T/plain.txt" 2>"$T/plain.err" ||
	fail "plain text: exit $? ($(cat "$T/plain.err"))"
head -n 1 "$T/plain.txt" | grep -q '^explain: severity ' || fail "plain text: $(cat "$T/plain.txt")"
grep -q '^NOTICE watchlist.marker, score 2.0$' "$T/plain.txt" || fail "plain text: no marker finding: $(cat "$T/plain.txt")"
grep -qF 'text: [[vigiltest]]: опрос' "$T/plain.txt" || fail "plain text: evidence: $(cat "$T/plain.txt")"

# A client that hangs up before its answer: the daemon goes on.
"$PY" - "$SOCK" "$T/post.json" <<'PYEOF' || fail "cannot send and hang up"
import json, socket, sys
for _ in range(5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    req = {"cmd": "explain", "post": open(sys.argv[2], encoding="utf-8").read()}
    s.sendall((json.dumps(req) + "\n").encode())
    s.close()
PYEOF
ctl explain "$T/post.json" >/dev/null || fail "explain after clients hung up exited $?"

# No alert, no input: the outbox knows none of the explained alerts, and
# the input counted only the feed. A later post of the feed still comes.
post p2 "vigiltest two" >>"$T/feed.jsonl"
wait_for 30 has_lines "$T/alerts.jsonl" 2 || fail "the feed's second alert never came"
for id in $("$PY" -c 'import json,sys; [print(f["alert_id"]) for f in json.load(open(sys.argv[1]))["findings"]]' "$T/explain.json"); do
	[ "$(ctl outbox list --id "$id")" = "no deliveries match" ] || fail "explain left alert $id in the outbox"
done
grep -q 'own-016\|"explain"\|poison' "$T/alerts.jsonl" && fail "explain raised an alert: $(cat "$T/alerts.jsonl")"
[ "$(lines "$T/alerts.jsonl")" -eq 2 ] || fail "alerts: $(cat "$T/alerts.jsonl")"
ctl metrics | grep -q '^vigil_posts_received_total{input="feed"} 2$' ||
	fail "the input counted explained posts: $(ctl metrics | grep received)"

# check-config: the running file, by default and by a relative name; a
# broken copy with its file:line; --json.
out=$(ctl check-config) || fail "check-config exited $?"
[ "$out" = "$T/vigil.conf: configuration OK (1 inputs, 4 rules, 1 sinks)" ] || fail "check-config said: $out"
out=$(cd "$T" && ctl check-config vigil.conf) || fail "check-config vigil.conf exited $?"
[ "$out" = "$T/vigil.conf: configuration OK (1 inputs, 4 rules, 1 sinks)" ] || fail "check-config vigil.conf said: $out"
sed -e 's/max_crashes = 1;/max_crashes = 1; cuont = 2;/' -e 's/"crashy"/"nosuch"/' "$T/vigil.conf" >"$T/broken.conf"
expect_fail 1 "^$T/broken.conf:[0-9]*: .*cuont" check-config "$T/broken.conf"
grep -q "nosuch" "$T/f.err" || fail "check-config named one error of two: $(cat "$T/f.err")"
grep -q "check-config: $T/broken.conf is refused" "$T/f.err" || fail "check-config: $(cat "$T/f.err")"
rc=0
ctl check-config --json "$T/broken.conf" >"$T/cc.json" 2>/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "check-config --json of a broken file: exit $rc"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["ok"] is False and r["path"] == sys.argv[2] and "cuont" in r["error"], r' \
	"$T/cc.json" "$T/broken.conf" || fail "check-config --json: $(cat "$T/cc.json")"
ctl status >/dev/null || fail "the daemon is not well after check-config"
# A rule the worker cannot compile, with its file:line; and a check that
# takes 3 s (a worker process does it) holds up nothing meanwhile.
sed 's/{ plugin = "crashy"; }/{ plugin = "watchlist"; name = "bad"; lists = ( { name = "x"; regex = [ "(?<=a+)b" ]; } ); }/' "$T/vigil.conf" >"$T/badre.conf"
expect_fail 1 "^$T/badre.conf:[0-9]*: pattern '(?<=a+)b'" check-config "$T/badre.conf"
sed 's/{ plugin = "crashy"; }/{ plugin = "crashy"; validate_delay_ms = 3000; }/' "$T/vigil.conf" >"$T/slow.conf"
ctl check-config "$T/slow.conf" >"$T/slow.out" 2>&1 &
SLOW=$!
sleep 0.5
t0=$(date +%s%N)
ctl status >/dev/null || fail "status during a slow check-config"
t1=$(date +%s%N)
[ $(((t1 - t0) / 1000000)) -lt 1500 ] || fail "status waited $(((t1 - t0) / 1000000)) ms for a check-config"
wait "$SLOW" || fail "slow check-config: $(cat "$T/slow.out")"
grep -q "configuration OK" "$T/slow.out" || fail "slow check-config said: $(cat "$T/slow.out")"

# With the default daemon.max_post_bytes (256 KiB), after a reload, a post
# of 200 KiB is explained: its request line is twice that, with quotes,
# backslashes and newlines escaped twice over. Over that limit: the size;
# far over: the line limit, which vigilctl reports though the daemon hung
# up before reading the whole request.
sed -i '/max_post_bytes = 4096;/d' "$T/vigil.conf"
ctl reload >"$T/reload.out" 2>&1 || fail "reload to the default max_post_bytes: $(cat "$T/reload.out")"
"$PY" - "$T/big.json" <<'PYEOF' || fail "cannot write the 200 KiB post"
import json, sys
line = 'a "quoted" \\ line\n'
text = "vigiltest " + line * (200 * 1024 // len(line))
post = json.dumps({"id": "big", "created_at": "2021-01-06T10:00:00Z", "text": text})
assert 200 * 1024 <= len(post.encode()) <= 262144, len(post)
open(sys.argv[1], "w").write(post + "\n")
PYEOF
ctl explain --json "$T/big.json" >"$T/big.out" 2>"$T/big.err" ||
	fail "explain of a 200 KiB post exited $?: $(cat "$T/big.err")"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["post_id"] == "big" and any(f["rule"] == "watchlist.marker" for f in r["findings"]), r' \
	"$T/big.out" || fail "the 200 KiB post's verdict: $(head -c 2000 "$T/big.out")"
"$PY" -c 'import json; print(json.dumps({"id":"big","created_at":"2021-01-06T10:00:00Z","text":"a"*300000}))' |
	expect_fail 1 "over daemon.max_post_bytes (262144)" explain
"$PY" -c 'print("{" + "a" * 2000000)' |
	expect_fail 1 "request line over 1638400 bytes, the limit of this control socket" explain
stop_vigild

# No daemon: exit 3.
rc=0
ctl explain "$T/post.json" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "explain, no daemon: exit $rc, want 3"
rc=0
ctl check-config >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 3 ] || fail "check-config, no daemon: exit $rc, want 3"

# A daemon whose only worker dials in, and has not yet: an explain waits
# for it, a reload then waits for the explain, and explain is refused
# meanwhile; once the worker comes, the explain is answered and the
# reload goes through.
cat >"$T/stuck.conf" <<CONF
daemon = { state_dir = "$T/state2"; runtime_dir = "$T/run2"; plugin_path = [ "$PLUGINS" ]; };
admin = { listen = ""; };
workers = { count = -1; listen = [ "ipc://$T/w.sock" ]; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed2.jsonl"; poll_ms = 20; } );
rules = (
$(watchlist_rule)
);
CONF
: >"$T/feed2.jsonl"
SOCK="$T/run2/control.sock"
start_vigild "$T/stuck.conf" "$T/stuck.log"
wait_for 30 ctl status || fail "the second daemon did not start"
held() { [ "$(ctl status --json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["queue"]["queued"])')" -eq "$1" ]; }
echo 'vigiltest waits' | ctl explain >"$T/wait.out" 2>"$T/wait.err" &
EX=$!
PIDS="$PIDS $EX"
wait_for 10 held 1 || fail "the explain is not queued"
ctl -t 60 reload >"$T/reload.out" 2>&1 &
RL=$!
PIDS="$PIDS $RL"
reloading() { ctl status | grep -q '^state: reloading$'; }
wait_for 10 reloading || fail "the reload did not start"
expect_fail 1 "busy: a reload is in progress" explain "$T/post.json"
"$top_builddir/daemon/vigil-worker" -c "$T/stuck.conf" --connect "ipc://$T/w.sock" 2>"$T/w.log" &
W=$!
PIDS="$PIDS $W"
wait "$EX" || fail "the waiting explain exited $?: $(cat "$T/wait.err")"
grep -q '^NOTICE watchlist.marker, score 2.0$' "$T/wait.out" || fail "the waiting explain: $(cat "$T/wait.out")"
wait "$RL" || fail "the reload after the explain exited $?: $(cat "$T/reload.out")"
grep -q '^reload applied$' "$T/reload.out" || fail "reload: $(cat "$T/reload.out")"

# Without the worker an explain waits again, then the client gives up;
# a shutdown waits for the job, and explain is refused meanwhile. The
# daemon's answer to the client that has gone is dropped.
kill "$W"
wait "$W" 2>/dev/null || true
down() { ctl status --json | "$PY" -c 'import json,sys; sys.exit(json.load(sys.stdin)["workers"]["links_up"] != 0)'; }
wait_for 10 down || fail "the worker is still connected"
expect_fail 3 "no reply" -t 1 explain "$T/post.json"
held 1 || fail "the explain that was given up is not held"
kill -TERM "$VPID"
stopping() { ctl status | grep -q '^state: stopping$'; }
wait_for 10 stopping || fail "the second daemon is not stopping"
expect_fail 1 "the daemon is stopping" explain "$T/post.json"
ctl check-config >/dev/null || fail "check-config while stopping exited $?"
kill -TERM "$VPID"
rc=0
wait "$VPID" || rc=$?
[ "$rc" -eq 1 ] || fail "a second SIGTERM: exit $rc, want 1"
echo "explain: ok"
