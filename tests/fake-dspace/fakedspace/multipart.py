"""Streaming multipart/form-data parser for uploads (contract §6.3)."""

import hashlib
import io
import os
import queue
import re
import tempfile
import threading
import urllib.parse

from .common import ApiError, CHUNK


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
