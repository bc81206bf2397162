#!/usr/bin/env bats
# Depositing (issue 9): a draft deposited into a collection with a workflow
# stays visible to its submitter, read-only, with user.dspace.state =
# workflow, on every mount, not only on the one that deposited. Only
# administrators may call workflowitems/search/findBySubmitter
# (WorkflowItemRestRepository), so the mount lists the user's workflow
# items through MyDSpace's discovery configuration "workspace"
# (discovery.xml workspaceConfiguration, filtered by submitter in
# SolrServiceWorkspaceWorkflowRestrictionPlugin). Each test runs against
# the DSpace versions in DSPACE_VERSIONS (all four by default).

load helpers
load mount

VERSIONS=${DSPACE_VERSIONS:-7.6 8.1 9.1 10.0}

setup() {
	T=$BATS_TEST_TMPDIR
	PT="Research Data/Physics/Physics Theses"
}

teardown() {
	test_teardown
}

# draft_field TITLE EXPR: EXPR of the in-progress item titled TITLE (d)
draft_field() {
	fx "[$2 for d in drafts if d['metadata'].get('dc.title', [{}])[0].get('value') == '$1'][0]"
}

# user_mount [options]: a mount as user@example.org with a cache of its own
user_mount() {
	FS_PASSWORD=user fresh_mount -o user=user@example.org "$@" 3>&-
}

# deposited TITLE: the web UI's way to a workflow item of user@example.org
# in Physics Theses (a collection with a workflow): create, fill, upload,
# grant the licence, deposit (contract §7)
deposited() {
	local coll id
	coll=$(fx "one('collection', name='Physics Theses')['uuid']")
	fake_login user@example.org user
	api_as POST "/submission/workspaceitems?owningCollection=$coll" -H 'Content-Type: application/json' --data '{}'
	[ "$STATUS" = 201 ]
	id=$(jbody 'd["id"]')
	api_as PATCH "/submission/workspaceitems/$id" -H 'Content-Type: application/json' \
		--data '[{"op":"add","path":"/sections/traditionalpageone/dc.title","value":[{"value":"'"$1"'"}]},{"op":"add","path":"/sections/traditionalpageone/dc.date.issued","value":[{"value":"2026"}]},{"op":"add","path":"/sections/traditionalpageone/dc.type","value":[{"value":"Thesis"}]},{"op":"add","path":"/sections/license/granted","value":true}]'
	[ "$STATUS" = 200 ]
	api_as POST "/submission/workspaceitems/$id" -F "file=@$T/a.bin"
	[ "$STATUS" = 201 ]
	api_as POST /workflow/workflowitems -H 'Content-Type: text/uri-list' \
		--data "$FAKE_API/submission/workspaceitems/$id"
	[ "$STATUS" = 201 ]
	[ "$(draft_field "$1" "d['submission']['state']")" = workflow ]
}

# check_workflow_draft DIR [modes]: DIR is a deposited draft as its
# submitter sees it; with "modes", shown read-only as well
check_workflow_draft() {
	bounded ls "$(dirname "$1")" | grep -qxF "$(basename "$1")"
	[ "$(getfattr --only-values -n user.dspace.state "$1")" = workflow ]
	bounded cmp "$T/a.bin" "$1/ORIGINAL/a.bin"
	bounded grep -q 'waits for the collection' "$1/DEPOSIT.txt"
	[ "${2:-}" = modes ] || return 0
	# read-only: the submitter keeps READ only
	[ "$(stat -c %A "$1/ORIGINAL" "$1/ORIGINAL/a.bin" "$1/metadata.json" | tr '\n' ' ')" = "dr-xr-xr-x -r--r--r-- -r--r--r-- " ]
	run bounded bash -c 'echo "{}" > "$1/metadata.json"' _ "$1"
	[[ "$output" == *"Permission denied"* ]]
}

@test "a draft deposited into a workflow is shown read-only to its submitter on a second mount with its own cache" {
	head -c 50000 /dev/urandom >"$T/a.bin"
	for v in $VERSIONS; do
		fake_start --fixture small --dspace-version "$v"
		user_mount -o cache_ttl=2
		local d
		# deposited through the first mount
		d="$MNT/$PT/Mount Deposit"
		bounded mkdir "$d"
		bounded cp "$T/a.bin" "$d/ORIGINAL/"
		fake_login user@example.org user
		api_as PATCH "/submission/workspaceitems/$(draft_field 'Mount Deposit' "d['submission']['id']")" \
			-H 'Content-Type: application/json' \
			--data '[{"op":"add","path":"/sections/traditionalpageone/dc.date.issued","value":[{"value":"2026"}]},{"op":"add","path":"/sections/traditionalpageone/dc.type","value":[{"value":"Thesis"}]}]'
		[ "$STATUS" = 200 ]
		run bounded bash -c 'echo deposit > "$1/DEPOSIT.txt"' bash "$d"
		[ "$status" -eq 0 ]
		[ "$(draft_field 'Mount Deposit' "d['submission']['state']")" = workflow ]
		check_workflow_draft "$d"
		# its modes follow at the next refresh of the listings
		sleep 3
		check_workflow_draft "$d" modes
		# ... and one deposited in the web UI before any mount saw it
		deposited 'Web Deposit'
		unmount_fs
		# a second mount, its own cache: both are there, read-only
		user_mount
		mark=$(log_mark)
		check_workflow_draft "$MNT/$PT/Mount Deposit" modes
		check_workflow_draft "$MNT/$PT/Web Deposit" modes
		# workflow items are asked for as often as workspace items, no more
		ws=$(reqs_since "$mark" "r['path'].endswith('/workspaceitems/search/findBySubmitter')")
		wf=$(reqs_since "$mark" "'configuration=workspace' in r['query']")
		[ "$ws" -ge 1 ]
		[ "$wf" -eq "$ws" ]
		[ "$(reqs_since "$mark" "r['path'].endswith('/workflowitems/search/findBySubmitter')")" -eq 0 ]
		unmount_fs
		# nobody else sees them: they are not archived
		fresh_mount 3>&-
		! bounded ls "$MNT/$PT" | grep -q 'Deposit' || false
		unmount_fs
		fake_stop
	done
}
