#!/usr/bin/env bats
# Read path, content: files read through a real mount compared with the fake
# server's content files (random offsets, tails, empty and large files), and
# permission errors on restricted content.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o ro
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
}

teardown() {
	local rc=0
	test_teardown || rc=$?
	fake_control DELETE /faults >/dev/null || true
	return $rc
}

# The largest bitstream of the fixture: "uuid size name".
largest() {
	fx "' '.join(str(x) for x in max(([b['uuid'], b['size'], b['name']] for b in find('bitstream') if not b['restricted']), key=lambda t: t[1]))"
}

# dd_same FILE ORIG SKIP [BS]: one block read through the mount equals the same block of ORIG.
dd_same() {
	local bs=${4:-4096}
	cmp <(timeout 60 dd if="$1" bs="$bs" skip="$3" count=1 status=none) \
		<(dd if="$2" bs="$bs" skip="$3" count=1 status=none)
}

@test "random-offset reads of a large uncached file: right bytes, ranged requests, no whole download" {
	read -r u size name <<<"$(largest)"
	[ "$size" -ge $((3 * 1024 * 1024)) ]
	f=$(bs_path "$name")
	o=$FAKE_STATE/content/$u
	[ "$(orig "$f")" = "$o" ]
	mark=$(log_mark)
	last=$((size / 4096))
	for skip in 700 3 $last 129 0 $((last - 1)) 450 $((last + 5)); do
		dd_same "$f" "$o" "$skip" || { echo "block $skip differs"; false; }
	done
	# unaligned reads too
	cmp <(timeout 60 dd if="$f" bs=1000 skip=1234 count=3 status=none) <(dd if="$o" bs=1000 skip=1234 count=3 status=none)
	reqs_show "$mark"
	n=$(reqs_since "$mark" "'$u/content' in r['path'] and r['method'] == 'GET'")
	[ "$n" -ge 1 ]
	# every content request asked for a range and got a partial answer
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and not (r['range'] and r['status'] == 206)")" -eq 0 ]
	# and together they are well short of the whole file
	got=$("$FAKE_PYTHON" -S -c '
import json, sys
print(sum(r["bytes"] for r in map(json.loads, list(open(sys.argv[1]))[int(sys.argv[2]) - 1:]) if sys.argv[3] + "/content" in r["path"]))' "$FAKE_LOG" "$mark" "$u")
	[ "$got" -lt $((size / 2)) ]
}

@test "the largest file reads whole and equals the original (after random reads filled parts of it)" {
	read -r u size name <<<"$(largest)"
	f=$(bs_path "$name")
	timeout 120 cmp "$f" "$FAKE_STATE/content/$u"
	[ "$(timeout 60 cat "$f" | wc -c)" -eq "$size" ]
	[ "$(timeout 60 md5sum <"$f" | cut -d' ' -f1)" = "$(fx "one(uuid='$u')['md5']")" ]
}

@test "tail -c of unread files equals the originals' tails (fresh cache)" {
	fresh_mount -o ro
	for name in run-0002.dat run-0001.dat; do
		f=$(bs_path "$name")
		o=$(orig "$f")
		[ "$(stat -c %s "$o")" -gt $((1024 * 1024)) ]
		cmp <(timeout 60 tail -c 1000 "$f") <(tail -c 1000 "$o")
		cmp <(timeout 60 tail -c 300000 "$f") <(tail -c 300000 "$o")
		cmp <(timeout 60 tail -c 1 "$f") <(tail -c 1 "$o")
	done
	timeout 60 cmp "$f" "$o"
}

@test "small files and the empty file equal their originals" {
	n=0
	for name in notes.txt thesis.pdf data.csv readme.md empty.dat paper.pdf run-0001.dat.jpg; do
		f=$(bs_path "$name")
		timeout 60 cmp "$f" "$(orig "$f")" || { echo "$name differs"; false; }
		n=$((n + 1))
	done
	e=$(bs_path empty.dat)
	[ "$(stat -c %s "$(orig "$e")")" -eq 0 ]
	[ "$(timeout 10 cat "$e" | wc -c)" -eq 0 ]
	[ "$(timeout 10 head -c 5 "$(bs_path thesis.pdf)")" = "%PDF-" ]
}

@test "every file of the awkward-names and many-files items reads correctly (found by user.dspace.uuid)" {
	n=0
	for t in "Files With Awkward Names" "Many Files"; do
		d=$(fx_path "$(fx "one('item', name='$t')['uuid']")")/ORIGINAL
		want=$(fx "len([b for b in find('bitstream') if b['parent'] == one('bundle', parent=one('item', name='$t')['uuid'])['uuid']])")
		[ "$(ls -A "$d" | wc -l)" -eq "$want" ]
		for f in "$d"/*; do
			timeout 30 cmp "$f" "$(orig "$f")" || { echo "$f differs"; false; }
			n=$((n + 1))
		done
	done
	[ "$n" -ge 40 ]
}

@test "concurrent readers of the same uncached files all get the right bytes (fresh cache)" {
	fresh_mount -o ro
	a=$(bs_path run-0001.dat)
	b=$(bs_path run-0002.dat)
	pids=()
	for i in 1 2 3; do
		timeout 60 cmp "$a" "$(orig "$a")" &
		pids+=($!)
		timeout 60 cmp "$b" "$(orig "$b")" &
		pids+=($!)
		dd_same "$a" "$(orig "$a")" $((i * 200)) &
		pids+=($!)
	done
	for p in "${pids[@]}"; do
		wait "$p"
	done
}

@test "restricted file: not listed for anonymous unless the server lists it; listed files the server refuses give EACCES" {
	item=$(fx "one('item', name='Item With Restricted File')['uuid']")
	bundle=$(fx "one('bundle', parent='$item')['uuid']")
	secret=$(fx "one('bitstream', name='secret.txt')['uuid']")
	[ "$(fx "one(uuid='$secret')['restricted']")" = true ]
	fresh_mount -o anonymous
	d=$(fx_path "$bundle")
	# what the server shows anonymous in that bundle decides what the mount shows
	api GET "/core/bundles/$bundle/bitstreams"
	[ "$STATUS" = 200 ]
	listed=$(jbody "'$secret' in [b['uuid'] for b in d['_embedded']['bitstreams']]")
	run ls "$d"
	[ "$status" -eq 0 ]
	[[ "$output" == *public.txt* ]]
	if [ "$listed" = true ]; then
		[[ "$output" == *secret.txt* ]]
		run timeout 30 cat "$d/secret.txt"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Permission denied"* ]]
	else
		[[ "$output" != *secret.txt* ]]
	fi
	# the public file reads
	timeout 30 cmp "$d/public.txt" "$(orig "$d/public.txt")"
	# as a real DSpace answers for content that became restricted (embargo):
	# 401 for anonymous -> EACCES, not EIO, and the daemon lives on
	pub=$(fx "one('bitstream', name='public.txt')['uuid']")
	other=$(fx "one('bitstream', name='record-012.txt')['uuid']")
	fake_control POST /faults -d "status=401,path=$other/content" >/dev/null
	f=$(fx_path "$other")
	[ -f "$f" ]
	run timeout 30 cat "$f"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	fs_alive
	timeout 30 cmp "$d/public.txt" "$FAKE_STATE/content/$pub"
}

@test "logged-in user refused by the server (403) gets EACCES" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org
	u=$(fx "one('bitstream', name='record-013.txt')['uuid']")
	fake_control POST /faults -d "status=403,path=$u/content" >/dev/null
	f=$(fx_path "$u")
	[ -f "$f" ]
	run timeout 30 cat "$f"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	fs_alive
	fake_control DELETE /faults >/dev/null
	ls "$(dirname "$f")" >/dev/null
}
