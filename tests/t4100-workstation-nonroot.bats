#!/usr/bin/env bats
# The mount as a workstation user has it: an ordinary (system) user mounts
# through the setuid fusermount3, browses, reads a file, uploads one, reads
# the status file and unmounts, all without root. /dev/fuse is 0600 in this
# sandbox: as t0200 does, each test runs in a private mount namespace where
# a 0666 device node is bound over /dev/fuse (as Debian ships it).
#
# Needs root to set that up (unshare, useradd); fails under CI=true
# otherwise.

load helpers
load mount

setup_file() {
	user_suite_setup dspacefs-nonroot
}

teardown_file() {
	user_suite_teardown
}

setup() {
	restore_mount
	require_root
	require_fuse
	id "$TEST_USER" >/dev/null 2>&1 || useradd --system --no-create-home "$TEST_USER"
	rm -rf "$INST/mnt" "$INST/cache" "$INST/work"
	mkdir -p "$INST/mnt" "$INST/cache" "$INST/work"
	cp "$DSPACEFS" "$INST/dspacefs"
	chmod 755 "$INST/dspacefs"
	chown "$TEST_USER" "$INST/mnt" "$INST/cache" "$INST/work"
	chmod 700 "$INST/cache"
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ]; then
		echo "--- $INST/ns.log:" >&2
		cat "$INST/ns.log" >&2 2>/dev/null || true
	fi
	test_teardown
}

# as_user SCRIPT: runs SCRIPT with bash as $TEST_USER in a private mount
# namespace with a 0666 /dev/fuse; MNT, CACHE, WORK, URL and DSPACEFS are
# set for it. Output in $INST/ns.log.
as_user() {
	unshare -m --propagation private bash -c '
		set -u
		fuse_dev_0666 "$0"
		runuser -u "$1" -- env -i PATH=/usr/bin:/bin HOME="$0/work" \
			MNT="$0/mnt" CACHE="$0/cache" WORK="$0/work" URL="$2" \
			DSPACEFS="$0/dspacefs" DSPACEFS_PASSWORD=admin \
			timeout 120 bash -euc "$3"
	' "$INST" "$TEST_USER" "$FAKE_URL" "$1" >"$INST/ns.log" 2>&1
}

# The user's steps: mount (foreground daemon), wait for it, run $1,
# unmount with fusermount3 -u, and wait for the daemon to exit.
user_session() {
	as_user '
		"$DSPACEFS" -f -o cache_dir="$CACHE" -o user=admin@example.org \
			"$URL" "$MNT" 2>"$WORK/fs.log" &
		pid=$!
		for i in $(seq 100); do
			mountpoint -q "$MNT" && break
			sleep 0.2
		done
		mountpoint -q "$MNT"
		'"$1"'
		fusermount3 -u "$MNT"
		wait "$pid"
		echo "daemon exited $?"
	'
}

@test "an ordinary user mounts through fusermount3, browses, reads, uploads and unmounts" {
	u=$(fx "one('bitstream', name='notes.txt')['uuid']")
	rel=$(MNT='' fx_path "$u")
	rel=${rel#/}
	[ -n "$rel" ]
	cp "$FAKE_STATE/content/$u" "$INST/expected-notes.txt"
	chmod 644 "$INST/expected-notes.txt"
	printf 'written by an ordinary user\n' >"$INST/upload.txt"
	chmod 644 "$INST/upload.txt"
	item="Thesis With Empty Bundle"
	run user_session '
		id -u
		ls "$MNT" >"$WORK/root.ls"
		ls -lR "$MNT/Research Data" >"$WORK/lsR"
		cmp "$MNT/'"$rel"'" "'"$INST"'/expected-notes.txt"
		cp "'"$INST"'/upload.txt" "$MNT/Research Data/Physics/Physics Theses/'"$item"'/ORIGINAL/by-user.txt"
		cat "$MNT/.dspacefs-status" >"$WORK/status"
		stat -c "%u %a" "$MNT/.dspacefs-status" >"$WORK/status.stat"
		grep -q "fuse.dspacefs\|fuse " /proc/self/mounts
	'
	cat "$INST/ns.log"
	[ "$status" = 0 ]
	grep -qx "daemon exited 0" "$INST/ns.log"
	uid=$(id -u "$TEST_USER")
	grep -qx "$uid" "$INST/ns.log"
	[ -s "$INST/work/root.ls" ]
	grep -qx "Research Data" "$INST/work/root.ls"
	grep -q "^# session: logged in as admin@example.org" "$INST/work/status"
	[ "$(cat "$INST/work/status.stat")" = "$uid 600" ]
	srv_check "$item" ORIGINAL by-user.txt "$INST/upload.txt"
	# everything the daemon made is the user's
	[ -z "$(find "$INST/cache" ! -user "$TEST_USER")" ]
	# and nothing is left mounted
	! grep -q " $INST/mnt " /proc/mounts || false
}
