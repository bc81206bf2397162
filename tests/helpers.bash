# Shared helpers for the bats tests.  Load with:  load helpers
#
# Fake server:   fake_start [server args...] / fake_stop
# Requests:      api METHOD PATH [curl args...]      -> $STATUS, headers in $FAKE_DIR/hdrs,
#                                                       body in $FAKE_DIR/body
#                api_as METHOD PATH [curl args...]   (same, with $TOKEN and the CSRF pair)
#                hdr NAME  (last response header),  hdr_count NAME,  jbody 'python expr on d'
# Login:         fake_csrf; fake_login USER PASS     -> $CSRF, $TOKEN, cookie file $FAKE_COOKIES
# Fixture:       fx 'python expr'  (objects of $FAKE_STATE/fixture.json, see fx helpers below)
# Request log:   fake_requests ['python expr on r']  -> number of matching log lines
#                reqs_since MARK ['python expr on r'] (from line MARK on)
#
# Every wait is bounded and every curl has --max-time, so a broken server
# fails a test instead of hanging it.
#
# Also usable outside bats (bench/run.sh sources it): no BATS_* variable is
# required; temporary files go to test_tmpdir (TEST_TMPDIR when set).

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
FAKE_DSPACE_PY="$top_srcdir/tests/fake-dspace/fake_dspace.py"
# python3 as found in PATH, resolved once to the real interpreter (a pyenv-style
# shim costs ~0.1 s per call, and the helpers call python a lot)
: "${FAKE_PYTHON:=$(python3 -c 'import sys; print(sys.executable)')}"
export FAKE_PYTHON
CURL_MAX_TIME=${CURL_MAX_TIME:-30}

# Where the helpers put temporary files: TEST_TMPDIR when set (outside
# bats), else the bats file's temp dir.
test_tmpdir() {
	echo "${TEST_TMPDIR:-${BATS_FILE_TMPDIR:-${BATS_TMPDIR:-${TMPDIR:-/tmp}}}}"
}

# Start the fake server in the background (state under a fresh temp dir unless
# FAKE_STATE_DIR is set) and wait (at most FAKE_START_TIMEOUT s, default 30)
# until it listens.
fake_start() {
	local limit=${FAKE_START_TIMEOUT:-30} i
	FAKE_DIR=$(mktemp -d "$(test_tmpdir)/fake.XXXXXX")
	FAKE_STATE=${FAKE_STATE_DIR:-$FAKE_DIR/state}
	FAKE_LOG=$FAKE_DIR/requests.log
	FAKE_STDERR=$FAKE_DIR/server.err
	"$FAKE_PYTHON" "$FAKE_DSPACE_PY" --port 0 --port-file "$FAKE_DIR/port" \
		--state "$FAKE_STATE" --request-log "$FAKE_LOG" "$@" \
		</dev/null >"$FAKE_STDERR" 2>&1 3>&- &
	FAKE_PID=$!
	for i in $(seq $((limit * 10))); do
		[ -s "$FAKE_DIR/port" ] && break
		if ! kill -0 "$FAKE_PID" 2>/dev/null; then
			echo "fake server exited early:" >&2
			cat "$FAKE_STDERR" >&2
			return 1
		fi
		sleep 0.1
	done
	if [ ! -s "$FAKE_DIR/port" ]; then
		echo "fake server did not start within $limit s:" >&2
		cat "$FAKE_STDERR" >&2
		kill -KILL "$FAKE_PID" 2>/dev/null
		return 1
	fi
	FAKE_PORT=$(cat "$FAKE_DIR/port")
	FAKE_URL=http://127.0.0.1:$FAKE_PORT/server
	FAKE_API=$FAKE_URL/api
	export FAKE_PORT FAKE_URL FAKE_API FAKE_PID FAKE_STATE FAKE_LOG FAKE_DIR FAKE_STDERR
}

# Stop the server started by fake_start: SIGTERM, wait up to 5 s, then SIGKILL.
fake_stop() {
	local pid=${1:-${FAKE_PID:-}} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

# Control endpoint: fake_control METHOD /faults [curl args]
fake_control() {
	local method=$1 path=$2
	shift 2
	curl -sS --max-time "$CURL_MAX_TIME" -X "$method" "$@" "http://127.0.0.1:$FAKE_PORT/fake-control$path"
}

# api METHOD PATH|URL [curl args...]: sets STATUS; headers -> $FAKE_DIR/hdrs, body -> $FAKE_DIR/body
api() {
	local method=$1 path=$2 url
	shift 2
	case $path in
	http://* | https://*) url=$path ;;
	*) url=$FAKE_API$path ;;
	esac
	: >"$FAKE_DIR/body"
	if [ "$method" = HEAD ]; then
		# curl --head would write the headers to -o
		STATUS=$(curl -sS --max-time "$CURL_MAX_TIME" -D "$FAKE_DIR/hdrs" -o /dev/null \
			-w '%{http_code}' --head "$@" "$url") || STATUS=000
		return 0
	fi
	STATUS=$(curl -sS --max-time "$CURL_MAX_TIME" -D "$FAKE_DIR/hdrs" -o "$FAKE_DIR/body" \
		-w '%{http_code}' -X "$method" "$@" "$url") || STATUS=000
}

# api_as: api with the bearer token and the CSRF header + cookie of the last login
api_as() {
	local method=$1 path=$2
	shift 2
	api "$method" "$path" -H "Authorization: Bearer $TOKEN" -H "X-XSRF-TOKEN: $CSRF" \
		-b "DSPACE-XSRF-COOKIE=$CSRF" "$@"
}

# hdr NAME: value of the last NAME header of the last response (CR stripped)
hdr() {
	awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		{ sub(/\r$/, "") }
		index($0, ":") { k = tolower(substr($0, 1, index($0, ":") - 1)); if (k == n) { v = substr($0, index($0, ":") + 1); sub(/^[ \t]+/, "", v); val = v } }
		END { printf "%s", val }' "$FAKE_DIR/hdrs"
}

# hdr_count NAME: how many NAME headers the last response had
hdr_count() {
	awk -v n="$(printf '%s' "$1" | tr 'A-Z' 'a-z')" '
		index($0, ":") { if (tolower(substr($0, 1, index($0, ":") - 1)) == n) c++ }
		END { print c + 0 }' "$FAKE_DIR/hdrs"
}

# jbody EXPR: evaluate a python expression on the JSON body `d`;
# strings print raw, everything else as JSON.
jbody() {
	"$FAKE_PYTHON" -S -c '
import json, sys
d = json.load(open(sys.argv[1], encoding="utf-8"))
r = eval(sys.argv[2])
print(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
' "$FAKE_DIR/body" "$1"
}

# fake_cookie_file: write $CSRF as a curl/Netscape cookie file $FAKE_COOKIES
fake_cookie_file() {
	FAKE_COOKIES=$FAKE_DIR/cookies
	printf '# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/server\tFALSE\t0\tDSPACE-XSRF-COOKIE\t%s\n' \
		"$CSRF" >"$FAKE_COOKIES"
	export FAKE_COOKIES
}

# fake_csrf: fetch a CSRF token (GET /security/csrf) into $CSRF (and $FAKE_COOKIES)
fake_csrf() {
	api GET /security/csrf
	CSRF=$(hdr DSPACE-XSRF-TOKEN)
	export CSRF
	fake_cookie_file
}

# fake_login USER PASS: CSRF round trip + form login; exports TOKEN and CSRF
fake_login() {
	fake_csrf
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" \
		--data-urlencode "user=$1" --data-urlencode "password=$2"
	if [ "$STATUS" != 200 ]; then
		echo "login as $1 failed: $STATUS" >&2
		return 1
	fi
	TOKEN=$(hdr Authorization)
	TOKEN=${TOKEN#Bearer }
	CSRF=$(hdr DSPACE-XSRF-TOKEN)
	export TOKEN CSRF
	fake_cookie_file
}

# fx EXPR: evaluate a python expression over the server's fixture.json.
# Available: objs (live objects), allobjs (incl. deleted), doc, and
#   find(type, **fields) -> list, one(type, **fields) -> the single match,
#   kids(uuid, type) -> children, title(o) -> name.
fx() {
	"$FAKE_PYTHON" -S -c '
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
allobjs = doc["objects"]
# in-progress submissions (items with "submission") are not in the archive:
# left out of objs (so of find/one/kids), listed in drafts
objs = [o for o in allobjs if not o.get("deleted") and not o.get("submission")]
drafts = [o for o in allobjs if o.get("submission")]
def find(type=None, **kw):
    return [o for o in objs if (type is None or o["type"] == type)
            and all(o.get(k) == v for k, v in kw.items())]
def one(type=None, **kw):
    r = find(type, **kw)
    assert len(r) == 1, "%d matches for %s %r" % (len(r), type, kw)
    return r[0]
def kids(uuid, type=None):
    return [o for o in objs if o.get("parent") == uuid and (type is None or o["type"] == type)]
def title(o):
    return o.get("name")
r = eval(sys.argv[2])
print(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False))
' "$FAKE_STATE/fixture.json" "$1"
}

# fake_requests [EXPR]: count request-log records `r` for which EXPR is true
fake_requests() {
	reqs_since 1 "${1:-True}"
}

# reqs_since MARK [EXPR]: how many request-log records from line MARK on
# satisfy the python expression EXPR on the record r (all when omitted).
reqs_since() {
	"$FAKE_PYTHON" -S -c '
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
