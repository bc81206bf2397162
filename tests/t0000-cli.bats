#!/usr/bin/env bats
# The command line: help, version, and clear refusals before anything is
# mounted (no server is needed for these).

setup() {
	DSPACEFS=${DSPACEFS:-${top_builddir:-$BATS_TEST_DIRNAME/..}/src/dspacefs}
	MNT=$(mktemp -d)
}

teardown() {
	rmdir "$MNT" 2>/dev/null || true
}

@test "--help describes the command line and our -o options" {
	run "$DSPACEFS" --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"usage: "*"[options] URL MOUNTPOINT"* ]]
	for opt in user= password_file= anonymous cache_dir= cache_ttl= cache_max= \
		connections= cacert= insecure debug_http; do
		[[ "$output" == *"-o $opt"* ]] || { echo "missing $opt"; false; }
	done
}

@test "--version prints the package version" {
	run "$DSPACEFS" --version
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" =~ ^dspacefs\ [0-9]+\.[0-9]+\.[0-9]+$ ]]
}

@test "an unknown -o option is a clear error with status 1" {
	run "$DSPACEFS" -o no_such_option http://127.0.0.1:9/server "$MNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"unknown option"*"no_such_option"* ]]
}

@test "an unknown dash option is an error with status 1" {
	run "$DSPACEFS" --frobnicate http://127.0.0.1:9/server "$MNT"
	[ "$status" -eq 1 ]
}

@test "a password on the command line is refused without echoing it" {
	run "$DSPACEFS" -o user=a@example.org,password=hunter2 http://127.0.0.1:9/server "$MNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"refusing -o password="* ]]
	[[ "$output" != *hunter2* ]]
}

@test "a URL that is not http or https is refused" {
	run "$DSPACEFS" -o anonymous ftp://example.org/server "$MNT"
	[ "$status" -eq 1 ]
	[[ "$output" == *"http:// or https://"* ]]
}

@test "missing arguments are reported" {
	run "$DSPACEFS"
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing URL and MOUNTPOINT"* ]]
	run "$DSPACEFS" http://127.0.0.1:9/server
	[ "$status" -eq 1 ]
	[[ "$output" == *"missing MOUNTPOINT"* ]]
}

@test "a dead server gives a clear message and nothing is mounted" {
	run timeout 60 "$DSPACEFS" -o anonymous,cache_dir="$MNT.cache" http://127.0.0.1:9/server "$MNT"
	rm -rf "$MNT.cache"
	[ "$status" -eq 1 ]
	[[ "$output" == *"127.0.0.1:9"* ]]
	! grep -qs " $MNT " /proc/mounts || false
}

@test "a group-readable password file is refused" {
	pw="$MNT.pw"
	echo secret >"$pw"
	chmod 640 "$pw"
	run "$DSPACEFS" -o user=admin@example.org,password_file="$pw" http://127.0.0.1:9/server "$MNT"
	rm -f "$pw"
	[ "$status" -eq 1 ]
	[[ "$output" == *"readable by group or others"* ]]
	[[ "$output" != *secret* ]]
}
