"""Constants, small helpers and the API error type shared by every module."""

import email.utils
import json
import threading
import time
import unicodedata
import urllib.parse

import fixtures

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

VERSIONS = {"7.6": "DSpace 7.6", "8.1": "DSpace 8.1", "9.1": "DSpace 9.1", "10.0": "DSpace 10.0"}


def major(version):
    """The major number of a --dspace-version value (\"10.0\" -> 10)."""
    return int(version.split(".")[0])


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
    if major(version) >= 9:
        return s
    return s[:-1] + "+00:00"


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


def jdump(obj):
    # surrogateescape: a lone "\udcXX" (hostile bad-utf8) goes out as the raw byte XX
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogateescape")


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


def error_body(status, message, path):
    ts = fixtures.iso_millis(now_ms())[:-1] + "+00:00"
    return {"timestamp": ts, "status": status, "error": STATUS_TEXT.get(status, "Error"),
            "message": message, "path": path}
