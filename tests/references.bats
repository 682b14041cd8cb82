#!/usr/bin/env bats
# The repository stands alone: every relative link in every Markdown file
# resolves (file and #anchor), and no file names anything a clone lacks.
# tools/check-refs does the work; these tests prove it can fail.

load helpers

# A copy of the tracked tree (and these new files) in $TMP/tree, as its own git work tree, so a
# mutation never touches the real one.
copy_tree() {
	mkdir -p "$TMP/tree"
	git -C "$TOP" ls-files -z --cached --others --exclude-standard | (cd "$TOP" && xargs -0 cp --parents -t "$TMP/tree")
	git -C "$TMP/tree" init -q
	git -C "$TMP/tree" add -A
}

# refs FILE...: run the checker on the copy.
refs() {
	run timeout 60 "$TOP/tools/check-refs" -C "$TMP/tree" "$@"
}

@test "every link and file mention in the tree resolves" {
	run timeout 120 "$TOP/tools/check-refs"
	assert_status 0
}

@test "check-refs passes the unchanged top README and CONTRIBUTING" {
	copy_tree
	refs README.md CONTRIBUTING.md
	assert_status 0
	[ -z "$output" ]
}

@test "a link to a file that is not in the tree fails, naming the line" {
	copy_tree
	printf 'See [the notes](docs/NOTES.md).\n' >>"$TMP/tree/README.md"
	local n; n=$(wc -l <"$TMP/tree/README.md")
	refs README.md
	assert_status 1
	[[ "$output" == *"README.md:$n: link to docs/NOTES.md: no such file"* ]]
}

@test "a link to a missing heading anchor fails; the heading's real anchor passes" {
	copy_tree
	printf 'See [it](CONTRIBUTING.md#readme-run-it-blocks-are-executed).\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	printf 'See [it](CONTRIBUTING.md#readme-run-it-blocks-are-run).\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 1
	[[ "$output" == *"has no heading with anchor #readme-run-it-blocks-are-run"* ]]
}

@test "an anchor into the same file is checked against its own headings" {
	copy_tree
	printf 'Back to [the start](#quick-start).\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	printf 'Back to [the start](#quickstart).\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 1
}

@test "a link that leaves the repository fails" {
	copy_tree
	# A path two folders above the checkout (built in pieces: this file
	# must not name it).
	local outside=../../$(printf %s sha red)/notes.md
	printf 'See [notes](%s).\n' "$outside" >>"$TMP/tree/CONTRIBUTING.md"
	refs CONTRIBUTING.md
	assert_status 1
	[[ "$output" == *"link to $outside"* ]]
}

@test "naming material outside the repository fails, in prose and in comments" {
	copy_tree
	local notes=MEASU
	notes+=RED.md               # in two pieces: this file must not name it
	printf 'As %s shows, a wake-up costs 11 us.\n' "$notes" >>"$TMP/tree/README.md"
	printf '# the seeds say so\n' >>"$TMP/tree/tools/bench-report"
	printf 'Figures from seed 001 and the dankwiki page.\n' >>"$TMP/tree/CONTRIBUTING.md"
	refs README.md tools/bench-report CONTRIBUTING.md
	assert_status 1
	[[ "$output" == *"README.md:"*"$notes is not in the repository"* ]]
	[[ "$output" == *"tools/bench-report:"*'"the seeds"'* ]]
	[[ "$output" == *"CONTRIBUTING.md:"*'"the dankwiki page"'* ]]
}

@test "a path-like mention of a missing file fails; existing, system and upstream ones pass" {
	copy_tree
	printf 'Run `tools/bench-report` and read bench/REPORT.md and tests/helpers.bash.\n' >>"$TMP/tree/README.md"
	printf 'It includes sys/mman.h; liburing'"'"'s src/queue.c does the same.\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	printf 'Then read bench/RESULTS.md and tools/bench-sumary.\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 1
	[[ "$output" == *"mentions bench/RESULTS.md, which is not in the tree"* ]]
	[[ "$output" == *"mentions tools/bench-sumary, which is not in the tree"* ]]
}

@test "a bare file name is found anywhere in the tree, or fails" {
	copy_tree
	printf 'The program is raw-cat.c.\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	printf 'The program is rawcat.c.\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 1
	[[ "$output" == *"mentions rawcat.c"* ]]
}

@test "the allow-list is what lets a run-time file through" {
	copy_tree
	printf 'make bench writes bench.tsv.\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	: >"$TMP/tree/tests/references.allow"
	refs README.md
	assert_status 1
	[[ "$output" == *"mentions bench.tsv"* ]]
}

@test "reference-style links and inline HTML links are checked too" {
	copy_tree
	printf '\n[report]: bench/REPORT.md#the-machine\n<a href="CONTRIBUTING.md">c</a>\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 0
	printf '[gone]: bench/GONE.md\n<img src="bench/missing.svg">\n' >>"$TMP/tree/README.md"
	refs README.md
	assert_status 1
	[[ "$output" == *"link to bench/GONE.md: no such file"* ]]
	[[ "$output" == *"link to bench/missing.svg: no such file"* ]]
}
