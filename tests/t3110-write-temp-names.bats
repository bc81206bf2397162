#!/usr/bin/env bats
# rsync's temporary files (".NAME.XXXXXX"): a file closed under such a name
# waits for its rename and is uploaded once, under the final name (one
# upload and no rename request per file); without a rename it is uploaded
# under the name it has after a short wait; a failed upload fails the
# rename; a crash while it waits keeps its data (README "What we
# guarantee").

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o deposit=direct
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	PT="$MNT/Research Data/Physics/Physics Theses"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	local rc=0
	test_teardown || rc=$?
	fake_control DELETE /faults >/dev/null 2>&1 || true
	# a test that killed the daemon leaves a working mount
	if ! fs_alive; then
		unmount_fs
		mount_fs -o deposit=direct 3>&-
		save_mount
	fi
	return $rc
}

# writes_since MARK METHOD: requests of METHOD since MARK that change
# something (no login)
writes_since() {
	reqs_since "$1" "r['method'] == '$2' and '/authn/' not in r['path']"
}

# status_cmd LINE: writes LINE to MOUNT/.dspacefs-status
status_cmd() {
	bounded sh -c 'printf "%s\n" "$1" >"$2"' sh "$1" "$MNT/.dspacefs-status"
}

@test "rsync -a: one request per file: each file is uploaded once under its final name with its time, no rename, no PATCH" {
	mkdir "$T/src"
	for i in 1 2 3 4 5 6; do
		head -c $((i * 7000)) /dev/urandom >"$T/src/file-$i.txt"
	done
	head -c 300000 /dev/urandom >"$T/src/big.bin"
	touch -d '2001-02-03 04:05:06 UTC' "$T/src/file-1.txt"
	bounded mkdir "$PT/Temp Names"
	m=$(log_mark)
	bounded rsync -a "$T/src/" "$PT/Temp Names/ORIGINAL/"
	reqs_show "$m"
	[ "$(writes_since "$m" POST)" = 7 ]
	# before: a PATCH for the time, a PATCH renaming rsync's temporary
	# name and (known extension) a PUT of the format, per file; now the
	# time travels in the upload's properties (contract 6.3)
	[ "$(writes_since "$m" PATCH)" = 0 ]
	[ "$(writes_since "$m" PUT)" = 0 ]
	[ "$(fx "one('bitstream', name='file-1.txt')['metadata']['dcterms.modified'][0]['value']")" = 2001-02-03T04:05:06.000000000Z ]
	! grep -E 'uploading .*/\.file-1\.txt\.' "$FS_LOG" || false
	[ "$(srv_names "Temp Names" ORIGINAL)" = '["big.bin", "file-1.txt", "file-2.txt", "file-3.txt", "file-4.txt", "file-5.txt", "file-6.txt"]' ]
	for f in "$T"/src/*; do
		srv_check "Temp Names" ORIGINAL "${f##*/}" "$f"
		bounded cmp "$PT/Temp Names/ORIGINAL/${f##*/}" "$f"
	done
	[ "$(stat -c %Y "$PT/Temp Names/ORIGINAL/file-1.txt")" = 981173106 ]
	# the server's format comes from the final name (guessed at upload)
	[ "$(fx "one('bitstream', name='file-2.txt')['format']")" != Unknown ]
	wait_until 10 no_pending /ORIGINAL/file-1.txt
	m=$(log_mark)
	run bounded rsync -a --stats "$T/src/" "$PT/Temp Names/ORIGINAL/"
	[[ "$output" == *"Number of regular files transferred: 0"* ]]
	[ "$(writes_since "$m" POST)" = 0 ]
}

@test "a temporary name closed and never renamed is uploaded under that name after a short wait" {
	echo "left behind" >"$T/x.txt"
	bounded cp "$T/x.txt" "$PT/Thesis With Empty Bundle/ORIGINAL/.x.txt.Ab12Cd"
	[ "$(pending_field /ORIGINAL/.x.txt.Ab12Cd 3)" = uploading ]
	wait_until 15 no_pending /ORIGINAL/.x.txt.Ab12Cd
	srv_check "Thesis With Empty Bundle" ORIGINAL .x.txt.Ab12Cd "$T/x.txt"
	grep -q 'no rename followed; uploading it under that name' "$FS_LOG"
}

@test "an upload that fails at the rename fails the rename and renames nothing; the data is kept, 'retry' sends it" {
	head -c 50000 /dev/urandom >"$T/r.bin"
	dst="$PT/Thesis With Empty Bundle/ORIGINAL"
	bounded cp "$T/r.bin" "$dst/.r.bin.Zz9Yy8"
	printf 'bad-checksum,count=1,method=POST,path=/bitstreams\n' |
		fake_control POST /faults --data-binary @- >/dev/null
	run bounded mv "$dst/.r.bin.Zz9Yy8" "$dst/r.bin"
	[ "$status" -ne 0 ]
	grep -q 'upload of "r.bin": the server.s checksum' "$FS_LOG"
	# like a failed close: listed in the status file (under the name it
	# had), not in the directory, nothing under the new name
	[ ! -e "$dst/r.bin" ]
	[ "$(pending_field /ORIGINAL/.r.bin.Zz9Yy8 3)" = failed ]
	[ "$(srv_bs "Thesis With Empty Bundle" ORIGINAL r.bin)" = '[]' ]
	cmp "$(pending_spool /ORIGINAL/.r.bin.Zz9Yy8)" "$T/r.bin"
	fake_control DELETE /faults >/dev/null
	status_cmd retry
	wait_until 20 no_pending /ORIGINAL/.r.bin.Zz9Yy8
	srv_check "Thesis With Empty Bundle" ORIGINAL .r.bin.Zz9Yy8 "$T/r.bin"
	bounded mv "$dst/.r.bin.Zz9Yy8" "$dst/r.bin"
	srv_check "Thesis With Empty Bundle" ORIGINAL r.bin "$T/r.bin"
}

@test "kill -9 while a closed temporary file waits for its rename: after a remount it is listed with its data, 'retry' sends it" {
	head -c 80000 /dev/urandom >"$T/k.bin"
	dst="$PT/Thesis With Empty Bundle/ORIGINAL"
	bounded cp "$T/k.bin" "$dst/.k.bin.Qq1Ww2"
	kill -9 "$FS_PID"
	unmount_fs
	m=$(log_mark)
	mount_fs -o deposit=direct 3>&-
	save_mount
	# closed, so not "incomplete": the start-up check finds it missing
	st() { [ "$(pending_field /ORIGINAL/.k.bin.Qq1Ww2 3)" = failed ]; }
	wait_until 20 st
	cmp "$(pending_spool /ORIGINAL/.k.bin.Qq1Ww2)" "$T/k.bin"
	[ "$(writes_since "$m" POST)" = 0 ]
	status_cmd retry
	wait_until 20 no_pending /ORIGINAL/.k.bin.Qq1Ww2
	srv_check "Thesis With Empty Bundle" ORIGINAL .k.bin.Qq1Ww2 "$T/k.bin"
}

# (last: it makes this mount send times separately from then on)
@test "a server that refuses the time inside the upload gets the upload again without it, and the time by a PATCH" {
	mkdir "$T/s2"
	head -c 30000 /dev/urandom >"$T/s2/t.dat"
	touch -d '2002-03-04 05:06:07 UTC' "$T/s2/t.dat"
	bounded mkdir "$PT/Temp Times"
	printf 'status=422,count=1,method=POST,path=/bitstreams\n' |
		fake_control POST /faults --data-binary @- >/dev/null
	m=$(log_mark)
	bounded rsync -a "$T/s2/" "$PT/Temp Times/ORIGINAL/"
	reqs_show "$m"
	srv_check "Temp Times" ORIGINAL t.dat "$T/s2/t.dat"
	[ "$(writes_since "$m" POST)" = 2 ]
	[ "$(writes_since "$m" PATCH)" = 1 ]
	[ "$(fx "one('bitstream', name='t.dat')['metadata']['dcterms.modified'][0]['value']")" = 2002-03-04T05:06:07.000000000Z ]
	grep -q "sending times separately from now on" "$FS_LOG"
}
