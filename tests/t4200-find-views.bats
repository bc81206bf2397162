#!/usr/bin/env bats
# The find views (issue 12; README "Finding things"): MOUNT/.search/<query>/,
# COLLECTION/.search/<query>/, MOUNT/.handle/<prefix>/<suffix> and
# MOUNT/.uuid/<uuid>, through a real mount of the small fixture.

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
}

teardown() {
	test_teardown
}

# uuid/handle of the item titled $1
item_uuid() {
	fx "one('item', name='$1')['uuid']"
}
item_handle() {
	fx "one('item', name='$1')['handle']"
}

# searches from MARK on (discovery requests)
searches_since() {
	reqs_since "$1" "r['path'].endswith('/discover/search/objects')"
}

@test "a query matching items in several collections: relative links that resolve" {
	d="$MNT/.search/Curie OR Bohr"
	mark=$(log_mark)
	run bounded ls "$d"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' 'On the Quantum Behaviour of Small Things' 'Run 2023-01 calibration' 'Run 2023-02')" ]
	# one search request, its results embedded: no request per result
	[ "$(reqs_since "$mark")" -eq 1 ]
	[ -L "$d/Run 2023-02" ]
	[ "$(readlink "$d/Run 2023-02")" = "../../.uuid/$(item_uuid 'Run 2023-02')" ]
	[ "$(readlink "$d/On the Quantum Behaviour of Small Things")" = "../../.uuid/$(item_uuid 'On the Quantum Behaviour of Small Things')" ]
	cmp "$d/Run 2023-02/ORIGINAL/readme.md" "$(orig "$d/Run 2023-02/ORIGINAL/readme.md")"
	cmp "$d/On the Quantum Behaviour of Small Things/ORIGINAL/data.csv" \
		"$(orig "$d/On the Quantum Behaviour of Small Things/ORIGINAL/data.csv")"
	# listed again within the TTL: no new search
	mark=$(log_mark)
	ls "$d" >/dev/null
	[ "$(searches_since "$mark")" -eq 0 ]
}

@test "same titles among the results are made unique like item directories" {
	run bounded ls "$MNT/.search/dc.title:\"Duplicate Title\""
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 3 ]
	for l in "${lines[@]}"; do
		[[ "$l" == "Duplicate Title ["*"]" ]]
	done
}

@test "a query matching nothing is an empty directory" {
	run bounded ls -A "$MNT/.search/nosuchwordanywhere"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "a query with spaces, quotes and %2F (for /)" {
	d="$MNT/.search/\"a%2Fb: slash\" AND author:\"Edge, Case\""
	run bounded ls "$d"
	[ "$status" -eq 0 ]
	[ "$output" = "a／b: slash in title" ]
	mark=$(log_mark)
	ls "$MNT/.search/%2F%25 x" >/dev/null || true
	[ "$(reqs_since "$mark" "'query=%2F%25%20x&' in r['query']")" -eq 1 ]
}

@test "a scoped search finds only inside its collection, links climb to the root" {
	runs="$MNT/Research Data/Physics/Particle Physics/Detector Runs"
	theses="$MNT/Research Data/Physics/Physics Theses"
	run bounded ls "$runs/.search/Curie"
	[ "$status" -eq 0 ]
	[ "$output" = "$(printf '%s\n' 'Run 2023-01 calibration' 'Run 2023-02')" ]
	[ "$(readlink "$runs/.search/Curie/Run 2023-02")" = "../../../../../../.uuid/$(item_uuid 'Run 2023-02')" ]
	[ -f "$runs/.search/Curie/Run 2023-02/ORIGINAL/readme.md" ]
	run bounded ls -A "$theses/.search/Curie"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	col=$(fx "one('collection', name='Physics Theses')['uuid']")
	[ "$(reqs_since 1 "'scope=$col' in r['query'] and 'query=Curie' in r['query']")" -eq 1 ]
}

@test "a handle is a link to its object" {
	h=$(item_handle 'On the Quantum Behaviour of Small Things')
	u=$(item_uuid 'On the Quantum Behaviour of Small Things')
	mark=$(log_mark)
	[ "$(readlink "$MNT/.handle/$h")" = "../../.uuid/$u" ]
	# one request: a discovery search for the handle field
	[ "$(reqs_since "$mark")" -eq 1 ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/discover/search/objects') and r['query'].startswith('query=handle%3A%22')")" -eq 1 ]
	cmp "$MNT/.handle/$h/ORIGINAL/data.csv" "$(orig "$MNT/.handle/$h/ORIGINAL/data.csv")"
	[ "$(getfattr --only-values -n user.dspace.handle "$MNT/.handle/$h/")" = "$h" ]
	run ls -A "$MNT/.handle/${h%%/*}"
	[ "$status" -eq 0 ]
	[ -z "$output" ]
}

@test "an unknown handle is ENOENT" {
	mark=$(log_mark)
	run bounded stat "$MNT/.handle/123456789/999999"
	[ "$status" -ne 0 ]
	[[ "$output" == *"No such file or directory"* ]]
	# the search finds nothing, pid/find answers 404
	[ "$(reqs_since "$mark")" -eq 2 ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/pid/find') and r['status'] == 404")" -eq 1 ]
	! stat "$MNT/.handle/123456789/.hidden" 2>/dev/null || false
}

@test ".uuid/<uuid> is the object itself: stat agrees with its path, no request" {
	p="$MNT/Research Data/Physics/Physics Theses/Superconductivity at Room Temperature?"
	u=$(item_uuid 'Superconductivity at Room Temperature?')
	ls "$p" >/dev/null
	mark=$(log_mark)
	[ "$(stat -c %i "$MNT/.uuid/$u")" = "$(stat -c %i "$p")" ]
	[ "$(reqs_since "$mark")" -eq 0 ]
	[ "$(ls "$MNT/.uuid/$u")" = "$(ls "$p")" ]
}

@test ".uuid/<uuid> of an object never listed: found without a walk" {
	fresh_mount
	u=$(item_uuid 'Run 2023-01 calibration')
	mark=$(log_mark)
	run bounded stat -c %F "$MNT/.uuid/$u"
	[ "$status" -eq 0 ]
	[ "$output" = directory ]
	# one request: a discovery search for search.resourceid; no listing
	[ "$(reqs_since "$mark")" -eq 1 ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/discover/search/objects') and 'query=search.resourceid%3A$u&' in r['query']")" -eq 1 ]
	cmp "$MNT/.uuid/$u/ORIGINAL/notes.txt" "$(orig "$MNT/.uuid/$u/ORIGINAL/notes.txt")"
	[ "$(reqs_since "$mark" "'/communities' in r['path'] or '/collections' in r['path'] or '/dso/find' in r['path']")" -eq 0 ]
	# a collection and a community: one request each, the same way
	for c in "collection:Detector Runs" "community:Physics"; do
		u=$(fx "one('${c%%:*}', name='${c#*:}')['uuid']")
		mark=$(log_mark)
		[ "$(stat -c %F "$MNT/.uuid/$u")" = directory ]
		[ "$(reqs_since "$mark")" -eq 1 ]
	done
	# an unknown UUID: the search finds nothing, dso/find answers 404
	mark=$(log_mark)
	! stat "$MNT/.uuid/00000000-0000-0000-0000-000000000000" 2>/dev/null || false
	[ "$(reqs_since "$mark")" -eq 2 ]
	! stat "$MNT/.uuid/not-a-uuid" 2>/dev/null || false
}

@test ".uuid/<uuid> of what discovery does not show: dso/find after the search" {
	fresh_mount
	# bitstreams are not indexed: search, dso/find (302), the typed GET
	u=$(fx "one('bitstream', name='notes.txt')['uuid']")
	mark=$(log_mark)
	run bounded stat -c %F "$MNT/.uuid/$u"
	[ "$status" -eq 0 ]
	[ "$output" = "regular file" ]
	[ "$(reqs_since "$mark")" -eq 3 ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/dso/find')")" -eq 1 ]
	cmp "$MNT/.uuid/$u" "$(orig "$MNT/.uuid/$u")"
	# a private (discoverable=false) item is left out of discovery
	unmount_fs
	fresh_mount
	u=$(fx "one('item', name='Private Item')['uuid']")
	mark=$(log_mark)
	[ "$(ls "$MNT/.uuid/$u/ORIGINAL")" = private.txt ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/dso/find')")" -eq 1 ]
	# its handle: the search, pid/find and the typed GET
	unmount_fs
	fresh_mount
	h=$(fx "one('item', name='Private Item')['handle']")
	mark=$(log_mark)
	[ "$(readlink "$MNT/.handle/$h")" = "../../.uuid/$u" ]
	[ "$(reqs_since "$mark")" -eq 3 ]
	[ "$(reqs_since "$mark" "r['path'].endswith('/pid/find')")" -eq 1 ]
}

@test "ls of the root and desktop probes cost no search; the views are not listed" {
	mark=$(log_mark)
	run ls -a "$MNT"
	[ "$status" -eq 0 ]
	[[ "$output" != *.search* && "$output" != *.handle* && "$output" != *.uuid* ]]
	for n in .hidden .directory .Trash-1000 .Trash .xdg-volume-info; do
		! stat "$MNT/.search/$n" 2>/dev/null || false
	done
	ls -A "$MNT/.search" "$MNT/.handle" >/dev/null
	[ -z "$(ls -A "$MNT/.search")" ]
	[ "$(searches_since "$mark")" -eq 0 ]
	# nor do probes in .uuid and .handle: no lookup at all
	for n in .hidden .directory .Trash-1000; do
		! stat "$MNT/.uuid/$n" 2>/dev/null || false
		! stat "$MNT/.handle/$n" 2>/dev/null || false
		! stat "$MNT/.handle/123456789/$n" 2>/dev/null || false
	done
	[ "$(reqs_since "$mark" "r['path'].endswith('/find') or r['path'].endswith('/discover/search/objects')")" -eq 0 ]
}

@test "the views are read-only" {
	run mkdir "$MNT/.search/Curie/new"
	[[ "$output" == *"Read-only file system"* ]]
	run touch "$MNT/.search/Curie/new"
	[[ "$output" == *"Read-only file system"* ]]
	run rm "$MNT/.search/Curie/Run 2023-02"
	[[ "$output" == *"Read-only file system"* ]]
	run mkdir "$MNT/.uuid/x"
	[ "$status" -ne 0 ]
}

@test "results stop at -o search_max, said in the log" {
	fresh_mount -o search_max=50
	mark=$(log_mark)
	run bounded ls "$MNT/.search/Record"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 50 ]
	# one page of 100 was enough: no further page asked
	[ "$(searches_since "$mark")" -eq 1 ]
	grep -q 'search "Record" stopped at 50 results (-o search_max)' "$FS_LOG"
}

@test "a server object named like a view gets the usual suffix" {
	fake_login admin@example.org admin
	col=$(fx "one('collection', name='Empty Collection')['uuid']")
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' \
		--data '{"name":".search","inArchive":true,"discoverable":true,"withdrawn":false,"type":"item","metadata":{"dc.title":[{"value":".search"}]}}'
	[ "$STATUS" = 201 ]
	h=$(jbody 'd["handle"]')
	fresh_mount
	dir="$MNT/Awkward Names/Empty Collection"
	[ "$(ls -A "$dir")" = ".search [${h#*/}]" ]
	# the name itself is the scoped search
	[ -z "$(ls -A "$dir/.search")" ]
	[ -d "$dir/.search/Curie" ]
}

@test "objects found only through a view expire from the cache a TTL later; held ones are found again" {
	fresh_mount -o cache_ttl=1
	u=$(item_uuid 'Superconductivity at Room Temperature?')
	mark=$(log_mark)
	stat "$MNT/.uuid/$u" >/dev/null
	[ "$(reqs_since "$mark")" -eq 1 ]
	ino=$(stat -c %i "$MNT/.uuid/$u")
	db="$FS_CACHE/meta.db"
	found() {
		python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); print(c.execute("select count(*) from objects o join inodes i on i.ino = o.ino where i.uuid = ?", (sys.argv[2],)).fetchone()[0])' "$db" "$1"
	}
	[ "$(found "$u")" = 1 ]
	# the kernel holds the directory open while the entry expires
	exec {fd}<"$MNT/.uuid/$u"
	sleep 2
	ls "$MNT/.search/Curie" >/dev/null # a later find drops what is older than the TTL
	[ "$(found "$u")" = 0 ]
	# the held inode still works (found again by its UUID, same number)
	run bounded ls "/proc/self/fd/$fd/"
	exec {fd}<&-
	[ "$status" -eq 0 ]
	[ "$output" = ORIGINAL ]
	[ "$(stat -c %i "$MNT/.uuid/$u")" = "$ino" ]
}
