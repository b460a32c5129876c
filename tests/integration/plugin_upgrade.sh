#!/bin/sh
# A plugin replaced on disk while vigild runs (a new file renamed over the
# old, as make install does) is loaded anew on reload: `vigilctl plugins`
# names the new version and the new code handles the alerts, while the
# old object is unmapped once its generation retires. A reload with the
# file unchanged keeps the object; going back to the first version (a new
# file again, by SIGHUP) loads it anew too. tests/integration/plugins/
# versioned.c, built as v1 and v2, marks each alert with its version.
. "$(dirname "$0")/lib.sh"

VIGILCTL="$top_builddir/daemon/vigilctl"
SOCK="$T/run/control.sock"
ctl() { "$VIGILCTL" -s "$SOCK" "$@"; }
built() { # VERSION: the shared object libtool built
	so="$top_builddir/tests/integration/plugins/$1/.libs/sink_versioned.so"
	[ -f "$so" ] || so="$top_builddir/tests/integration/plugins/$1/sink_versioned.so"
	[ -f "$so" ] || fail "$so is not built"
	echo "$so"
}
install_version() { # VERSION: copy, then rename over the installed file
	cp "$(built "$1")" "$T/plug/.sink_versioned.so.new"
	chmod 644 "$T/plug/.sink_versioned.so.new"
	mv "$T/plug/.sink_versioned.so.new" "$T/plug/sink_versioned.so"
}
version() { # the version `vigilctl plugins` reports for the sink
	ctl plugins --json | "$PY" -c '
import json, sys
for p in json.load(sys.stdin)["plugins"]:
    if p["plugin"] == "versioned":
        assert p["file"] == sys.argv[1], p
        print(p["version"])' "$T/plug/sink_versioned.so"
}
# The inode of the installed file, and whether vigild maps that inode.
inode() { stat -c %i "$T/plug/sink_versioned.so"; }
mapped() { awk -v ino="$1" '$5 == ino && /sink_versioned/' "/proc/$VPID/maps" | grep -q .; }
loads_of_new_files() { grep -c "changed since it was loaded" "$T/vigild.log" || true; }

mkdir -m 755 "$T/plug"
install_version v1
cat >"$T/vigil.conf" <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  plugin_path = [ "$T/plug", "$PLUGINS" ];
  log_level = "info";
};
admin = { listen = ""; };
workers = { count = 1; };
inputs = ( { plugin = "jsonl"; name = "feed"; path = "$T/feed.jsonl"; poll_ms = 20; } );
rules = (
$(watchlist_rule)
);
sinks = ( { plugin = "versioned"; name = "v"; out = "$T/marks.txt"; } );
CONF
: >"$T/feed.jsonl"
start_vigild "$T/vigil.conf" "$T/vigild.log"
wait_for 30 ctl status || fail "vigild did not start"

post p1 "vigiltest one" >>"$T/feed.jsonl"
wait_for 30 has_lines "$T/marks.txt" 1 || fail "no alert from version 1"
[ "$(version)" = "1.0" ] || fail "plugins: $(ctl plugins)"
INO1=$(inode)
mapped "$INO1" || fail "version 1 is not mapped: $(grep sink_versioned "/proc/$VPID/maps")"

# Version 2 by rename, then a reload: the new code runs.
install_version v2
INO2=$(inode)
ctl reload >"$T/reload.out" 2>&1 || fail "reload to v2: $(cat "$T/reload.out")"
[ "$(version)" = "2.0" ] || fail "after the upgrade, plugins: $(ctl plugins)"
[ "$(loads_of_new_files)" -eq 1 ] || fail "the new file was not loaded as one"
post p2 "vigiltest two" >>"$T/feed.jsonl"
wait_for 30 has_lines "$T/marks.txt" 2 || fail "no alert after the upgrade"
# The old generation retires and takes version 1 with it; no link stays.
wait_for 30 sh -c "! awk -v ino=$INO1 '\$5 == ino && /sink_versioned/' /proc/$VPID/maps | grep -q ." ||
	fail "version 1 is still mapped after its generation retired"
mapped "$INO2" || fail "version 2 is not mapped"
ls "$T/run" | grep -q '^plugin\.' && fail "links left in the runtime directory: $(ls "$T/run")"

# Unchanged file: the reload shares the loaded object.
ctl reload >"$T/reload.out" 2>&1 || fail "reload, unchanged: $(cat "$T/reload.out")"
[ "$(version)" = "2.0" ] || fail "after an unchanged reload, plugins: $(ctl plugins)"
[ "$(loads_of_new_files)" -eq 1 ] || fail "an unchanged file was loaded anew"
post p3 "vigiltest three" >>"$T/feed.jsonl"
wait_for 30 has_lines "$T/marks.txt" 3 || fail "no alert after the unchanged reload"

# Back to version 1, a new file once more, by SIGHUP.
install_version v1
kill -HUP "$VPID"
wait_for 30 grep -q "reload: generation 4 running" "$T/vigild.log" || fail "SIGHUP reload did not finish"
[ "$(version)" = "1.0" ] || fail "after the downgrade, plugins: $(ctl plugins)"
post p4 "vigiltest four" >>"$T/feed.jsonl"
wait_for 30 has_lines "$T/marks.txt" 4 || fail "no alert after the downgrade"

printf 'v1 p1\nv2 p2\nv2 p3\nv1 p4\n' | cmp -s - "$T/marks.txt" ||
	fail "alerts handled by the wrong code: $(cat "$T/marks.txt")"
stop_vigild
echo "plugin_upgrade: ok"
