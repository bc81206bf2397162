#!/usr/bin/env bats
# Fake DSpace: root document, HAL shapes, paging, discovery, browse, embeds,
# identifiers.  Section numbers refer to /work/shared/dspace-rest-contract.md.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

# servers started inside a test are stopped even when the test fails
teardown() {
	test_teardown
}

# uuid of the fixture object of TYPE called NAME
uuid_of() {
	fx "one('$1', name='$2')['uuid']"
}

@test "§1.2 root document: version, type root, absolute links, HAL JSON content type" {
	api GET ""
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Type)" = "application/hal+json;charset=UTF-8" ]
	[ "$(jbody 'd["dspaceVersion"]')" = "DSpace 7.6" ]
	[ "$(jbody 'd["type"]')" = root ]
	[ "$(jbody 'd["dspaceServer"]')" = "$FAKE_URL" ]
	[ "$(jbody 'd["_links"]["communities"]["href"]')" = "$FAKE_API/core/communities" ]
	[ "$(jbody 'd["_links"]["self"]["href"]')" = "$FAKE_API" ]
	[ "$(jbody 'sorted(k for k in ("authn","bitstreamformats","bitstreams","browses","items") if k in d["_links"])')" = '["authn", "bitstreamformats", "bitstreams", "browses", "items"]' ]
	[ -z "$(hdr ETag)" ]
	[ -z "$(hdr Last-Modified)" ]
}

@test "§1.3 links are built from Host and X-Forwarded-Host/Proto" {
	api GET /core/communities/search/top -H 'X-Forwarded-Host: repo.example.org' -H 'X-Forwarded-Proto: https'
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["_links"]["self"]["href"]')" = "https://repo.example.org/server/api/core/communities/search/top" ]
	[ "$(jbody 'd["_embedded"]["communities"][0]["_links"]["self"]["href"].startswith("https://repo.example.org/server/api/core/communities/")')" = true ]
	api GET "" -H 'Host: localhost:9999'
	[ "$(jbody 'd["_links"]["items"]["href"]')" = "http://localhost:9999/server/api/core/items" ]
}

@test "§1.3 top-level list: page object, first/self/next/last links, prev not previous" {
	n=$(fx 'len(find("community"))')
	api GET "/core/communities?size=2"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'len(d["_embedded"]["communities"])')" = 2 ]
	[ "$(jbody 'd["page"]')" = "{\"size\": 2, \"totalElements\": $n, \"totalPages\": $(((n + 1) / 2)), \"number\": 0}" ]
	[ "$(jbody 'sorted(d["_links"])')" = '["first", "last", "next", "search", "self"]' ]
	[ "$(jbody 'd["_links"]["next"]["href"]')" = "$FAKE_API/core/communities?page=1&size=2" ]
	api GET "/core/communities?size=2&page=1"
	[ "$(jbody 'd["_links"]["prev"]["href"]')" = "$FAKE_API/core/communities?page=0&size=2" ]
	[ "$(jbody '"previous" in d["_links"]')" = false ]
	[ "$(jbody 'd["page"]["number"]')" = 1 ]
}

@test "§1.3 a single-page list has neither first nor last" {
	api GET /core/communities/search/top
	[ "$STATUS" = 200 ]
	[ "$(jbody 'sorted(d["_links"])')" = '["self"]' ]
	[ "$(jbody 'd["page"]["totalPages"]')" = 1 ]
	[ "$(jbody '[c["name"] for c in d["_embedded"]["communities"]]')" = "$(fx '[c["name"] for c in find("community", parent=None)]')" ]
}

@test "§1.4 paging: default 20, clamp to 1000, size<=0 or junk -> 20, negative page -> 0" {
	api GET /core/collections
	[ "$(jbody 'd["page"]["size"]')" = 20 ]
	api GET "/core/collections?size=5000"
	[ "$(jbody 'd["page"]["size"]')" = 1000 ]
	api GET "/core/collections?size=0"
	[ "$(jbody 'd["page"]["size"]')" = 20 ]
	api GET "/core/collections?size=-4"
	[ "$(jbody 'd["page"]["size"]')" = 20 ]
	api GET "/core/collections?size=lots&page=junk"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["page"]["size"], d["page"]["number"]]')" = "[20, 0]" ]
	api GET "/core/collections?page=-3"
	[ "$(jbody 'd["page"]["number"]')" = 0 ]
}

@test "§1.4 a page past the end is empty but keeps the totals; empty top-level lists omit _embedded" {
	n=$(fx 'len(find("community"))')
	api GET "/core/communities?page=7&size=10"
	[ "$STATUS" = 200 ]
	[ "$(jbody '"_embedded" in d')" = false ]
	[ "$(jbody '[d["page"]["totalElements"], d["page"]["number"]]')" = "[$n, 7]" ]
}

@test "§1.3 empty linked sub-resource lists keep _embedded.<rel> = []" {
	c=$(uuid_of community "Empty Community")
	api GET "/core/communities/$c/subcommunities"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["_embedded"]["subcommunities"]')" = "[]" ]
	[ "$(jbody 'd["page"]["totalElements"]')" = 0 ]
	api GET "/core/communities/$c/collections"
	[ "$(jbody 'd["_embedded"]["collections"]')" = "[]" ]
}

@test "§4.1 sub-communities, collections and parentCommunity (204 for a top community)" {
	top=$(uuid_of community "Research Data")
	phys=$(uuid_of community "Physics")
	api GET "/core/communities/$top/subcommunities"
	[ "$(jbody '[c["name"] for c in d["_embedded"]["subcommunities"]]')" = '["Physics"]' ]
	api GET "/core/communities/$phys/subcommunities"
	[ "$(jbody '[c["name"] for c in d["_embedded"]["subcommunities"]]')" = '["Particle Physics"]' ]
	api GET "/core/communities/$phys/collections"
	[ "$(jbody '[c["name"] for c in d["_embedded"]["collections"]]')" = '["Physics Theses"]' ]
	[ "$(jbody 'd["_links"]["self"]["href"]')" = "$FAKE_API/core/communities/$phys/collections" ]
	api GET "/core/communities/$phys/parentCommunity"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["uuid"]')" = "$top" ]
	api GET "/core/communities/$top/parentCommunity"
	[ "$STATUS" = 204 ]
	[ ! -s "$FAKE_DIR/body" ]
	api GET "/core/communities/$top/logo"
	[ "$STATUS" = 204 ]
}

@test "§4.2 collection JSON, parentCommunity, mappedItems and the missing /items endpoint" {
	col=$(uuid_of collection "Restricted and Hidden")
	api GET "/core/collections/$col"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["type"], d["id"] == d["uuid"], d["archivedItemsCount"], d["handle"]]')" = "[\"collection\", true, -1, \"$(fx "one('collection', name='Restricted and Hidden')['handle']")\"]" ]
	[ "$(jbody 'sorted(d["_links"])')" = '["adminGroup", "bitstreamReadGroup", "itemReadGroup", "license", "logo", "mappedItems", "parentCommunity", "self", "submittersGroup"]' ]
	[ "$(jbody '"_embedded" in d')" = false ]
	api GET "/core/collections/$col/mappedItems"
	[ "$(jbody '[i["name"] for i in d["_embedded"]["mappedItems"]]')" = '["Run 2023-02"]' ]
	api GET "/core/collections/$col/parentCommunity"
	[ "$(jbody 'd["name"]')" = "Awkward Names" ]
	api GET "/core/collections/$col/items"
	[ "$STATUS" = 404 ]
}

@test "§4.4 item JSON: metadata map, flags, lastModified form, links; owningCollection, mappedCollections" {
	it=$(uuid_of item "Run 2023-02")
	api GET "/core/items/$it"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["inArchive"], d["discoverable"], d["withdrawn"], d["entityType"], d["type"]]')" = '[true, true, false, null, "item"]' ]
	[ "$(jbody '[v["value"] for v in d["metadata"]["dc.contributor.author"]]')" = '["Curie, Marie", "Curie, Pierre"]' ]
	[ "$(jbody '[v["place"] for v in d["metadata"]["dc.contributor.author"]]')" = '[0, 1]' ]
	[ "$(jbody 'd["metadata"]["dc.title"][0]')" = '{"value": "Run 2023-02", "language": null, "authority": null, "confidence": -1, "place": 0}' ]
	[ "$(jbody '"dc.description.provenance" in d["metadata"]')" = false ]
	[[ "$(jbody 'd["lastModified"]')" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\.[0-9]{3}\+00:00$ ]]
	[ "$(jbody '"mappedCollections" in d["_links"] and "owningCollection" in d["_links"] and "submitter" not in d["_links"]')" = true ]
	api GET "/core/items/$it/owningCollection"
	[ "$(jbody 'd["name"]')" = "Detector Runs" ]
	api GET "/core/items/$it/mappedCollections"
	[ "$(jbody '[c["name"] for c in d["_embedded"]["mappedCollections"]]')" = '["Restricted and Hidden"]' ]
	api GET "/core/items/$(uuid_of item 'Thesis Without Bundles')/bundles"
	[ "$(jbody 'd["_embedded"]["bundles"]')" = "[]" ]
}

@test "§4.4 a withdrawn item is readable but shows empty metadata to anonymous" {
	it=$(uuid_of item "Withdrawn Item")
	api GET "/core/items/$it"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["withdrawn"], d["inArchive"], d["metadata"]]')" = '[true, false, {}]' ]
	api GET "/core/items/$it/bundles"
	[ "$STATUS" = 401 ]
}

@test "§4.5 bundles: primaryBitstream link (camel case) and 204; GET /core/bundles is 405" {
	th=$(uuid_of item "On the Quantum Behaviour of Small Things")
	ob=$(fx "[b['uuid'] for b in kids('$th','bundle') if b['name']=='ORIGINAL'][0]")
	api GET "/core/bundles/$ob"
	[ "$(jbody 'sorted(d["_links"])')" = '["bitstreams", "item", "primaryBitstream", "self"]' ]
	api GET "/core/bundles/$ob/primaryBitstream"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["name"]')" = thesis.pdf ]
	lb=$(fx "[b['uuid'] for b in kids('$th','bundle') if b['name']=='LICENSE'][0]")
	api GET "/core/bundles/$lb/primaryBitstream"
	[ "$STATUS" = 204 ]
	api GET /core/bundles
	[ "$STATUS" = 405 ]
}

@test "§4.6 bitstream JSON, format link and the bitstreamformats registry" {
	bs=$(uuid_of bitstream thesis.pdf)
	api GET "/core/bitstreams/$bs"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["bundleName"], d["sizeBytes"], d["checkSum"]["checkSumAlgorithm"], d["checkSum"]["value"], d["handle"]]')" = "[\"ORIGINAL\", $(fx "one('bitstream', name='thesis.pdf')['size']"), \"MD5\", \"$(fx "one('bitstream', name='thesis.pdf')['md5']")\", null]" ]
	[ "$(jbody '"lastModified" in d')" = false ]
	[ "$(jbody 'd["_links"]["content"]["href"]')" = "$FAKE_API/core/bitstreams/$bs/content" ]
	api GET "/core/bitstreams/$bs/format"
	[ "$(jbody '[d["mimetype"], d["shortDescription"], d["supportLevel"], d["type"]]')" = '["application/pdf", "Adobe PDF", "KNOWN", "bitstreamformat"]' ]
	id=$(jbody 'd["id"]')
	api GET "/core/bitstreamformats/$id"
	[ "$(jbody 'd["extensions"]')" = '["pdf"]' ]
	api GET /core/bitstreamformats
	[ "$(jbody 'd["_embedded"]["bitstreamformats"][0]["shortDescription"]')" = Unknown ]
	api GET /core/bitstreamformats/99999
	[ "$STATUS" = 404 ]
}

@test "§4.3 discovery: searchResult (singular) shape, indexableObject embeds, facets" {
	col=$(uuid_of collection "Physics Theses")
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM"
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["type"], d["scope"], d["query"], d["appliedFilters"], d["sort"], "searchResults" in d["_embedded"]]')" = "[\"discover\", \"$col\", null, [], null, false]" ]
	[ "$(jbody 'd["_embedded"]["facets"]')" = "[]" ]
	[ "$(jbody 'd["_links"]["self"]["href"]')" = "$FAKE_API/discover/search/objects?dsoType=ITEM&scope=$col" ]
	o0=$(jbody 'd["_embedded"]["searchResult"]["_embedded"]["objects"][0]')
	[ "$(jbody 'sorted(d["_embedded"]["searchResult"]["_embedded"]["objects"][0])')" = '["_embedded", "_links", "hitHighlights", "type"]' ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["_embedded"]["objects"][0]["_embedded"]["indexableObject"]["type"]')" = item ]
	[ "$(jbody '(o := d["_embedded"]["searchResult"]["_embedded"]["objects"][0])["_links"]["indexableObject"]["href"] == o["_embedded"]["indexableObject"]["_links"]["self"]["href"]')" = true ]
	[ "$(jbody 'sorted(i["_embedded"]["indexableObject"]["name"] for i in d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = "$(fx 'sorted(i["name"] for i in find("item", parent=one("collection", name="Physics Theses")["uuid"]))')" ]
}

@test "§1.4 discovery returns at most 100 objects per page but echoes the requested size (DS#8723)" {
	col=$(uuid_of collection "Big Collection")
	[ "$(fx "len(find('item', parent='$col'))")" = 130 ]
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&size=1000"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 100 ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["size"]')" = 1000 ]
	# Spring's PageImpl "corrects" the total to offset + content size on what it believes is the last page
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["totalElements"]')" = 100 ]
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&size=100&page=1"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 30 ]
	[ "$(jbody '[d["_embedded"]["searchResult"]["page"][k] for k in ("number","size","totalPages","totalElements")]')" = "[1, 100, 2, 130]" ]
	[ "$(jbody 'sorted(d["_embedded"]["searchResult"]["_links"])')" = '["first", "prev", "self"]' ]
	# --discovery-cap (here switched at runtime)
	fake_control POST /config -d '{"discovery_cap": 7}' >/dev/null
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&size=20&page=2"
	fake_control POST /config -d '{"discovery_cap": 100}' >/dev/null
	[ "$(jbody '[o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = "$(fx "[i['name'] for i in find('item', parent='$col')][40:47]")" ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["size"]')" = 20 ]
}

@test "§4.3 discovery page links: first only off page 0, next/last, and no embed parameter" {
	col=$(uuid_of collection "Big Collection")
	api GET "/discover/search/objects?scope=$col&dsoType=item&size=50&embed=bundles"
	links='d["_embedded"]["searchResult"]["_links"]'
	[ "$(jbody "sorted($links)")" = '["last", "next", "self"]' ]
	[ "$(jbody "$links[\"next\"][\"href\"]")" = "$FAKE_API/discover/search/objects?dsoType=item&scope=$col&page=1&size=50" ]
	[ "$(jbody "$links[\"last\"][\"href\"]")" = "$FAKE_API/discover/search/objects?dsoType=item&scope=$col&page=2&size=50" ]
	# follow next until the end: every item exactly once
	seen=$("$FAKE_PYTHON" -c '
import json, sys, urllib.request
url, total = sys.argv[1], []
while url:
    d = json.load(urllib.request.urlopen(url, timeout=20))
    sr = d["_embedded"]["searchResult"]
    total += [o["_embedded"]["indexableObject"]["uuid"] for o in sr["_embedded"]["objects"]]
    url = sr["_links"].get("next", {}).get("href")
print(len(total), len(set(total)))' "$FAKE_API/discover/search/objects?scope=$col&dsoType=ITEM&size=40")
	[ "$seen" = "130 130" ]
}

@test "§4.3 discovery hides withdrawn, non-discoverable and unreadable items; includes mapped items" {
	col=$(uuid_of collection "Restricted and Hidden")
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM"
	[ "$(jbody 'sorted(o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = '["Item With Restricted File", "Run 2023-02"]' ]
	fake_login admin@example.org admin
	api_as GET "/discover/search/objects?scope=$col&dsoType=ITEM"
	[ "$(jbody 'sorted(o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = '["Item With Restricted File", "Restricted Item", "Run 2023-02"]' ]
	api GET "/discover/search/objects?dsoType=ITEM&size=100&query=Private"
	[ "$(jbody 'len(d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = 0 ]
}

@test "§4.3 dsoType is case-insensitive and repeatable; scope covers sub-communities" {
	top=$(uuid_of community "Research Data")
	api GET "/discover/search/objects?scope=$top&dsoType=community&dsoType=Collection"
	[ "$(jbody 'sorted(o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"])')" = '["Big Collection", "Detector Runs", "Particle Physics", "Physics", "Physics Theses"]' ]
	api GET "/discover/search/objects?scope=$top&dsoType=ITEM,COLLECTION&size=1"
	n=$(fx 'sum(len(find("item", parent=c["uuid"])) + 1 for c in find("collection") if c["name"] in ("Detector Runs", "Physics Theses", "Big Collection"))')
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["totalElements"]')" = "$n" ]
	api GET "/discover/search/objects?dsoType=BITSTREAMS"
	[ "$STATUS" = 400 ]
}

@test "§4.3 discovery sort by dc.title DESC; unknown sort field 400; Solr syntax error 422; empty result keeps objects: []" {
	col=$(uuid_of collection "Big Collection")
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&sort=dc.title,DESC&size=3"
	[ "$(jbody '[o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = '["Record 130", "Record 129", "Record 128"]' ]
	[ "$(jbody 'd["sort"]')" = '{"by": "dc.title", "order": "DESC"}' ]
	[[ "$(jbody 'd["_embedded"]["searchResult"]["_links"]["next"]["href"]')" == *"sort=dc.title,DESC"* ]]
	api GET "/discover/search/objects?scope=$col&sort=nonsense,ASC"
	[ "$STATUS" = 400 ]
	api GET "/discover/search/objects?query=title:(unbalanced"
	[ "$STATUS" = 422 ]
	api GET "/discover/search/objects?scope=$(uuid_of collection 'Empty Collection')"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["_embedded"]["objects"]')" = "[]" ]
	[ "$(jbody 'd["_embedded"]["searchResult"]["page"]["totalElements"]')" = 0 ]
	api GET "/discover/search/objects?query=Superconductivity"
	[ "$(jbody '[o["_embedded"]["indexableObject"]["name"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"]]')" = '["Superconductivity at Room Temperature?"]' ]
}

@test "§4.3 browse: index list, title items are full items, sorted and not capped at 100" {
	api GET /discover/browses
	[ "$STATUS" = 200 ]
	[ "$(jbody '[b["id"] for b in d["_embedded"]["browses"]]')" = '["title", "dateissued", "author", "subject"]' ]
	col=$(uuid_of collection "Big Collection")
	api GET "/discover/browses/title/items?scope=$col&size=200"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'len(d["_embedded"]["items"])')" = 130 ]
	[ "$(jbody '[d["page"]["size"], d["page"]["totalElements"]]')" = "[200, 130]" ]
	[ "$(jbody 'd["_embedded"]["items"][0]["name"]')" = "Record 001" ]
	[ "$(jbody 'd["_embedded"]["items"][0]["type"]')" = item ]
	api GET "/discover/browses/title/items?scope=$col&sort=title,desc&size=2"
	[ "$(jbody '[i["name"] for i in d["_embedded"]["items"]]')" = '["Record 130", "Record 129"]' ]
	[ "$(jbody '"next" in d["_links"]')" = true ]
}

@test "§1.5 embed=bundles/bitstreams nests pages; the 25-file bundle is cut at 20 unless embed.size says more" {
	it=$(uuid_of item "Many Files")
	api GET "/core/items/$it?embed=bundles/bitstreams"
	bp='d["_embedded"]["bundles"]["_embedded"]["bundles"][0]["_embedded"]["bitstreams"]'
	[ "$(jbody "len($bp[\"_embedded\"][\"bitstreams\"])")" = 20 ]
	[ "$(jbody "[$bp[\"page\"][k] for k in (\"number\",\"size\",\"totalPages\",\"totalElements\")]")" = "[0, 20, 2, 25]" ]
	[ "$(jbody "sorted($bp[\"_links\"])")" = '["last", "next", "self"]' ]
	[ "$(jbody 'd["_embedded"]["bundles"]["page"]["totalElements"]')" = 1 ]
	[ "$(jbody '"owningCollection" in d["_embedded"]')" = false ]
	api GET "/core/items/$it?embed=bundles/bitstreams&embed.size=bundles/bitstreams=100"
	[ "$(jbody "len($bp[\"_embedded\"][\"bitstreams\"])")" = 25 ]
	api GET "/core/items/$it?embed=bundles/bitstreams&embed.size=bundles/bitstreams=5"
	[ "$(jbody "[len($bp[\"_embedded\"][\"bitstreams\"]), $bp[\"page\"][\"size\"]]")" = "[5, 5]" ]
	[ "$(jbody "$bp[\"_links\"][\"next\"][\"href\"]")" = "$FAKE_API/core/bundles/$(jbody 'd["_embedded"]["bundles"]["_embedded"]["bundles"][0]["uuid"]')/bitstreams?page=1&size=5" ]
	api GET "/core/items/$it?embed=bundles,owningCollection&embed.size=bundles/bitstreams=junk"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["_embedded"]["owningCollection"]["name"]')" = "Edge Cases" ]
	[ "$(jbody '"_embedded" in d["_embedded"]["bundles"]["_embedded"]["bundles"][0]')" = false ]
	api GET "/core/items/$it?embed=thumbnail&projection=nonsense"
	[ "$STATUS" = 400 ]
}

@test "§1.5 embeds on discovery objects and browse items apply to every indexable object (research finding)" {
	col=$(uuid_of collection "Physics Theses")
	api GET "/discover/search/objects?scope=$col&dsoType=ITEM&embed=bundles/bitstreams&embed.size=bundles/bitstreams=1"
	th=$(jbody '[o["_embedded"]["indexableObject"] for o in d["_embedded"]["searchResult"]["_embedded"]["objects"] if o["_embedded"]["indexableObject"]["name"].startswith("On the Quantum")][0]["_embedded"]["bundles"]["_embedded"]["bundles"]')
	[ "$("$FAKE_PYTHON" -c 'import json,sys; b=json.loads(sys.argv[1]); print([x["name"] for x in b], [x["_embedded"]["bitstreams"]["page"]["totalElements"] for x in b], len(b[0]["_embedded"]["bitstreams"]["_embedded"]["bitstreams"]))' "$th")" = "['ORIGINAL', 'LICENSE', 'THUMBNAIL'] [2, 1, 1] 1" ]
	api GET "/discover/browses/title/items?scope=$col&embed=thumbnail"
	[ "$(jbody '[i["_embedded"]["thumbnail"]["name"] if i["_embedded"]["thumbnail"] else None for i in d["_embedded"]["items"]]')" = '["thesis.pdf.jpg", null, null, null]' ]
}

@test "§1.5 unreadable linked resources are silently left out of embeds; to-one nulls stay" {
	# A restricted bitstream of a readable item is NOT left out: its metadata
	# is readable through READ on the item and bundle (METADATA_READ,
	# DS: SW/security/BitstreamMetadataReadPermissionEvaluatorPlugin.java).
	it=$(uuid_of item "Item With Restricted File")
	api GET "/core/items/$it?embed=bundles/bitstreams"
	[ "$(jbody '[b["name"] for b in d["_embedded"]["bundles"]["_embedded"]["bundles"][0]["_embedded"]["bitstreams"]["_embedded"]["bitstreams"]]')" = '["public.txt", "secret.txt"]' ]
	fake_login admin@example.org admin
	api_as GET "/core/items/$it?embed=bundles/bitstreams"
	[ "$(jbody '[b["name"] for b in d["_embedded"]["bundles"]["_embedded"]["bundles"][0]["_embedded"]["bitstreams"]["_embedded"]["bitstreams"]]')" = '["public.txt", "secret.txt"]' ]
	api GET "/core/collections/$(uuid_of collection 'Edge Cases')?embed=logo,adminGroup,parentCommunity"
	[ "$(jbody '[d["_embedded"]["logo"], "adminGroup" in d["_embedded"], d["_embedded"]["parentCommunity"]["name"]]')" = '[null, false, "Awkward Names"]' ]
}

@test "§1.1 trailing slash only on list endpoints; upper-case UUIDs accepted, lower case emitted" {
	api GET /core/communities/
	[ "$STATUS" = 200 ]
	c=$(uuid_of community "Physics")
	api GET "/core/communities/$c/"
	[ "$STATUS" = 404 ]
	api GET "/core/communities/$(printf '%s' "$c" | tr a-f A-F)"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["uuid"]')" = "$c" ]
	api GET "/core/community/$c"
	[ "$STATUS" = 404 ]
}

@test "§9.3 404 for unknown community/item, 401 for an unknown bitstream as anonymous, error JSON shape" {
	api GET /core/items/00000000-0000-4000-8000-000000000000
	[ "$STATUS" = 404 ]
	[ "$(jbody 'sorted(d)')" = '["error", "message", "path", "status", "timestamp"]' ]
	[ "$(jbody '[d["status"], d["error"], d["path"]]')" = '[404, "Not Found", "/server/api/core/items/00000000-0000-4000-8000-000000000000"]' ]
	[ "$(hdr Content-Type)" = "application/json;charset=UTF-8" ]
	api GET /core/communities/00000000-0000-4000-8000-000000000000
	[ "$STATUS" = 404 ]
	api GET /core/bitstreams/00000000-0000-4000-8000-000000000000
	[ "$STATUS" = 401 ]
	[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
}

@test "§8 /pid/find: 302 with an absolute Location for every handle spelling; 404 on a miss" {
	it=$(uuid_of item "Run 2023-02")
	h=$(fx "one('item', name='Run 2023-02')['handle']")
	for id in "$h" "hdl:$h" "info:hdl/$h" "https://hdl.handle.net/$h" "http://hdl.handle.net/$h" \
		"http://localhost:4000/handle/$h" "https://repo.example.org/handle/$h"; do
		api GET "/pid/find" -G --data-urlencode "id=$id"
		[ "$STATUS" = 302 ]
		[ "$(hdr Location)" = "$FAKE_API/core/items/$it" ]
	done
	c=$(fx "one('community', name='Physics')['handle']")
	api GET "/pid/find?id=$c"
	[ "$(hdr Location)" = "$FAKE_API/core/communities/$(uuid_of community Physics)" ]
	api GET "/pid/find?id=123456789/999999"
	[ "$STATUS" = 404 ]
}

@test "§8 /dso/find and bitstreams/search/byItemHandle" {
	bs=$(uuid_of bitstream thesis.pdf)
	api GET "/dso/find?uuid=$bs"
	[ "$STATUS" = 302 ]
	[ "$(hdr Location)" = "$FAKE_API/core/bitstreams/$bs" ]
	api GET "/dso/find?uuid=00000000-0000-4000-8000-000000000000"
	[ "$STATUS" = 404 ]
	api GET "/dso/find?uuid=$(uuid_of item 'Restricted Item')"
	[ "$STATUS" = 401 ]
	h=$(fx "one('item', name='On the Quantum Behaviour of Small Things')['handle']")
	api GET "/core/bitstreams/search/byItemHandle?handle=$h&filename=data.csv"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["name"]')" = data.csv ]
	api GET "/core/bitstreams/search/byItemHandle?handle=$h&sequence=1"
	[ "$(jbody 'd["name"]')" = thesis.pdf ]
	api GET "/core/bitstreams/search/byItemHandle?handle=$h&filename=nothing.here"
	[ "$STATUS" = 204 ]
	api GET "/core/bitstreams/search/byItemHandle?handle=$h"
	[ "$STATUS" = 400 ]
}

@test "§1.2 --dspace-version 9.1: version string, Instant lastModified (Z), 9.x links" {
	fake_start --fixture small --dspace-version 9.1
	api GET ""
	[ "$(jbody 'd["dspaceVersion"]')" = "DSpace 9.1" ]
	it=$(uuid_of item "Run 2023-02")
	api GET "/core/items/$it"
	[[ "$(jbody 'd["lastModified"]')" =~ ^[0-9-]{10}T[0-9:]{8}\.[0-9]{3}Z$ ]]
	[ "$(jbody '"submitter" in d["_links"]')" = true ]
	api GET "/core/bitstreams/$(uuid_of bitstream thesis.pdf)"
	[ "$(jbody '"accessStatus" in d["_links"]')" = true ]
}

@test "§11 fixtures: same fixture gives identical UUIDs, names and bytes; awkward names are present" {
	run "$FAKE_PYTHON" - "$top_srcdir/tests/fake-dspace" "$BATS_TEST_TMPDIR" <<'EOF'
import sys, json, hashlib, os
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import fixtures
a, b = fixtures.build_small(), fixtures.build_small()
assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
objs = a["objects"]
names = [fixtures.expand_metadata(o["metadata"]).get("dc.title", [{}])[0].get("value") for o in objs]
for n in ["a/b: slash in title", "Café", "Cafe\u0301", ".", "..", "", None, "  padded title  ",
          "tab\there", "a/b.txt", "same.txt", "ж" * 140 + ".txt"]:
    assert n in names, n
assert names.count("Duplicate Title") == 3 and names.count("same.txt") == 2
assert any(n and len(n.encode()) > 300 for n in names)
st = os.path.join(sys.argv[2], "st")
fixtures.materialize(a, st)
big = [o for o in objs if o["type"] == "bitstream" and o["size"] >= 3 * 1024 * 1024]
zero = [o for o in objs if o["type"] == "bitstream" and o["size"] == 0]
assert big and zero
md5 = hashlib.md5(open(os.path.join(st, "content", big[0]["uuid"]), "rb").read()).hexdigest()
assert md5 == big[0]["md5"]
print("ok")
EOF
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
}

@test "§11 fixtures: bench has 5 communities, 20 collections, 5000+ items, 15000+ bitstreams and a fast 1 GiB generator" {
	run "$FAKE_PYTHON" - "$top_srcdir/tests/fake-dspace" "$BATS_TEST_TMPDIR" <<'EOF'
import sys, collections, os, time, hashlib
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
import fixtures
fx = fixtures.build_bench()
c = collections.Counter(o["type"] for o in fx["objects"])
assert c["community"] == 5 and c["collection"] == 20, c
assert c["item"] == 5001 and c["bitstream"] == 15001, c
big = [o for o in fx["objects"] if o.get("content", {}).get("size") == 1 << 30]
assert len(big) == 1
# the same generator, smaller: deterministic and quick
spec = dict(big[0]["content"], size=24 << 20)
p = os.path.join(sys.argv[2], "x")
t = time.time()
s1 = fixtures.write_content(spec, p)
s2 = fixtures.write_content(spec, p)
assert s1 == s2 and s1[0] == 24 << 20, (s1, s2)
blocks = open(p, "rb").read()
assert blocks[16:4096] == blocks[(4 << 20) + 16:(4 << 20) + 4096] and blocks[:16] != blocks[4 << 20:(4 << 20) + 16]
assert time.time() - t < 10
print("ok")
EOF
	[ "$status" -eq 0 ]
	[ "$output" = ok ]
}

@test "§11 fixtures: a nested PATH.json fixture loads; the state dump is itself a fixture that reloads to the same tree" {
	cat >"$BATS_TEST_TMPDIR/custom.json" <<'EOF'
{"name": "custom",
 "communities": [
  {"name": "Top", "communities": [{"name": "Sub"}],
   "collections": [{"name": "Coll", "submitters": ["user@example.org"], "items": [
     {"title": "An item", "metadata": {"dc.contributor.author": ["A, B", "C, D"]},
      "bundles": [{"name": "ORIGINAL", "bitstreams": [
        {"name": "hello.txt", "text": "hello\n"},
        {"name": "blob.bin", "content": {"random": "seed", "size": 1000}, "primary": true},
        {"name": "secret.txt", "text": "psst", "restricted": true}]}]},
     {"title": "Hidden", "discoverable": false}]}]}]}
EOF
	fake_start --fixture "$BATS_TEST_TMPDIR/custom.json"
	api GET /core/communities/search/top
	[ "$(jbody '[c["name"] for c in d["_embedded"]["communities"]]')" = '["Top"]' ]
	bs=$(fx "one('bitstream', name='hello.txt')['uuid']")
	api GET "/core/bitstreams/$bs/content"
	[ "$(cat "$FAKE_DIR/body")" = hello ]
	[ "$(fx "[one('bitstream', name='blob.bin')['size'], one('bitstream', name='secret.txt')['restricted'], one('item', name='Hidden')['discoverable']]")" = '[1000, true, false]' ]
	[ "$(fx "one('item', name='An item')['metadata']['dc.contributor.author'][1]['value']")" = "C, D" ]
	fake_stop
	# the small fixture's dump reloads to the same objects
	fake_start --fixture small
	first=$(fx '[(o["type"], o["uuid"], o["name"], o.get("handle"), o["parent"], o.get("md5")) for o in objs]')
	cp "$FAKE_STATE/fixture.json" "$BATS_TEST_TMPDIR/dump.json"
	fake_stop
	fake_start --fixture "$BATS_TEST_TMPDIR/dump.json"
	[ "$(fx '[(o["type"], o["uuid"], o["name"], o.get("handle"), o["parent"], o.get("md5")) for o in objs]')" = "$first" ]
}
