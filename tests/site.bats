#!/usr/bin/env bats
# The reading site (tools/site): it builds from the lessons as they are, and
# Debian's chromium, driven by playwright-core (tests/site/site.test.mjs),
# finds every page loading cleanly, every link and anchor resolving, every
# code excerpt equal to its file's lines, and the two columns where they
# belong at 390 and 1280 pixels (screenshots in build/site-shots/).

load helpers

setup_file() {
	export SITE="$BATS_FILE_TMPDIR/site"
	"$TOP/tools/site" -o "$SITE" >"$BATS_FILE_TMPDIR/build.log" 2>&1 || true
}

# need_browser: skip, saying what is missing, where the browser test cannot run.
need_browser() {
	command -v chromium >/dev/null || skip "chromium is not installed (apt-get install chromium)"
	command -v node >/dev/null || skip "node is not installed (apt-get install nodejs npm)"
	[ -d "$TOP/tests/site/node_modules/playwright-core" ] ||
		skip "playwright-core is not installed (tools/setup-deps test, or: npm ci --prefix tests/site)"
}

@test "tools/site builds a page per lesson, its exercises page and the index" {
	cat "$BATS_FILE_TMPDIR/build.log" >&2
	[ -f "$SITE/index.html" ]
	local d
	for d in "$TOP"/[0-9][0-9]-*/; do
		[ -f "$SITE/$(basename "$d").html" ]
		[ -f "$SITE/$(basename "$d")-exercises.html" ]
	done
}

@test "tools/site: a bad option is a usage error" {
	run "$TOP/tools/site" --nope
	assert_status 2
	[[ "$output" == usage:* ]]
}

@test "the site in chromium: pages load, links resolve, excerpts equal their files, columns fit" {
	need_browser
	run timeout 900 env SITE="$SITE" SHOTS="$TOP/build/site-shots" node --test "$TOP/tests/site/"
	printf '%s\n' "$output" | grep -E '^(not ok|ok)|^# (pass|fail)|error|Error' >&2 || true
	assert_status 0
	[ -f "$TOP/build/site-shots/01-raw-syscalls-390.png" ]
	[ -f "$TOP/build/site-shots/01-raw-syscalls-1280.png" ]
}

@test "the browser test fails on an excerpt that differs from its file and on a broken anchor" {
	need_browser
	cp -r "$SITE" "$TMP/bad"
	# One line of the first excerpt changed, one link sent to a missing anchor.
	perl -0pi -e 's/(<div class="excerpt".*?<span id="cb\d+-\d+"><a [^>]*><\/a>)/$1XX/s' "$TMP/bad/01-raw-syscalls.html"
	perl -0pi -e 's/href="02-liburing-cat\.html"/href="02-liburing-cat.html#no-such-heading"/' "$TMP/bad/01-raw-syscalls.html"
	run cmp -s "$SITE/01-raw-syscalls.html" "$TMP/bad/01-raw-syscalls.html"
	[ "$status" -eq 1 ]
	run timeout 600 env SITE="$TMP/bad" SHOTS="$TMP/shots" node --test \
		--test-name-pattern 'excerpt|anchor' "$TOP/tests/site/"
	[ "$status" -ne 0 ]
	[[ "$output" == *"not ok"*"every internal link and anchor resolves"* ]]
	[[ "$output" == *"no-such-heading"* ]]
	[[ "$output" == *"not ok"*"every code excerpt equals the lines of the file it names"* ]]
}

@test "the browser test fails on a code walk that leaves a named function out, or shows one the prose does not name" {
	need_browser
	cp -r "$SITE" "$TMP/bad"
	# 05's listen_on() excerpt taken out; 07's first excerpt relabelled as a
	# function its prose never writes.
	perl -0pi -e 's/<div class="excerpt"[^>]*>\s*<p class="excerpt-head"><code>listen_on<\/code>.*?<\/pre><\/div>\s*<\/div>//s' \
		"$TMP/bad/05-echo-server.html"
	perl -0pi -e 's/(<p class="excerpt-head"><code>)\w+(<\/code>)/${1}step$2/' "$TMP/bad/07-epoll-bridge.html"
	run cmp -s "$SITE/05-echo-server.html" "$TMP/bad/05-echo-server.html"
	[ "$status" -eq 1 ]
	run timeout 600 env SITE="$TMP/bad" SHOTS="$TMP/shots" node --test \
		--test-name-pattern 'code walk' "$TOP/tests/site/"
	[ "$status" -ne 0 ]
	[[ "$output" == *"05-echo-server.html: listen_on() is defined in 05-echo-server/server-common.h but never shown"* ]]
	[[ "$output" == *"07-epoll-bridge.html: step (07-epoll-bridge/epoll-bridge.c) is shown beside prose that does not name it as code"* ]]
}
