#!/usr/bin/env bats
# Read path against a server that ignores Range (200 + whole body): every way
# of reading still gives the right bytes, and the fallback is remembered per
# file: Range is decided per response, not once for the mount (issue 11).

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small --no-range -- -o ro
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
}

teardown() {
	test_teardown
}

dd_same() {
	cmp <(timeout 60 dd if="$1" bs=4096 skip="$3" count=1 status=none) \
		<(dd if="$2" bs=4096 skip="$3" count=1 status=none)
}

@test "no Range: random-offset dd reads of the largest file are right" {
	# the server really ignores Range
	u=$(fx "one('bitstream', name='run-0001.dat')['uuid']")
	api GET "/core/bitstreams/$u/content" -H 'Range: bytes=0-9' -o /dev/null
	[ "$STATUS" = 200 ]
	f=$(bs_path run-0001.dat)
	o=$FAKE_STATE/content/$u
	size=$(stat -c %s "$o")
	last=$((size / 4096))
	for skip in 500 7 $last 0 $((last - 3)) 250 $((last + 2)); do
		dd_same "$f" "$o" "$skip" || { echo "block $skip differs"; false; }
	done
	fs_alive
}

@test "no Range: cat, cmp and tail -c of other files are right" {
	for name in run-0002.dat notes.txt thesis.pdf empty.dat; do
		f=$(bs_path "$name")
		o=$(orig "$f")
		cmp <(timeout 60 tail -c 777 "$f") <(tail -c 777 "$o")
		timeout 60 cmp "$f" "$o"
		[ "$(timeout 60 cat "$f" | md5sum | cut -d' ' -f1)" = "$(md5sum <"$o" | cut -d' ' -f1)" ]
	done
	timeout 60 cmp "$(bs_path run-0001.dat)" "$(orig "$(bs_path run-0001.dat)")"
}

@test "no Range: the fallback is per file (logged once; a file answered whole is not asked for ranges again)" {
	grep -i "range" "$FS_LOG"
	[ "$(grep -ci "ignored an HTTP Range" "$FS_LOG")" -eq 1 ]
	for name in record-001.txt record-002.txt data.csv readme.md; do
		f=$(bs_path "$name")
		timeout 60 dd if="$f" bs=4096 skip=0 count=1 status=none >/dev/null
		mark=$(log_mark)
		timeout 60 cmp "$f" "$(orig "$f")"
		timeout 60 tail -c 100 "$f" >/dev/null
		reqs_show "$mark"
		u=$(basename "$(orig "$f")")
		[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['range']")" -eq 0 ]
	done
	[ "$(grep -ci "ignored an HTTP Range" "$FS_LOG")" -eq 1 ]
	fs_alive
}

@test "Range is decided per response: once the server answers ranges again, other files are read with ranges" {
	unmount_fs
	fresh_mount -o ro 3>&-
	f=$(bs_path run-0002.dat)
	timeout 60 cmp "$f" "$(orig "$f")"
	grep -qiE "ignored an HTTP Range|ignores HTTP Range" "$FS_LOG"
	# e.g. a proxy that answered 200 from its cache; the origin serves 206
	fake_control POST /config -d '{"no_range": false}' >/dev/null
	big=$(bs_path run-0001.dat)
	u=$(basename "$(orig "$big")")
	mark=$(log_mark)
	dd_same "$big" "$(orig "$big")" 700
	dd_same "$big" "$(orig "$big")" 30
	fake_control POST /config -d '{"no_range": true}' >/dev/null
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 206")" -ge 1 ]
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 200")" -eq 0 ]
	unmount_fs
	fresh_mount -o ro 3>&-
	save_mount
}
