#!/usr/bin/env bats
# Fake DSpace: authorization features in bulk,
# GET /authz/authorizations/search/objects (DSpace >= 7.6). DS: SW/ is
# dspace-server-webapp/src/main/java/org/dspace/app/rest/ of DSpace/DSpace:
# SW/repository/AuthorizationRestRepository.java findByObjects (uuid, type,
# feature repeated), SW/authorization/AuthorizationRestUtil.java
# (ids "<eperson>_<feature>_<type>_<uuid>"), SW/authorization/impl/
# EditMetadataFeature, DeleteFeature, SubmitFeature ("canSubmit"),
# CanManageBitstreamBundlesFeature ("canManageBitstreamBundles").
# The fake grants what its write paths allow.

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

uuid_of() {
	fx "one('$1', name='$2')['uuid']"
}

# features_of TYPE UUID...: the sorted "feature:uuid" pairs granted
features_of() {
	local type=$1 q=""
	shift
	for u in "$@"; do q="$q&uuid=$u"; done
	api_as GET "/authz/authorizations/search/objects?type=$type$q&feature=canEditMetadata&feature=canDelete&feature=canSubmit&feature=canManageBitstreamBundles&size=100"
	[ "$STATUS" = 200 ]
	jbody '" ".join(sorted(a["id"].split("_")[-3] + ":" + a["id"].split("_")[-1][:8] for a in d.get("_embedded", {}).get("authorizations", [])))'
}

@test "findByObjects: submitters may submit to their collection only" {
	fake_login user@example.org user
	th=$(uuid_of collection "Physics Theses")
	runs=$(uuid_of collection "Detector Runs")
	out=$(features_of core.collection "$th" "$runs")
	[ "$out" = "canSubmit:${th:0:8}" ]
}

@test "findByObjects: no bundle management on items of a collection the user may not submit to" {
	fake_login user@example.org user
	run1=$(uuid_of item "Run 2023-01 calibration")
	thesis=$(uuid_of item "Thesis Without Bundles")
	out=$(features_of core.item "$run1" "$thesis")
	[ "$out" = "canManageBitstreamBundles:${thesis:0:8}" ]
}

@test "findByObjects: an administrator has every feature that supports the type" {
	fake_login admin@example.org admin
	run1=$(uuid_of item "Run 2023-01 calibration")
	out=$(features_of core.item "$run1")
	[ "$out" = "canDelete:${run1:0:8} canEditMetadata:${run1:0:8} canManageBitstreamBundles:${run1:0:8}" ]
}

@test "findByObjects: ids carry eperson, feature, type and object; uuid and type are required" {
	fake_login admin@example.org admin
	runs=$(uuid_of collection "Detector Runs")
	api_as GET "/authz/authorizations/search/objects?type=core.collection&uuid=$runs&feature=canSubmit"
	[ "$STATUS" = 200 ]
	id=$(jbody 'd["_embedded"]["authorizations"][0]["id"]')
	case $id in *_canSubmit_core.collection_$runs) ;; *) false ;; esac
	[ "$(jbody 'd["page"]["totalElements"]')" = 1 ]
	api_as GET "/authz/authorizations/search/objects?uuid=$runs"
	[ "$STATUS" = 400 ]
}
