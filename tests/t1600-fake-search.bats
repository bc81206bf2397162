#!/usr/bin/env bats
# Fake DSpace: the discovery query syntax (fakedspace/solrquery.py; contract
# §4.3). Real DSpace hands the query to Solr's standard parser; what the fake
# simplifies is said in solrquery.py.

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

# search Q [extra params]: the sorted titles of the items query Q finds
search() {
	local q
	q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1")
	api GET "/discover/search/objects?query=$q&dsoType=ITEM&size=100${2:-}"
	[ "$STATUS" = 200 ] || { echo "status $STATUS for $1" >&2; return 1; }
	jbody '"|".join(sorted(e["_embedded"]["indexableObject"]["name"] for e in d["_embedded"]["searchResult"]["_embedded"]["objects"]))'
}

@test "a word matches any metadata value, case-insensitively" {
	[ "$(search curie)" = "Run 2023-01 calibration|Run 2023-02" ]
}

@test "juxtaposed terms are all required; OR and || widen" {
	[ "$(search 'curie pierre')" = "Run 2023-02" ]
	[ "$(search 'Pierre OR Bohr')" = "On the Quantum Behaviour of Small Things|Run 2023-02" ]
	[ "$(search 'Pierre || Bohr')" = "On the Quantum Behaviour of Small Things|Run 2023-02" ]
	[ "$(search 'Curie AND Pierre')" = "Run 2023-02" ]
}

@test "NOT and - exclude" {
	[ "$(search 'Curie NOT Pierre')" = "Run 2023-01 calibration" ]
	[ "$(search 'Curie -Pierre')" = "Run 2023-01 calibration" ]
	[ "$(search '(Curie OR Bohr) AND NOT Pierre')" = "On the Quantum Behaviour of Small Things|Run 2023-01 calibration" ]
}

@test "field queries: dc.* names a field, title and author are index names" {
	[ "$(search 'dc.contributor.author:Pierre')" = "Run 2023-02" ]
	[ "$(search 'author:Heisenberg')" = "On the Quantum Behaviour of Small Things" ]
	[ "$(search 'title:Superconductivity')" = "Superconductivity at Room Temperature?" ]
	# the word is in the abstract, not the title
	[ "$(search 'title:quantumly')" = "" ]
	[ "$(search 'quantumly')" = "On the Quantum Behaviour of Small Things" ]
}

@test "phrases in quotes, also in a field" {
	[ "$(search '"Room Temperature"')" = "Superconductivity at Room Temperature?" ]
	[ "$(search '"Temperature Room"')" = "" ]
	[ "$(search 'author:"Curie, Pierre"')" = "Run 2023-02" ]
	[ "$(search '"a/b: slash"')" = "a/b: slash in title" ]
}

@test "date ranges: inclusive [], exclusive {}, open *" {
	[ "$(search 'dc.date.issued:[2019 TO 2021] AND dc.type:Thesis')" = "On the Quantum Behaviour of Small Things|Superconductivity at Room Temperature?" ]
	[ "$(search 'dc.date.issued:{2019 TO 2021] AND dc.type:Thesis')" = "On the Quantum Behaviour of Small Things" ]
	[ "$(search 'dateIssued:[2023 TO *] AND Curie')" = "Run 2023-01 calibration|Run 2023-02" ]
	[ "$(search 'dc.date.issued:[2023-02-01 TO 2023-12-31] AND Curie')" = "Run 2023-02" ]
}

@test "scope narrows a query to a collection" {
	col=$(fx "one('collection', name='Detector Runs')['uuid']")
	[ "$(search curie "&scope=$col")" = "Run 2023-01 calibration|Run 2023-02" ]
	col=$(fx "one('collection', name='Physics Theses')['uuid']")
	[ "$(search curie "&scope=$col")" = "" ]
}

@test "syntax errors are 422, as DSpace answers a query Solr cannot parse" {
	for q in '"unbalanced' '(Curie' 'dc.date.issued:[2000 TO'; do
		q=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$q")
		api GET "/discover/search/objects?query=$q&dsoType=ITEM"
		[ "$STATUS" = 422 ]
	done
}

# by_id U [extra params [query]]: "type:name" of every object
# search.resourceid:U (or the encoded query) finds
by_id() {
	api GET "/discover/search/objects?query=${3:-search.resourceid%3A$1}&size=10${2:-}"
	[ "$STATUS" = 200 ] || { echo "status $STATUS for $1" >&2; return 1; }
	jbody '"|".join(e["_embedded"]["indexableObject"]["type"] + ":" + e["_embedded"]["indexableObject"]["name"] for e in d["_embedded"]["searchResult"]["_embedded"]["objects"])'
}

@test "search.resourceid finds a community, collection or item by UUID, exactly" {
	# every indexed object's document holds its UUID in search.resourceid
	# (IndexFactoryImpl.buildDocument), a string field (schema.xml); the
	# default configuration shows communities, collections and archived,
	# discoverable items (discovery.xml defaultFilterQueries)
	u=$(fx "one('community', name='Physics')['uuid']")
	[ "$(by_id "$u")" = "community:Physics" ]
	u=$(fx "one('collection', name='Detector Runs')['uuid']")
	[ "$(by_id "$u")" = "collection:Detector Runs" ]
	u=$(fx "one('item', name='Run 2023-02')['uuid']")
	[ "$(by_id "$u")" = "item:Run 2023-02" ]
	# the embeds of a listing come with it
	api GET "/discover/search/objects?query=search.resourceid%3A$u&embed=bundles/bitstreams/format"
	[ "$(jbody '"bundles" in d["_embedded"]["searchResult"]["_embedded"]["objects"][0]["_embedded"]["indexableObject"]["_embedded"]')" = true ]
	# a string field: no partial match, and not in the catch-all text
	[ "$(by_id "${u%-*}")" = "" ]
	[ "$(search "$u")" = "" ]
	# bitstreams are not indexed (no IndexFactory for them); withdrawn and
	# private items are filtered out
	u=$(fx "one('bitstream', name='notes.txt')['uuid']")
	[ "$(by_id "$u")" = "" ]
	u=$(fx "one('item', name='Withdrawn Item')['uuid']")
	[ "$(by_id "$u")" = "" ]
	u=$(fx "one('item', name='Private Item')['uuid']")
	[ "$(by_id "$u")" = "" ]
}

@test "handle:\"P/S\" finds the object with that handle, exactly" {
	# DSpaceObjectIndexFactoryImpl.buildDocument indexes the handle in
	# "handle", a string field (schema.xml)
	h=$(fx "one('item', name='Run 2023-02')['handle']")
	[ "$(by_id "x" "" "handle%3A%22${h/\//%2F}%22")" = "item:Run 2023-02" ]
	h=$(fx "one('collection', name='Detector Runs')['handle']")
	[ "$(by_id "x" "" "handle%3A%22${h/\//%2F}%22")" = "collection:Detector Runs" ]
	[ "$(by_id "x" "" "handle%3A%22${h%/*}%22")" = "" ]
}
