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
	fresh_mount -o ro
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
	mount_fs -o ro
	f="$MNT/${f#"$old/"}"
	mark=$(log_mark)
	bounded cmp "$f" "$T/big.bin"
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "'$u/content' in r['path']")" -eq 0 ]
	unmount_fs
	fresh_mount
	save_mount
}
