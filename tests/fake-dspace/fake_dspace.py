#!/usr/bin/env python3
"""fake_dspace.py -- a DSpace 7/8/9 REST ("Server API") stand-in for tests.

Python 3 standard library only.  Behaviour follows
/work/shared/dspace-rest-contract.md (see tests/fake-dspace/README.md for
usage, fixtures, test controls and a map of behaviours to contract
sections and DSpace source files).

    python3 fake_dspace.py --port 0 --port-file FILE --state DIR [options]
"""

import argparse
import base64
import email.utils
import hashlib
import hmac
import io
import json
import math
import os
import queue
import random
import re
import signal
import socket
import struct
import sys
import tempfile
import threading
import time
import traceback
import unicodedata
import urllib.parse
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True      # the source tree may be read-only (make distcheck)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures  # noqa: E402

# ------------------------------------------------------------------ constants

UUID_RE = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
HAL_JSON = "application/hal+json;charset=UTF-8"
ERROR_JSON = "application/json;charset=UTF-8"   # Spring Boot's error controller writes a Map
DEFAULT_PAGE_SIZE = 20          # SW/utils/Utils.java DEFAULT_PAGE_SIZE
MAX_PAGE_SIZE = 1000            # Spring Data REST maxPageSize
EMBED_MAX_LEVELS = 10           # SW/utils/Utils.java EMBED_MAX_LEVELS
FULL_PROJECTION_MAX = 2         # rest.projections.full.max
WWW_AUTH = 'password realm="DSpace REST API"'
CSRF_COOKIE = "DSPACE-XSRF-COOKIE"
CSRF_HEADER_OUT = "DSPACE-XSRF-TOKEN"
CSRF_HEADER_IN = "X-XSRF-TOKEN"
SHORT_TOKEN_LIFETIME = 2        # jwt.shortLived.token.expiration = 2000 ms
INLINE_FORMATS = ("application/pdf", "image/gif", "image/jpeg", "image/png", "audio/mpeg",
                  "video/mpeg", "video/mp4")     # webui.content_disposition_inline
INLINE_THRESHOLD = 8388608      # webui.content_disposition_threshold
BANNED_INLINE = ("text/html", "text/javascript", "text/xml", "application/xml", "+xml")
CHUNK = 1 << 20
SYNC_DUMP_MAX = 5000            # objects; bigger states dump fixture.json in the background
HIDDEN_FIELDS = ("dc.description.provenance",)   # metadata.hide.* (admins only)
DEFAULT_ORIGINS = ("http://localhost:4000",)     # rest.cors.allowed-origins = ${dspace.ui.url}

VERSIONS = {"7.6": "DSpace 7.6", "8.1": "DSpace 8.1", "9.1": "DSpace 9.1"}

# Registry rows from dspace/config/registries/bitstream-formats.xml (ids follow
# the load order of that file): id, short description, MIME type, support
# level (0 unknown, 1 known, 2 supported), internal, extensions.
FORMATS = [
    (1, "Unknown", "application/octet-stream", 0, False, []),
    (2, "License", "text/plain; charset=utf-8", 1, True, []),
    (3, "CC License", "text/html; charset=utf-8", 1, True, []),
    (4, "Adobe PDF", "application/pdf", 1, False, ["pdf"]),
    (5, "XML", "text/xml", 1, False, ["xml"]),
    (6, "Text", "text/plain", 1, False, ["txt", "asc"]),
    (7, "HTML", "text/html", 1, False, ["htm", "html"]),
    (8, "CSS", "text/css", 1, False, ["css"]),
    (9, "CSV", "text/csv", 1, False, ["csv"]),
    (11, "Microsoft Word", "application/msword", 1, False, ["doc"]),
    (12, "Microsoft Word XML",
     "application/vnd.openxmlformats-officedocument.wordprocessingml.document", 1, False, ["docx"]),
    (15, "Microsoft Excel", "application/vnd.ms-excel", 1, False, ["xls"]),
    (16, "Microsoft Excel XML",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 1, False, ["xlsx"]),
    (18, "JPEG", "image/jpeg", 1, False, ["jpeg", "jpg", "jfif"]),
    (19, "GIF", "image/gif", 1, False, ["gif"]),
    (20, "PNG", "image/png", 1, False, ["png"]),
    (21, "TIFF", "image/tiff", 1, False, ["tiff", "tif"]),
    (26, "MPEG", "video/mpeg", 1, False, ["mpeg", "mpg", "mpe"]),
    (32, "Postscript", "application/postscript", 1, False, ["ps", "eps", "ai"]),
    (34, "Video MP4", "video/mp4", 1, False, ["mp4"]),
    (40, "LateX", "application/x-latex", 1, False, ["latex"]),
    (41, "TeX", "application/x-tex", 1, False, ["tex"]),
    (47, "OpenDocument Text", "application/vnd.oasis.opendocument.text", 1, False, ["odt"]),
    (55, "OpenDocument Spreadsheet", "application/vnd.oasis.opendocument.spreadsheet", 1, False,
     ["ods"]),
    (81, "RDF XML", "application/rdf+xml; charset=utf-8", 1, False, ["rdf"]),
    (82, "EPUB", "application/epub+zip", 1, False, ["epub"]),
    (84, "mp3", "audio/mpeg", 1, False, ["mp3"]),
    (85, "WebP", "image/webp", 1, False, ["webp"]),
    (87, "JavaScript", "text/javascript", 1, False, ["js"]),
]
FORMAT_BY_ID = {f[0]: f for f in FORMATS}
SUPPORT_LEVEL = {0: "UNKNOWN", 1: "KNOWN", 2: "SUPPORTED"}

# dspace/config/registries/dublin-core-types.xml (plus any dcterms.* field)
DC_FIELDS = set("""dc.contributor dc.contributor.advisor dc.contributor.author dc.contributor.editor
dc.contributor.illustrator dc.contributor.other dc.coverage.spatial dc.coverage.temporal dc.creator
dc.date dc.date.accessioned dc.date.available dc.date.copyright dc.date.created dc.date.issued
dc.date.submitted dc.identifier dc.identifier.citation dc.identifier.govdoc dc.identifier.isbn
dc.identifier.issn dc.identifier.sici dc.identifier.ismn dc.identifier.other dc.identifier.doi
dc.identifier.scopus dc.identifier.uri dc.description dc.description.abstract
dc.description.provenance dc.description.sponsorship dc.description.statementofresponsibility
dc.description.tableofcontents dc.description.uri dc.format dc.format.extent dc.format.medium
dc.format.mimetype dc.language dc.language.iso dc.publisher dc.relation dc.relation.isformatof
dc.relation.ispartof dc.relation.ispartofseries dc.relation.haspart dc.relation.isversionof
dc.relation.hasversion dc.relation.isbasedon dc.relation.isreferencedby dc.relation.requires
dc.relation.replaces dc.relation.isreplacedby dc.relation.uri dc.rights dc.rights.uri dc.source
dc.source.uri dc.subject dc.subject.classification dc.subject.ddc dc.subject.lcc dc.subject.lcsh
dc.subject.mesh dc.subject.other dc.title dc.title.alternative dc.type dc.provenance
dc.rights.license dc.identifier.openalex dspace.entity.type""".split())

# Discovery sort fields of the stock "default" configuration
SORT_FIELDS = {"score": None, "dc.title": "dc.title", "dc.date.issued": "dc.date.issued",
               "dc.date.accessioned": "dc.date.accessioned"}
# Discovery filters (f.<name>) -> metadata fields
SEARCH_FILTERS = {"title": ("dc.title",), "author": ("dc.contributor.author", "dc.creator"),
                  "subject": ("dc.subject",), "dateIssued": ("dc.date.issued",),
                  "itemtype": ("dc.type",)}
BROWSES = {
    "title": {"browseType": "flatBrowse", "dataType": "title", "metadata": ["dc.title"],
              "order": "ASC", "sort": "dc.title"},
    "dateissued": {"browseType": "flatBrowse", "dataType": "date", "metadata": ["dc.date.issued"],
                   "order": "ASC", "sort": "dc.date.issued"},
    "author": {"browseType": "valueList", "dataType": "text",
               "metadata": ["dc.contributor.*", "dc.creator"], "order": "ASC",
               "fields": ("dc.contributor.author", "dc.contributor.editor", "dc.creator")},
    "subject": {"browseType": "valueList", "dataType": "text", "metadata": ["dc.subject.*"],
                "order": "ASC", "fields": ("dc.subject",)},
}
BROWSE_SORT_OPTIONS = [{"name": "title", "metadata": "dc.title"},
                       {"name": "dateissued", "metadata": "dc.date.issued"},
                       {"name": "dateaccessioned", "metadata": "dc.date.accessioned"}]

STATUS_TEXT = {200: "OK", 201: "Created", 204: "No Content", 206: "Partial Content",
               302: "Found", 304: "Not Modified", 400: "Bad Request", 401: "Unauthorized",
               403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
               406: "Not Acceptable", 409: "Conflict", 412: "Precondition Failed",
               413: "Payload Too Large", 415: "Unsupported Media Type",
               416: "Requested Range Not Satisfiable", 422: "Unprocessable Entity",
               429: "Too Many Requests", 500: "Internal Server Error", 501: "Not Implemented",
               502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}

CONFIG_KEYS = {"latency_ms": int, "no_range": bool, "csrf": str, "jwt_lifetime": int,
               "jwt_skew": int, "discovery_cap": int, "upload_max": int}

STOP = threading.Event()        # set on shutdown; every wait in here watches it


# ------------------------------------------------------------------ helpers

def now_ms():
    return int(time.time() * 1000)


def iso_to_ms(s):
    """Parse the stored ISO form (YYYY-mm-ddTHH:MM:SS.mmmZ)."""
    base = time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S")
    ms = int(s[20:23]) if len(s) > 20 and s[19] == "." else 0
    return (int(_timegm(base)) * 1000) + ms


def _timegm(tm):
    import calendar
    return calendar.timegm(tm)


def java_date(ms, version):
    """Item lastModified as Jackson writes it: java.util.Date on 7.x/8.x,
    java.time.Instant on 9.x (SW/model/ItemRest.java)."""
    s = fixtures.iso_millis(ms)
    if version.startswith("9"):
        return s
    return s[:-1] + "+00:00"


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


def jdump(obj):
    # surrogateescape: a lone "\udcXX" (hostile bad-utf8) goes out as the raw byte XX
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")


# ------------------------------------------------------------------ hostile objects
# Damaged data a broken or proxied repository can send (issue 7's adversarial round, not
# stock DSpace behaviour): set per object UUID with POST /fake-control/hostile {"<uuid>": KIND},
# cleared with DELETE. Applied to every JSON view of the object (lists, discovery, GET).
HOSTILE = {}
HOSTILE_KINDS = ("nul", "bad-utf8", "size-negative", "size-missing", "size-huge")


def apply_hostile(d, kind):
    """Damages one rendered object in place."""
    if kind == "nul":
        d["name"] = d.get("name", "") + "\u0000x"
    elif kind == "bad-utf8":
        d["name"] = d.get("name", "") + "\udcff"      # raw 0xff byte on the wire (jdump)
    elif kind == "size-negative":
        d["sizeBytes"] = -1
    elif kind == "size-missing":
        d.pop("sizeBytes", None)
    elif kind == "size-huge":
        d["sizeBytes"] = 9223372036854775807


def q_enc(s):
    """Encode a query parameter value like Spring's UriComponentsBuilder."""
    return urllib.parse.quote(str(s), safe="!$'()*+,;:@/?-._~")


def java_urlencode(s):
    """java.net.URLEncoder.encode(s, UTF-8) with '+' -> '%20' (HttpHeadersInitializer)."""
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in ".-*_"):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def ascii_fallback(name):
    """HttpHeadersInitializer.createFallbackAsciiName: strip accents, drop non-ASCII."""
    nfd = unicodedata.normalize("NFD", name)
    no_marks = "".join(c for c in nfd if not unicodedata.combining(c))
    return "".join(c for c in no_marks if ord(c) < 128)


def header_safe(v):
    """Tomcat writes control characters in header values as spaces."""
    return "".join(" " if (ord(c) < 32 and c != "\t") or ord(c) == 127 else c for c in v)


def first_value(md, field):
    vals = md.get(field) or []
    return vals[0]["value"] if vals else None


class ApiError(Exception):
    """An error response.  kind: 'dspace' (Spring Boot error JSON),
    'spring' (Spring MVC: empty on 7.x, problem+json on 8/9), 'empty',
    'text' (plain text body = message)."""

    def __init__(self, status, message="An exception has occurred", kind="dspace", headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.headers = list(headers)


def not_found(msg="An exception has occurred"):
    return ApiError(404, msg)


def bad_request(msg="An exception has occurred"):
    return ApiError(400, msg)


def unprocessable():
    return ApiError(422, "Unprocessable or invalid entity")


# ------------------------------------------------------------------ faults

FAULT_KINDS = ("status", "drop-after", "malformed-json", "stall", "bad-checksum", "reset")


class Fault:
    """One --fault SPEC: kind plus filters (path=, method=, rate=, count=, skip=)."""

    def __init__(self, spec, index=0):
        self.spec = spec.strip()
        self.kind = None
        self.arg = None
        self.path = None
        self.method = None
        self.rate = 1.0
        self.count = None
        self.skip = 0
        self.retry_after = None
        self.seen = 0
        self.hits = 0
        seed = "fault:%d:%s" % (index, self.spec)
        for tok in self.spec.split(","):
            tok = tok.strip()
            if not tok:
                continue
            k, _, v = tok.partition("=")
            k = k.strip().lower()
            v = v.strip()
            if k in FAULT_KINDS:
                if self.kind:
                    raise ValueError("two fault kinds in %r" % spec)
                self.kind = k
                if k in ("status", "drop-after", "stall"):
                    if not v:
                        raise ValueError("%s needs a value in %r" % (k, spec))
                    self.arg = float(v) if k == "stall" else int(v)
            elif k == "path":
                self.path = v
            elif k == "method":
                self.method = v.upper()
            elif k == "rate":
                self.rate = float(v)
            elif k == "count":
                self.count = int(v)
            elif k == "skip":
                self.skip = int(v)
            elif k == "seed":
                seed = v
            elif k == "retry-after":
                self.retry_after = v
            else:
                raise ValueError("unknown fault key %r in %r" % (k, spec))
        if not self.kind:
            raise ValueError("no fault kind in %r (one of %s)" % (spec, ", ".join(FAULT_KINDS)))
        self.rng = random.Random(seed)

    def matches(self, method, target):
        if self.method and self.method != method:
            return False
        if self.path and self.path not in target:
            return False
        return True

    def fire(self):
        """Called for a matching request; decides (and records) whether it triggers."""
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.count is not None and self.hits >= self.count:
            return False
        if self.rate < 1.0 and self.rng.random() >= self.rate:
            return False
        self.hits += 1
        return True

    def describe(self):
        return {"spec": self.spec, "kind": self.kind, "arg": self.arg, "path": self.path,
                "method": self.method, "rate": self.rate, "count": self.count,
                "skip": self.skip, "seen": self.seen, "hits": self.hits}


class Faults:
    def __init__(self, specs=()):
        self.lock = threading.Lock()
        self.faults = []
        self.replace(specs)

    def replace(self, specs):
        new = [Fault(s, i) for i, s in enumerate(specs)]
        with self.lock:
            self.faults = new

    def add(self, specs):
        with self.lock:
            base = len(self.faults)
            self.faults += [Fault(s, base + i) for i, s in enumerate(specs)]

    def clear(self):
        with self.lock:
            self.faults = []

    def pick(self, method, target):
        if not self.faults:          # fast path: no lock when nothing is configured
            return None
        with self.lock:
            for f in self.faults:
                if f.matches(method, target) and f.fire():
                    return f
        return None

    def describe(self):
        with self.lock:
            return [f.describe() for f in self.faults]


# ------------------------------------------------------------------ auth (JWT)

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Auth:
    """HS256 JWS tokens signed with server secret + per-user session salt
    (SW/security/jwt/JWTTokenHandler.java): logout clears the salt, which
    revokes every token of that user; restart() changes the secret."""

    def __init__(self, users, lifetime, skew):
        self.lock = threading.Lock()
        self.users = users                 # uuid -> user dict
        self.lifetime = lifetime
        self.skew = skew
        self.secret = os.urandom(32)
        self.salts = {}

    def _key(self, uid, salt, short):
        return hashlib.sha256(self.secret + (b"short:" if short else b"login:")
                              + uid.encode() + b":" + salt.encode()).digest()

    def issue(self, user, short=False):
        with self.lock:
            salt = self.salts.get(user["uuid"])
            if salt is None:
                salt = self.salts[user["uuid"]] = uuidlib.uuid4().hex
            key = self._key(user["uuid"], salt, short)
        exp = int(time.time()) + (SHORT_TOKEN_LIFETIME if short else self.lifetime)
        claims = {"eid": user["uuid"], "sg": [], "authenticationMethod": "password", "exp": exp}
        signing_input = b64u(b'{"alg":"HS256"}') + "." + b64u(jdump(claims))
        sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64u(sig)

    def verify(self, token, short=False):
        """The user of a valid token, else None (never an error by itself)."""
        try:
            h, p, s = token.split(".")
            claims = json.loads(b64u_dec(p))
            user = self.users.get(claims.get("eid"))
            if user is None:
                return None
            with self.lock:
                salt = self.salts.get(user["uuid"])
                if salt is None:
                    return None
                key = self._key(user["uuid"], salt, short)
            good = hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(good, b64u_dec(s)):
                return None
            skew = 0 if short else self.skew
            if int(claims.get("exp", 0)) + skew <= time.time():
                return None
            return user
        except (ValueError, TypeError, AttributeError):
            return None

    def logout(self, user):
        with self.lock:
            self.salts.pop(user["uuid"], None)

    def restart(self):
        with self.lock:
            self.secret = os.urandom(32)
            self.salts.clear()


# ------------------------------------------------------------------ repository state

def guess_format(name):
    """BitstreamFormatService.guessFormat: by file extension, else Unknown (1)."""
    if name and "." in name:
        ext = name.rsplit(".", 1)[1].lower()
        for f in FORMATS:
            if ext in f[5] and not f[4]:
                return f[0]
    return 1


def is_admin(user):
    return bool(user and user.get("admin"))


class Denied(Exception):
    """Read/write permission missing (401 for anonymous, 403 when logged in)."""


class Repo:
    """All DSpace objects, kept in memory; content bytes live in STATE/content."""

    RELS = ("subcommunities", "collections", "items", "mappedItems", "bundles", "bitstreams")

    def __init__(self, fx, state_dir):
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.content_dir = os.path.join(state_dir, "content")
        self.tmp_dir = os.path.join(state_dir, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.fx_name = fx.get("name", "custom")
        self.prefix = fx.get("handlePrefix", fixtures.HANDLE_PREFIX)
        self.users = {u["uuid"]: u for u in fx["users"]}
        self.by_email = {u["email"].lower(): u for u in fx["users"]}
        self.obj = {}
        self.kids = {}
        self.top = []
        self.deleted = []
        self.handles = {}
        self.order = {}
        self.n = 0
        self.handle_max = 0
        self.gen = 0
        self.cache = {}
        self.downloads = {}
        self.dump_lock = threading.Lock()
        self.dumped_gen = -1
        self.dump_wanted = threading.Event()
        for o in fx["objects"]:
            self._load(dict(o))
        self.write_dump()
        # decided once: a background writer must never race a synchronous one
        self.async_dump = len(self.obj) > SYNC_DUMP_MAX
        if self.async_dump:
            threading.Thread(target=self._dump_loop, daemon=True).start()

    # -- loading and indexes
    def _kids(self, uuid, rel):
        k = self.kids.get(uuid)
        if k is None:
            k = self.kids[uuid] = {r: [] for r in self.RELS}
        return k[rel]

    def _load(self, o):
        o["uuid"] = o["uuid"].lower()
        t = o["type"]
        u = o["uuid"]
        o.setdefault("metadata", {})
        o["metadata"] = fixtures.expand_metadata(o["metadata"])
        parent = o.get("parent")
        if t == "community":
            (self.top if not parent else self._kids(parent, "subcommunities")).append(u)
        elif t == "collection":
            o.setdefault("submitters", [])
            self._kids(parent, "collections").append(u)
        elif t == "item":
            o.setdefault("mappedCollections", [])
            o.setdefault("inArchive", not o.get("withdrawn", False))
            o.setdefault("discoverable", True)
            o.setdefault("withdrawn", False)
            o.setdefault("restricted", False)
            o.setdefault("lastModified", fixtures.iso_millis(now_ms()))
            o["_seq"] = 0
            self._kids(parent, "items").append(u)
            for m in o["mappedCollections"]:
                self._kids(m, "mappedItems").append(u)
        elif t == "bundle":
            o.setdefault("primaryBitstream", None)
            self._kids(parent, "bundles").append(u)
        elif t == "bitstream":
            o.setdefault("restricted", False)
            o.setdefault("deleted", False)
            if "format" not in o:
                o["format"] = guess_format(first_value(o["metadata"], "dc.title"))
            bundle = self.obj.get(parent)
            item = self.obj.get(bundle["parent"]) if bundle else None
            if item is not None:          # None: a deleted bitstream whose bundle is gone
                if not o.get("sequenceId"):
                    o["sequenceId"] = item["_seq"] + 1
                item["_seq"] = max(item["_seq"], o["sequenceId"])
            if o["deleted"]:
                self.deleted.append(u)
            else:
                self._kids(parent, "bitstreams").append(u)
        else:
            raise ValueError("unknown object type %r" % t)
        h = o.get("handle")
        if h:
            self.handles[h] = u
            tail = h.rsplit("/", 1)[-1]
            if tail.isdigit():
                self.handle_max = max(self.handle_max, int(tail))
        self.n += 1
        self.order[u] = self.n
        self.obj[u] = o

    # -- lookups
    def get(self, uuid, typ=None):
        o = self.obj.get(uuid.lower()) if uuid else None
        if o is None or (typ and o["type"] != typ):
            return None
        return o

    def children(self, uuid, rel):
        k = self.kids.get(uuid)
        return [self.obj[x] for x in k[rel]] if k else []

    def name(self, o):
        return first_value(o["metadata"], "dc.title")

    def item_of(self, o):
        if o["type"] == "item":
            return o
        if o["type"] == "bundle":
            return self.obj[o["parent"]]
        if o["type"] == "bitstream":
            return self.obj[self.obj[o["parent"]]["parent"]]
        return None

    def containers(self, o):
        """Collections and communities an object lives in (discovery 'location')."""
        out = set()
        if o["type"] == "item":
            todo = [o["parent"]] + list(o["mappedCollections"])
        else:
            todo = [o.get("parent")]
        while todo:
            p = todo.pop()
            if p and p not in out:
                out.add(p)
                todo.append(self.obj[p].get("parent"))
        return out

    # -- permissions
    def can_read(self, o, user):
        t = o["type"]
        if t in ("community", "collection"):
            return True
        if t == "item":
            return is_admin(user) or not (o["restricted"] or o["withdrawn"])
        if t == "bundle":
            return self.can_read(self.obj[o["parent"]], user)
        if t == "bitstream":
            if o["deleted"]:
                return False
            return is_admin(user) or (not o["restricted"] and self.can_read(self.obj[o["parent"]], user))
        return False

    def can_read_metadata(self, o, user):
        """METADATA_READ: a bitstream's metadata (and so its place in listings) is
        readable with READ on its item and first bundle, even when its content is
        not (DS: SW/security/BitstreamMetadataReadPermissionEvaluatorPlugin.java
        metadataReadPermissionOnBitstream). Content still needs can_read."""
        if o["type"] == "bitstream":
            return not o["deleted"] and (self.can_read(o, user) or
                                         self.can_read(self.obj[o["parent"]], user))
        return self.can_read(o, user)

    def can_write(self, o, user):
        """ADD/WRITE/DELETE on bundles and bitstreams (and adding bundles to items)."""
        if is_admin(user):
            return True
        if not user:
            return False
        item = self.item_of(o)
        coll = self.obj[item["parent"]]
        return (user["email"] in coll.get("submitters", []) and self.can_read(o, user))

    def discoverable(self, o, user, admin_view=False):
        if o["type"] != "item":
            return True
        if not self.can_read(o, user):
            return False
        if admin_view:
            return True
        return o["inArchive"] and not o["withdrawn"] and o["discoverable"]

    # -- dump
    def export(self, o):
        d = {k: v for k, v in o.items() if not k.startswith("_")}
        d["name"] = self.name(o)
        if o["type"] == "bitstream":
            d["bundle"] = self.name(self.obj[o["parent"]]) if o["parent"] in self.obj else None
            d["item"] = self.obj[o["parent"]]["parent"] if o["parent"] in self.obj else None
            d["path"] = "content/" + o["uuid"]
            d["mimetype"] = FORMAT_BY_ID[o["format"]][2]
        return d

    def walk(self):
        """Every live object, parents first, siblings in order."""
        out = []

        def comm(u):
            out.append(self.obj[u])
            for s in self.kids.get(u, {}).get("subcommunities", []):
                comm(s)
            for c in self.kids.get(u, {}).get("collections", []):
                out.append(self.obj[c])
                for i in self.kids.get(c, {}).get("items", []):
                    out.append(self.obj[i])
                    for b in self.kids.get(i, {}).get("bundles", []):
                        out.append(self.obj[b])
                        for bs in self.kids.get(b, {}).get("bitstreams", []):
                            out.append(self.obj[bs])
        for t in self.top:
            comm(t)
        return out

    def snapshot(self):
        """The whole state in the fixture format (the content of fixture.json)."""
        with self.lock:
            objs = [self.export(o) for o in self.walk()]
            objs += [self.export(self.obj[u]) for u in self.deleted]
            return {"format": fixtures.FORMAT, "name": self.fx_name, "handlePrefix": self.prefix,
                    "generation": self.gen, "users": list(self.users.values()), "objects": objs}

    def write_dump(self):
        """Write STATE/fixture.json atomically (skipped if already current).
        Serialising happens outside the state lock: mutations replace nested
        values instead of changing them in place."""
        with self.dump_lock:
            doc = self.snapshot()
            if doc["generation"] == self.dumped_gen:
                return
            path = os.path.join(self.state_dir, "fixture.json")
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
            os.replace(tmp, path)
            self.dumped_gen = doc["generation"]

    def _dump_loop(self):
        while not STOP.is_set():
            if self.dump_wanted.wait(0.5):
                self.dump_wanted.clear()
                self.write_dump()

    def changed(self, item=None):
        """Record a modification: bump item lastModified, drop caches, dump the
        state (synchronously for small states, within ~1 s in the background
        for big ones such as the bench fixture)."""
        with self.lock:
            if item is not None:
                item["lastModified"] = fixtures.iso_millis(now_ms())
            self.gen += 1
            self.cache.clear()
        if self.async_dump:
            self.dump_wanted.set()
        else:
            self.write_dump()

    # -- mutations (callers hold no lock; each takes it)
    def _new_uuid(self):
        return str(uuidlib.uuid4())

    def _mint_handle(self):
        self.handle_max += 1
        return "%s/%d" % (self.prefix, self.handle_max)

    def create_item(self, coll, metadata, discoverable):
        with self.lock:
            u = self._new_uuid()
            h = self._mint_handle()
            t = fixtures.iso_millis(now_ms())
            md = {k: [dict(v) for v in vals] for k, vals in metadata.items()}
            stamp = t[:19] + "Z"
            for field, val in (("dc.date.accessioned", stamp), ("dc.date.available", stamp),
                               ("dc.identifier.uri", "http://localhost:4000/handle/" + h),
                               ("dc.description.provenance",
                                "Made available in DSpace on %s (GMT)." % stamp)):
                vals = md.setdefault(field, [])
                vals.append(fixtures.mv(val, len(vals)))
            o = {"type": "item", "uuid": u, "handle": h, "parent": coll["uuid"],
                 "mappedCollections": [], "metadata": md, "inArchive": True,
                 "discoverable": discoverable, "withdrawn": False, "restricted": False,
                 "lastModified": t}
            self._load(o)
            self.changed()
            return self.obj[u]

    def create_bundle(self, item, name, metadata):
        with self.lock:
            md = {k: [dict(v) for v in vals] for k, vals in (metadata or {}).items()}
            md["dc.title"] = [fixtures.mv(name)]
            o = {"type": "bundle", "uuid": self._new_uuid(), "parent": item["uuid"],
                 "metadata": md, "primaryBitstream": None}
            self._load(o)
            self.changed(item)
            return self.obj[o["uuid"]]

    def add_bitstream(self, bundle, name, tmp_path, size, md5, metadata):
        with self.lock:
            u = self._new_uuid()
            os.replace(tmp_path, os.path.join(self.content_dir, u))
            md = {k: [dict(v) for v in vals] for k, vals in (metadata or {}).items()}
            md["dc.title"] = [fixtures.mv(name)]
            o = {"type": "bitstream", "uuid": u, "parent": bundle["uuid"], "metadata": md,
                 "restricted": False, "deleted": False, "size": size, "md5": md5,
                 "format": guess_format(name),
                 "content": {"file": os.path.join(self.content_dir, u)}}
            self._load(o)
            self.changed(self.item_of(bundle))
            return self.obj[u]

    def _unlink_bitstream(self, bs):
        b = self.obj[bs["parent"]]
        self.kids[b["uuid"]]["bitstreams"].remove(bs["uuid"])
        if b.get("primaryBitstream") == bs["uuid"]:
            b["primaryBitstream"] = None

    def delete_bitstream(self, bs, record=True):
        with self.lock:
            item = self.item_of(bs)
            self._unlink_bitstream(bs)
            bs["deleted"] = True
            self.deleted.append(bs["uuid"])
            if record:
                self.changed(item)

    def delete_bundle(self, b, record=True):
        with self.lock:
            item = self.obj[b["parent"]]
            for bs in self.children(b["uuid"], "bitstreams"):
                self.delete_bitstream(bs, record=False)
            self.kids[item["uuid"]]["bundles"].remove(b["uuid"])
            del self.obj[b["uuid"]]
            if record:
                self.changed(item)

    def delete_item(self, item):
        with self.lock:
            for b in self.children(item["uuid"], "bundles"):
                self.delete_bundle(b, record=False)
            self.kids[item["parent"]]["items"].remove(item["uuid"])
            for m in item["mappedCollections"]:
                self.kids[m]["mappedItems"].remove(item["uuid"])
            if item.get("handle"):
                self.handles.pop(item["handle"], None)
            del self.obj[item["uuid"]]
            self.changed()

    def move_bitstream(self, bs, target):
        with self.lock:
            old_item = self.item_of(bs)
            self._unlink_bitstream(bs)
            bs["parent"] = target["uuid"]
            self._kids(target["uuid"], "bitstreams").append(bs["uuid"])
            new_item = self.item_of(target)
            if new_item is not old_item:
                old_item["lastModified"] = fixtures.iso_millis(now_ms())
            self.changed(new_item)


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


# ------------------------------------------------------------------ the application

class App:
    def __init__(self, cfg, repo, auth, faults):
        self.cfg = cfg
        self.repo = repo
        self.auth = auth
        self.faults = faults
        self.stats_lock = threading.Lock()
        self.requests = {}
        self.connections = 0
        U = "(?P<uuid>" + UUID_RE + ")"
        R = [
            (("GET",), r"/?", self.root),
            (("GET",), r"/authn", self.authn_root),
            (None, r"/authn/login", self.authn_login),
            (None, r"/authn/logout", self.authn_logout),
            (("GET",), r"/authn/status", self.authn_status),
            (("GET",), r"/authn/status/specialGroups", self.authn_special_groups),
            (("POST",), r"/authn/shortlivedtokens", self.authn_shortlived),
            (None, r"/security/csrf", self.security_csrf),
            (("GET",), r"/core/communities/?", self.list_communities),
            (("GET",), r"/core/communities/search", self.community_search_methods),
            (("GET",), r"/core/communities/search/top", self.top_communities),
            (("GET",), r"/core/collections/?", self.list_collections),
            (("GET",), r"/core/collections/search", self.collection_search_methods),
            (("GET",), r"/core/collections/search/findSubmitAuthorized", self.submit_collections),
            (("GET", "POST"), r"/core/items/?", self.items_root),
            (("GET", "PATCH"), r"/core/bitstreams/?", self.bitstreams_root),
            (("GET",), r"/core/bitstreams/search", self.bitstream_search_methods),
            (("GET",), r"/core/bitstreams/search/byItemHandle", self.by_item_handle),
            (("GET", "POST", "PUT", "PATCH", "DELETE"), r"/core/bundles/?", self.bundles_root),
            (("GET", "HEAD"), r"/core/bitstreams/" + U + r"/content", self.content),
            (("GET", "PUT"), r"/core/bitstreams/" + U + r"/format", self.bitstream_format),
            (("GET", "PUT"), r"/core/bitstreams/" + U + r"/bundle", self.bitstream_bundle),
            (("POST",), r"/core/items/" + U + r"/bundles", self.create_bundle),
            (("POST",), r"/core/bundles/" + U + r"/bitstreams", self.upload),
            (("GET", "PATCH", "DELETE"),
             r"/core/(?P<model>communities|collections|items|bundles|bitstreams)/" + U, self.dso),
            (("GET",), r"/core/(?P<model>communities|collections|items|bundles|bitstreams)/" + U
             + r"/(?P<rel>[A-Za-z]+)", self.dso_rel),
            (("GET",), r"/core/bitstreamformats/?", self.list_formats),
            (("GET",), r"/core/bitstreamformats/(?P<id>[^/]+)", self.one_format),
            (("GET",), r"/discover", self.discover_root),
            (("GET",), r"/discover/search", self.search_config),
            (("GET",), r"/discover/search/objects", self.search_objects),
            (("GET",), r"/discover/browses/?", self.list_browses),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)", self.one_browse),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)/items", self.browse_items),
            (("GET",), r"/discover/browses/(?P<id>[^/]+)/entries", self.browse_entries),
            (("GET",), r"/pid/find", self.pid_find),
            (("GET",), r"/dso/find", self.dso_find),
            (("GET",), r"/eperson/epersons/" + U, self.eperson),
        ]
        self.routes = [(m, re.compile(p + r"\Z"), fn,
                        re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", p).replace("/?", "") or "/")
                       for m, p, fn in R]

    # -------------------------------------------------------------- entry point
    def handle(self, ctx):
        origin = ctx.header("Origin")
        if origin and origin.rstrip("/") not in self.allowed_origins(ctx):
            return Resp(403, b"Invalid CORS request", "text/plain;charset=UTF-8")
        self.authenticate(ctx)
        self.check_csrf(ctx)
        fn, kw = self.route(ctx)
        emb = ctx.params_all("embed", split=True)
        projs = ctx.params_all("projection", split=True)
        for p in projs:
            if p not in ("full", "default"):
                raise ApiError(400, "Request is invalid or incorrect")
        if emb or "full" in projs:
            ctx.proj = Projection(emb, ctx.params_all("embed.size", split=True), "full" in projs)
        if fn == self.upload:             # streams the body first, then takes the lock itself
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

    def authenticate(self, ctx):
        short = ctx.param("authentication-token")
        if short is not None:
            user = self.auth.verify(short, short=True)
            if user is None:
                raise ApiError(401, "Authentication is required",
                               headers=[("WWW-Authenticate", WWW_AUTH)])
            ctx.user = user
            return
        h = ctx.header("Authorization")
        if h:
            tok = h.strip()
            if tok.startswith("Bearer"):
                tok = tok[len("Bearer"):].strip()
            ctx.user = self.auth.verify(tok)

    def check_csrf(self, ctx):
        """Spring Security CsrfFilter with DSpaceCsrfTokenRepository (contract §3)."""
        cookie = ctx.cookie(CSRF_COOKIE) or None
        if self.cfg.csrf == "eager" and not cookie:
            ctx.csrf = ("new", str(uuidlib.uuid4()))
        if ctx.method in ("POST", "PUT", "PATCH", "DELETE"):
            sent = ctx.header(CSRF_HEADER_IN) or ctx.param("_csrf")
            if not cookie or not sent or sent != cookie:
                ctx.csrf = ("rotate" if cookie else "new", str(uuidlib.uuid4()))
                raise ApiError(403, "Access is denied. Invalid CSRF token.")
            if ctx.header(CSRF_HEADER_IN) is None:     # token via _csrf param: reset
                ctx.csrf = ("rotate", str(uuidlib.uuid4()))

    def rotate_csrf(self, ctx):
        ctx.csrf = ("rotate", str(uuidlib.uuid4()))

    # -------------------------------------------------------------- rendering
    def links_for(self, t):
        nine = self.cfg.dspace_version.startswith("9")
        if t == "community":
            return ("collections", "logo", "subcommunities", "parentCommunity", "adminGroup")
        if t == "collection":
            return ("license", "logo", "mappedItems", "parentCommunity", "adminGroup",
                    "submittersGroup", "itemReadGroup", "bitstreamReadGroup")
        if t == "item":
            base = ("accessStatus", "bundles", "identifiers", "mappedCollections", "owningCollection",
                    "relationships", "version", "templateItemOf", "thumbnail")
            return base + (("submitter",) if nine else ())
        if t == "bundle":
            return ("item", "bitstreams", "primaryBitstream")
        if t == "bitstream":
            return ("bundle",) + (("accessStatus",) if nine else ()) + ("format", "thumbnail")
        return ()

    def metadata_view(self, o, ctx):
        md = o["metadata"]
        if is_admin(ctx.user):
            return md
        if o["type"] == "item" and o["withdrawn"]:
            return {}
        return {k: v for k, v in md.items() if k not in HIDDEN_FIELDS}

    def render(self, o, ctx, level=0, path=()):
        r = self.repo
        t = o["type"]
        u = o["uuid"]
        d = {"id": u, "uuid": u, "name": r.name(o), "handle": o.get("handle"),
             "metadata": self.metadata_view(o, ctx)}
        if t in ("community", "collection"):
            d["archivedItemsCount"] = -1
        elif t == "item":
            d["inArchive"] = o["inArchive"]
            d["discoverable"] = o["discoverable"]
            d["withdrawn"] = o["withdrawn"]
            d["lastModified"] = java_date(iso_to_ms(o["lastModified"]), ctx.version)
            d["entityType"] = None
        elif t == "bitstream":
            d["bundleName"] = r.name(r.obj[o["parent"]])
            d["sizeBytes"] = o["size"]
            d["checkSum"] = {"checkSumAlgorithm": "MD5", "value": o["md5"]}
            d["sequenceId"] = o["sequenceId"]
        d["type"] = t
        if u in HOSTILE:
            apply_hostile(d, HOSTILE[u])
        selfhref = "%s/core/%s/%s" % (ctx.api, PLURAL[t], u)
        links = {}
        emb = {}
        proj = ctx.proj
        for rel in self.links_for(t):
            href = selfhref + "/" + rel
            links[rel] = {"href": href}
            if proj.active and level < EMBED_MAX_LEVELS and proj.allow(level, path, rel):
                try:
                    emb[rel] = self.embed(o, rel, ctx, level, path, href)
                except Denied:
                    pass                   # left out silently (SW/utils/Utils.java)
        if t == "bitstream":
            links["content"] = {"href": selfhref + "/content"}
        links["self"] = {"href": selfhref}
        if emb:
            d["_embedded"] = emb
        d["_links"] = links
        return d

    def embed(self, o, rel, ctx, level, path, href):
        kind, val = self.resolve(o, rel, ctx)
        sub = path + (rel,)
        if kind == "many":
            size = ctx.proj.page_size(level, path, rel)
            content = [self.render(x, ctx, level + 1, sub) for x in val[:size]]
            return embedded_page(href, rel, content, 0, size, len(val))
        if kind == "one":
            return None if val is None else self.render(val, ctx, level + 1, sub)
        return val

    def format_res(self, fid, ctx):
        f = FORMAT_BY_ID[fid]
        return {"id": f[0], "shortDescription": f[1], "description": f[1], "mimetype": f[2],
                "supportLevel": SUPPORT_LEVEL[f[3]], "internal": f[4], "extensions": f[5],
                "type": "bitstreamformat",
                "_links": {"self": {"href": "%s/core/bitstreamformats/%d" % (ctx.api, f[0])}}}

    def thumbnail_of(self, item, name, ctx):
        for b in self.repo.children(item["uuid"], "bundles"):
            if self.repo.name(b) == "THUMBNAIL":
                for bs in self.repo.children(b["uuid"], "bitstreams"):
                    if self.repo.name(bs) == (name or "") + ".jpg" and self.repo.can_read(bs, ctx.user):
                        return bs
        return None

    def resolve(self, o, rel, ctx):
        """A link's target: ('many', [objs]) | ('one', obj|None) | ('res', dict|None).
        Raises Denied when the caller may not follow it, KeyError when unknown."""
        r = self.repo
        t = o["type"]
        user = ctx.user
        if rel not in self.links_for(t):
            raise KeyError(rel)
        if rel in ("adminGroup", "submittersGroup", "itemReadGroup", "bitstreamReadGroup",
                   "submitter"):
            if not is_admin(user):
                raise Denied()
            return "one", None
        if rel in ("logo", "version", "templateItemOf"):
            return "one", None
        if t == "community":
            if rel == "parentCommunity":
                return "one", r.get(o["parent"])
            return "many", r.children(o["uuid"], rel)
        if t == "collection":
            if rel == "parentCommunity":
                return "one", r.get(o["parent"])
            if rel == "license":
                return "res", {"custom": False, "text": fixtures.LICENSE_TEXT, "type": "license",
                               "_links": {"self": {"href": "%s/core/collections/%s/license"
                                                   % (ctx.api, o["uuid"])}}}
            return "many", [x for x in r.children(o["uuid"], "mappedItems") if r.can_read(x, user)]
        if not r.can_read_metadata(o, user):
            raise Denied()
        if t == "item":
            if rel == "bundles":
                return "many", r.children(o["uuid"], "bundles")
            if rel == "owningCollection":
                return "one", r.get(o["parent"])
            if rel == "mappedCollections":
                return "many", [r.obj[c] for c in o["mappedCollections"]]
            if rel == "relationships":
                return "many", []
            if rel == "accessStatus":
                return "res", {"status": self.access_status(o), "embargoDate": None,
                               "type": "accessStatus"}
            if rel == "identifiers":
                ids = []
                if o.get("handle"):
                    ids.append({"value": "http://hdl.handle.net/" + o["handle"],
                                "identifierType": "handle", "identifierStatus": None,
                                "type": "identifier"})
                return "res", {"identifiers": ids, "type": "identifiers"}
            if rel == "thumbnail":
                orig = self.first_original(o)
                return "one", self.thumbnail_of(o, r.name(orig), ctx) if orig else None
        if t == "bundle":
            if rel == "item":
                return "one", r.obj[o["parent"]]
            if rel == "bitstreams":
                return "many", [x for x in r.children(o["uuid"], "bitstreams")
                                if r.can_read_metadata(x, user)]
            if rel == "primaryBitstream":
                p = r.get(o.get("primaryBitstream"))
                if p is not None and not r.can_read(p, user):
                    raise Denied()
                return "one", p
        if t == "bitstream":
            if rel == "bundle":
                return "one", r.obj[o["parent"]]
            if rel == "format":
                return "res", self.format_res(o["format"], ctx)
            if rel == "accessStatus":
                return "res", {"status": "restricted" if o["restricted"] else "open.access",
                               "embargoDate": None, "type": "accessStatus"}
            if rel == "thumbnail":
                return "one", self.thumbnail_of(r.item_of(o), r.name(o), ctx)
        raise KeyError(rel)

    def first_original(self, item):
        for b in self.repo.children(item["uuid"], "bundles"):
            if self.repo.name(b) == "ORIGINAL":
                bss = self.repo.children(b["uuid"], "bitstreams")
                p = self.repo.get(b.get("primaryBitstream"))
                return p or (bss[0] if bss else None)
        return None

    def access_status(self, item):
        if item["restricted"]:
            return "restricted"
        bs = self.first_original(item)
        if bs is None:
            return "metadata.only"
        return "restricted" if bs["restricted"] else "open.access"

    def paged(self, ctx, rel, objs, search_link=None, render=None):
        """A top-level list (Spring HATEOAS PagedResourcesAssembler shape)."""
        number, size = ctx.pageable()
        total = len(objs)
        offset = number * size
        content = objs[offset:offset + size] if offset < total else []
        render = render or (lambda o: self.render(o, ctx))
        body = {}
        if content:
            body["_embedded"] = {rel: [render(o) for o in content]}
        pages = int(math.ceil(total / size))
        has_prev = number > 0
        has_next = number + 1 < pages
        base = ctx.url()

        def mk(page):
            return {"href": with_params(base, [("page", str(page)), ("size", str(size))])}
        links = {}
        if has_prev or has_next:
            links["first"] = mk(0)
        if has_prev:
            links["prev"] = mk(number - 1)
        links["self"] = {"href": base}
        if has_next:
            links["next"] = mk(number + 1)
        if has_prev or has_next:
            links["last"] = mk(max(pages - 1, 0))
        if search_link:
            links["search"] = {"href": ctx.api + search_link}
        body["_links"] = links
        body["page"] = {"size": size, "totalElements": total, "totalPages": pages, "number": number}
        return json_resp(body)

    def sub_page(self, ctx, rel, objs):
        """A linked sub-resource list (RestResourceController.findRelInternal)."""
        number, size = ctx.pageable()
        offset = number * size
        content = [self.render(o, ctx) for o in objs[offset:offset + size]] if offset < len(objs) else []
        return json_resp(embedded_page(ctx.url(), rel, content, number, size, len(objs)))

    # -------------------------------------------------------------- root, authn, csrf
    def root(self, ctx):
        api = ctx.api
        names = [("authn", "authn"), ("authorizations", "authz/authorizations"),
                 ("bitstreamformats", "core/bitstreamformats"), ("bitstreams", "core/bitstreams"),
                 ("browses", "discover/browses"), ("bundles", "core/bundles"),
                 ("collections", "core/collections"), ("communities", "core/communities"),
                 ("discover", "discover"), ("epersons", "eperson/epersons"),
                 ("groups", "eperson/groups"), ("items", "core/items"),
                 ("metadatafields", "core/metadatafields"),
                 ("metadataschemas", "core/metadataschemas"), ("pid", "pid"),
                 ("security", "security"), ("sites", "core/sites"),
                 ("workflowitems", "workflow/workflowitems"),
                 ("workspaceitems", "submission/workspaceitems")]
        links = {n: {"href": "%s/%s" % (api, p)} for n, p in names}
        links["self"] = {"href": api}
        return json_resp({"dspaceUI": "http://localhost:4000",
                          "dspaceName": "DSpace fake (%s fixture)" % self.repo.fx_name,
                          "dspaceServer": ctx.base,
                          "dspaceVersion": VERSIONS[self.cfg.dspace_version],
                          "type": "root", "_links": links})

    def authn_root(self, ctx):
        a = ctx.api + "/authn"
        return json_resp({"type": "authn", "_links": {
            "login": {"href": a + "/login"}, "logout": {"href": a + "/logout"},
            "status": {"href": a + "/status"}, "shortlivedtokens": {"href": a + "/shortlivedtokens"},
            "self": {"href": a}}})

    def form_params(self, ctx):
        params = dict(ctx.params)
        ctype = (ctx.header("Content-Type") or "").lower()
        raw = ctx.body()
        if "application/x-www-form-urlencoded" in ctype and raw:
            for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                params.setdefault(k, v)
        return params

    def authn_login(self, ctx):
        if ctx.method != "POST":
            raise ApiError(405, "Only POST is allowed for login requests.", kind="text")
        p = self.form_params(ctx)
        email, pw = p.get("user"), p.get("password")
        if email or pw:
            u = self.repo.by_email.get((email or "").lower())
            if u is None or u.get("password") != pw:
                raise ApiError(401, "Authentication failed!", headers=[("WWW-Authenticate", WWW_AUTH)])
        elif ctx.user is not None:
            u = ctx.user                      # refresh: bearer + no parameters
        else:
            raise ApiError(401, "Authentication failed!", headers=[("WWW-Authenticate", WWW_AUTH)])
        token = self.auth.issue(u)
        ctx.user = u
        self.rotate_csrf(ctx)
        return Resp(200, b"", None, [("Authorization", "Bearer " + token)])

    def authn_logout(self, ctx):
        if ctx.method != "POST":
            raise ApiError(405, "Only POST is allowed for logout requests.", kind="text")
        if ctx.user is not None:
            self.auth.logout(ctx.user)
        self.rotate_csrf(ctx)
        return Resp(204)

    def eperson_res(self, u, ctx):
        return {"id": u["uuid"], "uuid": u["uuid"], "name": u["email"], "handle": None,
                "metadata": fixtures.expand_metadata({"eperson.firstname": u.get("firstname", ""),
                                                      "eperson.lastname": u.get("lastname", "")}),
                "netid": None, "lastActive": None, "canLogIn": True, "email": u["email"],
                "requireCertificate": False, "selfRegistered": False, "type": "eperson",
                "_links": {"groups": {"href": "%s/eperson/epersons/%s/groups" % (ctx.api, u["uuid"])},
                           "self": {"href": "%s/eperson/epersons/%s" % (ctx.api, u["uuid"])}}}

    def authn_status(self, ctx):
        a = ctx.api + "/authn/status"
        d = {"okay": True, "authenticated": ctx.user is not None}
        headers = []
        if ctx.user is not None:
            d["authenticationMethod"] = "password"
        else:
            headers.append(("WWW-Authenticate", WWW_AUTH))
        d["type"] = "status"
        links = {"self": {"href": a}, "specialGroups": {"href": a + "/specialGroups"}}
        if ctx.user is not None:
            links["eperson"] = {"href": "%s/eperson/epersons/%s" % (ctx.api, ctx.user["uuid"])}
            if ctx.proj.allow(0, (), "eperson"):
                d["_embedded"] = {"eperson": self.eperson_res(ctx.user, ctx)}
        d["_links"] = links
        return json_resp(d, headers=headers)

    def authn_special_groups(self, ctx):
        number, size = ctx.pageable()
        return json_resp(embedded_page(ctx.url(), "specialGroups", [], number, size, 0))

    def authn_shortlived(self, ctx):
        if ctx.user is None:
            raise ctx.deny()
        return json_resp({"token": self.auth.issue(ctx.user, short=True), "type": "shortlivedtoken",
                          "_links": {"self": {"href": ctx.api + "/authn/shortlivedtokens"}}})

    def security_csrf(self, ctx):
        if ctx.method != "GET":
            raise ApiError(403, "Access is denied")
        cookie = ctx.cookie(CSRF_COOKIE)
        ctx.csrf = ("resave", cookie) if cookie else ("new", str(uuidlib.uuid4()))
        return Resp(204)

    def eperson(self, ctx, uuid):
        u = self.repo.users.get(uuid)
        if ctx.user is None:
            raise ctx.deny()
        if u is None:
            raise not_found()
        if not (is_admin(ctx.user) or ctx.user["uuid"] == uuid):
            raise ctx.deny()
        return json_resp(self.eperson_res(u, ctx))

    # -------------------------------------------------------------- communities / collections
    def all_of(self, t):
        r = self.repo
        with r.lock:
            hit = r.cache.get(("all", t))
            if hit is None:
                hit = r.cache[("all", t)] = [o for o in r.walk() if o["type"] == t]
            return hit

    def list_communities(self, ctx):
        return self.paged(ctx, "communities", self.all_of("community"), "/core/communities/search")

    def top_communities(self, ctx):
        return self.paged(ctx, "communities", [self.repo.obj[u] for u in self.repo.top])

    def search_methods(self, ctx, model, names):
        base = "%s/core/%s/search" % (ctx.api, model)
        links = {n: {"href": base + "/" + n} for n in names}
        links["self"] = {"href": base}
        return json_resp({"_links": links})

    def community_search_methods(self, ctx):
        return self.search_methods(ctx, "communities", ["top", "subCommunities", "findAdminAuthorized"])

    def list_collections(self, ctx):
        return self.paged(ctx, "collections", self.all_of("collection"), "/core/collections/search")

    def collection_search_methods(self, ctx):
        return self.search_methods(ctx, "collections", ["findSubmitAuthorized", "findAdminAuthorized"])

    def submit_collections(self, ctx):
        if ctx.user is None:
            raise ctx.deny()
        colls = [c for c in self.all_of("collection")
                 if is_admin(ctx.user) or ctx.user["email"] in c.get("submitters", [])]
        return self.paged(ctx, "collections", colls)

    # -------------------------------------------------------------- generic DSO endpoints
    def find_dso(self, ctx, model, uuid, write=False):
        t = {v: k for k, v in PLURAL.items()}[model]
        o = self.repo.get(uuid, t)
        if o is None or (t == "bitstream" and o["deleted"]):
            if t == "bitstream" and ctx.user is None and o is None:
                raise ctx.deny()          # DS#10099: permission is evaluated first
            raise not_found()
        return o

    def dso(self, ctx, model, uuid):
        if ctx.method == "PATCH":
            return self.patch(ctx, model, uuid)
        if ctx.method == "DELETE":
            return self.delete(ctx, model, uuid)
        o = self.find_dso(ctx, model, uuid)
        if not self.repo.can_read_metadata(o, ctx.user):
            if not (o["type"] == "item" and o["withdrawn"] and not o["restricted"]):
                raise ctx.deny()          # withdrawn items stay visible (STATUS permission)
        return json_resp(self.render(o, ctx))

    def dso_rel(self, ctx, model, uuid, rel):
        o = self.find_dso(ctx, model, uuid)
        try:
            kind, val = self.resolve(o, rel, ctx)
        except KeyError:
            raise not_found()
        except Denied:
            raise ctx.deny()
        if kind == "many":
            return self.sub_page(ctx, rel, val)
        if val is None:
            return Resp(204)
        if kind == "one":
            return json_resp(self.render(val, ctx))
        return json_resp(val)

    def items_root(self, ctx):
        if ctx.method == "POST":
            return self.create_item(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        items = [o for o in self.all_of("item")]
        return self.paged(ctx, "items", items, "/core/items/search")

    def bundles_root(self, ctx):
        raise ApiError(405, "An exception has occurred")

    def bitstreams_root(self, ctx):
        if ctx.method == "PATCH":
            return self.bulk_delete(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        return self.paged(ctx, "bitstreams", self.all_of("bitstream"), "/core/bitstreams/search")

    def bitstream_search_methods(self, ctx):
        return self.search_methods(ctx, "bitstreams", ["byItemHandle", "byItemId", "showableByItem"])

    def by_item_handle(self, ctx):
        handle = ctx.param("handle")
        seq, fname = ctx.param("sequence"), ctx.param("filename")
        if handle is None:
            raise ApiError(400, "A required parameter is missing")
        if seq is None and fname is None:
            raise bad_request()
        item = self.repo.get(self.repo.handles.get(handle), "item")
        if item is None:
            raise unprocessable()
        for b in self.repo.children(item["uuid"], "bundles"):
            for bs in self.repo.children(b["uuid"], "bitstreams"):
                if (seq is not None and str(bs["sequenceId"]) == seq) or \
                        (seq is None and self.repo.name(bs) == fname):
                    if not self.repo.can_read_metadata(bs, ctx.user):
                        raise ctx.deny()
                    return json_resp(self.render(bs, ctx))
        return Resp(204)

    def list_formats(self, ctx):
        return self.paged(ctx, "bitstreamformats", [f[0] for f in FORMATS],
                          render=lambda fid: self.format_res(fid, ctx))

    def one_format(self, ctx, id):
        try:
            fid = int(id)
        except ValueError:
            raise not_found()
        if fid not in FORMAT_BY_ID:
            raise not_found()
        return json_resp(self.format_res(fid, ctx))

    # -------------------------------------------------------------- identifiers
    HANDLE_PATTERNS = [re.compile(p) for p in (
        r"^hdl:(?P<h>.+)$", r"^info:hdl/(?P<h>.+)$", r"^https?://hdl\.handle\.net/(?P<h>.+)$",
        r"^https?://[^/]+/handle/(?P<h>.+)$", r"^(?P<h>[^/:]+/[^/]+)$")]

    def pid_find(self, ctx):
        ident = ctx.param("id")
        if ident is None:
            raise ApiError(400, "Required request parameter 'id' for method parameter type String "
                                "is not present", kind="spring")
        for rx in self.HANDLE_PATTERNS:
            m = rx.match(ident.strip())
            if m:
                u = self.repo.handles.get(m.group("h"))
                o = self.repo.get(u) if u else None
                if o is not None:
                    return Resp(302, headers=[("Location", "%s/core/%s/%s" % (
                        ctx.api, PLURAL[o["type"]], o["uuid"]))])
                break
        raise ApiError(404, "", kind="empty")

    def dso_find(self, ctx):
        u = ctx.param("uuid")
        if u is None:
            raise ApiError(400, "A required parameter is missing")
        o = self.repo.get(u) if re.fullmatch(UUID_RE, u) else None
        if o is None or (o["type"] == "bitstream" and o["deleted"]):
            raise ApiError(404, "", kind="empty")
        if not self.repo.can_read(o, ctx.user):
            raise ctx.deny()
        return Resp(302, headers=[("Location", "%s/core/%s/%s" % (ctx.api, PLURAL[o["type"]], o["uuid"]))])

    # -------------------------------------------------------------- discovery
    def discover_root(self, ctx):
        d = ctx.api + "/discover"
        return json_resp({"type": "discover", "_links": {
            "search": {"href": d + "/search"}, "facets": {"href": d + "/facets"},
            "self": {"href": d}}})

    def search_config(self, ctx):
        d = ctx.api + "/discover/search"
        sorts = [{"name": "score", "actualName": "score", "sortOrder": "DESC"},
                 {"name": "dc.title", "actualName": "dc.title", "sortOrder": "ASC"},
                 {"name": "dc.date.issued", "actualName": "dc.date.issued", "sortOrder": "DESC"},
                 {"name": "dc.date.accessioned", "actualName": "dc.date.accessioned",
                  "sortOrder": "DESC"}]
        filters = [{"filter": n, "hasFacets": True, "filterType": "text", "isOpenByDefault": False,
                    "pageSize": 5, "operators": [{"operator": op} for op in (
                        "equals", "notequals", "contains", "notcontains")], "type": "discover"}
                   for n in SEARCH_FILTERS]
        return json_resp({"scope": ctx.param("scope"),
                          "configuration": ctx.param("configuration") or "default",
                          "filters": filters, "sortOptions": sorts, "defaultSortOption": sorts[0],
                          "type": "discover", "_links": {"objects": {"href": d + "/objects"},
                                                         "self": {"href": d}}})

    @staticmethod
    def query_words(query):
        q = (query or "").strip()
        if q in ("", "*", "*:*"):
            return []
        words = [w for w in re.split(r"[\s()\"]+", q) if w and w not in ("AND", "OR", "NOT")]
        words = [w.split(":", 1)[1] if ":" in w else w for w in words]
        return [w.strip("*").casefold() for w in words if w.strip("*")]

    def highlights(self, o, words, ctx):
        """hitHighlights: null without a query (SearchResultEntryRest), else
        field -> values with the matched words in <em>...</em>."""
        if not words:
            return None
        out = {}
        for field, vals in self.metadata_view(o, ctx).items():
            hl = []
            for v in vals:
                text = v["value"] or ""
                if any(w in text.casefold() for w in words):
                    for w in words:
                        text = re.sub("(?i)(" + re.escape(w) + ")", r"<em>\1</em>", text)
                    hl.append(text)
            if hl:
                out[field] = hl
        return out

    def query_matcher(self, query):
        """Enough of Solr for tests: '*', '*:*' or empty match everything; other
        queries match when every word occurs in some metadata value (case
        insensitive).  Unbalanced quotes or parentheses are a syntax error (422)."""
        q = (query or "").strip()
        if q in ("", "*", "*:*"):
            return None
        if q.count('"') % 2 or q.count("(") != q.count(")"):
            raise unprocessable()
        words = self.query_words(q)

        def match(o):
            text = "\n".join(v["value"] or "" for vals in o["metadata"].values() for v in vals).casefold()
            return all(w in text for w in words)
        return match

    def search_results(self, ctx, scope, types, configuration, query, filters, sort):
        r = self.repo
        key = ("search", scope, tuple(sorted(types)), configuration, query, tuple(filters), sort,
               ctx.user["uuid"] if ctx.user else None)
        with r.lock:
            hit = r.cache.get(key)
            if hit is not None:
                return hit
            match = self.query_matcher(query)
            scope_obj = r.get(scope) if scope and re.fullmatch(UUID_RE, scope) else None
            if scope_obj is not None and scope_obj["type"] not in ("community", "collection"):
                scope_obj = None
            admin_view = configuration == "administrativeView"
            out = []
            for o in r.walk():
                t = o["type"]
                if t not in ("community", "collection", "item"):
                    continue
                if types and t not in types:
                    continue
                if admin_view and t != "item":
                    continue
                if scope_obj is not None and scope_obj["uuid"] not in r.containers(o):
                    continue
                if not r.discoverable(o, ctx.user, admin_view):
                    continue
                if match is not None and not match(o):
                    continue
                if not all(self.filter_ok(o, f) for f in filters):
                    continue
                out.append(o)
            field, direction = sort if sort else ("score", "DESC")
            if field == "score":
                out.sort(key=lambda o: r.order[o["uuid"]], reverse=(direction == "ASC"))
            else:
                out.sort(key=lambda o: (sort_key_text(first_value(o["metadata"], field)),
                                        r.order[o["uuid"]]), reverse=(direction == "DESC"))
            r.cache[key] = out
            return out

    def filter_ok(self, o, f):
        name, value, op = f
        vals = [v["value"] or "" for fld in SEARCH_FILTERS[name] for v in o["metadata"].get(fld, [])]
        if op in ("equals", "authority"):
            ok = value in vals
        elif op in ("notequals", "notauthority"):
            ok = value not in vals
        elif op == "contains":
            ok = any(value.casefold() in v.casefold() for v in vals)
        elif op == "notcontains":
            ok = not any(value.casefold() in v.casefold() for v in vals)
        else:
            ok = any(value.casefold() in v.casefold() for v in vals)
        return ok

    def search_objects(self, ctx):
        query = ctx.param("query")
        scope = ctx.param("scope")
        configuration = ctx.param("configuration")
        dso_types = ctx.params_all("dsoType", split=True)
        number, size = ctx.pageable()
        sort = None
        sp = ctx.param("sort")
        if sp:
            sort = split_sort(sp)
            if sort[0] not in SORT_FIELDS:
                raise ApiError(400, "Request is invalid or incorrect")
        types = set()
        for t in dso_types:
            m = {"ITEM": "item", "COLLECTION": "collection", "COMMUNITY": "community"}.get(t.upper())
            if m is None:
                raise ApiError(400, "Request is invalid or incorrect")
            types.add(m)
        filters = []
        applied = []
        for k, v in ctx.params:
            if not k.startswith("f."):
                continue
            name = k[2:]
            if name not in SEARCH_FILTERS:
                raise unprocessable()
            value, _, op = v.rpartition(",")
            if not value:
                value, op = v, "equals"
            filters.append((name, value, op))
            applied.append({"filter": name, "operator": op, "value": value, "label": value})
        results = self.search_results(ctx, scope, types, configuration, query, filters, sort)
        offset = number * size
        shown = results[offset:offset + min(size, self.cfg.discovery_cap)] if offset < len(results) else []
        entries = []
        words = self.query_words(query)
        for o in shown:
            res = self.render(o, ctx)
            entries.append({"hitHighlights": self.highlights(o, words, ctx), "type": "discover",
                            "_links": {"indexableObject": res["_links"]["self"]},
                            "_embedded": {"indexableObject": res}})
        # SearchResultsResourceHalLinkFactory.buildSearchBaseLink: no page/size/embed
        params = []
        if query is not None:
            params.append(("query", query))
        params += [("dsoType", t) for t in dso_types]
        if scope:
            params.append(("scope", scope))
        if configuration:
            params.append(("configuration", configuration))
        params += [("f." + f["filter"], f["value"] + "," + f["operator"]) for f in applied]
        base = with_params(ctx.api + "/discover/search/objects", params)
        sort_str = "%s,%s" % sort if sort else None
        page = embedded_page(base, "objects", entries, number, size, len(results), sort_str)
        return json_resp({"query": query, "scope": scope, "appliedFilters": applied,
                          "sort": {"by": sort[0], "order": sort[1]} if sort else None,
                          "configuration": configuration, "type": "discover",
                          "_embedded": {"searchResult": page, "facets": []},
                          "_links": {"self": {"href": base}}})

    # -------------------------------------------------------------- browse
    def browse_res(self, bid, ctx):
        b = BROWSES[bid]
        href = "%s/discover/browses/%s" % (ctx.api, bid)
        d = {"id": bid, "browseType": b["browseType"], "dataType": b["dataType"],
             "sortOptions": BROWSE_SORT_OPTIONS, "order": b["order"], "type": "browse",
             "metadata": b["metadata"]}
        links = {"self": {"href": href}, "items": {"href": href + "/items"}}
        if b["browseType"] == "valueList":
            d["facetType"] = bid
            links["entries"] = {"href": href + "/entries"}
        d["_links"] = links
        return d

    def list_browses(self, ctx):
        return self.paged(ctx, "browses", list(BROWSES), render=lambda b: self.browse_res(b, ctx))

    def one_browse(self, ctx, id):
        if id not in BROWSES:
            raise not_found()
        return json_resp(self.browse_res(id, ctx))

    def browse_pool(self, ctx):
        """Items visible to browse: as the default discovery configuration."""
        scope = ctx.param("scope")
        return self.search_results(ctx, scope if scope else None, {"item"}, None, None, (), None)

    def browse_items(self, ctx, id):
        b = BROWSES.get(id)
        if b is None:
            raise ApiError(400, "Request is invalid or incorrect")
        fv = ctx.param("filterValue")
        fa = ctx.param("filterAuthority")
        if b["browseType"] == "valueList" and fv is None and fa is None:
            raise ApiError(400, "Request is invalid or incorrect")
        if b["browseType"] == "flatBrowse" and (fv is not None or fa is not None):
            raise ApiError(400, "Request is invalid or incorrect")
        items = self.browse_pool(ctx)
        if fv is not None:
            items = [o for o in items
                     if any(v["value"] == fv for f in b["fields"] for v in o["metadata"].get(f, []))]
        field = b.get("sort", "dc.title")
        direction = b["order"]
        sp = ctx.param("sort")
        if sp:
            name, direction = split_sort(sp)
            opt = {"title": "dc.title", "dateissued": "dc.date.issued",
                   "dateaccessioned": "dc.date.accessioned"}.get(name)
            if opt:
                field = opt
        order = self.repo.order
        items = sorted(items, key=lambda o: (sort_key_text(first_value(o["metadata"], field)),
                                             order[o["uuid"]]), reverse=(direction == "DESC"))
        sw = ctx.param("startsWith")
        if sw:
            k = sw.casefold()
            items = [o for o in items if (sort_key_text(first_value(o["metadata"], field)) >= k)
                     != (direction == "DESC")]
        return self.sub_page(ctx, "items", items)

    def browse_entries(self, ctx, id):
        b = BROWSES.get(id)
        if b is None or b["browseType"] != "valueList":
            raise ApiError(400, "Request is invalid or incorrect")
        counts = {}
        for o in self.browse_pool(ctx):
            seen = set()
            for f in b["fields"]:
                for v in o["metadata"].get(f, []):
                    if v["value"] and v["value"] not in seen:
                        seen.add(v["value"])
                        counts[v["value"]] = counts.get(v["value"], 0) + 1
        values = sorted(counts, key=lambda v: (v.casefold(), v))
        if (ctx.param("sort") or "").upper().endswith(",DESC"):
            values.reverse()
        number, size = ctx.pageable()
        href = "%s/discover/browses/%s/items" % (ctx.api, id)
        content = [{"authority": None, "value": v, "valueLang": None, "count": counts[v],
                    "type": "browseEntry",
                    "_links": {"items": {"href": with_params(href, [("filterValue", v)])}}}
                   for v in values[number * size:number * size + size]]
        return json_resp(embedded_page(ctx.url(), "entries", content, number, size, len(values)))

    # -------------------------------------------------------------- content
    def content(self, ctx, uuid):
        r = self.repo
        o = r.get(uuid, "bitstream")
        if o is None or o["deleted"]:
            raise ApiError(404, "No message available")
        if not r.can_read(o, ctx.user):
            raise ctx.deny()
        rng = ctx.header("Range")
        if not (rng or "").strip():
            # UsageEvent fires before the conditional checks (SW/BitstreamRestController.java)
            with self.stats_lock:
                r.downloads[uuid] = r.downloads.get(uuid, 0) + 1
        path = os.path.join(r.content_dir, uuid)
        st = os.stat(path)
        length = st.st_size
        lm = st.st_mtime_ns // 1000000
        md5 = o["md5"]
        fmt = FORMAT_BY_ID[o["format"]]
        mime = fmt[2].split(";")[0].strip()
        name = r.name(o)
        if name is None:
            name = uuid + ("." + fmt[5][0] if fmt[5] else "")
        inline = (fmt[3] != 0 and not any(b in mime for b in BANNED_INLINE)
                  and mime in INLINE_FORMATS and o["size"] <= INLINE_THRESHOLD)
        disposition = "inline" if inline else "attachment"

        # HttpHeadersInitializer.isValid()
        inm = ctx.header("If-None-Match")
        if inm is not None and self.etag_matches(inm, md5):
            return Resp(304, headers=[("ETag", md5)])
        ims = self.date_header(ctx, "If-Modified-Since")
        if inm is None and ims != -1 and ims + 1000 > lm:
            return Resp(304, headers=[("ETag", md5)])
        im = ctx.header("If-Match")
        if im is not None and not self.etag_matches(im, md5):
            raise ApiError(416, "No message available")    # sic: 416, not 412 (§5.6)
        ius = self.date_header(ctx, "If-Unmodified-Since")
        if ius != -1 and ius + 1000 <= lm:
            raise ApiError(412, "No message available")

        headers = [("Content-Type", mime + ";charset=UTF-8")]
        if not self.cfg.no_range:
            headers.append(("Accept-Ranges", "bytes"))
        headers += [("ETag", '"%s"' % md5),
                    ("Last-Modified", http_date(lm / 1000.0)),
                    ("Expires", http_date(time.time() + 3600)),
                    ("Cache-Control", "private,no-cache"),
                    ("Access-Control-Expose-Headers", "Accept-Ranges"),
                    ("Content-Disposition", '%s; filename="%s"; filename*=UTF-8\'\'%s' % (
                        disposition, ascii_fallback(name), java_urlencode(name)))]
        # Spring's checkNotModified(): quoted (or weak) ETags in If-None-Match
        if inm is not None and self.quoted_etag_matches(inm, md5):
            return Resp(304, headers=headers)
        if ctx.method == "HEAD" or self.cfg.no_range or not (rng or "").strip():
            return Resp(200, headers=headers, file=(path, 0, length))
        try:
            ranges = self.parse_ranges(rng, length)
        except ValueError:
            return Resp(416, headers=headers + [("Content-Range", "bytes */%d" % length)])
        if len(ranges) == 1:
            s, e = ranges[0]
            return Resp(206, headers=headers + [("Content-Range", "bytes %d-%d/%d" % (s, e, length))],
                        file=(path, s, e - s + 1))
        boundary = uuidlib.uuid4().hex
        headers[0] = ("Content-Type", "multipart/byteranges; boundary=" + boundary)
        return Resp(206, headers=headers,
                    ranges=(path, ranges, boundary, mime + ";charset=UTF-8", length))

    @staticmethod
    def etag_matches(header, md5):
        vals = [v.strip() for v in header.split(",")]
        return md5 in vals or "*" in vals

    @staticmethod
    def quoted_etag_matches(header, md5):
        for v in re.findall(r'(?:W/)?"([^"]*)"', header):
            if v == md5:
                return True
        return False

    @staticmethod
    def date_header(ctx, name):
        v = ctx.header(name)
        if v is None:
            return -1
        try:
            return int(email.utils.parsedate_to_datetime(v).timestamp() * 1000)
        except (TypeError, ValueError, IndexError):
            raise ApiError(400, "Request is invalid or incorrect")

    @staticmethod
    def parse_ranges(header, length):
        """Spring's HttpRange.parseRanges + toResourceRegions; ValueError -> 416."""
        h = header.strip()
        if not h.startswith("bytes="):
            raise ValueError(h)
        specs = h[6:].split(",")
        if len(specs) > 100:
            raise ValueError("too many ranges")
        out = []
        for spec in specs:
            spec = spec.strip()
            dash = spec.index("-")
            if dash > 0:
                first = int(spec[:dash])
                last = int(spec[dash + 1:]) if dash < len(spec) - 1 else None
                if first < 0 or (last is not None and last < first):
                    raise ValueError(spec)
                start, end = first, (length - 1 if last is None else min(last, length - 1))
            elif dash == 0:
                suffix = int(spec[1:])
                if suffix < 0:
                    raise ValueError(spec)
                start, end = (0 if suffix > length else length - suffix), length - 1
            else:
                raise ValueError(spec)
            if start >= length:
                raise ValueError(spec)
            out.append((start, end))
        if len(out) > 1 and sum(e - s + 1 for s, e in out) >= length:
            raise ValueError("ranges cover the whole resource")
        return out

    # -------------------------------------------------------------- writing
    def require_json(self, ctx, types=("json",)):
        ct = (ctx.header("Content-Type") or "").lower()
        if not any(t in ct for t in types):
            raise ApiError(415, "Content-Type '%s' is not supported." % ct, kind="spring")

    def check_metadata(self, md):
        if not isinstance(md, dict):
            raise unprocessable()
        out = {}
        for field, vals in md.items():
            if not (field in DC_FIELDS or field.startswith("dcterms.")):
                raise unprocessable()
            if not isinstance(vals, list):
                raise unprocessable()
            out[field] = [self.value_obj(v, i) for i, v in enumerate(vals)]
        return out

    @staticmethod
    def value_obj(v, place):
        if not isinstance(v, dict):
            raise unprocessable()
        d = fixtures.mv(v.get("value"), place, v.get("language"))
        d["authority"] = v.get("authority")
        d["confidence"] = v.get("confidence", -1) if v.get("confidence") is not None else -1
        return d

    def create_item(self, ctx):
        self.require_json(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        body = ctx.json_body()
        if not isinstance(body, dict):
            raise unprocessable()
        coll = self.repo.get(ctx.param("owningCollection") or "", "collection")
        if coll is None:
            raise bad_request()
        if body.get("inArchive") is not True:
            raise bad_request()       # "InArchive attribute should not be set to false"
        md = self.check_metadata(body.get("metadata") or {})
        item = self.repo.create_item(coll, md, bool(body.get("discoverable", False)))
        return json_resp(self.render(item, ctx), 201)

    def create_bundle(self, ctx, uuid):
        item = self.repo.get(uuid, "item")
        if item is None:
            raise not_found()
        if not self.repo.can_write(item, ctx.user):
            raise ctx.deny()
        body = ctx.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise unprocessable()
        md = self.check_metadata(body.get("metadata") or {})
        name = body["name"]
        with self.repo.lock:
            if any(self.repo.name(b) == name for b in self.repo.children(uuid, "bundles")):
                raise bad_request()   # "The bundle name already exists in the item"
            b = self.repo.create_bundle(item, name, md)
        return json_resp(self.render(b, ctx), 201)

    def upload(self, ctx, uuid):
        r = self.repo
        h = ctx.h
        bundle = r.get(uuid, "bundle")
        ct = ctx.header("Content-Type") or ""
        m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', ct, re.I)
        if not ct.lower().startswith("multipart/form-data") or not m:
            h.drain_body()
            raise ApiError(400, "Request is invalid or incorrect")   # MultipartException
        boundary = (m.group(1) or m.group(2)).encode("latin-1")
        limit = self.cfg.upload_max
        cl = h.headers.get("Content-Length")
        if cl is not None and cl.isdigit() and int(cl) > limit:
            h.drain_body()
            raise ApiError(400, "Request is invalid or incorrect")   # MaxUploadSizeExceeded
        allowed = bundle is not None and r.can_write(bundle, ctx.user)
        parts = []
        try:
            overflow = parse_multipart(h.body_reader(), boundary, parts, r.tmp_dir if allowed else None,
                                       limit)
            if overflow:
                raise ApiError(400, "Request is invalid or incorrect")
            with r.lock:
                return self.finish_upload(ctx, uuid, parts, allowed)
        finally:
            for p in parts:
                if p.get("path"):
                    try:
                        os.unlink(p["path"])
                    except OSError:
                        pass

    def finish_upload(self, ctx, uuid, parts, allowed):
        """The checks and the bitstream creation after the body was read."""
        r = self.repo
        bundle = r.get(uuid, "bundle")
        files = [p for p in parts if p["name"] == "file" and p["filename"] is not None]
        if bundle is None:
            raise not_found()
        if not files:
            raise ApiError(400, "Required part 'file' is not present.", kind="spring")
        if not allowed:
            raise ctx.deny()
        if len(files) > 1:
            raise unprocessable()
        props = next((p for p in parts if p["name"] == "properties"), None)
        name, md = files[0]["filename"], {}
        if props is not None and props["data"].strip():
            try:
                pj = json.loads(props["data"].decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise unprocessable()
            if not isinstance(pj, dict):
                raise unprocessable()
            md = self.check_metadata(pj.get("metadata") or {})
            if isinstance(pj.get("name"), str) and pj["name"].strip():
                name = pj["name"]
        f = files[0]
        bs = r.add_bitstream(bundle, name, f["path"], f["size"], f["md5"], md)
        f["path"] = None
        return json_resp(self.render(bs, ctx), 201)

    def writable(self, ctx, o):
        """Permission for PATCH/DELETE: admin for items, communities, collections;
        bundle/bitstream writers otherwise."""
        if o["type"] in ("bundle", "bitstream"):
            ok = self.repo.can_write(o, ctx.user)
        else:
            ok = is_admin(ctx.user)
        if not ok:
            raise ctx.deny()

    def patch(self, ctx, model, uuid):
        o = self.find_dso(ctx, model, uuid)
        self.require_json(ctx)
        self.writable(ctx, o)
        ops = ctx.json_body()
        if not isinstance(ops, list) or not all(isinstance(op, dict) and "op" in op and "path" in op
                                                for op in ops):
            raise bad_request()
        r = self.repo
        with r.lock:
            md = {k: [dict(v) for v in vals] for k, vals in o["metadata"].items()}
            flags = {}
            order = None
            for op in ops:
                kind, path = op["op"], op["path"]
                if kind not in ("add", "replace", "remove", "move", "copy", "test"):
                    raise bad_request()
                if path == "/metadata" or path.startswith("/metadata/"):
                    self.patch_metadata(md, kind, path, op)
                elif o["type"] == "item" and path in ("/withdrawn", "/discoverable") and kind == "replace":
                    v = op.get("value")
                    if isinstance(v, str) and v.lower() in ("true", "false"):
                        v = v.lower() == "true"
                    if not isinstance(v, bool):
                        raise bad_request()
                    flags[path[1:]] = v
                elif o["type"] == "bundle" and kind == "move" and path.startswith("/_links/bitstreams/"):
                    if order is None:
                        order = list(r.kids.get(o["uuid"], {}).get("bitstreams", []))
                    try:
                        i = int(op.get("from", "").split("/")[3])
                        j = int(path.split("/")[3])
                        order.insert(j, order.pop(i))
                    except (ValueError, IndexError):
                        raise unprocessable()
                else:
                    raise unprocessable()
            for fld in md:
                if not (fld in DC_FIELDS or fld.startswith("dcterms.")):
                    raise unprocessable()
            o["metadata"] = {k: v for k, v in md.items() if v}
            if "withdrawn" in flags:
                o["withdrawn"] = flags["withdrawn"]
                o["inArchive"] = not flags["withdrawn"]
            if "discoverable" in flags:
                o["discoverable"] = flags["discoverable"]
            if order is not None:
                r.kids[o["uuid"]]["bitstreams"] = order
            r.changed(r.item_of(o))
        return json_resp(self.render(o, ctx))

    def patch_metadata(self, md, kind, path, op):
        """JSON Patch on /metadata (DSpaceObjectMetadataPatchUtils semantics)."""
        parts = path.split("/")[2:]
        value = op.get("value")
        if not parts:
            if kind in ("add", "replace"):
                if not isinstance(value, dict):
                    raise unprocessable()
                md.clear()
                md.update(self.check_metadata(value))
                return
            if kind == "remove":
                md.clear()
                return
            raise unprocessable()
        field = parts[0]
        if not (field in DC_FIELDS or field.startswith("dcterms.")):
            raise unprocessable()                 # "Metadata field does not exist"
        vals = md.setdefault(field, [])
        if len(parts) == 1:
            if kind in ("add", "replace"):
                if isinstance(value, dict):
                    value = [value]
                if not isinstance(value, list):
                    raise unprocessable()
                md[field] = [self.value_obj(v, i) for i, v in enumerate(value)]
            elif kind == "remove":
                if not vals:
                    raise unprocessable()
                md[field] = []
            else:
                raise unprocessable()
            return
        idx_s = parts[1]
        if kind == "add" and idx_s == "-":
            idx = len(vals)
        else:
            try:
                idx = int(idx_s)
            except ValueError:
                raise bad_request()
        if kind == "move":
            src = op.get("from", "").split("/")
            try:
                i = int(src[3])
            except (ValueError, IndexError):
                raise bad_request()
            if not (0 <= i < len(vals)) or not (0 <= idx < len(vals)):
                raise unprocessable()
            vals.insert(idx, vals.pop(i))
        elif kind == "add":
            if not (0 <= idx <= len(vals)):
                raise unprocessable()
            vals.insert(idx, self.value_obj(value, idx))
        elif kind == "replace":
            if not (0 <= idx < len(vals)):
                raise unprocessable()
            if len(parts) >= 3:
                prop = parts[2]
                if prop not in ("value", "language", "authority", "confidence"):
                    raise unprocessable()
                vals[idx][prop] = value
            else:
                vals[idx] = self.value_obj(value, idx)
        elif kind == "remove":
            if not (0 <= idx < len(vals)):
                raise unprocessable()
            vals.pop(idx)
        else:
            raise unprocessable()
        for i, v in enumerate(vals):
            v["place"] = i

    def delete(self, ctx, model, uuid):
        o = self.find_dso(ctx, model, uuid)
        self.writable(ctx, o)
        t = o["type"]
        if t == "item":
            self.repo.delete_item(o)
        elif t == "bundle":
            self.repo.delete_bundle(o)
        elif t == "bitstream":
            self.repo.delete_bitstream(o)
        else:
            raise ApiError(405, "Method is not allowed or supported")
        return Resp(204)

    def bulk_delete(self, ctx):
        self.require_json(ctx)
        if ctx.user is None:
            raise ctx.deny()
        ops = ctx.json_body()
        if not isinstance(ops, list):
            raise bad_request()
        if len(ops) > 1000:
            raise bad_request()
        targets = []
        for op in ops:
            if not isinstance(op, dict) or op.get("op") != "remove" or \
                    not str(op.get("path", "")).startswith("/bitstreams/"):
                raise bad_request()
            bs = self.repo.get(op["path"].split("/")[2], "bitstream")
            if bs is None or bs["deleted"]:
                raise unprocessable()         # RESTBitstreamNotFoundException
            if not self.repo.can_write(bs, ctx.user):
                raise ctx.deny()
            targets.append(bs)
        with self.repo.lock:
            for bs in targets:
                if not bs["deleted"]:
                    self.repo.delete_bitstream(bs)
        return Resp(204)

    def uri_list(self, ctx):
        self.require_json(ctx, ("text/uri-list",))
        return [ln.strip() for ln in ctx.body().decode("utf-8", "replace").splitlines()
                if ln.strip() and not ln.strip().startswith("#")]

    def bitstream_bundle(self, ctx, uuid):
        if ctx.method == "GET":
            return self.dso_rel(ctx, "bitstreams", uuid, "bundle")
        bs = self.find_dso(ctx, "bitstreams", uuid)
        lines = self.uri_list(ctx)
        if not self.repo.can_write(bs, ctx.user):
            raise ctx.deny()
        if len(lines) != 1:
            raise unprocessable()
        m = re.search(r"/core/bundles/(" + UUID_RE + r")/?$", lines[0])
        target = self.repo.get(m.group(1), "bundle") if m else None
        if target is None:
            raise unprocessable()
        if target["uuid"] == bs["parent"]:
            raise bad_request()
        if not self.repo.can_write(target, ctx.user):
            raise ctx.deny()
        self.repo.move_bitstream(bs, target)
        return json_resp(self.render(target, ctx))

    def bitstream_format(self, ctx, uuid):
        if ctx.method == "GET":
            return self.dso_rel(ctx, "bitstreams", uuid, "format")
        bs = self.find_dso(ctx, "bitstreams", uuid)
        lines = self.uri_list(ctx)
        if not self.repo.can_write(bs, ctx.user):
            raise ctx.deny()
        if len(lines) != 1:
            raise bad_request()
        m = re.search(r"/core/bitstreamformats/(\d+)/?$", lines[0])
        if not m or int(m.group(1)) not in FORMAT_BY_ID:
            raise bad_request()
        with self.repo.lock:
            bs["format"] = int(m.group(1))
            self.repo.changed(self.repo.item_of(bs))
        return json_resp(self.render(bs, ctx))

    # -------------------------------------------------------------- response decoration, config
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

    def update_config(self, d):
        for k, v in d.items():
            if k not in CONFIG_KEYS:
                raise ValueError("unknown config key %r" % k)
            if k == "csrf" and v not in ("eager", "deferred"):
                raise ValueError("csrf must be eager or deferred")
            setattr(self.cfg, k, CONFIG_KEYS[k](v))
            if k == "jwt_lifetime":
                self.auth.lifetime = int(v)
            if k == "jwt_skew":
                self.auth.skew = int(v)

    def config_view(self):
        d = {k: getattr(self.cfg, k) for k in CONFIG_KEYS}
        d.update({"dspace_version": self.cfg.dspace_version, "fixture": self.cfg.fixture,
                  "state": self.cfg.state, "faults": self.faults.describe()})
        return d


# ------------------------------------------------------------------ multipart (streaming)

class FileSink:
    """Receives one file part: written to a temp file (or only counted when
    tmp_dir is None) and MD5-hashed, each in its own thread so that reading
    the socket, hashing and writing overlap; at most ~16 MiB is in flight."""

    def __init__(self, tmp_dir, limit, reader):
        self.limit = limit
        self.reader = reader
        self.md5 = hashlib.md5()
        self.size = 0
        self.path = None
        self.error = None
        self.queues = []
        if tmp_dir:
            fd, self.path = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
            f = os.fdopen(fd, "wb", buffering=0)
            self.queues = [queue.Queue(16), queue.Queue(16)]
            self.threads = [threading.Thread(target=self._run, args=(self.queues[0], self.md5.update)),
                            threading.Thread(target=self._run, args=(self.queues[1], f.write, f))]
            for t in self.threads:
                t.daemon = True
                t.start()

    def _run(self, q, fn, f=None):
        try:
            while True:
                data = q.get()
                if data is None:
                    break
                if self.error is None:
                    fn(data)
        except OSError as e:
            self.error = e
            while q.get() is not None:
                pass
        finally:
            if f is not None:
                f.close()

    def write(self, data):
        self.size += len(data)
        if self.queues:
            for q in self.queues:
                q.put(data)

    def full(self):
        return self.reader.total > self.limit

    def close(self):
        if self.queues:
            for q in self.queues:
                q.put(None)
            for t in self.threads:
                t.join()
            self.queues = []
            if self.error is not None:
                raise ApiError(500, "An internal read or write operation failed")

    def discard(self):
        try:
            self.close()
        except ApiError:
            pass
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            self.path = None


class PushbackReader:
    """A BodyReader with unread(); chunks are immutable bytes, so slices of
    them can be handed to the hashing/writing threads without copying."""

    def __init__(self, reader):
        self.reader = reader
        self.pending = []

    def read(self):
        if self.pending:
            return self.pending.pop()
        return self.reader.read(CHUNK)

    def unread(self, data):
        if data:
            self.pending.append(data)


def copy_until(src, marker, sink):
    """Copy bytes from src to sink up to `marker`, which is consumed.
    Returns False at end of input (marker not found)."""
    m = len(marker)
    carry = b""                       # fewer than m bytes that may start the marker
    while True:
        d = src.read()
        if not d:
            if carry:
                sink.write(carry)
            return False
        if carry:
            if len(d) < 2 * m:
                d = carry + d         # small: just merge
            else:
                joined = carry + d[:m - 1]
                i = joined.find(marker)
                if i >= 0:
                    sink.write(carry[:i])
                    src.unread(d[i + m - len(carry):])
                    return True
                sink.write(carry)
            carry = b""
        i = d.find(marker)
        if i >= 0:
            sink.write(memoryview(d)[:i])
            src.unread(d[i + m:])
            return True
        k = len(d) - (m - 1)
        if k > 0:
            sink.write(memoryview(d)[:k])
            carry = d[k:]
        else:
            carry = d
        if sink.full():
            return None


def read_until(src, needle, bound):
    """Bytes up to `needle` (consumed); None if not found within `bound` bytes."""
    buf = b""
    while True:
        i = buf.find(needle)
        if i >= 0:
            src.unread(buf[i + len(needle):])
            return buf[:i]
        if len(buf) > bound:
            return None
        d = src.read()
        if not d:
            return None
        buf += d


class FieldSink:
    """A non-file part (kept in memory, at most 1 MiB)."""

    def __init__(self):
        self.data = io.BytesIO()

    def write(self, data):
        self.data.write(data)

    def full(self):
        return self.data.tell() > (1 << 20)


def parse_multipart(reader, boundary, parts, tmp_dir, limit):
    """Stream a multipart/form-data body; file parts go to temp files in
    tmp_dir (or are only counted when tmp_dir is None).  Appends dicts
    (name, filename, path, size, md5 | data) to `parts`.  Returns True if the
    body exceeded `limit` bytes (the rest is drained, nothing kept)."""
    src = PushbackReader(reader)
    src.unread(b"\r\n")               # so that the first delimiter looks like the others
    marker = b"\r\n--" + boundary

    def bad():
        reader.drain()
        raise ApiError(400, "Request is invalid or incorrect")

    class Preamble:
        def write(self, data):
            pass

        def full(self):
            return False
    if not copy_until(src, marker, Preamble()):
        bad()
    while True:
        tail = read_until(src, b"\r\n", 1024)   # rest of the delimiter line
        if tail is None:
            bad()
        if tail[:2] == b"--":                     # close delimiter
            break
        head = read_until(src, b"\r\n\r\n", 65536)
        if head is None:
            bad()
        name, filename = None, None
        for line in head.decode("utf-8", "replace").split("\r\n"):
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-disposition":
                name, filename = parse_disposition(v)
        sink = FileSink(tmp_dir, limit, reader) if filename is not None else FieldSink()
        found = copy_until(src, marker, sink)
        if found is None or reader.total > limit:
            if isinstance(sink, FileSink):
                sink.discard()
            reader.drain()
            return True
        if not found:
            if isinstance(sink, FileSink):
                sink.discard()
            bad()
        if isinstance(sink, FileSink):
            sink.close()
            parts.append({"name": name, "filename": filename, "path": sink.path,
                          "size": sink.size, "md5": sink.md5.hexdigest()})
        else:
            parts.append({"name": name, "filename": None, "data": sink.data.getvalue()})
    reader.drain()
    return reader.total > limit


def parse_disposition(v):
    """name and filename (None if absent) of a Content-Disposition value."""
    name, filename, filename_star = None, None, None
    for m in re.finditer(r'(\w+\*?)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)', v):
        key = m.group(1).lower()
        val = m.group(3) if m.group(3) is not None else m.group(2).strip()
        if m.group(3) is not None:
            val = re.sub(r'\\(.)', r'\1', val)
        if key == "name":
            name = val
        elif key == "filename":
            filename = val
        elif key == "filename*":
            enc, _, rest = val.partition("'")
            _, _, data = rest.partition("'")
            try:
                filename_star = urllib.parse.unquote(data, encoding=enc or "utf-8")
            except LookupError:
                filename_star = urllib.parse.unquote(data)
    return name, filename_star if filename_star is not None else filename


# ------------------------------------------------------------------ HTTP layer

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


def garble_json(body):
    """Truncated JSON (malformed-json fault)."""
    return body[:max(1, len(body) // 2)] if body else b"{"


def corrupt_checksum(body):
    """Replace checkSum.value by a different (wrong) MD5 (bad-checksum fault)."""
    try:
        d = json.loads(body)
    except ValueError:
        return body
    if isinstance(d, dict) and isinstance(d.get("checkSum"), dict):
        v = d["checkSum"].get("value") or ""
        d["checkSum"]["value"] = hashlib.md5(("wrong:" + v).encode()).hexdigest()
        return jdump(d)
    return body


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
        method = self.command
        target = self.path
        if "://" in target.split("?")[0]:
            target = "/" + target.split("://", 1)[1].partition("/")[2]
        raw_path, _, query = target.partition("?")
        path = urllib.parse.unquote(raw_path)
        if path.startswith("/fake-control"):
            return self.control(path, query)
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
                        self._sent += self.connection.sendfile(f, off, cnt)
                    if limit is not None and self._sent >= limit:
                        break
        else:
            if limit is not None:
                body = body[:limit]
            self.wfile.write(head + body)
            self._sent += len(body)
        if limit is not None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ---- control endpoint (outside the API; never logged, delayed or faulted)
    def control(self, path, query):
        app = self.server.app
        method = self.command
        sub = path[len("/fake-control"):]
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        status, out = 200, None
        try:
            body = self.read_body(16 << 20)
            if sub == "/faults":
                if method == "POST":
                    specs, mode = parse_fault_payload(body, params.get("mode", "replace"))
                    if mode == "append":
                        app.faults.add(specs)
                    else:
                        app.faults.replace(specs)
                elif method == "DELETE":
                    app.faults.clear()
                out = {"faults": app.faults.describe()}
            elif sub == "/hostile":
                if method == "POST":
                    req = json.loads(body.decode("utf-8") or "{}")
                    for k, v in req.items():
                        if v not in HOSTILE_KINDS:
                            raise ValueError("unknown hostile kind %r (one of %s)"
                                             % (v, ", ".join(HOSTILE_KINDS)))
                        HOSTILE[k.lower()] = v
                elif method == "DELETE":
                    HOSTILE.clear()
                out = {"hostile": dict(HOSTILE)}
            elif sub == "/restart" and method == "POST":
                app.auth.restart()
                out = {"restarted": True}
            elif sub == "/stats":
                if method == "DELETE":
                    with app.stats_lock:
                        app.requests.clear()
                        app.repo.downloads.clear()
                with app.stats_lock:
                    out = {"downloads": dict(app.repo.downloads), "requests": dict(app.requests),
                           "connections": app.connections, "generation": app.repo.gen}
            elif sub == "/config":
                if method == "POST":
                    app.update_config(json.loads(body.decode("utf-8") or "{}"))
                out = app.config_view()
            elif sub == "/state" and method == "GET":
                data = json.dumps(app.repo.snapshot(), ensure_ascii=False).encode("utf-8")
                return self.send(Resp(200, data, "application/json;charset=UTF-8"), None, None)
            else:
                status, out = 404, {"error": "unknown control endpoint " + sub}
        except (ValueError, KeyError, TypeError) as e:
            status, out = 400, {"error": str(e)}
        except ApiError as e:
            status, out = e.status, {"error": e.message}
        self.send(Resp(status, json.dumps(out, ensure_ascii=False).encode("utf-8"),
                       "application/json;charset=UTF-8"), None, None)


def parse_fault_payload(body, mode):
    """Fault specs from JSON ({"faults": [...], "mode": ...} or a list) or text lines."""
    text = body.decode("utf-8").strip()
    if not text:
        return [], mode
    if text[0] in "[{":
        d = json.loads(text)
        if isinstance(d, dict):
            mode = d.get("mode", mode)
            d = d.get("faults", [])
        specs = d
    else:
        specs = [ln for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    for s in specs:
        Fault(s)                      # validate before changing anything
    return specs, mode


def error_body(status, message, path):
    ts = fixtures.iso_millis(now_ms())[:-1] + "+00:00"
    return {"timestamp": ts, "status": status, "error": STATUS_TEXT.get(status, "Error"),
            "message": message, "path": path}


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


# ------------------------------------------------------------------ main

def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake DSpace REST server for dspacefs tests.")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--state", required=True, help="state directory (content, fixture.json)")
    p.add_argument("--fixture", default="small", help="small | demo | bench | PATH.json")
    p.add_argument("--latency-ms", type=int, default=0, help="delay every API response")
    p.add_argument("--no-range", action="store_true", help="ignore Range headers (200 + whole body)")
    p.add_argument("--csrf", choices=("eager", "deferred"),
                   help="CSRF token issuance (default: eager for 7.6, deferred for 8.1/9.1)")
    p.add_argument("--jwt-lifetime", type=int, default=1800, help="login token lifetime, seconds")
    p.add_argument("--jwt-skew", type=int, default=0,
                   help="accepted clock skew on expired login tokens (real DSpace: 60)")
    p.add_argument("--fault", action="append", default=[], help="fault SPEC (repeatable)")
    p.add_argument("--request-log", help="append one JSON line per API request")
    p.add_argument("--dspace-version", choices=sorted(VERSIONS), default="7.6")
    p.add_argument("--upload-max", type=int, default=536870912, help="multipart size limit, bytes")
    p.add_argument("--discovery-cap", type=int, default=100, help="rest.search.max.results")
    p.add_argument("--allow-origin", action="append", default=[],
                   help="CORS origin to allow besides http://localhost:4000 (repeatable)")
    a = p.parse_args(argv)
    if a.csrf is None:
        a.csrf = "eager" if a.dspace_version.startswith("7") else "deferred"
    a.allow_origin = [o.rstrip("/") for o in list(DEFAULT_ORIGINS) + a.allow_origin]
    return a


def main(argv=None):
    cfg = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(cfg.state, exist_ok=True)

    def log(msg):
        sys.stderr.write("fake-dspace: %s\n" % msg)
        sys.stderr.flush()
    try:
        faults = Faults(cfg.fault)
    except ValueError as e:
        log("bad --fault: %s" % e)
        return 2
    t0 = time.monotonic()
    fx, base_dir = fixtures.load(cfg.fixture)
    fixtures.materialize(fx, cfg.state, base_dir, log)
    repo = Repo(fx, cfg.state)
    auth = Auth(repo.users, cfg.jwt_lifetime, cfg.jwt_skew)
    app = App(cfg, repo, auth, faults)
    app.reqlog = RequestLog(cfg.request_log)
    server = Server(("127.0.0.1", cfg.port), Handler)
    server.app = app
    port = server.server_address[1]

    def stop(signum, frame):
        STOP.set()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, lambda s, f: faults.clear())
    signal.signal(signal.SIGUSR2, lambda s, f: auth.restart())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    if cfg.port_file:
        tmp = cfg.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, cfg.port_file)
    log("%s fixture (%d objects) ready in %.1fs; DSpace %s, csrf %s; listening on "
        "http://127.0.0.1:%d/server/api" % (repo.fx_name, len(repo.obj), time.monotonic() - t0,
                                            cfg.dspace_version, cfg.csrf, port))
    while not STOP.wait(0.5):
        pass
    threading.Thread(target=server.shutdown, daemon=True).start()
    time.sleep(0.15)
    try:
        server.socket.close()
    except OSError:
        pass
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
