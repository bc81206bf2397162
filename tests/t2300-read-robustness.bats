#!/usr/bin/env bats
# Read path, robustness: 503 bursts, connections dropped mid-body, malformed
# JSON and unmounting during a read (the server going away: t2320).  Every wait is
# bounded; the daemon must stay alive (or exit promptly when unmounted).

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

teardown() {
	local rc=0
	test_teardown || rc=$?
	fake_control DELETE /faults >/dev/null 2>&1 || true
	return $rc
}

# files_expected: regular files under $MNT for admin (mapped items count twice).
files_expected() {
	fx "sum(len([b for b in find('bitstream') if b['item'] == i['uuid']]) * (1 + len(i['mappedCollections'])) for i in find('item') if i['inArchive'] and not i['withdrawn'] and i['discoverable'])"
}

@test "503 bursts: mounting and a full walk still work (retries)" {
	fake_control POST /faults -d 'status=503,count=3,method=GET' >/dev/null
	fresh_mount -o ro,timeout=5
	run timeout 120 ls -lR "$MNT"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^-r' <<<"$output")" -eq "$(files_expected)" ]
	[ "$(fault_hits)" -eq 3 ]
	# a file read through a burst of 503s
	f=$(bs_path record-050.txt)
	fake_control POST /faults -d "status=503,count=2,path=/content" >/dev/null
	timeout 60 cmp "$f" "$(orig "$f")"
	[ "$(fault_hits)" -eq 2 ]
	fs_alive
}

@test "503 for 10 % of GETs: a full walk and reads still succeed" {
	fake_control POST /faults -d 'status=503,rate=0.1,method=GET' >/dev/null
	fresh_mount -o ro,timeout=5
	run timeout 120 ls -lR "$MNT"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^-r' <<<"$output")" -eq "$(files_expected)" ]
	[ "$(fault_hits)" -ge 1 ]
	for name in run-0002.dat thesis.pdf record-099.txt; do
		f=$(bs_path "$name")
		timeout 60 cmp "$f" "$(orig "$f")"
	done
	fs_alive
}

@test "a connection dropped mid-body: the read resumes and cmp passes" {
	fresh_mount -o ro,timeout=5
	f=$(bs_path run-0001.dat)
	o=$(orig "$f")
	fake_control POST /faults -d 'drop-after=65536,path=/content,count=3' >/dev/null
	mark=$(log_mark)
	timeout 120 cmp "$f" "$o"
	reqs_show "$mark"
	[ "$(fault_hits)" -ge 1 ]
	[ "$(reqs_since "$mark" "r.get('fault') == 'drop-after'")" -ge 1 ]
	# every 4th content response dropped: a second large file still reads right
	fake_control POST /faults -d 'drop-after=65536,path=/content,rate=0.25' >/dev/null
	f=$(bs_path run-0002.dat)
	timeout 120 cmp "$f" "$(orig "$f")"
	fs_alive
}

@test "malformed JSON: ls fails cleanly with an I/O error, the daemon lives, and works again once healed" {
	fresh_mount -o ro,timeout=5,cache_ttl=2
	ls "$MNT" >/dev/null
	fake_control POST /faults -d $'malformed-json,path=/discover\nmalformed-json,path=/bundles\nmalformed-json,path=/core/items\nmalformed-json,path=/core/communities/' >/dev/null
	item=$(fx_path "$(fx "one('item', name='Run 2023-02')['uuid']")")
	start=$(date +%s)
	run timeout 60 ls "$item"
	echo "$output"
	[ "$status" -ne 0 ]
	[ "$status" -ne 124 ]
	[[ "$output" == *"Input/output error"* ]]
	[ $(($(date +%s) - start)) -le 40 ]
	[ "$(fault_hits)" -ge 1 ]
	fs_alive
	fake_control DELETE /faults >/dev/null
	ok=0
	for i in $(seq 1 30); do
		if timeout 30 ls "$item" >/dev/null 2>&1; then
			ok=1
			break
		fi
		sleep 1
	done
	[ "$ok" = 1 ]
	run ls "$item"
	[ "${#lines[@]}" -eq "$(fx "len(find('bundle', parent=one('item', name='Run 2023-02')['uuid']))")" ]
	f=$(bs_path readme.md)
	timeout 30 cmp "$f" "$(orig "$f")"
}

@test "malformed JSON in a listing switched on at runtime for a listed-but-expired item: old data or EIO, never garbage" {
	fresh_mount -o ro,timeout=5,cache_ttl=2
	coll=$(fx_path "$(fx "one('collection', name='Detector Runs')['uuid']")")
	ls -R "$coll" >"$BATS_TEST_TMPDIR/before"
	sleep 3
	fake_control POST /faults -d 'malformed-json,method=GET' >/dev/null
	run timeout 60 ls -R "$coll"
	[ "$status" -ne 124 ]
	if [ "$status" -eq 0 ]; then
		diff "$BATS_TEST_TMPDIR/before" <(echo "$output")
	else
		[[ "$output" == *"Input/output error"* ]]
	fi
	fs_alive
}

@test "unmount while a read is stalled: the read ends and the daemon exits within bounds" {
	fresh_mount -o ro,timeout=5
	f=$(bs_path run-0002.dat)
	ls -l "$f" >/dev/null
	fake_control POST /faults -d 'stall=60,path=/content' >/dev/null
	timeout 100 cat "$f" >/dev/null 2>"$BATS_TEST_TMPDIR/cat.err" 3>&- &
	cat_pid=$!
	sleep 1.5
	kill -0 "$cat_pid"          # the read is in progress
	start=$(date +%s)
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	! is_mounted "$MNT" || false
	# the blocked reader gets an answer (an error) instead of hanging
	for i in $(seq 1 400); do
		kill -0 "$cat_pid" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$cat_pid" 2>/dev/null || false
	rc=0
	wait "$cat_pid" || rc=$?
	[ "$rc" -ne 124 ]
	# and the daemon exits by itself
	for i in $(seq 1 200); do
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$FS_PID" 2>/dev/null || false
	echo "took $(($(date +%s) - start)) s, cat exit $rc: $(cat "$BATS_TEST_TMPDIR/cat.err")"
	[ $(($(date +%s) - start)) -le 40 ]
}

@test "unmount while a slow read streams: the daemon exits promptly" {
	fresh_mount -o ro,timeout=5
	f=$(bs_path run-0001.dat)
	ls -l "$f" >/dev/null
	# a slow trickle: each content response is cut early, so the reader keeps resuming
	fake_control POST /faults -d 'drop-after=4096,path=/content' >/dev/null
	fake_control POST /config -d '{"latency_ms": 300}' >/dev/null
	timeout 100 cat "$f" >/dev/null 2>&1 3>&- &
	cat_pid=$!
	sleep 1.5
	start=$(date +%s)
	fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	for i in $(seq 1 400); do
		kill -0 "$cat_pid" 2>/dev/null || break
		sleep 0.1
	done
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null
	! kill -0 "$cat_pid" 2>/dev/null || false
	for i in $(seq 1 200); do
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$FS_PID" 2>/dev/null || false
	[ $(($(date +%s) - start)) -le 40 ]
}
