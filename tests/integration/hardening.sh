#!/bin/sh
# Hardening: configurations (with what they @include) and plugins that
# anyone but root or the daemon's user could change are refused with the
# file and the fix; started as root with daemon.user, vigild and its
# workers run as that user, which owns the state.
. "$(dirname "$0")/lib.sh"

conf() {
	daemon_section
	cat <<CONF
workers = { count = 1; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 50; } );
rules = (
  {
@include "rule.inc"
  }
);
sinks = ( { plugin = "file"; name = "f"; path = "$T/alerts.jsonl"; } );
CONF
}
watchlist_rule | sed '1d;$d' >"$T/rule.inc"
conf >"$T/vigil.conf"
"$VIGILD" -t -c "$T/vigil.conf" >"$T/t.log" 2>&1 || fail "a sound configuration was refused: $(cat "$T/t.log")"

refused() { # WHAT PATTERN
	rc=0
	"$VIGILD" -t -c "$T/vigil.conf" >"$T/t.log" 2>&1 || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: accepted"
	grep -q -- "$2" "$T/t.log" || fail "$1: no clear error: $(cat "$T/t.log")"
}

chmod 666 "$T/vigil.conf"
refused "a world-writable configuration" "vigil.conf: configuration writable by others: refused; chmod go-w"
chmod 620 "$T/vigil.conf"
refused "a group-writable configuration" "vigil.conf: configuration writable by its group"
chmod 600 "$T/vigil.conf"
chmod 664 "$T/rule.inc"
refused "a group-writable include" "rule.inc: configuration writable by its group"
chmod 644 "$T/rule.inc"

# A plugin directory with a copy of the watchlist plugin made writable.
mkdir -p "$T/plugins"
cp "$PLUGINS/rule/watchlist/.libs/rule_watchlist.so" "$T/plugins/"
chmod 666 "$T/plugins/rule_watchlist.so"
sed "s|plugin_path = \[.*\]|plugin_path = [ \"$T/plugins\", \"$PLUGINS\" ]|" "$T/vigil.conf" >"$T/p.conf"
mv "$T/p.conf" "$T/vigil.conf"
chmod 600 "$T/vigil.conf"
refused "a world-writable plugin" "rule_watchlist.so: plugin writable by others"
chmod 644 "$T/plugins/rule_watchlist.so"
"$VIGILD" -t -c "$T/vigil.conf" >"$T/t.log" 2>&1 || fail "the same plugin, mended, refused: $(cat "$T/t.log")"

if [ "$(id -u)" -ne 0 ]; then
	echo "hardening: ok (not root: the drop of root is not tested)"
	exit 0
fi
# Owned by another user (not root, not the daemon's).
chown nobody "$T/plugins/rule_watchlist.so"
refused "a plugin owned by another user" "plugin owned by uid $(id -u nobody), neither root nor the daemon's user"
chown root "$T/plugins/rule_watchlist.so"

# Root drops to daemon.user: nobody must reach the test's files.
chmod 755 "$T"
sed "s|^daemon = {|daemon = {\n  user = \"nobody\";\n  control_group = \"nogroup\";|" "$T/vigil.conf" >"$T/p.conf"
mv "$T/p.conf" "$T/vigil.conf"
chmod 644 "$T/vigil.conf"
post d1 "vigiltest dropped" >"$T/feed.jsonl"
chmod 644 "$T/feed.jsonl"
touch "$T/alerts.jsonl" && chown nobody "$T/alerts.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 20 has_lines "$T/alerts.jsonl" 1 || fail "no alert when running as nobody"
[ "$(ps -o user= -p "$VPID" | tr -d ' ')" = nobody ] || fail "vigild runs as $(ps -o user= -p "$VPID")"
for w in $(worker_pids); do
	[ "$(ps -o user= -p "$w" | tr -d ' ')" = nobody ] || fail "a worker runs as $(ps -o user= -p "$w")"
done
[ "$(stat -c %U "$T/state")" = nobody ] || fail "state_dir is owned by $(stat -c %U "$T/state")"
[ "$(stat -c %U "$T/state/outbox.db")" = nobody ] || fail "the outbox is owned by $(stat -c %U "$T/state/outbox.db")"
grep -q "running as nobody" "$T/vigild.log" || fail "the drop is not logged"
[ "$(stat -c %G "$T/run/control.sock")" = nogroup ] || fail "control socket group: $(stat -c %G "$T/run/control.sock")"
[ "$(stat -c %a "$T/run/control.sock")" = 660 ] || fail "control socket mode: $(stat -c %a "$T/run/control.sock")"
"$top_builddir/daemon/vigilctl" -s "$T/run/control.sock" status --json >"$T/status.json" || fail "vigilctl status failed"
"$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["rates"]["posts_scored"] >= 1, r["rates"]' "$T/status.json" ||
	fail "status has no rates: $(cat "$T/status.json")"
stop_vigild
echo "hardening: ok"
