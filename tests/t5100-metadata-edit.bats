#!/usr/bin/env bats
# metadata.json in item directories (issue 9, contract §6.4): each
# editor's save pattern replaces fields whole through one PATCH
# ("remove /metadata/F" then "add /metadata/F/-" per value), read-only
# and refused saves change nothing, a field changed on the server since
# the file was read is refused (EBUSY, all or nothing), and setfattr
# user.FIELD edits items and bitstreams.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	T=$BATS_TEST_TMPDIR
	PT="$MNT/Research Data/Physics/Physics Theses"
	Q="$PT/On the Quantum Behaviour of Small Things"
	MD="$Q/metadata.json"
}

teardown() {
	test_teardown
}

# field NAME: the values of NAME of the item of $Q on the server (JSON)
field() {
	fx "[v['value'] for v in one('item', name='On the Quantum Behaviour of Small Things')['metadata'].get('$1', [])]"
}

# fieldx NAME: the values with language and authority (JSON)
fieldx() {
	fx "[[v['value'], v.get('language'), v.get('authority')] for v in one('item', name='On the Quantum Behaviour of Small Things')['metadata'].get('$1', [])]"
}

# pyedit FILE PYEXPR: FILE's JSON as d, PYEXPR changes it, printed back
pyedit() {
	"$FAKE_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[2])
sys.stdout.write(json.dumps(d, indent=2) + "\n")
' "$1" "$2"
}

# patches_since MARK: metadata PATCH requests since MARK
patches_since() {
	reqs_since "$1" "r['method'] == 'PATCH'"
}

@test "metadata.json is in every item (found by name, not listed), shows every field, and its size is what is read" {
	[ -f "$MD" ]
	run ls "$Q"
	[[ "$output" != *metadata.json* ]]
	bounded cat "$MD" >"$T/md"
	[ "$(stat -c %s "$MD")" -eq "$(stat -c %s "$T/md")" ]
	"$FAKE_PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["dc.title"] == ["On the Quantum Behaviour of Small Things"], d' "$T/md"
	# not in bundles
	[ ! -e "$Q/ORIGINAL/metadata.json" ]
	# the mtime is stable while nothing changes
	local m1 m2
	m1=$(stat -c %Y "$MD")
	sleep 1.1
	m2=$(stat -c %Y "$MD")
	[ "$m1" = "$m2" ]
}

@test "echo > metadata.json (in place, O_TRUNC) replaces fields whole; absent fields are removed" {
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" 'd["dc.subject"] = ["one", "two", "three"]; d["dc.description.abstract"] = ["An abstract"]' >"$T/new"
	local m
	m=$(log_mark)
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(field dc.subject)" = '["one", "two", "three"]' ]
	[ "$(field dc.description.abstract)" = '["An abstract"]' ]
	[ "$(patches_since "$m")" -eq 1 ]
	# a field left out is removed; the others stay
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" 'del d["dc.description.abstract"]; d["dc.subject"] = ["two"]' >"$T/new"
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(field dc.subject)" = '["two"]' ]
	[ "$(field dc.description.abstract)" = '[]' ]
	[ "$(field dc.title)" = '["On the Quantum Behaviour of Small Things"]' ]
	# the same save again changes nothing and sends nothing
	m=$(log_mark)
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(patches_since "$m")" -eq 0 ]
}

@test "an empty file, {} and non-objects are refused (EINVAL) and change nothing" {
	local before m
	before=$(fx "one('item', name='On the Quantum Behaviour of Small Things')['metadata']")
	m=$(log_mark)
	run bounded "$FAKE_PYTHON" -c 'import sys; f=open(sys.argv[1],"w"); f.close()' "$MD"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Invalid argument"* ]]
	: >"$MD" || true
	for bad in '{}' '[]' '"x"' 'not json' '{"dc.title": "not a list"}'; do
		run bounded "$FAKE_PYTHON" -c 'import sys; f=open(sys.argv[1],"w"); f.write(sys.argv[2]); f.close()' "$MD" "$bad"
		[ "$status" -ne 0 ]
		[[ "$output" == *"Invalid argument"* ]]
	done
	[ "$(patches_since "$m")" -eq 0 ]
	[ "$(fx "one('item', name='On the Quantum Behaviour of Small Things')['metadata']")" = "$before" ]
}

@test "system fields are read-only: changing one is refused, omitting them is ignored" {
	bounded cat "$MD" >"$T/md"
	grep -q dc.identifier.uri "$T/md"
	pyedit "$T/md" 'd["dc.identifier.uri"] = ["http://elsewhere/1"]' >"$T/new"
	local m
	m=$(log_mark)
	run bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$status" -ne 0 ]
	[ "$(patches_since "$m")" -eq 0 ]
	pyedit "$T/md" 'del d["dc.identifier.uri"]; del d["dc.date.accessioned"]; d["dc.subject"] = ["kept"]' >"$T/new"
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(field dc.subject)" = '["kept"]' ]
	[ "$(field dc.identifier.uri)" != '[]' ]
	[ "$(field dc.date.accessioned)" != '[]' ]
}

@test "a field changed on the server since the read is refused (EBUSY), nothing applied" {
	fake_login admin@example.org admin
	local uuid abstract
	abstract=$(field dc.description.abstract)
	uuid=$(fx "one('item', name='On the Quantum Behaviour of Small Things')['uuid']")
	# read, a web-UI edit in between, then save through the same handle
	run bounded "$FAKE_PYTHON" -c '
import json, os, subprocess, sys
f = open(sys.argv[1], "r+")
d = json.load(f)
subprocess.run(sys.argv[2:], check=True, stdout=subprocess.DEVNULL)
d["dc.subject"] = ["mine"]
d["dc.description.abstract"] = ["also mine"]
f.seek(0); f.truncate(); f.write(json.dumps(d))
f.close()' "$MD" curl -sS -f -X PATCH "$FAKE_API/core/items/$uuid" \
		-H "Authorization: Bearer $TOKEN" -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" \
		-H 'Content-Type: application/json-patch+json' \
		--data '[{"op":"remove","path":"/metadata/dc.subject"},{"op":"add","path":"/metadata/dc.subject/-","value":{"value":"web"}}]'
	[ "$status" -ne 0 ]
	[[ "$output" == *"busy"* ]]
	[ "$(field dc.subject)" = '["web"]' ]
	[ "$(field dc.description.abstract)" = "$abstract" ]
	grep -q "dc.subject was changed on the server" "$FS_LOG"
	# the server's edit is never reverted; a new read and save works
	bounded cat "$MD" >"$T/md"
	grep -q '"web"' "$T/md"
	pyedit "$T/md" 'd["dc.description.abstract"] = ["also mine"]' >"$T/new"
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(field dc.description.abstract)" = '["also mine"]' ]
	[ "$(field dc.subject)" = '["web"]' ]
}

@test "values keep their language and authority" {
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" 'd["dc.subject"] = [{"value": "Physik", "language": "de"}, {"value": "Quanta", "authority": "lcsh:sh85109469", "confidence": 600}, "plain"]' >"$T/new"
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	[ "$(fieldx dc.subject)" = '[["Physik", "de", null], ["Quanta", null, "lcsh:sh85109469"], ["plain", null, null]]' ]
	bounded cat "$MD" >"$T/md2"
	"$FAKE_PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["dc.subject"][0] == {"value": "Physik", "language": "de", "authority": None, "confidence": -1}, d["dc.subject"]
assert d["dc.subject"][1]["authority"] == "lcsh:sh85109469" and d["dc.subject"][1]["confidence"] == 600
assert d["dc.subject"][2] == "plain"' "$T/md2"
}

# save_check WHAT: the server's dc.subject is ["WHAT"] and no scratch file
# is left in the item
save_check() {
	[ "$(field dc.subject)" = "[\"$1\"]" ]
	run ls -a "$Q"
	[[ "$output" != *"~"* && "$output" != *".goutputstream"* && "$output" != *sed* && "$output" != *".tmp"* ]]
}

# set_subject WHAT: dc.subject is ["WHAT"] on the server and in the file
set_subject() {
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" "d['dc.subject'] = ['$1']" >"$T/new"
	bounded sh -c 'cat "$1" > "$2"' sh "$T/new" "$MD"
	save_check "$1"
}

@test "vim saves metadata.json (backup rename, new file, 4913 probe)" {
	command -v vim >/dev/null || { echo "vim is needed" >&2; return 1; }
	set_subject before-vim
	local m
	m=$(log_mark)
	HOME=$T bounded vim -u NONE -N -es -c '%s/before-vim/after-vim/' -c 'wq' "$MD"
	save_check after-vim
	[ "$(patches_since "$m")" -eq 1 ]
	# with a backup kept and writebackup (rename, then a new file)
	HOME=$T bounded vim -u NONE -N -es -c 'set backup backupcopy=no' \
		-c '%s/after-vim/vim-again/' -c 'wq' "$MD"
	[ "$(field dc.subject)" = '["vim-again"]' ]
	rm -f "$Q/metadata.json~"
	save_check vim-again
	# vim's backupcopy=no as system calls: the 4913 probe, the backup
	# rename, a new file written, the backup removed
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" "d['dc.subject'] = ['renamed-backup']" >"$T/new"
	bounded "$FAKE_PYTHON" -c '
import os, sys
md = sys.argv[1]
d = os.path.dirname(md)
probe = os.path.join(d, "4913")
fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
os.close(fd)
os.unlink(probe)
os.rename(md, md + "~")
assert open(md + "~").read() == open(sys.argv[3]).read()
fd = os.open(md, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os.fsync(fd)
os.close(fd)
os.unlink(md + "~")' "$MD" "$T/new" "$T/md"
	save_check renamed-backup
}

@test "sed -i saves metadata.json (temp file renamed over)" {
	set_subject before-sed
	bounded sed -i 's/before-sed/after-sed/' "$MD"
	save_check after-sed
}

@test "GIO's pattern (.goutputstream-XXXXXX renamed over) and gio save" {
	set_subject before-gio
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" "d['dc.subject'] = ['after-gio']" >"$T/new"
	# g_file_replace: a temp file in the directory, written, renamed over
	bounded "$FAKE_PYTHON" -c '
import os, sys
d = os.path.dirname(sys.argv[1])
tmp = os.path.join(d, ".goutputstream-ABC123")
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, open(sys.argv[2], "rb").read())
os.fsync(fd)
os.close(fd)
os.rename(tmp, sys.argv[1])' "$MD" "$T/new"
	save_check after-gio
	if command -v gio >/dev/null; then
		pyedit "$T/md" "d['dc.subject'] = ['gio-save']" >"$T/new"
		bounded sh -c 'gio save "$1" < "$2"' sh "$MD" "$T/new"
		save_check gio-save
	fi
}

@test "Python's os.replace and an in-place rewrite (VS Code) save metadata.json" {
	set_subject before-py
	bounded cat "$MD" >"$T/md"
	pyedit "$T/md" "d['dc.subject'] = ['after-py']" >"$T/new"
	bounded "$FAKE_PYTHON" -c '
import os, sys
tmp = sys.argv[1] + ".tmp"
with open(tmp, "w") as f:
    f.write(open(sys.argv[2]).read())
os.replace(tmp, sys.argv[1])' "$MD" "$T/new"
	save_check after-py
	# VS Code: open, truncate, write in place
	pyedit "$T/md" "d['dc.subject'] = ['vscode']" >"$T/new"
	bounded "$FAKE_PYTHON" -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, open(sys.argv[2], "rb").read())
os.close(fd)' "$MD" "$T/new"
	save_check vscode
}

@test "scratch files stay local: not on the server, not on another mount, gone at unmount" {
	local m
	m=$(log_mark)
	echo probe >"$Q/4913"
	echo swap >"$Q/.metadata.json.swp"
	[ "$(cat "$Q/4913")" = probe ]
	ls -a "$Q" | grep -qx 4913
	[ "$(reqs_since "$m" "r['method'] in ('POST', 'PUT', 'PATCH', 'DELETE')")" -eq 0 ]
	# not a file name for bundles' files or other places
	run bounded sh -c 'echo x > "$1/4913"' sh "$PT"
	[ "$status" -ne 0 ]
	# another mount does not see them
	local other
	other=$(mktemp -d "$T/other.XXXXXX")
	DSPACEFS_PASSWORD=admin "$DSPACEFS" -f -o cache_dir="$T/cache2" -o user=admin@example.org \
		"$FAKE_URL" "$other" >"$T/other.log" 2>&1 3>&- &
	local pid=$!
	local i
	for i in $(seq 1 600); do is_mounted "$other" && break; sleep 0.1; done
	is_mounted "$other"
	[ ! -e "$other/Research Data/Physics/Physics Theses/On the Quantum Behaviour of Small Things/4913" ]
	echo other >"$other/Research Data/Physics/Physics Theses/On the Quantum Behaviour of Small Things/x.tmp"
	ls "$T/cache2"/scratch-*/* >/dev/null
	[ ! -e "$Q/x.tmp" ]
	fusermount3 -u "$other"
	wait "$pid" || true
	# removed at unmount
	[ -z "$(ls -d "$T/cache2"/scratch-* 2>/dev/null)" ]
	rm "$Q/4913" "$Q/.metadata.json.swp"
	! ls -a "$Q" | grep -qx 4913 || false
}

@test "setfattr user.dc.FIELD replaces a field, setfattr -x removes it, on items and bitstreams" {
	command -v setfattr >/dev/null || { echo "setfattr is needed" >&2; return 1; }
	local m
	m=$(log_mark)
	bounded setfattr -n user.dc.subject -v "by setfattr" "$Q"
	[ "$(field dc.subject)" = '["by setfattr"]' ]
	[ "$(patches_since "$m")" -eq 1 ]
	bounded setfattr -x user.dc.subject "$Q"
	[ "$(field dc.subject)" = '[]' ]
	# system fields are refused, nothing sent
	m=$(log_mark)
	run bounded setfattr -n user.dc.identifier.uri -v x "$Q"
	[ "$status" -ne 0 ]
	run bounded setfattr -x user.dc.date.accessioned "$Q"
	[ "$status" -ne 0 ]
	[ "$(patches_since "$m")" -eq 0 ]
	# a bitstream's description
	bounded setfattr -n user.dc.description -v "The raw data" "$Q/ORIGINAL/data.csv"
	[ "$(fx "[v['value'] for v in one('bitstream', name='data.csv', parent=one('bundle', name='ORIGINAL', parent=one('item', name='On the Quantum Behaviour of Small Things')['uuid'])['uuid'])['metadata'].get('dc.description', [])]")" = '["The raw data"]' ]
	bounded setfattr -x user.dc.description "$Q/ORIGINAL/data.csv"
	[ "$(fx "[v['value'] for v in one('bitstream', name='data.csv', parent=one('bundle', name='ORIGINAL', parent=one('item', name='On the Quantum Behaviour of Small Things')['uuid'])['uuid'])['metadata'].get('dc.description', [])]")" = '[]' ]
	# the dspace.* attributes stay read-only
	run bounded setfattr -n user.dspace.uuid -v x "$Q"
	[ "$status" -ne 0 ]
}

@test "a user who may not edit an archived item sees metadata.json read-only (EACCES)" {
	local mnt2 cache2 log2 pid2 m
	mnt2=$(mktemp -d "$T/mnt.XXXXXX")
	cache2=$(mktemp -d "$T/cache.XXXXXX")
	DSPACEFS_PASSWORD=user "$DSPACEFS" -f -o cache_dir="$cache2" -o user=user@example.org \
		"$FAKE_URL" "$mnt2" >"$T/user.log" 2>&1 3>&- &
	pid2=$!
	local i
	for i in $(seq 1 600); do is_mounted "$mnt2" && break; sleep 0.1; done
	is_mounted "$mnt2"
	local uq="$mnt2/Research Data/Physics/Physics Theses/On the Quantum Behaviour of Small Things"
	local umd="$uq/metadata.json"
	local before
	before=$(fx "one('item', name='On the Quantum Behaviour of Small Things')['metadata']")
	m=$(log_mark)
	bounded cat "$umd" >"$T/md"
	[ "$(stat -c %a "$umd")" = 444 ]
	run bounded sh -c 'echo "{\"dc.title\": [\"x\"]}" > "$1"' sh "$umd"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	run bounded setfattr -n user.dc.subject -v nope "$uq"
	[ "$status" -ne 0 ]
	[ "$(patches_since "$m")" -le 1 ]
	[ "$(fx "one('item', name='On the Quantum Behaviour of Small Things')['metadata']")" = "$before" ]
	fusermount3 -u "$mnt2"
	wait "$pid2" || true
}
