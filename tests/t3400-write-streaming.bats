#!/usr/bin/env bats
# A new file written in order from offset 0 is uploaded while it is being
# written: the POST (chunked) starts at the first write, and close() only
# waits for the rest.  A writer that is not sequential gives the stream up
# and the file is uploaded from the spool at close, with the right content.

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

# posts MARK EXPR: upload POSTs since MARK for which EXPR holds
posts() {
	reqs_since "$1" "r['method'] == 'POST' and r['path'].endswith('/bitstreams') and ($2)"
}

# slow_write SRC DST TIMES: copies SRC to DST in 256 KiB writes, 20 ms
# apart; writes the wall-clock time just before close() to TIMES.
slow_write() {
	bounded python3 -c '
import os, sys, time
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(256 * 1024)
    if not b:
        break
    os.write(fd, b)
    time.sleep(0.02)
with open(sys.argv[3], "w") as t:
    t.write("%.3f\n" % time.time())
os.close(fd)
' "$1" "$2" "$3"
}

# remount_check NAME FILE: after a remount with an empty cache, NAME in the
# bundle reads back equal to FILE.
remount_check() {
	unmount_fs
	fresh_mount 3>&-
	save_mount
	DST="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	bounded cmp "$DST/$1" "$2"
}

@test "a slowly written file is uploaded while it is written: one chunked POST that starts well before close" {
	head -c $((16 * 1024 * 1024 + 4321)) /dev/urandom >"$T/slow.bin"
	bounded ls "$DST" >/dev/null
	m=$(log_mark)
	slow_write "$T/slow.bin" "$DST/slow.bin" "$T/close-time"
	srv_check "$ITEM" ORIGINAL slow.bin "$T/slow.bin"
	# 65 writes 20 ms apart: >= 1.3 s of writing. The POST started at
	# the first write, i.e. at least a second before close.
	[ "$(posts "$m" True)" = 1 ]
	[ "$(posts "$m" "r['status'] == 201 and r['ts'] - r['duration_ms'] / 1000 < $(cat "$T/close-time") - 1.0")" = 1 ]
	[ "$(posts "$m" "r['req_bytes'] > 16 * 1024 * 1024")" = 1 ]
	remount_check slow.bin "$T/slow.bin"
}

@test "cp of a large file streams its upload: the POST starts before cp ends" {
	head -c $((64 * 1024 * 1024)) /dev/urandom >"$T/large.bin"
	bounded ls "$DST" >/dev/null
	m=$(log_mark)
	start=$(date +%s.%N)
	bounded cp "$T/large.bin" "$DST/"
	end=$(date +%s.%N)
	srv_check "$ITEM" ORIGINAL large.bin "$T/large.bin"
	[ "$(posts "$m" True)" = 1 ]
	# the POST started in the first half of the cp (not at its close)
	# and ended before cp did
	[ "$(posts "$m" "r['status'] == 201 and r['ts'] - r['duration_ms'] / 1000 < ($start + $end) / 2 and r['ts'] <= $end + 0.01")" = 1 ]
	bounded cmp "$DST/large.bin" "$T/large.bin"
}

@test "a writer filling the second half first is uploaded from the spool with the right content" {
	head -c $((6 * 1024 * 1024 + 17)) /dev/urandom >"$T/halves.bin"
	m=$(log_mark)
	bounded python3 -c '
import os, sys
data = open(sys.argv[1], "rb").read()
h = len(data) // 2
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, data[h:], h)
os.pwrite(fd, data[:h], 0)
os.close(fd)
' "$T/halves.bin" "$DST/halves.bin"
	srv_check "$ITEM" ORIGINAL halves.bin "$T/halves.bin"
	[ "$(posts "$m" "r['status'] == 201")" = 1 ]
	remount_check halves.bin "$T/halves.bin"
}

@test "a writer going back over bytes already streamed falls back to the spool upload" {
	head -c $((8 * 1024 * 1024)) /dev/urandom >"$T/back.bin"
	m=$(log_mark)
	bounded python3 -c '
import os, sys, time
data = open(sys.argv[1], "rb").read()
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.pwrite(fd, b"x" * (4 << 20), 0)    # streamed at once...
time.sleep(1.5)
os.pwrite(fd, data[:4 << 20], 0)      # ...then rewritten
os.pwrite(fd, data[4 << 20:], 4 << 20)
os.close(fd)
' "$T/back.bin" "$DST/back.bin"
	srv_check "$ITEM" ORIGINAL back.bin "$T/back.bin"
	# the streamed attempt was given up: it created nothing
	[ "$(posts "$m" "r['status'] == 201")" = 1 ]
	[ "$(posts "$m" True)" = 2 ]
	grep -q 'not streamed (the file is not written in order)' "$FS_LOG"
	remount_check back.bin "$T/back.bin"
}

@test "nothing is left pending after these uploads" {
	no_pending slow.bin
	no_pending large.bin
	no_pending halves.bin
	no_pending back.bin
}
