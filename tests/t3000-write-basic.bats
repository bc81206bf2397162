#!/usr/bin/env bats
# Write path through a real read-write mount (admin): mkdir of items and
# bundles, cp uploads (small, empty, a few MiB, a tree), overwrite, mv inside
# a bundle, between bundles and across items, rm and rmdir.  Every check is
# made against the fake server's fixture.json, content files or API.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o deposit=direct
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	PT="$MNT/Research Data/Physics/Physics Theses"
	DR="$MNT/Research Data/Physics/Particle Physics/Detector Runs"
	EMPTY="Thesis With Empty Bundle"
	QUANT="On the Quantum Behaviour of Small Things"
	SUPER="Superconductivity at Room Temperature?"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# uploads MARK: POSTs to a bundle's bitstreams since MARK
uploads() {
	reqs_since "$1" "r['method'] == 'POST' and r['path'].endswith('/bitstreams')"
}

@test "mkdir in a collection creates an archived, discoverable item titled after it, with an empty ORIGINAL bundle" {
	ls "$PT" >/dev/null
	bounded mkdir "$PT/NewItem"
	[ -d "$PT/NewItem" ]
	bounded ls "$PT" | grep -qx NewItem
	[ -d "$PT/NewItem/ORIGINAL" ]
	[ -z "$(bounded ls -A "$PT/NewItem/ORIGINAL")" ]
	it=$(fx "one('item', name='NewItem')['uuid']")
	[ "$(fx "one('item', uuid='$it')['parent']")" = "$(fx "one('collection', name='Physics Theses')['uuid']")" ]
	[ "$(fx "[b['name'] for b in kids('$it', 'bundle')]")" = '["ORIGINAL"]' ]
	[ "$(fx "len(kids(kids('$it', 'bundle')[0]['uuid']))")" = 0 ]
	fake_login admin@example.org admin
	api_as GET "/core/items/$it"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[[m["value"] for m in d["metadata"]["dc.title"]], d["inArchive"], d["discoverable"], d["withdrawn"]]')" = '[["NewItem"], true, true, false]' ]
	# discoverable: anonymous discovery finds it
	api GET "/discover/search/objects?dsoType=ITEM&query=NewItem"
	[ "$(jbody '[o["_embedded"]["indexableObject"]["uuid"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = "[\"$it\"]" ]
}

@test "mkdir in an item creates a bundle" {
	ls "$PT/$SUPER" >/dev/null
	bounded mkdir "$PT/$SUPER/EXTRA"
	[ -d "$PT/$SUPER/EXTRA" ]
	bounded ls "$PT/$SUPER" | grep -qx EXTRA
	it=$(fx "one('item', name='$SUPER')['uuid']")
	[ "$(fx "sorted(b['name'] for b in kids('$it', 'bundle'))")" = '["EXTRA", "ORIGINAL"]' ]
	[ -z "$(bounded ls -A "$PT/$SUPER/EXTRA")" ]
}

@test "cp uploads a file: server MD5 and size match, one POST, ls -l shows it at once, cmp through the mount" {
	dst="$PT/$EMPTY/ORIGINAL"
	[ -z "$(bounded ls -A "$dst")" ]   # cache the empty listing first
	head -c 200000 /dev/urandom >"$T/a.bin"
	m=$(log_mark)
	bounded cp "$T/a.bin" "$dst/"
	srv_check "$EMPTY" ORIGINAL a.bin "$T/a.bin"
	[ "$(uploads "$m")" = 1 ]
	run bounded ls -l "$dst"
	[ "$status" -eq 0 ]
	[ "$(printf '%s\n' "$output" | awk '$NF == "a.bin" { print $5 }')" = 200000 ]
	[ "$(stat -c '%s %F' "$dst/a.bin")" = "200000 regular file" ]
	bounded cmp "$dst/a.bin" "$T/a.bin"
}

@test "cp of a 0-byte file creates an empty bitstream" {
	: >"$T/zero.dat"
	bounded cp "$T/zero.dat" "$PT/$EMPTY/ORIGINAL/"
	srv_check "$EMPTY" ORIGINAL zero.dat "$T/zero.dat"
	[ "$(stat -c %s "$PT/$EMPTY/ORIGINAL/zero.dat")" = 0 ]
	[ "$(bounded cat "$PT/$EMPTY/ORIGINAL/zero.dat" | wc -c)" = 0 ]
}

@test "cp of a 5 MiB file uploads it whole" {
	head -c $((5 * 1024 * 1024 + 123)) /dev/urandom >"$T/big.bin"
	bounded cp "$T/big.bin" "$PT/$EMPTY/ORIGINAL/"
	srv_check "$EMPTY" ORIGINAL big.bin "$T/big.bin"
	[ "$(stat -c %s "$PT/$EMPTY/ORIGINAL/big.bin")" = $((5 * 1024 * 1024 + 123)) ]
	bounded cmp "$PT/$EMPTY/ORIGINAL/big.bin" "$T/big.bin"
}

@test "cp -r of a small tree of files into a new item's bundle" {
	mkdir "$T/src"
	echo "first file" >"$T/src/one.txt"
	head -c 70000 /dev/urandom >"$T/src/two.bin"
	printf 'a,b\n1,2\n' >"$T/src/table.csv"
	head -c 1500000 /dev/urandom >"$T/src/with space.dat"
	: >"$T/src/empty"
	bounded mkdir "$PT/Tree Item"
	bounded cp -r "$T/src/." "$PT/Tree Item/ORIGINAL/"
	[ "$(srv_names "Tree Item" ORIGINAL)" = '["empty", "one.txt", "table.csv", "two.bin", "with space.dat"]' ]
	for f in one.txt two.bin table.csv "with space.dat" empty; do
		srv_check "Tree Item" ORIGINAL "$f" "$T/src/$f"
		bounded cmp "$PT/Tree Item/ORIGINAL/$f" "$T/src/$f"
	done
	[ "$(bounded ls "$PT/Tree Item/ORIGINAL" | wc -l)" = 5 ]
}

@test "uploaded files read back equal after a remount with an empty cache" {
	dst="$DR/Run 2023-02/ORIGINAL"
	head -c 300001 /dev/urandom >"$T/r1.bin"
	head -c 3000000 /dev/urandom >"$T/r2.bin"
	bounded cp "$T/r1.bin" "$T/r2.bin" "$dst/"
	unmount_fs
	FS_CACHE=$(mktemp -d "$BATS_FILE_TMPDIR/cache2.XXXXXX")
	mount_fs -o deposit=direct 3>&-
	save_mount
	bounded cmp "$dst/r1.bin" "$T/r1.bin"
	bounded cmp "$dst/r2.bin" "$T/r2.bin"
	[ "$(stat -c %s "$dst/r2.bin")" = 3000000 ]
	srv_check "Run 2023-02" ORIGINAL r1.bin "$T/r1.bin"
	srv_check "Run 2023-02" ORIGINAL r2.bin "$T/r2.bin"
}

@test "cp over an existing file replaces its content; the old bitstream is deleted" {
	dst="$PT/$EMPTY/ORIGINAL"
	echo "old content" >"$T/old"
	head -c 50000 /dev/urandom >"$T/new"
	bounded cp "$T/old" "$dst/ow.bin"
	old=$(srv_uuid "$EMPTY" ORIGINAL ow.bin)
	bounded cmp "$dst/ow.bin" "$T/old"
	bounded cp "$T/new" "$dst/ow.bin"
	srv_check "$EMPTY" ORIGINAL ow.bin "$T/new"
	[ "$(fx "find('bitstream', uuid='$old')")" = "[]" ]
	[ "$(fx "[o['deleted'] for o in allobjs if o['uuid'] == '$old']")" = "[true]" ]
	[ "$(stat -c %s "$dst/ow.bin")" = 50000 ]
	bounded cmp "$dst/ow.bin" "$T/new"
	# a fixture file too (not created by this mount)
	u=$(srv_uuid "$QUANT" ORIGINAL data.csv)
	printf 'x,y\n3,4\n5,6\n' >"$T/data.csv"
	bounded cp "$T/data.csv" "$PT/$QUANT/ORIGINAL/data.csv"
	srv_check "$QUANT" ORIGINAL data.csv "$T/data.csv"
	[ "$(fx "find('bitstream', uuid='$u')")" = "[]" ]
	bounded cmp "$PT/$QUANT/ORIGINAL/data.csv" "$T/data.csv"
}

@test "mv inside a bundle renames the bitstream: a PATCH, no new upload" {
	dst="$PT/$EMPTY/ORIGINAL"
	echo "rename me" >"$T/f"
	bounded cp "$T/f" "$dst/before.txt"
	u=$(srv_uuid "$EMPTY" ORIGINAL before.txt)
	m=$(log_mark)
	bounded mv "$dst/before.txt" "$dst/after.txt"
	[ ! -e "$dst/before.txt" ]
	bounded cmp "$dst/after.txt" "$T/f"
	[ "$(fx "one('bitstream', uuid='$u')['name']")" = after.txt ]
	[ "$(srv_bs "$EMPTY" ORIGINAL before.txt)" = "[]" ]
	patched() { [ "$(reqs_since "$m" "r['method'] == 'PATCH' and '$u' in r['path']")" -ge 1 ]; }
	wait_until 5 patched
	[ "$(uploads "$m")" = 0 ]
	bounded ls "$dst" | grep -qx after.txt
	[ -z "$(bounded ls "$dst" | grep -x before.txt)" ]
}

@test "mv over an existing file replaces it with the renamed bitstream" {
	dst="$PT/$EMPTY/ORIGINAL"
	echo "source side" >"$T/a"
	echo "target side, to be replaced" >"$T/b"
	bounded cp "$T/a" "$dst/over_a.txt"
	bounded cp "$T/b" "$dst/over_b.txt"
	ua=$(srv_uuid "$EMPTY" ORIGINAL over_a.txt)
	ub=$(srv_uuid "$EMPTY" ORIGINAL over_b.txt)
	m=$(log_mark)
	bounded mv "$dst/over_a.txt" "$dst/over_b.txt"
	[ ! -e "$dst/over_a.txt" ]
	bounded cmp "$dst/over_b.txt" "$T/a"
	srv_check "$EMPTY" ORIGINAL over_b.txt "$T/a"
	[ "$(srv_uuid "$EMPTY" ORIGINAL over_b.txt)" = "$ua" ]
	[ "$(srv_bs "$EMPTY" ORIGINAL over_a.txt)" = "[]" ]
	[ "$(fx "find('bitstream', uuid='$ub')")" = "[]" ]
	[ "$(uploads "$m")" = 0 ]
}

@test "mv between bundles of the same item moves the bitstream (same UUID, no upload)" {
	it="$PT/$QUANT"
	bounded mkdir "$it/SUPPLEMENT"
	head -c 10000 /dev/urandom >"$T/mb.bin"
	bounded cp "$T/mb.bin" "$it/ORIGINAL/mb.bin"
	u=$(srv_uuid "$QUANT" ORIGINAL mb.bin)
	m=$(log_mark)
	bounded mv "$it/ORIGINAL/mb.bin" "$it/SUPPLEMENT/mb.bin"
	[ ! -e "$it/ORIGINAL/mb.bin" ]
	bounded cmp "$it/SUPPLEMENT/mb.bin" "$T/mb.bin"
	[ "$(srv_uuid "$QUANT" SUPPLEMENT mb.bin)" = "$u" ]
	[ "$(srv_bs "$QUANT" ORIGINAL mb.bin)" = "[]" ]
	[ "$(uploads "$m")" = 0 ]
	# a fixture file, renamed on the way
	u=$(srv_uuid "$QUANT" ORIGINAL thesis.pdf)
	cp "$FAKE_STATE/content/$u" "$T/thesis.pdf"
	bounded mv "$it/ORIGINAL/thesis.pdf" "$it/SUPPLEMENT/thesis-v1.pdf"
	[ "$(srv_uuid "$QUANT" SUPPLEMENT thesis-v1.pdf)" = "$u" ]
	bounded cmp "$it/SUPPLEMENT/thesis-v1.pdf" "$T/thesis.pdf"
	[ "$(srv_names "$QUANT" ORIGINAL)" = '["data.csv"]' ]
}

@test "mv to another item: rename(2) answers EXDEV, mv copies and deletes" {
	src="$PT/$EMPTY/ORIGINAL"
	dst="$DR/Run 2023-02/ORIGINAL"
	head -c 123456 /dev/urandom >"$T/x.bin"
	bounded cp "$T/x.bin" "$src/xitem.bin"
	u=$(srv_uuid "$EMPTY" ORIGINAL xitem.bin)
	run bounded "$FAKE_PYTHON" -c '
import errno, os, sys
try:
    os.rename(sys.argv[1], sys.argv[2])
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
else:
    print("renamed")' "$src/xitem.bin" "$dst/xitem.bin"
	[ "$output" = EXDEV ]
	bounded mv "$src/xitem.bin" "$dst/xitem.bin"
	[ ! -e "$src/xitem.bin" ]
	bounded cmp "$dst/xitem.bin" "$T/x.bin"
	srv_check "Run 2023-02" ORIGINAL xitem.bin "$T/x.bin"
	[ "$(srv_bs "$EMPTY" ORIGINAL xitem.bin)" = "[]" ]
	[ "$(fx "find('bitstream', uuid='$u')")" = "[]" ]
}

@test "rm deletes the bitstream on the server" {
	dst="$PT/$EMPTY/ORIGINAL"
	echo "short-lived" >"$T/gone"
	bounded cp "$T/gone" "$dst/gone.txt"
	u=$(srv_uuid "$EMPTY" ORIGINAL gone.txt)
	bounded rm "$dst/gone.txt"
	[ ! -e "$dst/gone.txt" ]
	[ "$(fx "find('bitstream', uuid='$u')")" = "[]" ]
	[ -z "$(bounded ls "$dst" | grep -x gone.txt)" ]
	# a fixture file
	r="$DR/Run 2023-02/ORIGINAL"
	u=$(srv_uuid "Run 2023-02" ORIGINAL readme.md)
	bounded rm "$r/readme.md"
	[ ! -e "$r/readme.md" ]
	[ "$(fx "find('bitstream', uuid='$u')")" = "[]" ]
	fake_login admin@example.org admin
	api_as GET "/core/bitstreams/$u"
	[ "$STATUS" = 404 ]
}

@test "rmdir removes an empty bundle; a non-empty bundle or item is 'Directory not empty'" {
	it="$PT/$SUPER"
	bounded mkdir "$it/SCRATCH"
	itu=$(fx "one('item', name='$SUPER')['uuid']")
	[ "$(fx "[b['name'] for b in kids('$itu', 'bundle') if b['name'] == 'SCRATCH']")" = '["SCRATCH"]' ]
	bounded rmdir "$it/SCRATCH"
	[ ! -e "$it/SCRATCH" ]
	[ "$(fx "[b['name'] for b in kids('$itu', 'bundle') if b['name'] == 'SCRATCH']")" = '[]' ]
	run bounded rmdir "$it/ORIGINAL"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Directory not empty"* ]]
	run bounded rmdir "$it"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Directory not empty"* ]]
	[ "$(srv_names "$SUPER" ORIGINAL)" = '["paper.pdf"]' ]
	[ "$(fx "len(find('item', uuid='$itu'))")" = 1 ]
	[ -d "$it/ORIGINAL" ]
}

@test "after these successful writes nothing is left pending in .dspacefs-status" {
	run bounded cat "$MNT/.dspacefs-status"
	[ "$status" -eq 0 ]
	# only the header line (status file: "# session: ...")
	[ "$(printf '%s\n' "$output" | grep -vc '^#')" = 0 ]
}
