#!/usr/bin/env bats
# Modes tell the truth (issue 10): what the user may not change looks
# read-only, decided by DSpace's authorization features, fetched once per
# directory listing (GET authz/authorizations/search/objects, DS:
# SW/repository/AuthorizationRestRepository.java findByObjects); a change
# the server refuses refreshes the modes of its directory.

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
}

teardown() {
	test_teardown
	unmount_fs || true
}

# perms PATH: the symbolic permissions of PATH's owner ("rwx", "r-x", ...)
perms() {
	stat -c %A "$1" | cut -c2-4
}

PHYS="Research Data/Physics"
RUNS="Research Data/Physics/Particle Physics/Detector Runs"
THESES="Research Data/Physics/Physics Theses"
QUANTUM="On the Quantum Behaviour of Small Things"

@test "as user@example.org: an item they may not change is r-x, its files r--; a thesis they may add to is writable" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org
	run1="$MNT/$RUNS/Run 2023-01 calibration"
	[ "$(perms "$run1")" = r-x ]
	[ "$(perms "$run1/ORIGINAL")" = r-x ]
	[ "$(perms "$run1/ORIGINAL/notes.txt")" = r-- ]
	[ "$(perms "$MNT/$THESES/$QUANTUM")" = rwx ]
	[ "$(perms "$MNT/$THESES/$QUANTUM/ORIGINAL")" = rwx ]
	# only administrators may make items (POST items): collections r-x
	[ "$(perms "$MNT/$THESES")" = r-x ]
	# what the modes promise holds: a bundle in the thesis can be made
	mkdir "$MNT/$THESES/$QUANTUM/EXTRA"
	[ "$(fx 'len(find("bundle", name="EXTRA"))')" = 1 ]
}

@test "as admin everything is writable" {
	fresh_mount
	[ "$(perms "$MNT/$THESES")" = rwx ]
	[ "$(perms "$MNT/$RUNS/Run 2023-01 calibration")" = rwx ]
	[ "$(perms "$MNT/$RUNS/Run 2023-01 calibration/ORIGINAL/notes.txt")" = rw- ]
}

# cold_ls DIR: ls -l of DIR (listed for the first time); sets ENTRIES,
# LISTING (requests for the listing) and AUTHZ (authorization requests)
cold_ls() {
	local m
	m=$(log_mark)
	ENTRIES=$(ls -l "$1" | tail -n +2 | wc -l)
	AUTHZ=$(reqs_since "$m" "r['path'].endswith('/authz/authorizations/search/objects')")
	# the user's own drafts are merged into a collection's listing
	DRAFTS=$(reqs_since "$m" "'/submission/workspaceitems' in r['path'] or r['path'].endswith('/authn/status') or 'configuration=workspace' in r['query']")
	LISTING=$(($(reqs_since "$m") - AUTHZ - DRAFTS))
	echo "ls -l of $ENTRIES entries: $LISTING listing + $AUTHZ authz + $DRAFTS drafts requests" >&2
}

@test "ls -l of a directory costs one request more than its listing, none when warm" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org
	ls "$MNT/$PHYS" "$MNT/Research Data" >/dev/null
	cold_ls "$MNT/$THESES"
	[ "$ENTRIES" -ge 3 ]
	[ "$AUTHZ" = 1 ]
	# the discovery page, and the item of the user's web-UI draft here
	[ "$LISTING" -le 2 ]
	[ "$DRAFTS" -le 3 ] # who am I, workspace items, workflow items
	m=$(log_mark)
	ls -l "$MNT/$THESES" >/dev/null
	[ "$(reqs_since "$m")" = 0 ]
	# 130 items, two discovery pages: two authz requests (100 a request);
	# the user's drafts were asked for with the listing above (issue 11)
	cold_ls "$MNT/Research Data/Big Collection"
	[ "$ENTRIES" = 130 ]
	[ "$AUTHZ" -le "$LISTING" ]
	[ "$AUTHZ" -ge 1 ]
	[ "$DRAFTS" = 0 ]
	[ "$(perms "$MNT/Research Data/Big Collection/Record 130")" = r-x ]
}

@test "a refused change refreshes the modes: stale rwx becomes r-x" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org
	q="$MNT/$THESES/$QUANTUM"
	[ "$(perms "$q")" = rwx ]
	# the server takes the user's right away behind the mount's back
	c=$(fx "one('collection', name='Physics Theses')['uuid']")
	fake_control POST "/submitters?collection=$c" --data '[]' >/dev/null
	[ "$(perms "$q")" = rwx ] # still cached
	run bounded mkdir "$q/NEWBUNDLE"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	wait_until 10 bash -c '[ "$(stat -c %A "$1" | cut -c2-4)" = r-x ]' _ "$q"
}
