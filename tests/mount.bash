# Mount helpers for the end-to-end tests. Load after helpers.bash:
#	load helpers
#	load mount
# mount_fs [dspacefs options...] mounts $FAKE_URL on $MNT in the foreground
# (background job, PID in FS_PID, log in FS_LOG); unmount_fs always cleans up.

DSPACEFS=${DSPACEFS:-${top_builddir:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}/src/dspacefs}

# Is $1 a mounted FUSE file system?
is_mounted() {
	grep -qs " $1 fuse" /proc/mounts
}

# Fails (under CI=true) or skips when this machine cannot mount FUSE.
require_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		if [ "${CI:-}" = true ]; then
			echo "cannot mount: /dev/fuse or fusermount3 missing" >&2
			return 1
		fi
		skip "FUSE is not available on this machine"
	fi
}

# mount_fs [options...]: mounts the fake server. Logs in as admin unless
# the options say otherwise (pass -o anonymous or -o user=...).
mount_fs() {
	require_fuse || return 1
	MNT=${MNT:-$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/mnt.XXXXXX")}
	FS_CACHE=${FS_CACHE:-$(mktemp -d "${BATS_FILE_TMPDIR:-/tmp}/cache.XXXXXX")}
	FS_LOG=${FS_LOG:-$(mktemp "${BATS_FILE_TMPDIR:-/tmp}/fs.XXXXXX.log")}
	mkdir -p "$MNT"
	local user_opt=()
	if [[ " $* " != *anonymous* && " $* " != *user=* ]]; then
		user_opt=(-o user=admin@example.org)
	fi
	DSPACEFS_PASSWORD=${FS_PASSWORD:-admin} "$DSPACEFS" -f \
		-o cache_dir="$FS_CACHE" "${user_opt[@]}" "$@" \
		"$FAKE_URL" "$MNT" >>"$FS_LOG" 2>&1 &
	FS_PID=$!
	export MNT FS_CACHE FS_LOG FS_PID
	local i
	for i in $(seq 1 200); do
		if is_mounted "$MNT"; then
			return 0
		fi
		if ! kill -0 "$FS_PID" 2>/dev/null; then
			echo "dspacefs exited before mounting; its log:" >&2
			cat "$FS_LOG" >&2
			FS_PID=
			return 1
		fi
		sleep 0.1
	done
	echo "dspacefs did not mount within 20 s; its log:" >&2
	cat "$FS_LOG" >&2
	return 1
}

# Unmounts (lazily if busy) and stops the daemon started by mount_fs.
unmount_fs() {
	if [ -n "${MNT:-}" ] && is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	if [ -n "${FS_PID:-}" ]; then
		local i
		for i in $(seq 1 50); do
			kill -0 "$FS_PID" 2>/dev/null || break
			[ "$i" = 20 ] && kill "$FS_PID" 2>/dev/null
			sleep 0.1
		done
		kill -9 "$FS_PID" 2>/dev/null || true
		wait "$FS_PID" 2>/dev/null || true
	fi
	FS_PID=
	# Under --enable-sanitizers the daemon reports memory errors, leaks
	# and undefined behaviour in its log: any of them fails the test.
	if [ -n "${FS_LOG:-}" ] && grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$FS_LOG" 2>/dev/null; then
		echo "the daemon reported a sanitizer error:" >&2
		grep -A 30 -E 'AddressSanitizer|LeakSanitizer|runtime error:' "$FS_LOG" | head -n 60 >&2
		return 1
	fi
}

# Number of requests in the fake server's log whose path contains $1
# (all requests when $1 is empty), counted from line $2 on (default 1).
count_requests() {
	local pattern=${1:-} from=${2:-1}
	tail -n +"$from" "$FAKE_LOG" | grep -c -- "$pattern" || true
}

# The current length of the request log, to count requests made after it.
log_mark() {
	if [ -f "$FAKE_LOG" ]; then
		echo $(($(wc -l <"$FAKE_LOG") + 1))
	else
		echo 1
	fi
}

# ---- read-path helpers (t2xxx tests) ----

# fresh_mount [options...]: mount_fs with a new mount point, cache and log.
fresh_mount() {
	MNT=
	FS_CACHE=
	FS_LOG=
	mount_fs "$@"
}

# Whether the daemon still runs and its mount still answers (bounded).
fs_alive() {
	[ -n "${FS_PID:-}" ] && kill -0 "$FS_PID" 2>/dev/null &&
		is_mounted "$MNT" && timeout 10 stat "$MNT" >/dev/null
}

# reqs_since MARK [EXPR]: how many request-log records from line MARK on
# satisfy the python expression EXPR on the record r (all when omitted).
reqs_since() {
	"${FAKE_PYTHON:-python3}" -S -c '
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
        if i < int(sys.argv[2]):
            continue
        r = json.loads(line)
        if eval(sys.argv[3]):
            n += 1
print(n)
' "$FAKE_LOG" "$1" "${2:-True}"
}

# reqs_show MARK: the request-log records from line MARK on, one short
# line each (for failure output).
reqs_show() {
	"${FAKE_PYTHON:-python3}" -S -c '
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
        if i >= int(sys.argv[2]):
            r = json.loads(line)
            print(r["method"], r["path"], r["query"][:60], r["status"], r.get("range"), r["bytes"], r.get("fault"))
' "$FAKE_LOG" "$1" >&2
}

# orig PATH: the fake server's content file of the bitstream at PATH.
orig() {
	echo "$FAKE_STATE/content/$(getfattr --absolute-names --only-values -n user.dspace.uuid "$1")"
}

# fx_path UUID: where the object should be under $MNT, from the names in the
# fixture (only meaningful when every name on the way is already safe).
fx_path() {
	"${FAKE_PYTHON:-python3}" -S -c '
import json, sys
objs = {o["uuid"]: o for o in json.load(open(sys.argv[1], encoding="utf-8"))["objects"]}
parts, u = [], sys.argv[2]
while u:
    parts.append(objs[u]["name"])
    u = objs[u].get("parent")
print("/".join([sys.argv[3]] + parts[::-1]))
' "$FAKE_STATE/fixture.json" "$1" "$MNT"
}

# bs_path NAME: the path of the only bitstream called NAME (see fx_path).
bs_path() {
	fx_path "$(fx "one('bitstream', name='$1')['uuid']")"
}

# ---- write-path helpers (t3xxx tests) ----

# bounded CMD...: CMD with a time limit (60 s, then SIGKILL), so that a hung
# mount fails a test instead of hanging it.
bounded() {
	timeout -k 5 "${BOUND:-60}" "$@"
}

# wait_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds; fails
# (with CMD's own status) when SECONDS have passed.
wait_until() {
	local limit=$1 i
	shift
	for i in $(seq 1 $((limit * 5))); do
		"$@" && return 0
		sleep 0.2
	done
	"$@"
}

# pending_line SUFFIX: the line of MOUNT/.dspacefs-status whose path (fourth
# tab-separated field) ends with SUFFIX; fails when there is none.
pending_line() {
	local all
	all=$(timeout 10 cat "$MNT/.dspacefs-status") || {
		echo "cannot read $MNT/.dspacefs-status" >&2
		return 1
	}
	printf '%s\n' "$all" | awk -F'\t' -v s="$1" '
		length($4) >= length(s) && substr($4, length($4) - length(s) + 1) == s { print; n++ }
		END { exit n ? 0 : 1 }' && return 0
	echo "no line for *$1 in .dspacefs-status:" >&2
	printf '%s\n' "$all" >&2
	return 1
}

# pending_field SUFFIX N: field N (1 id, 2 kind, 3 state, 4 path, 5 size,
# 6 bytes sent, 7 detail) of the .dspacefs-status line for SUFFIX.
pending_field() {
	local line
	line=$(pending_line "$1") || return 1
	printf '%s\n' "$line" | head -n 1 | awk -F'\t' -v n="$2" '{ print $n }'
}

# pending_spool SUFFIX: the spool file holding the data of that upload.
pending_spool() {
	local id
	id=$(pending_field "$1" 1) || return 1
	echo "$FS_CACHE/spool/upload-$id"
}

# no_pending SUFFIX: .dspacefs-status is readable and has no line for SUFFIX.
no_pending() {
	local all
	all=$(timeout 10 cat "$MNT/.dspacefs-status") || return 1
	! printf '%s\n' "$all" | awk -F'\t' -v s="$1" '
		length($4) >= length(s) && substr($4, length($4) - length(s) + 1) == s { n++ }
		END { exit n ? 0 : 1 }'
}

# srv_bs ITEM BUNDLE NAME: JSON list of [uuid, size, md5] of the live
# bitstreams called NAME in bundle BUNDLE of the item titled ITEM (fixture).
srv_bs() {
	fx "[[b['uuid'], b['size'], b['md5']] for b in find('bitstream', name='$3') if b['parent'] in [x['uuid'] for x in kids(one('item', name='$1')['uuid'], 'bundle') if x['name'] == '$2']]"
}

# srv_uuid ITEM BUNDLE NAME: the uuid of the only such bitstream.
srv_uuid() {
	local l
	l=$(srv_bs "$@")
	"${FAKE_PYTHON:-python3}" -S -c 'import json, sys; l = json.loads(sys.argv[1]); assert len(l) == 1, l; print(l[0][0])' "$l"
}

# srv_check ITEM BUNDLE NAME FILE: the server holds exactly one bitstream
# NAME in that bundle, with FILE's size and MD5 and FILE's bytes.
srv_check() {
	local l want u
	l=$(srv_bs "$1" "$2" "$3")
	want="$(stat -c %s "$4") \"$(md5sum <"$4" | cut -d' ' -f1)\""
	u=$("${FAKE_PYTHON:-python3}" -S -c '
import json, sys
l = json.loads(sys.argv[1])
if len(l) == 1 and "%d \"%s\"" % (l[0][1], l[0][2]) == sys.argv[2]:
    print(l[0][0])
' "$l" "$want")
	if [ -z "$u" ]; then
		echo "server: $1/$2/$3 is $l, want one with size/md5 $want" >&2
		return 1
	fi
	cmp "$FAKE_STATE/content/$u" "$4"
}

# srv_names ITEM BUNDLE: sorted JSON list of the bitstream names in a bundle.
srv_names() {
	fx "sorted(b['name'] for x in kids(one('item', name='$1')['uuid'], 'bundle') if x['name'] == '$2' for b in kids(x['uuid'], 'bitstream'))"
}

# save_mount / restore_mount: the daemon, log, cache and mount point of a
# test file's shared mount, kept across setup_file, the tests and
# teardown_file (each runs in its own process). save_mount again after a
# test remounts.
save_mount() {
	printf '%s\n%s\n%s\n%s\n' "$FS_PID" "$FS_LOG" "$FS_CACHE" "$MNT" \
		>"$BATS_FILE_TMPDIR/mount.state"
}

restore_mount() {
	{ read -r FS_PID; read -r FS_LOG; read -r FS_CACHE; read -r MNT; } \
		<"$BATS_FILE_TMPDIR/mount.state"
	export FS_PID FS_LOG FS_CACHE MNT
}
