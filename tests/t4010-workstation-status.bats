#!/usr/bin/env bats
# Workstation visibility and control: the status file shows a streamed
# upload in flight (bytes sent growing, a rate), its header line tells the
# session, server version, cache use and offline state; "refresh" written
# to it makes a change made in the web UI show at once.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o cache_ttl=3600
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	ITEM="Thesis With Empty Bundle"
	DST="$MNT/Research Data/Physics/Physics Theses/$ITEM/ORIGINAL"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# slow_write SRC DST: copies SRC to DST in 256 KiB writes, 50 ms apart.
slow_write() {
	python3 -c '
import os, sys, time
src = open(sys.argv[1], "rb")
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
while True:
    b = src.read(256 * 1024)
    if not b:
        break
    os.write(fd, b)
    time.sleep(0.05)
os.close(fd)
' "$1" "$2"
}

# sent SUFFIX: the bytes-sent column of that upload's row (empty if none).
sent() {
	pending_field "$1" 6 2>/dev/null
}

# has_sent SUFFIX: that upload has a row with more than 0 bytes sent.
has_sent() {
	[ "$(sent "$1")" -gt 0 ] 2>/dev/null
}

# header: the status file's header line.
header() {
	timeout 10 cat "$MNT/.dspacefs-status" | head -n 1
}

@test "a streamed upload has a status row whose bytes sent grow, with a rate" {
	head -c $((12 * 1024 * 1024)) /dev/urandom >"$T/big.bin"
	bounded ls "$DST" >/dev/null
	slow_write "$T/big.bin" "$DST/big.bin" &
	w=$!
	wait_until 10 has_sent big.bin
	a=$(sent big.bin)
	sleep 1
	b=$(sent big.bin)
	line=$(pending_line big.bin)
	wait "$w"
	echo "a=$a b=$b line=$line"
	[ "$b" -gt "$a" ]
	# streamed while written: the row stays "writing" (a crash leaves it incomplete)
	[ "$(printf "%s\n" "$line" | cut -f3)" = writing ]
	rate=$(printf '%s\n' "$line" | cut -f8)
	[ "$rate" -gt 0 ]
	srv_check "$ITEM" ORIGINAL big.bin "$T/big.bin"
	wait_until 10 no_pending big.bin
}

@test "the header line gives the session, the server, cache and spool use, and online" {
	h=$(header)
	echo "$h"
	[[ $h == "# session: logged in as admin@example.org; server: DSpace 7.6 at $FAKE_API; cache: "*" of "*" bytes; spool: "*" bytes; online" ]]
	# only that line starts with #
	[ "$(timeout 10 cat "$MNT/.dspacefs-status" | grep -c '^#')" = 1 ]
}

@test "an anonymous mount says so in the header" {
	MNT='' FS_PID='' FS_LOG='' FS_CACHE=''
	mount_fs -o anonymous 3>&-
	h=$(header)
	echo "$h"
	[[ $h == "# session: anonymous; server: DSpace 7.6 at $FAKE_API; "* ]]
	unmount_fs
}

@test "refresh written to the status file shows a change made in the web UI at once" {
	u=$(fx "one('bitstream', name='data.csv')['uuid']")
	d=$(dirname "$(fx_path "$u")")
	bounded ls "$d" | grep -qx data.csv
	fake_login admin@example.org admin
	api_as PATCH "/core/bitstreams/$u" -H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"renamed-on-web.csv"}}]'
	[ "$STATUS" = 200 ]
	# the TTL (an hour) keeps the old listing
	bounded ls "$d" | grep -qx data.csv
	bounded sh -c 'echo refresh >"$1"' sh "$MNT/.dspacefs-status"
	run bounded ls "$d"
	echo "$output"
	grep -qx renamed-on-web.csv <<<"$output"
	! grep -qx data.csv <<<"$output" || false
	[ -f "$d/renamed-on-web.csv" ]
	! stat "$d/data.csv" 2>/dev/null || false
	grep -q 'refresh: every cached listing is stale now' "$FS_LOG"
}

@test "ls -l of a directory of N entries costs no request per entry" {
	d="$MNT/Awkward Names/Edge Cases/Many Files/ORIGINAL"
	bounded ls "$(dirname "$d")" >/dev/null
	bounded sh -c 'echo refresh >"$1"' sh "$MNT/.dspacefs-status"
	m=$(log_mark)
	run bounded ls -l "$d"
	[ "$status" -eq 0 ]
	n=$(grep -c '^-' <<<"$output")
	reqs=$(reqs_since "$m")
	per_entry=$(reqs_since "$m" "'/core/bitstreams/' in r['path']")
	reqs_show "$m" >&2 || true
	echo "ls -l of $n entries after refresh: $reqs requests" >&3
	[ "$n" -ge 20 ]
	[ "$per_entry" -eq 0 ]
	# A constant, whatever n: at most 3 for the directory itself, and when
	# the kernel's entries of the path expired meanwhile (a loaded machine)
	# the collection's listing, its rights and the user's drafts (5 more).
	[ "$reqs" -le 8 ]
	m=$(log_mark)
	bounded ls -l "$d" >/dev/null
	[ "$(reqs_since "$m")" = 0 ]
}

# Last: it stops the file's server.
@test "server down: after refresh, cached listings and content stay readable, uncached fails with EIO, the header says offline since" {
	MNT='' FS_PID='' FS_LOG='' FS_CACHE=''
	mount_fs -o ro,timeout=5,cache_ttl=3600 3>&-
	f=$(bs_path notes.txt)
	d=$(dirname "$f")
	bounded ls "$d" >"$T/before"
	bounded cp "$f" "$T/content"
	other=$(bs_path run-0002.dat)
	stat "$other" >/dev/null
	[[ $(header) == *"; online" ]]
	fake_stop
	bounded sh -c 'cat "$1" >/dev/null; echo refresh >"$1"' sh "$MNT/.dspacefs-status" || true
	run timeout 60 ls "$d"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "$(cat "$T/before")" ]
	timeout 30 cmp "$f" "$T/content"
	start=$(date +%s)
	run timeout 60 cat "$other"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	[ $(($(date +%s) - start)) -le 40 ]
	h=$(header)
	echo "$h"
	[[ $h == *"; offline since 20"*Z ]]
	unmount_fs
}
