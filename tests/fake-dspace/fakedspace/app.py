"""The application: the route table, request handling (CORS, token and CSRF
filters, projection, locking) and response decoration (errors, CSRF cookie,
CORS and security headers)."""

import re
import threading
import urllib.parse

from .auth import Authn
from .common import (ApiError, CSRF_COOKIE, CSRF_HEADER_OUT, ERROR_JSON, STATUS_TEXT, UUID_RE,
                     error_body, jdump)
from .content import Content
from .context import Projection, Resp
from .control import Control
from .core import Core
from .discovery import Discovery
from .hal import Hal
from .submission import Submission
from .writes import Writes


class App:
    """Routes a request to the part that answers it; decorates the response."""

    def __init__(self, cfg, repo, auth, faults):
        self.cfg = cfg
        self.repo = repo
        self.auth = auth
        self.faults = faults
        self.stats_lock = threading.Lock()
        self.requests = {}
        self.connections = 0
        self.hal = Hal(self)              # the parts; each one reaches the others through self
        self.authn = Authn(self)
        self.core = Core(self)
        self.discovery = Discovery(self)
        self.content = Content(self)
        self.writes = Writes(self)
        self.control = Control(self)
        self.submission = Submission(self)
        S = self.submission
        N = r"(?P<id>[^/]+)"
        U = "(?P<uuid>" + UUID_RE + ")"
        R = [
            (("GET",), r"/?", self.core.root),
            (("GET",), r"/authn", self.authn.authn_root),
            (None, r"/authn/login", self.authn.authn_login),
            (None, r"/authn/logout", self.authn.authn_logout),
            (("GET",), r"/authn/status", self.authn.authn_status),
            (("GET",), r"/authn/status/specialGroups", self.authn.authn_special_groups),
            (("POST",), r"/authn/shortlivedtokens", self.authn.authn_shortlived),
            (None, r"/security/csrf", self.authn.security_csrf),
            (("GET",), r"/authz/authorizations/search/object", self.core.authz_by_object),
            (("GET",), r"/core/communities/?", self.core.list_communities),
            (("GET",), r"/core/communities/search", self.core.community_search_methods),
            (("GET",), r"/core/communities/search/top", self.core.top_communities),
            (("GET",), r"/core/collections/?", self.core.list_collections),
            (("GET",), r"/core/collections/search", self.core.collection_search_methods),
            (("GET",), r"/core/collections/search/findSubmitAuthorized", self.core.submit_collections),
            (("GET", "POST"), r"/core/items/?", self.core.items_root),
            (("GET", "PATCH"), r"/core/bitstreams/?", self.core.bitstreams_root),
            (("GET",), r"/core/bitstreams/search", self.core.bitstream_search_methods),
            (("GET",), r"/core/bitstreams/search/byItemHandle", self.core.by_item_handle),
            (("GET", "POST", "PUT", "PATCH", "DELETE"), r"/core/bundles/?", self.core.bundles_root),
            (("GET", "HEAD"), r"/core/bitstreams/" + U + r"/content", self.content.content),
            (("PUT",), r"/core/bitstreams/" + U + r"/content", self.writes.replace_content),
            (("GET", "PUT"), r"/core/bitstreams/" + U + r"/format", self.writes.bitstream_format),
            (("GET", "PUT"), r"/core/bitstreams/" + U + r"/bundle", self.writes.bitstream_bundle),
            (("POST",), r"/core/items/" + U + r"/bundles", self.writes.create_bundle),
            (("POST",), r"/core/bundles/" + U + r"/bitstreams", self.writes.upload),
            (("GET", "PATCH", "DELETE"),
             r"/core/(?P<model>communities|collections|items|bundles|bitstreams)/" + U, self.core.dso),
            (("GET",), r"/core/(?P<model>communities|collections|items|bundles|bitstreams)/" + U
             + r"/(?P<rel>[A-Za-z]+)", self.core.dso_rel),
            (("GET",), r"/core/bitstreamformats/?", self.core.list_formats),
            (("GET",), r"/core/bitstreamformats/(?P<id>[^/]+)", self.core.one_format),
            (("GET",), r"/discover", self.discovery.discover_root),
            (("GET",), r"/discover/search", self.discovery.search_config),
            (("GET",), r"/discover/search/objects", self.discovery.search_objects),
            (("GET",), r"/discover/browses/?", self.discovery.list_browses),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)", self.discovery.one_browse),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)/items", self.discovery.browse_items),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)/entries", self.discovery.browse_entries),
            (("GET",), r"/pid/find", self.core.pid_find),
            (("GET",), r"/dso/find", self.core.dso_find),
            (("GET",), r"/eperson/epersons/" + U, self.authn.eperson),
            (("GET", "POST"), r"/submission/workspaceitems/?", S.workspaceitems),
            (("GET",), r"/submission/workspaceitems/search", S.ws_search),
            (("GET",), r"/submission/workspaceitems/search/(?P<name>findBySubmitter|item)", S.ws_search),
            (("GET", "POST", "PATCH", "DELETE"), r"/submission/workspaceitems/" + N, S.workspaceitem),
            (("GET",), r"/submission/workspaceitems/" + N + r"/(?P<rel>[A-Za-z]+)",
             lambda ctx, id, rel: S.rel(ctx, "workspace", id, rel)),
            (("GET", "POST"), r"/workflow/workflowitems/?", S.workflowitems),
            (("GET",), r"/workflow/workflowitems/search", S.wf_search),
            (("GET",), r"/workflow/workflowitems/search/(?P<name>findBySubmitter|item)", S.wf_search),
            (("GET",), r"/workflow/workflowitems/" + N, S.workflowitem),
            (("GET",), r"/workflow/workflowitems/" + N + r"/(?P<rel>[A-Za-z]+)",
             lambda ctx, id, rel: S.rel(ctx, "workflow", id, rel)),
            (("GET",), r"/config/submissiondefinitions/?", S.definitions),
            (("GET",), r"/config/submissiondefinitions/search/findByCollection",
             S.definition_by_collection),
            (("GET",), r"/config/submissiondefinitions/(?P<name>[^/]+)", S.definitions),
            (("GET",), r"/config/submissiondefinitions/(?P<name>[^/]+)/(?P<rel>[A-Za-z]+)",
             S.definitions),
            (("GET",), r"/config/submissionforms/(?P<name>[^/]+)", S.form),
        ]
        self.routes = [(m, re.compile(p + r"\Z"), fn,
                        re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p).replace("/?", "") or "/")
                       for m, p, fn in R]

    # -------------------------------------------------------------- entry point
    def handle(self, ctx):
        origin = ctx.header("Origin")
        if origin and origin.rstrip("/") not in self.allowed_origins(ctx):
            return Resp(403, b"Invalid CORS request", "text/plain;charset=UTF-8")
        self.authn.authenticate(ctx)
        self.authn.check_csrf(ctx)
        fn, kw = self.route(ctx)
        emb = ctx.params_all("embed", split=True)
        projs = ctx.params_all("projection", split=True)
        for p in projs:
            if p not in ("full", "default"):
                raise ApiError(400, "Request is invalid or incorrect")
        if emb or "full" in projs:
            ctx.proj = Projection(emb, ctx.params_all("embed.size", split=True), "full" in projs)
        if getattr(fn, "streams", False):  # streams the body first, then takes the lock itself
            return fn(ctx, **kw)
        with self.repo.lock:              # a consistent view; content is sent after release
            return fn(ctx, **kw)

    def allowed_origins(self, ctx):
        own = ctx.base[:-len("/server")]
        return set(self.cfg.allow_origin) | {own}

    def route(self, ctx):
        path = ctx.path
        method = "GET" if ctx.method == "HEAD" else ctx.method
        allowed = False
        for methods, rx, fn, name in self.routes:
            m = rx.match(path)
            if not m:
                continue
            if methods is None or method in methods or (ctx.method == "HEAD" and "HEAD" in methods):
                kw = m.groupdict()
                if "uuid" in kw:
                    kw["uuid"] = kw["uuid"].lower()
                key = ctx.method + " " + name
                with self.stats_lock:
                    self.requests[key] = self.requests.get(key, 0) + 1
                return fn, kw
            allowed = True
        if allowed:
            raise ApiError(405, "Request method '%s' is not supported" % ctx.method, kind="spring")
        raise ApiError(404, "No message available")

    # -------------------------------------------------------------- response decoration
    def error_resp(self, ctx, e):
        """Render an ApiError the way the real stack would."""
        headers = list(e.headers)
        if e.kind == "empty":
            return Resp(e.status, b"", None, headers)
        if e.kind == "text":
            return Resp(e.status, e.message.encode("utf-8"), "text/plain;charset=UTF-8", headers)
        path = urllib.parse.unquote(ctx.h.path.split("?")[0]) if ctx else ""
        if e.kind == "spring":
            if self.cfg.dspace_version.startswith("7"):
                return Resp(e.status, b"", None, headers)
            body = {"type": "about:blank", "title": STATUS_TEXT.get(e.status, "Error"),
                    "status": e.status, "detail": e.message, "instance": path}
            return Resp(e.status, jdump(body), "application/problem+json", headers)
        return Resp(e.status, jdump(error_body(e.status, e.message, path)), ERROR_JSON, headers)

    def extra_headers(self, ctx, resp):
        """CSRF token, CORS and Spring Security headers added on the way out."""
        out = []
        if ctx is None:
            return out
        if ctx.csrf:
            kind, tok = ctx.csrf
            secure = ctx.base.startswith("https:")
            attrs = "; Path=/server%s; HttpOnly; SameSite=%s" % ("; Secure" if secure else "",
                                                                  "None" if secure else "Lax")
            if kind == "rotate":
                out.append(("Set-Cookie", CSRF_COOKIE + "=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:10 GMT"
                            + attrs))
            out.append(("Set-Cookie", CSRF_COOKIE + "=" + tok + attrs))
            out.append((CSRF_HEADER_OUT, tok))
        origin = ctx.header("Origin")
        if origin and resp.status != 403:
            out += [("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"),
                    ("Access-Control-Expose-Headers", "Content-Disposition, Location, WWW-Authenticate, "
                     "Authorization, Expires, DSPACE-XSRF-TOKEN, Accept-Ranges")]
        out += [("Vary", "Origin"), ("Vary", "Access-Control-Request-Method"),
                ("Vary", "Access-Control-Request-Headers"), ("X-Content-Type-Options", "nosniff"),
                ("X-XSS-Protection", "1; mode=block" if ctx.version.startswith("7") else "0"),
                ("X-Frame-Options", "DENY")]
        if not any(k in ("Cache-Control", "Expires") for k, _ in resp.headers):
            out += [("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate"),
                    ("Pragma", "no-cache"), ("Expires", "0")]
        return out

    def preflight(self, ctx):
        origin = ctx.header("Origin")
        if not origin:
            return Resp(200, b"", None, [("Allow", "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS")])
        if origin.rstrip("/") not in self.allowed_origins(ctx):
            return Resp(403, b"Invalid CORS request", "text/plain;charset=UTF-8")
        return Resp(200, b"", None, [
            ("Access-Control-Allow-Origin", origin), ("Access-Control-Allow-Credentials", "true"),
            ("Access-Control-Allow-Methods", "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS"),
            ("Access-Control-Allow-Headers", ctx.header("Access-Control-Request-Headers") or "*"),
            ("Access-Control-Max-Age", "1800")])
