#!/bin/sh
# SIGHUP: a broken configuration is refused and the running one keeps
# scoring; a good one is applied (a new rule appears) without losing a
# post or scoring one twice; the rules' check (a worker process) never
# holds up the running daemon.
. "$(dirname "$0")/lib.sh"

conf() { # EXTRA_LIST_TERM
	daemon_section
	cat <<CONF
workers = { count = 2; batch = 4; };
# Off, so that a post scored twice would show as two alerts.
outbox = { dedup_window_s = 0; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
  { plugin = "watchlist"; name = "t";
    lists = ( { name = "marker"; terms = [ "vigiltest" ]; weight = 2.0; }$1 ); }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
}
conf "" >"$T/vigil.conf"
: >"$T/feed.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"

feed() { # FROM TO
	i=$1
	while [ "$i" -le "$2" ]; do post "p$i" "vigiltest $i" >>"$T/feed.jsonl"; i=$((i + 1)); done
}

feed 1 100
wait_for 30 has_lines "$T/alerts.jsonl" 100 || fail "first batch: $(lines "$T/alerts.jsonl")"

echo 'workers = { count = "broken"; };' >>"$T/vigil.conf"
kill -HUP "$VPID"
wait_for 10 grep -q "reload refused" "$T/vigild.log" || fail "broken config not refused"
feed 101 200
wait_for 30 has_lines "$T/alerts.jsonl" 200 || fail "old config stopped scoring: $(lines "$T/alerts.jsonl")"

# Reload repeatedly while posts stream in.
conf ', { name = "extra"; terms = [ "bonus" ]; }' >"$T/vigil.conf"
feed 201 300 &
FEEDER=$!
for k in 1 2 3; do
	kill -HUP "$VPID"
	sleep 0.5
done
wait "$FEEDER"
post p301 "vigiltest bonus" >>"$T/feed.jsonl"
wait_for 60 has_lines "$T/alerts.jsonl" 302 || fail "after reloads: $(lines "$T/alerts.jsonl") alerts, want 302"
sleep 1
"$PY" - "$T/alerts.jsonl" <<'PYEOF' || fail "reload lost or repeated posts"
import json, sys
alerts = [json.loads(l) for l in open(sys.argv[1])]
marker = [a["post"]["id"] for a in alerts if a["rule"] == "watchlist.marker"]
assert len(marker) == len(set(marker)) == 301, (len(marker), len(set(marker)))
assert any(a["rule"] == "watchlist.extra" for a in alerts)
PYEOF
# A rule whose check takes 4 s: the running configuration scores on
# meanwhile, and the reload lands after it.
conf ', { name = "extra"; terms = [ "bonus" ]; }' | sed 's/^rules = (/rules = ( { plugin = "crashy"; name = "slow"; validate_delay_ms = 4000; },/' >"$T/vigil.conf"
grep -q validate_delay_ms "$T/vigil.conf" || fail "no slow rule in the config"
kill -HUP "$VPID"
sleep 0.5
post p302 "vigiltest during the check" >>"$T/feed.jsonl"
wait_for 2 has_lines "$T/alerts.jsonl" 303 || fail "nothing scored while the rules were checked: $(lines "$T/alerts.jsonl")"
grep -q "generation .* running" "$T/vigild.log" || fail "no reload before"
n=$(grep -c "generation .* running" "$T/vigild.log")
wait_for 20 sh -c "[ \$(grep -c 'generation .* running' '$T/vigild.log') -gt $n ]" || fail "the slow reload never landed"
stop_vigild
echo "reload: ok"
