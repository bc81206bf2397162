#!/usr/bin/env bats
# Who may use a mount (issue 7, item 1 and the smaller items on the cache
# directory and core dumps). With -o allow_other, other local users reach
# the mount, but never the mounting user's DSpace account: every change by
# them fails with EACCES (the kernel refuses through default_permissions,
# and the daemon checks the uid of every request on top), reads fail too
# unless -o others=read, and .dspacefs-status is 0600 and owner-only even
# then. The cache directory must be ours and no symbolic link, and the
# daemon is not dumpable unless debugging.
#
# The tests run as root and act as "nobody" through setpriv. The mount point
# lives under a 0755 directory in /tmp so that nobody can reach it.

load helpers
load mount

PT="Research Data/Physics/Physics Theses"
ITEM="On the Quantum Behaviour of Small Things"

setup_file() {
	fake_start --fixture small
}

teardown_file() {
	fake_stop
}

setup() {
	MNT= FS_CACHE= FS_LOG= FS_PID=
	T=$BATS_TEST_TMPDIR
	OPEN=$(mktemp -d /tmp/dspacefs-t3500.XXXXXX)
	chmod 755 "$OPEN"
	MNT=$OPEN/mnt
	mkdir -m 755 "$MNT"
}

teardown() {
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${FS_LOG:-}" ]; then
		echo "--- daemon log ($FS_LOG):" >&2
		tail -n 30 "$FS_LOG" >&2 || true
	fi
	unmount_fs
	if [ -n "${SILENT_PID:-}" ]; then
		kill "$SILENT_PID" 2>/dev/null || true
		wait "$SILENT_PID" 2>/dev/null || true
	fi
	if [ -n "${OPEN:-}" ] && ! is_mounted "$MNT"; then
		rm -rf "$OPEN"
	fi
}

# nobody CMD...: CMD as user nobody (no groups), bounded.
nobody() {
	bounded setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

# denied CMD...: CMD as nobody fails with "Permission denied".
denied() {
	run nobody "$@"
	if [ "$status" -eq 0 ] || [[ "$output" != *"Permission denied"* ]]; then
		echo "as nobody: $*: status $status, output: $output" >&2
		return 1
	fi
}

# writes_since MARK: non-GET requests since MARK other than logins
writes_since() {
	reqs_since "$1" "r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE') and '/authn/' not in r['path']"
}

# server_state: every object's uuid, name and parent (to compare).
server_state() {
	fx 'sorted([o["uuid"], o.get("name"), o.get("parent")] for o in objs)'
}

# no_change_by_nobody: each kind of change fails for nobody with EACCES,
# nothing reaches the server, and the mount still works for its owner.
no_change_by_nobody() {
	local q="$MNT/$PT/$ITEM" before m
	ls -R "$MNT/$PT" >/dev/null
	echo data >"$OPEN/f"
	chmod 644 "$OPEN/f"
	before=$(server_state)
	m=$(log_mark)
	denied rm "$q/ORIGINAL/data.csv"
	denied mkdir "$MNT/$PT/Nobody Item"
	denied mkdir "$q/NOBODYBUNDLE"
	denied rmdir "$MNT/$PT/Thesis With Empty Bundle/ORIGINAL"
	denied cp "$OPEN/f" "$q/ORIGINAL/nobody.txt"
	denied sh -c 'echo more >>"$1"' sh "$q/ORIGINAL/data.csv"
	denied sh -c ': >"$1"' sh "$q/ORIGINAL/data.csv"
	denied truncate -s 0 "$q/ORIGINAL/data.csv"
	denied mv "$q/ORIGINAL/data.csv" "$q/ORIGINAL/renamed.csv"
	denied touch "$q/ORIGINAL/data.csv"
	denied setfattr -n user.x -v y "$q/ORIGINAL/data.csv"
	denied sh -c 'echo retry >"$1"' sh "$MNT/.dspacefs-status"
	denied sh -c 'echo retry >>"$1"' sh "$MNT/.dspacefs-status"
	denied rm "$MNT/.dspacefs-status"
	[ "$(writes_since "$m")" = 0 ]
	[ "$(server_state)" = "$before" ]
	[ -e "$q/ORIGINAL/data.csv" ]
	[ ! -e "$q/ORIGINAL/nobody.txt" ]
	[ ! -e "$MNT/$PT/Nobody Item" ]
	bounded cmp "$q/ORIGINAL/data.csv" "$FAKE_STATE/content/$(srv_uuid "$ITEM" ORIGINAL data.csv)"
	# the owner still may
	bounded cp "$OPEN/f" "$q/ORIGINAL/owner.txt"
	srv_check "$ITEM" ORIGINAL owner.txt "$OPEN/f"
}

# fd_refused_for_nobody: nobody cannot change (or, without others=read,
# read) through a descriptor that the owner opened and handed down: the
# kernel checked the owner at open, so this reaches the daemon's own uid
# check, which must refuse and log it.
fd_refused_for_nobody() {
	local q="$MNT/$PT/$ITEM" out
	printf 'hello\n' >"$OPEN/hello"
	out=$(
		exec 3>"$q/ORIGINAL/handed.txt" 4<"$MNT/.dspacefs-status"
		printf 'hello\n' >&3
		nobody sh -c 'echo evil | dd status=none >&3' 2>&1 &&
			echo "nobody wrote"
		nobody truncate -s 0 /dev/fd/3 2>&1 && echo "nobody truncated"
		nobody sh -c 'cat <&4' 2>&1 && echo "nobody read the status"
		exec 3>&- 4<&-
	) || true
	echo "$out"
	[[ "$out" != *"nobody "* ]]
	[[ "$out" == *"error writing 'standard output': Permission denied"* ]]
	[[ "$out" == *"cat: -: Permission denied"* ]]
	srv_check "$ITEM" ORIGINAL handed.txt "$OPEN/hello"
	grep -q "refused write of /$PT/$ITEM/ORIGINAL/handed.txt by uid 65534" "$FS_LOG"
	grep -q "refused read of /.dspacefs-status by uid 65534" "$FS_LOG"
}

@test "the status file is mode 0600 and owned by the mounting user" {
	mount_fs 3>&-
	[ "$(stat -c '%a %u' "$MNT/.dspacefs-status")" = "600 $(id -u)" ]
	bounded cat "$MNT/.dspacefs-status" >/dev/null
}

@test "-o allow_other: nobody may not rm, mkdir, write, rename, truncate, setfattr nor command the status file" {
	mount_fs -o allow_other 3>&-
	no_change_by_nobody
}

@test "-o allow_other: nobody may not list, stat below the root, read or getfattr; the owner may" {
	mount_fs -o allow_other 3>&-
	bs="$MNT/$PT/$ITEM/ORIGINAL/data.csv"
	bounded cat "$bs" >/dev/null
	nobody stat "$MNT" >/dev/null
	denied ls "$MNT"
	denied ls "$MNT/$PT"
	denied stat "$bs"
	denied cat "$bs"
	denied getfattr -n user.dspace.uuid "$bs"
	denied cat "$MNT/.dspacefs-status"
	bounded ls "$MNT/$PT" >/dev/null
	bounded cmp "$bs" "$FAKE_STATE/content/$(srv_uuid "$ITEM" ORIGINAL data.csv)"
}

@test "-o allow_other: the daemon itself refuses nobody's writes and reads through a handed-down descriptor" {
	mount_fs -o allow_other 3>&-
	fd_refused_for_nobody
}

@test "-o allow_other,others=read: nobody may browse and read, but change nothing and not read the status file" {
	mount_fs -o allow_other,others=read 3>&-
	bs="$MNT/$PT/$ITEM/ORIGINAL/data.csv"
	[ "$(stat -c %a "$bs")" = 644 ]
	[ "$(stat -c %a "$MNT/$PT")" = 755 ]
	[ "$(stat -c %a "$MNT/.dspacefs-status")" = 600 ]
	run nobody ls "$MNT/$PT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"$ITEM"* ]]
	nobody cat "$bs" >"$T/got"
	cmp "$T/got" "$FAKE_STATE/content/$(srv_uuid "$ITEM" ORIGINAL data.csv)"
	[ "$(nobody getfattr --only-values -n user.dspace.uuid "$bs")" = "$(srv_uuid "$ITEM" ORIGINAL data.csv)" ]
	denied cat "$MNT/.dspacefs-status"
	no_change_by_nobody
	fd_refused_for_nobody
}

@test "without allow_other the modes are unchanged; others=read alone is refused" {
	mount_fs 3>&-
	[ "$(stat -c %a "$MNT/$PT/$ITEM/ORIGINAL/data.csv")" = 644 ]
	[ "$(stat -c %a "$MNT/$PT")" = 755 ]
	unmount_fs
	run bounded "$DSPACEFS" -f -o others=read -o anonymous -o cache_dir="$T/c" "$FAKE_URL" "$MNT"
	[ "$status" -ne 0 ]
	[[ "$output" == *"others=read needs -o allow_other"* ]]
	! is_mounted "$MNT" || false
}

# refused_cache: mounting with cache directory $1 fails before mounting,
# with a message containing $2.
refused_cache() {
	run bounded env DSPACEFS_PASSWORD=admin "$DSPACEFS" -f -o user=admin@example.org \
		-o cache_dir="$1" "$FAKE_URL" "$MNT"
	echo "status $status: $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$2"* ]]
	! is_mounted "$MNT" || false
}

@test "a cache directory that is a symbolic link is refused, and its target left alone" {
	mkdir -m 755 "$T/elsewhere"
	ln -s "$T/elsewhere" "$T/cache"
	refused_cache "$T/cache" "symbolic link"
	[ "$(stat -c %a "$T/elsewhere")" = 755 ]
	[ -z "$(ls -A "$T/elsewhere")" ]
}

@test "spool, content or meta.db as a symbolic link in the cache directory is refused, the target left alone" {
	for e in spool content meta.db; do
		rm -rf "$T/cache" "$T/target"
		mkdir -m 700 "$T/cache"
		mkdir -m 755 "$T/target"
		ln -s "$T/target" "$T/cache/$e"
		refused_cache "$T/cache" "$e is a symbolic link"
		[ "$(stat -c %a "$T/target")" = 755 ]
		[ -z "$(ls -A "$T/target")" ]
	done
}

@test "a cache directory (or its spool) owned by another user is refused" {
	mkdir -m 700 "$T/theirs"
	chown nobody:nogroup "$T/theirs"
	refused_cache "$T/theirs" "owned by uid 65534"
	mkdir -m 700 "$T/mine" "$T/mine/spool"
	chown nobody:nogroup "$T/mine/spool"
	refused_cache "$T/mine" "spool is owned by another user"
	[ "$(stat -c %U "$T/mine/spool")" = nobody ]
}

# silent_server: a port that accepts connections and never answers, so that
# a daemon started on it stays in its login (PID in SILENT_PID, port in
# SILENT_PORT).
silent_server() {
	"$FAKE_PYTHON" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(120)
' >"$T/silent.port" &
	SILENT_PID=$!
	wait_until 10 test -s "$T/silent.port"
	SILENT_PORT=$(cat "$T/silent.port")
}

# daemon_as_nobody [options...]: starts dspacefs as nobody against the silent
# server; it reads its password and then waits for the login (PID in NPID).
daemon_as_nobody() {
	mkdir -p "$OPEN/ncache"
	chown nobody:nogroup "$OPEN/ncache"
	setpriv --reuid=nobody --regid=nogroup --clear-groups -- \
		env DSPACEFS_PASSWORD=secret "$DSPACEFS" -f -o user=a@example.org \
		-o cache_dir="$OPEN/ncache" "$@" \
		"http://127.0.0.1:$SILENT_PORT/server" "$MNT" \
		>"$T/nobody.log" 2>&1 3>&- &
	NPID=$!
	# the password is read before the login starts: wait for the connection
	wait_until 10 sh -c "ls -l /proc/$NPID/fd 2>/dev/null | grep -q socket"
}

# stop_nobody_daemon: ends the daemon started by daemon_as_nobody.
stop_nobody_daemon() {
	kill "$NPID" 2>/dev/null || true
	wait "$NPID" 2>/dev/null || true
}

@test "the daemon is not dumpable once it holds the password (its /proc files belong to root), unless -d" {
	silent_server
	daemon_as_nobody
	owner=$(stat -c %U "/proc/$NPID/environ")
	stop_nobody_daemon
	echo "/proc/PID/environ of the daemon running as nobody is owned by $owner"
	[ "$owner" = root ]
	daemon_as_nobody -d
	owner=$(stat -c %U "/proc/$NPID/environ")
	stop_nobody_daemon
	echo "with -d: owned by $owner"
	[ "$owner" = nobody ]
}
