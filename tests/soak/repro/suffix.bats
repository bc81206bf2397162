#!/usr/bin/env bats
# Two live bitstreams with one name (which the defects in delete-fails.bats
# and duplicate retries produce) are shown as "a [uuid8].bin"; overwriting
# such a file uploads the new bitstream under the displayed name, so the
# local disambiguation suffix becomes the server-side name
# (src/fs.c begin_overwrite passes n->name, the display name, to
# upload_create; the same happens to a file whose server name is empty:
# it is shown as "untitled" and uploaded as "untitled"). Soak symptom:
# "live bitstream with a name never used: 'w2-1 [c10d43ac].bin'".
load common

setup() { repro_setup -o cache_ttl=1; }
teardown() { unmount_fs; fake_stop; }

@test "overwriting a disambiguated duplicate keeps the server name" {
	fake_login admin@example.org admin
	printf one >"$BATS_TEST_TMPDIR/a.bin"
	api_as POST "/core/bundles/$B/bitstreams" -F "file=@$BATS_TEST_TMPDIR/a.bin"
	api_as POST "/core/bundles/$B/bitstreams" -F "file=@$BATS_TEST_TMPDIR/a.bin"
	sleep 2
	n=$(ls "$D" | grep '^a \[' | head -n 1)
	[ -n "$n" ]
	echo two >"$D/$n"
	echo "server names: $(fx "sorted(b['name'] for b in kids('$B', 'bitstream'))")" >&3
	[ "$(fx "len([x for x in kids('$B', 'bitstream') if '[' in x['name']])")" = 0 ]
}
