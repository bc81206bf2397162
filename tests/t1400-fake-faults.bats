#!/usr/bin/env bats
# Fake DSpace: fault injection, latency, request log, control endpoint,
# signals.  These are test controls of the fake, not DSpace behaviour; the
# section numbers say which contract behaviour a fault imitates (§11 is the
# contract's list of what a faithful fake must do).

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

teardown() {
	local rc=0
	test_teardown || rc=$?
	fake_control DELETE /faults >/dev/null 2>&1 || true
	return $rc
}

bs_uuid() {
	fx "one('bitstream', name='$1')['uuid']"
}

@test "§9.3 --fault status=503,count=2 (command line): the first two matching requests fail, then normal service" {
	fake_start --fixture small --fault 'status=503,count=2,path=/core/communities' --fault 'status=429,retry-after=7,path=/authn/status'
	api GET /core/communities/search/top
	[ "$STATUS" = 503 ]
	[ "$(jbody '[d["status"], d["error"]]')" = '[503, "Service Unavailable"]' ]
	api GET /core/communities
	[ "$STATUS" = 503 ]
	api GET /core/communities
	[ "$STATUS" = 200 ]
	api GET ""
	[ "$STATUS" = 200 ]
	api GET /authn/status
	[ "$STATUS" = 429 ]
	[ "$(hdr Retry-After)" = 7 ]
}

@test "§9.3 fault rate=0.5 uses seeded randomness: the same spec gives the same sequence" {
	seq1= seq2=
	faults 'status=503,rate=0.5,path=/security/csrf'
	for i in $(seq 20); do api GET /security/csrf; seq1+="$STATUS "; done
	faults 'status=503,rate=0.5,path=/security/csrf'
	for i in $(seq 20); do api GET /security/csrf; seq2+="$STATUS "; done
	[ "$seq1" = "$seq2" ]
	[[ "$seq1" == *503* ]]
	[[ "$seq1" == *204* ]]
	faults 'status=503,rate=0.5,seed=other,path=/security/csrf'
	seq3=
	for i in $(seq 20); do api GET /security/csrf; seq3+="$STATUS "; done
	[ "$seq3" != "$seq1" ]
}

@test "§5.5 fault drop-after=65536,path=/content: headers and 64 KiB of body, then the connection closes" {
	bs=$(bs_uuid run-0001.dat)
	faults 'drop-after=65536,path=/content'
	run curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/part" "$FAKE_API/core/bitstreams/$bs/content"
	[ "$status" -eq 18 ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/part")" = 65536 ]
	cmp "$BATS_TEST_TMPDIR/part" <(head -c 65536 "$FAKE_STATE/content/$bs")
	# JSON endpoints are unaffected by a /content filter
	api GET "/core/bitstreams/$bs"
	[ "$STATUS" = 200 ]
	# resuming with a Range finishes the file (what a client should do)
	faults 'drop-after=65536,path=/content,count=1'
	curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/first" "$FAKE_API/core/bitstreams/$bs/content" || true
	curl -sS --max-time 10 -r 65536- -o "$BATS_TEST_TMPDIR/rest" "$FAKE_API/core/bitstreams/$bs/content"
	cat "$BATS_TEST_TMPDIR/first" "$BATS_TEST_TMPDIR/rest" | cmp - "$FAKE_STATE/content/$bs"
}

@test "§1.3 fault malformed-json,path=/bundles: 200 with a truncated JSON body; other paths are fine" {
	it=$(fx "one('item', name='Run 2023-02')['uuid']")
	faults 'malformed-json,path=/bundles'
	api GET "/core/items/$it/bundles"
	[ "$STATUS" = 200 ]
	[ "$(hdr Content-Type)" = "application/hal+json;charset=UTF-8" ]
	[ "$(hdr Content-Length)" = "$(stat -c %s "$FAKE_DIR/body")" ]
	run "$FAKE_PYTHON" -S -c 'import json,sys; json.load(open(sys.argv[1]))' "$FAKE_DIR/body"
	[ "$status" -ne 0 ]
	api GET "/core/items/$it"
	[ "$STATUS" = 200 ]
	jbody 'd["uuid"]' >/dev/null
}

@test "§5 fault stall=2,path=/content: headers arrive, then nothing for 2 s (low-speed limits fire), then the body" {
	bs=$(bs_uuid notes.txt)
	faults 'stall=2,path=/content'
	run curl -sS --max-time 1 -D "$BATS_TEST_TMPDIR/h" -o /dev/null "$FAKE_API/core/bitstreams/$bs/content"
	[ "$status" -eq 28 ]
	grep -q '^HTTP/1.1 200' "$BATS_TEST_TMPDIR/h"
	t0=$(date +%s.%N)
	curl -sS --max-time 10 -o "$BATS_TEST_TMPDIR/b" "$FAKE_API/core/bitstreams/$bs/content"
	t1=$(date +%s.%N)
	cmp "$BATS_TEST_TMPDIR/b" "$FAKE_STATE/content/$bs"
	awk -v a="$t0" -v b="$t1" 'BEGIN { exit !(b - a >= 1.9) }'
}

@test "§6.3 fault bad-checksum,path=/bitstreams: the upload answers 201 with a wrong checkSum.value" {
	fake_login admin@example.org admin
	b=$(fx "[b['uuid'] for b in kids(one('item', name='Run 2023-02')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
	head -c 5000 /dev/urandom >"$BATS_TEST_TMPDIR/f.bin"
	md5=$(md5sum <"$BATS_TEST_TMPDIR/f.bin" | cut -d' ' -f1)
	faults 'bad-checksum,path=/bitstreams,method=POST'
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/f.bin"
	[ "$STATUS" = 201 ]
	got=$(jbody 'd["checkSum"]["value"]')
	[[ "$got" =~ ^[0-9a-f]{32}$ ]]
	[ "$got" != "$md5" ]
	u=$(jbody 'd["uuid"]')
	# the server really stored the right bytes
	[ "$(fx "one('bitstream', uuid='$u')['md5']")" = "$md5" ]
	cmp "$FAKE_STATE/content/$u" "$BATS_TEST_TMPDIR/f.bin"
}

@test "§3.4 fault csrf-rotate: a POST with a valid token gets 403 Invalid CSRF token and a new token; GETs are not affected" {
	fake_login admin@example.org admin
	b=$(fx "[b['uuid'] for b in kids(one('item', name='Run 2023-02')['uuid'], 'bundle') if b['name'] == 'ORIGINAL'][0]")
	faults 'csrf-rotate,count=1'
	api_as GET "/core/bundles/$b"
	[ "$STATUS" = 200 ]
	n=$(fx "len(kids('$b', 'bitstream'))")
	printf 'x' >"$BATS_TEST_TMPDIR/c.txt"
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/c.txt"
	[ "$STATUS" = 403 ]
	[[ "$(jbody 'd["message"]')" == *"Invalid CSRF token"* ]]
	new=$(hdr DSPACE-XSRF-TOKEN)
	[ -n "$new" ] && [ "$new" != "$CSRF" ]
	[ "$(hdr_count Set-Cookie)" -ge 2 ]
	# nothing was created; the same token works again once the fault is spent
	[ "$(fx "len(kids('$b', 'bitstream'))")" = "$n" ]
	api_as POST "/core/bundles/$b/bitstreams" -F "file=@$BATS_TEST_TMPDIR/c.txt"
	[ "$STATUS" = 201 ]
	[ "$(fake_requests 'r["fault"] == "csrf-rotate" and r["status"] == 403')" = 1 ]
}

@test "§9.3 fault reset: the connection is closed without a response" {
	faults 'reset,path=/core/items,count=1'
	run curl -sS --max-time 10 -o /dev/null "$FAKE_API/core/items/$(fx "one('item', name='Run 2023-02')['uuid']")"
	[ "$status" -eq 52 ] || [ "$status" -eq 56 ]
	api GET "/core/items/$(fx "one('item', name='Run 2023-02')['uuid']")"
	[ "$STATUS" = 200 ]
	[ "$(fake_requests 'r["fault"] == "reset" and r["status"] == 0')" = 1 ]
}

@test "§11 control endpoint: faults are listed, replaced, appended (JSON or text) and removed at runtime; bad specs are 400" {
	fake_control POST /faults -H 'Content-Type: application/json' -d '{"faults": ["status=500,method=POST,path=/authn"]}' >/dev/null
	fake_control POST '/faults?mode=append' -d 'status=502,path=/core/bitstreamformats,skip=1' >/dev/null
	out=$(fake_control GET /faults)
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys; d=json.loads(sys.argv[1]); print([(f["kind"], f["arg"], f["method"], f["skip"]) for f in d["faults"]])' "$out")" = "[('status', 500, 'POST', 0), ('status', 502, None, 1)]" ]
	fake_csrf
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 500 ]
	api GET /authn/status
	[ "$STATUS" = 200 ]
	api GET /core/bitstreamformats
	[ "$STATUS" = 200 ]
	api GET /core/bitstreamformats
	[ "$STATUS" = 502 ]
	[ "$(fake_control GET /faults | "$FAKE_PYTHON" -S -c 'import json,sys; print([f["hits"] for f in json.load(sys.stdin)["faults"]])')" = "[1, 1]" ]
	fake_control DELETE /faults >/dev/null
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 200 ]
	run curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST -d 'explode=now' "http://127.0.0.1:$FAKE_PORT/fake-control/faults"
	[ "$output" = 400 ]
	[ "$(fake_control GET /faults)" = '{"faults": []}' ]
}

@test "§11 SIGUSR1 clears the faults" {
	faults 'status=503,path=/core'
	api GET /core/communities
	[ "$STATUS" = 503 ]
	kill -USR1 "$FAKE_PID"
	sleep 0.3
	api GET /core/communities
	[ "$STATUS" = 200 ]
}

@test "§11 --latency-ms delays every API response (command line and runtime); the control endpoint is not delayed" {
	fake_start --fixture small --latency-ms 300
	t=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "$FAKE_API/core/communities/search/top")
	awk -v t="$t" 'BEGIN { exit !(t >= 0.29) }'
	t=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "http://127.0.0.1:$FAKE_PORT/fake-control/stats")
	awk -v t="$t" 'BEGIN { exit !(t < 0.25) }'
	fake_control POST /config -d '{"latency_ms": 0}' >/dev/null
	t=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "$FAKE_API/core/communities/search/top")
	awk -v t="$t" 'BEGIN { exit !(t < 0.25) }'
	[ "$(fake_control GET /config | "$FAKE_PYTHON" -S -c 'import json,sys; d=json.load(sys.stdin); print(d["latency_ms"], d["csrf"], d["dspace_version"])')" = "0 eager 7.6" ]
}

@test "§11 --conn-rate caps every response body per connection: 2 MB at 1 MB/s takes >= 1.9 s, two connections at once still ~2 s" {
	fake_start --fixture small --conn-rate 1000000
	url=$FAKE_API/core/bitstreams/$(fx "one('bitstream', name='run-0001.dat')['uuid']")/content
	curl -sS --max-time 20 -r 0-1999999 -o /dev/null -w '%{size_download} %{time_total}\n' "$url" >"$BATS_TEST_TMPDIR/a" &
	pid=$!
	t0=$EPOCHREALTIME
	curl -sS --max-time 20 -r 0-1999999 -o /dev/null -w '%{size_download} %{time_total}\n' "$url" >"$BATS_TEST_TMPDIR/b"
	wait "$pid"
	wall=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	cat "$BATS_TEST_TMPDIR/a" "$BATS_TEST_TMPDIR/b"
	for f in a b; do
		read -r size t <"$BATS_TEST_TMPDIR/$f"
		[ "$size" = 2000000 ]
		awk -v t="$t" 'BEGIN { exit !(t >= 1.9) }'
	done
	# per connection, not per server: the two streams ran side by side
	awk -v t="$wall" 'BEGIN { exit !(t < 3.5) }'
	# small JSON bodies and the control endpoint are not slowed down
	t=$(curl -sS --max-time 10 -o /dev/null -w '%{time_total}' "$FAKE_API/core/communities/search/top")
	awk -v t="$t" 'BEGIN { exit !(t < 0.5) }'
}

@test "§11.19 request log: one flushed JSON line per request with method, path, query, status, bytes, duration, headers and user; never the token" {
	fake_start --fixture small
	fake_login admin@example.org admin
	bs=$(bs_uuid notes.txt)
	api_as GET "/core/bitstreams/$bs/content?x=1" -H 'Range: bytes=0-4' -H 'If-None-Match: "zzz"'
	[ "$STATUS" = 206 ]
	[ "$(wc -l <"$FAKE_LOG")" = 3 ]
	last=$(tail -1 "$FAKE_LOG")
	[ "$("$FAKE_PYTHON" -S -c '
import json, sys
r = json.loads(sys.argv[1])
print(sorted(r))
print(r["method"], r["path"], r["query"], r["status"], r["bytes"], r["range"], r["authorization"], r["xsrf_token"], r["if_none_match"], r["user"], r["fault"], r["duration_ms"] >= 0)' "$last")" = "['authorization', 'bytes', 'conn', 'content_type', 'duration_ms', 'fault', 'if_none_match', 'method', 'path', 'query', 'range', 'req_bytes', 'status', 'ts', 'user', 'xsrf_token']
GET /server/api/core/bitstreams/$bs/content x=1 206 5 bytes=0-4 True True \"zzz\" admin@example.org None True" ]
	[ "$(fake_requests 'r["method"] == "POST" and r["path"].endswith("/authn/login") and r["status"] == 200')" = 1 ]
	[ "$(fake_requests 'r["user"] == "anonymous"')" = 1 ]
	! grep -q "${TOKEN:20:40}" "$FAKE_LOG" || false
	! grep -q "$CSRF" "$FAKE_LOG" || false
	# control requests are not logged
	fake_control GET /stats >/dev/null
	[ "$(wc -l <"$FAKE_LOG")" = 3 ]
}

@test "§5.4 §11.19 stats: request counts per route; the log shows connection reuse (keep-alive)" {
	fake_start --fixture small
	it=$(fx "one('item', name='Run 2023-02')['uuid']")
	curl -sS --max-time 10 -o /dev/null "$FAKE_API/core/items/$it" -o /dev/null "$FAKE_API/core/items/$it" -o /dev/null "$FAKE_API/core/items/$it/bundles"
	out=$(fake_control GET /stats)
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys; r=json.loads(sys.argv[1])["requests"]; print(r["GET /core/{model}/{uuid}"], r["GET /core/{model}/{uuid}/{rel}"])' "$out")" = "2 1" ]
	[ "$(fake_requests 'r["conn"] == 1')" = 3 ]
}

@test "§11 clients that disconnect mid-transfer leave no traceback; SIGTERM stops a busy server within 2 s" {
	fake_start --fixture small --fault 'stall=30,path=/content'
	bs=$(bs_uuid run-0001.dat)
	curl -sS --max-time 0.5 -o /dev/null "$FAKE_API/core/bitstreams/$bs/content" || true
	curl -sS --max-time 20 -o /dev/null "$FAKE_API/core/bitstreams/$bs/content" 2>/dev/null &
	cpid=$!
	sleep 0.3
	kill -TERM "$FAKE_PID"
	for i in $(seq 20); do
		kill -0 "$FAKE_PID" 2>/dev/null || break
		sleep 0.1
	done
	! kill -0 "$FAKE_PID" 2>/dev/null || false
	wait "$cpid" || true
	! grep -q Traceback "$FAKE_STDERR" || false
}
