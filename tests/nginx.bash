# A caching nginx on loopback in front of the fake server, configured by
# the shipped contrib/nginx/dspacefs-cache.conf (only its listen address,
# cache directory and upstream replaced). Used by t2140 and bench/run.sh.

NGINX_CONF_SRC=${NGINX_CONF_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/contrib/nginx/dspacefs-cache.conf}

# nginx_require: nginx is installed, else (CI=true) a failure or a skip
# that says so; tests never pass without it silently.
nginx_require() {
	NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
	[ -x "$NGINX_BIN" ] && return 0
	if [ "${CI:-}" = true ]; then
		echo "nginx is not installed (Debian package nginx-light or nginx); CI must install it" >&2
		return 1
	fi
	skip "nginx is not installed (apt-get install nginx-light): shared-cache tests NOT run"
}

# nginx_start: starts nginx (one process, no daemon) proxying and caching
# the fake server at FAKE_PORT; sets NGINX_PID NGINX_PORT NGINX_URL
# NGINX_DIR. Waits (10 s at most) until it listens.
nginx_start() {
	local i
	NGINX_DIR=$(mktemp -d "$(test_tmpdir)/nginx.XXXXXX")
	NGINX_PORT=$("${FAKE_PYTHON:-python3}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$NGINX_DIR/cache" "$NGINX_DIR/tmp" "$NGINX_DIR/logs"
	sed -e "s|/var/cache/nginx/dspacefs|$NGINX_DIR/cache|" \
		-e "s|listen 8080;|listen 127.0.0.1:$NGINX_PORT;|" \
		-e "s|http://dspace.example.org|http://127.0.0.1:$FAKE_PORT|" \
		"$NGINX_CONF_SRC" >"$NGINX_DIR/site.conf"
	cat >"$NGINX_DIR/nginx.conf" <<CONF
pid $NGINX_DIR/nginx.pid;
error_log $NGINX_DIR/logs/error.log info;
events { worker_connections 512; }
http {
	log_format cache '\$request_method \$uri "\$http_range" \$status \$body_bytes_sent \$upstream_cache_status';
	access_log $NGINX_DIR/logs/access.log cache;
	client_body_temp_path $NGINX_DIR/tmp/body;
	proxy_temp_path $NGINX_DIR/tmp/proxy;
	fastcgi_temp_path $NGINX_DIR/tmp/fastcgi;
	uwsgi_temp_path $NGINX_DIR/tmp/uwsgi;
	scgi_temp_path $NGINX_DIR/tmp/scgi;
	include $NGINX_DIR/site.conf;
}
CONF
	"$NGINX_BIN" -p "$NGINX_DIR" -c "$NGINX_DIR/nginx.conf" \
		-g 'daemon off; master_process off;' \
		</dev/null >"$NGINX_DIR/logs/stderr" 2>&1 3>&- &
	NGINX_PID=$!
	NGINX_URL=http://127.0.0.1:$NGINX_PORT/server
	export NGINX_PID NGINX_PORT NGINX_URL NGINX_DIR
	for i in $(seq 100); do
		curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$NGINX_PORT/" && return 0
		if ! kill -0 "$NGINX_PID" 2>/dev/null; then
			echo "nginx exited:" >&2
			cat "$NGINX_DIR/logs/stderr" "$NGINX_DIR/logs/error.log" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "nginx did not answer within 10 s" >&2
	return 1
}

# nginx_stop: stops the nginx of nginx_start by PID (TERM, 5 s, KILL).
nginx_stop() {
	local i
	[ -n "${NGINX_PID:-}" ] || return 0
	kill -TERM "$NGINX_PID" 2>/dev/null || { NGINX_PID=; return 0; }
	for i in $(seq 50); do
		kill -0 "$NGINX_PID" 2>/dev/null || { NGINX_PID=; return 0; }
		sleep 0.1
	done
	kill -KILL "$NGINX_PID" 2>/dev/null || true
	NGINX_PID=
}

# content_bytes MARK UUID: bytes of bitstream UUID's content the fake server
# sent since request-log line MARK.
content_bytes() {
	"${FAKE_PYTHON:-python3}" -S -c '
import json, sys
n = 0
with open(sys.argv[1], encoding="utf-8") as f:
    for i, line in enumerate(f, 1):
        r = json.loads(line)
        if i >= int(sys.argv[2]) and r["path"].endswith("/" + sys.argv[3] + "/content"):
            n += r["bytes"] or 0
print(n)
' "$FAKE_LOG" "$1" "$2"
}
