#!/usr/bin/env bats
# Read path, caching, judged by the fake server's request log: listings and
# content served from the cache within the TTL, changes seen after it, the
# cache reused (same inodes) and revalidated by a remount, negative entries for
# desktop probe names, and file-manager views that never download whole files.

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
	test_teardown
}

@test "a repeated ls -lR within the TTL makes no HTTP request" {
	timeout 60 ls -lR "$MNT" >"$BATS_TEST_TMPDIR/first"
	[ "$(grep -c '^-r' "$BATS_TEST_TMPDIR/first")" -gt 150 ]
	mark=$(log_mark)
	timeout 60 ls -lR "$MNT" >"$BATS_TEST_TMPDIR/second"
	timeout 60 find "$MNT" -type f -size +0 >/dev/null
	reqs_show "$mark"
	[ "$(reqs_since "$mark")" -eq 0 ]
	diff "$BATS_TEST_TMPDIR/first" "$BATS_TEST_TMPDIR/second"
}

@test "negative lookups of desktop probe names in a listed directory make no request" {
	d=$(dirname "$(bs_path notes.txt)")
	item=$(dirname "$d")
	ls "$d" "$item" >/dev/null
	mark=$(log_mark)
	for dir in "$d" "$item" "$MNT"; do
		for n in .hidden .directory .Trash-0 .Trash-1000 desktop.ini autorun.inf .xdg-volume-info .git; do
			run stat "$dir/$n"
			[ "$status" -ne 0 ]
			[[ "$output" == *"No such file or directory"* ]]
		done
	done
	reqs_show "$mark"
	[ "$(reqs_since "$mark")" -eq 0 ]
	fs_alive
}

@test "a second read of a file comes from the content cache (direct_io: no kernel page cache)" {
	fresh_mount -o ro,direct_io
	for name in run-0002.dat notes.txt; do
		f=$(bs_path "$name")
		o=$(orig "$f")
		u=$(basename "$o")
		timeout 60 cmp "$f" "$o"
		[ "$(reqs_since 1 "'$u/content' in r['path']")" -ge 1 ]
		mark=$(log_mark)
		timeout 60 cmp "$f" "$o"
		timeout 60 cat "$f" >/dev/null
		timeout 60 dd if="$f" bs=4096 skip=3 count=1 status=none >/dev/null
		reqs_show "$mark"
		[ "$(reqs_since "$mark" "'/content' in r['path']")" -eq 0 ]
	done
}

@test "the content cache survives a remount: a file read before is not downloaded again" {
	fresh_mount -o ro
	f=$(bs_path readme.md)
	timeout 60 cmp "$f" "$(orig "$f")"
	u=$(basename "$(orig "$f")")
	cache=$FS_CACHE
	unmount_fs
	MNT=
	FS_LOG=
	FS_CACHE=$cache
	mount_fs -o ro
	f=$(bs_path readme.md)
	mark=$(log_mark)
	timeout 60 cmp "$f" "$FAKE_STATE/content/$u"
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['method'] == 'GET' and r['status'] in (200, 206)")" -eq 0 ]
}

@test "after the TTL, a bitstream renamed and a file uploaded on the server show up" {
	fresh_mount -o ro,cache_ttl=2
	u=$(fx "one('bitstream', name='data.csv')['uuid']")
	f=$(fx_path "$u")
	d=$(dirname "$f")
	bundle=$(fx "one(uuid='$u')['parent']")
	ls "$d" >"$BATS_TEST_TMPDIR/before"
	grep -qx data.csv "$BATS_TEST_TMPDIR/before"
	! grep -qx renamed.csv "$BATS_TEST_TMPDIR/before" || false
	ino=$(stat -c %i "$f")
	fake_login admin@example.org admin
	api_as PATCH "/core/bitstreams/$u" -H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"renamed.csv"}}]'
	[ "$STATUS" = 200 ]
	printf 'uploaded through the API\n' >"$BATS_TEST_TMPDIR/new-upload.txt"
	api_as POST "/core/bundles/$bundle/bitstreams" -F "file=@$BATS_TEST_TMPDIR/new-upload.txt"
	[ "$STATUS" = 201 ]
	[ "$(fx "one(uuid='$u')['name']")" = renamed.csv ]
	sleep 3
	mark=$(log_mark)
	run ls "$d"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(reqs_since "$mark")" -ge 1 ]
	grep -qx renamed.csv <<<"$output"
	! grep -qx data.csv <<<"$output" || false
	grep -qx new-upload.txt <<<"$output"
	[ "$(ls "$d" | wc -l)" -eq "$(fx "len(find('bitstream', parent='$bundle'))")" ]
	# same object, same inode, under its new name; the new file reads
	[ "$(stat -c %i "$d/renamed.csv")" = "$ino" ]
	[ "$(getfattr --absolute-names --only-values -n user.dspace.uuid "$d/renamed.csv")" = "$u" ]
	timeout 30 cmp "$d/renamed.csv" "$FAKE_STATE/content/$u"
	timeout 30 cmp "$d/new-upload.txt" "$BATS_TEST_TMPDIR/new-upload.txt"
	run stat "$d/data.csv"
	[ "$status" -ne 0 ]
}

@test "a remount reuses the cache (same inodes and names) and revalidates listings after the TTL" {
	fresh_mount -o ro,cache_ttl=2
	timeout 60 find "$MNT" -printf '%i\t%P\n' | LC_ALL=C sort >"$BATS_TEST_TMPDIR/a"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/a")" -gt 400 ]
	cache=$FS_CACHE
	unmount_fs
	sleep 3
	MNT=
	FS_LOG=
	FS_CACHE=$cache
	mark=$(log_mark)
	mount_fs -o ro,cache_ttl=2
	timeout 60 find "$MNT" -printf '%i\t%P\n' | LC_ALL=C sort >"$BATS_TEST_TMPDIR/b"
	diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	# the listings were fetched again, not trusted forever
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "r['method'] == 'GET' and ('/discover/' in r['path'] or '/core/communities' in r['path'])")" -ge 3 ]
}

# gio's attribute reads: content sniffing may read the first bytes, never more.
gio_check() {
	local mark=$1
	reqs_show "$mark"
	# no content request without a Range, none for more than 1 MiB
	[ "$(reqs_since "$mark" "'/content' in r['path'] and r['method'] == 'GET' and not r['range']")" -eq 0 ]
	[ "$(reqs_since "$mark" "'/content' in r['path'] and r['method'] == 'GET' and r['bytes'] > 1048576")" -eq 0 ]
	[ "$("$FAKE_PYTHON" -S -c '
import json, re, sys
bad = 0
for r in map(json.loads, list(open(sys.argv[1]))[int(sys.argv[2]) - 1:]):
    if "/content" in r["path"] and r["method"] == "GET":
        m = re.fullmatch(r"bytes=(\d+)-(\d+)", r["range"] or "")
        if not m or int(m.group(2)) - int(m.group(1)) + 1 > 1048576:
            bad += 1
print(bad)' "$FAKE_LOG" "$mark")" -eq 0 ]
}

@test "file manager view: gio list of a collection and of a bundle, gio info of a file: no whole-file downloads" {
	command -v gio >/dev/null || skip "gio (libglib2.0-bin) is not installed"
	fresh_mount -o ro
	coll=$(fx_path "$(fx "one('collection', name='Detector Runs')['uuid']")")
	mark=$(log_mark)
	run timeout 60 gio list -a 'standard::*' "$coll"
	echo "$output"
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq "$(ls "$coll" | wc -l)" ]
	gio_check "$mark"
	big=$(bs_path run-0001.dat)
	size=$(stat -c %s "$big")
	u=$(basename "$(orig "$big")")
	mark=$(log_mark)
	run timeout 60 gio list -a 'standard::*' "$(dirname "$big")"
	[ "$status" -eq 0 ]
	[[ "$output" == *run-0001.dat* ]]
	run timeout 60 gio info "$(bs_path run-0002.dat)"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"size:  $(stat -c %s "$(bs_path run-0002.dat)")"* ]]
	run timeout 60 gio info -a 'standard::*,thumbnail::*,access::*' "$big"
	[ "$status" -eq 0 ]
	gio_check "$mark"
	# and the bytes downloaded stay far below the files' sizes
	got=$("$FAKE_PYTHON" -S -c '
import json, sys
print(sum(r["bytes"] for r in map(json.loads, list(open(sys.argv[1]))[int(sys.argv[2]) - 1:]) if "/content" in r["path"]))' "$FAKE_LOG" "$mark")
	[ "$got" -lt $((size / 2)) ]
}
