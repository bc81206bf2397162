#!/usr/bin/env bats
# The shell's redirections publish one version, the one the command wrote:
# "> f" opens the file, dup2()s it onto standard output and closes the first
# descriptor before the command writes, so a close before any write must not
# publish the (still empty) file. Each test counts the uploads the server saw.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small --
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	ITEM="Thesis With Empty Bundle"
	DST="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# posts_since MARK: the bitstream POSTs the server logged from line MARK on
posts_since() {
	reqs_since "$1" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')"
}

@test "echo > an existing file uploads the new bytes once, never an empty version" {
	head -c 100000 /dev/urandom >"$T/old"
	cp "$T/old" "$DST/redir.txt"
	wait_until 20 no_pending redir.txt
	n0=$(log_mark)
	bounded sh -c 'echo hello >"$1"' sh "$DST/redir.txt"
	wait_until 20 no_pending redir.txt
	[ "$(posts_since "$n0")" = 1 ]
	echo hello >"$T/want"
	srv_check "$ITEM" ORIGINAL redir.txt "$T/want"
	! grep -q "redir.txt (0 bytes" "$FS_LOG" || false
}

@test "echo > a new file and >> append: one upload each" {
	n0=$(log_mark)
	bounded sh -c 'echo one >"$1"' sh "$DST/append.txt"
	wait_until 20 no_pending append.txt
	[ "$(posts_since "$n0")" = 1 ]
	n1=$(log_mark)
	bounded sh -c 'echo two >>"$1"' sh "$DST/append.txt"
	wait_until 20 no_pending append.txt
	[ "$(posts_since "$n1")" = 1 ]
	printf 'one\ntwo\n' >"$T/want"
	srv_check "$ITEM" ORIGINAL append.txt "$T/want"
}

@test ": > f still empties the file on the server (one upload)" {
	echo data >"$T/d"
	cp "$T/d" "$DST/empty.txt"
	wait_until 20 no_pending empty.txt
	n0=$(log_mark)
	bounded sh -c ': >"$1"' sh "$DST/empty.txt"
	wait_until 20 no_pending empty.txt
	wait_until 20 sh -c '[ "$(stat -c %s "$1")" = 0 ]' sh "$DST/empty.txt"
	[ "$(posts_since "$n0")" = 1 ]
	: >"$T/want"
	wait_until 20 srv_check "$ITEM" ORIGINAL empty.txt "$T/want"
}
