#!/bin/sh
# doc/configuration.md is generated from the settings tables: it must be
# what `vigild --reference` prints for the plugins of this tree, so that
# the reference never drifts from the code. Regenerate it with
#   ./daemon/vigild --reference -P plugins > doc/configuration.md
. "$(dirname "$0")/lib.sh"

"$VIGILD" --reference -P "$PLUGINS" >"$T/raw.md" 2>"$T/ref.log" || fail "--reference exited $?"
# Defaults that are installation paths follow configure's prefix; the
# committed reference is written for the default one.
prefix=$(sed -n 's/^prefix = //p' "$top_builddir/Makefile")
sed "s|$prefix/|/usr/local/|g" "$T/raw.md" >"$T/ref.md"
diff -u "$top_srcdir/doc/configuration.md" "$T/ref.md" ||
	fail "doc/configuration.md is out of date"
echo "reference: ok"
