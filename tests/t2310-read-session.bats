#!/usr/bin/env bats
# Read path, session: a login token that expires during a long read of a
# restricted file, and DSpace 8.1 with deferred CSRF tokens.  Each test runs
# its own fake server (the flags differ).

load helpers
load mount

teardown() {
	test_teardown
}

# files_expected: regular files under $MNT for admin (mapped items count twice).
files_expected() {
	fx "sum(len([b for b in find('bitstream') if b['item'] == i['uuid']]) * (1 + len(i['mappedCollections'])) for i in find('item') if i['inArchive'] and not i['withdrawn'] and i['discoverable'])"
}

@test "JWT expiry during a long read of a restricted file: the bytes are right and the session was renewed" {
	cat >"$BATS_TEST_TMPDIR/fixture.json" <<'EOF'
{"name": "jwt", "communities": [{"name": "Vault", "collections": [{"name": "Locked",
  "items": [{"title": "Secret Data", "restricted": true, "bundles": [{"name": "ORIGINAL",
    "bitstreams": [{"name": "big.bin", "content": {"random": "jwt-big", "size": 4194304}},
                   {"name": "small.txt", "text": "restricted but small\n"}]}]}]}]}]}
EOF
	fake_start --fixture "$BATS_TEST_TMPDIR/fixture.json" --jwt-lifetime 3 --latency-ms 150
	u=$(fx "one('bitstream', name='big.bin')['uuid']")
	[ "$(fx "one('item', name='Secret Data')['restricted']")" = true ]
	# anonymous really may not read it
	api GET "/core/bitstreams/$u/content" -o /dev/null
	[ "$STATUS" = 401 ]
	fresh_mount -o ro,timeout=10
	f=$(fx_path "$u")
	o=$FAKE_STATE/content/$u
	size=$(stat -c %s "$o")
	# random reads spread over more than the token's lifetime
	for skip in 10 600 300 $((size / 4096 - 1)); do
		cmp <(timeout 60 dd if="$f" bs=4096 skip=$skip count=1 status=none) \
			<(dd if="$o" bs=4096 skip=$skip count=1 status=none)
		sleep 1.5
	done
	sleep 2
	start=$(date +%s)
	timeout 120 cmp "$f" "$o"
	echo "whole read: $(($(date +%s) - start)) s"
	timeout 30 cmp "$(dirname "$f")/small.txt" "$FAKE_STATE/content/$(fx "one('bitstream', name='small.txt')['uuid']")"
	reqs_show 1
	# the daemon logged in again (or refreshed) after the first login expired
	[ "$(reqs_since 1 "r['method'] == 'POST' and r['path'].endswith('/authn/login')")" -ge 2 ]
	# and no content request was refused for good
	[ "$(reqs_since 1 "'/content' in r['path'] and r['status'] in (200, 206)")" -ge 1 ]
	fs_alive
}

@test "DSpace 8.1 with deferred CSRF: mounts and browses as admin, restricted content reads" {
	fake_start --fixture small --csrf deferred --dspace-version 8.1
	fresh_mount -o ro
	grep -q "DSpace 8.1" "$FS_LOG"
	run timeout 120 ls -lR "$MNT"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^-r' <<<"$output")" -eq "$(files_expected)" ]
	# the admin-only item is there, and the restricted file reads
	[ -d "$(fx_path "$(fx "one('item', name='Restricted Item')['uuid']")")" ]
	f=$(bs_path secret.txt)
	timeout 30 cmp "$f" "$(orig "$f")"
	f=$(bs_path restricted.txt)
	timeout 30 cmp "$f" "$(orig "$f")"
	# logged in: the login POST succeeded
	[ "$(reqs_since 1 "r['method'] == 'POST' and r['path'].endswith('/authn/login') and r['status'] == 200")" -ge 1 ]
	fs_alive
}

@test "DSpace 9.1 anonymous: browses, public content reads, restricted items absent" {
	fake_start --fixture small --dspace-version 9.1
	fresh_mount -o anonymous
	run timeout 120 ls -R "$MNT"
	[ "$status" -eq 0 ]
	[[ "$output" != *"Restricted Item"* ]]
	f=$(bs_path thesis.pdf)
	timeout 30 cmp "$f" "$(orig "$f")"
	[ "$(reqs_since 1 "r['method'] == 'POST' and r['path'].endswith('/authn/login')")" -eq 0 ]
	fs_alive
}

@test "-o debug_http traces the requests but never a login body (the password)" {
	fake_start --fixture small
	mount_fs -o debug_http
	ls "$MNT" >/dev/null
	# the login went out, its body only as a byte count
	grep -q '> POST [^ ]*/authn/login' "$FS_LOG"
	grep -Eq '> \[[0-9]+ bytes of request body\]' "$FS_LOG"
	! grep -q 'password=' "$FS_LOG" || false
	! grep -q 'Bearer ey' "$FS_LOG" || false
}
