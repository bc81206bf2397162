#!/usr/bin/env bats
# Failed uploads keep their data and fail close(): a wrong checksum, a size
# over the server's cap and dropped connections leave the data in the spool,
# listed in MOUNT/.dspacefs-status, from where "retry" uploads it and
# "forget ID" drops it; a killed daemon's upload that reached the server is
# found there at the next mount (more in t3520).  Transient 503s and an expiring token
# do not fail a copy at all.

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
	local rc=0
	test_teardown || rc=$?
	fake_control DELETE /faults >/dev/null 2>&1 || true
	fake_control POST /config --data '{"upload_max": 536870912, "latency_ms": 0, "jwt_lifetime": 1800}' >/dev/null 2>&1 || true
	# a test that killed or remounted the daemon leaves a working mount
	if ! fs_alive; then
		unmount_fs
		mount_fs 3>&-
		save_mount
	fi
	return $rc
}

# status_cmd LINE: writes LINE to MOUNT/.dspacefs-status
status_cmd() {
	bounded sh -c 'printf "%s\n" "$1" >"$2"' sh "$1" "$MNT/.dspacefs-status"
}

# kept SUFFIX FILE: SUFFIX is listed as pending with FILE's size, and its
# spool file holds FILE's bytes
kept() {
	local size spool
	size=$(pending_field "$1" 5) || return 1
	spool=$(pending_spool "$1")
	[ "$size" = "$(stat -c %s "$2")" ] || {
		echo "pending size $size, want $(stat -c %s "$2")" >&2
		return 1
	}
	cmp "$spool" "$2"
}

# uploads_since MARK STATUS: upload POSTs since MARK answered with STATUS
uploads_since() {
	reqs_since "$1" "r['method'] == 'POST' and r['path'].endswith('/bitstreams') and r['status'] == $2"
}

@test "a wrong checksum fails cp; the data is kept and listed; after healing, 'retry' uploads it and the line goes" {
	head -c 100000 /dev/urandom >"$T/bad.bin"
	faults 'bad-checksum,method=POST,path=/bitstreams'
	run bounded cp "$T/bad.bin" "$DST/badsum.bin"
	[ "$status" -ne 0 ]
	[ "$(fault_hits)" -ge 1 ]
	kept /ORIGINAL/badsum.bin "$T/bad.bin"
	[ "$(pending_field /ORIGINAL/badsum.bin 2)" = upload ]
	[ "$(pending_field /ORIGINAL/badsum.bin 3)" = failed ]
	path=$(pending_field /ORIGINAL/badsum.bin 4)
	path=${path#"$MNT"}
	[ "${path#/}" = "Research Data/Physics/Physics Theses/$ITEM/ORIGINAL/badsum.bin" ]
	[ -n "$(pending_field /ORIGINAL/badsum.bin 1)" ]
	[ "$(pending_field /ORIGINAL/badsum.bin 6)" = 0 ]
	[[ "$(pending_field /ORIGINAL/badsum.bin 7)" == *checksum* ]]
	fake_control DELETE /faults >/dev/null
	m=$(log_mark)
	status_cmd retry
	wait_until 30 no_pending /ORIGINAL/badsum.bin
	[ "$(uploads_since "$m" 201)" -ge 1 ]
	srv_check "$ITEM" ORIGINAL badsum.bin "$T/bad.bin"
	bounded cmp "$DST/badsum.bin" "$T/bad.bin"
}

@test "two 503s on the upload are retried and cp succeeds" {
	head -c 300000 /dev/urandom >"$T/r.bin"
	m=$(log_mark)
	faults 'status=503,count=2,method=POST,path=/bitstreams'
	bounded cp "$T/r.bin" "$DST/retried.bin"
	srv_check "$ITEM" ORIGINAL retried.bin "$T/r.bin"
	[ "$(uploads_since "$m" 503)" = 2 ]
	[ "$(uploads_since "$m" 201)" = 1 ]
	no_pending /ORIGINAL/retried.bin
	bounded cmp "$DST/retried.bin" "$T/r.bin"
}

@test "a connection reset or dropped response during upload never loses data" {
	head -c 400000 /dev/urandom >"$T/reset.bin"
	head -c 400000 /dev/urandom >"$T/drop.bin"
	faults 'reset,count=1,method=POST,path=/bitstreams'
	run bounded cp "$T/reset.bin" "$DST/reset.bin"
	echo "# reset during the upload: cp exit $status" >&3
	[ "$(fault_hits)" = 1 ]
	if [ "$status" -eq 0 ]; then
		srv_check "$ITEM" ORIGINAL reset.bin "$T/reset.bin"
		no_pending /ORIGINAL/reset.bin
	else
		kept /ORIGINAL/reset.bin "$T/reset.bin"
	fi
	# the server stores the upload, then the response breaks after 20 bytes
	faults 'drop-after=20,count=1,method=POST,path=/bitstreams'
	run bounded cp "$T/drop.bin" "$DST/drop.bin"
	echo "# response dropped after the upload: cp exit $status" >&3
	[ "$(fault_hits)" = 1 ]
	if [ "$status" -eq 0 ]; then
		md5=$(md5sum <"$T/drop.bin" | cut -d' ' -f1)
		[ "$(fx "len([b for b in find('bitstream', name='drop.bin') if b['md5'] == '$md5'])")" -ge 1 ]
		no_pending /ORIGINAL/drop.bin
		bounded cmp "$DST/drop.bin" "$T/drop.bin"
	else
		kept /ORIGINAL/drop.bin "$T/drop.bin"
	fi
}

@test "an upload over the server's size cap fails with 'File too large' and stays pending; 'forget ID' drops it" {
	fake_control POST /config --data '{"upload_max": 1048576}' >/dev/null
	head -c 2097152 /dev/urandom >"$T/big.bin"
	run bounded cp "$T/big.bin" "$DST/toobig.bin"
	[ "$status" -ne 0 ]
	[[ "$output" == *"File too large"* ]]
	kept /ORIGINAL/toobig.bin "$T/big.bin"
	[ "$(srv_bs "$ITEM" ORIGINAL toobig.bin)" = "[]" ]
	id=$(pending_field /ORIGINAL/toobig.bin 1)
	spool=$(pending_spool /ORIGINAL/toobig.bin)
	status_cmd "forget $id"
	wait_until 10 no_pending /ORIGINAL/toobig.bin
	[ ! -e "$spool" ]
	[ "$(srv_bs "$ITEM" ORIGINAL toobig.bin)" = "[]" ]
}

@test "uploads succeed across token expiry (3 s tokens, slow server)" {
	fake_control POST /config --data '{"jwt_lifetime": 3}' >/dev/null
	m=$(log_mark)
	unmount_fs
	mount_fs 3>&-
	save_mount
	ls -l "$DST" >/dev/null
	fake_control POST /config --data '{"latency_ms": 1200}' >/dev/null
	head -c 500000 /dev/urandom >"$T/t1.bin"
	head -c 500000 /dev/urandom >"$T/t2.bin"
	bounded cp "$T/t1.bin" "$DST/token1.bin"
	sleep 3.2
	bounded cp "$T/t2.bin" "$DST/token2.bin"
	fake_control POST /config --data '{"latency_ms": 0}' >/dev/null
	srv_check "$ITEM" ORIGINAL token1.bin "$T/t1.bin"
	srv_check "$ITEM" ORIGINAL token2.bin "$T/t2.bin"
	# the token did expire on the way: a refresh or a second login happened
	[ "$(reqs_since "$m" "r['path'].endswith('/authn/login')")" -ge 2 ]
	bounded cmp "$DST/token2.bin" "$T/t2.bin"
}

@test "kill -9 while the server answers an upload it stored: after a remount the start-up check finds it; no second copy" {
	head -c 600000 /dev/urandom >"$T/k.bin"
	kill_during_post "$T/k.bin" "$DST/killed.bin" 20
	fake_control DELETE /faults >/dev/null
	unmount_fs
	m=$(log_mark)
	mount_fs 3>&-
	save_mount
	# the row was "uploading": the server holds name + MD5, so it is done
	wait_until 30 no_pending /ORIGINAL/killed.bin
	grep -q 'had arrived before dspacefs stopped' "$FS_LOG"
	[ "$(uploads_since "$m" 201)" = 0 ]
	srv_check "$ITEM" ORIGINAL killed.bin "$T/k.bin"
	bounded cmp "$DST/killed.bin" "$T/k.bin"
}
