#!/usr/bin/env bats
# Read path, browsing: the mounted tree against the fake server's fixture
# (per user), entry names, stat, statfs and extended attributes.  Every
# expectation is computed from $FAKE_STATE/fixture.json or the content files.

load helpers
load mount

setup_file() {
	shared_mount_setup --fixture small -- -o ro
}

teardown_file() {
	shared_teardown
}

setup() {
	restore_mount
	ADMIN_CACHE=$FS_CACHE
}

# Tests that mount as somebody else unmount that mount here.
teardown() {
	test_teardown
}

# tree_check WHO: walks $MNT and compares every directory with the children
# WHO (an email, or "anonymous") may see in the fixture: same objects (by
# user.dspace.uuid), same count, right types, safe and unique names that
# follow the server's names.  Prints the mismatches; fails if there are any.
# Prints "dirs files" on success.
tree_check() {
	"$FAKE_PYTHON" -S - "$FAKE_STATE/fixture.json" "$MNT" "$1" <<'EOF'
import json, os, stat, sys, unicodedata
doc = json.load(open(sys.argv[1], encoding="utf-8"))
mnt, who = sys.argv[2].encode(), sys.argv[3]
objs = [o for o in doc["objects"] if not o.get("deleted")]
byid = {o["uuid"]: o for o in objs}
admin = any(u["email"] == who and u.get("admin") for u in doc["users"])

def can_read(o):
    t = o["type"]
    if t in ("community", "collection"):
        return True
    if t == "item":
        return admin or not (o["restricted"] or o["withdrawn"])
    if t == "bundle":
        return can_read(byid[o["parent"]])
    return admin or (not o["restricted"] and can_read(byid[o["parent"]]))

# Listings show a bitstream when its metadata is readable: READ on its item
# and bundle is enough even if its content is restricted (DSpace's
# BitstreamMetadataReadPermissionEvaluatorPlugin).
def can_list(o):
    if o["type"] == "bitstream":
        return can_read(byid[o["parent"]])
    return can_read(o)

def children(u):
    o = byid.get(u)
    t = o["type"] if o else "root"
    if t == "root":
        return [c for c in objs if c["type"] == "community" and not c.get("parent")]
    if t == "community":
        return [c for c in objs if c["type"] in ("community", "collection") and c.get("parent") == u]
    if t == "collection":
        # archived items, and the user's own drafts (workspace items,
        # listed from findBySubmitter: issue 9)
        return [c for c in objs if c["type"] == "item"
                and (c["parent"] == u or u in c.get("mappedCollections", []))
                and ((can_read(c) and c["inArchive"] and not c["withdrawn"] and c["discoverable"])
                     or (c.get("submission") and c["parent"] == u
                         and c["submission"]["state"] == "workspace"
                         and c["submission"]["submitter"] == who))]
    if t == "item":
        return [c for c in objs if c["type"] == "bundle" and c["parent"] == u]
    if t == "bundle":
        return [c for c in objs if c["type"] == "bitstream" and c["parent"] == u and can_list(c)]
    return []

def plain(r):
    """A name that needs no change to be a safe entry name."""
    return (r is not None and r != "" and r not in (".", "..") and "/" not in r
            and r == r.strip() and len(r.encode()) <= 255
            and not any(unicodedata.category(c).startswith("C") for c in r))

def split_ext(n, is_dir):
    if is_dir:
        return n, ""
    i = n.rfind(".")
    if i > 0 and 1 <= len(n) - i - 1 <= 10 and n[i + 1:].isascii() and n[i + 1:].isalnum():
        return n[:i], n[i:]
    return n, ""

errors = []
def err(path, msg):
    errors.append("%s: %s" % (path.decode(errors="replace"), msg))

ndirs = nfiles = 0
todo = [(mnt, None)]
while todo:
    d, u = todo.pop()
    ndirs += 1
    want = children(u)
    wanted = {c["uuid"]: c for c in want}
    try:
        names = os.listdir(d)
    except OSError as e:
        err(d, "listdir: %s" % e)
        continue
    if u in byid and byid[u].get("submission"):
        # a draft's DEPOSIT.txt is virtual (issue 9): no object behind it
        names = [n for n in names if n != b"DEPOSIT.txt"]
    if len(names) != len(set(names)):
        err(d, "duplicate entries in readdir: %r" % names)
    if len(names) != len(want):
        err(d, "%d entries, expected %d" % (len(names), len(want)))
    raw_count = {}
    for c in want:
        raw_count[c.get("name")] = raw_count.get(c.get("name"), 0) + 1
    seen = set()
    for n in names:
        p = d + b"/" + n
        try:
            s = n.decode("utf-8")
        except UnicodeDecodeError:
            err(p, "name is not valid UTF-8")
            s = n.decode("utf-8", "replace")
        if n in (b".", b"..") or b"/" in n or not n or len(n) > 255:
            err(p, "unsafe name")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in s):
            err(p, "control character in name")
        try:
            cu = os.getxattr(p, "user.dspace.uuid").decode()
            ct = os.getxattr(p, "user.dspace.type").decode()
            st = os.lstat(p)
        except OSError as e:
            err(p, "getxattr/lstat: %s" % e)
            continue
        o = wanted.get(cu)
        if o is None:
            err(p, "object %s (%s) should not be listed here for %s" % (cu, ct, who))
            continue
        seen.add(cu)
        if ct != o["type"]:
            err(p, "user.dspace.type %s, fixture says %s" % (ct, o["type"]))
        is_dir = o["type"] != "bitstream"
        if is_dir and not stat.S_ISDIR(st.st_mode):
            err(p, "%s is not a directory" % o["type"])
        if not is_dir and not stat.S_ISREG(st.st_mode):
            err(p, "bitstream is not a regular file")
        r = o.get("name")
        if plain(r) and raw_count[r] == 1:
            if s != r:
                err(p, "name should be exactly %r" % r)
        elif plain(r):
            stem, ext = split_ext(r, is_dir)
            n_stem, n_ext = split_ext(s, is_dir)
            tags = [o["uuid"].replace("-", "")[:k] for k in (8, 12, 16, 32)]
            if o.get("handle"):
                tags.insert(0, o["handle"].rsplit("/", 1)[-1])
            if n_ext != ext or not any(n_stem == stem + " [%s]" % t for t in tags):
                err(p, "duplicate %r should get a handle/uuid suffix: %r" % (r, s))
        elif r is not None and plain(r.replace("/", "x")) and raw_count[r] == 1:
            if s != r.replace("/", "\uff0f"):
                err(p, "'/' should become U+FF0F in %r" % r)
        elif r is not None and len(r.encode()) > 255 and plain(r[:50]):
            stem, ext = split_ext(r, is_dir)
            n_stem, n_ext = split_ext(s, is_dir)
            if n_ext != ext or not stem.startswith(n_stem) or len(n_stem) < 50:
                err(p, "long name %r... should be cut on a character boundary keeping %r: %r"
                    % (r[:40], ext, s))
        elif r in (".", ".."):
            if "\uff0e" not in s:
                err(p, "%r should become fullwidth dots: %r" % (r, s))
        if is_dir:
            todo.append((p, cu))
        else:
            nfiles += 1
    for c in want:
        if c["uuid"] not in seen:
            err(d, "missing %s %s %r" % (c["type"], c["uuid"], c.get("name")))
for e in errors[:40]:
    print(e)
if errors:
    print("%d errors" % len(errors))
    sys.exit(1)
print(ndirs, nfiles)
EOF
}

@test "admin: the whole tree matches the fixture (objects, counts, types, names)" {
	run tree_check admin@example.org
	echo "$output"
	[ "$status" -eq 0 ]
	# sanity: the walk covered the fixture (every bitstream but the deleted)
	read -r dirs files <<<"$output"
	want=$(fx "len([b for b in find('bitstream') if (lambda i: i['inArchive'] and not i['withdrawn'] and i['discoverable'])(one('item', uuid=b['item']))])")
	[ "$want" -gt 150 ]
	[ "$files" -ge "$want" ]
}

@test "anonymous: the tree matches what anonymous may see" {
	fresh_mount -o anonymous
	run tree_check anonymous
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "user@example.org: the tree matches what that user may see" {
	FS_PASSWORD=user fresh_mount -o user=user@example.org
	run tree_check user@example.org
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "restricted items: absent for anonymous and user@example.org, present for admin" {
	coll=$(fx "one('collection', name='Restricted and Hidden')['uuid']")
	restricted=$(fx "one('item', name='Restricted Item')['name']")
	[ "$(fx "one('item', name='Restricted Item')['restricted']")" = true ]
	cdir=$(fx_path "$coll")
	[ -d "$cdir/$restricted" ]
	for who in anonymous user@example.org; do
		if [ $who = anonymous ]; then
			fresh_mount -o anonymous
		else
			FS_PASSWORD=user fresh_mount -o user=$who
		fi
		cdir=$(fx_path "$coll")
		[ -d "$cdir" ]
		run ls "$cdir"
		[ "$status" -eq 0 ]
		[[ "$output" != *"$restricted"* ]]
		run stat "$cdir/$restricted"
		[ "$status" -ne 0 ]
		[[ "$output" == *"No such file or directory"* ]]
		unmount_fs
	done
}

@test "withdrawn and non-discoverable items are not listed under their collection (even for admin)" {
	coll=$(fx "one('collection', name='Restricted and Hidden')['uuid']")
	cdir=$(fx_path "$coll")
	n=0
	while IFS= read -r t; do
		[ -n "$t" ] || continue
		n=$((n + 1))
		run ls -a "$cdir"
		[ "$status" -eq 0 ]
		! grep -qxF -- "$t" <<<"$output" || false
	done < <(fx "'\n'.join(o['name'] for o in find('item') if o['withdrawn'] or not o['discoverable'])")
	[ "$n" -ge 2 ]
	# and what is listed is exactly the discoverable items, owned or mapped
	want=$(fx "len([o for o in find('item') if (o['parent'] == '$coll' or '$coll' in o['mappedCollections']) and o['inArchive'] and not o['withdrawn'] and o['discoverable']])")
	[ "$(ls -A "$cdir" | wc -l)" -eq "$want" ]
}

@test "names: '/' becomes '／', unicode kept byte for byte, long titles cut, '.' and '..' replaced, duplicates suffixed" {
	edge=$(fx_path "$(fx "one('collection', name='Edge Cases')['uuid']")")
	ls "$edge" >/dev/null
	# a/b: slash in title
	[ -d "$edge/$(fx "one('item', name='a/b: slash in title')['name'].replace('/', '\uff0f')")" ]
	# NFC and NFD "Café" are different names, both kept as they are
	[ -d "$edge/$(fx "one('item', name='Caf\u00e9')['name']")" ]
	[ -d "$edge/$(fx "one('item', name='Cafe\u0301')['name']")" ]
	[ "$(ls "$edge" | grep -c '^Caf')" -eq 2 ]
	# the long title: at most 255 bytes, a prefix of the title
	long=$(fx "[o['name'] for o in find('item') if o['name'] and len(o['name'].encode()) > 255][0]")
	[ "$(printf %s "$long" | wc -c)" -gt 255 ]
	cut=$(ls "$edge" | grep '^Über-lange')
	[ "$(printf %s "$cut" | wc -c)" -le 255 ]
	[ "$(printf %s "$cut" | wc -c)" -ge 200 ]
	[[ "$long" == "$cut"* ]]
	printf %s "$cut" | iconv -f UTF-8 -t UTF-8 >/dev/null
	# never . or ..: the items titled so are still reachable under other names
	run ls -a "$edge"
	[ "$(grep -cx '\.' <<<"$output")" -eq 1 ]
	[ "$(grep -cx '\.\.' <<<"$output")" -eq 1 ]
	for t in . ..; do
		u=$(fx "one('item', name='$t')['uuid']")
		found=0
		for d in "$edge"/*; do
			if [ "$(getfattr --only-values -n user.dspace.uuid "$d")" = "$u" ]; then
				found=1
				[ "$(basename "$d")" != "$t" ]
			fi
		done
		[ "$found" = 1 ]
	done
	# three "Duplicate Title" items: three distinct names, each the title plus a suffix
	[ "$(fx "len(find('item', name='Duplicate Title'))")" -eq 3 ]
	run ls "$edge"
	[ "$(grep -c '^Duplicate Title .' <<<"$output")" -eq 3 ]
	[ "$(grep -c '^Duplicate Title .' <<<"$output" | sort -u | wc -l)" -eq 1 ]
	# two "same.txt" files keep their extension after the suffix
	files=$(fx_path "$(fx "one('item', name='Files With Awkward Names')['uuid']")")/ORIGINAL
	[ "$(fx "len(find('bitstream', name='same.txt'))")" -eq 2 ]
	run ls "$files"
	[ "$(grep -c '^same .*\.txt$' <<<"$output")" -eq 2 ]
	[ "$(grep -c '^same .*\.txt$' <<<"$output" | sort -u | wc -l)" -eq 1 ]
	# every name in the tree is valid UTF-8 and at most 255 bytes
	find "$MNT" -printf '%f\n' | iconv -f UTF-8 -t UTF-8 >/dev/null
	[ "$(find "$MNT" -printf '%f\n' | awk '{ if (length($0) > m) m = length($0) } END { print m + 0 }')" -le 255 ]
}

@test "names and objects are stable across a remount with an empty cache" {
	find "$MNT" \( -type f -printf '%P\t%y\t%s\t%T@\n' \) -o -printf '%P\t%y\n' | LC_ALL=C sort >"$BATS_TEST_TMPDIR/a"
	(cd "$MNT" && find . -exec getfattr --absolute-names --only-values -n user.dspace.uuid {} \; -printf '\t%p\n' 2>/dev/null) | LC_ALL=C sort >"$BATS_TEST_TMPDIR/ua"
	[ "$(wc -l <"$BATS_TEST_TMPDIR/a")" -gt 400 ]
	fresh_mount -o ro
	[ "$FS_CACHE" != "$ADMIN_CACHE" ]
	find "$MNT" \( -type f -printf '%P\t%y\t%s\t%T@\n' \) -o -printf '%P\t%y\n' | LC_ALL=C sort >"$BATS_TEST_TMPDIR/b"
	(cd "$MNT" && find . -exec getfattr --absolute-names --only-values -n user.dspace.uuid {} \; -printf '\t%p\n' 2>/dev/null) | LC_ALL=C sort >"$BATS_TEST_TMPDIR/ub"
	diff "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	diff "$BATS_TEST_TMPDIR/ua" "$BATS_TEST_TMPDIR/ub"
}

@test "stat: size == sizeBytes, st_blocks fits the size, read-only modes, mtime == item's lastModified" {
	run "$FAKE_PYTHON" -S - "$FAKE_STATE/fixture.json" "$MNT" <<'EOF'
import calendar, json, os, stat, sys, time
doc = json.load(open(sys.argv[1], encoding="utf-8"))
byid = {o["uuid"]: o for o in doc["objects"] if not o.get("deleted")}
bad, nf, nd = [], 0, 0
for d, dirs, files in os.walk(sys.argv[2]):
    for n in dirs:
        st = os.lstat(os.path.join(d, n))
        nd += 1
        if not stat.S_ISDIR(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o555:
            bad.append("%s: mode %o, expected a 0555 directory" % (n, st.st_mode))
    for n in files:
        p = os.path.join(d, n)
        st = os.lstat(p)
        o = byid[os.getxattr(p, "user.dspace.uuid").decode()]
        item = byid[byid[o["parent"]]["parent"]]
        nf += 1
        if st.st_size != o["size"]:
            bad.append("%s: size %d, sizeBytes %d" % (n, st.st_size, o["size"]))
        if st.st_size != os.path.getsize(os.path.join(os.path.dirname(sys.argv[1]), "content", o["uuid"])):
            bad.append("%s: size differs from the content file" % n)
        if not (st.st_blocks * 512 >= st.st_size and st.st_blocks * 512 < st.st_size + 4096):
            bad.append("%s: %d blocks for %d bytes" % (n, st.st_blocks, st.st_size))
        if not stat.S_ISREG(st.st_mode) or stat.S_IMODE(st.st_mode) != 0o444:
            bad.append("%s: mode %o, expected a 0444 file" % (n, st.st_mode))
        lm = item["lastModified"]
        want = calendar.timegm(time.strptime(lm[:19], "%Y-%m-%dT%H:%M:%S"))
        if int(st.st_mtime) != want:
            bad.append("%s: mtime %d, item lastModified %s (%d)" % (n, st.st_mtime, lm, want))
print("\n".join(bad[:30]))
print("files", nf, "dirs", nd, "bad", len(bad))
sys.exit(1 if bad or nf < 100 else 0)
EOF
	echo "$output"
	[ "$status" -eq 0 ]
	# with the real tool, for the largest and the empty file
	big=$(bs_path run-0001.dat)
	[ "$(stat -c %s "$big")" = "$(fx "one('bitstream', name='run-0001.dat')['size']")" ]
	[ "$(stat -c %F "$big")" = "regular file" ]
	[ "$(stat -c %a "$big")" = 444 ]
	[ "$(stat -c %s "$(bs_path empty.dat)")" = 0 ]
	[ "$(stat -c %b "$(bs_path empty.dat)")" = 0 ]
	[ "$(stat -c %F "$(dirname "$big")")" = directory ]
	[ "$(stat -c %a "$(dirname "$big")")" = 555 ]
}

@test "anonymous mount: read-only modes even without -o ro" {
	fresh_mount -o anonymous
	f=$(bs_path notes.txt)
	[ "$(stat -c %a "$f")" = 444 ]
	[ "$(stat -c %a "$(dirname "$f")")" = 555 ]
	run touch "$(dirname "$f")/new.txt"
	[ "$status" -ne 0 ]
}

@test "statfs: stat -f gives non-zero figures" {
	run stat -f -c '%b %S %s %c %l' "$MNT"
	[ "$status" -eq 0 ]
	read -r blocks fbsize bsize files namelen <<<"$output"
	[ "$blocks" -gt 0 ]
	[ "$fbsize" -gt 0 ]
	[ "$bsize" -gt 0 ]
	[ "$files" -gt 0 ]
	[ "$namelen" -eq 255 ]
}

@test "xattrs of an item: uuid, type, handle and every dc field of the fixture (repeated values joined by newlines)" {
	u=$(fx "one('item', name='On the Quantum Behaviour of Small Things')['uuid']")
	item=$(fx_path "$u")
	[ "$(getfattr --only-values -n user.dspace.uuid "$item")" = "$u" ]
	[ "$(getfattr --only-values -n user.dspace.type "$item")" = item ]
	[ "$(getfattr --only-values -n user.dspace.handle "$item")" = "$(fx "one('item', uuid='$u')['handle']")" ]
	# getfattr -d lists every metadata field of the fixture, and nothing else under user.dc
	getfattr -d --absolute-names "$item" | sed -n 's/^\(user\.[^=]*\)=.*/\1/p' | grep '^user\.dc\.' | sort >"$BATS_TEST_TMPDIR/have"
	fx "'\n'.join(sorted('user.' + k for k in one('item', uuid='$u')['metadata'] if k.startswith('dc.')))" >"$BATS_TEST_TMPDIR/want"
	diff "$BATS_TEST_TMPDIR/want" "$BATS_TEST_TMPDIR/have"
	n=0
	while IFS= read -r field; do
		want=$(fx "'\n'.join(v['value'] for v in one('item', uuid='$u')['metadata']['$field'])")
		have=$(getfattr --only-values -n "user.$field" "$item")
		[ "$have" = "$want" ] || { echo "user.$field: '$have' != '$want'"; false; }
		n=$((n + 1))
	done < <(fx "'\n'.join(k for k in one('item', uuid='$u')['metadata'] if k.startswith('dc.'))")
	[ "$n" -ge 8 ]
	# three authors: three lines
	[ "$(getfattr --only-values -n user.dc.contributor.author "$item" | wc -l)" -eq \
		$(($(fx "len(one('item', uuid='$u')['metadata']['dc.contributor.author'])") - 1)) ]
	[ "$(fx "len(one('item', uuid='$u')['metadata']['dc.contributor.author'])")" -eq 3 ]
}

@test "xattrs of a bitstream: uuid, type, md5 and mime type" {
	f=$(bs_path thesis.pdf)
	u=$(fx "one('bitstream', name='thesis.pdf')['uuid']")
	getfattr -d --absolute-names "$f"
	[ "$(getfattr --only-values -n user.dspace.uuid "$f")" = "$u" ]
	[ "$(getfattr --only-values -n user.dspace.type "$f")" = bitstream ]
	[ "$(getfattr --only-values -n user.dspace.md5 "$f")" = "$(fx "one('bitstream', uuid='$u')['md5']")" ]
	[ "$(getfattr --only-values -n user.dspace.md5 "$f")" = "$(md5sum <"$FAKE_STATE/content/$u" | cut -d' ' -f1)" ]
	# the MIME type the server reports for the bitstream's format
	api GET "/core/bitstreams/$u/format"
	[ "$STATUS" = 200 ]
	mime=$(jbody "d['mimetype']")
	[ -n "$mime" ]
	[ "$(getfattr --only-values -n user.mime_type "$f")" = "$mime" ]
	f=$(bs_path run-0002.dat)
	u=$(fx "one('bitstream', name='run-0002.dat')['uuid']")
	api GET "/core/bitstreams/$u/format"
	[ "$(getfattr --only-values -n user.mime_type "$f")" = "$(jbody "d['mimetype']")" ]
}

@test "xattrs of communities, collections and bundles: uuid and type" {
	for u in $(fx "' '.join(o['uuid'] for o in find('community', name='Physics') + find('collection', name='Detector Runs'))"); do
		p=$(fx_path "$u")
		[ "$(getfattr --only-values -n user.dspace.uuid "$p")" = "$u" ]
		[ "$(getfattr --only-values -n user.dspace.type "$p")" = "$(fx "one(uuid='$u')['type']")" ]
		[ "$(getfattr --only-values -n user.dspace.handle "$p")" = "$(fx "one(uuid='$u')['handle']")" ]
	done
	b=$(dirname "$(bs_path thesis.pdf)")
	[ "$(getfattr --only-values -n user.dspace.type "$b")" = bundle ]
	[ "$(getfattr --only-values -n user.dspace.uuid "$b")" = "$(fx "one('bitstream', name='thesis.pdf')['parent']")" ]
}
