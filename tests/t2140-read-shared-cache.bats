#!/usr/bin/env bats
# A shared HTTP cache between several mounts and the server: a real nginx on
# loopback configured by contrib/nginx/dspacefs-cache.conf, real mounts,
# each with its own cache directory. Open-access content is sent by the
# server once; a request with credentials is never answered from the cache
# nor stored in it; ranged reads still work (slice module). Needs nginx
# (Debian nginx-light): skipped loudly without it, a failure under CI=true.

load helpers
load mount
load nginx

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

setup() {
	nginx_require
	restore_mount
	nginx_start
	T=$BATS_TEST_TMPDIR
}

teardown() {
	local rc=0
	if [ -z "${BATS_TEST_COMPLETED:-}" ] && [ -n "${NGINX_DIR:-}" ]; then
		echo "--- nginx access log:" >&2
		tail -n 30 "$NGINX_DIR/logs/access.log" >&2
		tail -n 10 "$NGINX_DIR/logs/error.log" >&2
	fi
	test_teardown || rc=$?
	nginx_stop
	return $rc
}

# cached_mount [mount_fs args...]: a fresh mount of the server through the
# cache (its URL), with a cache directory of its own
cached_mount() {
	FAKE_URL=$NGINX_URL fresh_mount "$@" 3>&-
}

# nginx_log ERE: the access log has a line matching ERE
nginx_log() {
	grep -qE -- "$1" "$NGINX_DIR/logs/access.log"
}

@test "three anonymous mounts (the cache's URL, http_proxy, -o proxy=): the server sends an open-access file once" {
	u=$(fx "one('bitstream', name='run-0001.dat')['uuid']")
	size=$(fx "one('bitstream', name='run-0001.dat')['size']")
	m=$(log_mark)
	cached_mount -o anonymous
	bounded cmp "$(bs_path run-0001.dat)" "$FAKE_STATE/content/$u"
	unmount_fs
	[ "$(content_bytes "$m" "$u")" = "$size" ]
	# the usual proxy variable: the origin's URL, requests through nginx
	n=$(wc -l <"$NGINX_DIR/logs/access.log")
	export http_proxy=http://127.0.0.1:$NGINX_PORT
	fresh_mount -o anonymous 3>&-
	unset http_proxy
	bounded cmp "$(bs_path run-0001.dat)" "$FAKE_STATE/content/$u"
	unmount_fs
	[ "$(wc -l <"$NGINX_DIR/logs/access.log")" -gt "$n" ]
	# -o proxy=
	n=$(wc -l <"$NGINX_DIR/logs/access.log")
	fresh_mount -o anonymous,proxy=http://127.0.0.1:$NGINX_PORT 3>&-
	bounded cmp "$(bs_path run-0001.dat)" "$FAKE_STATE/content/$u"
	unmount_fs
	[ "$(wc -l <"$NGINX_DIR/logs/access.log")" -gt "$n" ]
	# three full reads, one copy sent by the server (in 1 MiB slices)
	[ "$(content_bytes "$m" "$u")" = "$size" ]
	nginx_log "/$u/content .* HIT$"
}

@test "a restricted file read by a logged-in mount through the cache is never served to an anonymous one" {
	u=$(fx "one('bitstream', name='secret.txt')['uuid']")
	cached_mount
	bounded cmp "$(bs_path secret.txt)" "$FAKE_STATE/content/$u"
	unmount_fs
	m=$(log_mark)
	cached_mount -o anonymous
	run bounded cat "$(bs_path secret.txt)"
	[ "$status" -ne 0 ]
	[[ "$output" == *"Permission denied"* ]]
	[[ "$output" != *"only admins"* ]]
	# the server was asked (and refused), the cache did not answer
	[ "$(reqs_since "$m" "r['path'].endswith('/$u/content') and r['status'] in (401, 403)")" -ge 1 ]
	! nginx_log "/$u/content .* HIT$" || false
	# the logged-in request went past the cache, and was not stored
	nginx_log "/$u/content .* 20[06] [0-9]+ BYPASS$"
	# a cookie is a credential too: never answered from the cache
	p=$(fx "one('bitstream', name='public.txt')['uuid']")
	curl -s -o /dev/null "$NGINX_URL/api/core/bitstreams/$p/content"
	curl -s -o /dev/null "$NGINX_URL/api/core/bitstreams/$p/content"
	nginx_log "/$p/content .* HIT$"
	[ "$(curl -s -o /dev/null -w '%header{x-cache-status}' -b 'JSESSIONID=x' "$NGINX_URL/api/core/bitstreams/$p/content")" = BYPASS ]
}

@test "ranged reads through the slice cache: 206 answers with the right bytes; the mount keeps reading by ranges" {
	u=$(fx "one('bitstream', name='run-0001.dat')['uuid']")
	m=$(log_mark)
	cached_mount -o anonymous
	f=$(bs_path run-0001.dat)
	bounded dd if="$f" of="$T/part" bs=4096 skip=600 count=100 status=none
	dd if="$FAKE_STATE/content/$u" of="$T/want" bs=4096 skip=600 count=100 status=none
	cmp "$T/part" "$T/want"
	nginx_log "/$u/content \"bytes=[0-9]+-[0-9]+\" 206 "
	! grep -qiE "ignored an HTTP Range|ignores HTTP Range" "$FS_LOG" || false
	# the server got 1 MiB slices, not a whole-file request
	[ "$(reqs_since "$m" "r['path'].endswith('/$u/content') and r['status'] == 200")" = 0 ]
	[ "$(reqs_since "$m" "r['path'].endswith('/$u/content') and r['status'] == 206 and r['range'].startswith('bytes=2097152-')")" = 1 ]
	# a client's own Range through the cache
	[ "$(curl -s -r 1000000-1000099 -o "$T/c" -w '%{http_code}' "$NGINX_URL/api/core/bitstreams/$u/content")" = 206 ]
	cmp "$T/c" <(tail -c +1000001 "$FAKE_STATE/content/$u" | head -c 100)
}
