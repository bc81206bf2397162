#!/usr/bin/env bats
# rsync and cp -p/-a into a real read-write mount: everything arrives, a
# second identical rsync transfers nothing (times are kept locally), the
# --inplace and --partial modes work.  The mount's listing TTL is 1 s so that
# the checks also run after the listings were fetched again.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o cache_ttl=1,deposit=direct
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	PT="$MNT/Research Data/Physics/Physics Theses"
	T=$BATS_TEST_TMPDIR
}

teardown() {
	test_teardown
}

# mixed_tree DIR: a directory of assorted files with assorted times
mixed_tree() {
	mkdir -p "$1"
	echo "plain text" >"$1/notes.txt"
	head -c 1048576 /dev/urandom >"$1/random.bin"
	: >"$1/empty.dat"
	head -c 100000 /dev/urandom >"$1/name with spaces.dat"
	printf 'a;b\n' >"$1/ünïcödé.csv"
	seq 1 20000 >"$1/numbers.txt"
	touch -d '2001-02-03 04:05:06 UTC' "$1/notes.txt"
	touch -d '2019-12-31 23:59:59 UTC' "$1/random.bin"
}

# same_tree SRC ITEM BUNDLE: every file of SRC is in the bundle, on the server
# and through the mount, and nothing else is (no rsync temp files left).
same_tree() {
	local src=$1 item=$2 bundle=$3 f
	[ "$(srv_names "$item" "$bundle")" = "$(cd "$src" && ls | "$FAKE_PYTHON" -c 'import json, sys; print(json.dumps(sorted(sys.stdin.read().split("\n")[:-1]), ensure_ascii=False))')" ]
	for f in "$src"/*; do
		f=${f##*/}
		srv_check "$item" "$bundle" "$f" "$src/$f"
		bounded cmp "$PT/$item/$bundle/$f" "$src/$f"
	done
	[ "$(bounded ls -A "$PT/$item/$bundle" | wc -l)" = "$(ls -A "$src" | wc -l)" ]
}

@test "rsync -a of a directory of mixed files: all arrive, nothing else" {
	mixed_tree "$T/src"
	bounded mkdir "$PT/Rsync One"
	bounded rsync -a "$T/src/" "$PT/Rsync One/ORIGINAL/"
	same_tree "$T/src" "Rsync One" ORIGINAL
}

@test "a second identical rsync -a transfers nothing and sends no write" {
	mixed_tree "$T/src"
	bounded mkdir "$PT/Rsync Two"
	bounded rsync -a "$T/src/" "$PT/Rsync Two/ORIGINAL/"
	sleep 1.2 # the listings expire (cache_ttl=1)
	m=$(log_mark)
	run bounded rsync -a --stats "$T/src/" "$PT/Rsync Two/ORIGINAL/"
	[ "$status" -eq 0 ]
	[[ "$output" == *"Number of regular files transferred: 0"* ]]
	[ "$(reqs_since "$m" "r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE') and '/authn/' not in r['path']")" = 0 ]
	same_tree "$T/src" "Rsync Two" ORIGINAL
}

@test "rsync --inplace: new files, then changed files rewritten in place" {
	mixed_tree "$T/src"
	bounded mkdir "$PT/Rsync Inplace"
	bounded rsync -a --inplace "$T/src/" "$PT/Rsync Inplace/ORIGINAL/"
	same_tree "$T/src" "Rsync Inplace" ORIGINAL
	old=$(srv_uuid "Rsync Inplace" ORIGINAL numbers.txt)
	seq 5 30000 >"$T/src/numbers.txt"              # longer
	echo "short" >"$T/src/notes.txt"                # shorter
	head -c 1048576 /dev/urandom >"$T/src/random.bin" # same size
	touch -d '2020-01-01 00:00:00 UTC' "$T/src/random.bin"
	bounded rsync -a --inplace "$T/src/" "$PT/Rsync Inplace/ORIGINAL/"
	same_tree "$T/src" "Rsync Inplace" ORIGINAL
	[ "$(fx "find('bitstream', uuid='$old')")" = "[]" ]
	[ "$(stat -c %Y "$PT/Rsync Inplace/ORIGINAL/random.bin")" = "$(stat -c %Y "$T/src/random.bin")" ]
}

@test "rsync --partial works" {
	mixed_tree "$T/src"
	bounded mkdir "$PT/Rsync Partial"
	bounded rsync -a --partial "$T/src/" "$PT/Rsync Partial/ORIGINAL/"
	same_tree "$T/src" "Rsync Partial" ORIGINAL
	echo "changed" >>"$T/src/numbers.txt"
	bounded rsync -a --partial "$T/src/" "$PT/Rsync Partial/ORIGINAL/"
	same_tree "$T/src" "Rsync Partial" ORIGINAL
}

@test "cp -p and cp -a keep the modification time (stat -c %Y), also after the listing is fetched again" {
	dst="$PT/Thesis With Empty Bundle/ORIGINAL"
	echo "kept time" >"$T/p.txt"
	head -c 20000 /dev/urandom >"$T/a.bin"
	touch -d '2001-02-03 04:05:06 UTC' "$T/p.txt"
	touch -d '1999-09-09 09:09:09 UTC' "$T/a.bin"
	bounded cp -p "$T/p.txt" "$dst/"
	bounded cp -a "$T/a.bin" "$dst/"
	[ "$(stat -c %Y "$dst/p.txt")" = "$(stat -c %Y "$T/p.txt")" ]
	[ "$(stat -c %Y "$dst/a.bin")" = "$(stat -c %Y "$T/a.bin")" ]
	srv_check "Thesis With Empty Bundle" ORIGINAL p.txt "$T/p.txt"
	srv_check "Thesis With Empty Bundle" ORIGINAL a.bin "$T/a.bin"
	sleep 1.2
	bounded ls -l "$dst" >/dev/null
	[ "$(stat -c %Y "$dst/p.txt")" = 981173106 ]
	[ "$(stat -c %Y "$dst/a.bin")" = 936868149 ]
	# a plain cp gets a current time, not the source's
	bounded cp "$T/p.txt" "$dst/plain.txt"
	[ "$(stat -c %Y "$dst/plain.txt")" -ge $(($(date +%s) - 120)) ]
}

@test "after the rsync runs nothing is left pending in .dspacefs-status (no stray temp files)" {
	run bounded cat "$MNT/.dspacefs-status"
	[ "$status" -eq 0 ]
	# only the header line (status file: "# session: ...")
	[ "$(printf '%s\n' "$output" | grep -vc '^#')" = 0 ]
}
