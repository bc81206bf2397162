#!/usr/bin/env bats
# Citation cover pages on the read path (issue 9; core/cover.h). A DSpace
# with citation-page.enable_globally serves PDFs to non-administrators as a
# generated document (cover page + the PDF): another length than sizeBytes,
# the ETag md5("coverpage:" + checksum) from 9.0 (the checksum itself on
# 7.x/8.x), and a new document for every request (Range included). The
# mount reads such a file as one whole response per open, tells stat the
# served size, never checks it against the MD5, and never mixes bytes of
# two documents; every other file stays ranged and MD5-verified.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small --cover-pages --dspace-version 9.1
	# A PDF of several read windows (6 MiB), uploaded as the admin.
	T0=$(test_tmpdir)
	{ printf '%%PDF-1.4\n'; head -c $((6 * 1024 * 1024)) /dev/urandom; } >"$T0/big.pdf"
	item=$(fx "one('item', name='Superconductivity at Room Temperature?')['uuid']")
	b=$(fx "[o for o in kids('$item', 'bundle') if o['name'] == 'ORIGINAL'][0]['uuid']")
	fake_login admin@example.org admin
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$T0/big.pdf;filename=big.pdf;type=application/pdf"
	[ "$STATUS" = 201 ]
	FS_PASSWORD=user fresh_mount -o ro -o user=user@example.org 3>&-
	save_mount
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

# served UUID OUT: the document the server serves the user now (curl).
served() {
	fake_login user@example.org user
	api_as GET "/core/bitstreams/$1/content"
	[ "$STATUS" = 200 ]
	cp "$FAKE_DIR/body" "$2"
}

# uuid_of NAME / md5_of NAME / size_of NAME: the bitstream's JSON fields.
uuid_of() { fx "one('bitstream', name='$1')['uuid']"; }
md5_of() { fx "one('bitstream', name='$1')['md5']"; }
size_of() { fx "one('bitstream', name='$1')['size']"; }

# one_generation FILE UUID: FILE is a prefix of exactly one cover-page
# document the server generated for UUID (its generations are kept in
# FAKE_STATE/tmp); prints that document.
one_generation() {
	local g n=0 hit=
	for g in "$FAKE_STATE"/tmp/cover-"$2"-*.pdf; do
		if cmp -s -n "$(stat -c %s "$1")" "$1" "$g"; then
			n=$((n + 1))
			hit=$g
		fi
	done
	echo "$1 is a prefix of $n generation(s)" >&2
	[ "$n" -eq 1 ] && echo "$hit"
}

@test "a cover-paged PDF: stat tells the served size after the first read; cat, md5sum and cp give the served bytes" {
	for name in thesis.pdf big.pdf; do
		f=$(bs_path "$name")
		u=$(uuid_of "$name")
		served "$u" "$T/$name"
		# the served document is another one than sizeBytes describes
		[ "$(stat -c %s "$T/$name")" -ne "$(size_of "$name")" ]
		mark=$(log_mark)
		sum=$(bounded cat "$f" | md5sum | cut -d' ' -f1)
		[ "$sum" = "$(md5sum <"$T/$name" | cut -d' ' -f1)" ]
		[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$T/$name")" ]
		bounded cp "$f" "$T/copy-$name"
		cmp "$T/copy-$name" "$T/$name"
		[ "$(bounded md5sum <"$f" | cut -d' ' -f1)" = "$sum" ]
		[ "$(getfattr --absolute-names --only-values -n user.dspace.cover_page "$f")" = 1 ]
		# read as whole responses: never a range that starts inside it
		reqs_show "$mark"
		[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r.get('range') and not r['range'].startswith('bytes=0-')")" -eq 0 ]
		[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 200")" -ge 1 ]
		# and never checked against the MD5 of the stored file
		! grep -E -q "$u.*(does not match its MD5|downloaded bytes have MD5)" "$FS_LOG" || false
	done
}

@test "with cover pages on, a file without one still reads ranged and MD5-verified, next to a cover-paged PDF" {
	f=$(bs_path run-0001.dat)
	u=$(uuid_of run-0001.dat)
	p=$(bs_path paper.pdf)
	served "$(uuid_of paper.pdf)" "$T/paper.pdf"
	mark=$(log_mark)
	bounded cmp "$f" "$(orig "$f")" &
	bounded cmp "$p" "$T/paper.pdf"
	wait $!
	reqs_show "$mark"
	# ranged: requests for bytes after the first window
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 206 and not (r.get('range') or '').startswith('bytes=0-')")" -ge 1 ]
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 200")" -eq 0 ]
	! getfattr --absolute-names -n user.dspace.cover_page "$f" 2>/dev/null || false
	# verified: its content map says so (flags bit 0). The bytes may not
	# all be hashed as they arrive (two streams), so a read on a second
	# mount of this cache (no kernel pages yet) finds it complete and
	# checks it; the map is written at its last close.
	old=$MNT
	o=$(orig "$f")
	unmount_fs
	MNT=
	FS_LOG=
	FS_PASSWORD=user mount_fs -o ro -o user=user@example.org 3>&-
	save_mount
	bounded cmp "$MNT/${f#"$old/"}" "$o"
	m=$(find "$FS_CACHE" -name "$u-$(md5_of run-0001.dat).map")
	[ -n "$m" ]
	wait_until 10 sh -c '[ $(($(od -An -tu4 -j20 -N4 "$1" | tr -d " ") & 1)) -eq 1 ]' sh "$m"
}

@test "a cover page regenerated between two opens: each open reads one whole document, stat follows it" {
	f=$(bs_path big.pdf)
	u=$(uuid_of big.pdf)
	bounded cat "$f" >"$T/a"
	one_generation "$T/a" "$u" >"$T/ga"
	cmp "$T/a" "$(cat "$T/ga")"
	# the next document: same length and ETag, other bytes
	fake_control POST /config -d '{"cover_generation": 7}' >/dev/null
	served "$u" "$T/seven"
	[ "$(stat -c %s "$T/seven")" -eq "$(stat -c %s "$T/a")" ]
	! cmp -s "$T/seven" "$T/a" || false
	bounded cat "$f" >"$T/b"
	cmp "$T/b" "$T/seven"
	# one of another length
	fake_control POST /config -d '{"cover_generation": 1234}' >/dev/null
	served "$u" "$T/long"
	[ "$(stat -c %s "$T/long")" -gt "$(stat -c %s "$T/a")" ]
	bounded cp "$f" "$T/c"
	cmp "$T/c" "$T/long"
	[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$T/long")" ]
	fake_control POST /config -d '{"cover_generation": 0}' >/dev/null
}

@test "a new document for every request and a response that breaks: never mixed bytes; ESTALE, then the next open reads one whole document" {
	f=$(bs_path big.pdf)
	u=$(uuid_of big.pdf)
	# known as a cover page (the first read finds out), then a new
	# document per request and the next response cut after 300000 bytes
	bounded head -c 10 "$f" >/dev/null
	fake_control POST /config -d '{"cover_unstable": true}' >/dev/null
	fake_control POST /faults -d "drop-after=300000,path=$u/content,count=1" >/dev/null
	# a first read, then the rest through the same open file
	rc=0
	bounded sh -c 'head -c 5000 && cat' <"$f" >"$T/first" 2>"$T/err" || rc=$?
	fake_control DELETE /faults >/dev/null
	echo "first open: status $rc, $(stat -c %s "$T/first") bytes"
	cat "$T/err"
	# whole, or cut short with ESTALE: either way one document's bytes only
	if [ "$rc" -ne 0 ]; then
		grep -q "Stale file handle" "$T/err"
	fi
	one_generation "$T/first" "$u" >/dev/null
	bounded cat "$f" >"$T/second"
	cmp "$T/second" "$(one_generation "$T/second" "$u")"
	fake_control POST /config -d '{"cover_unstable": false}' >/dev/null
}

@test "a cover-page document shorter than sizeBytes: stat, cat and md5sum agree on the served bytes" {
	f=$(bs_path big.pdf)
	u=$(uuid_of big.pdf)
	# 100000 bytes of the stored file left out: shorter than sizeBytes
	fake_control POST /config -d '{"cover_trim": 100000}' >/dev/null
	served "$u" "$T/short.pdf"
	[ "$(stat -c %s "$T/short.pdf")" -lt "$(size_of big.pdf)" ]
	sum=$(bounded cat "$f" | md5sum | cut -d' ' -f1)
	[ "$sum" = "$(md5sum <"$T/short.pdf" | cut -d' ' -f1)" ]
	[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$T/short.pdf")" ]
	[ "$(bounded md5sum <"$f" | cut -d' ' -f1)" = "$sum" ]
	# and on a mount that meets it for the first time (page cache: the
	# short read shrinks the kernel's size, told after the reply)
	FS_PASSWORD=user fresh_mount -o ro -o user=user@example.org 3>&-
	f=$(bs_path big.pdf)
	[ "$(stat -c %s "$f")" -eq "$(size_of big.pdf)" ]
	[ "$(bounded cat "$f" | md5sum | cut -d' ' -f1)" = "$sum" ]
	[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$T/short.pdf")" ]
	fake_control POST /config -d '{"cover_trim": 0}' >/dev/null
}

@test "citation pages switched off again: the stored file is read again, ranged and MD5-checked" {
	f=$(bs_path thesis.pdf)
	u=$(uuid_of thesis.pdf)
	served "$u" "$T/cover.pdf"
	bounded cmp "$f" "$T/cover.pdf"
	fake_control POST /config -d '{"cover_pages": false}' >/dev/null
	# this open still expects a cover page: it gets the stored file whole
	bounded cmp "$f" "$(orig "$f")"
	mark=$(log_mark)
	bounded cmp "$f" "$(orig "$f")"
	[ "$(stat -c %s "$f")" -eq "$(size_of thesis.pdf)" ]
	fake_control POST /config -d '{"cover_pages": true}' >/dev/null
	reqs_show "$mark"
	[ "$(reqs_since "$mark" "'$u/content' in r['path'] and r['status'] == 200")" -eq 0 ]
	! getfattr --absolute-names -n user.dspace.cover_page "$f" 2>/dev/null || false
}

@test "DSpace 7.6 (the ETag is the stored checksum): the cover page is found by its length" {
	fake_start --fixture small --cover-pages --dspace-version 7.6
	FS_PASSWORD=user fresh_mount -o ro -o user=user@example.org 3>&-
	f=$(bs_path thesis.pdf)
	u=$(uuid_of thesis.pdf)
	served "$u" "$T/t.pdf"
	[ "$(hdr ETag)" = "\"$(md5_of thesis.pdf)\"" ]
	[ "$(bounded md5sum <"$f" | cut -d' ' -f1)" = "$(md5sum <"$T/t.pdf" | cut -d' ' -f1)" ]
	[ "$(stat -c %s "$f")" -eq "$(stat -c %s "$T/t.pdf")" ]
}
