#!/usr/bin/env bats
# Chaos soak (tests/soak/soak.py): parallel readers and writers through a
# real mount, overwrites while reading, renames and deletes, while the fake
# server injects 503s, resets, dropped responses, stalls, CSRF rotations and
# token deaths (short JWT lifetime), with a kill -9 of the daemon and a
# remount on the same cache directory. Then: no read ever returned wrong
# bytes, every upload is on the server exactly once or pending with its
# bytes, no duplicates, nothing incomplete published (also after a plain
# "retry"), no fd or thread leak, VmHWM within 64 MiB, a clean unmount.
#
# SOAK_SECONDS (default 100) sets the workload's length, SOAK_SEED (default
# 1) its seed; SOAK_SECONDS=0 skips the soak (reported as a skip);
# SOAK_WORKDIR keeps the operations log, the daemon's and the server's logs.

load helpers
load mount

setup() {
	# SOAK_WORKDIR (new or empty) keeps the run's logs after the test
	W=${SOAK_WORKDIR:-$BATS_TEST_TMPDIR/soak}
	SOAK_PY="$top_srcdir/tests/soak/soak.py"
}

# abort_fuse DIR: aborts the FUSE connection of the mount on DIR (frees
# every process stuck on a daemon that can no longer answer)
abort_fuse() {
	local minor
	minor=$(awk -v m="$1" '$5 == m { split($3, a, ":"); print a[2] }' /proc/self/mountinfo)
	[ -n "$minor" ] && [ -w "/sys/fs/fuse/connections/$minor/abort" ] &&
		echo 1 >"/sys/fs/fuse/connections/$minor/abort"
	return 0
}

teardown() {
	local pid
	# the driver stops what it started; this only cleans up after a
	# driver that was itself killed (timeout)
	if [ -n "${W:-}" ] && is_mounted "$W/mnt"; then
		abort_fuse "$W/mnt"
		fusermount3 -uz "$W/mnt" 2>/dev/null || true
	fi
	if [ -f "$W/pids" ]; then
		while read -r pid; do
			kill -KILL "$pid" 2>/dev/null || true
		done <"$W/pids"
	fi
}

@test "chaos soak: reads never mix versions, uploads land once or stay pending, no leaks, VmHWM <= 64 MiB" {
	local secs=${SOAK_SECONDS:-100} rss=64 st=0 out=$BATS_TEST_TMPDIR/soak.out
	[ "$secs" -gt 0 ] || skip "SOAK_SECONDS=0"
	require_fuse
	# ASan's shadow memory and quarantine make RSS meaningless
	if ldd "$DSPACEFS" 2>/dev/null | grep -q libasan; then
		rss=0
	fi
	# output to a file, not a pipe: nothing left behind can hold bats up
	timeout -k 10 $((secs + 420)) "$FAKE_PYTHON" -B "$SOAK_PY" \
		--dspacefs "$DSPACEFS" --fake "$FAKE_DSPACE_PY" \
		--python "$FAKE_PYTHON" --workdir "$W" --seconds "$secs" \
		--seed "${SOAK_SEED:-1}" --rss-limit-mib "$rss" \
		</dev/null >"$out" 2>&1 3>&- || st=$?
	sed 's/^/# /' "$out" >&3
	if [ "$st" -ne 0 ]; then
		echo "--- soak.py exit status $st; daemon log (last 40 lines):"
		tail -n 40 "$W/dspacefs.log" 2>/dev/null || true
	fi
	[ "$st" -eq 0 ]
	grep -q '^=== PASS ===' "$out"
}
