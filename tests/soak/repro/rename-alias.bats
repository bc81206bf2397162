#!/usr/bin/env bats
# After "mv a.bin b.bin" while listings of the directory are being
# refreshed (another process runs ls -l), a.bin is still there and is the
# same inode as b.bin ("mv: ... are the same file"); writing a.bin then
# replaces b.bin's content. A stale listing (fetched before the rename's
# PATCH landed) brings the old name back to the moved inode. Also on the
# code before the coherence merge. Soak symptom: a read of w1-2.bin returns
# "exactly w1v165, which was written to w1-0.bin (another name!)".
load common

setup() { repro_setup -o cache_ttl=1; }
teardown() {
	[ -z "${L:-}" ] || kill "$L" 2>/dev/null || true
	unmount_fs
	fake_stop
}

@test "after mv a b (listings refreshed meanwhile) a is gone and writing a never changes b" {
	(while :; do ls -l "$D" >/dev/null 2>&1; done) &
	L=$!
	bad=0
	for i in $(seq 1 30); do
		head -c 20000 /dev/urandom >"$D/a.bin"
		mv "$D/a.bin" "$D/b.bin" 2>/dev/null || continue
		cp "$D/b.bin" "$BATS_TEST_TMPDIR/b" 2>/dev/null || continue
		if [ -e "$D/a.bin" ]; then
			echo other >"$D/a.bin"
			if ! cmp -s "$D/b.bin" "$BATS_TEST_TMPDIR/b"; then
				echo "round $i: a.bin survived mv a b, and writing it changed b.bin" >&3
				bad=1
			fi
			rm -f "$D/a.bin"
		fi
	done
	kill "$L"
	L=
	[ "$bad" = 0 ]
}
