#!/usr/bin/env bats
# A writer killed by a signal does not publish its partial file: killed
# between two writes, the kernel still flushes the file as the writer
# exits, and the flush sees the writer dying of a signal; killed while in
# close() (the upload under way), FUSE_INTERRUPT reaches the flush. Either
# way the spool is kept as "incomplete" and nothing reaches the server.

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
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null || true
	test_teardown
}

# state_is SUFFIX STATE: the status row of SUFFIX is in STATE.
state_is() {
	[ "$(pending_field "$1" 3 2>/dev/null)" = "$2" ]
}

# not_on_server NAME: the server has no bitstream NAME in the bundle.
not_on_server() {
	[ "$(srv_bs "$ITEM" ORIGINAL "$1")" = "[]" ]
}

@test "a writer killed by SIGTERM between two writes leaves an incomplete row and nothing on the server" {
	bounded ls "$DST" >/dev/null
	run timeout 60 python3 -c '
import os, signal, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for i in range(12):
    os.write(fd, os.urandom(256 * 1024))
os.kill(os.getpid(), signal.SIGTERM)
' "$DST/killed.bin"
	echo "writer: status $status"
	[ "$status" -eq $((128 + 15)) ]
	wait_until 10 state_is killed.bin incomplete
	pending_field killed.bin 7 | grep -q "killed by signal 15"
	[ "$(srv_bs "$ITEM" ORIGINAL killed.bin)" = "[]" ]
	# and it stays so: a plain retry does not send it
	bounded sh -c 'echo retry >"$1"' sh "$MNT/.dspacefs-status"
	sleep 1
	[ "$(srv_bs "$ITEM" ORIGINAL killed.bin)" = "[]" ]
	[ -s "$(pending_spool killed.bin)" ]
	bounded sh -c 'echo "forget $1" >"$2"' sh "$(pending_field killed.bin 1)" "$MNT/.dspacefs-status"
}

@test "Ctrl-C on cp of a large file to a slow server publishes nothing and keeps the spool incomplete" {
	head -c $((48 * 1024 * 1024)) /dev/urandom >"$T/large.bin"
	bounded ls "$DST" >/dev/null
	fake_control POST /config -d '{"latency_ms": 4000}' >/dev/null
	run timeout -s INT 2 cp "$T/large.bin" "$DST/large.bin"
	echo "cp: status $status"
	[ "$status" -eq 124 ]
	wait_until 20 state_is large.bin incomplete
	pending_field large.bin 7 | grep -q "killed"
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null
	# the stream's POST (if it got through) was removed again
	wait_until 20 not_on_server large.bin
	[ -s "$(pending_spool large.bin)" ]
	grep -E "large.bin: the writer was killed" "$FS_LOG" >&3
}
