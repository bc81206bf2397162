#!/usr/bin/env bats
# Depositing as a researcher (issue 9): mkdir in a collection makes a draft
# (a DSpace workspace item, contract §7, §13), shown to its submitter on
# every mount with user.dspace.state = workspace; rm -r abandons it; a
# refused mkdir is EACCES with the server's message in the log; -o
# deposit=direct keeps the administrators' direct creation. Each test runs
# against the DSpace version in DSPACE_VERSIONS (all four by default).

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

# on_version V: a fresh server of DSpace V and a mount as user@example.org
on_version() {
	fake_start --fixture small --dspace-version "$1"
	FS_PASSWORD=user fresh_mount -o user=user@example.org 3>&-
}

# draft_field TITLE EXPR: EXPR of the in-progress item titled TITLE (d)
draft_field() {
	fx "[$2 for d in drafts if d['metadata'].get('dc.title', [{}])[0].get('value') == '$1'][0]"
}

# ws_patch ID JSON: a PATCH of workspace item ID as user@example.org
ws_patch() {
	fake_login user@example.org user
	api_as PATCH "/submission/workspaceitems/$1" -H 'Content-Type: application/json' --data "$2"
}

# stop_all: unmount and stop the server of one version
stop_all() {
	unmount_fs
	fake_stop
}

@test "mkdir makes a titled draft (workspace item) shown on a second mount with user.dspace.state=workspace" {
	for v in $VERSIONS; do
		on_version "$v"
		bounded mkdir "$MNT/$PT/My Thesis"
		[ "$(draft_field 'My Thesis' "d['submission']['state']")" = workspace ]
		[ "$(draft_field 'My Thesis' "d['parent']")" = "$(fx "one('collection', name='Physics Theses')['uuid']")" ]
		[ "$(getfattr --only-values -n user.dspace.state "$MNT/$PT/My Thesis")" = workspace ]
		[ -d "$MNT/$PT/My Thesis/ORIGINAL" ]
		grep -q 'draft .*My Thesis.*created' "$FS_LOG"
		# a second mount with its own cache lists it, and the web UI's draft
		local first=$MNT
		FS_PASSWORD=user fresh_mount -o user=user@example.org 3>&-
		bounded ls "$MNT/$PT" | grep -qx 'My Thesis'
		bounded ls "$MNT/$PT" | grep -qx 'Draft Started In The Web UI'
		[ "$(getfattr --only-values -n user.dspace.state "$MNT/$PT/Draft Started In The Web UI")" = workspace ]
		[ "$(getfattr --only-values -n user.dspace.state "$MNT/$PT/Thesis Without Bundles")" = archived ]
		unmount_fs
		MNT=$first
		stop_all
	done
}

@test "a draft never takes an archived sibling's name" {
	for v in $VERSIONS; do
		on_version "$v"
		bounded mkdir "$MNT/$PT/Second"
		# the web UI retitles it like an archived sibling
		ws_patch "$(draft_field Second "d['submission']['id']")" \
			'[{"op":"replace","path":"/sections/traditionalpageone/dc.title/0","value":{"value":"Thesis Without Bundles"}}]'
		[ "$STATUS" = 200 ]
		unmount_fs
		FS_PASSWORD=user fresh_mount -o user=user@example.org 3>&-
		run bounded ls "$MNT/$PT"
		[ "$(grep -c '^Thesis Without Bundles' <<<"$output")" = 2 ]
		[ -d "$MNT/$PT/Thesis Without Bundles" ]
		[ "$(getfattr --only-values -n user.dspace.state "$MNT/$PT/Thesis Without Bundles")" = archived ]
		unmount_fs
		stop_all
	done
}

@test "rm -r abandons a draft: the workspace item is deleted" {
	for v in $VERSIONS; do
		on_version "$v"
		bounded mkdir "$MNT/$PT/Abandoned"
		[ "$(draft_field Abandoned "d['submission']['state']")" = workspace ]
		echo gone >"$T/gone.txt"
		bounded cp "$T/gone.txt" "$MNT/$PT/Abandoned/ORIGINAL/"
		run bounded rmdir "$MNT/$PT/Abandoned"
		[ "$status" -ne 0 ]
		[[ "$output" == *"not empty"* ]]
		bounded rm -r "$MNT/$PT/Abandoned"
		[ ! -e "$MNT/$PT/Abandoned" ]
		[ "$(fx "[d for d in drafts if d['metadata'].get('dc.title', [{}])[0].get('value') == 'Abandoned' and not d.get('deleted')]")" = "[]" ]
		grep -q 'draft .*Abandoned.*abandoned' "$FS_LOG"
		stop_all
	done
}

@test "a refused mkdir (no submit right) is EACCES with the server's message in the log" {
	for v in $VERSIONS; do
		on_version "$v"
		run bounded mkdir "$MNT/Research Data/Big Collection/Not Mine"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Permission denied"* ]]
		grep -q 'POST .*workspaceitems.*HTTP 403' "$FS_LOG"
		[ ! -e "$MNT/Research Data/Big Collection/Not Mine" ]
		stop_all
	done
}

@test "-o deposit=direct as admin creates an archived item; an admin's plain mkdir makes a draft" {
	for v in $VERSIONS; do
		fake_start --fixture small --dspace-version "$v"
		fresh_mount -o deposit=direct 3>&-
		bounded mkdir "$MNT/$PT/Direct Item"
		[ "$(fx "one('item', name='Direct Item')['inArchive']")" = true ]
		[ "$(getfattr --only-values -n user.dspace.state "$MNT/$PT/Direct Item")" = archived ]
		unmount_fs
		fresh_mount 3>&-
		bounded mkdir "$MNT/$PT/Admin Draft"
		[ "$(draft_field 'Admin Draft' "d['submission']['state']")" = workspace ]
		[ "$(fx "find('item', name='Admin Draft')")" = "[]" ]
		stop_all
	done
}

# srv_draft_files TITLE: "name md5" of each file of draft TITLE on the server
srv_draft_files() {
	fx "' '.join(sorted(b['name'] + ':' + b['md5'] for b in allobjs if b['type'] == 'bitstream' and not b.get('deleted') and any(x['uuid'] == b['parent'] and x['name'] == 'ORIGINAL' and x['parent'] == [d for d in drafts if d['metadata'].get('dc.title', [{}])[0].get('value') == '$1'][0]['uuid'] for x in allobjs)))"
}

# local_files DIR: "name md5" of each file in DIR, as srv_draft_files
local_files() {
	(cd "$1" && for f in *; do printf '%s:%s\n' "$f" "$(md5sum <"$f" | cut -d' ' -f1)"; done) | sort | tr '\n' ' ' | sed 's/ $//'
}

@test "cp, rsync -a (twice), mv and rm in a draft's ORIGINAL go through the submission route" {
	for v in $VERSIONS; do
		on_version "$v"
		local o="$MNT/$PT/Files Draft/ORIGINAL" m
		bounded mkdir "$MNT/$PT/Files Draft"
		mkdir -p "$T/src"
		head -c 200000 /dev/urandom >"$T/src/data.bin"
		printf 'x,y\n1,2\n' >"$T/src/table.csv"
		echo notes >"$T/src/notes.txt"
		m=$(log_mark)
		bounded cp "$T/src/data.bin" "$o/"
		[ "$(reqs_since "$m" "r['method'] == 'POST' and '/submission/workspaceitems/' in r['path']")" = 1 ]
		[ "$(reqs_since "$m" "r['method'] == 'POST' and '/bitstreams' in r['path']")" = 0 ]
		bounded rsync -a "$T/src/" "$o/"
		[ "$(local_files "$o")" = "$(local_files "$T/src")" ]
		[ "$(srv_draft_files 'Files Draft')" = "$(local_files "$T/src")" ]
		run bounded rsync -a --stats "$T/src/" "$o/"
		[[ "$output" == *"Number of regular files transferred: 0"* ]]
		m=$(log_mark)
		bounded mv "$o/notes.txt" "$o/readme.txt"
		bounded rm "$o/table.csv"
		# both by position in the upload section, none on /core
		[ "$(reqs_since "$m" "r['method'] == 'PATCH' and '/submission/workspaceitems/' in r['path']")" = 2 ]
		[ "$(reqs_since "$m" "r['method'] in ('PATCH', 'DELETE') and '/core/' in r['path']")" = 0 ]
		[ "$(local_files "$o" | tr ' ' '\n' | cut -d: -f1 | tr '\n' ' ')" = "data.bin readme.txt " ]
		[ "$(srv_draft_files 'Files Draft' | tr ' ' '\n' | cut -d: -f1 | tr '\n' ' ')" = "data.bin readme.txt " ]
		stop_all
	done
}

# complete TITLE: the web UI fills the required fields of draft TITLE
complete() {
	ws_patch "$(draft_field "$1" "d['submission']['id']")" \
		'[{"op":"add","path":"/sections/traditionalpageone/dc.date.issued","value":[{"value":"2026"}]},{"op":"add","path":"/sections/traditionalpageone/dc.type","value":[{"value":"Thesis"}]}]'
	[ "$STATUS" = 200 ]
}

# deposit DIR: echo deposit > DIR/DEPOSIT.txt in bash (which names the
# errno of a failed write; dash says "I/O error" for every one)
deposit() {
	run bounded bash -c 'echo deposit > "$1/DEPOSIT.txt"' bash "$1"
}

@test "DEPOSIT.txt: missing field (EINVAL, named), failed upload (EBUSY), deposit into a workflow, EALREADY; without a workflow: archived" {
	for v in $VERSIONS; do
		on_version "$v"
		local d="$MNT/$PT/Deposit Draft" m
		bounded mkdir "$d"
		head -c 100000 /dev/urandom >"$T/a.bin"
		bounded cp "$T/a.bin" "$d/ORIGINAL/"
		bounded cat "$d/DEPOSIT.txt" >"$T/dep.txt"
		grep -q 'Physics Theses' "$T/dep.txt"
		grep -q 'Date of Issue (dc.date.issued)' "$T/dep.txt"
		grep -q 'echo deposit > DEPOSIT.txt' "$T/dep.txt"
		! grep -qx '[[:space:]]*deposit[[:space:]]*' "$T/dep.txt" || false
		# st_size: the bytes the last open served
		[ "$(stat -c %s "$d/DEPOSIT.txt")" = "$(stat -c %s "$T/dep.txt")" ]
		# a field missing: EINVAL, nothing lost
		deposit "$d"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Invalid argument"* ]]
		[ "$(draft_field 'Deposit Draft' "d['submission']['state']")" = workspace ]
		bounded cmp "$T/a.bin" "$d/ORIGINAL/a.bin"
		grep -q 'cannot deposit, still missing' "$FS_LOG"
		complete 'Deposit Draft'
		! bounded grep -q 'Date of Issue' "$d/DEPOSIT.txt" || false
		# an upload that failed: EBUSY
		faults "status=500,method=POST,path=/submission/workspaceitems/$(draft_field 'Deposit Draft' "d['submission']['id']")"
		! bounded cp "$T/a.bin" "$d/ORIGINAL/b.bin" || false
		fake_control DELETE /faults >/dev/null
		deposit "$d"
		[ "$status" -ne 0 ]
		[[ "$output" == *"busy"* ]]
		printf 'cancel %s\n' "$(pending_field b.bin 1)" >"$MNT/.dspacefs-status" || true
		rm -f "$d/ORIGINAL/b.bin"
		# deposit (Physics Theses has a workflow); >> works too
		run bounded bash -c 'printf "x\r\n  deposit \r\n" >> "$1/DEPOSIT.txt"' bash "$d"
		[ "$status" -eq 0 ]
		[ "$(draft_field 'Deposit Draft' "d['submission']['state']")" = workflow ]
		[ "$(draft_field 'Deposit Draft' "d['submission']['license'] is not None")" = True ] || [ "$(draft_field 'Deposit Draft' "bool(d['submission']['license'])")" = true ]
		[ "$(getfattr --only-values -n user.dspace.state "$d")" = workflow ]
		[ "$(srv_draft_files 'Deposit Draft')" = "a.bin:$(md5sum <"$T/a.bin" | cut -d' ' -f1)" ]
		[ "$(draft_field 'Deposit Draft' "d['metadata']['dc.date.issued'][0]['value']")" = 2026 ]
		deposit "$d"
		[ "$status" -ne 0 ]
		[[ "$output" == *"already in progress"* ]]
		# Edge Cases has no workflow: archived at once
		local e="$MNT/Awkward Names/Edge Cases/Quick Deposit"
		bounded mkdir "$e"
		bounded cp "$T/a.bin" "$e/ORIGINAL/"
		complete 'Quick Deposit'
		deposit "$e"
		[ "$status" -eq 0 ]
		[ "$(fx "one('item', name='Quick Deposit')['inArchive']")" = true ]
		[ "$(getfattr --only-values -n user.dspace.state "$e")" = archived ]
		[ ! -e "$e/DEPOSIT.txt" ]
		stop_all
	done
}

@test "a draft upload starts with a fresh token (the session's upload refresh): one expiring during the body does not fail it" {
	for v in $VERSIONS; do
		fake_start --fixture small --dspace-version "$v" --jwt-lifetime 8
		FS_PASSWORD=user fresh_mount -o user=user@example.org 3>&-
		local o="$MNT/$PT/Token Draft/ORIGINAL" m
		bounded mkdir "$MNT/$PT/Token Draft"
		head -c 200000 /dev/urandom >"$T/p1"
		head -c 200000 /dev/urandom >"$T/p2"
		cat "$T/p1" "$T/p2" >"$T/all"
		# about 3 s of the token are left when the upload starts, and its
		# body takes 4 s (written slowly, streamed as it comes)
		sleep 5
		m=$(log_mark)
		bounded "$FAKE_PYTHON" -S -c '
import sys, time
with open(sys.argv[3], "wb") as out:
    out.write(open(sys.argv[1], "rb").read())
    out.flush()
    time.sleep(4)
    out.write(open(sys.argv[2], "rb").read())
' "$T/p1" "$T/p2" "$o/slow.bin"
		"$FAKE_PYTHON" -S -c '
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8"), 1):
    r = json.loads(line)
    if i >= int(sys.argv[2]) and r["method"] == "POST":
        print(r["path"], r["status"])' "$FAKE_LOG" "$m" >"$T/posts"
		# the upload POST follows a refresh and is never refused
		[ "$(grep -c '/submission/workspaceitems/.* 201' "$T/posts")" = 1 ]
		grep -B1 '/submission/workspaceitems/' "$T/posts" | head -1 | grep -q '/authn/login 200'
		! grep -q ' 401$' "$T/posts" || false
		[ "$(srv_draft_files 'Token Draft')" = "slow.bin:$(md5sum <"$T/all" | cut -d' ' -f1)" ]
		stop_all
	done
}
