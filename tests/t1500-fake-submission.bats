#!/usr/bin/env bats
# Fake DSpace: the submission route of depositors (workspace items, forms,
# licences, workflow items), DSpace 10's bitstream replace, citation cover
# pages, and three leniencies of the real server.  Section numbers refer to
# /work/shared/dspace-rest-contract.md; SW/ is
# dspace-server-webapp/src/main/java/org/dspace/app/rest/ of DSpace/DSpace.

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

coll() {
	fx "one('collection', name='$1')['uuid']"
}

user_uuid() {
	fx "[u['uuid'] for u in doc['users'] if u['email'] == '$1'][0]"
}

# ws_create COLLECTION_NAME: POST a workspace item as the current login
ws_create() {
	api_as POST "/submission/workspaceitems?owningCollection=$(coll "$1")" \
		-H 'Content-Type: application/json' --data '{}'
}

# api_anon: a write without a login, with the CSRF token of the last login
# (so that it reaches the permission check: 401)
api_anon() {
	local method=$1 path=$2
	shift 2
	api "$method" "$path" -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" "$@"
}

# ws_patch ID JSON
ws_patch() {
	api_as PATCH "/submission/workspaceitems/$1" -H 'Content-Type: application/json' --data "$2"
}

# complete ID: fill the required fields of traditionalpageone
complete() {
	ws_patch "$1" '[{"op":"add","path":"/sections/traditionalpageone/dc.title","value":[{"value":"A Deposit"}]},{"op":"add","path":"/sections/traditionalpageone/dc.date.issued","value":[{"value":"2026"}]},{"op":"add","path":"/sections/traditionalpageone/dc.type","value":[{"value":"Thesis"}]}]'
}

@test "§7 SW/submit/SubmissionService createWorkspaceItem: 201 workspace item with errors[], links; ADD right needed (401/403)" {
	fake_login user@example.org user
	ws_create "Physics Theses"
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["type"]')" = workspaceitem ]
	[ "$(jbody 'type(d["id"]).__name__')" = int ]
	[ "$(jbody 'sorted(d["_links"])')" = '["collection", "item", "self", "submissionDefinition", "submitter", "supervisionOrders"]' ]
	[ "$(jbody 'list(d["sections"])')" = '["collection", "traditionalpageone", "traditionalpagetwo", "upload", "license"]' ]
	[ "$(jbody 'd["sections"]["collection"]')" = "$(coll 'Physics Theses')" ]
	# 7.6 embeds the four @JsonIgnore fields of AInprogressSubmissionRest
	[ "$(jbody 'sorted(d["_embedded"])')" = '["collection", "item", "submissionDefinition", "submitter"]' ]
	[ "$(jbody 'd["_embedded"]["collection"]["id"]')" = "$(coll 'Physics Theses')" ]
	[ "$(jbody 'd["_embedded"]["submitter"]["email"]')" = user@example.org ]
	# 7.6: dc.type is not required yet (submission-forms.xml @7_x)
	[ "$(jbody 'd["errors"]')" = '[{"message": "error.validation.required", "paths": ["/sections/traditionalpageone/dc.title", "/sections/traditionalpageone/dc.date.issued"]}, {"message": "error.validation.filerequired", "paths": ["/sections/upload"]}, {"message": "error.validation.license.required", "paths": ["/sections/license"]}]' ]
	[ "$(jbody 'd["sections"]["license"]')" = '{"url": null, "acceptanceDate": null, "granted": false}' ]
	# its item: not archived, no handle, readable by the submitter, not discoverable
	id=$(jbody 'd["id"]')
	api_as GET "/submission/workspaceitems/$id/item"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["inArchive"], d["handle"]')" = '[false, null]' ]
	item=$(jbody 'd["uuid"]')
	api GET "/core/items/$item"
	[ "$STATUS" = 401 ]
	# no ADD right on Detector Runs; unknown collection; anonymous
	ws_create "Detector Runs"
	[ "$STATUS" = 403 ]
	api_as POST "/submission/workspaceitems?owningCollection=01234567-89ab-4def-8123-456789abcdef" \
		-H 'Content-Type: application/json' --data '{}'
	[ "$STATUS" = 403 ]
	api_anon POST "/submission/workspaceitems?owningCollection=$(coll 'Physics Theses')" \
		-H 'Content-Type: application/json' --data '{}'
	[ "$STATUS" = 401 ]
	# no owningCollection: the first collection the user may submit to
	api_as POST /submission/workspaceitems -H 'Content-Type: application/json'
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["sections"]["collection"]')" = "$(coll 'Physics Theses')" ]
}

@test "§13 SW/repository/WorkspaceItemRestRepository findBySubmitter (paged, own uuid only) and search/item; the web-UI draft is listed" {
	fake_login user@example.org user
	me=$(user_uuid user@example.org)
	api_as GET "/submission/workspaceitems/search/findBySubmitter?uuid=$me&size=1"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["page"]["size"], d["page"]["number"]')" = '[1, 0]' ]
	[ "$(jbody 'd["_embedded"]["workspaceitems"][0]["id"]')" = 1 ]
	[ "$(jbody '"next" in d["_links"]')" = "$(jbody 'd["page"]["totalElements"] > 1')" ]
	api_as GET "/submission/workspaceitems/1/item"
	[ "$(jbody 'd["name"]')" = "Draft Started In The Web UI" ]
	item=$(jbody 'd["uuid"]')
	[ "$(fx "[o['submission']['id'] for o in drafts if o['uuid'] == '$item']")" = '[1]' ]
	api_as GET "/submission/workspaceitems/search/item?uuid=$item"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["id"]')" = 1 ]
	# an archived item has no workspace item: null -> 204
	api_as GET "/submission/workspaceitems/search/item?uuid=$(fx "one('item', name='Superconductivity at Room Temperature?')['uuid']")"
	[ "$STATUS" = 204 ]
	# someone else's submissions: EPERSON READ -> 403
	api_as GET "/submission/workspaceitems/search/findBySubmitter?uuid=$(user_uuid admin@example.org)"
	[ "$STATUS" = 403 ]
	# findAll is for administrators
	api_as GET /submission/workspaceitems
	[ "$STATUS" = 403 ]
	fake_login admin@example.org admin
	api_as GET /submission/workspaceitems
	[ "$STATUS" = 200 ]
	api_as GET /submission/workspaceitems/1
	[ "$STATUS" = 200 ]
}

@test "§7 SW/submit/step/DescribeStep doPatchProcessing: add/replace/remove on form fields, 422 off the form, errors[] follow" {
	fake_login user@example.org user
	ws_create "Physics Theses"
	id=$(jbody 'd["id"]')
	complete "$id"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["sections"]["traditionalpageone"]["dc.title"][0]["value"]')" = "A Deposit" ]
	[ "$(jbody '[e["message"] for e in d["errors"]]')" = '["error.validation.filerequired", "error.validation.license.required"]' ]
	ws_patch "$id" '[{"op":"add","path":"/sections/traditionalpageone/dc.contributor.author/-","value":{"value":"Doe, Jane"}},{"op":"add","path":"/sections/traditionalpageone/dc.contributor.author/-","value":{"value":"Roe, Rick"}},{"op":"replace","path":"/sections/traditionalpageone/dc.contributor.author/1","value":{"value":"Roe, Richard"}},{"op":"add","path":"/sections/traditionalpagetwo/dc.description.abstract","value":[{"value":"Abstract."}]}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[v["value"] for v in d["sections"]["traditionalpageone"]["dc.contributor.author"]]')" = '["Doe, Jane", "Roe, Richard"]' ]
	[ "$(jbody 'd["sections"]["traditionalpagetwo"]')" != '{}' ]
	ws_patch "$id" '[{"op":"remove","path":"/sections/traditionalpageone/dc.contributor.author/0"}]'
	[ "$(jbody '[v["value"] for v in d["sections"]["traditionalpageone"]["dc.contributor.author"]]')" = '["Roe, Richard"]' ]
	ws_patch "$id" '[{"op":"remove","path":"/sections/traditionalpageone/dc.title"}]'
	[ "$(jbody 'd["errors"][0]')" = '{"message": "error.validation.required", "paths": ["/sections/traditionalpageone/dc.title"]}' ]
	# fields not on the form (dc.subject is on page two; provenance on none) -> 422, nothing changed
	ws_patch "$id" '[{"op":"add","path":"/sections/traditionalpageone/dc.title","value":[{"value":"Back"}]},{"op":"add","path":"/sections/traditionalpageone/dc.subject","value":[{"value":"x"}]}]'
	[ "$STATUS" = 422 ]
	ws_patch "$id" '[{"op":"add","path":"/sections/traditionalpagetwo/dc.description.provenance","value":[{"value":"x"}]}]'
	[ "$STATUS" = 422 ]
	ws_patch "$id" '[{"op":"add","path":"/sections/nosuchsection/dc.title","value":[{"value":"x"}]}]'
	[ "$STATUS" = 422 ]
	api_as GET "/submission/workspaceitems/$id"
	[ "$(jbody '"dc.title" in d["sections"]["traditionalpageone"]')" = false ]
	# someone without rights; anonymous
	api_anon PATCH "/submission/workspaceitems/$id" -H 'Content-Type: application/json' --data '[]'
	[ "$STATUS" = 401 ]
}

@test "§7.2 §13 SW/submit/step/UploadStep: multipart file -> 201 whole workspace item, files[] as UploadBitstreamRest; remove /sections/upload/files/0" {
	fake_login user@example.org user
	ws_create "Physics Theses"
	id=$(jbody 'd["id"]')
	printf 'col1,col2\n1,2\n' >"$BATS_TEST_TMPDIR/data.csv"
	md5=$(md5sum <"$BATS_TEST_TMPDIR/data.csv" | cut -d' ' -f1)
	api_as POST "/submission/workspaceitems/$id" -F "file=@$BATS_TEST_TMPDIR/data.csv"
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["type"], d["id"]')" = "[\"workspaceitem\", $id]" ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["metadata"]["dc.title"][0]["value"]')" = data.csv ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["metadata"]["dc.source"][0]["value"]')" = data.csv ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["sizeBytes"]')" = 14 ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["checkSum"]')" = "{\"checkSumAlgorithm\": \"MD5\", \"value\": \"$md5\"}" ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["format"]["mimetype"]')" = text/csv ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["accessConditions"]')" = '[]' ]
	[ "$(jbody '[e["message"] for e in d["errors"]]')" = '["error.validation.required", "error.validation.license.required"]' ]
	url=$(jbody 'd["sections"]["upload"]["files"][0]["url"]')
	api_as GET "$url"
	[ "$STATUS" = 200 ]
	[ "$(md5sum <"$FAKE_DIR/body" | cut -d' ' -f1)" = "$md5" ]
	api GET "$url"
	[ "$STATUS" = 401 ]
	# no file part
	api_as POST "/submission/workspaceitems/$id" -F "other=x"
	[ "$STATUS" = 400 ]
	# anonymous: refused after the body
	api_anon POST "/submission/workspaceitems/$id" -F "file=@$BATS_TEST_TMPDIR/data.csv"
	[ "$STATUS" = 401 ]
	ws_patch "$id" '[{"op":"remove","path":"/sections/upload/files/0"}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["sections"]["upload"]["files"]')" = '[]' ]
	[ "$(jbody '[e["message"] for e in d["errors"]][1]')" = error.validation.filerequired ]
	ws_patch "$id" '[{"op":"remove","path":"/sections/upload/files/0"}]'
	[ "$STATUS" = 422 ]
}

@test "§13 SW/repository/CollectionLicenseLinkRepository and SW/submit/step/LicenseStep: collection licence or the default; granted" {
	fake_login user@example.org user
	api_as GET "/core/collections/$(coll 'Physics Theses')/license"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["custom"]')" = true ]
	[[ "$(jbody 'd["text"]')" == "Physics Theses deposit licence"* ]]
	api_as GET "/core/collections/$(coll 'Edge Cases')/license"
	[ "$(jbody 'd["custom"]')" = false ]
	[[ "$(jbody 'd["text"]')" == "NOTE: PLACE YOUR OWN LICENSE HERE"* ]]
	ws_create "Physics Theses"
	id=$(jbody 'd["id"]')
	ws_patch "$id" '[{"op":"add","path":"/sections/license/granted","value":"maybe"}]'
	[ "$STATUS" = 422 ]
	ws_patch "$id" '[{"op":"add","path":"/sections/license/other","value":true}]'
	[ "$STATUS" = 422 ]
	ws_patch "$id" '[{"op":"add","path":"/sections/license/granted","value":true}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["sections"]["license"]["granted"]')" = true ]
	[ "$(jbody '[e["message"] for e in d["errors"]]')" = '["error.validation.required", "error.validation.filerequired"]' ]
	api_as GET "$(jbody 'd["sections"]["license"]["url"]')"
	[[ "$(cat "$FAKE_DIR/body")" == "Physics Theses deposit licence"* ]]
}

@test "§7.5 SW/repository/WorkflowItemRestRepository createAndReturn: workflow collection -> 201 workflow item readable by its submitter" {
	fake_login user@example.org user
	ws_create "Physics Theses"
	id=$(jbody 'd["id"]')
	api_as GET "/submission/workspaceitems/$id/item"
	item=$FAKE_API/core/items/$(jbody 'd["uuid"]')
	api_as POST /workflow/workflowitems -H 'Content-Type: text/uri-list' --data "$FAKE_API/submission/workspaceitems/$id"
	[ "$STATUS" = 422 ]              # validation errors
	complete "$id"
	printf 'x' >"$BATS_TEST_TMPDIR/f.txt"
	api_as POST "/submission/workspaceitems/$id" -F "file=@$BATS_TEST_TMPDIR/f.txt"
	ws_patch "$id" '[{"op":"add","path":"/sections/license/granted","value":true}]'
	[ "$(jbody 'd["errors"]')" = '[]' ]
	api_as POST /workflow/workflowitems -H 'Content-Type: text/uri-list' \
		--data "$FAKE_API/submission/workspaceitems/$id"$'\n'"$FAKE_API/submission/workspaceitems/1"
	[ "$STATUS" = 422 ]              # not exactly one URI
	api_as POST /workflow/workflowitems -H 'Content-Type: text/uri-list' --data "$FAKE_API/submission/workspaceitems/$id"
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["type"]')" = workflowitem ]
	wf=$(jbody 'd["id"]')
	api_as GET "/workflow/workflowitems/$wf"
	[ "$STATUS" = 200 ]
	api_as GET "/submission/workspaceitems/$id"
	[ "$STATUS" = 404 ]
	# READ stays with the submitter (XmlWorkflowServiceImpl.grantSubmitterReadPolicies), no WRITE
	api_as GET "$item"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["inArchive"]')" = false ]
	bs=$(fx "[b for b in allobjs if b['type'] == 'bitstream' and b['name'] == 'f.txt'][0]['uuid']")
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"add","path":"/metadata/dc.description","value":[{"value":"x"}]}]'
	[ "$STATUS" = 403 ]
	# workflowitems findBySubmitter is for administrators
	api_as GET "/workflow/workflowitems/search/findBySubmitter?uuid=$(user_uuid user@example.org)"
	[ "$STATUS" = 403 ]
	api GET "/workflow/workflowitems/$wf"
	[ "$STATUS" = 401 ]
	# the submitter lists them through MyDSpace's discovery configuration
	# "workspace" (discovery.xml workspaceConfiguration; filtered by
	# submitter_authority in SolrServiceWorkspaceWorkflowRestrictionPlugin)
	mine='/discover/search/objects?configuration=workspace&dsoType=XmlWorkflowItem&embed=item'
	api_as GET "$mine"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[(o["_embedded"]["indexableObject"]["type"], o["_embedded"]["indexableObject"]["id"]) for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = "[[\"workflowitem\", $wf]]" ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["_embedded"]["objects"][0]["_embedded"]["indexableObject"]["_embedded"]["item"]["uuid"]')" = "${item##*/}" ]
	api_as GET "/discover/search/objects?configuration=workspace&dsoType=WorkspaceItem"
	[ "$(jbody 'sorted({o["_embedded"]["indexableObject"]["type"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]})')" = '["workspaceitem"]' ]
	# another user does not see them; anonymous users may not ask
	fake_login admin@example.org admin
	api_as GET "$mine"
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["totalElements"]')" = 0 ]
	api GET "$mine"
	[ "$STATUS" = 401 ]
}

@test "§7.5 SW/RestResourceController postUriListInternal: no workflow -> archived at once, 201 with an empty body" {
	fake_login user@example.org user
	ws_create "Edge Cases"
	id=$(jbody 'd["id"]')
	api_as GET "/submission/workspaceitems/$id/item"
	item=$FAKE_API/core/items/$(jbody 'd["uuid"]')
	complete "$id"
	printf 'y' >"$BATS_TEST_TMPDIR/g.txt"
	api_as POST "/submission/workspaceitems/$id" -F "file=@$BATS_TEST_TMPDIR/g.txt"
	ws_patch "$id" '[{"op":"add","path":"/sections/license/granted","value":true}]'
	api_as POST /workflow/workflowitems -H 'Content-Type: text/uri-list' --data "$FAKE_API/submission/workspaceitems/$id"
	[ "$STATUS" = 201 ]
	[ ! -s "$FAKE_DIR/body" ]
	[ "$(hdr Content-Length)" = 0 ]
	api GET "$item"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["inArchive"]')" = true ]
	[[ "$(jbody 'd["handle"]')" == 123456789/* ]]
	[ "$(fx "one('item', name='A Deposit', parent='$(coll 'Edge Cases')')['inArchive']")" = true ]
	api GET "/discover/search/objects?scope=$(coll 'Edge Cases')&query=%22A%20Deposit%22&dsoType=ITEM"
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["totalElements"]')" = 1 ]
}

@test "§7.6 SW/repository/WorkspaceItemRestRepository delete: 204, then gone; the draft's files go with it" {
	fake_login user@example.org user
	ws_create "Edge Cases"
	id=$(jbody 'd["id"]')
	printf 'z' >"$BATS_TEST_TMPDIR/h.txt"
	api_as POST "/submission/workspaceitems/$id" -F "file=@$BATS_TEST_TMPDIR/h.txt"
	bs=$(jbody 'd["sections"]["upload"]["files"][0]["uuid"]')
	api_anon DELETE "/submission/workspaceitems/$id"
	[ "$STATUS" = 401 ]
	api_as DELETE "/submission/workspaceitems/$id"
	[ "$STATUS" = 204 ]
	api_as GET "/submission/workspaceitems/$id"
	[ "$STATUS" = 404 ]
	api_as GET "/core/bitstreams/$bs"
	[ "$STATUS" = 404 ]
}

@test "§13 SW/repository/SubmissionDefinitionRestRepository, SubmissionFormRestRepository: traditional steps and forms (7.6)" {
	fake_login user@example.org user
	api_as GET "/config/submissiondefinitions/search/findByCollection?uuid=$(coll 'Edge Cases')"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["id"], d["isDefault"], d["type"]')" = '["traditional", true, "submissiondefinition"]' ]
	api_as GET "/config/submissiondefinitions/traditional/sections"
	[ "$(jbody '[(s["id"], s["sectionType"]) for s in d["_embedded"]["sections"]]')" = '[["collection", "collection"], ["traditionalpageone", "submission-form"], ["traditionalpagetwo", "submission-form"], ["upload", "upload"], ["license", "license"]]' ]
	[[ "$(jbody 'd["_embedded"]["sections"][1]["_links"]["config"]["href"]')" == */config/submissionforms/traditionalpageone ]]
	api_as GET "/config/submissiondefinitions/traditional?embed=sections"
	[ "$(jbody 'len(d["_embedded"]["sections"]["_embedded"]["sections"])')" = 5 ]
	api_as GET /config/submissionforms/traditionalpageone
	[ "$STATUS" = 200 ]
	[ "$(jbody '[f["selectableMetadata"][0]["metadata"] for r in d["rows"] for f in r["fields"] if f["mandatory"]]')" = '["dc.title", "dc.date.issued"]' ]
	api_as GET /config/submissionforms/traditionalpagetwo
	[ "$(jbody '[f["selectableMetadata"][0]["metadata"] for r in d["rows"] for f in r["fields"]]')" = '["dc.subject", "dc.description.abstract", "dc.description.sponsorship", "dc.description"]' ]
	api_as GET /config/submissionforms/nosuchform
	[ "$STATUS" = 404 ]
	api GET /config/submissionforms/traditionalpageone
	[ "$STATUS" = 401 ]
}

@test "§13 collections/search/findSubmitAuthorized: paged, only collections with ADD" {
	fake_login user@example.org user
	api_as GET "/core/collections/search/findSubmitAuthorized?size=1"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["page"]["totalElements"]')" = 2 ]
	[ "$(jbody 'd["_embedded"]["collections"][0]["name"]')" = "Physics Theses" ]
	api_as GET "/core/collections/search/findSubmitAuthorized?size=1&page=1"
	[ "$(jbody 'd["_embedded"]["collections"][0]["name"]')" = "Edge Cases" ]
	api GET /core/collections/search/findSubmitAuthorized
	[ "$STATUS" = 401 ]
}

@test "§13 submission-forms.xml @8_x: dc.type is required from 8.0 (--dspace-version 8.1)" {
	fake_start --fixture small --dspace-version 8.1
	fake_login user@example.org user
	api_as GET /config/submissionforms/traditionalpageone
	[ "$(jbody '[f["selectableMetadata"][0]["metadata"] for r in d["rows"] for f in r["fields"] if f["mandatory"]]')" = '["dc.title", "dc.date.issued", "dc.type"]' ]
	api_as GET /submission/workspaceitems/1
	[ "$(jbody 'd["errors"][0]["paths"]')" = '["/sections/traditionalpageone/dc.date.issued", "/sections/traditionalpageone/dc.type"]' ]
	# from 8.0 the links are @LinkRest: embedded only on request
	[ "$(jbody '"_embedded" in d')" = false ]
	api_as GET "/submission/workspaceitems/1?embed=collection"
	[ "$(jbody 'list(d["_embedded"])')" = '["collection"]' ]
}

@test "§13 DSpace 10: root reports 10.0; SW/BitstreamReplaceController: off -> 400 after the body, on -> 201 new UUID keeping metadata" {
	fake_start --fixture small --dspace-version 10.0
	api GET /
	[ "$(jbody 'd["dspaceVersion"]')" = "DSpace 10.0" ]
	fake_login admin@example.org admin
	bs=$(fx "[b['uuid'] for b in find('bitstream', name='notes.txt')][0]")
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' --data '[{"op":"add","path":"/metadata/dc.description","value":[{"value":"kept"}]}]'
	[ "$STATUS" = 200 ]
	printf 'new notes\n' >"$BATS_TEST_TMPDIR/notes.txt"
	api_as PUT "/core/bitstreams/$bs/content" -F "file=@$BATS_TEST_TMPDIR/notes.txt"
	[ "$STATUS" = 400 ]
	[ "$(jbody 'd["message"]')" = "Request is invalid or incorrect" ]
	[ "$(fake_requests 'r["method"] == "PUT" and r["status"] == 400 and r["req_bytes"] > 0')" = 1 ]
	fake_control POST /config --data '{"replace_bitstream": true}'
	api_as PUT "/core/bitstreams/$bs/content" -F "file=@$BATS_TEST_TMPDIR/notes.txt"
	[ "$STATUS" = 201 ]
	new=$(jbody 'd["uuid"]')
	[ "$new" != "$bs" ]
	[ "$(jbody 'd["metadata"]["dc.description"][0]["value"]')" = kept ]
	[ "$(jbody 'd["metadata"]["dspace.bitstream.isReplacementOf"][0]["value"]')" = "$bs" ]
	[ "$(jbody 'd["sizeBytes"]')" = 10 ]
	api_as GET "/core/bitstreams/$bs"
	[ "$STATUS" = 404 ]
	api_as GET "/core/bitstreams/$new/content"
	[ "$(cat "$FAKE_DIR/body")" = "new notes" ]
	# the switch on the command line
	fake_stop
	fake_start --fixture small --dspace-version 10.0 --replace-bitstream
	fake_login admin@example.org admin
	api_as PUT "/core/bitstreams/$(fx "[b['uuid'] for b in find('bitstream', name='notes.txt')][0]")/content" -F "file=@$BATS_TEST_TMPDIR/notes.txt"
	[ "$STATUS" = 201 ]
}

@test "§13 before 10.0 there is no content PUT (405)" {
	fake_login admin@example.org admin
	printf 'x' >"$BATS_TEST_TMPDIR/x.txt"
	api_as PUT "/core/bitstreams/$(fx "[b['uuid'] for b in find('bitstream', name='readme.md')][0]")/content" -F "file=@$BATS_TEST_TMPDIR/x.txt"
	[ "$STATUS" = 405 ]
}

@test "§13 API/disseminate/CitationDocumentServiceImpl (--cover-pages): PDFs for non-admins get a cover page; length/ETag differ; ranges fit" {
	fake_start --fixture small --cover-pages --dspace-version 9.1
	bs=$(fx "one('bitstream', name='paper.pdf')['uuid']")
	size=$(fx "one('bitstream', name='paper.pdf')['size']")
	md5=$(fx "one('bitstream', name='paper.pdf')['md5']")
	api GET "/core/bitstreams/$bs/content"
	[ "$STATUS" = 200 ]
	whole=$(stat -c %s "$FAKE_DIR/body")
	[ "$(hdr Content-Length)" = "$whole" ]
	[ "$whole" -gt "$size" ]
	cp "$FAKE_DIR/body" "$BATS_TEST_TMPDIR/whole.pdf"
	[ "$(head -c 5 "$BATS_TEST_TMPDIR/whole.pdf")" = "%PDF-" ]
	want=$("$FAKE_PYTHON" -c 'import hashlib,sys; print(hashlib.md5(("coverpage:" + sys.argv[1]).encode()).hexdigest())' "$md5")
	[ "$(hdr ETag)" = "\"$want\"" ]
	api GET "/core/bitstreams/$bs/content" -H 'Range: bytes=10-99'
	[ "$STATUS" = 206 ]
	[ "$(hdr Content-Range)" = "bytes 10-99/$whole" ]
	cmp "$FAKE_DIR/body" <(tail -c +11 "$BATS_TEST_TMPDIR/whole.pdf" | head -c 90)
	# not for administrators, not for other formats
	fake_login admin@example.org admin
	api_as GET "/core/bitstreams/$bs/content"
	[ "$(hdr Content-Length)" = "$size" ]
	[ "$(hdr ETag)" = "\"$md5\"" ]
	txt=$(fx "one('bitstream', name='readme.md')['uuid']")
	api GET "/core/bitstreams/$txt/content"
	[ "$(hdr Content-Length)" = "$(fx "one('bitstream', name='readme.md')['size']")" ]
}

@test "§13 7.x cover pages keep the stored MD5 as ETag (SW/BitstreamRestController withChecksum)" {
	fake_start --fixture small --cover-pages
	bs=$(fx "one('bitstream', name='paper.pdf')['uuid']")
	api GET "/core/bitstreams/$bs/content"
	[ "$(hdr ETag)" = "\"$(fx "one('bitstream', name='paper.pdf')['md5']")\"" ]
	[ "$(hdr Content-Length)" -gt "$(fx "one('bitstream', name='paper.pdf')['size']")" ]
}

@test "§13 SW/repository/BitstreamRestRepository: the properties part is read like Jackson readValue (trailing content ignored)" {
	fake_login admin@example.org admin
	b=$(fx "[b['uuid'] for b in kids(one('item', name='Run 2023-02')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
	printf 'p' >"$BATS_TEST_TMPDIR/p.txt"
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/p.txt" \
		--form-string 'properties={"name":"renamed.txt"};application/json'
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["name"]')" = renamed.txt ]
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/p.txt" -F 'properties=not json'
	[ "$STATUS" = 422 ]
}

@test "§13 Tomcat does not decode request bodies: Content-Encoding is ignored" {
	fake_login admin@example.org admin
	bs=$(fx "[b['uuid'] for b in find('bitstream', name='readme.md')][0]")
	api_as PATCH "/core/bitstreams/$bs" -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
		--data '[{"op":"add","path":"/metadata/dc.description/-","value":{"value":"plain body"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["metadata"]["dc.description"][-1]["value"]')" = "plain body" ]
	# an upload too: the bytes stored are the bytes sent
	b=$(fx "[b['uuid'] for b in kids(one('item', name='Run 2023-02')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
	printf 'not gzip\n' >"$BATS_TEST_TMPDIR/ce.txt"
	api_as POST "/core/bundles/$b/bitstreams" -H 'Content-Encoding: gzip' -F "file=@$BATS_TEST_TMPDIR/ce.txt"
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["checkSum"]["value"]')" = "$(md5sum <"$BATS_TEST_TMPDIR/ce.txt" | cut -d' ' -f1)" ]
	# and a submission upload
	fake_login user@example.org user
	ws_create "Edge Cases"
	api_as POST "/submission/workspaceitems/$(jbody 'd["id"]')" -H 'Content-Encoding: gzip' -F "file=@$BATS_TEST_TMPDIR/ce.txt"
	[ "$STATUS" = 201 ]
	[ "$(jbody 'd["sections"]["upload"]["files"][0]["sizeBytes"]')" = 9 ]
}

@test "§13 SW/repository/patch/operation/DSpaceObjectMetadataPatchUtils getIndexFromPath: an empty place is no place" {
	fake_login admin@example.org admin
	it=$(fx "one('item', name='Run 2023-02')['uuid']")
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"add","path":"/metadata/dc.description.abstract/","value":{"value":"first"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.description.abstract"]]')" = '["first"]' ]
	# DSpaceObjectMetadataAddOperation.add: no place -> index 0 (addAndShiftRightMetadata)
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"add","path":"/metadata/dc.description.abstract/","value":{"value":"second"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[(v["value"], v["place"]) for v in d["metadata"]["dc.description.abstract"]]')" = '[["second", 0], ["first", 1]]' ]
	# an array without place: only its first value, also at 0; a numeric place is 0 as well
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"add","path":"/metadata/dc.description.abstract","value":[{"value":"a"},{"value":"b"}]},{"op":"add","path":"/metadata/dc.description.abstract/2","value":{"value":"c"}},{"op":"add","path":"/metadata/dc.description.abstract/-","value":{"value":"last"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.description.abstract"]]')" = '["c", "a", "second", "first", "last"]' ]
	# replace without place (DSpaceObjectMetadataReplaceOperation.replaceMetadataFieldMetadata):
	# the field is cleared and gets the first value; a whole list takes remove + add "/-" each
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"replace","path":"/metadata/dc.description.abstract","value":[{"value":"x"},{"value":"y"}]}]'
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.description.abstract"]]')" = '["x"]' ]
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"remove","path":"/metadata/dc.description.abstract"},{"op":"add","path":"/metadata/dc.description.abstract/-","value":{"value":"p"}},{"op":"add","path":"/metadata/dc.description.abstract/-","value":{"value":"q"}}]'
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.description.abstract"]]')" = '["p", "q"]' ]
	# removing a field that has no values is no error (clearMetadata)
	api_as PATCH "/core/items/$it" -H 'Content-Type: application/json' \
		--data '[{"op":"remove","path":"/metadata/dc.subject.other"},{"op":"add","path":"/metadata/dc.subject.other/-","value":{"value":"s"}}]'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["metadata"]["dc.subject.other"][0]["value"]')" = s ]
}
