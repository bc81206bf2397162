#!/usr/bin/env bats
# Read path integrity against a full cache disk and hostile server data
# (issue 7): a full cache filesystem, NUL / invalid UTF-8 in one object of a
# listing, missing / negative / absurd sizeBytes, and the time bound of a
# stalled read (-o timeout).

load helpers
load mount

setup() {
	fake_start --fixture small
	TMPFS=
}

teardown() {
	unmount_fs
	fake_stop
	if [ -n "${TMPFS:-}" ]; then
		umount "$TMPFS" 2>/dev/null || umount -l "$TMPFS" 2>/dev/null || true
	fi
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${FS_LOG:-}" ]; then
		echo "--- daemon log:" >&2
		tail -n 30 "$FS_LOG" >&2 || true
	fi
}

# hostile UUID KIND: the fake server damages that object in every view.
hostile() {
	fake_control POST /hostile -d "{\"$1\": \"$2\"}" >/dev/null
}

# A small tmpfs at $TMPFS (root only). Under CI=true not being able to set
# it up is a failure, elsewhere the test is skipped saying why.
small_tmpfs() {
	TMPFS=$(mktemp -d "$BATS_TEST_TMPDIR/tmpfs.XXXXXX")
	if ! mount -t tmpfs -o size="$1" tmpfs "$TMPFS" 2>/dev/null; then
		TMPFS=
		if [ "${CI:-}" = true ]; then
			echo "cannot mount a tmpfs (root needed)" >&2
			return 1
		fi
		skip "cannot mount a tmpfs here (not root): full-disk test not run"
	fi
}

# cached FILE: the content cache holds data of FILE on disk.
cached() {
	local u
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$1")
	[ "$(stat -c %b "$FS_CACHE/content/$u"-???????????????????????????????? 2>/dev/null | head -1)" -gt 0 ]
}

@test "cache disk full: LRU entries are evicted, uncached files read correctly, and the disk is used again once there is room" {
	small_tmpfs 12M
	FS_CACHE=$TMPFS/cache MNT= FS_LOG= mount_fs -o ro,cache_max=1G
	timeout 60 ls -lR "$MNT" >/dev/null
	big=$(bs_path run-0001.dat)
	mid=$(bs_path run-0002.dat)
	small=$(bs_path thesis.pdf)
	tiny=$(bs_path run-0001.dat.jpg)
	timeout 60 cmp "$mid" "$(orig "$mid")"
	cached "$mid"
	# Another program fills the cache's filesystem.
	dd if=/dev/zero of="$TMPFS/filler" bs=64k status=none 2>/dev/null || true
	[ "$(df --output=avail -B1 "$TMPFS" | tail -1)" -lt 65536 ]
	timeout 60 cmp "$big" "$(orig "$big")"
	timeout 60 cmp "$small" "$(orig "$small")"
	[ "$(timeout 60 md5sum <"$big" | cut -d' ' -f1)" = "$(md5sum <"$(orig "$big")" | cut -d' ' -f1)" ]
	grep -q "disk full: evicting" "$FS_LOG"
	! cached "$mid" || false
	grep -q "served without caching on disk" "$FS_LOG"
	grep -q "cache_max lowered" "$FS_LOG" # bounded by the 12M filesystem
	# Room again: no remount, and the next file is cached on disk.
	rm -f "$TMPFS/filler"
	timeout 60 cmp "$tiny" "$(orig "$tiny")"
	cached "$tiny"
	fs_alive
}

@test "cache disk full from the start: a file opened then is read from memory, correct bytes" {
	small_tmpfs 8M
	FS_CACHE=$TMPFS/cache MNT= FS_LOG= mount_fs -o ro
	timeout 60 ls -lR "$MNT" >/dev/null
	big=$(bs_path run-0001.dat)
	dd if=/dev/zero of="$TMPFS/filler" bs=64k status=none 2>/dev/null || true
	timeout 60 cmp "$big" "$(orig "$big")"
	fs_alive
}

# The collection listing of item $1's collection, with the item damaged.
damaged_listing() {
	local item=$1 kind=$2 col dir
	col=$(fx "one(uuid='$item')['parent']")
	fresh_mount -o ro
	dir=$(fx_path "$col")
	hostile "$item" "$kind"
	run timeout 60 ls "$dir"
	echo "ls ($kind): status $status"
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | wc -l)" -eq $(($(fx "len(kids('$col', 'item'))") - 1)) ]
	grep "$item" "$FS_LOG" | grep -q "skipped"
	for other in $(fx "' '.join(o['uuid'] for o in kids('$col', 'item') if o['uuid'] != '$item')"); do
		[ -d "$(fx_path "$other")" ] || { echo "missing $other"; false; }
	done
	fs_alive
}

@test "a NUL in one object of a discovery page: that entry is skipped and logged, the rest is listed" {
	item=$(fx "[o for o in find('item') if len(kids(o['parent'], 'item')) in range(3, 20)][0]['uuid']")
	damaged_listing "$item" nul
}

@test "invalid UTF-8 in one object of a discovery page: that entry is skipped and logged, the rest is listed" {
	item=$(fx "[o for o in find('item') if len(kids(o['parent'], 'item')) in range(3, 20)][0]['uuid']")
	damaged_listing "$item" bad-utf8
}

# Reads bitstream NAME with its sizeBytes damaged as KIND.
damaged_size() {
	local u f
	u=$(fx "one('bitstream', name='$1')['uuid']")
	hostile "$u" "$2"
	fresh_mount -o ro
	f=$(bs_path "$1")
	run stat -c %s "$f"
	echo "stat ($2): $status $output"
	[ "$status" -eq 0 ]
	[ "$output" -eq "$(stat -c %s "$FAKE_STATE/content/$u")" ]
	timeout 60 cmp "$f" "$FAKE_STATE/content/$u"
	fs_alive
}

@test "sizeBytes negative: the size is asked from the server, the file reads in full" {
	damaged_size run-0002.dat size-negative
}

@test "sizeBytes missing: the size is asked from the server, the file reads in full" {
	damaged_size thesis.pdf size-missing
}

@test "sizeBytes INT64_MAX: not believed, the real size is shown and read" {
	damaged_size run-0002.dat size-huge
}

@test "a stalled stream with -o timeout=5 fails with EIO within timeout + 2 s" {
	fresh_mount -o ro,timeout=5
	f=$(bs_path run-0002.dat)
	stat "$f" >/dev/null
	fake_control POST /faults -d 'stall=60,path=/content' >/dev/null
	start=$(date +%s%N)
	run timeout 60 cat "$f"
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "cat: status $status after $ms ms: ${output:0:200}"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	[ "$ms" -le 7000 ]
	[ "$ms" -ge 4500 ]
	fake_control DELETE /faults >/dev/null
	fs_alive
}

@test "a stream that stalls after its first bytes with -o timeout=5 fails with EIO within timeout + 2 s of the last data" {
	fresh_mount -o ro,timeout=5
	f=$(bs_path run-0001.dat)
	stat "$f" >/dev/null
	# The first /content request is served, every later one stalls.
	fake_control POST /faults -d 'stall=60,path=/content,skip=1' >/dev/null
	start=$(date +%s%N)
	run timeout 60 dd if="$f" of=/dev/null bs=64k
	ms=$((($(date +%s%N) - start) / 1000000))
	echo "dd: status $status after $ms ms: ${output:0:300}"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	# data came before the stall: the bound counts from the last of it
	[ "$(echo "$output" | grep 'records in' | cut -d+ -f1)" -gt 0 ]
	[ "$ms" -le 7000 ]
	[ "$ms" -ge 4500 ]
	fake_control DELETE /faults >/dev/null
	fs_alive
}

@test "sizeBytes missing and the server does not tell the size: stat and read fail with EIO, never an empty file; fine once it tells" {
	u=$(fx "one('bitstream', name='notes.txt')['uuid']")
	hostile "$u" size-missing
	fresh_mount -o ro
	f=$(bs_path notes.txt)
	fake_control POST /faults -d 'status=404,path=/content' >/dev/null
	run stat -c %s "$f"
	echo "stat: $status $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	run timeout 30 cat "$f"
	echo "cat: $status $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Input/output error"* ]]
	fake_control DELETE /faults >/dev/null
	[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$FAKE_STATE/content/$u")" ]
	timeout 30 cmp "$f" "$FAKE_STATE/content/$u"
	fs_alive
}
