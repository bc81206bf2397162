#!/usr/bin/env bats
# Fake DSpace: bitstream content (GET/HEAD /content).  Section numbers refer
# to /work/shared/dspace-rest-contract.md.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

teardown() {
	test_teardown
}

bs_uuid() {
	fx "one('bitstream', name='$1')['uuid']"
}

downloads() {
	fake_control GET /stats | "$FAKE_PYTHON" -S -c 'import json,sys; print(json.load(sys.stdin)["downloads"].get(sys.argv[1], 0))' "$1"
}

@test "§5.2 content response headers and bytes (PDF: inline)" {
	bs=$(bs_uuid thesis.pdf)
	md5=$(fx "one('bitstream', name='thesis.pdf')['md5']")
	api GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 200 ]
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$bs"
	[ "$(md5sum <"$FAKE_DIR/body" | cut -d' ' -f1)" = "$md5" ]
	[ "$(head -c 5 "$FAKE_DIR/body")" = "%PDF-" ]
	[ "$(hdr Content-Type)" = "application/pdf;charset=UTF-8" ]
	[ "$(hdr ETag)" = "\"$md5\"" ]
	[ "$(hdr Accept-Ranges)" = bytes ]
	[ "$(hdr Content-Length)" = "$(stat -c %s "$FAKE_STATE/content/$bs")" ]
	[ "$(hdr Content-Disposition)" = "inline; filename=\"thesis.pdf\"; filename*=UTF-8''thesis.pdf" ]
	[ "$(hdr Cache-Control)" = "private,no-cache" ]
	[ "$(hdr Access-Control-Expose-Headers)" = Accept-Ranges ]
	lm=$(hdr Last-Modified)
	[ "$(date -u -d "$lm" +%s)" = "$(stat -c %Y "$FAKE_STATE/content/$bs")" ]
	[ -n "$(hdr Expires)" ]
}

@test "§5.2 charset is appended to every MIME type; unknown formats are octet-stream" {
	api GET "/core/bitstreams/$(bs_uuid notes.txt)/content"
	[ "$(hdr Content-Type)" = "text/plain;charset=UTF-8" ]
	api GET "/core/bitstreams/$(bs_uuid run-0002.dat)/content"
	[ "$(hdr Content-Type)" = "application/octet-stream;charset=UTF-8" ]
	api GET "/core/bitstreams/$(fx "[b for b in find('bitstream', name='license.txt')][0]['uuid']")/content"
	[ "$(hdr Content-Type)" = "text/plain;charset=UTF-8" ]
}

@test "§5.3 Content-Disposition: ASCII fallback plus RFC 5987 UTF-8 name; attachment unless allow-listed" {
	api GET "/core/bitstreams/$(bs_uuid naïve.txt)/content"
	[ "$(hdr Content-Disposition)" = "attachment; filename=\"naive.txt\"; filename*=UTF-8''na%C3%AFve.txt" ]
	api GET "/core/bitstreams/$(bs_uuid 日本語のファイル.pdf)/content"
	[ "$(hdr Content-Disposition)" = "inline; filename=\".pdf\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E%E3%81%AE%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.pdf" ]
	api GET "/core/bitstreams/$(bs_uuid ' spaced name.txt ')/content"
	[ "$(hdr Content-Disposition)" = "attachment; filename=\" spaced name.txt \"; filename*=UTF-8''%20spaced%20name.txt%20" ]
	# control characters never break the header
	api GET "/core/bitstreams/$(fx "one('bitstream', name='new\\nline.txt')['uuid']")/content"
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Disposition)" = "attachment; filename=\"new line.txt\"; filename*=UTF-8''new%0Aline.txt" ]
}

@test "§5.5 single ranges: 206 with Content-Range; open-ended and suffix ranges" {
	bs=$(bs_uuid run-0001.dat)
	f=$FAKE_STATE/content/$bs
	len=$(stat -c %s "$f")
	[ "$len" -ge $((3 * 1024 * 1024)) ]
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=1000-1999'
	[ "$STATUS" = 206 ]
	[ "$(hdr Content-Range)" = "bytes 1000-1999/$len" ]
	[ "$(hdr Content-Length)" = 1000 ]
	[ "$(hdr ETag)" = "\"$(fx "one('bitstream', name='run-0001.dat')['md5']")\"" ]
	cmp "$FAKE_DIR/body" <(tail -c +1001 "$f" | head -c 1000)
	api GET "/core/bitstreams/$bs/content" -H "Range: bytes=$((len - 10))-"
	[ "$(hdr Content-Range)" = "bytes $((len - 10))-$((len - 1))/$len" ]
	cmp "$FAKE_DIR/body" <(tail -c 10 "$f")
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=-300'
	[ "$STATUS" = 206 ]
	[ "$(hdr Content-Range)" = "bytes $((len - 300))-$((len - 1))/$len" ]
	cmp "$FAKE_DIR/body" <(tail -c 300 "$f")
	api GET "/core/bitstreams/$bs/content" -H "Range: bytes=$((len - 5))-$((len + 100))"
	[ "$(hdr Content-Range)" = "bytes $((len - 5))-$((len - 1))/$len" ]
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-0'
	[ "$(hdr Content-Range)" = "bytes 0-0/$len" ]
	[ "$(stat -c %s "$FAKE_DIR/body")" = 1 ]
}

@test "§5.5 unsatisfiable or malformed ranges: 416 with Content-Range bytes */len; any range on a 0-byte file" {
	bs=$(bs_uuid notes.txt)
	len=$(fx "one('bitstream', name='notes.txt')['size']")
	for r in "bytes=$len-" "bytes=$((len + 50))-$((len + 60))" "bytes=9-3" "bytes=abc" "items=0-3" "bytes=-0"; do
		api GET "/core/bitstreams/$bs/content" -H "Range: $r"
		[ "$STATUS" = 416 ]
		[ "$(hdr Content-Range)" = "bytes */$len" ]
	done
	api GET "/core/bitstreams/$(bs_uuid empty.dat)/content" -H 'Range: bytes=0-'
	[ "$STATUS" = 416 ]
	[ "$(hdr Content-Range)" = "bytes */0" ]
	api GET "/core/bitstreams/$(bs_uuid empty.dat)/content"
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Length)" = 0 ]
}

@test "§5.5 If-Range is ignored: a stale validator still gets 206" {
	bs=$(bs_uuid notes.txt)
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-3' -H 'If-Range: "0123456789abcdef0123456789abcdef"'
	[ "$STATUS" = 206 ]
	[ "$(cat "$FAKE_DIR/body")" = Cali ]
}

@test "§5.5 several ranges: multipart/byteranges with one part per range" {
	bs=$(bs_uuid notes.txt)
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-3,5-7'
	[ "$STATUS" = 206 ]
	ct=$(hdr Content-Type)
	[[ "$ct" == "multipart/byteranges; boundary="* ]]
	b=${ct#*boundary=}
	[ "$(hdr Content-Length)" = "$(stat -c %s "$FAKE_DIR/body")" ]
	grep -q "^Content-Range: bytes 0-3/" "$FAKE_DIR/body"
	grep -q "^Content-Range: bytes 5-7/" "$FAKE_DIR/body"
	[ "$(tail -c $((${#b} + 4)) "$FAKE_DIR/body")" = "--$b--" ]
	# ranges that add up to the whole file are refused
	len=$(fx "one('bitstream', name='notes.txt')['size']")
	api GET "/core/bitstreams/$bs/content" -H "Range: bytes=0-9,10-$((len - 1))"
	[ "$STATUS" = 416 ]
}

@test "§5.5 --no-range (runtime switch): Range is ignored, 200 with the whole body" {
	bs=$(bs_uuid run-0002.dat)
	fake_control POST /config -d '{"no_range": true}' >/dev/null
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=10-19'
	fake_control POST /config -d '{"no_range": false}' >/dev/null
	[ "$STATUS" = 200 ]
	[ -z "$(hdr Content-Range)" ]
	[ -z "$(hdr Accept-Ranges)" ]
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$bs"
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=10-19'
	[ "$STATUS" = 206 ]
}

@test "§5.5 --no-range (command line) serves whole bodies" {
	fake_start --fixture small --no-range
	pid=$FAKE_PID
	bs=$(bs_uuid notes.txt)
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-3'
	fake_stop "$pid"
	[ "$STATUS" = 200 ]
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$bs"
}

@test "§5.6 If-None-Match (bare, quoted, weak, *) and If-Modified-Since give 304; a mismatch gives 200" {
	bs=$(bs_uuid data.csv)
	md5=$(fx "one('bitstream', name='data.csv')['md5']")
	for v in "$md5" "\"$md5\"" "W/\"$md5\"" '*' "\"other\", \"$md5\""; do
		api GET "/core/bitstreams/$bs/content" -H "If-None-Match: $v"
		[ "$STATUS" = 304 ]
		[ ! -s "$FAKE_DIR/body" ]
		[ -n "$(hdr ETag)" ]
	done
	api HEAD "/core/bitstreams/$bs/content" -H "If-None-Match: \"$md5\""
	[ "$STATUS" = 304 ]
	api GET "/core/bitstreams/$bs/content" -H 'If-None-Match: "0123"'
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content" -H "If-Modified-Since: $(date -u -R -d @$(($(date +%s) + 60)))"
	[ "$STATUS" = 304 ]
	api GET "/core/bitstreams/$bs/content" -H 'If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT'
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content" -H 'If-Modified-Since: not a date'
	[ "$STATUS" = 400 ]
}

@test "§5.6 If-Unmodified-Since in the past gives 412; the If-Match bug answers 416 even to the right quoted ETag" {
	bs=$(bs_uuid data.csv)
	md5=$(fx "one('bitstream', name='data.csv')['md5']")
	api GET "/core/bitstreams/$bs/content" -H 'If-Unmodified-Since: Mon, 01 Jan 2001 00:00:00 GMT'
	[ "$STATUS" = 412 ]
	api GET "/core/bitstreams/$bs/content" -H "If-Unmodified-Since: $(date -u -R -d @$(($(date +%s) + 60)))"
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content" -H "If-Match: \"$md5\""
	[ "$STATUS" = 416 ]
	api GET "/core/bitstreams/$bs/content" -H "If-Match: $md5"
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content" -H 'If-Match: *'
	[ "$STATUS" = 200 ]
}

@test "§5.4 HEAD: 200 with all headers and Content-Length, no body, Range ignored" {
	bs=$(bs_uuid run-0001.dat)
	len=$(fx "one('bitstream', name='run-0001.dat')['size']")
	api HEAD "/core/bitstreams/$bs/content"
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Length)" = "$len" ]
	[ "$(hdr Content-Type)" = "application/octet-stream;charset=UTF-8" ]
	[ -n "$(hdr ETag)" ] && [ -n "$(hdr Last-Modified)" ] && [ -n "$(hdr Content-Disposition)" ]
	[ ! -s "$FAKE_DIR/body" ]
	api HEAD "/core/bitstreams/$bs/content" -H 'Range: bytes=0-9'
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Length)" = "$len" ]
	# keep-alive survives HEAD (two requests, one connection)
	out=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code} %{num_connects}\n' --head "$FAKE_API/core/bitstreams/$bs/content" \
		-o /dev/null "$FAKE_API/core/bitstreams/$bs/content")
	[ "$out" = "200 1
200 0" ]
}

@test "§5.4 downloads: every non-Range GET and HEAD counts (304s too), Range requests do not" {
	bs=$(bs_uuid paper.pdf)
	md5=$(fx "one('bitstream', name='paper.pdf')['md5']")
	[ "$(downloads "$bs")" = 0 ]
	api GET "/core/bitstreams/$bs/content"
	api HEAD "/core/bitstreams/$bs/content"
	api GET "/core/bitstreams/$bs/content" -H "If-None-Match: $md5"
	[ "$STATUS" = 304 ]
	[ "$(downloads "$bs")" = 3 ]
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-9'
	api HEAD "/core/bitstreams/$bs/content" -H 'Range: bytes=0-9'
	[ "$(downloads "$bs")" = 3 ]
	# refused downloads are not counted
	api GET "/core/bitstreams/$(bs_uuid secret.txt)/content"
	[ "$STATUS" = 401 ]
	[ "$(downloads "$(bs_uuid secret.txt)")" = 0 ]
}

@test "§5.1 missing content is 404; restricted content 401 anonymous / 403 user" {
	api GET /core/bitstreams/00000000-0000-4000-8000-000000000000/content
	[ "$STATUS" = 404 ]
	bs=$(bs_uuid secret.txt)
	api GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 401 ]
	[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
	fake_login user@example.org user
	api_as GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 403 ]
	api GET "/core/bitstreams/$(bs_uuid withdrawn.txt)/content"
	[ "$STATUS" = 401 ]
}

@test "§5.5 a whole multi-MiB download and a ranged reassembly match the stored bytes" {
	bs=$(bs_uuid run-0001.dat)
	f=$FAKE_STATE/content/$bs
	len=$(stat -c %s "$f")
	curl -sS --max-time 30 -o "$BATS_TEST_TMPDIR/whole" "$FAKE_API/core/bitstreams/$bs/content"
	cmp "$BATS_TEST_TMPDIR/whole" "$f"
	: >"$BATS_TEST_TMPDIR/parts"
	step=1048576
	for ((off = 0; off < len; off += step)); do
		curl -sS --max-time 30 -r "$off-$((off + step - 1))" "$FAKE_API/core/bitstreams/$bs/content" >>"$BATS_TEST_TMPDIR/parts"
	done
	cmp "$BATS_TEST_TMPDIR/parts" "$f"
}

@test "§13 citation cover pages: non-admins get another document (its length; on 7.6 the stored checksum as ETag), Range on it, a new one per generation; admins and non-PDFs the stored file" {
	# SW/BitstreamRestController.java retrieve, SW/utils/BitstreamResource.java
	# fetchDocument/etag, API/disseminate/CitationDocumentServiceImpl.java
	bs=$(bs_uuid thesis.pdf)
	md5=$(fx "one('bitstream', name='thesis.pdf')['md5']")
	size=$(fx "one('bitstream', name='thesis.pdf')['size']")
	fake_control POST /config -d '{"cover_pages": true}' >/dev/null
	fake_login user@example.org user
	api_as GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 200 ]
	len=$(stat -c %s "$FAKE_DIR/body")
	[ "$len" -ne "$size" ]
	[ "$(hdr Content-Length)" = "$len" ]
	cp "$FAKE_DIR/body" "$BATS_TEST_TMPDIR/gen0"
	# 7.6: the stored checksum is the ETag (withChecksum(bit.getChecksum()))
	[ "$(hdr ETag)" = "\"$md5\"" ]
	# a range of the document (Spring's ResourceRegion on the 200 body)
	api_as GET "/core/bitstreams/$bs/content" -H "Range: bytes=10-19"
	[ "$STATUS" = 206 ]
	[ "$(hdr Content-Range)" = "bytes 10-19/$len" ]
	cmp "$FAKE_DIR/body" <(tail -c +11 "$BATS_TEST_TMPDIR/gen0" | head -c 10)
	# another generation: same length and ETag, other bytes
	fake_control POST /config -d '{"cover_generation": 3}' >/dev/null
	api_as GET "/core/bitstreams/$bs/content"
	[ "$(stat -c %s "$FAKE_DIR/body")" -eq "$len" ]
	! cmp -s "$FAKE_DIR/body" "$BATS_TEST_TMPDIR/gen0" || false
	# cover_unstable: every request another one
	fake_control POST /config -d '{"cover_unstable": true}' >/dev/null
	api_as GET "/core/bitstreams/$bs/content" -o "$BATS_TEST_TMPDIR/u1"
	api_as GET "/core/bitstreams/$bs/content" -o "$BATS_TEST_TMPDIR/u2"
	! cmp -s "$BATS_TEST_TMPDIR/u1" "$BATS_TEST_TMPDIR/u2" || false
	fake_control POST /config -d '{"cover_unstable": false, "cover_generation": 0}' >/dev/null
	# cover_trim: a document shorter by that many stored bytes
	fake_control POST /config -d '{"cover_trim": 100}' >/dev/null
	api_as GET "/core/bitstreams/$bs/content"
	[ "$(stat -c %s "$FAKE_DIR/body")" -eq $((len - 100)) ]
	fake_control POST /config -d '{"cover_trim": 0}' >/dev/null
	# a non-PDF, and the administrator: the stored file
	csv=$(bs_uuid data.csv)
	api_as GET "/core/bitstreams/$csv/content"
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$csv"
	fake_login admin@example.org admin
	api_as GET "/core/bitstreams/$bs/content"
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$bs"
	fake_control POST /config -d '{"cover_pages": false}' >/dev/null
}
