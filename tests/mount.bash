# Mount helpers for the end-to-end tests. Load after helpers.bash:
#	load helpers
#	load mount
# mount_fs [dspacefs options...] mounts $FAKE_URL on $MNT in the foreground
# (background job, PID in FS_PID, log in FS_LOG); unmount_fs always cleans up.
#
# The one idiom for a bats file (see doc/HACKING.md, "Writing a test"):
#
#	setup_file() {
#		shared_mount_setup --fixture small -- -o ro  # server + one mount
#		# or: shared_server_setup --fixture small    # server only
#	}
#	teardown_file() {
#		shared_teardown
#	}
#	setup() {
#		restore_mount    # MNT FS_PID FS_LOG FS_CACHE FAKE_* of the file
#	}
#	teardown() {
#		test_teardown    # failure dump, then stop what the test started
#	}
#
# - Without setup_file (a server per test), test_teardown alone stops the
#   server and the mount the test started.
# - A test may fresh_mount/mount_fs a mount of its own and fake_start a server
#   of its own: test_teardown unmounts and stops them (never the shared ones)
#   and then restores the shared ones' variables.
# - A test that replaces the shared mount (unmount_fs; mount_fs) calls
#   save_mount, so that the following tests and shared_teardown use the new
#   one.
# - dump_on_failure [--skip ERE] prints, only when the test failed, the tail
#   of the daemon log (lines matching ERE left out and counted), the
#   .dspacefs-status file of a live mount, the fake server's stderr and the
#   last requests of its log. test_teardown calls it first, so a file-specific
#   teardown adds its own steps after test_teardown.
#
# Also usable outside bats (bench/run.sh sources helpers.bash and this file):
# no BATS_* variable is needed, and require_fuse fails instead of skipping.

DSPACEFS=${DSPACEFS:-${top_builddir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}/src/dspacefs}

# Is $1 a mounted FUSE file system?
is_mounted() {
	grep -qs " $1 fuse" /proc/mounts
}

# Fails (under CI=true or outside bats) or skips when this machine cannot
# mount FUSE.
require_fuse() {
	if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
		if [ "${CI:-}" = true ] || [ -z "${BATS_TEST_NAME:-}" ]; then
			echo "cannot mount: /dev/fuse or fusermount3 missing" >&2
			return 1
		fi
		skip "FUSE is not available on this machine"
	fi
}

# mount_fs [options...]: mounts the fake server. Logs in as admin unless
# the options say otherwise (pass -o anonymous or -o user=...). The daemon
# does not inherit bats' fd 3 (so setup_file may mount). Reuses MNT,
# FS_CACHE and FS_LOG when set (the log is appended to).
mount_fs() {
	require_fuse || return 1
	MNT=${MNT:-$(mktemp -d "$(test_tmpdir)/mnt.XXXXXX")}
	FS_CACHE=${FS_CACHE:-$(mktemp -d "$(test_tmpdir)/cache.XXXXXX")}
	FS_LOG=${FS_LOG:-$(mktemp "$(test_tmpdir)/fs.XXXXXX.log")}
	mkdir -p "$MNT"
	local user_opt=()
	if [[ " $* " != *anonymous* && " $* " != *user=* ]]; then
		user_opt=(-o user=admin@example.org)
	fi
	DSPACEFS_PASSWORD=${FS_PASSWORD:-admin} "$DSPACEFS" -f \
		-o cache_dir="$FS_CACHE" "${user_opt[@]}" "$@" \
		"$FAKE_URL" "$MNT" >>"$FS_LOG" 2>&1 3>&- &
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

# Unmounts (lazily if busy) and stops the daemon started by mount_fs: it
# has FS_EXIT_WAIT seconds (default 2) to exit, then SIGTERM, 3 s later
# SIGKILL.
unmount_fs() {
	if [ -n "${MNT:-}" ] && is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
	fi
	if [ -n "${FS_PID:-}" ]; then
		local i term=$((${FS_EXIT_WAIT:-2} * 10))
		for i in $(seq 1 $((term + 30))); do
			kill -0 "$FS_PID" 2>/dev/null || break
			[ "$i" = "$term" ] && kill "$FS_PID" 2>/dev/null
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

# faults SPEC...: replaces the server's active faults (one per argument,
# the text form of fake-dspace's --fault)
faults() {
	local out
	out=$(printf '%s\n' "$@" | fake_control POST /faults --data-binary @-) &&
		[[ $out == *'"faults"'* ]]
}

# fault_hits: how many times the active faults have fired, summed
fault_hits() {
	fake_control GET /faults | "$FAKE_PYTHON" -S -c 'import json, sys; print(sum(f["hits"] for f in json.load(sys.stdin)["faults"]))'
}

# kill_during_post SRC DST [STALL]: cp SRC to DST while the server stores
# the upload and then stalls its answer (STALL s, default 30); the daemon
# is killed (-9) meanwhile.
kill_during_post() {
	local cppid
	faults "stall=${3:-30},count=1,method=POST,path=/bitstreams"
	bounded cp "$1" "$2" 3>&- &
	cppid=$!
	posted() { [ "$(fault_hits)" -ge 1 ] || ! kill -0 "$cppid" 2>/dev/null; }
	wait_until 20 posted
	[ "$(fault_hits)" = 1 ]
	sleep 0.5
	kill -9 "$FS_PID"
	wait "$cppid" || true
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


# ---- one bats file's shared server and mount, and the failure dump ----

# The variables that make up "the shared mount and server" of a bats file.
SHARED_VARS="MNT FS_PID FS_LOG FS_CACHE FAKE_PID FAKE_PORT FAKE_URL FAKE_API
FAKE_STATE FAKE_LOG FAKE_DIR FAKE_STDERR"

# Where save_mount keeps them: setup_file, each test and teardown_file run in
# processes of their own, and a test may replace the shared mount.
mount_state_file() {
	echo "$(test_tmpdir)/mount.state"
}

# save_mount: records the current mount and server as the file's shared ones
# (again after a test replaced the shared mount).
save_mount() {
	local v
	for v in $SHARED_VARS; do
		printf 'export %s=%q\n' "$v" "${!v:-}"
	done >"$(mount_state_file)"
}

# restore_mount: sets MNT, FS_PID, FS_LOG, FS_CACHE and FAKE_* back to the
# file's shared mount and server (empty mount variables when there is no
# shared mount); does nothing when nothing was saved.
restore_mount() {
	local state
	state=$(mount_state_file)
	[ -f "$state" ] || return 0
	# shellcheck disable=SC1090
	. "$state"
}

# shared_server_setup [fake_start args...]: in setup_file, starts the file's
# fake server; the tests mount for themselves.
shared_server_setup() {
	fake_start "$@" || return 1
	MNT='' FS_PID='' FS_LOG='' FS_CACHE=''
	save_mount
}

# shared_mount_setup [fake_start args...] -- [mount_fs args...]: in
# setup_file, starts the file's fake server and mounts it once for all tests.
shared_mount_setup() {
	local fake_args=() rc=0
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		fake_args+=("$1")
		shift
	done
	[ "${1:-}" != -- ] || shift
	shared_server_setup "${fake_args[@]}" || return 1
	fresh_mount "$@" || rc=1
	save_mount
	return $rc
}

# shared_teardown: in teardown_file, unmounts the shared mount (if any) and
# stops the shared server; fails when the daemon reported a sanitizer error.
shared_teardown() {
	local rc=0
	restore_mount
	unmount_fs || rc=1
	fake_stop
	return $rc
}

# dump_on_failure [--skip ERE]: when the current test failed, prints to
# stderr (which bats shows under the failed test) the daemon log tail, without
# the lines matching ERE, the .dspacefs-status of a live mount, the fake
# server's stderr and the last requests of its log. Bats (1.8.2 here; not
# documented but set since bats-core 1.0) sets BATS_TEST_COMPLETED only
# when the test passed or was skipped.
dump_on_failure() {
	local skip='' n st
	[ "${1:-}" != --skip ] || skip=$2
	[ -z "${BATS_TEST_COMPLETED:-}" ] || return 0
	if [ -n "${FS_LOG:-}" ] && [ -f "$FS_LOG" ] && [ -n "$skip" ]; then
		echo "--- daemon log ($FS_LOG), last 40 lines not matching /$skip/:" >&2
		grep -v -E -- "$skip" "$FS_LOG" | tail -n 40 >&2
		echo "($(grep -c -E -- "$skip" "$FS_LOG") lines left out)" >&2
	elif [ -n "${FS_LOG:-}" ] && [ -f "$FS_LOG" ]; then
		echo "--- daemon log ($FS_LOG), last 40 lines:" >&2
		tail -n 40 "$FS_LOG" >&2
	fi
	if [ -n "${FS_PID:-}" ] && kill -0 "$FS_PID" 2>/dev/null && is_mounted "$MNT"; then
		st=$(timeout 10 cat "$MNT/.dspacefs-status" 2>/dev/null) ||
			st="(not readable)"
		echo "--- $MNT/.dspacefs-status:" >&2
		printf '%s\n' "${st:-(empty)}" | head -n 40 >&2
	fi
	if [ -n "${FAKE_STDERR:-}" ] && [ -f "$FAKE_STDERR" ]; then
		echo "--- fake server stderr ($FAKE_STDERR), last 20 lines:" >&2
		tail -n 20 "$FAKE_STDERR" >&2
	fi
	if [ -n "${FAKE_LOG:-}" ] && [ -s "$FAKE_LOG" ]; then
		n=$(wc -l <"$FAKE_LOG")
		echo "--- requests ($FAKE_LOG), last 20 of $n (method path query status range bytes fault):" >&2
		reqs_show $((n > 20 ? n - 19 : 1)) || true
	fi
	return 0
}

# test_teardown [--skip ERE]: in teardown, dump_on_failure, then unmounts the
# test's own mount and stops the test's own server (never the shared ones)
# and restores the shared ones' variables; fails when the daemon reported a
# sanitizer error.
test_teardown() {
	local rc=0 shared_fs='' shared_fake='' state
	dump_on_failure "$@"
	state=$(mount_state_file)
	if [ -f "$state" ]; then
		IFS=: read -r shared_fs shared_fake < <(
			# shellcheck disable=SC1090
			. "$state"
			echo "$FS_PID:$FAKE_PID"
		)
	fi
	if [ -n "${FS_PID:-}" ] && [ "$FS_PID" != "$shared_fs" ]; then
		unmount_fs || rc=1
	fi
	if [ -n "${FAKE_PID:-}" ] && [ "$FAKE_PID" != "$shared_fake" ]; then
		fake_stop
	fi
	restore_mount
	return $rc
}

# ---- suites that mount as an ordinary user (t0200, t4100) ----
# Each test runs in a private mount namespace (unshare -m) as TEST_USER, a
# system user created on first use; the host's files are never touched.

# shellcheck disable=SC2034 # used by the suites that load this file
TEST_USER=dspacefs-test

# require_root: unshare, mount and useradd need root; skips without it
# (fails under CI=true, where every test must run).
require_root() {
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		[ "${CI:-}" = true ] && { echo "these tests need root" >&2; return 1; }
		skip "needs root"
	fi
}

# user_suite_setup NAME: in setup_file, INST (/tmp/NAME.XXXXXX, a directory
# every user can traverse: bats' own is private) and the shared server.
user_suite_setup() {
	INST=$(mktemp -d "/tmp/$1.XXXXXX")
	chmod 755 "$INST"
	export INST
	shared_server_setup --fixture small
}

# user_suite_teardown: in teardown_file, kills what still serves $INST/mnt,
# stops the shared server and removes INST.
user_suite_teardown() {
	local pid
	for pid in $(pgrep -f -- "$INST/mnt" 2>/dev/null); do
		kill -9 "$pid" 2>/dev/null || true
	done
	shared_teardown
	rm -rf "$INST"
}

# fuse_dev_0666 DIR: inside such a namespace, binds a 0666 device node (made
# in DIR) over /dev/fuse, as Debian ships it (0600 in this sandbox).
fuse_dev_0666() {
	rm -f "$1/fuse-dev"
	mknod -m 666 "$1/fuse-dev" c 10 229 &&
		mount --bind "$1/fuse-dev" /dev/fuse && rm -f "$1/fuse-dev"
}
export -f fuse_dev_0666
