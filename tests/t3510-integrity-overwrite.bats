#!/usr/bin/env bats
# Readers never see a mix of two versions of a file (issue 7, defect 2).
# A reader holding a file open while it is replaced (cp over it, shell
# truncation, a new bitstream on the server) gets "Stale file handle" and
# never old bytes; every later cat/md5sum gives exactly the new content,
# also for files larger than the kernel's readahead window.

load helpers
load mount

setup_file() {
	fake_start --fixture small
	# a short listing TTL (also the kernel's entry/attribute timeout), so
	# that a change on the server is seen within seconds
	mount_fs -o cache_ttl=2 3>&-
	save_mount
}

teardown_file() {
	restore_mount
	unmount_fs
	fake_stop
}

setup() {
	restore_mount
	ITEM="Thesis With Empty Bundle"
	DIR="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	exec 5<&- || true
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		echo "--- daemon log ($FS_LOG):" >&2
		tail -n 30 "$FS_LOG" >&2 || true
	fi
}

# md5 FILE: the MD5 of FILE (read with a time limit).
md5() {
	bounded md5sum <"$1" | cut -d' ' -f1
}

# old_fd_stale MIB: reading 1 MiB at offset MIB MiB through fd 5 (opened
# on the old version) fails with "Stale file handle" and delivers no byte.
old_fd_stale() {
	bounded "${FAKE_PYTHON:-python3}" -S -c '
import errno, os, sys
try:
    os.lseek(5, int(sys.argv[1]) << 20, os.SEEK_SET)
    d = os.read(5, 1 << 20)
except OSError as e:
    if e.errno == errno.ESTALE:
        sys.exit(0)
    sys.exit("read through the old fd failed otherwise: %s" % e)
sys.exit("read through the old fd gave %d bytes" % len(d))
' "$1"
}

# old_fd_nothing MIB: like old_fd_stale, but end of file is right too (the
# kernel answers reads past a size it knows to be 0 by itself).
old_fd_nothing() {
	bounded "${FAKE_PYTHON:-python3}" -S -c '
import errno, os, sys
try:
    os.lseek(5, int(sys.argv[1]) << 20, os.SEEK_SET)
    d = os.read(5, 1 << 20)
except OSError as e:
    sys.exit(0 if e.errno == errno.ESTALE else "read failed: %s" % e)
sys.exit(0 if not d else "read through the old fd gave %d bytes" % len(d))
' "$1"
}

# new_everywhere FILE WANT: md5sum, cat and dd through the mount give WANT,
# several times over (a mix would show after the first read refills).
new_everywhere() {
	local i
	for i in 1 2 3 4 5; do
		[ "$(md5 "$1")" = "$2" ] || {
			echo "md5sum #$i: $(md5 "$1"), want $2" >&2
			return 1
		}
		[ "$(bounded cat "$1" | md5sum | cut -d' ' -f1)" = "$2" ] || return 1
		[ "$(bounded dd if="$1" bs=64k status=none | md5sum | cut -d' ' -f1)" = "$2" ] || return 1
	done
}

# holds FILE V1: opens fd 5 on FILE (which holds V1) and reads its first
# MiB through it, so that its pages and blocks are cached.
hold_old() {
	[ "$(md5 "$1")" = "$(md5sum <"$2" | cut -d' ' -f1)" ]
	exec 5<"$1"
	bounded dd bs=1M count=1 status=none of=/dev/null <&5
}

@test "cp over a file: the old reader gets ESTALE, every later read gives the new MD5" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 5M /dev/urandom >"$T/v2"
	f="$DIR/over.bin"
	bounded cp "$T/v1" "$f"
	hold_old "$f" "$T/v1"
	bounded cp "$T/v2" "$f"
	want=$(md5sum <"$T/v2" | cut -d' ' -f1)
	srv_check "$ITEM" ORIGINAL over.bin "$T/v2"
	old_fd_stale 1
	new_everywhere "$f" "$want"
	# the old reader keeps failing, and never spoils what others read
	old_fd_stale 2
	old_fd_stale 0
	new_everywhere "$f" "$want"
	exec 5<&-
	cmp "$T/v2" "$f"
}

@test "shell truncation then write: the old reader gets ESTALE, every later read gives the new MD5" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 3M /dev/urandom >"$T/v2"
	head -c 123457 /dev/urandom >>"$T/v2"
	f="$DIR/trunc.bin"
	bounded cp "$T/v1" "$f"
	hold_old "$f" "$T/v1"
	bounded bash -c 'cat "$1" >"$2"' _ "$T/v2" "$f"
	want=$(md5sum <"$T/v2" | cut -d' ' -f1)
	srv_check "$ITEM" ORIGINAL trunc.bin "$T/v2"
	old_fd_stale 1
	new_everywhere "$f" "$want"
	old_fd_stale 3
	[ "$(stat -c %s "$f")" = "$(stat -c %s "$T/v2")" ]
	new_everywhere "$f" "$want"
	exec 5<&-
}

@test "truncate to empty, then append: readers see the empty file, then the new content" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 4M /dev/urandom >"$T/v2"
	f="$DIR/append.bin"
	bounded cp "$T/v1" "$f"
	hold_old "$f" "$T/v1"
	bounded bash -c ': >"$1"' _ "$f"
	old_fd_nothing 1
	[ "$(stat -c %s "$f")" = 0 ]
	[ -z "$(bounded cat "$f")" ]
	bounded bash -c 'cat "$1" >>"$2"' _ "$T/v2" "$f"
	old_fd_stale 2
	new_everywhere "$f" "$(md5sum <"$T/v2" | cut -d' ' -f1)"
	exec 5<&-
}

@test "a bitstream replaced on the server: after the TTL the old reader gets ESTALE and reads give the new MD5" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 5M /dev/urandom >"$T/v2"
	head -c 7 /dev/urandom >>"$T/v2"
	f="$DIR/server.bin"
	bounded cp "$T/v1" "$f"
	hold_old "$f" "$T/v1"
	old=$(srv_uuid "$ITEM" ORIGINAL server.bin)
	b=$(fx "[x['uuid'] for x in kids(one('item', name='$ITEM')['uuid'], 'bundle') if x['name'] == 'ORIGINAL'][0]")
	# a new bitstream of the same name, then the old one deleted: how
	# DSpace 7-9 replace content (contract §12: there is no content PUT)
	fake_login admin@example.org admin
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$T/v2" \
		-F 'properties={"name":"server.bin"};type=application/json'
	[ "$STATUS" = 201 ]
	api_as DELETE "/core/bitstreams/$old"
	[ "$STATUS" = 204 ]
	srv_check "$ITEM" ORIGINAL server.bin "$T/v2"
	want=$(md5sum <"$T/v2" | cut -d' ' -f1)
	sleep 3
	# the next look at the directory refreshes its listing
	bounded ls -l "$DIR" >/dev/null
	new_everywhere "$f" "$want"
	old_fd_stale 1
	old_fd_stale 4
	new_everywhere "$f" "$want"
	exec 5<&-
}

@test "an old reader that keeps reading does not spoil what later readers get" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 5M /dev/urandom >"$T/v2"
	f="$DIR/spoil.bin"
	bounded cp "$T/v1" "$f"
	hold_old "$f" "$T/v1"
	bounded cp "$T/v2" "$f"
	# the old reader reads on to the end, whatever it gets
	bounded "${FAKE_PYTHON:-python3}" -S -c '
import os
off = 1 << 20
while off < 5 << 20:
    try:
        os.lseek(5, off, os.SEEK_SET)
        os.read(5, 1 << 20)
    except OSError:
        pass
    off += 1 << 20
'
	new_everywhere "$f" "$(md5sum <"$T/v2" | cut -d' ' -f1)"
	exec 5<&-
	new_everywhere "$f" "$(md5sum <"$T/v2" | cut -d' ' -f1)"
}

@test "mv over a file: a reader of the replaced file gets ESTALE, the name gives the moved content" {
	head -c 5M /dev/urandom >"$T/v1"
	head -c 2M /dev/urandom >"$T/v2"
	bounded cp "$T/v1" "$DIR/target.bin"
	bounded cp "$T/v2" "$DIR/source.bin"
	hold_old "$DIR/target.bin" "$T/v1"
	bounded mv "$DIR/source.bin" "$DIR/target.bin"
	old_fd_stale 1
	new_everywhere "$DIR/target.bin" "$(md5sum <"$T/v2" | cut -d' ' -f1)"
	[ ! -e "$DIR/source.bin" ]
	exec 5<&-
}

@test "directories made or renamed through the mount stay usable as the working directory" {
	item="$MNT/Research Data/Physics/Physics Theses/$ITEM"
	bounded mkdir "$item/EXTRA"
	cd "$item/EXTRA"
	head -c 1000 /dev/urandom >"$T/x"
	bounded cp "$T/x" ./x.bin
	sleep 1
	case $(readlink "/proc/$BASHPID/cwd") in
	*"(deleted)") echo "cwd shown as deleted" >&2; false ;;
	esac
	bounded mv "$item/EXTRA" "$item/EXTRA2"
	sleep 1
	case $(readlink "/proc/$BASHPID/cwd") in
	*"(deleted)") echo "cwd shown as deleted after mv" >&2; false ;;
	esac
	[ -f x.bin ]
	cd /
}
