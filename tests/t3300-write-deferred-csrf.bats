#!/usr/bin/env bats
# Writing through a mount of a DSpace 8.1 server with deferred CSRF tokens
# (the token comes only from GET /security/csrf or a write's response).

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small --csrf deferred --dspace-version 8.1 -- -o deposit=direct
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
}

teardown() {
	test_teardown
}

@test "deferred CSRF (8.1): mkdir creates an item and cp uploads into it" {
	pt="$MNT/Research Data/Physics/Physics Theses"
	T=$BATS_TEST_TMPDIR
	m=$(log_mark)
	bounded mkdir "$pt/Deferred Item"
	it=$(fx "one('item', name='Deferred Item')['uuid']")
	[ "$(fx "[b['name'] for b in kids('$it', 'bundle')]")" = '["ORIGINAL"]' ]
	[ -d "$pt/Deferred Item/ORIGINAL" ]
	head -c 250000 /dev/urandom >"$T/d.bin"
	bounded cp "$T/d.bin" "$pt/Deferred Item/ORIGINAL/"
	srv_check "Deferred Item" ORIGINAL d.bin "$T/d.bin"
	bounded cmp "$pt/Deferred Item/ORIGINAL/d.bin" "$T/d.bin"
	# at most one CSRF refusal per write, each followed by a success
	[ "$(reqs_since "$m" "r['method'] == 'POST' and r['path'].endswith('/bitstreams') and r['status'] == 201")" = 1 ]
	[ "$(reqs_since "$m" "r['status'] == 403")" -le 2 ]
}

@test "deferred CSRF (8.1): rename and rm work" {
	pt="$MNT/Research Data/Physics/Physics Theses/Superconductivity at Room Temperature?/ORIGINAL"
	u=$(srv_uuid "Superconductivity at Room Temperature?" ORIGINAL paper.pdf)
	bounded mv "$pt/paper.pdf" "$pt/renamed.pdf"
	[ "$(fx "one('bitstream', uuid='$u')['name']")" = renamed.pdf ]
	bounded rm "$pt/renamed.pdf"
	[ "$(fx "find('bitstream', uuid='$u')")" = "[]" ]
	[ ! -e "$pt/renamed.pdf" ]
}
