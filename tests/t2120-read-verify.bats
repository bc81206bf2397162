#!/usr/bin/env bats
# The MD5 check of downloaded content (issue 11): a large file read front to
# back is verified from the bytes as they arrive, so the cached copy is
# marked verified when the read ends (not by hashing the file again after
# it, which closing the file or unmounting cancelled, so that every mount
# hashed it again); a copy whose bytes do not match is not marked.

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
	DST="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# map_flags FILE.map: the flags word of a content map (bytes 20-23, LE).
map_flags() {
	od -An -tu4 -j20 -N4 "$1" | tr -d ' '
}

# The one content map of the bitstream with uuid $1 in cache dir $2.
map_of() {
	find "$2" -name "$1-*.map" | head -n 1
}

@test "a large file read front to back is verified by the time it is closed" {
	head -c $((80 * 1024 * 1024 + 5)) /dev/urandom >"$T/big.bin"
	bounded cp "$T/big.bin" "$DST/big.bin"
	unmount_fs
	fresh_mount -o ro 3>&-
	f="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL/big.bin"
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$f")
	bounded cmp "$f" "$T/big.bin"
	cache=$FS_CACHE
	old=$MNT
	# Unmount at once: nothing may be left to do after the read.
	unmount_fs
	m=$(map_of "$u" "$cache")
	[ -n "$m" ]
	echo "map $m flags $(map_flags "$m")"
	[ $(($(map_flags "$m") & 1)) -eq 1 ]
	# A remount serves it from the cache without a request.
	MNT= FS_LOG=
	FS_CACHE=$cache
	mount_fs -o ro 3>&-
	f="$MNT/${f#"$old/"}"
	mark=$(log_mark)
	bounded cmp "$f" "$T/big.bin"
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "'$u/content' in r['path']")" -eq 0 ]
	unmount_fs
	fresh_mount 3>&-
	save_mount
}

@test "a sequential read is answered from the stream's memory; the cache file written behind it holds the same bytes" {
	head -c $((24 * 1024 * 1024 + 7)) /dev/urandom >"$T/mem.bin"
	bounded cp "$T/mem.bin" "$DST/mem.bin"
	unmount_fs
	fresh_mount -o ro,log_level=debug 3>&-
	f="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL/mem.bin"
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$f")
	bounded dd if="$f" of="$T/got.bin" bs=1M status=none
	cmp "$T/got.bin" "$T/mem.bin"
	cache=$FS_CACHE
	log=$FS_LOG
	unmount_fs
	line=$(grep "bitstream $u: .* reads answered from memory" "$log")
	echo "$line"
	from_mem=$(sed -E 's/.*: ([0-9]+) reads answered from memory.*/\1/' <<<"$line")
	[ "$from_mem" -gt 0 ]
	# The copy kept for later reads is whole and right.
	m=$(map_of "$u" "$cache")
	cmp "${m%.map}" "$T/mem.bin"
	[ $(($(map_flags "$m") & 1)) -eq 1 ]
	fresh_mount 3>&-
	save_mount
}

@test "kill -9 in the middle of a sequential read: after a remount the cached part and the rest read right and are verified" {
	head -c $((40 * 1024 * 1024 + 3)) /dev/urandom >"$T/kill.bin"
	bounded cp "$T/kill.bin" "$DST/kill.bin"
	unmount_fs
	fresh_mount -o ro 3>&-
	f="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL/kill.bin"
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$f")
	# Slow answers (0.3 s each), so that the kill comes after the map of
	# what arrived was saved (every 2 s) and before the read ends.
	fake_control POST /config -d '{"latency_ms": 300}' >/dev/null
	bounded dd if="$f" of=/dev/null bs=1M status=none 3>&- &
	ddpid=$!
	got_some() { [ -n "$(map_of "$u" "$FS_CACHE")" ]; }
	wait_until 20 got_some
	kill -0 "$ddpid" # still reading
	kill -9 "$FS_PID"
	wait "$ddpid" || true
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null
	cache=$FS_CACHE
	old=$MNT
	unmount_fs
	MNT= FS_LOG=
	FS_CACHE=$cache
	mount_fs -o ro 3>&-
	f="$MNT/${f#"$old/"}"
	mark=$(log_mark)
	bounded cmp "$f" "$T/kill.bin"
	reqs_show "$mark"
	# The part the killed mount had saved is used, not fetched again.
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and (r['range'] or '').startswith('bytes=0-')")" -eq 0 ]
	unmount_fs
	m=$(map_of "$u" "$cache")
	cmp "${m%.map}" "$T/kill.bin"
	[ $(($(map_flags "$m") & 1)) -eq 1 ]
	fresh_mount 3>&-
	save_mount
}

@test "-o streams=4: a large sequential read has ranged requests in flight together, right bytes, verified" {
	head -c $((40 * 1024 * 1024 + 11)) /dev/urandom >"$T/par.bin"
	bounded cp "$T/par.bin" "$DST/par.bin"
	unmount_fs
	fresh_mount -o ro,streams=4 3>&-
	f="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL/par.bin"
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$f")
	fake_control POST /config -d '{"latency_ms": 50}' >/dev/null
	mark=$(log_mark)
	bounded cmp "$f" "$T/par.bin"
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null
	reqs_show "$mark"
	# every request was a range; some overlapped in time (each takes
	# >= 50 ms, so serial ones would end >= 50 ms apart)
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] != 206")" -eq 0 ]
	"${FAKE_PYTHON:-python3}" -S - "$FAKE_LOG" "$u" <<'PY'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1])]
rs = [r for r in rs if sys.argv[2] + "/content" in r["path"]]
iv = sorted((r["ts"] - r["duration_ms"] / 1000.0, r["ts"]) for r in rs)
over = sum(1 for a, b in zip(iv, iv[1:]) if b[0] < a[1] - 0.01)
print("requests", len(rs), "overlapping", over)
sys.exit(0 if over >= 1 else 1)
PY
	cache=$FS_CACHE
	unmount_fs
	m=$(map_of "$u" "$cache")
	[ $(($(map_flags "$m") & 1)) -eq 1 ]
	fresh_mount 3>&-
	save_mount
}

# The kernel's default read-ahead of a FUSE mount is 128 KiB: 8,192 READ
# round trips per GiB. Only root may raise it (sysfs), as these tests run.
@test "the mount reads ahead 512 KiB (READs of 512 KiB, not 128) once a file is opened" {
	[ "$(id -u)" = 0 ] || skip "needs root (sysfs read_ahead_kb)"
	f=$(find "$MNT/Research Data" -path '*/ORIGINAL/*' -type f -size +0 |
		head -n 1)
	[ -n "$f" ]
	dev=$(mountpoint -d "$MNT")
	cat "$f" >/dev/null
	ra=$(cat "/sys/class/bdi/$dev/read_ahead_kb")
	echo "bdi $dev read_ahead_kb $ra"
	[ "$ra" -eq 512 ]
}

@test "a large cached copy whose bytes no longer match its MD5 is dropped (also when the reader closed first) and read again from the server" {
	head -c $((70 * 1024 * 1024 + 3)) /dev/urandom >"$T/bad.bin"
	bounded cp "$T/bad.bin" "$DST/bad.bin"
	unmount_fs
	fresh_mount -o ro 3>&-
	f="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL/bad.bin"
	u=$(getfattr --absolute-names --only-values -n user.dspace.uuid "$f")
	bounded cmp "$f" "$T/bad.bin"
	cache=$FS_CACHE
	old=$MNT
	unmount_fs
	# Damage one byte of the cached copy and forget its verdict.
	m=$(map_of "$u" "$cache")
	data=${m%.map}
	[ -f "$data" ] || data=$(find "$cache" -name "$u-*" ! -name '*.map' | head -n 1)
	printf 'X' | dd of="$data" bs=1 seek=$((33 * 1024 * 1024)) conv=notrunc 2>/dev/null
	printf '\0\0\0\0' | dd of="$m" bs=1 seek=20 conv=notrunc 2>/dev/null
	MNT= FS_LOG=
	FS_CACHE=$cache
	mount_fs -o ro 3>&-
	f="$MNT/${f#"$old/"}"
	# The reader closes at once; the check still finds the damage.
	bounded head -c 4096 "$f" >/dev/null
	wait_until 30 grep -q "does not match its MD5" "$FS_LOG"
	mark=$(log_mark)
	bounded cmp "$f" "$T/bad.bin"
	[ "$(reqs_since "$mark" "'$u/content' in r['path']")" -ge 1 ]
	unmount_fs
	fresh_mount 3>&-
	save_mount
}
