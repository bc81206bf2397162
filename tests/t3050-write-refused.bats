#!/usr/bin/env bats
# Writes that must be refused: a read-only mount (-o ro) and an anonymous
# mount answer EROFS to every change and send no write to the server; a
# user without the right to submit to a collection gets EACCES from mkdir
# (a user who may submit makes a draft: t5000).

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# writes_since MARK: non-GET requests since MARK other than logins
writes_since() {
	reqs_since "$1" "r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE') and '/authn/' not in r['path']"
}

# refused CMD...: CMD fails with "Read-only file system"
refused() {
	run bounded "$@"
	if [ "$status" -eq 0 ] || [[ "$output" != *"Read-only file system"* ]]; then
		echo "$*: status $status, output: $output" >&2
		return 1
	fi
}

# every_change_refused: each kind of change in the mount fails with EROFS
# and the server is unchanged.
every_change_refused() {
	local pt="$MNT/Research Data/Physics/Physics Theses"
	local q="$pt/On the Quantum Behaviour of Small Things"
	local before m
	echo data >"$T/f"
	ls -R "$pt" >/dev/null
	before=$(fx 'sorted([o["uuid"], o.get("name"), o.get("parent")] for o in objs)')
	m=$(log_mark)
	refused mkdir "$pt/RO Item"
	refused mkdir "$q/NEWBUNDLE"
	refused cp "$T/f" "$q/ORIGINAL/new.txt"
	refused touch "$q/ORIGINAL/touched.txt"
	refused cp "$T/f" "$q/ORIGINAL/data.csv"
	refused sh -c 'echo more >>"$1"' sh "$q/ORIGINAL/data.csv"
	refused rm "$q/ORIGINAL/data.csv"
	refused mv "$q/ORIGINAL/data.csv" "$q/ORIGINAL/renamed.csv"
	refused rmdir "$pt/Thesis With Empty Bundle/ORIGINAL"
	refused rmdir "$pt/Thesis Without Bundles"
	[ -e "$q/ORIGINAL/data.csv" ]
	[ ! -e "$q/ORIGINAL/new.txt" ]
	[ ! -e "$pt/RO Item" ]
	bounded cmp "$q/ORIGINAL/data.csv" "$FAKE_STATE/content/$(srv_uuid "On the Quantum Behaviour of Small Things" ORIGINAL data.csv)"
	[ "$(writes_since "$m")" = 0 ]
	[ "$(fx 'sorted([o["uuid"], o.get("name"), o.get("parent")] for o in objs)')" = "$before" ]
}

@test "-o ro (as admin): every change fails with 'Read-only file system' and nothing reaches the server" {
	mount_fs -o ro 3>&-
	every_change_refused
}

@test "anonymous mount: every change fails with 'Read-only file system' and nothing reaches the server" {
	mount_fs -o anonymous 3>&-
	every_change_refused
}

@test "a read-write mount as a non-admin: mkdir in a collection without the submit right fails with 'Permission denied', nothing created" {
	FS_PASSWORD=user mount_fs -o user=user@example.org 3>&-
	big="$MNT/Research Data/Big Collection"
	n=$(fx 'len(allobjs)')
	ls "$big" >/dev/null
	run bounded mkdir "$big/User Item"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	[ "$(fx 'len(allobjs)')" = "$n" ]
	[ "$(fx 'find("item", name="User Item")')" = "[]" ]
	[ ! -e "$big/User Item" ]
	[ -z "$(bounded ls "$big" | grep -x 'User Item')" ]
}
