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
	echo "$FAKE_STATE/content/$(getfattr --only-values -n user.dspace.uuid "$1")"
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
