#!/usr/bin/env bats
# Every man page a README names can be opened by a reader of the version
# the lesson needs: in that liburing's pages (tests/liburing-man-pages/),
# in man-pages, or linked to its upstream source (tools/check-manpages).

load helpers

pages() {
	[ -e /usr/share/man/man2/read.2.gz ] || [ -e /usr/share/man/man2/read.2 ] ||
		skip "man-pages is not installed (apt-get install manpages manpages-dev): cannot check pages outside liburing"
	run timeout 30 "$TOP/tools/check-manpages" "$TOP/$1/README.md"
	assert_status 0
}

@test "the top README: every man page in its lesson table can be opened" { pages .; }
@test "01-raw-syscalls: every man page it names can be opened" { pages 01-raw-syscalls; }
@test "02-liburing-cat: every man page it names can be opened" { pages 02-liburing-cat; }
@test "03-cp-linked: every man page it names can be opened" { pages 03-cp-linked; }
@test "04-sqpoll: every man page it names can be opened" { pages 04-sqpoll; }
@test "05-echo-server: every man page it names can be opened" { pages 05-echo-server; }
@test "06-buffer-rings: every man page it names can be opened" { pages 06-buffer-rings; }
@test "07-epoll-bridge: every man page it names can be opened" { pages 07-epoll-bridge; }

@test "every lesson has a test in manpages.bats" {
	every_lesson_listed
}

# man_section TEXT: a README whose Man pages section is TEXT.
man_section() {
	mkdir -p "$TMP/l"
	printf '# lesson\n\n## Man pages\n\n%s\n\n## Exercises\n\nio_uring_nonexistent(3) here is not checked.\n' "$1" >"$TMP/l/README.md"
	run timeout 30 "$TOP/tools/check-manpages" "$TMP/l/README.md"
}

@test "pages liburing 2.3 and man-pages install pass" {
	man_section 'io_uring_setup(2), `io_uring_prep_read(3)`, io_uring.7, splice(2), epoll(7).'
	assert_status 0
	[ -z "$output" ]
}

@test "a liburing page 2.3 lacks fails, naming the line and the upstream URL" {
	man_section 'io_uring_setup(2), io_uring_cq_eventfd_toggle(3).'
	assert_status 1
	[[ "$output" == *"README.md:5: io_uring_cq_eventfd_toggle(3): not in liburing 2.3's man pages (the lesson needs 2.3): link https://github.com/axboe/liburing/blob/master/man/io_uring_cq_eventfd_toggle.3"* ]]
	man_section 'liburing'"'"'s `man/io_uring_multishot.7`.'
	assert_status 1
}

@test "the same page linked to its upstream source passes" {
	man_section '[io_uring_cq_eventfd_toggle(3)](https://github.com/axboe/liburing/blob/master/man/io_uring_cq_eventfd_toggle.3), [tcp(7)](https://man7.org/linux/man-pages/man7/tcp.7.html).'
	assert_status 0
}

@test "a page no one installs fails; a README without a Man pages section fails" {
	man_section 'reed(2).'
	assert_status 1
	[[ "$output" == *"reed(2): not installed from man-pages"* ]]
	printf '# lesson\n\nNo pages.\n' >"$TMP/l/README.md"
	run timeout 30 "$TOP/tools/check-manpages" "$TMP/l/README.md"
	assert_status 1
	[[ "$output" == *"names no man pages"* ]]
}

@test "a lesson that needs liburing 2.2 is held to 2.2's pages" {
	# A repository of one lesson, 02-x, whose row in the top README says 2.2.
	mkdir -p "$TMP/top/tools" "$TMP/top/tests" "$TMP/top/02-x"
	cp "$TOP/tools/check-manpages" "$TMP/top/tools/"
	cp -r "$TOP/tests/liburing-man-pages" "$TMP/top/tests/"
	printf '| lesson | what | kernel | liburing | man pages |\n|---|---|---|---|---|\n| [02-x](02-x/) | x | 5.6 | 2.2 | io_uring_setup(2) |\n' >"$TMP/top/README.md"
	printf '# x\n\n## Man pages\n\nio_uring_prep_recv_multishot(3)\n' >"$TMP/top/02-x/README.md"
	run timeout 30 "$TMP/top/tools/check-manpages" "$TMP/top/02-x/README.md"
	assert_status 1
	[[ "$output" == *"io_uring_prep_recv_multishot(3): not in liburing 2.2's man pages (the lesson needs 2.2)"* ]]
	# The same page is fine for a lesson that needs 2.3.
	sed -i 's/| 2.2 |/| 2.3 |/' "$TMP/top/README.md"
	run timeout 30 "$TMP/top/tools/check-manpages" "$TMP/top/02-x/README.md"
	assert_status 0
}
