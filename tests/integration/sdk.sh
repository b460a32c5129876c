#!/bin/sh
# The plugin SDK as a rule author outside vigil's tree meets it: the
# header and pkg-config file that `make install` installs (staged under a
# DESTDIR), contrib/plugin-template built with its own Makefile and
# nothing else of the tree, its unit tests, its install, `vigild -t`, the
# generated reference, and its labelled posts through `vigild --replay`.
# Also that LD_BIND_NOW=1 (lib.sh) makes a missing symbol fail at load.
. "$(dirname "$0")/lib.sh"

TPL="$top_srcdir/contrib/plugin-template"
TPL_FILES="template.c test_template.c Makefile template.conf posts.jsonl README.md"

command -v pkg-config >/dev/null 2>&1 || {
	echo "SKIP: sdk: no pkg-config"
	exit 77
}
pkg-config --exists cmocka || {
	echo "SKIP: sdk: no cmocka (pkg-config cannot find cmocka.pc)"
	exit 77
}
[ "${LD_BIND_NOW:-}" = 1 ] || fail "LD_BIND_NOW is not 1 (lib.sh exports it)"

# Sub-makes get nothing of the make that runs this test: no jobserver,
# no CFLAGS or other variables given on its command line.
submake() { env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES make "$@"; }

# --- install the header and vigil-plugin.pc as `make install` does.
submake -C "$top_builddir" install-pkgincludeHEADERS install-pkgconfigDATA \
    DESTDIR="$T/dest" >"$T/install.log" 2>&1 ||
	fail "installing the header and vigil-plugin.pc into a DESTDIR"
hdr=$(find "$T/dest" -path '*/vigil/plugin.h')
pc=$(find "$T/dest" -name vigil-plugin.pc)
if [ -z "$hdr" ] || [ -z "$pc" ]; then
	fail "make install left no plugin.h or vigil-plugin.pc"
fi
cmp -s "$hdr" "$top_srcdir/include/vigil/plugin.h" || fail "installed plugin.h differs"

# Without the sysroot the .pc names the real prefix; its plugindir must be
# where vigild looks when daemon.plugin_path is unset.
plugindir=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable=plugindir vigil-plugin)
"$VIGILD" --reference >"$T/reference.md" 2>>"$T/install.log" ||
	fail "vigild --reference"
grep -F "| \`plugin_path\` | paths | \`$plugindir\` |" "$T/reference.md" >/dev/null ||
	fail "vigil-plugin.pc's plugindir $plugindir is not vigild's default plugin_path"

PKG_CONFIG_PATH=$(dirname "$pc")
PKG_CONFIG_SYSROOT_DIR="$T/dest"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
inc=$(pkg-config --cflags-only-I vigil-plugin | sed 's/^ *-I//; s/ *$//')
[ "$inc/vigil/plugin.h" = "$hdr" ] ||
	fail "pkg-config --cflags vigil-plugin gives '$inc', not the DESTDIR's include directory"
pkg-config --cflags vigil-plugin | grep -e '-fPIC' >/dev/null ||
	fail "pkg-config --cflags vigil-plugin lacks -fPIC"

# --- the template, copied alone into an empty folder.
mkdir "$T/tpl" "$T/plugins"
for f in $TPL_FILES; do
	cp "$TPL/$f" "$T/tpl/$f" || fail "contrib/plugin-template/$f is missing"
done
submake -C "$T/tpl" check >"$T/tpl-check.log" 2>&1 ||
	fail "the template's make check failed"
grep -F '[  PASSED  ]' "$T/tpl-check.log" >/dev/null ||
	fail "the template's make check ran no cmocka test"
if grep -e 'warning:' -e 'error:' "$T/tpl-check.log" >/dev/null; then
	fail "the template builds with warnings"
fi
submake -C "$T/tpl" install PLUGINDIR="$T/plugins" >"$T/tpl-install.log" 2>&1 ||
	fail "the template's make install failed"
[ -f "$T/plugins/rule_template.so" ] || fail "make install put no rule_template.so in PLUGINDIR"
# Only the entry is exported: plugins load RTLD_LOCAL, but a plugin that
# exports its helpers can still shadow a library's symbols.
if command -v nm >/dev/null 2>&1; then
	exported=$(nm -D --defined-only "$T/plugins/rule_template.so" | awk '$2 ~ /^[TDBRVW]$/ { print $3 }')
	[ "$exported" = vigil_plugin_entry ] ||
		fail "rule_template.so exports more than vigil_plugin_entry: $exported"
fi

# --- a configuration that loads it from the install, as a user's would.
conf() { # FILE INCLUDED
	cat >"$1" <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  plugin_path = [ "$T/plugins" ];
  log_level = "info";
};
workers = { count = 2; };
rules = (
  {
    @include "$2"
  }
);
CONF
}
conf "$T/tpl/sdk.conf" template.conf
"$VIGILD" -t -c "$T/tpl/sdk.conf" >"$T/t.log" 2>&1 || fail "vigild -t refused the template's config"
grep -F "configuration OK (0 inputs, 1 rules, 0 sinks)" "$T/t.log" >/dev/null ||
	fail "vigild -t did not report the configuration OK"

# The plugin's validate runs in vigild -t and names the file and line.
sed 's/^severity = "alert";/severity = "critical";/' "$T/tpl/template.conf" >"$T/tpl/bad.conf"
line=$(grep -n '^severity = "critical";' "$T/tpl/bad.conf" | cut -d: -f1)
[ -n "$line" ] || fail "template.conf has no severity line to break"
conf "$T/tpl/bad.conf.top" bad.conf
rc=0
"$VIGILD" -t -c "$T/tpl/bad.conf.top" >"$T/bad.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "vigild -t accepted severity \"critical\""
grep -F "bad.conf:$line: severity must be" "$T/bad.log" >/dev/null ||
	fail "the plugin's validate error does not name bad.conf:$line"

# The reference is generated from the plugin's settings table.
"$VIGILD" --reference -P "$T/plugins" >"$T/tpl-reference.md" 2>>"$T/t.log" ||
	fail "vigild --reference -P"
# shellcheck disable=SC2016 # the backquotes are Markdown
for want in '## rule plugin `template`' '### template.votes[]' '| `blackout_start` | string, required |'; do
	grep -F "$want" "$T/tpl-reference.md" >/dev/null ||
		fail "the reference lacks: $want"
done

# --- the labelled example posts, through the real workers.
"$VIGILD" --replay "$T/tpl/posts.jsonl" -c "$T/tpl/sdk.conf" >"$T/replay.out" 2>"$T/replay.log" ||
	fail "replay of the template's posts exited $?"
"$PY" "$top_srcdir/tests/kz/check_labels.py" "$T/tpl/posts.jsonl" "$T/replay.out" ||
	fail "the template's posts are not scored as labelled"
grep -F "rule template/xx: 2 blackout windows, 2 exempt authors, 5 signals" "$T/replay.log" >/dev/null ||
	fail "the workers did not log the template's init"
if grep -e ' error: ' -e ' warning: ' "$T/replay.log" >/dev/null; then
	fail "the replay logged errors: $(grep -e ' error: ' -e ' warning: ' "$T/replay.log" | head -5)"
fi
"$PY" - "$T/replay.out" "$T/tpl/posts.jsonl" <<'PYEOF' || fail "the template's findings are not as documented"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
posts = [json.loads(l) for l in open(sys.argv[2], encoding="utf-8")]
by = {r["post_id"]: r for r in out}
for post, res in zip(posts, out):
    for f in res["findings"]:
        assert f["rule"] == "xx.poll.blackout" and f["jurisdiction"] == "xx", f
        assert f["legal"] == {"law": "Electoral Law of Xx (fictional)",
                              "article": "Art. 10",
                              "penalty": "A fine of 2,500 to 25,000 XXD"}, f
        # Evidence holds the original bytes of the field it names.
        for ev in f["evidence"]:
            if ev["field"] == "text":
                src = post["text"]
            elif ev["field"] == "poll.question":
                src = post["poll"]["question"]
            else:
                src = post["poll"]["options"][int(ev["field"][13:-1])]
            raw = src.encode("utf-8")[ev["start"]:ev["end"]].decode("utf-8")
            assert raw in ev["excerpt"], (post["id"], ev, raw)
        # A signal of negative weight is shown, but points at nothing.
        positive = [s for s in f["signals"] if s["weight"] > 0]
        assert len(f["evidence"]) == len(positive), (post["id"], f)
# Two zones: the mainland opens the window, the islands close it.
w = by["xx-008"]["findings"][0]["window"]
assert w == {"name": "general-2025/blackout", "start": "2025-10-09T23:00:00Z",
             "end": "2025-10-12T19:00:00Z"}, w
w = by["xx-013"]["findings"][0]["window"]
assert w["start"] == "2026-03-13T00:00:00Z" and w["end"] == "2026-03-15T20:00:00Z", w
# Folding: the configured "intencoes de voto" and "eleicoes" found the
# accented words; the evidence quotes them as written.
ev = by["xx-002"]["findings"][0]["evidence"]
assert any("eleições" in e["excerpt"] for e in ev), ev
assert by["xx-012"]["findings"][0]["evidence"][0]["field"] == "poll.question"
assert [s["name"] for s in by["xx-015"]["findings"][0]["signals"]][-1] == "reporting"
PYEOF

# --- The bundled jurisdictions are written the same way: kz and fr build
# out of tree from their one source file against the installed SDK alone,
# load, and score their labelled cases as the in-tree builds do.
mkdir -p "$T/oot/plugins" "$T/oot/t/kz" "$T/oot/t/fr"
ln -s "$top_srcdir/etc" "$T/oot/etc"
for j in kz fr; do
	# shellcheck disable=SC2046 # pkg-config's flags are meant to split
	cc -std=c11 -Wall -Wextra -Werror -shared -fPIC \
	    $(pkg-config --cflags --libs vigil-plugin) -Wl,-z,defs \
	    -o "$T/oot/plugins/rule_$j.so" "$top_srcdir/plugins/rule/$j/$j.c" \
	    >>"$T/t.log" 2>&1 || fail "plugins/rule/$j/$j.c does not build out of tree"
	sed -e "s|\"../../plugins\"|\"$T/oot/plugins\"|" \
	    "$top_srcdir/tests/$j/corpus.conf" >"$T/oot/t/$j/corpus.conf"
done
for set in kz:cases-extra fr:cases; do
	j=${set%%:*}
	cases="$top_srcdir/tests/$j/${set#*:}.jsonl"
	"$VIGILD" --replay "$cases" -c "$T/oot/t/$j/corpus.conf" \
	    >"$T/oot/$j.out" 2>"$T/oot/$j.log" ||
		fail "replay with the out-of-tree $j exited $?"
	"$PY" "$top_srcdir/tests/kz/check_labels.py" "$cases" "$T/oot/$j.out" ||
		fail "the out-of-tree $j scores differently"
done

# --- LD_BIND_NOW: a plugin calling a function nothing defines fails at
# load, in vigild -t, instead of at its first post.
cat >"$T/unbound.c" <<'EOF'
#include <stdlib.h>

#include <vigil/plugin.h>

void unbound_not_linked(void);

static int
init(const vigil_host *h, vigil_ctx *c, const vigil_cfg *g, void **i)
{
	(void)h, (void)c, (void)g;
	*i = malloc(1);
	return *i ? VIGIL_OK : VIGIL_ERR;
}

static int
score(void *i, const vigil_post *p, vigil_findings *o)
{
	(void)i, (void)p, (void)o;
	unbound_not_linked();
	return VIGIL_OK;
}

static const vigil_plugin unbound = {VIGIL_PLUGIN_HEADER, .name = "unbound",
    .version = "1", .kind = VIGIL_PLUGIN_RULE, .description = "d",
    .init = init, .destroy = free, .score = score};

VIGIL_EXPORT const vigil_plugin *vigil_plugin_entry(void);
VIGIL_EXPORT const vigil_plugin *
vigil_plugin_entry(void)
{
	return &unbound;
}
EOF
# shellcheck disable=SC2046 # pkg-config's flags are meant to split
cc -std=c11 -shared -fPIC $(pkg-config --cflags vigil-plugin) \
    -o "$T/plugins/rule_unbound.so" "$T/unbound.c" >>"$T/t.log" 2>&1 ||
	fail "cannot build the unbound plugin"
cat >"$T/unbound.conf" <<CONF
daemon = { plugin_path = [ "$T/plugins" ]; };
rules = ( { plugin = "unbound"; } );
CONF
rc=0
"$VIGILD" -t -c "$T/unbound.conf" >"$T/unbound.log" 2>&1 || rc=$?
[ "$rc" -ne 0 ] || fail "vigild -t loaded a plugin with an unresolved symbol"
grep -F "undefined symbol: unbound_not_linked" "$T/unbound.log" >/dev/null ||
	fail "the load error does not name the missing symbol"
# --- the end of doc/writing-plugins.md: the daemon follows an inbox, the
# template's rule judges it, and the alerts reach syslog (a receiver on a
# unix datagram socket standing in for the log daemon).
"$PY" - "$T/syslog.sock" "$T/syslog.out" <<'PYEOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "ab", buffering=0) as out:
    while True:
        out.write(s.recv(65536).replace(b"\n", b" ") + b"\n")
PYEOF
PIDS="$PIDS $!"
wait_for 10 test -S "$T/syslog.sock" || fail "syslog receiver did not start"
cat >"$T/tpl/vigil.conf" <<CONF
daemon = {
  state_dir = "$T/state";
  runtime_dir = "$T/run";
  plugin_path = [ "$PLUGINS", "$T/plugins" ];
};
workers = { count = 2; };
admin = { listen = ""; };
inputs = ( { plugin = "jsonl"; name = "inbox"; path = "posts.jsonl"; poll_ms = 50; } );
rules = (
  {
    @include "template.conf"
  }
);
sinks = ( { plugin = "syslog"; socket = "$T/syslog.sock"; min_severity = "warning"; } );
CONF
"$VIGILD" -t -c "$T/tpl/vigil.conf" >>"$T/t.log" 2>&1 || fail "vigild -t refused the daemon's config"
start_vigild "$T/tpl/vigil.conf" "$T/vigild.log"
want=$(grep -c '"expect": "alert"' "$T/tpl/posts.jsonl")
wait_for 20 has_lines "$T/syslog.out" "$want" ||
	fail "expected $want syslog messages, got $(lines "$T/syslog.out")"
stop_vigild
[ "$(grep -c ' rule=xx.poll.blackout severity=alert ' "$T/syslog.out")" -eq "$want" ] ||
	fail "syslog messages are not the template's alerts: $(cat "$T/syslog.out")"
grep -F 'post=xx-001 platform=telegram channel=@xx_daily title="Poll results or an election forecast published during the blackout before a vote" law="Electoral Law of Xx (fictional)" article="Art. 10" window=general-2025/blackout excerpt="Latest poll results' \
    "$T/syslog.out" >/dev/null || fail "the syslog message of xx-001 is not as doc/writing-plugins.md shows"
echo "sdk: ok"
