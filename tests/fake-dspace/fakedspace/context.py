"""Per-request objects: the projection (embed=, embed.size=, projection=full),
the request context Ctx, the response Resp, HAL page helpers, and Part, the
base class of the App's collaborators."""

import json
import math
import urllib.parse

from .common import (ApiError, DEFAULT_PAGE_SIZE, FULL_PROJECTION_MAX, HAL_JSON, MAX_PAGE_SIZE,
                     WWW_AUTH, jdump, q_enc, unprocessable)


# ------------------------------------------------------------------ projections

class Projection:
    """EmbedRelsProjection (+ FullProjection): which links get embedded."""

    def __init__(self, embeds=(), sizes=(), full=False):
        self.embeds = set(embeds)
        self.sizes = {}
        for s in sizes:
            if "=" in s:
                k, v = s.split("=", 1)
                try:
                    self.sizes[k] = int(v)
                except ValueError:
                    self.sizes[k] = 0       # NumberUtils.toInt(x, 0)
        self.full = full
        self.active = bool(self.embeds) or full

    def allow(self, level, path, rel):
        if self.full and level < FULL_PROJECTION_MAX:
            return True
        if not self.embeds:
            return False
        if level == 0 and rel in self.embeds:
            return True
        name = "/".join(path + (rel,))
        if name in self.embeds:
            return True
        prefix = name + "/"
        return any(e.startswith(prefix) for e in self.embeds)

    def page_size(self, level, path, rel):
        size = None
        if level == 0 and rel in self.sizes:
            size = self.sizes[rel]
        else:
            size = self.sizes.get("/".join(path + (rel,)))
        return size if size and size > 0 else DEFAULT_PAGE_SIZE


NO_PROJECTION = Projection()


# ------------------------------------------------------------------ request context

PLURAL = {"community": "communities", "collection": "collections", "item": "items",
          "bundle": "bundles", "bitstream": "bitstreams"}


class Ctx:
    """One request as the application sees it."""

    def __init__(self, app, handler, method, path, query, base):
        self.app = app
        self.h = handler
        self.method = method
        self.path = path                  # below /server/api, e.g. /core/items/<uuid>
        self.query = query                # raw (still encoded) query string
        self.params = urllib.parse.parse_qsl(query, keep_blank_values=True)
        self.base = base                  # scheme://host/server
        self.api = base + "/api"
        self.version = app.cfg.dspace_version
        self.user = None
        self.csrf = None                  # ("new"|"rotate"|"resave", token)
        self.proj = NO_PROJECTION

    def param(self, name, default=None):
        for k, v in self.params:
            if k == name:
                return v
        return default

    def params_all(self, name, split=False):
        out = []
        for k, v in self.params:
            if k == name:
                out += [x.strip() for x in v.split(",")] if split else [v]
        return [x for x in out if x != ""] if split else out

    def header(self, name):
        return self.h.headers.get(name)

    def cookie(self, name):
        for raw in self.h.headers.get_all("Cookie") or []:
            for part in raw.split(";"):
                k, _, v = part.strip().partition("=")
                if k == name:
                    return v
        return None

    def body(self, limit=64 << 20):
        return self.h.read_body(limit)

    def json_body(self):
        raw = self.body()
        try:
            return json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise unprocessable()

    def url(self):
        return self.api + self.path + ("?" + self.query if self.query else "")

    def pageable(self):
        """Spring's PageableHandlerMethodArgumentResolver: default 20, max 1000,
        size < 1 or junk -> 20, negative or junk page -> 0."""
        def num(v):
            try:
                return int(v)
            except (TypeError, ValueError):
                return 0
        size = self.param("size")
        size = num(size) if size not in (None, "") else DEFAULT_PAGE_SIZE
        if size < 1:
            size = DEFAULT_PAGE_SIZE
        size = min(size, MAX_PAGE_SIZE)
        page = max(num(self.param("page")), 0)
        return page, size

    def deny(self):
        if self.user is None:
            return ApiError(401, "Authentication is required", headers=[("WWW-Authenticate", WWW_AUTH)])
        return ApiError(403, "Access is denied")


class Resp:
    def __init__(self, status=200, body=b"", ctype=None, headers=None, file=None, ranges=None,
                 is_json=False):
        self.status = status
        self.body = body
        self.ctype = ctype
        self.headers = headers or []
        self.file = file              # (path, offset, length)
        self.ranges = ranges          # multipart/byteranges: (path, [(start, end)], boundary, ctype, total)
        self.is_json = is_json


def json_resp(obj, status=200, headers=None):
    return Resp(status, jdump(obj), HAL_JSON, headers, is_json=True)


def with_params(href, replace):
    """href with query parameters replaced (removed, then appended in order)."""
    base, _, q = href.partition("?")
    params = urllib.parse.parse_qsl(q, keep_blank_values=True)
    names = {k for k, _ in replace}
    params = [(k, v) for k, v in params if k not in names] + list(replace)
    if not params:
        return base
    return base + "?" + "&".join(q_enc(k) + "=" + q_enc(v) for k, v in params)


def embedded_page(self_href, rel, content, number, size, total, sort=None):
    """SW/model/hateoas/EmbeddedPage(+Header): a page with its own links."""
    offset = number * size
    if content and offset + size > total:      # PageImpl's total correction
        total = offset + len(content)
    pages = int(math.ceil(total / size)) if size else 1
    has_prev = number > 0
    has_next = number + 1 < pages

    def mk(page):
        rep = []
        if sort:
            rep.append(("sort", sort))
        if page is not None:
            rep.append(("page", str(page)))
        if size != DEFAULT_PAGE_SIZE:
            rep.append(("size", str(size)))
        return {"href": with_params(self_href, rep)}
    links = {}
    if has_prev:
        links["first"] = mk(0)
        links["self"] = mk(number)
    else:
        links["self"] = mk(None)
    if has_next:
        links["last"] = mk(pages - 1)
    if has_prev:
        links["prev"] = mk(number - 1)
    if has_next:
        links["next"] = mk(number + 1)
    return {"_embedded": {rel: content}, "_links": links,
            "page": {"number": number, "size": size if size else total,
                     "totalPages": pages, "totalElements": total}}


def split_sort(value):
    """'field,dir' -> (field, 'ASC'|'DESC'); raises on a bad direction."""
    field, _, d = value.partition(",")
    d = d.strip().upper() or "ASC"
    if d not in ("ASC", "DESC"):
        raise ApiError(400, "Request is invalid or incorrect")
    return field.strip(), d


def sort_key_text(s):
    return (s or "").casefold()


def streams(fn):
    """Mark a handler that reads a (large) body itself before taking the
    repository lock (App.handle runs the others under the lock)."""
    fn.streams = True
    return fn


class Part:
    """One concern of the App; it reaches the shared state and the other parts through the app."""

    def __init__(self, app):
        self.app = app
        self.cfg = app.cfg
        self.repo = app.repo
        self.auth = app.auth

    # the parts other parts call (App.__init__ creates them all)
    hal = property(lambda self: self.app.hal)
    core = property(lambda self: self.app.core)
    writes = property(lambda self: self.app.writes)
