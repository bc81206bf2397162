#!/usr/bin/env bats
# Integrity of uploads (issue 7): a file whose write failed (a full spool
# disk) never reaches the server; a full journal disk leaves no row that
# lies; a file still open when the daemon was killed is "incomplete" and a
# plain "retry" does not publish it; a POST cut short by a kill -9 is not
# sent twice, nor kept beside a file renamed over its name while the
# start-up check runs or after it gave up; a 401 in the middle of a
# streamed upload never puts an empty bitstream on the server. Everything
# through a real mount, with the cache directory on a small tmpfs where
# the disk must fill up.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	ITEM="Thesis With Empty Bundle"
	DST_REL="Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	T=$BATS_TEST_TMPDIR
	TMPFS=
}

teardown() {
	test_teardown --skip 'disk is full'
	fake_control DELETE /faults >/dev/null 2>&1 || true
	fake_control POST /config --data '{"latency_ms": 0, "jwt_lifetime": 1800}' >/dev/null 2>&1 || true
	if [ -n "$TMPFS" ]; then
		umount "$TMPFS" 2>/dev/null || umount -l "$TMPFS" 2>/dev/null || true
	fi
}

# small_cache MB: a tmpfs of MB megabytes as the cache directory (FS_CACHE).
# Fails under CI=true (tests run as root there), else skips, when this
# machine cannot mount one.
small_cache() {
	TMPFS=$(mktemp -d "$BATS_TEST_TMPDIR/tmpfs.XXXXXX")
	if ! mount -t tmpfs -o "size=${1}m,mode=0700" tmpfs "$TMPFS" 2>"$T/mount.err"; then
		TMPFS=
		if [ "${CI:-}" = true ]; then
			echo "cannot mount a tmpfs: $(cat "$T/mount.err")" >&2
			return 1
		fi
		skip "cannot mount a tmpfs here (not root?)"
	fi
	FS_CACHE=$TMPFS
}

# status_cmd LINE: writes LINE to MOUNT/.dspacefs-status
status_cmd() {
	bounded sh -c 'printf "%s\n" "$1" >"$2"' sh "$1" "$MNT/.dspacefs-status"
}

# ever NAME: JSON list of [size, md5, deleted] of every bitstream called
# NAME the server ever held (deleted ones too).
ever() {
	fx "[[o['size'], o['md5'], bool(o.get('deleted'))] for o in allobjs if o['type'] == 'bitstream' and o.get('name') == '$1']"
}

# created_since MARK NAME: upload POSTs since MARK answered 201 (any name:
# the request log has no names; the caller checks the server's state)
created_since() {
	reqs_since "$1" "r['method'] == 'POST' and r['path'].endswith('/bitstreams') and r['status'] == 201"
}

# slow_write SRC DST CHUNK DELAY [HOLD]: one open of DST (no dup, so no
# flush on the way), SRC written in CHUNK-byte writes DELAY s apart, then
# HOLD s more before close(). Exit status 1 when a write or close failed.
slow_write() {
	bounded "$FAKE_PYTHON" -c '
import os, sys, time
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(int(sys.argv[3]))
    if not b:
        break
    os.write(fd, b)
    time.sleep(float(sys.argv[4]))
time.sleep(float(sys.argv[5]))
os.close(fd)
' "$1" "$2" "$3" "$4" "${5:-0}"
}

# remount: mount again on the same cache (after a kill -9)
remount() {
	unmount_fs
	mount_fs 3>&-
}

@test "ENOSPC in the spool: cp fails, nothing reaches the server, the row is incomplete; plain retry skips it; forget drops it; 'retry ID' sends what there is" {
	small_cache 20
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	ls "$DST" >/dev/null
	head -c 50000000 /dev/urandom >"$T/big.bin"
	m=$(log_mark)
	run bounded cp "$T/big.bin" "$DST/full1.bin"
	[ "$status" -ne 0 ]
	[[ "$output" == *"No space left on device"* ]]
	# never published, not even for a moment (deleted ones count too)
	[ "$(ever full1.bin)" = "[]" ]
	[ "$(created_since "$m")" = 0 ]
	[ "$(pending_field /ORIGINAL/full1.bin 3)" = incomplete ]
	[[ "$(pending_field /ORIGINAL/full1.bin 7)" == *"No space left on device"* ]]
	spool=$(pending_spool /ORIGINAL/full1.bin)
	[ -s "$spool" ]
	[ "$(pending_field /ORIGINAL/full1.bin 5)" = "$(stat -c %s "$spool")" ]
	grep -q 'a write failed (No space left on device)' "$FS_LOG"
	! grep -q 'uploaded .*full1.bin' "$FS_LOG" || false

	# a plain retry does not send it
	status_cmd retry
	sleep 1
	[ "$(created_since "$m")" = 0 ]
	[ "$(pending_field /ORIGINAL/full1.bin 3)" = incomplete ]
	[ "$(ever full1.bin)" = "[]" ]

	# forget drops it and its data (the space comes back)
	id=$(pending_field /ORIGINAL/full1.bin 1)
	status_cmd "forget $id"
	wait_until 10 no_pending /ORIGINAL/full1.bin
	[ ! -e "$spool" ]

	# a second one; named, "retry ID" sends the bytes the spool holds
	run bounded cp "$T/big.bin" "$DST/full2.bin"
	[ "$status" -ne 0 ]
	[ "$(ever full2.bin)" = "[]" ]
	[ "$(pending_field /ORIGINAL/full2.bin 3)" = incomplete ]
	id=$(pending_field /ORIGINAL/full2.bin 1)
	spool=$(pending_spool /ORIGINAL/full2.bin)
	cp "$spool" "$T/partial.bin"
	status_cmd "retry $id"
	wait_until 30 no_pending /ORIGINAL/full2.bin
	grep -q "sending it as asked; its content may be incomplete" "$FS_LOG"
	srv_check "$ITEM" ORIGINAL full2.bin "$T/partial.bin"
	[ ! -e "$spool" ]
}

@test "a full journal disk leaves no row that lies: every row has its data, after a remount too, and retry finds no missing spool" {
	small_cache 12
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	ls -lR "$MNT/Research Data/Physics" >/dev/null
	printf 'hello ghost\n' >"$T/g.txt"
	# open and write while there is room; fill the disk; then close (the
	# upload, and every journal write after it, happen on a full disk)
	slow_write "$T/g.txt" "$DST/ghost.txt" 100 0 4 3>&- &
	wpid=$!
	written() { [ "$(stat -c %s "$DST/ghost.txt" 2>/dev/null)" = 12 ]; }
	wait_until 20 written
	dd if=/dev/zero of="$FS_CACHE/filler" bs=1M 2>/dev/null || true
	[ "$(df --output=avail -B1 "$FS_CACHE" | tail -n 1)" -lt 65536 ]
	# more files while the disk is full: creating them may fail
	for i in 1 2 3; do
		bounded sh -c 'printf x >"$1"' sh "$DST/ghost-$i.txt" || true
	done
	wait "$wpid" || true
	rm -f "$FS_CACHE/filler"
	# the journal catches up once it can be written
	timeout 10 cat "$MNT/.dspacefs-status" >"$T/status1"
	remount
	timeout 10 cat "$MNT/.dspacefs-status" | grep -v '^#' >"$T/status2" || true
	cat "$T/status1" "$T/status2" >&3
	# every row left has its data in the spool
	while IFS=$'\t' read -r id kind state path size sent detail; do
		[ -f "$FS_CACHE/spool/upload-$id" ] || {
			echo "row $id ($state, $path) has no data" >&2
			return 1
		}
	done <"$T/status2"
	# and a retry of each one finds its data
	while IFS=$'\t' read -r id rest; do
		status_cmd "retry $id" || true
	done <"$T/status2"
	! grep -q 'cannot open .*spool/upload-.*No such file' "$FS_LOG" || false
	# what was closed after the write reached the server exactly once
	if [ "$(srv_bs "$ITEM" ORIGINAL ghost.txt)" != "[]" ]; then
		srv_check "$ITEM" ORIGINAL ghost.txt "$T/g.txt"
	fi
}

@test "kill -9 while a writer still has the file open: after a remount the row is incomplete; a plain retry does not publish it" {
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	head -c 200000 /dev/urandom >"$T/open.bin"
	m=$(log_mark)
	slow_write "$T/open.bin" "$DST/open.bin" 50000 0.1 50 3>&- &
	wpid=$!
	written() { [ "$(stat -c %s "$DST/open.bin" 2>/dev/null)" = 200000 ]; }
	wait_until 20 written
	kill -9 "$FS_PID"
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" || true
	remount
	status_cmd retry
	sleep 2
	[ "$(ever open.bin)" = "[]" ]
	[ "$(created_since "$m")" = 0 ]
	[ "$(pending_field /ORIGINAL/open.bin 3)" = incomplete ]
	[[ "$(pending_field /ORIGINAL/open.bin 7)" == *"may be incomplete"* ]]
	[ "$(pending_field /ORIGINAL/open.bin 5)" = 200000 ]
	[ "$(pending_field /ORIGINAL/open.bin 6)" = 0 ]
	cmp "$(pending_spool /ORIGINAL/open.bin)" "$T/open.bin"
	id=$(pending_field /ORIGINAL/open.bin 1)
	status_cmd "forget $id"
	wait_until 10 no_pending /ORIGINAL/open.bin
}

@test "kill -9 during the POST, the server unreachable at the next mount: 'retry' checks first and leaves exactly one bitstream" {
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	head -c 700000 /dev/urandom >"$T/k.bin"
	md5=$(md5sum <"$T/k.bin" | cut -d' ' -f1)
	# the server stores the upload, then its answer stalls: kill meanwhile
	kill_during_post "$T/k.bin" "$DST/twice.bin"
	[ "$(fx "len(find('bitstream', name='twice.bin'))")" = 1 ]
	# the start-up check cannot list the bundle: the row stays uploading
	faults 'status=503,method=GET,path=/bitstreams'
	remount
	checked() { [[ "$(pending_field /ORIGINAL/twice.bin 7)" == *"could not be checked"* ]]; }
	wait_until 60 checked
	[ "$(pending_field /ORIGINAL/twice.bin 3)" = uploading ]
	fake_control DELETE /faults >/dev/null
	m=$(log_mark)
	status_cmd retry
	wait_until 30 no_pending /ORIGINAL/twice.bin
	[ "$(created_since "$m")" = 0 ]
	[ "$(fx "len([b for b in find('bitstream', name='twice.bin') if b['md5'] == '$md5'])")" = 1 ]
	srv_check "$ITEM" ORIGINAL twice.bin "$T/k.bin"
	bounded cmp "$DST/twice.bin" "$T/k.bin"
}

@test "kill -9 during an overwrite's POST, then a rename over that name while the start-up check runs: one live bitstream, the renamed one" {
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	head -c 300000 /dev/urandom >"$T/old.bin"
	head -c 400000 /dev/urandom >"$T/arrived.bin"
	head -c 500000 /dev/urandom >"$T/new.bin"
	bounded cp "$T/old.bin" "$DST/rc.bin"
	bounded cp "$T/new.bin" "$DST/rc-src.bin"
	srv_check "$ITEM" ORIGINAL rc.bin "$T/old.bin"
	# the overwrite is stored, its answer stalls: kill meanwhile
	kill_during_post "$T/arrived.bin" "$DST/rc.bin"
	[ "$(fx "len(find('bitstream', name='rc.bin'))")" = 2 ]
	# the start-up check's listing of the bundle answers late; a rename
	# over the name meanwhile must not leave the arrived upload live too
	faults 'stall=3,count=1,method=GET,path=/bitstreams'
	remount
	stalled() { [ "$(fault_hits)" -ge 1 ]; }
	wait_until 20 stalled
	bounded mv "$DST/rc-src.bin" "$DST/rc.bin"
	wait_until 30 no_pending /ORIGINAL/rc.bin
	sleep 1
	echo "live rc.bin: $(srv_bs "$ITEM" ORIGINAL rc.bin)" >&3
	srv_check "$ITEM" ORIGINAL rc.bin "$T/new.bin"
	[ "$(srv_bs "$ITEM" ORIGINAL rc-src.bin)" = "[]" ]
	bounded cmp "$DST/rc.bin" "$T/new.bin"
}

@test "kill -9 during the POST, the start-up check cannot ask the server, a rename over the name: 'retry' takes the arrived upload back and keeps its data" {
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	head -c 300000 /dev/urandom >"$T/k.bin"
	head -c 200000 /dev/urandom >"$T/other.bin"
	bounded cp "$T/other.bin" "$DST/ov-src.bin"
	kill_during_post "$T/k.bin" "$DST/ov.bin"
	[ "$(fx "len(find('bitstream', name='ov.bin'))")" = 1 ]
	faults 'status=503,method=GET,path=/bitstreams'
	remount
	checked() { [[ "$(pending_field /ORIGINAL/ov.bin 7)" == *"could not be checked"* ]]; }
	wait_until 60 checked
	fake_control DELETE /faults >/dev/null
	# the check gave up: changes go ahead; the row still owns its data
	bounded mv "$DST/ov-src.bin" "$DST/ov.bin"
	status_cmd retry || true
	failed() { [ "$(pending_field /ORIGINAL/ov.bin 3)" = failed ]; }
	wait_until 30 failed
	[[ "$(pending_field /ORIGINAL/ov.bin 7)" == *"taken back"* ]]
	echo "live ov.bin: $(srv_bs "$ITEM" ORIGINAL ov.bin)" >&3
	srv_check "$ITEM" ORIGINAL ov.bin "$T/other.bin"
	cmp "$(pending_spool /ORIGINAL/ov.bin)" "$T/k.bin"
	bounded cmp "$DST/ov.bin" "$T/other.bin"
}

@test "a 401 in the middle of a streamed upload: never an empty bitstream on the server, at the end exactly one with the right MD5" {
	mount_fs 3>&-
	DST="$MNT/$DST_REL"
	ls -l "$DST" >/dev/null
	head -c 600000 /dev/urandom >"$T/slow.bin"
	m=$(log_mark)
	# every token dies (a backend restart): the streamed POST goes out
	# with a dead one; the server reads the whole body as anonymous and
	# answers 401 at its end (contract: permission checked after the body)
	fake_control POST /restart >/dev/null
	slow_write "$T/slow.bin" "$DST/slow.bin" 100000 0.5
	[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams') and r['status'] == 401 and r['req_bytes'] > 600000")" -ge 1 ]
	[ "$(fx "len([o for o in allobjs if o['type'] == 'bitstream' and o.get('name') == 'slow.bin' and o['size'] == 0])")" = 0 ]
	[ "$(fx "len([o for o in allobjs if o['type'] == 'bitstream' and o.get('name') == 'slow.bin'])")" = 1 ]
	srv_check "$ITEM" ORIGINAL slow.bin "$T/slow.bin"
	no_pending /ORIGINAL/slow.bin
}
