"""Bitstream content: /core/bitstreams/{uuid}/content with its headers,
conditional requests and ranges (contract §5)."""

import email.utils
import hashlib
import os
import re
import threading
import time
import uuid as uuidlib

import fixtures

from .common import (ApiError, BANNED_INLINE, FORMAT_BY_ID, INLINE_FORMATS, INLINE_THRESHOLD,
                     ascii_fallback, http_date, java_urlencode, major)
from .context import Part, Resp
from .repo import is_admin


class Content(Part):
    """GET/HEAD of bitstream content."""

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
            with self.app.stats_lock:
                r.downloads[uuid] = r.downloads.get(uuid, 0) + 1
        path = os.path.join(r.content_dir, uuid)
        st = os.stat(path)
        length = st.st_size
        lm = st.st_mtime_ns // 1000000
        md5 = o["md5"]
        fmt = FORMAT_BY_ID[o["format"]]
        mime = fmt[2].split(";")[0].strip()
        if self.cfg.cover_pages and mime == "application/pdf" and not is_admin(ctx.user):
            path, md5 = self.cover_document(o)
            length = os.path.getsize(path)
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

    def cover_document(self, o):
        """citation-page.enable_globally: non-admins get PDFs with a cover page
        (API/disseminate/CitationDocumentServiceImpl.java
        isCitationEnabledForBitstream: not for admins, only PDFs). The served
        length is the generated document's; the ETag is the stored MD5 on
        7.x/8.x (SW/BitstreamRestController.java retrieve: withChecksum(
        bit.getChecksum())) and md5("coverpage:" + MD5) from 9.0
        (SW/utils/BitstreamResource.java etag). Here the document is the cover
        page followed by the stored bytes, generated once per content and
        kept, so that ranges of it fit together (DSpace regenerates it per
        request: clients must not combine ranges of separate responses).
        A new generation (cover_generation, or every request with
        cover_unstable: what DSpace does, SW/utils/BitstreamResource.java
        fetchDocument per request and etag "the coverpage generation is not
        stable") is another document, with the same ETag; its length is the
        same while the generation number has as many digits. cover_trim
        leaves out the last N stored bytes: a document shorter than sizeBytes
        (DSpace's is the PDF loaded and saved again by PDFBox, of any
        length)."""
        r = self.repo
        with self.app.stats_lock:
            if self.cfg.cover_unstable:
                self.cfg.cover_generation += 1
            gen = self.cfg.cover_generation
        trim = max(0, self.cfg.cover_trim)
        path = os.path.join(r.tmp_dir, "cover-%s-%s-%d-%d.pdf" % (o["uuid"], o["md5"], gen, trim))
        if not os.path.exists(path):
            item = r.item_of(o)
            cover = fixtures.tiny_pdf("Cover page %d: %s (%s)"
                                      % (gen, r.name(item) or "", r.name(o) or ""))
            tmp = "%s.%d.tmp" % (path, threading.get_ident())
            with open(tmp, "wb") as out, open(os.path.join(r.content_dir, o["uuid"]), "rb") as src:
                out.write(cover)
                left = max(0, o["size"] - trim)
                while left > 0:
                    chunk = src.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    out.write(chunk)
                    left -= len(chunk)
            os.replace(tmp, path)
        etag = o["md5"]
        if major(self.cfg.dspace_version) >= 9:
            etag = hashlib.md5(("coverpage:" + o["md5"]).encode()).hexdigest()
        return path, etag

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
