#!/usr/bin/env bats
# The minimum kernel README.md states for each lesson, checked against what
# tools/kernel-matrix saw on Debian's real kernels (bench/KERNELS.md, written
# by make kernels), and each lesson README's "Kernels it was run on" block
# against the same file.

load helpers

CLAIMS=$TOP/tools/kernel-matrix.d/claims
BLOCKS=$TOP/tools/kernel-matrix.d/readme-blocks

@test "README.md's kernel column agrees with the kernel matrix (bench/KERNELS.md)" {
	run "$CLAIMS" "$TOP/bench/KERNELS.md" "$TOP/README.md"
	assert_status 0
}

@test "every lesson README's kernels block is the one bench/KERNELS.md gives" {
	run "$BLOCKS" --check "$TOP/bench/KERNELS.md"
	assert_status 0
}

# A results file and README of our own: the check must be able to fail.
fake_results() {
	cat >"$TMP/KERNELS.md" <<-'MD'
	Debian's kernels booted under qemu (tcg, 2 CPUs) by tools/kernel-matrix, 2026-01-01:

	- Linux 5.10: 5.10.0-1-amd64, Debian 5.10.1-1 (bullseye), 10 s
	- Linux 6.1: 6.1.0-1-amd64, Debian 6.1.1-1 (bookworm), 10 s

	| lesson | 5.10 | 6.1 |
	|---|---|---|
	| 01-raw-syscalls | pass | pass |
	| 06-buffer-rings | 77 [1] | pass |

	[1] 06-buffer-rings on 5.10: exit 77: ./bufring-echo -p 0: bufring-echo: provided buffer rings need Linux 5.19
	MD
	cat >"$TMP/README.md" <<-MD
	| lesson | what it teaches | kernel | liburing |
	|---|---|---|---|
	| [01-raw-syscalls](01-raw-syscalls/) | rings | $1 | none |
	| [06-buffer-rings](06-buffer-rings/) | pools | $2 | 2.3 |
	MD
}

@test "claims: a true table passes" {
	fake_results 5.6 6.0
	run "$CLAIMS" "$TMP/KERNELS.md" "$TMP/README.md"
	assert_status 0
}

@test "claims: a lesson that exits 77 on a kernel the README says it runs on fails" {
	fake_results 5.6 5.6
	run "$CLAIMS" "$TMP/KERNELS.md" "$TMP/README.md"
	assert_status 1
	[[ "$output" == *"06-buffer-rings: "*"runs on Linux 5.6 and later, but on 5.10: 77"* ]]
}

@test "claims: a FAIL cell fails, above or below the minimum" {
	fake_results 5.6 6.0
	sed -i 's/| 77 \[1\] |/| FAIL [1] |/' "$TMP/KERNELS.md"
	run "$CLAIMS" "$TMP/KERNELS.md" "$TMP/README.md"
	assert_status 1
	[[ "$output" == *"06-buffer-rings on 5.10: FAIL"* ]]
}

@test "claims: an exit 77 that names no newer kernel fails" {
	fake_results 5.6 6.0
	sed -i 's/need Linux 5.19/are missing/' "$TMP/KERNELS.md"
	run "$CLAIMS" "$TMP/KERNELS.md" "$TMP/README.md"
	assert_status 1
	[[ "$output" == *"names no kernel version"* ]]
}

@test "claims: a lesson missing from the matrix, or from the README, fails" {
	fake_results 5.6 6.0
	sed -i '/06-buffer-rings/d' "$TMP/README.md"
	run "$CLAIMS" "$TMP/KERNELS.md" "$TMP/README.md"
	assert_status 1
	[[ "$output" == *"06-buffer-rings: in $TMP/KERNELS.md but not in"* ]]
}

@test "readme-blocks: --check fails on a stale block; without it the block is rewritten from the table" {
	fake_results 5.6 6.0
	mkdir -p "$TMP/r/tools/kernel-matrix.d" "$TMP/r/06-buffer-rings"
	cp "$BLOCKS" "$TMP/r/tools/kernel-matrix.d/"
	printf 'intro\n<!-- kernels:begin -->\nstale\n<!-- kernels:end -->\nrest\n' >"$TMP/r/06-buffer-rings/README.md"
	run "$TMP/r/tools/kernel-matrix.d/readme-blocks" --check "$TMP/KERNELS.md"
	assert_status 1
	run "$TMP/r/tools/kernel-matrix.d/readme-blocks" "$TMP/KERNELS.md"
	assert_status 0
	run "$TMP/r/tools/kernel-matrix.d/readme-blocks" --check "$TMP/KERNELS.md"
	assert_status 0
	grep -qx -- '- Linux 5.10 (Debian'\''s 5.10.1-1, bullseye): exits 77: bufring-echo: provided buffer rings need Linux 5.19' "$TMP/r/06-buffer-rings/README.md"
	grep -qx 'rest' "$TMP/r/06-buffer-rings/README.md"
	run grep -c stale "$TMP/r/06-buffer-rings/README.md"
	[ "$output" = 0 ]
}
