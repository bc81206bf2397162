"""HTTP layer: request bodies, the request log, the handler that dispatches
to the App (applying latency and faults) and sends responses with sendfile."""

import json
import re
import socket
import struct
import sys
import threading
import time
import traceback
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .common import (ApiError, CHUNK, CSRF_HEADER_IN, ERROR_JSON, STATUS_TEXT, STOP, UUID_RE,
                     error_body, header_safe, http_date, jdump)
from .context import Ctx
from .faults import corrupt_checksum, garble_json


UPLOAD_PATH_RE = re.compile(r"/server/api/core/bundles/" + UUID_RE + r"/bitstreams\Z")


class BodyReader:
    """Request body by Content-Length or chunked transfer coding."""

    def __init__(self, rfile, headers):
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        cl = (headers.get("Content-Length") or "").strip()
        self.remaining = int(cl) if cl.isdigit() and not self.chunked else 0
        self.chunk_left = 0
        self.done = not self.chunked and self.remaining == 0
        self.total = 0

    def read(self, n):
        if self.done:
            return b""
        if not self.chunked:
            data = self.rfile.read(min(n, self.remaining))
            if not data:
                raise ConnectionError("client went away during the request body")
            self.remaining -= len(data)
            self.total += len(data)
            self.done = self.remaining == 0
            return data
        if self.chunk_left == 0:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionError("client went away during the request body")
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                raise ConnectionError("bad chunk header")
            if size == 0:
                while True:
                    t = self.rfile.readline(65536)
                    if not t or t in (b"\r\n", b"\n"):
                        break
                self.done = True
                return b""
            self.chunk_left = size
        data = self.rfile.read(min(n, self.chunk_left))
        if not data:
            raise ConnectionError("client went away during the request body")
        self.chunk_left -= len(data)
        self.total += len(data)
        if self.chunk_left == 0:
            self.rfile.readline(16)
        return data

    def drain(self):
        while self.read(CHUNK):
            pass


class RequestLog:
    def __init__(self, path):
        self.lock = threading.Lock()
        self.f = open(path, "a", buffering=1, encoding="utf-8") if path else None

    def write(self, rec):
        if self.f is None:
            return
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        with self.lock:
            self.f.write(line)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 60
    disable_nagle_algorithm = True
    rbufsize = 1 << 17

    def setup(self):
        super().setup()
        app = self.server.app
        with app.stats_lock:
            app.connections += 1
            self.conn_id = app.connections
        self._reader = None

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True

    def log_message(self, fmt, *args):
        pass

    # ---- body helpers
    def body_reader(self):
        if self._reader is None:
            self._reader = BodyReader(self.rfile, self.headers)
        return self._reader

    def read_body(self, limit):
        r = self.body_reader()
        chunks = []
        size = 0
        while True:
            d = r.read(CHUNK)
            if not d:
                break
            size += len(d)
            if size > limit:
                r.drain()
                raise ApiError(400, "Request is invalid or incorrect")
            chunks.append(d)
        return b"".join(chunks)

    def drain_body(self):
        r = self.body_reader()
        if r.done:
            return
        if r.chunked or r.remaining <= (64 << 20):
            r.drain()
        else:
            self.close_connection = True

    def handle_expect_100(self):
        app = self.server.app
        if self.command == "POST" and UPLOAD_PATH_RE.match(self.path.split("?")[0]):
            cl = (self.headers.get("Content-Length") or "").strip()
            if cl.isdigit() and int(cl) > app.cfg.upload_max:
                # refuse before the client sends the body (MaxUploadSizeExceededException -> 400)
                self.close_connection = True
                body = jdump(error_body(400, "Request is invalid or incorrect", self.path.split("?")[0]))
                head = ("HTTP/1.1 400 Bad Request\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                        "Date: %s\r\nConnection: close\r\n\r\n" % (ERROR_JSON, len(body), http_date(time.time())))
                self.wfile.write(head.encode("latin-1") + body)
                app.reqlog.write({"ts": round(time.time(), 3), "conn": self.conn_id, "method": "POST",
                                  "path": self.path.split("?")[0], "query": "", "status": 400,
                                  "bytes": len(body), "req_bytes": 0, "duration_ms": 0.0,
                                  "user": None, "range": None, "authorization": False,
                                  "xsrf_token": False, "if_none_match": None,
                                  "content_type": self.headers.get("Content-Type"),
                                  "fault": None, "note": "expect-100 refused"})
                return False
        return super().handle_expect_100()

    # ---- dispatch
    def do_GET(self):
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_GET

    def base_url(self):
        h = self.headers
        proto = (h.get("X-Forwarded-Proto") or "http").split(",")[0].strip()
        host = (h.get("X-Forwarded-Host") or h.get("Host") or
                "127.0.0.1:%d" % self.server.server_address[1]).split(",")[0].strip()
        port = h.get("X-Forwarded-Port")
        if port and h.get("X-Forwarded-Host") and ":" not in host:
            port = port.strip()
            if not ((proto == "http" and port == "80") or (proto == "https" and port == "443")):
                host += ":" + port
        prefix = (h.get("X-Forwarded-Prefix") or "").strip().rstrip("/")
        return "%s://%s%s/server" % (proto, host, prefix)

    def dispatch(self):
        app = self.server.app
        cfg = app.cfg
        t0 = time.monotonic()
        self._reader = None
        self._sent = 0
        self._pace_t0 = None
        self._pace_bytes = 0
        self._pace_off = False
        method = self.command
        target = self.path
        if "://" in target.split("?")[0]:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, query = target.partition("?")
        path = urllib.parse.unquote(raw_path)
        if path.startswith("/fake-control"):
            self._pace_off = True
            return self.control(path, query)
        if self.proxy_redirect(path, query):
            return
        fault = app.faults.pick(method, target)
        ctx = None
        status = 0
        try:
            if fault is not None and fault.kind == "reset":
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            base = self.base_url()
            api_path = path[len("/server/api"):] if (path == "/server/api" or
                                                     path.startswith("/server/api/")) else None
            ctx = Ctx(app, self, method, api_path if api_path is not None else path, query, base)
            if fault is not None and fault.kind == "status":
                e = ApiError(fault.arg, "Injected fault")
                if fault.retry_after:
                    e.headers.append(("Retry-After", fault.retry_after))
                resp = app.error_resp(ctx, e)
            elif fault is not None and fault.kind == "csrf-rotate":
                # the client's token no longer matches (another login
                # rotated it): 403 with a new token, nothing done (§3.4)
                app.authn.rotate_csrf(ctx)
                resp = app.error_resp(ctx, ApiError(403, "Access is denied. Invalid CSRF token."))
            elif method == "OPTIONS":
                resp = app.preflight(ctx)
            elif api_path is None:
                resp = app.error_resp(ctx, ApiError(404, "No message available"))
            else:
                try:
                    resp = app.handle(ctx)
                except ApiError as e:
                    resp = app.error_resp(ctx, e)
                except (ConnectionError, TimeoutError):
                    raise
                except Exception:
                    traceback.print_exc()
                    resp = app.error_resp(ctx, ApiError(500))
            self.drain_body()
            if cfg.latency_ms:
                STOP.wait(cfg.latency_ms / 1000.0)
            status = resp.status
            self.send(resp, ctx, fault)
        finally:
            h = self.headers
            rec = {"ts": round(time.time(), 3), "conn": self.conn_id, "method": method,
                   "path": raw_path, "query": query, "status": status, "bytes": self._sent,
                   "req_bytes": self._reader.total if self._reader else 0,
                   "duration_ms": round((time.monotonic() - t0) * 1000, 1),
                   "user": (ctx.user["email"] if ctx and ctx.user else "anonymous"),
                   "range": h.get("Range"), "authorization": h.get("Authorization") is not None,
                   "xsrf_token": h.get(CSRF_HEADER_IN) is not None,
                   "if_none_match": h.get("If-None-Match"), "content_type": h.get("Content-Type"),
                   "fault": fault.kind if fault else None}
            app.reqlog.write(rec)

    def proxy_redirect(self, path, query):
        """--redirect FROM=TO: a reverse proxy's 301 (not DSpace's own), so
        that a client's hint for a redirected URL can be tested."""
        for frm, to in self.server.app.cfg.redirect:
            if not (path == frm or path.startswith(frm + "/")) or path.startswith(to):
                continue
            origin = self.base_url()[:-len("/server")]
            loc = origin + to + path[len(frm):] + ("?" + query if query else "")
            self.drain_body()
            self.send_response(301)
            self.send_header("Location", loc)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return True
        return False

    def send(self, resp, ctx, fault):
        app = self.server.app
        status = resp.status
        headers = list(resp.headers)
        body = resp.body or b""
        if fault is not None and resp.is_json:
            if fault.kind == "malformed-json" and 200 <= status < 300:
                body = garble_json(body)
            elif fault.kind == "bad-checksum":
                body = corrupt_checksum(body)
        if resp.ctype:
            headers.insert(0, ("Content-Type", resp.ctype))
        headers += app.extra_headers(ctx, resp)
        pieces = None
        if resp.file:
            length = resp.file[2]
        elif resp.ranges:
            path, ranges, boundary, ctype, total = resp.ranges
            pieces = []
            length = 0
            for s, e in ranges:
                pre = ("\r\n--%s\r\nContent-Type: %s\r\nContent-Range: bytes %d-%d/%d\r\n\r\n"
                       % (boundary, ctype, s, e, total)).encode("latin-1")
                pieces.append((pre, s, e - s + 1))
                length += len(pre) + e - s + 1
            tail = ("\r\n--%s--" % boundary).encode("latin-1")
            length += len(tail)
        else:
            length = len(body)
        no_body = status in (204, 304) or status < 200
        if not no_body:
            headers.append(("Content-Length", str(length)))
        headers.append(("Date", http_date(time.time())))
        if self.close_connection:
            headers.append(("Connection", "close"))
        reason = STATUS_TEXT.get(status, "Unknown")
        head = ("HTTP/1.1 %d %s\r\n" % (status, reason) + "".join(
            "%s: %s\r\n" % (k, header_safe(v)) for k, v in headers) + "\r\n").encode("utf-8")
        send_body = not (no_body or self.command == "HEAD")
        limit = None
        if fault is not None and fault.kind == "drop-after":
            limit = fault.arg
        if fault is not None and fault.kind == "stall":
            self.wfile.write(head)
            head = b""
            STOP.wait(fault.arg)
        if not send_body:
            self.wfile.write(head)
        elif resp.file or pieces is not None:
            self.wfile.write(head)
            with open(resp.file[0] if resp.file else resp.ranges[0], "rb") as f:
                if resp.file:
                    segs = [(b"", resp.file[1], resp.file[2])]
                else:
                    segs = pieces + [(tail, 0, 0)]
                for pre, off, cnt in segs:
                    if pre:
                        pre = pre if limit is None else pre[:max(0, limit - self._sent)]
                        self.wfile.write(pre)
                        self._sent += len(pre)
                    if limit is not None:
                        cnt = max(0, min(cnt, limit - self._sent))
                    if cnt:
                        self._sent += self.send_file(f, off, cnt)
                    if limit is not None and self._sent >= limit:
                        break
        else:
            if limit is not None:
                body = body[:limit]
            self.write_paced(head, body)
            self._sent += len(body)
        if limit is not None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- --conn-rate: one TCP stream's ceiling on a long-distance link. Every
    # response body leaves this connection at most at conn_rate bytes/s (paced
    # from its first byte, so an idle keep-alive connection earns no burst);
    # headers and request bodies are not paced. 0: no cap.
    def pace(self, nbytes):
        rate = getattr(self.server.app.cfg, "conn_rate", 0)
        if not rate:
            return
        self._pace_bytes += nbytes
        ahead = self._pace_t0 + self._pace_bytes / rate - time.monotonic()
        if ahead > 0:
            STOP.wait(ahead)

    def pace_chunk(self):
        rate = getattr(self.server.app.cfg, "conn_rate", 0)
        if self._pace_off or not rate:
            return None
        if self._pace_t0 is None:
            self._pace_t0 = time.monotonic()
        return max(4096, min(CHUNK, rate // 50))

    def send_file(self, f, off, cnt):
        step = self.pace_chunk()
        if step is None:
            return self.connection.sendfile(f, off, cnt)
        sent = 0
        while sent < cnt:
            n = self.connection.sendfile(f, off + sent, min(step, cnt - sent))
            if n <= 0:
                break
            sent += n
            self.pace(n)
        return sent

    def write_paced(self, head, body):
        step = self.pace_chunk()
        if step is None:
            self.wfile.write(head + body)
            return
        self.wfile.write(head)
        for i in range(0, len(body), step):
            self.wfile.write(body[i:i + step])
            self.pace(len(body[i:i + step]))

    # ---- control endpoint (outside the API; never logged, delayed or faulted): control.py
    def control(self, path, query):
        self.send(self.server.app.control.handle(self, path[len("/fake-control"):], query), None, None)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    request_queue_size = 128

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, OSError)):
            return
        traceback.print_exc()
