#!/usr/bin/env bats
# Workstation start-up (issue 10): configuration sections, the checks on
# files holding secrets (.netrc), the first line and the start-up budget
# with a message naming the cause, the redirect hint, the mount point,
# log_file/log_level and the daemon's fallback log, SIGHUP, SIGTERM with an
# upload in flight and the uploads reported at unmount.

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
	export XDG_CONFIG_HOME=$T/config HOME=$T/home
	mkdir -p "$XDG_CONFIG_HOME/dspacefs" "$HOME"
	MNT=$(mktemp -d "$T/mnt.XXXXXX")
	FS_CACHE=$(mktemp -d "$T/cache.XXXXXX")
	FS_LOG=$T/fs.log
	unset DSPACEFS_PASSWORD DSPACEFS_USER
}

teardown() {
	test_teardown
}

# start_fs ARGS...: runs "dspacefs -f -o cache_dir=... ARGS" in the
# background (FS_PID, output in FS_LOG) and waits until MNT is mounted.
start_fs() {
	require_fuse
	"$DSPACEFS" -f -o cache_dir="$FS_CACHE" "$@" >>"$FS_LOG" 2>&1 3>&- &
	FS_PID=$!
	wait_until 20 is_mounted_or_dead || true
	is_mounted "$MNT" || { cat "$FS_LOG" >&2; return 1; }
}

is_mounted_or_dead() {
	is_mounted "$MNT" || ! kill -0 "$FS_PID" 2>/dev/null
}

# fails_fast SECONDS ARGS...: dspacefs ARGS must fail (status 1) within
# SECONDS without mounting; its output in $output.
fails_fast() {
	local limit=$1 t0
	shift
	t0=$SECONDS
	run timeout -k 2 $((limit + 5)) "$DSPACEFS" -f "$@"
	echo "$output"
	echo "took $((SECONDS - t0)) s"
	[ "$status" = 1 ]
	[ $((SECONDS - t0)) -le "$limit" ]
	! is_mounted "$MNT" || false
}

# config TEXT: the configuration file (mode 0600).
config() {
	printf '%s\n' "$1" >"$XDG_CONFIG_HOME/dspacefs/config"
	chmod 600 "$XDG_CONFIG_HOME/dspacefs/config"
}

# Whether an active fault has fired.
fault_hit() {
	fake_control GET /faults | "$FAKE_PYTHON" -S -c 'import json, sys; sys.exit(0 if sum(f["hits"] for f in json.load(sys.stdin)["faults"]) else 1)'
}

# A port where nothing listens.
closed_port() {
	"$FAKE_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

@test "a configuration section mounts by name: url, user, password_file" {
	printf 'admin\n' >"$T/pw"
	chmod 600 "$T/pw"
	config "[other]
url = http://127.0.0.1:9/server

[myrepo]
url = $FAKE_URL
user = admin@example.org
password_file = $T/pw
cache_ttl = 30"
	start_fs myrepo "$MNT"
	grep -q "connected to $FAKE_API (DSpace 7.6)$" "$FS_LOG"
	ls "$MNT" | grep -qx "Research Data"
}

@test "the command line wins over the section" {
	printf 'admin\n' >"$T/pw"
	chmod 600 "$T/pw"
	config "[myrepo]
url = $FAKE_URL
user = nobody@example.org
password_file = $T/pw"
	start_fs -o user=admin@example.org myrepo "$MNT"
	grep -q "connected to $FAKE_API (DSpace 7.6)$" "$FS_LOG"
}

@test "a section name that is not in the file, a password key, a writable file: refused" {
	config "[myrepo]
url = $FAKE_URL"
	fails_fast 3 nosuch "$MNT"
	[[ "$output" == *"nosuch is not a URL"*"no section [nosuch]"* ]]
	config "[myrepo]
url = $FAKE_URL
password = hunter2"
	fails_fast 3 myrepo "$MNT"
	[[ "$output" == *"password_file"* ]]
	[[ "$output" != *hunter2* ]]
	config "[myrepo]
url = $FAKE_URL"
	chmod 666 "$XDG_CONFIG_HOME/dspacefs/config"
	fails_fast 3 myrepo "$MNT"
	[[ "$output" == *"chmod go-w"* ]]
}

@test "a .netrc readable by others is refused, like a password file" {
	printf 'machine 127.0.0.1 login admin@example.org password admin\n' >"$HOME/.netrc"
	chmod 644 "$HOME/.netrc"
	fails_fast 5 "$FAKE_URL" "$MNT"
	[[ "$output" == *"refusing $HOME/.netrc"*"readable by group or others"*"chmod 600"* ]]
}

@test ".netrc: 'machine host' matches the URL's port; 'machine host:port' is named, not silently anonymous" {
	printf 'machine 127.0.0.1 login admin@example.org password admin\n' >"$HOME/.netrc"
	chmod 600 "$HOME/.netrc"
	start_fs "$FAKE_URL" "$MNT"
	grep -q "connected to $FAKE_API (DSpace 7.6)$" "$FS_LOG"
	unmount_fs
	printf 'machine 127.0.0.1:%s login admin@example.org password admin\n' "$FAKE_PORT" >"$HOME/.netrc"
	fails_fast 5 "$FAKE_URL" "$MNT"
	[[ "$output" == *'machine 127.0.0.1:PORT'*'without a port'*'machine 127.0.0.1'* ]]
}

@test "the first line comes at once; a server that accepts but never answers fails within connect_timeout, naming the cause" {
	"$FAKE_PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$T/silent.port" &
	local silent=$! port
	wait_until 5 test -s "$T/silent.port"
	port=$(cat "$T/silent.port")
	"$DSPACEFS" -f -o anonymous,connect_timeout=4 "http://127.0.0.1:$port/server" "$MNT" >"$T/out" 2>&1 &
	local pid=$!
	sleep 1
	grep -q "^dspacefs: connecting to http://127.0.0.1:$port/server" "$T/out"
	wait_until 10 sh -c "! kill -0 $pid 2>/dev/null"
	run wait "$pid"
	kill "$silent"
	cat "$T/out"
	[ "$status" = 1 ]
	grep -q "timeout: no answer within 4 s" "$T/out"
	! is_mounted "$MNT" || false
}

@test "the default start-up budget is 30 s" {
	"$FAKE_PYTHON" -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(60)' >"$T/silent.port" &
	local silent=$!
	wait_until 5 test -s "$T/silent.port"
	fails_fast 33 -o anonymous "http://127.0.0.1:$(cat "$T/silent.port")/server" "$MNT"
	kill "$silent"
	[[ "$output" == *"timeout: no answer within 30 s"* ]]
}

@test "a DNS failure and a refused connection are named as such" {
	fails_fast 15 -o anonymous http://nonexistent.invalid/server "$MNT"
	[[ "$output" == *"DNS: the host name does not resolve"* ]]
	[[ "$output" != *"No route to host"* ]]
	fails_fast 15 -o anonymous "http://127.0.0.1:$(closed_port)/server" "$MNT"
	[[ "$output" == *"connection refused"* ]]
}

@test "a redirect names a URL that works" {
	# a proxy that moved the application and adds a slash to the API root
	fake_start --fixture small --redirect /old/server=/server \
		--redirect /server/api=/server/api/
	fails_fast 10 -o anonymous "http://127.0.0.1:$FAKE_PORT/old/server" "$MNT"
	[[ "$output" == *"use the URL $FAKE_URL"* ]]
	local hint
	hint=$(sed -n 's/.*use the URL \([^ ]*\).*/\1/p' <<<"$output")
	start_fs -o anonymous "$hint" "$MNT"
	ls "$MNT" | grep -qx "Research Data"
}

@test "a mount point that is a regular file or a non-empty directory is refused before mounting" {
	touch "$T/file"
	fails_fast 3 -o anonymous "$FAKE_URL" "$T/file"
	[[ "$output" == *"is not a directory"* ]]
	touch "$MNT/x"
	fails_fast 3 -o anonymous "$FAKE_URL" "$MNT"
	[[ "$output" == *"is not empty"* ]]
	# our own override, documented
	start_fs -o anonymous,nonempty "$FAKE_URL" "$MNT"
}

@test "a second daemon on the same cache directory is refused, naming the first; the first goes on" {
	start_fs -o anonymous "$FAKE_URL" "$MNT"
	mnt2=$(mktemp -d "$T/mnt2.XXXXXX")
	run timeout -k 2 15 "$DSPACEFS" -f -o anonymous,cache_dir="$FS_CACHE" \
		"$FAKE_URL" "$mnt2"
	echo "$output"
	[ "$status" = 1 ]
	[[ "$output" == *"is in use by another dspacefs (pid $FS_PID)"* ]]
	[[ "$output" == *"-o cache_dir"* ]]
	! is_mounted "$mnt2" || false
	bounded ls "$MNT/Research Data" >/dev/null
	# the lock goes with the process, also with kill -9
	kill -9 "$FS_PID"
	fusermount3 -uz "$MNT" 2>/dev/null || true
	FS_PID=
	start_fs -o anonymous "$FAKE_URL" "$MNT"
	bounded ls "$MNT/Research Data" >/dev/null
}

@test "log_file and log_level" {
	start_fs -o anonymous,log_file="$T/d.log",log_level=debug "$FAKE_URL" "$MNT"
	ls "$MNT" >/dev/null
	grep -q ' dspacefs\[[0-9]*\]: info: connected to ' "$T/d.log"
	grep -q ': debug: ' "$T/d.log"
	unmount_fs
	start_fs -o anonymous,log_file="$T/w.log",log_level=warn "$FAKE_URL" "$MNT"
	ls "$MNT" >/dev/null
	! grep -q ': info: ' "$T/w.log" || false
	run "$DSPACEFS" -o anonymous,log_level=loud "$FAKE_URL" "$MNT"
	[ "$status" = 1 ]
	[[ "$output" == *"invalid log_level=loud"* ]]
}

# daemonised MNT: runs dspacefs without -f; with /dev/log present, in a
# private mount namespace where /dev/log is a regular file (needs root).
daemonised() {
	local cmd=("$DSPACEFS" -o anonymous,cache_dir="$FS_CACHE" "$FAKE_URL" "$MNT")
	if [ -S /dev/log ]; then
		[ "$(id -u)" = 0 ] || skip "/dev/log exists and hiding it needs root"
		: >"$T/nolog"
		unshare -m --propagation private sh -c 'mount --bind "$0" /dev/log && exec "$@"' \
			"$T/nolog" "${cmd[@]}"
	else
		"${cmd[@]}"
	fi
}

@test "daemonised without /dev/log: messages go to a file in the cache directory, said on stderr" {
	require_fuse
	run daemonised 3>&-
	echo "$output"
	[ "$status" = 0 ]
	[[ "$output" == *"no syslog (/dev/log missing): messages go to $FS_CACHE/dspacefs.log"* ]]
	FS_PID=$(pgrep -n -f -- "$MNT")
	is_mounted "$MNT"
	kill -HUP "$FS_PID"
	wait_until 10 grep -q 'SIGHUP: refreshing' "$FS_CACHE/dspacefs.log"
	[ "$(stat -c %a "$FS_CACHE/dspacefs.log")" = 600 ]
}

@test "SIGHUP refreshes and does not end the mount" {
	start_fs -o anonymous,cache_ttl=600 "$FAKE_URL" "$MNT"
	ls "$MNT" "$MNT/Research Data" >/dev/null
	local m
	m=$(log_mark)
	ls "$MNT" "$MNT/Research Data" >/dev/null
	# fresh for 600 s: listing again asks nothing
	[ "$(reqs_since "$m" "r['method'] == 'GET'")" = 0 ]
	kill -HUP "$FS_PID"
	wait_until 10 grep -q 'SIGHUP: refreshing' "$FS_LOG"
	sleep 1
	fs_alive
	# the root listing is asked for again although its TTL has not passed
	ls "$MNT" >/dev/null
	ls "$MNT/Research Data" >/dev/null
	[ "$(reqs_since "$m" "r['method'] == 'GET'")" -ge 1 ]
}

@test "SIGTERM with an upload in flight: the upload finishes, then the mount goes" {
	DSPACEFS_PASSWORD=admin start_fs -o user=admin@example.org "$FAKE_URL" "$MNT"
	local dst="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	head -c 300000 /dev/urandom >"$T/up.bin"
	printf '%s\n' 'stall=3,count=1,method=POST,path=/bitstreams' |
		fake_control POST /faults --data-binary @- >/dev/null
	bounded cp "$T/up.bin" "$dst/term.bin" 3>&- &
	local cppid=$!
	wait_until 20 fault_hit
	kill -TERM "$FS_PID"
	wait "$cppid"
	wait_until 20 sh -c "! kill -0 $FS_PID 2>/dev/null"
	# a clean stop: exit status 0
	run wait "$FS_PID"
	[ "$status" = 0 ]
	FS_PID=
	fake_control DELETE /faults >/dev/null
	! is_mounted "$MNT" || false
	srv_check "Thesis With Empty Bundle" ORIGINAL term.bin "$T/up.bin"
}

@test "uploads that failed are reported at unmount" {
	DSPACEFS_PASSWORD=admin start_fs -o user=admin@example.org "$FAKE_URL" "$MNT"
	local dst="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	head -c 1000 /dev/urandom >"$T/f.bin"
	printf '%s\n' 'bad-checksum,method=POST,path=/bitstreams' |
		fake_control POST /faults --data-binary @- >/dev/null
	! bounded cp "$T/f.bin" "$dst/failed.bin" || false
	fake_control DELETE /faults >/dev/null
	unmount_fs
	grep -q "at unmount: upload [0-9]* is failed, not on the server: .*/ORIGINAL/failed.bin (1000 bytes)" "$FS_LOG"
	grep -q "1 upload kept in $FS_CACHE/spool" "$FS_LOG"
}

@test "every change made through the mount is logged at info with its path" {
	DSPACEFS_PASSWORD=admin start_fs -o user=admin@example.org "$FAKE_URL" "$MNT"
	local coll="$MNT/Research Data/Physics/Physics Theses" rel="/Research Data/Physics/Physics Theses"
	head -c 5000 /dev/urandom >"$T/a.bin"
	local md5
	md5=$(md5sum <"$T/a.bin" | cut -d' ' -f1)
	bounded mkdir "$coll/Logged Item"
	bounded cp "$T/a.bin" "$coll/Logged Item/ORIGINAL/a.bin"
	bounded mv "$coll/Logged Item/ORIGINAL/a.bin" "$coll/Logged Item/ORIGINAL/b.bin"
	bounded mkdir "$coll/Logged Item/EXTRA"
	bounded mv "$coll/Logged Item/ORIGINAL/b.bin" "$coll/Logged Item/EXTRA/b.bin"
	bounded rm "$coll/Logged Item/EXTRA/b.bin"
	bounded rm -r "$coll/Logged Item"
	cat "$FS_LOG"
	grep -qF "info: created item $rel/Logged Item" "$FS_LOG"
	grep -qF "info: uploading $rel/Logged Item/ORIGINAL/a.bin" "$FS_LOG"
	grep -qF "info: uploaded $rel/Logged Item/ORIGINAL/a.bin (5000 bytes, MD5 $md5)" "$FS_LOG"
	grep -qF "info: renamed $rel/Logged Item/ORIGINAL/a.bin to $rel/Logged Item/ORIGINAL/b.bin" "$FS_LOG"
	grep -qF "info: created bundle $rel/Logged Item/EXTRA" "$FS_LOG"
	grep -qF "info: moved $rel/Logged Item/ORIGINAL/b.bin to $rel/Logged Item/EXTRA/b.bin" "$FS_LOG"
	grep -qF "info: deleted $rel/Logged Item/EXTRA/b.bin" "$FS_LOG"
	grep -qF "info: deleted bundle $rel/Logged Item/ORIGINAL" "$FS_LOG"
	grep -qF "info: deleted item $rel/Logged Item" "$FS_LOG"
}

@test "SIGTERM: an upload still under way after stop_timeout is cut short, kept and reported; the mount goes" {
	DSPACEFS_PASSWORD=admin start_fs -o user=admin@example.org,stop_timeout=2 "$FAKE_URL" "$MNT"
	local dst="$MNT/Research Data/Physics/Physics Theses/Thesis With Empty Bundle/ORIGINAL"
	head -c 300000 /dev/urandom >"$T/slow.bin"
	printf '%s\n' 'stall=40,count=1,method=POST,path=/bitstreams' |
		fake_control POST /faults --data-binary @- >/dev/null
	bounded cp "$T/slow.bin" "$dst/slow.bin" 3>&- &
	local cppid=$! t0
	wait_until 20 fault_hit
	t0=$SECONDS
	kill -TERM "$FS_PID"
	wait_until 20 sh -c "! kill -0 $FS_PID 2>/dev/null"
	echo "stopped after $((SECONDS - t0)) s"
	[ $((SECONDS - t0)) -le 10 ]
	! wait "$cppid" || false
	fake_control DELETE /faults >/dev/null
	FS_PID=
	! is_mounted "$MNT" || false
	cat "$FS_LOG"
	grep -q "requests still under way after 2 s (-o stop_timeout); cutting them short" "$FS_LOG"
	grep -q "at unmount: upload [0-9]* is .*/ORIGINAL/slow.bin (300000 bytes)" "$FS_LOG"
	[ -n "$(find "$FS_CACHE/spool" -type f -size 300000c)" ]
}
