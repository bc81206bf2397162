#!/bin/bash
# Benchmarks of dspacefs against the fake DSpace server (loopback), each
# reported as a ratio against a baseline measured in the same run. Not a
# test: nothing here passes or fails on timing. Results: doc/benchmarks.md.
#
# usage: bench/run.sh [seq] [ls] [random] [write] [rss]   (default: all)
# environment:
#   BENCH_STATE  server state + results (default /var/tmp/dspacefs-bench);
#                keep it between runs: generating the bench fixture (1 GiB +
#                15,000 files) takes a while the first time
#   DSPACEFS     the binary (default src/dspacefs next to this directory)
#   REPEAT       repetitions per figure (default 3; medians are reported)
#   RANDOM_LAT   latencies (ms) for the random-read benchmark (default "0 20")
#   RSS_MIB      size of each of the 4 concurrent cp in the rss case (64)
#
# Every step that mounts unmounts again (fusermount3 -u, then -uz) and every
# process started here is stopped by PID with bounded waits, also when a
# step fails or the run is interrupted.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DSPACEFS=${DSPACEFS:-$ROOT/src/dspacefs}
FAKE=$ROOT/tests/fake-dspace/fake_dspace.py
HELP="python3 $ROOT/bench/helpers.py"
BENCH_STATE=${BENCH_STATE:-/var/tmp/dspacefs-bench}
REPEAT=${REPEAT:-3}
RANDOM_LAT=${RANDOM_LAT:-0 20}
BIG_NAME=large-1GiB.bin
BIG_REL="Bench Community 1/Bench Collection 1.1/Large File/ORIGINAL/$BIG_NAME"
BIG_SIZE=1073741824

RUN=$BENCH_STATE/runs/$(date +%Y%m%d-%H%M%S)
RES=$RUN/results.tsv
MNT=$RUN/mnt
SRV_PID= FS_PID= URL= REQLOG= PORT=

say() { printf '%s\n' "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", b - a }'; }
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$RES"; }

# ---- processes -------------------------------------------------------------

# Waits up to $2 tenths of a second for PID $1 to exit.
wait_pid() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# Stops PID $1 (TERM, then KILL after 5 s) if it is still running.
stop_pid() {
	[ -n "$1" ] || return 0
	if kill -0 "$1" 2>/dev/null; then
		kill "$1" 2>/dev/null
		wait_pid "$1" 50 || kill -9 "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null || true
}

is_mounted() { grep -qs " $1 fuse" /proc/mounts; }

unmount_fs() {
	if is_mounted "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null
	fi
	if [ -n "$FS_PID" ]; then
		wait_pid "$FS_PID" 100 || say "dspacefs $FS_PID still running 10 s after unmount"
		stop_pid "$FS_PID"
	fi
	FS_PID=
}

stop_server() {
	stop_pid "$SRV_PID"
	SRV_PID=
}

cleanup() {
	unmount_fs
	stop_server
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# start_server [fake_dspace options...]: the bench fixture on a free port.
start_server() {
	local i
	rm -f "$RUN/port"
	REQLOG=$RUN/requests.log
	python3 "$FAKE" --port 0 --port-file "$RUN/port" \
		--state "$BENCH_STATE/state" --fixture bench \
		--request-log "$REQLOG" "$@" >>"$RUN/server.log" 2>&1 &
	SRV_PID=$!
	for ((i = 0; i < 6000; i++)); do # generation may take minutes
		[ -s "$RUN/port" ] && break
		kill -0 "$SRV_PID" 2>/dev/null || { cat "$RUN/server.log" >&2; return 1; }
		sleep 0.1
	done
	PORT=$(cat "$RUN/port") || return 1
	URL=http://127.0.0.1:$PORT/server
}

# server_config JSON: changes latency_ms, no_range, upload_max at runtime.
server_config() {
	curl -sf -X POST -H 'Content-Type: application/json' -d "$1" \
		"http://127.0.0.1:$PORT/fake-control/config" >/dev/null
}

# mount_fs CACHE_DIR [extra -o options]: mounts $URL anonymously on $MNT.
mount_fs() {
	local cache=$1 extra=${2:-} i opts
	opts="anonymous,cache_dir=$cache,cache_max=3G${extra:+,$extra}"
	mkdir -p "$MNT"
	"$DSPACEFS" -f -o "$opts" "$URL" "$MNT" >>"$RUN/dspacefs.log" 2>&1 &
	FS_PID=$!
	for ((i = 0; i < 200; i++)); do
		is_mounted "$MNT" && return 0
		kill -0 "$FS_PID" 2>/dev/null || break
		sleep 0.1
	done
	say "mount failed; see $RUN/dspacefs.log"
	unmount_fs
	return 1
}

log_mark() { echo $(($(wc -l <"$REQLOG") + 1)); }
# reqstat FROM KEY: one count from helpers.py reqstats.
reqstat() {
	$HELP reqstats "$REQLOG" "$1" 2>/dev/null | tr ' ' '\n' |
		awk -F= -v k="$2" '$1 == k { print $2 }'
}
hwm_mib() { awk '/^VmHWM/ { printf "%.1f", $2 / 1024 }' "/proc/$FS_PID/status"; }

# ---- 1+2: sequential read of the 1 GiB bitstream ---------------------------

# curl_once VARIANT [OUTFILE]: the baseline; prints MB/s.
curl_once() {
	local out=${2:-/dev/null} line size t
	line=$(curl -s -o "$out" -w '%{size_download} %{time_total}' "$CONTENT_URL")
	read -r size t <<<"$line"
	[ "$out" != /dev/null ] && rm -f "$out"
	if [ "$size" != "$BIG_SIZE" ]; then
		say "curl got $size bytes"
		return 1
	fi
	$HELP rate "$size" "$t"
}

# seq_once VARIANT MOUNT_OPTS READ_AHEAD_KB CURL_MBS: one cold read through a
# fresh mount with a fresh cache dir (so neither the content cache nor the
# kernel page cache holds the file).
seq_once() {
	local variant=$1 opts=$2 ra=$3 curl_mbs=$4 cache=$RUN/cache.seq
	local mark t0 t1 secs bytes mbs dev
	rm -rf "$cache"
	mount_fs "$cache" "$opts" || return 1
	stat "$MNT/$BIG_REL" >/dev/null || { unmount_fs; return 1; }
	if [ "$ra" != - ]; then
		dev=$(mountpoint -d "$MNT")
		echo "$ra" >"/sys/class/bdi/$dev/read_ahead_kb" ||
			{ unmount_fs; return 1; }
	fi
	mark=$(log_mark)
	t0=$(now)
	dd if="$MNT/$BIG_REL" of=/dev/null bs=1M 2>"$RUN/dd.err"
	t1=$(now)
	secs=$(elapsed "$t0" "$t1")
	bytes=$(awk '/bytes/ { print $1; exit }' "$RUN/dd.err")
	if [ "$bytes" != "$BIG_SIZE" ]; then
		say "$variant: read $bytes bytes: $(cat "$RUN/dd.err")"
		unmount_fs
		return 1
	fi
	mbs=$($HELP rate "$bytes" "$secs")
	record seq "$variant" MB_s "$mbs"
	record seq "$variant" ratio_vs_curl "$(awk -v a="$mbs" -v b="$curl_mbs" 'BEGIN { printf "%.3f", a / b }')"
	record seq "$variant" peak_RSS_MiB "$(hwm_mib)"
	record seq "$variant" daemon_CPU_s "$(awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$FS_PID/stat")"
	record seq "$variant" requests "$(reqstat "$mark" content)"
	say "  $variant: $mbs MB/s, VmHWM $(hwm_mib) MiB"
	unmount_fs
	rm -rf "$cache"
}

bench_seq() {
	local rep mode c cf
	say "== sequential read of $BIG_NAME ($REPEAT runs)"
	for ((rep = 1; rep <= REPEAT; rep++)); do
		for mode in range no-range; do
			if [ $mode = range ]; then
				server_config '{"no_range": false, "latency_ms": 0}'
			else
				server_config '{"no_range": true, "latency_ms": 0}'
			fi
			c=$(curl_once) || continue
			record seq "$mode: curl -o /dev/null" MB_s "$c"
			cf=$(curl_once x "$RUN/curl.out") || continue
			record seq "$mode: curl -o FILE (cache disk)" MB_s "$cf"
			record seq "$mode: curl -o FILE (cache disk)" ratio_vs_curl \
				"$(awk -v a="$cf" -v b="$c" 'BEGIN { printf "%.3f", a / b }')"
			say "  $mode: curl $c MB/s, curl to file $cf MB/s"
			seq_once "$mode: dspacefs" "" - "$c"
			seq_once "$mode: dspacefs -o direct_io" direct_io - "$c"
			if [ $mode = range ] && [ "$(id -u)" = 0 ]; then
				seq_once "$mode: dspacefs, read_ahead_kb=1024 (root)" "" 1024 "$c"
			fi
		done
	done
	server_config '{"no_range": false}'
}

# ---- 3: ls -lR of the whole tree at 20 ms latency --------------------------

bench_ls() {
	local rep mark t0 t1 cold warm local_s lines cache=$RUN/cache.ls
	say "== ls -lR of the bench tree, server latency 20 ms ($REPEAT runs)"
	server_config '{"no_range": false, "latency_ms": 20}'
	for ((rep = 1; rep <= REPEAT; rep++)); do
		rm -rf "$cache"
		mount_fs "$cache" || continue
		mark=$(log_mark)
		t0=$(now)
		ls -lR "$MNT" >"$RUN/ls.cold" 2>"$RUN/ls.err"
		t1=$(now)
		cold=$(elapsed "$t0" "$t1")
		record ls "dspacefs cold (fresh cache_dir)" wall_s "$cold"
		for k in total discovery containers per_object content auth other; do
			record ls "dspacefs cold (fresh cache_dir)" "req_$k" "$(reqstat "$mark" $k)"
		done
		record ls "dspacefs cold (fresh cache_dir)" lines "$(wc -l <"$RUN/ls.cold")"
		mark=$(log_mark)
		t0=$(now)
		ls -lR "$MNT" >"$RUN/ls.warm" 2>>"$RUN/ls.err"
		t1=$(now)
		warm=$(elapsed "$t0" "$t1")
		record ls "dspacefs warm (same mount, within TTL)" wall_s "$warm"
		record ls "dspacefs warm (same mount, within TTL)" req_total "$(reqstat "$mark" total)"
		record ls "dspacefs warm (same mount, within TTL)" lines "$(wc -l <"$RUN/ls.warm")"
		if [ ! -d "$RUN/local" ]; then
			$HELP mirror "$MNT" "$RUN/local" >/dev/null
			ls -lR "$RUN/local" >/dev/null # warm the local page cache
		fi
		unmount_fs
		t0=$(now)
		ls -lR "$RUN/local" >"$RUN/ls.local"
		t1=$(now)
		local_s=$(elapsed "$t0" "$t1")
		record ls "local copy (mkdir + truncate -s)" wall_s "$local_s"
		record ls "local copy (mkdir + truncate -s)" lines "$(wc -l <"$RUN/ls.local")"
		record ls "ratios" warm_over_local "$(awk -v a="$warm" -v b="$local_s" 'BEGIN { printf "%.2f", a / b }')"
		record ls "ratios" cold_over_local "$(awk -v a="$cold" -v b="$local_s" 'BEGIN { printf "%.2f", a / b }')"
		say "  cold $cold s, warm $warm s, local $local_s s"
	done
	server_config '{"latency_ms": 0}'
	rm -rf "$cache"
}

# ---- 4: 4 KiB reads at 1,000 seeded random offsets --------------------------

bench_random() {
	local rep lat mark line cache=$RUN/cache.rnd v n
	say "== 1,000 random 4 KiB reads of $BIG_NAME, cold cache"
	for lat in $RANDOM_LAT; do
		server_config "{\"no_range\": false, \"latency_ms\": $lat}"
		for ((rep = 1; rep <= REPEAT; rep++)); do
			v="server latency $lat ms"
			rm -rf "$cache"
			mount_fs "$cache" || continue
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
	server_config '{"latency_ms": 0}'
	rm -rf "$cache"
}

# ---- 5: write path (needs a read-write mount) --------------------------------

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
	local api=$URL/api h=$RUN/curl.hdr
	curl -s -D "$h" -o /dev/null "$api/security/csrf"
	CSRF=$(awk -F': ' 'tolower($1) == "dspace-xsrf-token" { print $2 }' "$h" | tr -d '\r')
	curl -s -D "$h" -o /dev/null -H "X-XSRF-TOKEN: $CSRF" \
		-b "DSPACE-XSRF-COOKIE=$CSRF" --data-urlencode "user=admin@example.org" \
		--data-urlencode "password=admin" "$api/authn/login"
	TOKEN=$(awk -F': ' 'tolower($1) == "authorization" { print $2 }' "$h" | tr -d '\r')
	local c2
	c2=$(awk -F': ' 'tolower($1) == "dspace-xsrf-token" { print $2 }' "$h" | tr -d '\r')
	[ -n "$c2" ] && CSRF=$c2
	[ -n "$TOKEN" ]
}

# bench_write: cp of 1 GiB vs curl multipart POST; rsync of 500 files.
bench_write() {
	local rep src=$BENCH_STATE/state/content/$UUID cache=$RUN/cache.w coll item
	local mark t0 t1 secs mbs c bundle line
	say "== write path: cp of $BIG_NAME, rsync -a of 500 files"
	stop_server
	rm -rf "$BENCH_STATE/state-write"
	rm -f "$RUN/port"
	REQLOG=$RUN/requests-write.log
	python3 "$FAKE" --port 0 --port-file "$RUN/port" \
		--state "$BENCH_STATE/state-write" --fixture small \
		--upload-max $((2 << 30)) --request-log "$REQLOG" \
		>>"$RUN/server.log" 2>&1 &
	SRV_PID=$!
	for ((c = 0; c < 300; c++)); do
		[ -s "$RUN/port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$RUN/port") || return 1
	URL=http://127.0.0.1:$PORT/server
	make_rsync_tree
	rm -rf "$cache"
	mkdir -p "$MNT"
	DSPACEFS_PASSWORD=admin "$DSPACEFS" -f \
		-o "user=admin@example.org,cache_dir=$cache,cache_max=3G" \
		"$URL" "$MNT" >>"$RUN/dspacefs.log" 2>&1 &
	FS_PID=$!
	for ((c = 0; c < 200; c++)); do
		is_mounted "$MNT" && break
		sleep 0.1
	done
	is_mounted "$MNT" || { say "write mount failed"; unmount_fs; return 1; }
	coll=$(find "$MNT" -mindepth 2 -maxdepth 2 -type d | sort | head -1)
	login_curl || { say "curl login failed"; unmount_fs; return 1; }
	for ((rep = 1; rep <= REPEAT; rep++)); do
		item="$coll/Bench Upload $rep"
		mkdir "$item" || break
		# baseline: the same bytes as one multipart POST into the bundle
		bundle=$(python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "user.dspace.uuid").decode())' "$item/ORIGINAL")
		line=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' \
			-H "Authorization: $TOKEN" -H "X-XSRF-TOKEN: $CSRF" \
			-b "DSPACE-XSRF-COOKIE=$CSRF" -F "file=@$src;filename=curl-$BIG_NAME" \
			"$URL/api/core/bundles/$bundle/bitstreams")
		read -r c secs <<<"$line"
		[ "$c" = 201 ] || { say "curl upload: HTTP $c"; continue; }
		c=$($HELP rate "$BIG_SIZE" "$secs")
		record write "cp 1 GiB: curl -F multipart POST" MB_s "$c"
		t0=$(now)
		cp "$src" "$item/ORIGINAL/$BIG_NAME" || { say "cp failed"; continue; }
		t1=$(now)
		mbs=$($HELP rate "$BIG_SIZE" "$(elapsed "$t0" "$t1")")
		record write "cp 1 GiB: dspacefs (until close returns)" MB_s "$mbs"
		record write "cp 1 GiB: dspacefs (until close returns)" ratio_vs_curl \
			"$(awk -v a="$mbs" -v b="$c" 'BEGIN { printf "%.3f", a / b }')"
		record write "cp 1 GiB: dspacefs (until close returns)" peak_RSS_MiB "$(hwm_mib)"
		say "  cp: curl $c MB/s, dspacefs $mbs MB/s, VmHWM $(hwm_mib) MiB"
		# rsync of 500 files into the empty ORIGINAL of another new item
		mkdir "$coll/Bench Rsync $rep" || continue
		for run in first second; do
			mark=$(log_mark)
			t0=$(now)
			rsync -a --stats "$BENCH_STATE/rsync-src/" \
				"$coll/Bench Rsync $rep/ORIGINAL/" >"$RUN/rsync.$run" 2>&1 ||
				say "rsync ($run) failed: $(tail -3 "$RUN/rsync.$run")"
			t1=$(now)
			record rsync "dspacefs, $run run" wall_s "$(elapsed "$t0" "$t1")"
			record rsync "dspacefs, $run run" requests "$(reqstat "$mark" total)"
			record rsync "dspacefs, $run run" files_transferred \
				"$(awk -F': ' '/files transferred/ { gsub(/,/, "", $2); print $2 }' "$RUN/rsync.$run")"
		done
		rm -rf "$RUN/rsync-local"
		t0=$(now)
		rsync -a "$BENCH_STATE/rsync-src/" "$RUN/rsync-local/"
		t1=$(now)
		record rsync "local directory (reference)" wall_s "$(elapsed "$t0" "$t1")"
		say "  rsync: $(grep -h 'files transferred' "$RUN"/rsync.first "$RUN"/rsync.second | tr '\n' ' ')"
	done
	record write "daemon" peak_RSS_MiB_end "$(hwm_mib)"
	unmount_fs
	stop_server
	rm -rf "$cache" "$RUN/rsync-local" "$BENCH_STATE/state-write"
}

# ---- 6: daemon memory under 4 concurrent writers ----------------------------

# rss_server_and_mount: a read-write mount (admin) of a fresh small fixture.
rss_server_and_mount() {
	local c
	rm -rf "$BENCH_STATE/state-rss" "$RUN/port"
	REQLOG=$RUN/requests-rss.log
	python3 "$FAKE" --port 0 --port-file "$RUN/port" \
		--state "$BENCH_STATE/state-rss" --fixture small \
		--upload-max $((1 << 30)) --request-log "$REQLOG" \
		>>"$RUN/server.log" 2>&1 &
	SRV_PID=$!
	for ((c = 0; c < 300; c++)); do
		[ -s "$RUN/port" ] && break
		sleep 0.1
	done
	PORT=$(cat "$RUN/port") || return 1
	URL=http://127.0.0.1:$PORT/server
	mkdir -p "$MNT"
	DSPACEFS_PASSWORD=admin "$DSPACEFS" -f \
		-o "user=admin@example.org,cache_dir=$RUN/cache.rss" \
		"$URL" "$MNT" >>"$RUN/dspacefs.log" 2>&1 &
	FS_PID=$!
	for ((c = 0; c < 200; c++)); do
		is_mounted "$MNT" && return 0
		sleep 0.1
	done
	say "rss mount failed"
	return 1
}

# bench_rss: peak RSS (VmHWM) of the daemon while 4 cp of RSS_MIB (64) MiB
# each write into 4 new items at once, REPEAT rounds on one mount.
bench_rss() {
	local rep k coll mib=${RSS_MIB:-64} src=$BENCH_STATE/rss-src.bin
	local pids t0 t1 fail
	say "== daemon peak RSS under 4 concurrent cp of $mib MiB ($REPEAT rounds)"
	[ "$(stat -c %s "$src" 2>/dev/null)" = $((mib << 20)) ] ||
		head -c $((mib << 20)) /dev/urandom >"$src"
	stop_server
	rss_server_and_mount || { unmount_fs; stop_server; return 1; }
	coll=$(find "$MNT" -mindepth 2 -maxdepth 2 -type d | sort | head -1)
	record rss "after mount (idle)" VmHWM_MiB "$(hwm_mib)"
	for ((rep = 1; rep <= REPEAT; rep++)); do
		pids=() fail=0
		t0=$(now)
		for k in 1 2 3 4; do
			mkdir "$coll/RSS $rep.$k" || return 1
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
	stop_server
	rm -rf "$RUN/cache.rss" "$BENCH_STATE/state-rss"
}

# ---- main ------------------------------------------------------------------

main() {
	local b benches=${*:-seq ls random write rss}
	mkdir -p "$RUN" || exit 1
	: >"$RES"
	[ -x "$DSPACEFS" ] || { say "no $DSPACEFS: build first (make -j2)"; exit 1; }
	{
		echo "date: $(date -u +%FT%TZ)"
		echo "commit: $(git -C "$ROOT" describe --always --dirty 2>/dev/null)"
		echo "nproc: $(nproc)"
		echo "cpu: $(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)"
		echo "memory: $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
		echo "kernel: $(uname -r)"
		echo "fusermount3: $(fusermount3 --version 2>&1)"
		echo "libfuse: $(pkg-config --modversion fuse3 2>/dev/null)"
		echo "curl: $(curl --version | head -1)"
		echo "python: $(python3 --version 2>&1)"
		echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
	} >"$RUN/facts.txt"
	cat "$RUN/facts.txt" >&2
	say "results in $RUN"
	# the bench fixture (1 GiB + 15,000 files) is not needed for rss alone
	if [ "$benches" != rss ]; then
		start_server || exit 1
		UUID=$($HELP uuid "$BENCH_STATE/state/fixture.json" "$BIG_NAME") || exit 1
		CONTENT_URL=$URL/api/core/bitstreams/$UUID/content
	fi
	for b in $benches; do
		case $b in
		seq) bench_seq ;;
		ls) bench_ls ;;
		random) bench_random ;;
		write) bench_write ;;
		rss) bench_rss ;;
		*) say "unknown benchmark $b" ;;
		esac
	done
	stop_server
	echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$RUN/facts.txt"
	$HELP summary "$RES" | tee "$RUN/summary.md"
}

main "$@"
