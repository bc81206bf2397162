#!/bin/bash
# Benchmarks of dspacefs against the fake DSpace server, each reported as a
# ratio against a baseline measured in the same run on the same link. Not a
# test: nothing here passes or fails on timing. Results: doc/benchmarks.md.
#
# usage: bench/run.sh [CASE[@LINK]...]
#   cases: seq reread ls write rsync random rss profile nginx
#   links: loopback (default) 10g 1g conn50, or all
#   default: seq@all reread ls write rsync random rss
# Each link other than loopback runs in a private network namespace
# (unshare -n, 127.0.0.1 only) whose loopback is capped with tbf, plus the
# server's --latency-ms and --conn-rate:
#   loopback  no cap, latency 0 (ls: 20 ms)     seq reads 1 GiB
#   10g       tbf 10 Gbit/s, latency 20 ms      seq reads 1 GiB
#   1g        tbf 1 Gbit/s, latency 20 ms       seq reads 512 MiB
#   conn50    50 MB/s per connection (--conn-rate), latency 40 ms, 512 MiB
# environment:
#   BENCH_STATE  server state + results (default /var/tmp/dspacefs-bench);
#                keep it between runs: generating the bench fixture (1 GiB +
#                15,000 files) takes a while the first time
#   DSPACEFS     the binary (default src/dspacefs next to this directory)
#   DSPACEFS_OLD a second binary: every dspacefs figure of seq, reread, ls,
#                write and rsync is measured for both, alternating within
#                each repetition, each against the same baseline
#   REPEAT       repetitions per figure (default 3; medians are reported)
#   RANDOM_LAT   latencies (ms) for the random-read benchmark (default "0 20")
#   RSS_MIB      size of each of the 4 concurrent cp in the rss case (64)
#   NGINX_MIB    MiB of the large file each mount reads in the nginx case
#                (256); NGINX_MOUNTS how many mounts read it (3)
#
# Every step that mounts unmounts again (fusermount3 -u, then -uz) and every
# process started here is stopped by PID with bounded waits, also when a
# step fails or the run is interrupted: the server, the mounts and the
# unmounts are those of the tests (fake_start, mount_fs, unmount_fs and
# fake_stop from tests/helpers.bash and tests/mount.bash).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DSPACEFS=${DSPACEFS:-$ROOT/src/dspacefs}
DSPACEFS_NEW=$DSPACEFS
DSPACEFS_OLD=${DSPACEFS_OLD:-}
HELP="python3 $ROOT/bench/helpers.py"
BENCH_STATE=${BENCH_STATE:-/var/tmp/dspacefs-bench}
REPEAT=${REPEAT:-3}
RANDOM_LAT=${RANDOM_LAT:-0 20}
BIG_NAME=large-1GiB.bin
BIG_REL="Bench Community 1/Bench Collection 1.1/Large File/ORIGINAL/$BIG_NAME"
BIG_SIZE=1073741824
LINK=${BENCH_IN_LINK:-loopback}

RUN=${BENCH_RUN:-$BENCH_STATE/runs/$(date +%Y%m%d-%H%M%S)}
RES=$RUN/results.tsv
# shellcheck source=tests/helpers.bash
. "$ROOT/tests/helpers.bash"
# shellcheck source=tests/mount.bash
. "$ROOT/tests/mount.bash"
# the helpers' temporary files (server dirs, logs) go into the run directory;
# every mount uses $RUN/mnt and appends to $RUN/dspacefs.log; the daemon gets
# 10 s to exit after an unmount (pending uploads) before SIGTERM
export TEST_TMPDIR=$RUN
MNT=$RUN/mnt FS_LOG=$RUN/dspacefs.log FS_PID='' FS_EXIT_WAIT=10
FAKE_PID='' BENCH_SERVER=''

say() { printf '%s\n' "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b ? a / b : 0 }'; }
# record CASE VARIANT METRIC VALUE: one line of results.tsv; the case is
# labelled with the link it ran on
record() { printf '%s @%s\t%s\t%s\t%s\n' "$1" "$LINK" "$2" "$3" "$4" >>"$RES"; }

# ---- links -------------------------------------------------------------------

# link_params NAME: LINK_TBF (tc tbf arguments, or empty), LINK_LAT (ms),
# LINK_CONN_RATE (bytes/s per connection, 0: none), LINK_NOMINAL (MB/s, or
# empty) and READ_SIZE (bytes the seq case reads).
link_params() {
	LINK_TBF='' LINK_LAT=0 LINK_CONN_RATE=0 LINK_NOMINAL='' READ_SIZE=$BIG_SIZE
	case $1 in
	loopback) ;;
	# burst must cover a timer tick at the rate (1.25 MB/ms at 10 Gbit/s)
	# and a 64 KiB loopback GSO packet; limit is the queue in bytes
	10g) LINK_TBF="rate 10gbit burst 4mb limit 32mb" LINK_LAT=20 LINK_NOMINAL=1250 ;;
	1g)
		LINK_TBF="rate 1gbit burst 1mb limit 16mb" LINK_LAT=20 LINK_NOMINAL=125
		READ_SIZE=$((BIG_SIZE / 2))
		;;
	conn50)
		LINK_LAT=40 LINK_CONN_RATE=50000000 LINK_NOMINAL=50
		READ_SIZE=$((BIG_SIZE / 2))
		;;
	*) return 1 ;;
	esac
}

# link_setup: inside the new network namespace, brings lo up and caps it.
link_setup() {
	ip link set lo up || return 1
	if [ -n "$LINK_TBF" ]; then
		# shellcheck disable=SC2086
		tc qdisc add dev lo root tbf $LINK_TBF || return 1
	fi
	tc qdisc show dev lo >>"$RUN/facts.txt"
}

# ---- binaries ----------------------------------------------------------------

# bins REP: the binaries to measure, alternating their order between
# repetitions so that drift on a shared machine does not favour one
bins() {
	if [ -z "$DSPACEFS_OLD" ]; then
		echo new
	elif [ $(($1 % 2)) = 1 ]; then
		echo new old
	else
		echo old new
	fi
}

# use_bin new|old: sets DSPACEFS (mount_fs runs it) and BL, the label prefix.
use_bin() {
	if [ "$1" = old ]; then
		DSPACEFS=$DSPACEFS_OLD
	else
		DSPACEFS=$DSPACEFS_NEW
	fi
	BL=''
	[ -n "$DSPACEFS_OLD" ] && BL="$1: "
	return 0
}

# ---- processes -------------------------------------------------------------

cleanup() {
	unmount_fs
	[ -z "${NGINX_PID:-}" ] || nginx_stop
	fake_stop
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# bench_server: the server with the bench fixture on this link (generation
# may take minutes the first time); a no-op when it runs already.
bench_server() {
	[ -n "$BENCH_SERVER" ] && [ -n "$FAKE_PID" ] && return 0
	fake_stop
	FAKE_STATE_DIR=$BENCH_STATE/state FAKE_START_TIMEOUT=600 \
		fake_start --fixture bench --latency-ms "$LINK_LAT" \
		--conn-rate "$LINK_CONN_RATE" || return 1
	BENCH_SERVER=1
	CONTENT_URL=$FAKE_API/core/bitstreams/${UUID:-}/content
}

# write_server: a fresh server with fixture small (writes go to its own
# state dir) and the upload cap raised to 2 GiB.
write_server() {
	fake_stop
	BENCH_SERVER=''
	rm -rf "$BENCH_STATE/state-write"
	FAKE_STATE_DIR=$BENCH_STATE/state-write \
		fake_start --fixture small --upload-max $((2 << 30)) \
		--latency-ms "$LINK_LAT" --conn-rate "$LINK_CONN_RATE"
}

# server_config JSON: changes latency_ms, no_range, upload_max at runtime.
server_config() {
	fake_control POST /config -f -H 'Content-Type: application/json' \
		-d "$1" >/dev/null
}

# bench_mount CACHE_DIR [extra -o options]: mounts the server anonymously on
# $MNT with a cache of 3 GiB; unmounts again when that fails.
bench_mount() {
	FS_CACHE=$1
	mount_fs -o "anonymous,cache_max=3G${2:+,$2}" ||
		{ unmount_fs; return 1; }
}

# reqstat FROM KEY: one count from helpers.py reqstats.
reqstat() {
	$HELP reqstats "$FAKE_LOG" "$1" 2>/dev/null | tr ' ' '\n' |
		awk -F= -v k="$2" '$1 == k { print $2 }'
}
hwm_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$FS_PID/status"; }
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$1/stat"; }

# ---- seq: sequential read of the large bitstream -----------------------------

# curl_once: the baseline, one stream of READ_SIZE bytes of the /content URL
# (a Range when that is less than the whole file); prints MB/s.
curl_once() {
	local line size t range=()
	[ "$READ_SIZE" != "$BIG_SIZE" ] && range=(-r "0-$((READ_SIZE - 1))")
	line=$(curl -s -o /dev/null "${range[@]}" -w '%{size_download} %{time_total}' "$CONTENT_URL")
	read -r size t <<<"$line"
	if [ "$size" != "$READ_SIZE" ]; then
		say "curl got $size bytes"
		return 1
	fi
	$HELP rate "$size" "$t"
}

# seq_read VARIANT: dd of READ_SIZE bytes of the file through $MNT; records
# MB/s; prints it.
seq_read() {
	local t0 t1 bytes mbs
	t0=$(now)
	dd if="$MNT/$BIG_REL" of=/dev/null bs=1M count=$((READ_SIZE >> 20)) \
		2>"$RUN/dd.err"
	t1=$(now)
	bytes=$(awk '/bytes/ { print $1; exit }' "$RUN/dd.err")
	if [ "$bytes" != "$READ_SIZE" ]; then
		say "$1: read $bytes bytes: $(cat "$RUN/dd.err")"
		return 1
	fi
	mbs=$($HELP rate "$bytes" "$(elapsed "$t0" "$t1")")
	echo "$mbs"
}

# seq_once VARIANT MOUNT_OPTS CURL_MBS: one cold read through a fresh mount
# with a fresh cache dir (so neither the content cache nor the kernel page
# cache holds the file).
seq_once() {
	local variant=$1 opts=$2 curl_mbs=$3 cache=$RUN/cache.seq mark mbs n
	rm -rf "$cache"
	bench_mount "$cache" "$opts" || return 1
	stat "$MNT/$BIG_REL" >/dev/null || { unmount_fs; return 1; }
	mark=$(log_mark)
	mbs=$(seq_read "$variant") || { unmount_fs; return 1; }
	n=$(reqstat "$mark" content)
	record seq "$variant" MB_s "$mbs"
	record seq "$variant" ratio_vs_curl "$(ratio "$mbs" "$curl_mbs")"
	record seq "$variant" peak_RSS_MiB "$(hwm_mib)"
	record seq "$variant" daemon_CPU_s "$(cpu_s "$FS_PID")"
	record seq "$variant" requests "$n"
	record seq "$variant" MiB_per_request "$(awk -v n="$n" -v b="$(reqstat "$mark" content_bytes)" 'BEGIN { printf "%.1f", n ? b / n / 1048576 : 0 }')"
	say "  $variant: $mbs MB/s ($(ratio "$mbs" "$curl_mbs") of curl), VmHWM $(hwm_mib) MiB"
	unmount_fs
	rm -rf "$cache"
}

bench_seq() {
	local rep c b base="curl (baseline)"
	[ "$LINK_CONN_RATE" != 0 ] && base="curl, one stream (baseline)"
	say "== sequential read of $((READ_SIZE >> 20)) MiB of $BIG_NAME on $LINK ($REPEAT runs)"
	bench_server || return 1
	for ((rep = 1; rep <= REPEAT; rep++)); do
		c=$(curl_once) || continue
		record seq "$base" MB_s "$c"
		[ -n "$LINK_NOMINAL" ] &&
			record seq "$base" of_nominal_rate "$(ratio "$c" "$LINK_NOMINAL")"
		say "  curl: $c MB/s"
		for b in $(bins "$rep"); do
			use_bin "$b"
			seq_once "${BL}dspacefs" "" "$c"
			seq_once "${BL}dspacefs -o direct_io" direct_io "$c"
		done
	done
}

# ---- reread: a file already in the content cache, through a fresh mount ----

# reread_fill BIN: reads the file once through a mount of the binary's own
# cache dir, which then holds it; records whether the unmount right after
# the read left the copy marked verified (bit 0 of the map's flags word,
# bytes 20-23): if not, every re-read mount hashes the whole file again.
reread_fill() {
	local cache=$RUN/cache.rr.$1 m
	rm -rf "$cache"
	bench_mount "$cache" || return 1
	seq_read fill >/dev/null || { unmount_fs; return 1; }
	unmount_fs
	m=$(find "$cache" -name "$UUID-*.map" | head -n 1)
	[ -n "$m" ] && record reread "${BL}fill: copy verified at unmount" yes_1 \
		"$(($(od -An -tu4 -j20 -N4 "$m" | tr -d ' ') & 1))"
	return 0
}

# reread_once BIN REP: the timed re-read through a fresh mount of that cache
# (new superblock: the kernel page cache of the mount is empty), against dd
# of the same bytes straight from the cache file.
reread_once() {
	local cache=$RUN/cache.rr.$1 f direct mbs mark v
	v="${BL}dspacefs, fresh mount of a filled cache"
	f=$(find "$cache" -type f -size +$(((READ_SIZE >> 20) - 1))M -printf '%s %p\n' | sort -n | tail -1 | cut -d' ' -f2-)
	[ -n "$f" ] || { say "no cache file of $READ_SIZE bytes in $cache"; return 1; }
	direct=$($HELP rate "$READ_SIZE" "$(dd_time "$f")") || return 1
	record reread "${BL}dd of the cache file (baseline)" MB_s "$direct"
	bench_mount "$cache" || return 1
	stat "$MNT/$BIG_REL" >/dev/null
	mark=$(log_mark)
	mbs=$(seq_read "$v") || { unmount_fs; return 1; }
	record reread "$v" MB_s "$mbs"
	record reread "$v" ratio_vs_cache_file "$(ratio "$mbs" "$direct")"
	record reread "$v" requests "$(reqstat "$mark" total)"
	record reread "$v" peak_RSS_MiB "$(hwm_mib)"
	say "  re-read: $mbs MB/s, cache file $direct MB/s, $(reqstat "$mark" total) requests"
	unmount_fs
}

# dd_time FILE: seconds to read READ_SIZE bytes of FILE with dd bs=1M.
dd_time() {
	local t0 t1
	t0=$(now)
	dd if="$1" of=/dev/null bs=1M count=$((READ_SIZE >> 20)) 2>/dev/null || return 1
	t1=$(now)
	elapsed "$t0" "$t1"
}

bench_reread() {
	local rep b
	say "== re-read of $((READ_SIZE >> 20)) MiB from the content cache on $LINK ($REPEAT runs)"
	bench_server || return 1
	for b in $(bins 1); do
		use_bin "$b"
		reread_fill "$b" || return 1
	done
	for ((rep = 1; rep <= REPEAT; rep++)); do
		for b in $(bins "$rep"); do
			use_bin "$b"
			reread_once "$b" "$rep"
		done
	done
	rm -rf "$RUN"/cache.rr.*
}

# ---- profile: where the time of a sequential read goes ------------------------

# profile_read TAG [mount_fs args]: one cold read through a fresh mount with
# a fresh cache dir; the daemon's CPU and dd's own time split go to the
# results, the daemon's log to $RUN/profile.LINK.TAG.log. PROFILE_HOOK (a
# command) runs against the daemon's PID during the read.
profile_read() {
	local tag=$1 cache=$RUN/cache.prof t0 t1 mbs hook_pid=''
	shift
	rm -rf "$cache"
	FS_LOG=$RUN/profile.$LINK.$tag.log
	rm -f "$FS_LOG"
	FS_CACHE=$cache
	mount_fs -o anonymous,cache_max=3G "$@" || { unmount_fs; FS_LOG=$RUN/dspacefs.log; return 1; }
	stat "$MNT/$BIG_REL" >/dev/null
	if [ -n "${PROFILE_HOOK:-}" ]; then
		$PROFILE_HOOK "$FS_PID" >"$RUN/profile.$LINK.$tag.out" 2>&1 &
		hook_pid=$!
		sleep 1
	fi
	t0=$(now)
	/usr/bin/time -f '%e %U %S' -o "$RUN/profile.$LINK.$tag.time" \
		dd if="$MNT/$BIG_REL" of=/dev/null bs=1M count=$((READ_SIZE >> 20)) 2>/dev/null
	t1=$(now)
	if [ -n "$hook_pid" ]; then
		kill -INT "$hook_pid" 2>/dev/null
		wait "$hook_pid"
	fi
	mbs=$($HELP rate "$READ_SIZE" "$(elapsed "$t0" "$t1")")
	record profile "$tag" MB_s "$mbs"
	record profile "$tag" daemon_CPU_s "$(cpu_s "$FS_PID")"
	record profile "$tag" dd_user_s "$(cut -d' ' -f2 "$RUN/profile.$LINK.$tag.time")"
	record profile "$tag" dd_sys_s "$(cut -d' ' -f3 "$RUN/profile.$LINK.$tag.time")"
	say "  profile $tag: $mbs MB/s"
	unmount_fs
	FS_LOG=$RUN/dspacefs.log
	rm -rf "$cache"
}

perf_stat_hook() { exec perf stat -p "$1"; }
perf_record_hook() { exec perf record -g -o "$RUN/perf.$LINK.data" -p "$1"; }
strace_hook() { exec strace -c -f -p "$1"; }

# bench_profile: a plain read (the time split), one with libfuse's -d (the
# sizes of the kernel's READ requests), one under perf stat, one under perf
# record and one under strace -c, all of the new binary on this link.
bench_profile() {
	local c
	say "== profile of a sequential read on $LINK"
	bench_server || return 1
	use_bin new
	c=$(curl_once) && record profile "curl (baseline)" MB_s "$c"
	PROFILE_HOOK='' profile_read plain
	PROFILE_HOOK='' profile_read fuse-debug -d
	$HELP readsizes "$RUN/profile.$LINK.fuse-debug.log" >"$RUN/profile.$LINK.readsizes.txt"
	command -v perf >/dev/null &&
		PROFILE_HOOK=perf_stat_hook profile_read perf-stat
	if command -v perf >/dev/null; then
		PROFILE_HOOK=perf_record_hook profile_read perf-record
		perf report -i "$RUN/perf.$LINK.data" --stdio --no-children --sort dso,sym \
			2>/dev/null | grep -v '^#' | grep '%' | head -40 >"$RUN/profile.$LINK.perf-report.txt"
	fi
	command -v strace >/dev/null &&
		PROFILE_HOOK=strace_hook profile_read strace
	say "  profile files: $RUN/profile.$LINK.*"
}

# ---- ls: ls -lR of the whole tree ------------------------------------------

# ls_time OUT DIR: seconds of ls -lR DIR (output to OUT).
ls_time() {
	local t0 t1
	t0=$(now)
	ls -lR "$2" >"$1" 2>>"$RUN/ls.err"
	t1=$(now)
	elapsed "$t0" "$t1"
}

# ls_once BIN LOCAL_S: cold (fresh cache_dir) then warm ls -lR on one mount.
ls_once() {
	local cache=$RUN/cache.ls mark cold warm k n v
	rm -rf "$cache"
	bench_mount "$cache" || return 1
	v="${BL}dspacefs cold (fresh cache_dir)"
	mark=$(log_mark)
	cold=$(ls_time "$RUN/ls.cold" "$MNT")
	record ls "$v" wall_s "$cold"
	record ls "$v" ratio_vs_local "$(ratio "$cold" "$2")"
	for k in total discovery containers per_object content auth other; do
		record ls "$v" "req_$k" "$(reqstat "$mark" $k)"
	done
	n=$(reqstat "$mark" discovery)
	record ls "$v" discovery_pages_per_collection "$(ratio "$n" "$FX_COLLECTIONS")"
	record ls "$v" expected_pages_per_collection "$(ratio "$FX_PAGES" "$FX_COLLECTIONS")"
	record ls "$v" lines "$(wc -l <"$RUN/ls.cold")"
	v="${BL}dspacefs warm (same mount, within TTL)"
	mark=$(log_mark)
	warm=$(ls_time "$RUN/ls.warm" "$MNT")
	record ls "$v" wall_s "$warm"
	record ls "$v" ratio_vs_local "$(ratio "$warm" "$2")"
	record ls "$v" req_total "$(reqstat "$mark" total)"
	record ls "$v" lines "$(wc -l <"$RUN/ls.warm")"
	say "  ${BL}cold $cold s, warm $warm s (local $2 s)"
	unmount_fs
	rm -rf "$cache"
}

bench_ls() {
	local rep b local_s lat=$LINK_LAT line
	[ "$lat" = 0 ] && lat=20
	say "== ls -lR of the bench tree on $LINK, server latency $lat ms ($REPEAT runs)"
	bench_server || return 1
	line=$($HELP fxstats "$BENCH_STATE/state/fixture.json")
	FX_COLLECTIONS=${line#collections=} FX_PAGES=${line#*expected_pages=}
	FX_COLLECTIONS=${FX_COLLECTIONS%% *}
	server_config "{\"latency_ms\": $lat}"
	if [ ! -d "$RUN/local" ]; then
		# the local copy: the tree's shape (mkdir, sparse truncate)
		use_bin new
		bench_mount "$RUN/cache.ls" || return 1
		$HELP mirror "$MNT" "$RUN/local" >/dev/null
		unmount_fs
		rm -rf "$RUN/cache.ls"
		ls -lR "$RUN/local" >/dev/null # warm the local page cache
	fi
	for ((rep = 1; rep <= REPEAT; rep++)); do
		local_s=$(ls_time "$RUN/ls.local" "$RUN/local")
		record ls "local copy (mkdir + truncate -s; baseline)" wall_s "$local_s"
		record ls "local copy (mkdir + truncate -s; baseline)" lines "$(wc -l <"$RUN/ls.local")"
		for b in $(bins "$rep"); do
			use_bin "$b"
			ls_once "$b" "$local_s"
		done
	done
	server_config "{\"latency_ms\": $LINK_LAT}"
}

# ---- 4: 4 KiB reads at 1,000 seeded random offsets --------------------------

bench_random() {
	local rep lat mark line cache=$RUN/cache.rnd v n
	say "== 1,000 random 4 KiB reads of $BIG_NAME, cold cache"
	bench_server || return 1
	use_bin new
	for lat in $RANDOM_LAT; do
		server_config "{\"no_range\": false, \"latency_ms\": $lat}"
		for ((rep = 1; rep <= REPEAT; rep++)); do
			v="server latency $lat ms"
			rm -rf "$cache"
			bench_mount "$cache" || continue
			stat "$MNT/$BIG_REL" >/dev/null
			mark=$(log_mark)
			line=$($HELP randread "$MNT/$BIG_REL" 1000 4096 $rep) ||
				{ unmount_fs; continue; }
			for kv in $line; do
				[ "${kv%%=*}" = reads ] && continue
				record random "$v" "${kv%%=*}" "${kv#*=}"
			done
			n=$(reqstat "$mark" content)
			record random "$v" requests "$n"
			record random "$v" requests_per_read "$(awk -v n="$n" 'BEGIN { printf "%.3f", n / 1000 }')"
			record random "$v" KiB_per_request "$(awk -v n="$n" -v b="$(reqstat "$mark" content_bytes)" 'BEGIN { printf "%.0f", n ? b / n / 1024 : 0 }')"
			say "  $v run $rep: $line, $n requests"
			unmount_fs
		done
	done
	server_config "{\"latency_ms\": $LINK_LAT}"
	rm -rf "$cache"
}

# ---- write: cp of 1 GiB vs curl -F; rsync: 500 files vs a curl loop ---------

# A flat 500-file tree of mixed sizes (bundles hold files, not directories),
# made once and kept: 400 small (1-64 KiB), 90 medium (64 KiB-1 MiB) and 10
# large (1-8 MiB) files of seeded random bytes.
make_rsync_tree() {
	local dir=$BENCH_STATE/rsync-src
	[ -f "$dir.complete" ] && return 0
	rm -rf "$dir"
	mkdir -p "$dir"
	python3 - "$dir" <<'PY'
import os, random, sys
d = sys.argv[1]
rnd = random.Random(500)
kinds = [(400, 1 << 10, 64 << 10), (90, 64 << 10, 1 << 20), (10, 1 << 20, 8 << 20)]
n = 0
for count, lo, hi in kinds:
    for _ in range(count):
        n += 1
        ext = ["txt", "csv", "bin", "json", "png"][n % 5]
        with open(os.path.join(d, "file-%03d.%s" % (n, ext)), "wb") as f:
            f.write(rnd.randbytes(rnd.randrange(lo, hi)))
PY
	touch "$dir.complete"
}

# login_curl: a session for curl (CSRF cookie + token, bearer token).
login_curl() {
	local api=$FAKE_API h=$RUN/curl.hdr c2
	curl -s -D "$h" -o /dev/null "$api/security/csrf"
	CSRF=$(awk -F': ' 'tolower($1) == "dspace-xsrf-token" { print $2 }' "$h" | tr -d '\r')
	curl -s -D "$h" -o /dev/null -H "X-XSRF-TOKEN: $CSRF" \
		-b "DSPACE-XSRF-COOKIE=$CSRF" --data-urlencode "user=admin@example.org" \
		--data-urlencode "password=admin" "$api/authn/login"
	TOKEN=$(awk -F': ' 'tolower($1) == "authorization" { print $2 }' "$h" | tr -d '\r')
	c2=$(awk -F': ' 'tolower($1) == "dspace-xsrf-token" { print $2 }' "$h" | tr -d '\r')
	[ -n "$c2" ] && CSRF=$c2
	[ -n "$TOKEN" ]
}

# curl_post BUNDLE FILE NAME: multipart POST of FILE into BUNDLE as curl
# would do it by hand; prints "HTTP_CODE SECONDS".
curl_post() {
	curl -s -o /dev/null -w '%{http_code} %{time_total}' \
		-H "Authorization: $TOKEN" -H "X-XSRF-TOKEN: $CSRF" \
		-b "DSPACE-XSRF-COOKIE=$CSRF" -F "file=@$2;filename=$3" \
		"$FAKE_API/core/bundles/$1/bitstreams"
}

# write_mount: a read-write mount (admin, mount_fs's default) with a fresh
# cache; WCOLL is the first collection. A binary that knows -o deposit=
# gets deposit=direct: mkdir in a collection makes a plain item with an
# ORIGINAL bundle, as write and rsync measure (and as binaries before the
# drafts did), not a draft.
write_mount() {
	local direct=()
	"$DSPACEFS" --help 2>&1 | grep -q 'deposit=' && direct=(-o deposit=direct)
	rm -rf "$RUN/cache.w"
	FS_CACHE=$RUN/cache.w
	mount_fs -o cache_max=3G "${direct[@]}" || { say "write mount failed"; unmount_fs; return 1; }
	WCOLL=$(find "$MNT" -mindepth 2 -maxdepth 2 -type d | sort | head -1)
}

# item_mkdir DIR: a new archived item DIR (fails loudly when mkdir made
# anything else, e.g. a draft). A binary from before the drafts shows no
# state: its mkdir could only make an archived item.
item_mkdir() {
	local st
	mkdir "$1" || return 1
	st=$(getfattr --only-values -n user.dspace.state "$1" 2>/dev/null)
	[ "$st" = archived ] && return 0
	if [ -z "$st" ] && ! "$DSPACEFS" --help 2>&1 | grep -q 'deposit='; then
		return 0
	fi
	say "mkdir $1 made a '$st' item, not an archived one"
	return 1
}

# new_bundle NAME: a new item NAME (mkdir through a mount of the new
# binary); prints the UUID of its empty ORIGINAL bundle.
new_bundle() {
	local u
	use_bin new
	write_mount || return 1
	item_mkdir "$WCOLL/$1" &&
		u=$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.dspace.uuid").decode())' "$WCOLL/$1/ORIGINAL")
	unmount_fs
	[ -n "$u" ] && echo "$u"
}

# write_cp SRC REP BIN CURL_MBS: cp of SRC (the 1 GiB file) into a new item.
write_cp() {
	local src=$1 v="${BL}dspacefs cp (until close returns)" t0 t1 mbs
	write_mount || return 1
	item_mkdir "$WCOLL/Bench Upload $2 $3" || { unmount_fs; return 1; }
	t0=$(now)
	cp "$src" "$WCOLL/Bench Upload $2 $3/ORIGINAL/$BIG_NAME" || say "cp failed"
	t1=$(now)
	mbs=$($HELP rate "$BIG_SIZE" "$(elapsed "$t0" "$t1")")
	record write "$v" MB_s "$mbs"
	record write "$v" ratio_vs_curl "$(ratio "$mbs" "$4")"
	record write "$v" peak_RSS_MiB "$(hwm_mib)"
	say "  ${BL}cp: $mbs MB/s ($(ratio "$mbs" "$4") of curl), VmHWM $(hwm_mib) MiB"
	unmount_fs
}

bench_write() {
	local rep src=$BENCH_STATE/state/content/$UUID bundle line code secs c b
	say "== write path on $LINK: cp of $BIG_NAME vs curl -F ($REPEAT runs)"
	write_server || return 1
	login_curl || { say "curl login failed"; return 1; }
	for ((rep = 1; rep <= REPEAT; rep++)); do
		bundle=$(new_bundle "Curl Upload $rep") || continue
		line=$(curl_post "$bundle" "$src" "curl-$BIG_NAME")
		read -r code secs <<<"$line"
		[ "$code" = 201 ] || { say "curl upload: HTTP $code"; continue; }
		c=$($HELP rate "$BIG_SIZE" "$secs")
		record write "curl -F multipart POST (baseline)" MB_s "$c"
		say "  curl -F: $c MB/s"
		for b in $(bins "$rep"); do
			use_bin "$b"
			write_cp "$src" "$rep" "$b" "$c"
		done
	done
	fake_stop
	rm -rf "$RUN/cache.w" "$BENCH_STATE/state-write"
}

# rsync_once BIN REP CURL_S: rsync -a of the tree into a new item, twice.
rsync_once() {
	local item run t0 t1 n secs v
	write_mount || return 1
	item="$WCOLL/Bench Rsync $2 $1"
	item_mkdir "$item" || { unmount_fs; return 1; }
	for run in first second; do
		v="${BL}dspacefs rsync -a, $run run"
		mark=$(log_mark)
		t0=$(now)
		rsync -a --stats "$BENCH_STATE/rsync-src/" "$item/ORIGINAL/" \
			>"$RUN/rsync.$run" 2>&1 ||
			say "rsync ($run) failed: $(tail -3 "$RUN/rsync.$run")"
		t1=$(now)
		secs=$(elapsed "$t0" "$t1")
		n=$(reqstat "$mark" total)
		record rsync "$v" wall_s "$secs"
		[ $run = first ] && record rsync "$v" ratio_vs_curl_loop "$(ratio "$secs" "$3")"
		record rsync "$v" requests "$n"
		record rsync "$v" requests_per_file "$(ratio "$n" 500)"
		record rsync "$v" files_transferred \
			"$(awk -F': ' '/files transferred/ { gsub(/,/, "", $2); print $2 }' "$RUN/rsync.$run")"
	done
	say "  ${BL}rsync: $(grep -h 'files transferred' "$RUN"/rsync.first "$RUN"/rsync.second | tr '\n' ' ')"
	unmount_fs
}

# curl_loop BUNDLE: one curl -F per file of the tree; prints seconds.
curl_loop() {
	local f t0 t1 line code bad=0
	t0=$(now)
	for f in "$BENCH_STATE"/rsync-src/*; do
		line=$(curl_post "$1" "$f" "${f##*/}")
		code=${line%% *}
		[ "$code" = 201 ] || bad=$((bad + 1))
	done
	t1=$(now)
	[ "$bad" = 0 ] || say "curl loop: $bad uploads failed"
	elapsed "$t0" "$t1"
}

bench_rsync() {
	local rep bundle secs mark b
	say "== rsync -a of 500 files on $LINK vs a curl loop ($REPEAT runs)"
	make_rsync_tree
	write_server || return 1
	login_curl || { say "curl login failed"; return 1; }
	for ((rep = 1; rep <= REPEAT; rep++)); do
		bundle=$(new_bundle "Curl Loop $rep") || continue
		mark=$(log_mark)
		secs=$(curl_loop "$bundle")
		record rsync "curl -F loop, one POST per file (baseline)" wall_s "$secs"
		record rsync "curl -F loop, one POST per file (baseline)" requests_per_file \
			"$(ratio "$(reqstat "$mark" total)" 500)"
		say "  curl loop: $secs s"
		for b in $(bins "$rep"); do
			use_bin "$b"
			rsync_once "$b" "$rep" "$secs"
		done
	done
	fake_stop
	rm -rf "$RUN/cache.w" "$BENCH_STATE/state-write"
}

# ---- 6: daemon memory under 4 concurrent writers ----------------------------

# rss_server_and_mount: a read-write mount (admin) of a fresh small fixture.
rss_server_and_mount() {
	rm -rf "$BENCH_STATE/state-rss"
	FAKE_STATE_DIR=$BENCH_STATE/state-rss \
		fake_start --fixture small --upload-max $((1 << 30)) || return 1
	FS_CACHE=$RUN/cache.rss
	mount_fs -o deposit=direct || { say "rss mount failed"; return 1; }
}

# bench_rss: peak RSS (VmHWM) of the daemon while 4 cp of RSS_MIB (64) MiB
# each write into 4 new items at once, REPEAT rounds on one mount.
bench_rss() {
	local rep k coll mib=${RSS_MIB:-64} src=$BENCH_STATE/rss-src.bin
	local pids t0 t1 fail
	say "== daemon peak RSS under 4 concurrent cp of $mib MiB ($REPEAT rounds)"
	BENCH_SERVER=''
	[ "$(stat -c %s "$src" 2>/dev/null)" = $((mib << 20)) ] ||
		head -c $((mib << 20)) /dev/urandom >"$src"
	fake_stop
	rss_server_and_mount || { unmount_fs; fake_stop; return 1; }
	coll=$(find "$MNT" -mindepth 2 -maxdepth 2 -type d | sort | head -1)
	record rss "after mount (idle)" VmHWM_MiB "$(hwm_mib)"
	for ((rep = 1; rep <= REPEAT; rep++)); do
		pids=() fail=0
		t0=$(now)
		for k in 1 2 3 4; do
			item_mkdir "$coll/RSS $rep.$k" || return 1
			cp "$src" "$coll/RSS $rep.$k/ORIGINAL/f.bin" &
			pids+=($!)
		done
		for k in "${pids[@]}"; do
			wait "$k" || fail=$((fail + 1))
		done
		t1=$(now)
		record rss "4 x cp $mib MiB, round $rep" VmHWM_MiB "$(hwm_mib)"
		record rss "4 x cp $mib MiB, round $rep" VmRSS_MiB \
			"$(awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$FS_PID/status")"
		record rss "4 x cp $mib MiB, round $rep" wall_s "$(elapsed "$t0" "$t1")"
		record rss "4 x cp $mib MiB, round $rep" failed_cp "$fail"
		say "  round $rep: VmHWM $(hwm_mib) MiB, $fail cp failed"
	done
	unmount_fs
	fake_stop
	rm -rf "$RUN/cache.rss" "$BENCH_STATE/state-rss"
}

# ---- nginx: several mounts behind one shared cache (contrib/nginx) ----------

# nginx_mounts VARIANT URL: NGINX_MOUNTS fresh anonymous mounts of URL, one
# after the other, each with a cache of its own, each reading the first
# NGINX_MIB MiB of the large file; records each one's MB/s and then the
# bytes of that file the server sent, per byte read by one mount.
nginx_mounts() {
	local k t0 t1 mbs mark sent bytes=$((${NGINX_MIB:-256} << 20))
	mark=$(log_mark)
	for ((k = 1; k <= ${NGINX_MOUNTS:-3}; k++)); do
		rm -rf "$RUN/cache.ng"
		FAKE_URL=$2 bench_mount "$RUN/cache.ng" || return 1
		t0=$(now)
		dd if="$MNT/$BIG_REL" of=/dev/null bs=1M count="${NGINX_MIB:-256}" \
			status=none || say "dd failed"
		t1=$(now)
		mbs=$($HELP rate "$bytes" "$(elapsed "$t0" "$t1")")
		record nginx "$1, mount $k" MB_s "$mbs"
		unmount_fs
	done
	rm -rf "$RUN/cache.ng"
	sent=$(content_bytes "$mark" "$UUID")
	record nginx "$1, ${NGINX_MOUNTS:-3} mounts" server_bytes_per_file \
		"$(ratio "$sent" "$bytes")"
	say "  $1: the server sent $(ratio "$sent" "$bytes") x the bytes read"
}

# bench_nginx: NGINX_MOUNTS mounts straight to the server, then through one
# nginx configured by contrib/nginx/dspacefs-cache.conf (empty cache).
bench_nginx() {
	# shellcheck source=tests/nginx.bash
	. "$ROOT/tests/nginx.bash"
	NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
	if [ ! -x "$NGINX_BIN" ]; then
		say "== nginx: NOT RUN, nginx is not installed (apt-get install nginx-light)"
		record nginx "not run: nginx missing" server_bytes_per_file 0
		return 0
	fi
	say "== ${NGINX_MOUNTS:-3} anonymous mounts, each reading ${NGINX_MIB:-256} MiB of $BIG_NAME: direct, then through one nginx cache"
	bench_server || return 1
	nginx_mounts "direct to the server" "$FAKE_URL" || return 1
	nginx_start || return 1
	nginx_mounts "through nginx (contrib/nginx)" "$NGINX_URL"
	nginx_stop
}

# ---- main ------------------------------------------------------------------

ALL_LINKS="loopback 10g 1g conn50"

# facts: the machine, to $RUN/facts.txt.
facts() {
	echo "date: $(date -u +%FT%TZ)"
	echo "commit: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
	echo "dspacefs: $DSPACEFS_NEW${DSPACEFS_OLD:+ (old: $DSPACEFS_OLD)}"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
	echo "kernel: $(uname -r)"
	echo "fusermount3: $(fusermount3 --version 2>&1)"
	echo "libfuse: $(pkg-config --modversion fuse3 2>/dev/null)"
	echo "curl: $(curl --version | head -1)"
	echo "python: $(python3 --version 2>&1)"
	echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}

# run_cases CASE...: the cases on this process's link.
run_cases() {
	local c
	link_params "$LINK" || { say "unknown link $LINK"; return 1; }
	for c in "$@"; do
		case $c in
		seq) bench_seq ;;
		reread) bench_reread ;;
		ls) bench_ls ;;
		random) bench_random ;;
		write) bench_write ;;
		rsync) bench_rsync ;;
		rss) fake_stop && BENCH_SERVER='' && bench_rss ;;
		profile) bench_profile ;;
		nginx) bench_nginx ;;
		*) say "unknown benchmark $c" ;;
		esac
	done
	fake_stop
}

# run_link LINK CASE...: in this process for loopback, else in a child of a
# new network namespace (the same run directory and results file).
run_link() {
	local link=$1
	shift
	if [ "$link" = loopback ]; then
		LINK=loopback run_cases "$@"
		return
	fi
	echo "link $link:" >>"$RUN/facts.txt"
	BENCH_IN_LINK=$link BENCH_RUN=$RUN UUID=$UUID DSPACEFS=$DSPACEFS_NEW \
		unshare -n -- "$0" "$@"
}

# load_sampler: the load average every 10 s into $RUN/load.txt.
load_sampler() {
	while sleep 10; do
		echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/load.txt"
	done
}

# ensure_fixture: generates the bench fixture once (a server start).
ensure_fixture() {
	[ -f "$BENCH_STATE/state/fixture.json" ] && return 0
	say "generating the bench fixture in $BENCH_STATE/state"
	bench_server && fake_stop
	BENCH_SERVER=''
}

main() {
	local a link c links=() sampler
	local -A todo=()
	if [ -n "${BENCH_IN_LINK:-}" ]; then
		link_params "$LINK" && link_setup || exit 1
		run_cases "$@"
		exit
	fi
	mkdir -p "$RUN" || exit 1
	: >"$RES"
	[ -x "$DSPACEFS" ] || { say "no $DSPACEFS: build first (make -j2)"; exit 1; }
	[ -z "$DSPACEFS_OLD" ] || [ -x "$DSPACEFS_OLD" ] ||
		{ say "no $DSPACEFS_OLD"; exit 1; }
	[ $# = 0 ] && set -- seq@all reread ls write rsync random rss
	for a in "$@"; do
		c=${a%@*} link=loopback
		[ "$a" != "$c" ] && link=${a#*@}
		[ "$link" = all ] && link=$ALL_LINKS
		for l in $link; do
			link_params "$l" || { say "unknown link $l"; exit 2; }
			[ -n "${todo[$l]:-}" ] || links+=("$l")
			todo[$l]="${todo[$l]:-} $c"
		done
	done
	facts >"$RUN/facts.txt"
	cat "$RUN/facts.txt" >&2
	say "results in $RUN"
	load_sampler &
	sampler=$!
	link_params loopback
	if [ "$*" != rss ]; then
		ensure_fixture || exit 1
		UUID=$($HELP uuid "$BENCH_STATE/state/fixture.json" "$BIG_NAME") || exit 1
	fi
	for link in "${links[@]}"; do
		# shellcheck disable=SC2086
		run_link "$link" ${todo[$link]}
	done
	kill "$sampler" 2>/dev/null
	wait "$sampler" 2>/dev/null
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/facts.txt"
	echo "load during (min median max of $(wc -l <"$RUN/load.txt" 2>/dev/null || echo 0) samples): $(awk '{ print $2 }' "$RUN/load.txt" 2>/dev/null | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[1], v[int((NR + 1) / 2)], v[NR] }')" >>"$RUN/facts.txt"
	$HELP summary "$RES" | tee "$RUN/summary.md"
}

main "$@"
