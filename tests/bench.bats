#!/usr/bin/env bats
# make bench's machinery, without measuring anything for real: the
# machine-cost probe runs and reports every probe; every README block that
# quotes bench/REPORT.md says exactly what the report says; and
# tools/bench-report keeps the sections it was not asked to re-measure.

load helpers

setup() {
	mkdir -p "$TMP/bin"
	cc -std=gnu11 -Wall -Wextra -O2 -pthread -o "$TMP/bin/machine-costs" \
		"$TOP/bench/machine-costs.c"
}

# A copy of the tracked tree in $TMP/tree, as its own git work tree.
copy_tree() {
	mkdir -p "$TMP/tree"
	git -C "$TOP" ls-files -z --cached --others --exclude-standard |
		(cd "$TOP" && xargs -0 cp --parents -t "$TMP/tree")
	git -C "$TMP/tree" init -q
	git -C "$TMP/tree" add -A
}

@test "machine-costs prints one row per probe, each with a positive median" {
	run timeout 120 "$TMP/bin/machine-costs" -r 3 -s 200
	assert_status 0
	local probe
	for probe in "system call" "switch to another thread on the same CPU" \
		"page fault, first touch of a fresh 4 KiB page" "memcpy bandwidth"; do
		[[ "$output" =~ "| $probe | "[0-9]+\.[0-9]" " ]] || { echo "no figure for: $probe" >&2; false; }
	done
	[[ "$output" == *"median (min-max) of 3 rounds"* ]]
	# No probe may report zero: that would be a loop the compiler removed.
	run grep -E '\| 0\.0 (ns|µs|GiB/s) ' <<<"$output"
	assert_status 1
}

@test "machine-costs measures a cross-CPU wake-up with two CPUs, and says why not with one" {
	[ "$(nproc)" -ge 2 ] || skip "needs two CPUs, $(nproc) online"
	run timeout 120 "$TMP/bin/machine-costs" -r 1 -s 200
	assert_status 0
	[[ "$output" =~ "| wake-up of a thread on another CPU | "[0-9]+\.[0-9]" µs" ]]
	run timeout 120 taskset -c 0 "$TMP/bin/machine-costs" -r 1 -s 200
	assert_status 0
	[[ "$output" == *"| wake-up of a thread on another CPU | not measured: this process may use one CPU only |"* ]]
}

@test "machine-costs rejects bad arguments with one line and exit 2" {
	local bad
	for bad in "-r 0" "-r x" "-s -1" "-x" "-r" "extra"; do
		# shellcheck disable=SC2086
		run timeout 10 "$TMP/bin/machine-costs" $bad
		assert_status 2
		[ "${#lines[@]}" -eq 1 ]
		[[ "$output" == "machine-costs: "* || "$output" == "usage: machine-costs "* ]]
	done
}

@test "machine-costs says so when its table cannot be written" {
	[ -w /dev/full ] || skip "no /dev/full here"
	run timeout 60 bash -c '"$0" -r 1 -s 500 >/dev/full' "$TMP/bin/machine-costs"
	assert_status 1
	[ "$output" = "machine-costs: stdout: No space left on device" ]
}

@test "every README block that quotes bench/REPORT.md matches it" {
	run timeout 60 "$TOP/tools/bench-blocks" --check
	assert_status 0
}

# A README in the copy that quotes the machine table and one lesson table.
quote_two_blocks() {
	cat >>"$TMP/tree/CONTRIBUTING.md" <<-'MD'

	<!-- bench:begin machine: -->
	<!-- bench:end -->

	<!-- bench:begin 04-sqpoll: -->
	<!-- bench:end -->
	MD
}

@test "bench-blocks fills a block, then --check passes; a changed figure in it fails" {
	copy_tree
	quote_two_blocks
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 1
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree"
	assert_status 0
	[[ "$output" == *"updated CONTRIBUTING.md"* ]]
	grep -q '^| system call | ' "$TMP/tree/CONTRIBUTING.md"
	grep -q 'Measured by `make bench` on .* UTC, .*Linux' "$TMP/tree/CONTRIBUTING.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 0
	# One digit of one figure, changed by hand in the README.
	sed -i '/^| system call | /s/[0-9]/7/' "$TMP/tree/CONTRIBUTING.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 1
	[[ "$output" == "CONTRIBUTING.md:"*": block machine"*"differs from bench/REPORT.md"* ]]
}

@test "a new report makes a block stale until bench-blocks runs" {
	copy_tree
	quote_two_blocks
	timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" >/dev/null
	sed -i '/^| system call | /s/| system call | [0-9.]*/| system call | 12345.6/' "$TMP/tree/bench/REPORT.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 1
	timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" >/dev/null
	grep -q '^| system call | 12345.6' "$TMP/tree/CONTRIBUTING.md"
}

@test "a block naming a heading the report lacks fails, in both modes" {
	copy_tree
	printf '\n<!-- bench:begin 03-cp-linked: no such table -->\n<!-- bench:end -->\n' >>"$TMP/tree/README.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 1
	[[ "$output" == *"no heading containing 'no such table' in section 03-cp-linked"* ]]
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree"
	assert_status 1
}

@test "a block quoting one heading gets that heading's table only" {
	copy_tree
	printf '\n<!-- bench:begin 03-cp-linked: Where the time goes -->\n<!-- bench:end -->\n' >>"$TMP/tree/README.md"
	timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" >/dev/null
	sed -n '/bench:begin 03-cp-linked: Where/,/bench:end/p' "$TMP/tree/README.md" >"$TMP/block"
	grep -q '^\*\*Where the time goes' "$TMP/block"
	grep -q '^| `cp-linked` |' "$TMP/block"
	run grep -c 'tmpfs read/write vs dd' "$TMP/block"
	[ "$output" = 0 ]
}

@test "bench-report ONLY=machine re-measures the machine and keeps every lesson section" {
	copy_tree
	cd "$TMP/tree"
	# A stand-in probe: quick, and with a figure no real run would print.
	sed -i 's|timeout 900 "$build/machine-costs"|timeout 900 "$build/machine-costs" -r 1 -s 500|' tools/bench-report
	local lessons
	lessons=$(ls -d [0-9][0-9]-*/ | tr -d / | tr '\n' ' ')
	awk '/^<!-- bench:section 0/,0' bench/REPORT.md >"$TMP/lessons.before"
	# The day it ran: the day it started or, past midnight UTC, the next.
	local day
	day="($(date -u +%Y-%m-%d)|$(date -u -d tomorrow +%Y-%m-%d))"
	# shellcheck disable=SC2086
	ONLY=machine run timeout 300 tools/bench-report $lessons
	assert_status 0
	grep -q '^<!-- bench:section machine -->' bench/REPORT.md
	grep -Eq "^Measured $day .* UTC on .*Linux $(uname -r)\.$" bench/REPORT.md
	awk '/^<!-- bench:section 0/,0' bench/REPORT.md >"$TMP/lessons.after"
	cmp "$TMP/lessons.before" "$TMP/lessons.after"
	# ... and the READMEs' blocks follow: the top README's table of dates.
	grep -Eq "^\| \[machine\]\(bench/REPORT.md#the-machine\) \| $day " README.md
	run timeout 60 tools/bench-blocks --check
	assert_status 0
}

@test "a summary figure the report does not show fails the check, naming lesson and figure" {
	copy_tree
	grep -q '^<!-- bench:figures -->' "$TMP/tree/README.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 0
	# The first figure of two decimals in lesson 01's row, say 2.12, made
	# one the report does not have, then the same rounded to one decimal.
	local fig rounded
	fig=$(grep '^| 01 raw-cat vs cat |' "$TMP/tree/README.md" | grep -o '[0-9]\.[0-9][0-9]x' | head -n 1)
	fig=${fig%x}
	[ -n "$fig" ]
	rounded=$(printf '%.1f' "$fig")
	sed -i "/^| 01 raw-cat vs cat |/s/${fig//./\\.}x/9.87x/" "$TMP/tree/README.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 1
	[[ "$output" == "README.md:"*": lesson 01: not in bench/REPORT.md: 9.87" ]]
	# The same figure, rounded to fewer decimals than the report gives, passes.
	sed -i "/^| 01 raw-cat vs cat |/s/9\.87x/${rounded}x/" "$TMP/tree/README.md"
	run timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" --check
	assert_status 0
}

@test "a quoted section leaves out the report's own heading, and its links resolve from the README" {
	copy_tree
	printf '\n<!-- bench:begin machine: -->\n<!-- bench:end -->\n<!-- bench:begin 05-echo-server: -->\n<!-- bench:end -->\n' \
		>>"$TMP/tree/01-raw-syscalls/README.md"
	timeout 60 "$TOP/tools/bench-blocks" -C "$TMP/tree" >/dev/null
	sed -n '/bench:begin machine/,$p' "$TMP/tree/01-raw-syscalls/README.md" >"$TMP/blocks"
	grep -q '](../bench/machine-costs.c)' "$TMP/blocks"
	grep -q '](../bench/REPORT.md)' "$TMP/blocks"
	run grep -E '^## |^Lesson README: ' "$TMP/blocks"
	assert_status 1
	run timeout 60 "$TOP/tools/check-refs" -C "$TMP/tree" 01-raw-syscalls/README.md
	[[ "$output" != *"link to"* ]]
}
