#!/usr/bin/env bats
# Warm listings are answered from an in-memory copy of the metadata cache
# (issue 11, src/core/memo.c): it must never show more than the cache
# would. A change made on the server shows once the listing TTL has
# passed, a change made through the mount at once, also in directories
# whose listing and attributes were just served from memory.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

setup() {
	T=$BATS_TEST_TMPDIR
	PT="Research Data/Physics/Physics Theses"
	SUPER="Superconductivity at Room Temperature?"
}

teardown() {
	test_teardown
	unmount_fs || true
}

# warm DIR...: ls -l of each DIR three times (the later ones from memory)
warm() {
	local i
	for i in 1 2 3; do
		bounded ls -l "$@" >/dev/null
	done
}

# shows_within SECONDS DIR NAME: NAME is listed in DIR within SECONDS
shows_within() {
	wait_until "$1" bash -c 'ls "$1" | grep -qxF -- "$2"' _ "$2" "$3"
}

@test "a change on the server shows after the listing TTL although the listing is served from memory" {
	fresh_mount -o ro,cache_ttl=2
	u=$(fx "one('bitstream', name='data.csv')['uuid']")
	f=$(fx_path "$u")
	d=$(dirname "$f")
	item=$(dirname "$(dirname "$f")")
	coll=$(dirname "$item")
	iu=$(getfattr --only-values -n user.dspace.uuid "$item")
	warm "$d" "$item" "$coll"
	stat "$f" "$item" >/dev/null
	size=$(stat -c %s "$f")
	fake_login admin@example.org admin
	api_as PATCH "/core/bitstreams/$u" -H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"renamed.csv"}}]'
	[ "$STATUS" = 200 ]
	api_as PATCH "/core/items/$iu" -H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"Renamed On The Server"}}]'
	[ "$STATUS" = 200 ]
	printf 'a new file\n' >"$T/new.txt"
	bundle=$(fx "one(uuid='$u')['parent']")
	api_as POST "/core/bundles/$bundle/bitstreams" -F "file=@$T/new.txt"
	[ "$STATUS" = 201 ]
	start=$EPOCHSECONDS
	# TTL 2 s: listed again at the latest 2 s after the last listing
	shows_within 5 "$coll" "Renamed On The Server"
	nd="$coll/Renamed On The Server/$(basename "$d")"
	shows_within 5 "$nd" renamed.csv
	shows_within 5 "$nd" new.txt
	[ $((EPOCHSECONDS - start)) -le 6 ]
	! ls "$coll" | grep -qxF "$(basename "$item")" || false
	! ls "$nd" | grep -qx data.csv || false
	[ "$(stat -c %s "$nd/renamed.csv")" = "$size" ]
	[ "$(stat -c %s "$nd/new.txt")" = 11 ]
	[ ! -e "$item" ]
}

@test "a change through the mount shows at once in listings served from memory" {
	fresh_mount -o cache_ttl=3600,deposit=direct
	it="$MNT/$PT/$SUPER"
	o="$it/ORIGINAL"
	warm "$MNT/$PT" "$it" "$o"
	# a new file, a rename, a removal, new times, a new bundle and item
	printf 'fresh\n' >"$T/fresh.txt"
	bounded cp "$T/fresh.txt" "$o/fresh.txt"
	ls "$o" | grep -qx fresh.txt
	warm "$o"
	first=$(ls "$o" | grep -vx fresh.txt | head -n 1)
	[ -n "$first" ]
	bounded mv "$o/$first" "$o/moved-$first"
	ls "$o" | grep -qxF "moved-$first"
	! ls "$o" | grep -qxF "$first" || false
	warm "$o"
	bounded rm "$o/moved-$first"
	! ls "$o" | grep -qxF "moved-$first" || false
	warm "$o"
	touch -m -d '2001-02-03 04:05:06' "$o/fresh.txt"
	[ "$(stat -c %Y "$o/fresh.txt")" = "$(date -d '2001-02-03 04:05:06' +%s)" ]
	ls -l --time-style=+%Y "$o" | grep -q ' 2001 fresh.txt$'
	bounded mkdir "$it/EXTRA"
	ls "$it" | grep -qx EXTRA
	bounded mkdir "$MNT/$PT/Made Through The Mount"
	ls "$MNT/$PT" | grep -qx "Made Through The Mount"
	[ -d "$MNT/$PT/Made Through The Mount/ORIGINAL" ]
}

@test "a draft made through the mount shows at once and stays through the collection's next listing" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org,cache_ttl=2
	warm "$MNT/$PT"
	bounded mkdir "$MNT/$PT/Memo Draft"
	ls "$MNT/$PT" | grep -qx "Memo Draft"
	# the collection is listed again after its TTL: the draft stays
	sleep 3
	m=$(log_mark)
	ls "$MNT/$PT" | grep -qx "Memo Draft"
	[ "$(reqs_since "$m" "'/discover/search/objects' in r['path']")" -ge 1 ]
	ls "$MNT/$PT" | grep -qx 'Draft Started In The Web UI'
}
