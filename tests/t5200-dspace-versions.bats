#!/usr/bin/env bats
# Server versions and behaviours a real DSpace has (issue 9): DSpace 10's
# content replace (PUT bitstreams/{uuid}/content) with and without
# replace-bitstream.enabled, a 400 that is not the size refusal, and a JWT
# that would expire while an upload's body is on the way (contract §13).
# Each test starts its own server: they differ in version and switches.

load helpers
load mount

setup() {
	ITEM="Thesis With Empty Bundle"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# start VERSION [fake_start args...]: a server of that version and a mount.
start() {
	local v=$1
	shift
	fake_start --fixture small --dspace-version "$v" "$@"
	fresh_mount
	DST="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	ls "$DST" >/dev/null
}

# stop: the test's mount and server (to start another version).
stop() {
	unmount_fs
	fake_stop
}

# puts MARK: content PUTs in the request log from line MARK on.
puts() {
	reqs_since "$1" "r['method'] == 'PUT' and r['path'].endswith('/content')"
}

# bs_meta UUID FIELD: the first value of FIELD of bitstream UUID (or "").
bs_meta() {
	fx "(one('bitstream', uuid='$1')['metadata'].get('$2') or [{'value': ''}])[0]['value']"
}

@test "DSpace 10 with replace-bitstream on: an overwrite is one PUT, new UUID, metadata kept, right MD5" {
	start 10.0 --replace-bitstream
	head -c 300000 /dev/urandom >"$T/a.bin"
	head -c 200000 /dev/urandom >"$T/b.bin"
	bounded cp "$T/a.bin" "$DST/data.bin"
	old=$(srv_uuid "$ITEM" ORIGINAL data.bin)
	# a description set on the server must survive the overwrite
	fake_login admin@example.org admin
	api_as PATCH "/core/bitstreams/$old" -H 'Content-Type: application/json' \
		--data '[{"op": "add", "path": "/metadata/dc.description", "value": [{"value": "kept"}]}]'
	[ "$STATUS" = 200 ]
	m=$(log_mark)
	bounded cp "$T/b.bin" "$DST/data.bin"
	[ "$(puts "$m")" = 1 ]
	[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')")" = 0 ]
	srv_check "$ITEM" ORIGINAL data.bin "$T/b.bin"
	new=$(srv_uuid "$ITEM" ORIGINAL data.bin)
	[ "$new" != "$old" ]
	[ "$(bs_meta "$new" dc.description)" = kept ]
	[ "$(bs_meta "$new" dspace.bitstream.isReplacementOf)" = "$old" ]
	bounded cmp "$DST/data.bin" "$T/b.bin"
}

@test "DSpace 10 with replace-bitstream off: one 400, then create-then-delete for this and later overwrites" {
	start 10.0
	for n in 1 2 3; do
		head -c $((100000 * n)) /dev/urandom >"$T/$n.bin"
	done
	bounded cp "$T/1.bin" "$DST/data.bin"
	m=$(log_mark)
	bounded cp "$T/2.bin" "$DST/data.bin"
	srv_check "$ITEM" ORIGINAL data.bin "$T/2.bin"
	bounded cp "$T/3.bin" "$DST/data.bin"
	srv_check "$ITEM" ORIGINAL data.bin "$T/3.bin"
	[ "$(puts "$m")" = 1 ]
	[ "$(reqs_since "$m" "r['method'] == 'PUT' and r['status'] == 400")" = 1 ]
	[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')")" = 2 ]
	bounded cmp "$DST/data.bin" "$T/3.bin"
	! grep -q "File too large\|multipart limit" "$FS_LOG" || false
}

@test "before DSpace 10 an overwrite never tries PUT" {
	for v in 7.6 8.1 9.1; do
		start "$v"
		head -c 100000 /dev/urandom >"$T/1.bin"
		head -c 120000 /dev/urandom >"$T/2.bin"
		bounded cp "$T/1.bin" "$DST/data.bin"
		bounded cp "$T/2.bin" "$DST/data.bin"
		srv_check "$ITEM" ORIGINAL data.bin "$T/2.bin"
		[ "$(puts 1)" = 0 ]
		stop
	done
}

@test "a 400 that is not the size refusal is EIO, not EFBIG; the size refusal is EFBIG" {
	for v in 7.6 8.1 9.1 10.0; do
		start "$v"
		head -c 100000 /dev/urandom >"$T/x.bin"
		printf 'status=400,method=POST,path=/bitstreams\n' |
			fake_control POST /faults --data-binary @- >/dev/null
		run bounded cp "$T/x.bin" "$DST/bad.bin"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Input/output error"* ]]
		[[ "$output" != *"File too large"* ]]
		fake_control DELETE /faults >/dev/null
		fake_control POST /config --data '{"upload_max": 50000}' >/dev/null
		run bounded cp "$T/x.bin" "$DST/big.bin"
		[ "$status" -ne 0 ]
		[[ "$output" == *"File too large"* ]]
		stop
	done
}

@test "the JWT is refreshed right before an upload: a token expiring during the body does not fail it" {
	for v in 7.6 10.0; do
		start "$v" --jwt-lifetime 8
		head -c 200000 /dev/urandom >"$T/p1"
		head -c 200000 /dev/urandom >"$T/p2"
		cat "$T/p1" "$T/p2" >"$T/all"
		# about 3 s of the login token are left when the upload starts,
		# and its body takes 4 s (written slowly, streamed as it comes)
		sleep 5
		m=$(log_mark)
		bounded "$FAKE_PYTHON" -S -c '
import sys, time
with open(sys.argv[3], "wb") as out:
    out.write(open(sys.argv[1], "rb").read())
    out.flush()
    time.sleep(4)
    out.write(open(sys.argv[2], "rb").read())
' "$T/p1" "$T/p2" "$DST/slow.bin"
		srv_check "$ITEM" ORIGINAL slow.bin "$T/all"
		[ "$(reqs_since "$m" "r['status'] == 401")" = 0 ]
		[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')")" = 1 ]
		stop
	done
}

@test "after rsync's temp-name rename the format matches the final name (server and user.mime_type)" {
	for v in 7.6 10.0; do
		start "$v"
		mkdir -p "$T/src"
		printf 'a,b\n1,2\n' >"$T/src/t5200.csv"
		bounded rsync -a "$T/src/" "$DST/"
		[ "$(fx "one('bitstream', name='t5200.csv')['mimetype']")" = text/csv ]
		[ "$(bounded getfattr --only-values -n user.mime_type "$DST/t5200.csv")" = text/csv ]
		# and back to "Unknown" for a name the registry does not know
		bounded mv "$DST/t5200.csv" "$DST/t5200.zzq"
		[ "$(fx "one('bitstream', name='t5200.zzq')['mimetype']")" = application/octet-stream ]
		[ "$(reqs_since 1 "r['method'] == 'GET' and r['path'].endswith('/bitstreamformats')")" = 1 ]
		stop
	done
}

# mount_b: a second mount of the same server with a cache of its own
# ("another workstation"); its variables in MNT_B, DST_B.
mount_b() {
	local a_mnt=$MNT a_pid=$FS_PID a_cache=$FS_CACHE a_log=$FS_LOG
	fresh_mount
	MNT_B=$MNT PID_B=$FS_PID
	DST_B="$MNT_B/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	MNT=$a_mnt FS_PID=$a_pid FS_CACHE=$a_cache FS_LOG=$a_log
}

# unmount_b: the mount of mount_b.
unmount_b() {
	local a_mnt=$MNT a_pid=$FS_PID
	MNT=$MNT_B FS_PID=$PID_B
	unmount_fs
	MNT=$a_mnt FS_PID=$a_pid
}

@test "rsync -a twice through two mounts with separate caches: the second transfers nothing" {
	for v in 7.6 10.0; do
		start "$v"
		mkdir -p "$T/src"
		for n in 1 2 3; do
			head -c $((20000 * n)) /dev/urandom >"$T/src/t5200-$n.bin"
			touch -d "2021-0$n-0$n 10:11:12.123456789" "$T/src/t5200-$n.bin"
		done
		bounded rsync -a "$T/src/" "$DST/"
		mount_b
		m=$(log_mark)
		run bounded rsync -ai "$T/src/" "$DST_B/"
		[ "$status" -eq 0 ]
		[ -z "$(printf '%s\n' "$output" | grep -v '^\.d')" ] || { echo "$output" >&2; false; }
		[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')")" = 0 ]
		[ "$(stat -c %y "$DST_B/t5200-2.bin")" = "$(stat -c %y "$T/src/t5200-2.bin")" ]
		unmount_b
		stop
	done
}

@test "touch -d a time, remount with a fresh cache: stat shows it; a refused write keeps it locally" {
	start 9.1
	printf 'x\n' >"$T/f"
	bounded cp "$T/f" "$DST/t5200-touched.txt"
	bounded touch -d "2019-05-06 07:08:09.5" "$DST/t5200-touched.txt"
	want=$(stat -c %Y.%y "$DST/t5200-touched.txt")
	[[ "$want" == *"2019-05-06 07:08:09.500000000"* ]]
	unmount_fs
	fresh_mount
	DST="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	[ "$(stat -c %Y.%y "$DST/t5200-touched.txt")" = "$want" ]
	# the server refuses the metadata write: the time still shows here
	printf 'status=403,method=PATCH,path=/core/bitstreams/\n' |
		fake_control POST /faults --data-binary @- >/dev/null
	bounded touch -d "2018-01-01 00:00:00" "$DST/t5200-touched.txt"
	[ "$(stat -c %Y "$DST/t5200-touched.txt")" = "$(date -d '2018-01-01 00:00:00' +%s)" ]
	fake_control DELETE /faults >/dev/null
}
