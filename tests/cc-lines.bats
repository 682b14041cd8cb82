#!/usr/bin/env bats
# Each .c file's header gives the one cc line that builds it; run it as written.

load helpers

@test "every lesson program builds with the Build: line in its header" {
	local f dir line fails=0 n=0
	for f in "$TOP"/[0-9][0-9]-*/*.c; do
		dir=$(dirname "$f")
		line=$(sed -n 's/^ \* Build: *//p' "$f" | head -n 1)
		if [ -z "$line" ]; then
			echo "$f: no ' * Build:' line in its header" >&2
			fails=$((fails + 1))
			continue
		fi
		mkdir -p "$TMP/b"
		cp "$f" "$TMP/b/"
		# A lesson-local header (#include "x.h") sits beside its program.
		cp "$dir"/*.h "$TMP/b/" 2>/dev/null || true
		if ! (cd "$TMP/b" && eval "$line") >"$TMP/log" 2>&1; then
			echo "$f: '$line' failed:" >&2
			cat "$TMP/log" >&2
			fails=$((fails + 1))
		fi
		n=$((n + 1))
	done
	[ "$n" -gt 0 ]
	[ "$fails" -eq 0 ]
}
