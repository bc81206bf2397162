#!/usr/bin/env bats
# Fake DSpace: writing (items, bundles, uploads, PATCH, moves, deletes) and
# permissions.  Section numbers refer to /work/shared/dspace-rest-contract.md.

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

# bundle_of ITEM_NAME BUNDLE_NAME
bundle_of() {
	fx "[b['uuid'] for b in kids(one('item', name='$1')['uuid'], 'bundle') if b['name'] == '$2'][0]"
}

item_json() {
	printf '{"name":"%s","inArchive":%s,"discoverable":%s,"withdrawn":false,"type":"item","metadata":{"dc.title":[{"value":"%s","language":null,"authority":null,"confidence":-1}],"dc.contributor.author":[{"value":"Tester, Tom"}]}}' \
		"$1" "$2" "$3" "$1"
}

# upload BUNDLE FILE [curl args]: multipart upload as the current login
upload() {
	local b=$1 f=$2
	shift 2
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$f" "$@"
}

@test "§6.1 admin creates an archived item: 201 without Location, handle minted, not discoverable by default" {
	fake_login admin@example.org admin
	col=$(fx "one('collection', name='Detector Runs')['uuid']")
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data "$(item_json 'Created Item' true false)"
	[ "$STATUS" = 201 ]
	[ -z "$(hdr Location)" ]
	[ "$(jbody '[d["name"], d["inArchive"], d["discoverable"], d["withdrawn"], d["type"]]')" = '["Created Item", true, false, false, "item"]' ]
	[[ "$(jbody 'd["handle"]')" == 123456789/* ]]
	[ "$(jbody 'd["metadata"]["dc.contributor.author"][0]')" = '{"value": "Tester, Tom", "language": null, "authority": null, "confidence": -1, "place": 0}' ]
	[ "$(jbody '"dc.date.accessioned" in d["metadata"] and "dc.identifier.uri" in d["metadata"]')" = true ]
	it=$(jbody 'd["uuid"]')
	h=$(jbody 'd["handle"]')
	[ "$(fx "one('item', uuid='$it')['parent']")" = "$col" ]
	api GET "/pid/find?id=$h"
	[ "$(hdr Location)" = "$FAKE_API/core/items/$it" ]
	api GET "/core/items/$it/owningCollection"
	[ "$(jbody 'd["uuid"]')" = "$col" ]
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&query=Created"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 0 ]
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data "$(item_json 'Visible Item' true true)"
	[ "$STATUS" = 201 ]
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&query=Visible"
	[ "$(jbody '[o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = '["Visible Item"]' ]
}

@test "§6.1 item create errors: inArchive false/missing 400, owningCollection missing/unknown 400, JSON only, admin only" {
	col=$(fx "one('collection', name='Physics Theses')['uuid']")
	fake_login admin@example.org admin
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data "$(item_json X false true)"
	[ "$STATUS" = 400 ]
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data '{"name":"X","metadata":{}}'
	[ "$STATUS" = 400 ]
	api_as POST /core/items -H 'Content-Type: application/json' --data "$(item_json X true true)"
	[ "$STATUS" = 400 ]
	api_as POST "/core/items?owningCollection=00000000-0000-4000-8000-000000000000" -H 'Content-Type: application/json' --data "$(item_json X true true)"
	[ "$STATUS" = 400 ]
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: text/plain' --data "$(item_json X true true)"
	[ "$STATUS" = 415 ]
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data '{"inArchive":true,"metadata":{"dc.nonsense":[{"value":"x"}]}}'
	[ "$STATUS" = 422 ]
	n=$(fx 'len(find("item"))')
	fake_login user@example.org user
	api_as POST "/core/items?owningCollection=$col" -H 'Content-Type: application/json' --data "$(item_json X true true)"
	[ "$STATUS" = 403 ]
	fake_csrf
	api POST "/core/items?owningCollection=$col" -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" -H 'Content-Type: application/json' --data "$(item_json X true true)"
	[ "$STATUS" = 401 ]
	[ "$(fx 'len(find("item"))')" = "$n" ]
}

@test "§6.2 create a bundle: 201; the same name again is 400; unknown item 404; bad body 422" {
	fake_login admin@example.org admin
	it=$(fx "one('item', name='Thesis Without Bundles')['uuid']")
	api_as POST "/core/items/$it/bundles" -H 'Content-Type: application/json' --data '{"name":"ORIGINAL","metadata":{}}'
	[ "$STATUS" = 201 ]
	[ "$(jbody '[d["name"], d["type"], d["metadata"]["dc.title"][0]["value"]]')" = '["ORIGINAL", "bundle", "ORIGINAL"]' ]
	[ "$(fx "[b['name'] for b in kids('$it', 'bundle')]")" = '["ORIGINAL"]' ]
	api_as POST "/core/items/$it/bundles" -H 'Content-Type: application/json' --data '{"name":"ORIGINAL"}'
	[ "$STATUS" = 400 ]
	api_as POST "/core/items/$it/bundles" --data 'not json'
	[ "$STATUS" = 422 ]
	api_as POST /core/items/00000000-0000-4000-8000-000000000000/bundles -H 'Content-Type: application/json' --data '{"name":"X"}'
	[ "$STATUS" = 404 ]
}

@test "§6.3 upload: 201 without Location, server MD5 in checkSum, size, format, sequenceId grows per item; bytes match" {
	fake_login admin@example.org admin
	b=$(bundle_of "Run 2023-02" ORIGINAL)
	it=$(fx "one('item', name='Run 2023-02')['uuid']")
	maxseq=$(fx "max(o['sequenceId'] for o in find('bitstream') if o['item'] == '$it')")
	head -c 300000 /dev/urandom >"$BATS_TEST_TMPDIR/up.bin"
	upload "$b" "$BATS_TEST_TMPDIR/up.bin"
	[ "$STATUS" = 201 ]
	[ -z "$(hdr Location)" ]
	[ "$(jbody '[d["name"], d["sizeBytes"], d["checkSum"]["checkSumAlgorithm"], d["checkSum"]["value"], d["bundleName"], d["sequenceId"]]')" = "[\"up.bin\", 300000, \"MD5\", \"$(md5sum <"$BATS_TEST_TMPDIR/up.bin" | cut -d' ' -f1)\", \"ORIGINAL\", $((maxseq + 1))]" ]
	u=$(jbody 'd["uuid"]')
	cmp "$FAKE_STATE/content/$u" "$BATS_TEST_TMPDIR/up.bin"
	api GET "/core/bitstreams/$u/content"
	cmp "$FAKE_DIR/body" "$BATS_TEST_TMPDIR/up.bin"
	[ "$(fx "one('bitstream', uuid='$u')['md5']")" = "$(md5sum <"$BATS_TEST_TMPDIR/up.bin" | cut -d' ' -f1)" ]
	echo hi >"$BATS_TEST_TMPDIR/second.pdf"
	upload "$b" "$BATS_TEST_TMPDIR/second.pdf"
	[ "$(jbody 'd["sequenceId"]')" = $((maxseq + 2)) ]
	api GET "/core/bitstreams/$(jbody 'd["uuid"]')/format"
	[ "$(jbody 'd["mimetype"]')" = application/pdf ]
	api GET "/core/bundles/$b/bitstreams"
	[ "$(jbody '[x["name"] for x in d["_embedded"]["bitstreams"]][-2:]')" = '["up.bin", "second.pdf"]' ]
}

@test "§6.3 name precedence: properties.name, else the file name; a dc.title in properties.metadata is overwritten" {
	fake_login admin@example.org admin
	b=$(bundle_of "Run 2023-02" ORIGINAL)
	echo data >"$BATS_TEST_TMPDIR/local.txt"
	upload "$b" "$BATS_TEST_TMPDIR/local.txt" -F 'properties={"name":"chosen.csv","metadata":{"dc.title":[{"value":"Title Text"}],"dc.description":[{"value":"a note"}]}};type=application/json'
	[ "$STATUS" = 201 ]
	[ "$(jbody '[d["name"], d["metadata"]["dc.title"][0]["value"], d["metadata"]["dc.description"][0]["value"]]')" = '["chosen.csv", "chosen.csv", "a note"]' ]
	api GET "/core/bitstreams/$(jbody 'd["uuid"]')/format"
	[ "$(jbody 'd["mimetype"]')" = text/csv ]
	upload "$b" "$BATS_TEST_TMPDIR/local.txt" -F 'properties={"name":"  ","metadata":{"dc.title":[{"value":"Title Text"}]}}'
	[ "$(jbody 'd["name"]')" = local.txt ]
	upload "$b" "$BATS_TEST_TMPDIR/local.txt" -F 'properties=not json'
	[ "$STATUS" = 422 ]
	# the part's filename= is what counts (curl ;filename=), and unknown extensions are octet-stream
	upload "$b" "$BATS_TEST_TMPDIR/local.txt;filename=naïve file.xyz"
	[ "$(jbody 'd["name"]')" = "naïve file.xyz" ]
	api GET "/core/bitstreams/$(jbody 'd["uuid"]')/format"
	[ "$(jbody '[d["id"], d["mimetype"], d["supportLevel"]]')" = '[1, "application/octet-stream", "UNKNOWN"]' ]
}

@test "§6.3 upload errors: two files 422, no file 400, oversize 400 (--upload-max), missing bundle 404, anonymous 401" {
	fake_login admin@example.org admin
	b=$(bundle_of "Run 2023-02" ORIGINAL)
	n=$(fx 'len(find("bitstream"))')
	echo one >"$BATS_TEST_TMPDIR/a.txt"
	echo two >"$BATS_TEST_TMPDIR/b.txt"
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/a.txt" -F "file=@$BATS_TEST_TMPDIR/b.txt"
	[ "$STATUS" = 422 ]
	api_as POST "/core/bundles/$b/bitstreams" -F 'properties={"name":"x"}'
	[ "$STATUS" = 400 ]
	api_as POST "/core/bundles/$b/bitstreams" -H 'Content-Type: application/json' --data '{}'
	[ "$STATUS" = 400 ]
	api_as POST /core/bundles/00000000-0000-4000-8000-000000000000/bitstreams -F "file=@$BATS_TEST_TMPDIR/a.txt"
	[ "$STATUS" = 404 ]
	fake_control POST /config -d '{"upload_max": 4096}' >/dev/null
	head -c 10000 /dev/zero >"$BATS_TEST_TMPDIR/big.bin"
	upload "$b" "$BATS_TEST_TMPDIR/big.bin"
	s1=$STATUS m1=$(jbody 'd["message"]')
	upload "$b" "$BATS_TEST_TMPDIR/big.bin" -H 'Expect:'
	s2=$STATUS
	upload "$b" "$BATS_TEST_TMPDIR/big.bin" -H 'Transfer-Encoding: chunked'
	s3=$STATUS
	upload "$b" "$BATS_TEST_TMPDIR/a.txt"
	s4=$STATUS
	fake_control POST /config -d '{"upload_max": 536870912}' >/dev/null
	[ "$s1 $s2 $s3 $s4" = "400 400 400 201" ]
	[ "$m1" = "Request is invalid or incorrect" ]
	[ "$(fx 'len(find("bitstream"))')" = $((n + 1)) ]
	[ -z "$(ls "$FAKE_STATE/tmp")" ]
	fake_csrf
	api POST "/core/bundles/$b/bitstreams" -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" -F "file=@$BATS_TEST_TMPDIR/a.txt"
	[ "$STATUS" = 401 ]
}

@test "§6.4 PATCH: rename a bitstream via /metadata/dc.title/0 (json-patch+json or json); 422/400/415 cases" {
	fake_login admin@example.org admin
	bs=$(fx "one('bitstream', name='readme.md')['uuid']")
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"README.markdown"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["name"], d["metadata"]["dc.title"][0]["value"]]')" = '["README.markdown", "README.markdown"]' ]
	[ "$(fx "one('bitstream', uuid='$bs')['name']")" = README.markdown ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' \
		--data '[{"op":"add","path":"/metadata/dc.description","value":[{"value":"first"}]},{"op":"add","path":"/metadata/dc.description/-","value":{"value":"second","language":"en"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[(v["value"], v["language"], v["place"]) for v in d["metadata"]["dc.description"]]')" = '[["first", null, 0], ["second", "en", 1]]' ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"remove","path":"/metadata/dc.description/0"}]'
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.description"]]')" = '["second"]' ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"add","path":"/metadata/dc.nosuchfield","value":[{"value":"x"}]}]'
	[ "$STATUS" = 422 ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"replace","path":"/metadata/dc.title/5","value":{"value":"x"}}]'
	[ "$STATUS" = 422 ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"remove","path":"/metadata/dc.title/x"}]'
	[ "$STATUS" = 400 ]
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: text/plain' --data '[]'
	[ "$STATUS" = 415 ]
	api GET "/core/bitstreams/$bs"
	[ "$(jbody 'd["name"]')" = README.markdown ]
}

@test "§6.4 PATCH items: withdraw and make discoverable (admin only); lastModified moves" {
	it=$(fx "one('item', name='Private Item')['uuid']")
	fake_login user@example.org user
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' --data '[{"op":"replace","path":"/discoverable","value":true}]'
	[ "$STATUS" = 403 ]
	fake_login admin@example.org admin
	before=$(fx "one('item', uuid='$it')['lastModified']")
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' --data '[{"op":"replace","path":"/discoverable","value":true}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["discoverable"]')" = true ]
	[ "$(fx "one('item', uuid='$it')['lastModified']")" != "$before" ]
	col=$(fx "one('collection', name='Restricted and Hidden')['uuid']")
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&query=Private"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 1 ]
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' --data '[{"op":"replace","path":"/withdrawn","value":true}]'
	[ "$(jbody '[d["withdrawn"], d["inArchive"]]')" = '[true, false]' ]
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&query=Private"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 0 ]
}

@test "§6.5 PUT /bitstreams/{uuid}/bundle (text/uri-list) moves a bitstream; same bundle 400; not one URI 422" {
	fake_login admin@example.org admin
	src=$(bundle_of "On the Quantum Behaviour of Small Things" ORIGINAL)
	dst=$(bundle_of "On the Quantum Behaviour of Small Things" THUMBNAIL)
	bs=$(fx "one('bitstream', name='data.csv', bundle='ORIGINAL', item=one('item', name='On the Quantum Behaviour of Small Things')['uuid'])['uuid']")
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: text/uri-list' --data-binary "$FAKE_API/core/bundles/$dst"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["uuid"], d["name"]]')" = "[\"$dst\", \"THUMBNAIL\"]" ]
	[ "$(fx "one('bitstream', uuid='$bs')['parent']")" = "$dst" ]
	api GET "/core/bitstreams/$bs"
	[ "$(jbody 'd["bundleName"]')" = THUMBNAIL ]
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: text/uri-list' --data-binary "$FAKE_API/core/bundles/$dst"
	[ "$STATUS" = 400 ]
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: text/uri-list' --data-binary "$(printf '%s\n%s\n' "$FAKE_API/core/bundles/$src" "$FAKE_API/core/bundles/$dst")"
	[ "$STATUS" = 422 ]
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: text/uri-list' --data-binary ""
	[ "$STATUS" = 422 ]
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: application/json' --data-binary "$FAKE_API/core/bundles/$src"
	[ "$STATUS" = 415 ]
	api_as PUT "/core/bitstreams/$bs/bundle" -H 'Content-Type: text/uri-list' --data-binary "$FAKE_API/core/bundles/$src"
	[ "$STATUS" = 200 ]
}

@test "§4.6 PUT /bitstreams/{uuid}/format with one format URI; 0 or 2 URIs are 400" {
	fake_login admin@example.org admin
	bs=$(fx "one('bitstream', name='run-0002.dat')['uuid']")
	api_as PUT "/core/bitstreams/$bs/format" -H 'Content-Type: text/uri-list' --data-binary "$FAKE_API/core/bitstreamformats/6"
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=0-0'
	[ "$(hdr Content-Type)" = "text/plain;charset=UTF-8" ]
	api_as PUT "/core/bitstreams/$bs/format" -H 'Content-Type: text/uri-list' --data-binary ""
	[ "$STATUS" = 400 ]
	api_as PUT "/core/bitstreams/$bs/format" -H 'Content-Type: text/uri-list' --data-binary "$(printf '%s\n%s\n' "$FAKE_API/core/bitstreamformats/6" "$FAKE_API/core/bitstreamformats/4")"
	[ "$STATUS" = 400 ]
}

@test "§6.6 deleting a bitstream is soft: 204, then metadata and content 404, a second delete 404" {
	fake_login admin@example.org admin
	bs=$(fx "one('bitstream', name='record-007.txt')['uuid']")
	api_as DELETE "/core/bitstreams/$bs"
	[ "$STATUS" = 204 ]
	api_as GET "/core/bitstreams/$bs"
	[ "$STATUS" = 404 ]
	api GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 404 ]
	api_as DELETE "/core/bitstreams/$bs"
	[ "$STATUS" = 404 ]
	[ "$(fx "[o['deleted'] for o in allobjs if o['uuid'] == '$bs']")" = "[true]" ]
	[ -f "$FAKE_STATE/content/$bs" ]
	b=$(bundle_of "Record 007" ORIGINAL)
	api GET "/core/bundles/$b/bitstreams"
	[ "$(jbody 'd["_embedded"]["bitstreams"]')" = "[]" ]
}

@test "§6.6 bulk delete (PATCH /core/bitstreams): 204; an unknown or deleted id is 422 and nothing is removed" {
	fake_login admin@example.org admin
	a=$(fx "one('bitstream', name='record-008.txt')['uuid']")
	b=$(fx "one('bitstream', name='record-009.txt')['uuid']")
	api_as PATCH /core/bitstreams -H 'Content-Type: application/json' \
		--data "[{\"op\":\"remove\",\"path\":\"/bitstreams/$a\"},{\"op\":\"remove\",\"path\":\"/bitstreams/00000000-0000-4000-8000-000000000000\"}]"
	[ "$STATUS" = 422 ]
	api GET "/core/bitstreams/$a"
	[ "$STATUS" = 200 ]
	api_as PATCH /core/bitstreams -H 'Content-Type: application/json' \
		--data "[{\"op\":\"remove\",\"path\":\"/bitstreams/$a\"},{\"op\":\"remove\",\"path\":\"/bitstreams/$b\"}]"
	[ "$STATUS" = 204 ]
	api_as GET "/core/bitstreams/$b"
	[ "$STATUS" = 404 ]
}

@test "§6.6 deleting a bundle removes its bitstreams; deleting an item removes everything and its handle" {
	fake_login admin@example.org admin
	b=$(bundle_of "Record 010" ORIGINAL)
	bs=$(fx "one('bitstream', name='record-010.txt')['uuid']")
	api_as DELETE "/core/bundles/$b"
	[ "$STATUS" = 204 ]
	api GET "/core/bundles/$b"
	[ "$STATUS" = 404 ]
	api GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 404 ]
	it=$(fx "one('item', name='Record 011')['uuid']")
	h=$(fx "one('item', name='Record 011')['handle']")
	b2=$(bundle_of "Record 011" ORIGINAL)
	bs2=$(fx "one('bitstream', name='record-011.txt')['uuid']")
	fake_login user@example.org user
	api_as DELETE "/core/items/$it"
	[ "$STATUS" = 403 ]
	fake_login admin@example.org admin
	api_as DELETE "/core/items/$it"
	[ "$STATUS" = 204 ]
	for p in "/core/items/$it" "/core/bundles/$b2" "/core/bitstreams/$bs2/content" "/pid/find?id=$h"; do
		api_as GET "$p"
		[ "$STATUS" = 404 ]
	done
	[ "$(fx "len(find('item', uuid='$it'))")" = 0 ]
	col=$(fx "one('collection', name='Big Collection')['uuid']")
	api GET "/discover/browses/title/items?scope=$col&size=500"
	[ "$(jbody '"Record 011" in [i["name"] for i in d["_embedded"]["items"]]')" = false ]
}

@test "§6 user@example.org writes only in its submit collections; anonymous gets 401" {
	mine=$(bundle_of "Superconductivity at Room Temperature?" ORIGINAL)
	other=$(bundle_of "Run 2023-02" ORIGINAL)
	echo x >"$BATS_TEST_TMPDIR/u.txt"
	fake_login user@example.org user
	upload "$mine" "$BATS_TEST_TMPDIR/u.txt"
	[ "$STATUS" = 201 ]
	u=$(jbody 'd["uuid"]')
	upload "$other" "$BATS_TEST_TMPDIR/u.txt"
	[ "$STATUS" = 403 ]
	api_as PATCH "/core/bitstreams/$u" -H 'Content-Type: application/json' --data '[{"op":"replace","path":"/metadata/dc.title/0","value":{"value":"mine.txt"}}]'
	[ "$STATUS" = 200 ]
	api_as PATCH "/core/bitstreams/$(fx "one('bitstream', name='run-0002.dat')['uuid']")" -H 'Content-Type: application/json' --data '[]'
	[ "$STATUS" = 403 ]
	api_as POST "/core/items/$(fx "one('item', name='Thesis With Empty Bundle')['uuid']")/bundles" -H 'Content-Type: application/json' --data '{"name":"EXTRA"}'
	[ "$STATUS" = 201 ]
	api_as POST "/core/items/$(fx "one('item', name='Run 2023-02')['uuid']")/bundles" -H 'Content-Type: application/json' --data '{"name":"EXTRA"}'
	[ "$STATUS" = 403 ]
	api_as DELETE "/core/bitstreams/$u"
	[ "$STATUS" = 204 ]
	fake_csrf
	api DELETE "/core/bitstreams/$(fx "one('bitstream', name='paper.pdf')['uuid']")" -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF"
	[ "$STATUS" = 401 ]
	[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
}

@test "§11 state: fixture.json is rewritten after each change (generation, uploads, renames, deletes)" {
	g0=$(fx 'doc["generation"]')
	fake_login admin@example.org admin
	b=$(bundle_of "Record 012" ORIGINAL)
	printf 'state check\n' >"$BATS_TEST_TMPDIR/s.txt"
	upload "$b" "$BATS_TEST_TMPDIR/s.txt"
	u=$(jbody 'd["uuid"]')
	[ "$(fx 'doc["generation"]')" -gt "$g0" ]
	[ "$(fx "[o['name'], o['size'], o['md5'], o['bundle'], o['path']] if (o := one('bitstream', uuid='$u')) else 0")" = "[\"s.txt\", 12, \"$(md5sum <"$BATS_TEST_TMPDIR/s.txt" | cut -d' ' -f1)\", \"ORIGINAL\", \"content/$u\"]" ]
	fake_control GET /state >"$BATS_TEST_TMPDIR/state.json"
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["generation"])' "$BATS_TEST_TMPDIR/state.json")" = "$(fx 'doc["generation"]')" ]
}

@test "§11 state: a dump taken after uploads and deletes reloads as a fixture (deleted stay deleted, uploads keep their bytes)" {
	cp "$FAKE_STATE/fixture.json" "$BATS_TEST_TMPDIR/after.json"
	live=$(fx '[(o["type"], o["uuid"], o["name"], o.get("md5")) for o in objs]')
	gone=$(fx "[o['uuid'] for o in allobjs if o.get('deleted')][:3]")
	[ "$gone" != "[]" ]
	up=$(fx "one('bitstream', name='up.bin')['uuid']")
	fake_start --fixture "$BATS_TEST_TMPDIR/after.json"
	pid=$FAKE_PID
	now=$(fx '[(o["type"], o["uuid"], o["name"], o.get("md5")) for o in objs]')
	api GET "/core/bitstreams/$up/content"
	s1=$STATUS
	m1=$(md5sum <"$FAKE_DIR/body" | cut -d' ' -f1)
	api GET "/core/bitstreams/$("$FAKE_PYTHON" -S -c 'import json,sys; print(json.loads(sys.argv[1])[0])' "$gone")/content"
	s2=$STATUS
	fake_stop "$pid"
	[ "$now" = "$live" ]
	[ "$s1 $s2" = "200 404" ]
	[ "$m1" = "$(fx "one('bitstream', uuid='$up')['md5']")" ]
}
