#!/usr/bin/env bats
# The code excerpts in README.md are real: every line of every ```c block
# appears verbatim in uring-cat.c or in lesson 01's raw-cat.c.

load ../../tests/helpers

@test "README code excerpts match the sources they quote" {
	local line missing=0 n=0
	while IFS= read -r line; do
		[ -n "${line//[[:space:]]/}" ] || continue
		n=$((n + 1))
		if ! grep -qxF -- "$line" "$LESSON/uring-cat.c" "$TOP/01-raw-syscalls/raw-cat.c"; then
			echo "not in the sources: $line" >&2
			missing=1
		fi
	done < <(awk '/^```c$/ {on = 1; next} /^```/ {on = 0} on' "$LESSON/README.md")
	[ "$n" -gt 0 ]
	[ "$missing" -eq 0 ]
}
