#!/usr/bin/env bats
# Read path with the server gone (stopped while mounted): what is cached is
# still served, within the TTL and after it (stale-while-unreachable), and
# what is not fails promptly with EIO.  Each test stops its own server.

load helpers
load mount

setup() {
	fake_start --fixture small
}

teardown() {
	test_teardown --skip "Connection refused"
}

@test "server down within the TTL: ls -lR and a cached file are served from the cache" {
	fresh_mount -o ro,timeout=5
	timeout 60 ls -lR "$MNT" >"$BATS_TEST_TMPDIR/before"
	[ "$(grep -c '^-r' "$BATS_TEST_TMPDIR/before")" -gt 150 ]
	f=$(bs_path notes.txt)
	timeout 30 cmp "$f" "$(orig "$f")"
	cp "$(orig "$f")" "$BATS_TEST_TMPDIR/notes.orig"
	fake_stop
	run timeout 60 ls -lR "$MNT"
	[ "$status" -eq 0 ]
	diff "$BATS_TEST_TMPDIR/before" <(echo "$output")
	timeout 30 cmp "$f" "$BATS_TEST_TMPDIR/notes.orig"
	fs_alive
}

@test "server down: an uncached file and an unlisted directory fail promptly with EIO" {
	fresh_mount -o ro,timeout=5
	ls "$MNT" >/dev/null
	f=$(bs_path run-0002.dat)
	stat "$f" >/dev/null
	dir=$MNT/$(fx "one('community', name='Awkward Names')['name']")
	fake_stop
	start=$(date +%s)
	run timeout 60 cat "$f"
	echo "cat: status $status, $output, after $(($(date +%s) - start)) s"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[ $(($(date +%s) - start)) -le 40 ]
	[[ "$output" == *"Input/output error"* ]]
	start=$(date +%s)
	run timeout 60 ls "$dir"
	echo "ls: status $status, $output, after $(($(date +%s) - start)) s"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[ $(($(date +%s) - start)) -le 40 ]
	[[ "$output" == *"Input/output error"* ]]
	fs_alive
}

@test "server down past the TTL: ls -lR serves the stale listings promptly and says so in the log" {
	fresh_mount -o ro,timeout=5,cache_ttl=2
	timeout 60 ls -lR "$MNT" >"$BATS_TEST_TMPDIR/before"
	[ "$(grep -c '^-r' "$BATS_TEST_TMPDIR/before")" -gt 150 ]
	fake_stop
	sleep 3
	start=$(date +%s)
	run timeout 60 ls -lR "$MNT"
	echo "stale ls -lR: status $status after $(($(date +%s) - start)) s"
	[ "$status" -eq 0 ]
	diff "$BATS_TEST_TMPDIR/before" <(echo "$output")
	[ $(($(date +%s) - start)) -le 30 ]
	grep -iE "unreachable|stale" "$FS_LOG"
	fs_alive
}
