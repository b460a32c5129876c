#!/bin/sh
# vigild -t: a good configuration passes; every kind of bad one fails
# with the file and line of the problem.
. "$(dirname "$0")/lib.sh"

good() {
	daemon_section
	echo 'rules = ('
	watchlist_rule
	echo ');'
	echo "sinks = ( { plugin = \"file\"; path = \"$T/a.jsonl\"; } );"
}
good >"$T/good.conf"
"$VIGILD" -t -c "$T/good.conf" 2>"$T/t.log" || fail "good config refused: $(cat "$T/t.log")"

expect_error() { # NAME PATTERN: the config in $T/NAME.conf must fail
	rc=0
	"$VIGILD" -t -c "$T/$1.conf" 2>"$T/$1.err" || rc=$?
	[ "$rc" -ne 0 ] || fail "$1: accepted"
	grep -q -- "$2" "$T/$1.err" || fail "$1: error lacks '$2': $(cat "$T/$1.err")"
}

{ daemon_section; echo 'workers = { cuont = 2; };'; } >"$T/unknown.conf"
expect_error unknown "unknown.conf:[0-9]*: .*cuont"

{ daemon_section; echo 'workers = { count = "two"; };'; } >"$T/type.conf"
expect_error type "type.conf:[0-9]*: .*count"

{ daemon_section; echo 'rules = ( { plugin = "nosuch"; } );'; } >"$T/missing.conf"
expect_error missing "nosuch"

{
	daemon_section
	cat <<'CONF'
rules = (
  { plugin = "watchlist";
    lists = ( { name = "x"; regex = [ "(unclosed" ]; } ); }
);
CONF
} >"$T/regex.conf"
expect_error regex "regex.conf:[0-9]*"

{
	daemon_section
	echo "sinks = ( { plugin = \"file\"; path = \"$T/a\"; min_severity = \"loud\"; } );"
} >"$T/sev.conf"
expect_error sev "sev.conf:[0-9]*: .*min_severity"

printf 'daemon = { state_dir = "/x" \n' >"$T/syntax.conf"
expect_error syntax "syntax.conf:[0-9]*"
echo "check_config: ok"
