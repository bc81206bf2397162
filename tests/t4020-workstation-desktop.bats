#!/usr/bin/env bats
# Desktop tools through the mount: gio copy, move and remove work; gio
# trash finds no trash directory (creating .Trash-UID is refused with
# EPERM, which GIO reports as "not supported", so that file managers
# offer to delete instead) and leaves the file alone; df reports the disk
# that holds the cache and the spool, not an invented size.

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
	command -v gio >/dev/null || {
		echo "gio (libglib2.0-bin) is required" >&2
		return 1
	}
}

teardown() {
	test_teardown
}

@test "gio copy, gio move and gio remove work through the mount" {
	printf 'copied by gio\n' >"$T/g.txt"
	bounded gio copy "$T/g.txt" "$DST/gio-copy.txt"
	srv_check "$ITEM" ORIGINAL gio-copy.txt "$T/g.txt"
	bounded gio move "$DST/gio-copy.txt" "$DST/gio-moved.txt"
	srv_check "$ITEM" ORIGINAL gio-moved.txt "$T/g.txt"
	[ "$(srv_bs "$ITEM" ORIGINAL gio-copy.txt)" = "[]" ]
	bounded gio copy "$DST/gio-moved.txt" "$T/back.txt"
	cmp "$T/back.txt" "$T/g.txt"
	bounded gio remove "$DST/gio-moved.txt"
	[ "$(srv_bs "$ITEM" ORIGINAL gio-moved.txt)" = "[]" ]
	! [ -e "$DST/gio-moved.txt" ] || false
}

@test "gio trash reports no trash directory at once, keeps the file and creates nothing" {
	printf 'keep me\n' >"$T/k.txt"
	bounded cp "$T/k.txt" "$DST/keep.txt"
	m=$(log_mark)
	run bounded gio trash "$DST/keep.txt"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ $output == *"Unable to find or create trash directory"* ]]
	srv_check "$ITEM" ORIGINAL keep.txt "$T/k.txt"
	! [ -e "$MNT/.Trash-$(id -u)" ] || false
	! [ -e "$MNT/.Trash" ] || false
	# the probes cost the server nothing
	[ "$(reqs_since "$m" "'Trash' in r['path'] or r['method'] == 'POST'")" = 0 ]
	bounded gio remove "$DST/keep.txt"
}

@test "df shows the disk holding the cache and spool, not an invented 4 TiB" {
	read -r size avail < <(df -B1 --output=size,avail "$FS_CACHE" | tail -n 1)
	read -r msize mavail < <(df -B1 --output=size,avail "$MNT" | tail -n 1)
	echo "cache disk: $size $avail; mount: $msize $mavail"
	[ "$msize" = "$size" ]
	# free space moves with other writers on that disk: within 64 MiB
	d=$((mavail - avail))
	[ "${d#-}" -le $((64 * 1024 * 1024)) ]
	[ "$msize" != 4398046511104 ]
}

@test "df of a read-only mount shows no room" {
	MNT='' FS_PID='' FS_LOG='' FS_CACHE=''
	mount_fs -o ro 3>&-
	read -r msize mavail < <(df -B1 --output=size,avail "$MNT" | tail -n 1)
	unmount_fs
	echo "mount: $msize $mavail"
	[ "$msize" -gt 0 ]
	[ "$mavail" = 0 ]
}
