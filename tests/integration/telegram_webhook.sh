#!/bin/sh
# The telegram input in webhook mode (a route on the shared HTTP
# listener): the right secret token gets 200 once the post is recorded,
# a wrong or missing one 401; a bad token in poll mode stops that input
# with one clear error; the JSONTestSuite files served as getUpdates
# answers crash nothing, and polling goes on after them.
. "$(dirname "$0")/lib.sh"

TOKEN="42:vigil-webhook_TOKEN"
SECRET="s3cr3t_Token-1"
mkdir "$T/api"
"$PY" "$top_srcdir/tests/integration/telegram_fake.py" "$T/port" "$T/api" "$TOKEN" \
	2>"$T/fake.log" &
PIDS="$PIDS $!"
wait_for 10 test -s "$T/port" || fail "fake Bot API did not start"
API="http://127.0.0.1:$(cat "$T/port")"

# The JSONTestSuite files, one answer each, before any good answer.
SUITE="${VIGIL_PEER_DIR:-$top_srcdir/../shared/peer/JSONTestSuite/test_parsing}"
nsuite=0
[ -d "$SUITE" ] || echo "no $SUITE: the suite part is skipped"
if [ -d "$SUITE" ]; then
	for f in "$SUITE"/*; do echo "file $f"; done >"$T/api/faults"
	nsuite=$(lines "$T/api/faults")
fi

{
	daemon_section
	cat <<CONF
http = { listen = "127.0.0.1:0"; };
workers = { count = 2; batch = 8; };
inputs = (
  { plugin = "telegram"; name = "hook"; mode = "webhook";
    webhook_path = "/tg/hook"; webhook_secret = "$SECRET"; },
  { plugin = "telegram"; name = "badtoken"; base_url = "$API";
    token = "42:wrong"; timeout_s = 1; },
  { plugin = "telegram"; name = "suite"; base_url = "$API"; token = "$TOKEN";
    timeout_s = 1; backoff_min_ms = 1; backoff_max_ms = 4; }
);
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
} >"$T/vigil.conf"

start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 20 grep -q 'http: listening on .*(port [0-9]*)' "$T/vigild.log" ||
	fail "no HTTP listener"
HPORT=$(sed -n 's/.*http: listening on .*(port \([0-9]*\)).*/\1/p' "$T/vigild.log" | head -n 1)
HOOK="http://127.0.0.1:$HPORT/tg/hook"

"$PY" - "$HOOK" "$SECRET" "$T/alerts.jsonl" <<'PYEOF' || fail "webhook answers are wrong"
import json, os, sys, time, urllib.request, urllib.error
url, secret, alerts = sys.argv[1:4]

def post(body, secret=None, method="POST"):
    req = urllib.request.Request(url, data=body if method == "POST" else None,
                                 method=method)
    req.add_header("Content-Type", "application/json")
    if secret is not None:
        req.add_header("X-Telegram-Bot-Api-Secret-Token", secret)
    try:
        with urllib.request.urlopen(req, timeout=20) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code

def update(uid, text):
    return json.dumps({"update_id": uid, "message": {
        "message_id": 4294967296 + uid, "date": 1609480800,
        "chat": {"id": -1001234567890123, "type": "supergroup",
                 "title": "Алматы", "username": "almaty_talks"},
        "from": {"id": 7, "first_name": "Ерлан", "username": "erlan"},
        "text": text}}, ensure_ascii=False).encode()

def posted():
    if not os.path.exists(alerts):
        return set()
    return {json.loads(l)["post"]["id"] for l in open(alerts)}

good = "-1001234567890123/%d" % (4294967296 + 1)
assert post(update(1, "vigiltest сайлау"), secret + "x") == 401
assert post(update(1, "vigiltest сайлау")) == 401
assert post(update(1, "vigiltest сайлау"), secret[:-1]) == 401
assert good not in posted(), "a post with a wrong secret went through"
assert post(b"", secret, method="GET") == 405
assert post(b'{"update_id": 2, "message": ', secret) == 400
assert post(b'{"update_id": 3, "callback_query": {"id": "1"}}', secret) == 200
# 200 comes once the post is recorded: the alert follows right away.
assert post(update(1, "vigiltest Қазақстан сайлау"), secret) == 200
end = time.time() + 10
while good not in posted() and time.time() < end:
    time.sleep(0.05)
assert good in posted(), "the webhook's post raised no alert"
PYEOF
grep -q 'webhook /tg/hook: request without the right X-Telegram-Bot-Api-Secret-Token; answered 401' \
	"$T/vigild.log" || fail "401 not logged"
grep -q 'webhook /tg/hook: invalid JSON' "$T/vigild.log" || fail "bad JSON not logged"

# The bad token: one error, and no more requests from that input.
wait_for 10 grep -q 'input telegram/badtoken: .*HTTP 401 (Unauthorized): the bot token was refused' \
	"$T/vigild.log" || fail "refused token not reported"
sleep 1.5
[ "$(grep -c 'the bot token was refused' "$T/vigild.log")" -eq 1 ] || fail "refused token reported more than once"
[ "$(grep -c '"unauthorized": true' "$T/api/requests.jsonl")" -eq 1 ] || fail "polled again with a refused token"
grep -q 'wrong' "$T/vigild.log" && fail "the bad token was logged"

# The suite: every file answered, vigild alive, then a good update gets
# through.
if [ "$nsuite" -gt 0 ]; then
	wait_for 50 test ! -s "$T/api/faults" || fail "suite: $(lines "$T/api/faults") files not asked for"
	kill -0 "$VPID" || fail "vigild died on the suite"
fi
printf '%s\n' '{"update_id": 900, "message": {"message_id": 901, "date": 1609480800, "chat": {"id": -1009, "type": "channel", "title": "Арна"}, "text": "vigiltest after the suite"}}' \
	>>"$T/api/updates.jsonl"
posted() { grep -q '"id":"-1009/901"' "$T/alerts.jsonl"; }
wait_for 20 posted || fail "no post after the suite"
stop_vigild
echo "telegram_webhook: ok ($nsuite suite files)"
