"""Fixtures for the fake DSpace server: built-in generators and the JSON format.

A fixture is a JSON document (see README.md, "Fixture format"):

    {"format": "dspacefs-fake-fixture/1", "name": "...", "handlePrefix": "123456789",
     "users": [...], "objects": [ {flat object}, ... ]}

Objects are listed parents first; sibling order is list order.  The built-in
fixtures (small, demo, bench) are produced by the generator functions below
and are deterministic: the same name gives the same UUIDs, names and bytes.
A hand-written fixture may instead nest objects under "communities" (see
expand_tree()); it is flattened on load.

Standard library only (Debian 12's python3).
"""

import hashlib
import json
import os
import random
import struct
import time
import uuid as uuidlib
import zlib

FORMAT = "dspacefs-fake-fixture/1"
HANDLE_PREFIX = "123456789"
BASE_TIME = 1704103200  # 2024-01-01T10:00:00Z; fixture timestamps count from here
BIG_BLOCK = 4 * 1024 * 1024

DEFAULT_USERS = [
    {"email": "admin@example.org", "password": "admin", "admin": True,
     "firstname": "Ada", "lastname": "Admin"},
    {"email": "user@example.org", "password": "user", "admin": False,
     "firstname": "Uma", "lastname": "User"},
]


def det_uuid(*parts):
    """A version-4-shaped UUID derived from the given strings."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).digest()
    return str(uuidlib.UUID(bytes=digest[:16], version=4))


def iso_millis(epoch_ms):
    """ISO-8601 UTC with milliseconds and a trailing Z (stored form)."""
    secs, ms = divmod(int(epoch_ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + ".%03dZ" % ms


def mv(value, place=0, language=None):
    """One metadata value in DSpace's REST form."""
    return {"value": value, "language": language, "authority": None,
            "confidence": -1, "place": place}


def expand_metadata(md):
    """Accept {"dc.x": "v"}, {"dc.x": ["a","b"]} or full value dicts; return the full form."""
    out = {}
    for field, vals in (md or {}).items():
        if not isinstance(vals, list):
            vals = [vals]
        full = []
        for i, v in enumerate(vals):
            if isinstance(v, dict):
                d = mv(v.get("value"), i, v.get("language"))
                if "authority" in v:
                    d["authority"] = v["authority"]
                if "confidence" in v:
                    d["confidence"] = v["confidence"]
                full.append(d)
            else:
                full.append(mv(v, i))
        out[field] = full
    return out


# ---------------------------------------------------------------- content

def tiny_pdf(title):
    """A small but valid one-page PDF showing `title` (ASCII only)."""
    text = "".join(c for c in title if 32 <= ord(c) < 127)
    text = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = ("BT /F1 18 Tf 72 720 Td (%s) Tj ET" % text[:80]).encode()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def tiny_png(width, height, seed):
    """A valid RGB PNG with a seeded colour gradient."""
    rnd = random.Random("png:%s" % seed)
    r0, g0, b0 = rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows += bytes(((r0 + x * 3) & 255, (g0 + y * 3) & 255, (b0 + x + y) & 255))

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6))
            + chunk(b"IEND", b""))


def content_bytes(spec, base_dir=None):
    """Bytes of a small content spec (everything except "repeat" and "file")."""
    if "text" in spec:
        return spec["text"].encode("utf-8")
    if "base64" in spec:
        import base64
        return base64.b64decode(spec["base64"])
    if "random" in spec:
        return random.Random("random:%s" % spec["random"]).randbytes(int(spec["size"]))
    if "pdf" in spec:
        return tiny_pdf(spec["pdf"])
    if "png" in spec:
        w, h, seed = spec["png"]
        return tiny_png(int(w), int(h), seed)
    raise ValueError("unknown content spec %r" % (spec,))


def spec_key(spec):
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def write_content(spec, path, base_dir=None):
    """Write the bytes of `spec` to `path` (via a temp file); return (size, md5)."""
    tmp = path + ".tmp%d" % os.getpid()
    md5 = hashlib.md5()
    size = 0
    with open(tmp, "wb") as f:
        if "repeat" in spec:
            # Big deterministic content: one seeded block, a per-block counter
            # mixed into its first 16 bytes, repeated up to `size` bytes.
            total = int(spec["size"])
            bsize = int(spec.get("block", BIG_BLOCK))
            block = bytearray(random.Random("repeat:%s" % spec["repeat"]).randbytes(bsize))
            head = bytes(block[:16])
            n = 0
            while size < total:
                struct.pack_into(">QQ", block, 0, n, int.from_bytes(head[8:], "big") ^ n)
                piece = block if total - size >= bsize else block[:total - size]
                f.write(piece)
                md5.update(piece)
                size += len(piece)
                n += 1
        elif "file" in spec:
            src = spec["file"]
            if base_dir and not os.path.isabs(src):
                src = os.path.join(base_dir, src)
            with open(src, "rb") as s:
                while True:
                    buf = s.read(1 << 20)
                    if not buf:
                        break
                    f.write(buf)
                    md5.update(buf)
                    size += len(buf)
        else:
            data = content_bytes(spec, base_dir)
            f.write(data)
            md5.update(data)
            size = len(data)
    os.replace(tmp, path)
    return size, md5.hexdigest()


def materialize(fixture, state_dir, base_dir=None, log=None):
    """Write every bitstream's bytes to STATE/content/<uuid>, reusing files
    already there for the same spec.  Fills in size/md5 of each bitstream."""
    cdir = os.path.join(state_dir, "content")
    os.makedirs(cdir, exist_ok=True)
    index_path = os.path.join(cdir, ".index.json")
    try:
        with open(index_path) as f:
            index = json.load(f)
    except (OSError, ValueError):
        index = {}
    changed = False
    for o in fixture["objects"]:
        if o["type"] != "bitstream":
            continue
        spec = o.get("content") or {"text": ""}
        key = spec_key(spec)
        path = os.path.join(cdir, o["uuid"])
        ent = index.get(o["uuid"])
        st = None
        try:
            st = os.stat(path)
        except OSError:
            pass
        if ent and st and ent.get("spec") == key and ent.get("size") == st.st_size:
            size, md5 = ent["size"], ent["md5"]
        else:
            if log and "repeat" in spec:
                log("generating %d bytes for bitstream %s" % (int(spec["size"]), o["uuid"]))
            size, md5 = write_content(spec, path, base_dir)
            index[o["uuid"]] = {"spec": key, "size": size, "md5": md5}
            changed = True
        mtime = o.get("mtime")
        if mtime is not None and (st is None or int(st.st_mtime) != int(mtime) or changed):
            os.utime(path, (mtime, mtime))
        o["size"] = size
        o["md5"] = md5
    if changed:
        tmp = index_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(index, f)
        os.replace(tmp, index_path)


# ---------------------------------------------------------------- builder

class Builder:
    """Builds a flat fixture with deterministic UUIDs, handles and times."""

    def __init__(self, name):
        self.name = name
        self.objects = []
        self.n = 0
        self.handle_n = 0
        self.seq = {}

    def _uuid(self, kind):
        self.n += 1
        return det_uuid(self.name, kind, self.n)

    def _handle(self):
        self.handle_n += 1
        return "%s/%d" % (HANDLE_PREFIX, self.handle_n)

    def _time(self):
        # one minute apart, with varying milliseconds
        return BASE_TIME * 1000 + self.n * 60000 + (self.n * 137) % 1000

    def community(self, name, parent=None, description=None):
        md = {"dc.title": name}
        if description:
            md["dc.description.abstract"] = description
        o = {"type": "community", "uuid": self._uuid("community"), "handle": self._handle(),
             "parent": parent, "metadata": expand_metadata(md)}
        self.objects.append(o)
        return o["uuid"]

    def collection(self, name, parent, submitters=(), description=None):
        md = {"dc.title": name}
        if description:
            md["dc.description.abstract"] = description
        o = {"type": "collection", "uuid": self._uuid("collection"), "handle": self._handle(),
             "parent": parent, "submitters": list(submitters), "metadata": expand_metadata(md)}
        self.objects.append(o)
        return o["uuid"]

    def item(self, title, parent, metadata=None, restricted=False, withdrawn=False,
             discoverable=True, mapped=()):
        u = self._uuid("item")
        handle = self._handle()
        t = self._time()
        md = {}
        if title is not None:
            md["dc.title"] = title
        md.update(metadata or {})
        md.setdefault("dc.date.issued", time.strftime("%Y-%m-%d", time.gmtime(t // 1000 - self.n * 86400)))
        md["dc.date.accessioned"] = iso_millis(t)[:19] + "Z"
        md["dc.date.available"] = iso_millis(t)[:19] + "Z"
        md["dc.identifier.uri"] = "http://localhost:4000/handle/" + handle
        md["dc.description.provenance"] = ("Made available in DSpace on %s (GMT)."
                                           % (iso_millis(t)[:19] + "Z"))
        o = {"type": "item", "uuid": u, "handle": handle, "parent": parent,
             "mappedCollections": list(mapped), "metadata": expand_metadata(md),
             "inArchive": not withdrawn, "discoverable": discoverable, "withdrawn": withdrawn,
             "restricted": restricted, "lastModified": iso_millis(t)}
        self.objects.append(o)
        self.seq[u] = 0
        return u

    def draft(self, title, parent, submitter, ws_id, metadata=None):
        """An in-progress submission (workspace item) started in the web UI:
        an item that is not in the archive, has no handle yet, and records its
        workspace item id and submitter (SW/model/WorkspaceItemRest.java)."""
        u = self._uuid("item")
        t = self._time()
        md = {"dc.title": title}
        md.update(metadata or {})
        o = {"type": "item", "uuid": u, "handle": None, "parent": parent,
             "mappedCollections": [], "metadata": expand_metadata(md), "inArchive": False,
             "discoverable": True, "withdrawn": False, "restricted": False,
             "lastModified": iso_millis(t),
             "submission": {"id": ws_id, "state": "workspace", "submitter": submitter,
                            "license": None}}
        self.objects.append(o)
        self.seq[u] = 0
        return u

    def set(self, uuid, **kw):
        """Set fields of an object already built (workflow, license, submitters)."""
        for o in self.objects:
            if o["uuid"] == uuid:
                o.update(kw)

    def bundle(self, item, name):
        o = {"type": "bundle", "uuid": self._uuid("bundle"), "parent": item,
             "metadata": expand_metadata({"dc.title": name}), "primaryBitstream": None}
        self.objects.append(o)
        return o["uuid"]

    def bitstream(self, bundle, name, content, restricted=False, metadata=None, fmt=None):
        item = next(o for o in reversed(self.objects) if o["uuid"] == bundle)["parent"]
        self.seq[item] += 1
        md = {"dc.title": name} if name is not None else {}
        md.update(metadata or {})
        o = {"type": "bitstream", "uuid": self._uuid("bitstream"), "parent": bundle,
             "metadata": expand_metadata(md), "sequenceId": self.seq[item],
             "restricted": restricted, "content": content,
             "mtime": BASE_TIME + self.n * 60}
        if fmt is not None:
            o["format"] = fmt
        self.objects.append(o)
        return o["uuid"]

    def set_primary(self, bundle, bitstream):
        next(o for o in self.objects if o["uuid"] == bundle)["primaryBitstream"] = bitstream

    def fixture(self):
        return {"format": FORMAT, "name": self.name, "handlePrefix": HANDLE_PREFIX,
                "users": [dict(u, uuid=det_uuid("eperson", u["email"])) for u in DEFAULT_USERS],
                "objects": self.objects}


def text(s):
    return {"text": s}


def rnd(seed, size):
    return {"random": seed, "size": size}


COLLECTION_LICENSE = ("Physics Theses deposit licence\n\nBy depositing you grant the "
                      "university the non-exclusive right to distribute your thesis.\n")
LICENSE_TEXT = ("NOTE: PLACE YOUR OWN LICENSE HERE\nThis sample license is provided for "
                "informational purposes only.\n\nNON-EXCLUSIVE DISTRIBUTION LICENSE\n")


def add_license(b, item):
    lb = b.bundle(item, "LICENSE")
    b.bitstream(lb, "license.txt", text(LICENSE_TEXT), fmt=2)


# ---------------------------------------------------------------- small

def build_small():
    b = Builder("small")
    research = b.community("Research Data", description="Data sets and theses from our labs.")
    physics = b.community("Physics", research)
    particle = b.community("Particle Physics", physics)
    runs = b.collection("Detector Runs", particle)

    it = b.item("Run 2023-01 calibration", runs, {
        "dc.contributor.author": ["Curie, Marie"], "dc.date.issued": "2023-01-15",
        "dc.type": "Dataset"})
    ob = b.bundle(it, "ORIGINAL")
    b.bitstream(ob, "run-0001.dat", rnd("run-0001", 3 * 1024 * 1024 + 512 * 1024 + 3))
    b.bitstream(ob, "empty.dat", text(""))
    b.bitstream(ob, "notes.txt", text("Calibration run.\nDetector temperature: 4.2 K\n"))
    add_license(b, it)
    tb = b.bundle(it, "THUMBNAIL")
    b.bitstream(tb, "run-0001.dat.jpg", rnd("thumb-run-0001", 2048))

    run2 = b.item("Run 2023-02", runs, {
        "dc.contributor.author": ["Curie, Marie", "Curie, Pierre"], "dc.date.issued": "2023-02-20",
        "dc.type": "Dataset"})
    ob = b.bundle(run2, "ORIGINAL")
    b.bitstream(ob, "run-0002.dat", rnd("run-0002", 1024 * 1024 + 7))
    b.bitstream(ob, "readme.md", text("# Run 2023-02\n\nSecond run.\n"))

    theses = b.collection("Physics Theses", physics, submitters=["user@example.org"])
    th = b.item("On the Quantum Behaviour of Small Things", theses, {
        "dc.contributor.author": ["Bohr, Niels", "Heisenberg, Werner", "Schrödinger, Erwin"],
        "dc.contributor.advisor": "Planck, Max",
        "dc.date.issued": "2021-06-30",
        "dc.description.abstract": "We study small things and find they behave quantumly.",
        "dc.subject": ["quantum mechanics", "uncertainty"],
        "dc.type": "Thesis", "dc.publisher": "Example University", "dc.language.iso": "en"})
    ob = b.bundle(th, "ORIGINAL")
    pdf = b.bitstream(ob, "thesis.pdf", {"pdf": "On the Quantum Behaviour of Small Things"},
                      metadata={"dc.description": "Full text"})
    b.bitstream(ob, "data.csv", text("x,y\n0,0\n1,1\n2,4\n3,9\n"))
    b.set_primary(ob, pdf)
    add_license(b, th)
    tb = b.bundle(th, "THUMBNAIL")
    b.bitstream(tb, "thesis.pdf.jpg", rnd("thumb-thesis", 1500))
    su = b.item("Superconductivity at Room Temperature?", theses, {
        "dc.contributor.author": ["Onnes, Heike Kamerlingh"], "dc.date.issued": "2019-03-01",
        "dc.type": "Thesis"})
    ob = b.bundle(su, "ORIGINAL")
    b.bitstream(ob, "paper.pdf", {"pdf": "Superconductivity at Room Temperature?"})
    b.item("Thesis Without Bundles", theses, {"dc.type": "Thesis"})
    ew = b.item("Thesis With Empty Bundle", theses, {"dc.type": "Thesis"})
    b.bundle(ew, "ORIGINAL")

    big = b.collection("Big Collection", research,
                       description="More items than one discovery page holds.")
    for i in range(1, 131):
        r = b.item("Record %03d" % i, big, {
            "dc.contributor.author": ["Author %d, Test" % (i % 7)],
            "dc.date.issued": "%04d-%02d-01" % (1990 + i % 30, 1 + i % 12)})
        ob = b.bundle(r, "ORIGINAL")
        b.bitstream(ob, "record-%03d.txt" % i, text("Record %d\n" % i))

    awkward = b.community("Awkward Names")
    edge = b.collection("Edge Cases", awkward, submitters=["user@example.org"])
    for title in ["a/b: slash in title", "Café", "Cafe\u0301", "tab\there", "line\nbreak",
                  "bell\x07char", ".", "..", "", None, "  padded title  ",
                  "Duplicate Title", "Duplicate Title", "Duplicate Title",
                  "Über-lange Titel mit Ümlauten " * 12 + "Ende"]:
        b.item(title, edge, {"dc.contributor.author": ["Edge, Case"]})

    files = b.item("Files With Awkward Names", edge, {"dc.contributor.author": ["Edge, Case"]})
    ob = b.bundle(files, "ORIGINAL")
    for k, name in enumerate([
            "a/b.txt", "naïve.txt", "nai\u0308ve.txt", "ctrl\x01char.txt", "new\nline.txt",
            ".", "..", "", " spaced name.txt ", "same.txt", "same.txt",
            "ж" * 140 + ".txt", "日本語のファイル.pdf", 'quote"name.txt', "back\\slash.txt",
            "percent%20name.txt", "UPPER.TXT", "noextension", "archive.tar.gz"]):
        b.bitstream(ob, name, text("awkward file %d: %r\n" % (k, name)))

    many = b.item("Many Files", edge, {"dc.contributor.author": ["Edge, Case"]})
    ob = b.bundle(many, "ORIGINAL")
    for i in range(1, 26):
        b.bitstream(ob, "file-%02d.txt" % i, text("file %d of 25\n" % i))

    hidden = b.collection("Restricted and Hidden", awkward)
    ri = b.item("Restricted Item", hidden, restricted=True)
    ob = b.bundle(ri, "ORIGINAL")
    b.bitstream(ob, "restricted.txt", text("you should not see this\n"))
    pi = b.item("Item With Restricted File", hidden)
    ob = b.bundle(pi, "ORIGINAL")
    b.bitstream(ob, "public.txt", text("everyone may read this\n"))
    b.bitstream(ob, "secret.txt", text("only admins may read this\n"), restricted=True)
    wi = b.item("Withdrawn Item", hidden, withdrawn=True)
    ob = b.bundle(wi, "ORIGINAL")
    b.bitstream(ob, "withdrawn.txt", text("withdrawn\n"))
    ni = b.item("Private Item", hidden, discoverable=False)
    ob = b.bundle(ni, "ORIGINAL")
    b.bitstream(ob, "private.txt", text("not discoverable\n"))
    for o in b.objects:
        if o["uuid"] == run2:
            o["mappedCollections"] = [hidden]
    b.collection("Empty Collection", awkward)
    b.community("Empty Community")
    # deposits (issue 9): Physics Theses has a workflow and its own licence,
    # Edge Cases publishes at once; the user has one draft from the web UI
    b.set(theses, workflow=True, license=COLLECTION_LICENSE)
    b.set(edge, workflow=False)
    b.draft("Draft Started In The Web UI", theses, "user@example.org", 1,
            {"dc.contributor.author": ["User, Uma"]})
    return b.fixture()


# ---------------------------------------------------------------- demo

DEMO_CSV = "sample,temperature_K,resistance_ohm\nA1,4.2,0.000\nA2,77.0,0.012\nA3,293.0,1.530\n"


def build_demo():
    b = Builder("demo")
    sci = b.community("Faculty of Science", description="Research output of the Faculty of Science.")
    phys = b.community("Department of Physics", sci)
    phys_theses = b.collection("Theses", phys, submitters=["user@example.org"])
    phys_data = b.collection("Datasets", phys)
    chem = b.community("Department of Chemistry", sci)
    chem_art = b.collection("Articles", chem)
    hum = b.community("Faculty of Humanities")
    hist = b.community("Department of History", hum)
    hist_theses = b.collection("Theses", hist)

    def thesis(coll, title, authors, year, abstract, subjects, extra_files=()):
        it = b.item(title, coll, {
            "dc.contributor.author": authors, "dc.date.issued": str(year),
            "dc.description.abstract": abstract, "dc.subject": subjects,
            "dc.type": "Thesis", "dc.publisher": "University of Exampleton",
            "dc.language.iso": "en"})
        ob = b.bundle(it, "ORIGINAL")
        p = b.bitstream(ob, "thesis.pdf", {"pdf": title})
        b.set_primary(ob, p)
        for name, spec in extra_files:
            b.bitstream(ob, name, spec)
        add_license(b, it)
        tb = b.bundle(it, "THUMBNAIL")
        b.bitstream(tb, "thesis.pdf.jpg", {"png": [48, 64, title]})
        return it

    thesis(phys_theses, "Low-Temperature Transport in Layered Superconductors",
           ["Okafor, Chidi"], 2022,
           "We measure resistance in layered cuprates below 10 K and discuss pairing mechanisms.",
           ["superconductivity", "condensed matter"], [("data.csv", text(DEMO_CSV))])
    thesis(phys_theses, "Gravitational Lensing by Dwarf Galaxies",
           ["Lindqvist, Astrid", "Moreau, Julien"], 2023,
           "Weak-lensing signals from 214 dwarf galaxies constrain their dark matter halos.",
           ["astrophysics", "dark matter"])
    ds = b.item("Cryostat Measurements 2023", phys_data, {
        "dc.contributor.author": ["Okafor, Chidi", "Tanaka, Yui"], "dc.date.issued": "2023-11-02",
        "dc.description.abstract": "Raw resistance measurements from the cryostat lab.",
        "dc.type": "Dataset", "dc.rights": "CC BY 4.0"})
    ob = b.bundle(ds, "ORIGINAL")
    b.bitstream(ob, "README.txt", text("Cryostat measurements, 2023.\nColumns: sample, temperature_K, "
                                       "resistance_ohm.\nLicence: CC BY 4.0\n"))
    b.bitstream(ob, "data.csv", text(DEMO_CSV))
    b.bitstream(ob, "setup.png", {"png": [64, 48, "setup"]})
    add_license(b, ds)
    art = b.item("A Greener Route to Aspirin", chem_art, {
        "dc.contributor.author": ["Haddad, Leila"], "dc.date.issued": "2021-04-12",
        "dc.description.abstract": "A solvent-free synthesis of acetylsalicylic acid.",
        "dc.type": "Article", "dc.identifier.doi": "10.1234/example.5678"})
    ob = b.bundle(art, "ORIGINAL")
    b.bitstream(ob, "article.pdf", {"pdf": "A Greener Route to Aspirin"})
    b.bitstream(ob, "spectrum.png", {"png": [80, 40, "spectrum"]})
    thesis(hist_theses, "Trade and Textiles in the Hanseatic League", ["Becker, Johanna"], 2020,
           "Account books from Lübeck reveal the cloth trade of the 15th century.",
           ["medieval history", "trade"])
    # deposits (issue 9): the user may submit to Physics Theses (workflow,
    # own licence) and Datasets (no workflow), not to Chemistry or History
    b.set(phys_theses, workflow=True, license=COLLECTION_LICENSE)
    b.set(phys_data, submitters=["user@example.org"], workflow=False)
    b.draft("Draft Started In The Web UI", phys_theses, "user@example.org", 1,
            {"dc.contributor.author": ["User, Uma"]})
    return b.fixture()


# ---------------------------------------------------------------- bench

def build_bench():
    b = Builder("bench")
    per_coll = 250
    for c in range(1, 6):
        com = b.community("Bench Community %d" % c)
        for k in range(1, 5):
            coll = b.collection("Bench Collection %d.%d" % (c, k), com)
            for i in range(1, per_coll + 1):
                n = ((c - 1) * 4 + (k - 1)) * per_coll + i
                it = b.item("Bench Item %05d" % n, coll, {
                    "dc.contributor.author": ["Bench, Author %d" % (n % 50)],
                    "dc.date.issued": "%04d" % (1980 + n % 40)})
                ob = b.bundle(it, "ORIGINAL")
                b.bitstream(ob, "data-%05d.bin" % n, rnd("bench-%d-a" % n, 1024 + (n * 37) % 4096))
                b.bitstream(ob, "notes-%05d.txt" % n, text("Bench item %d\n" % n * 64))
                lb = b.bundle(it, "LICENSE")
                b.bitstream(lb, "license.txt", text(LICENSE_TEXT), fmt=2)
            if c == 1 and k == 1:
                large_coll = coll
    big = b.item("Large File", large_coll, {"dc.contributor.author": ["Bench, Author"]})
    ob = b.bundle(big, "ORIGINAL")
    b.bitstream(ob, "large-1GiB.bin", {"repeat": "bench-large", "size": 1 << 30})
    return b.fixture()


BUILTIN = {"small": build_small, "demo": build_demo, "bench": build_bench}


# ---------------------------------------------------------------- loading

def expand_tree(doc):
    """Flatten a nested fixture ("communities" tree) into the flat form."""
    b = Builder(doc.get("name", "custom"))

    def items(coll, lst):
        for it in lst:
            u = b.item(it.get("title"), coll, it.get("metadata"), it.get("restricted", False),
                       it.get("withdrawn", False), it.get("discoverable", True))
            for bd in it.get("bundles", []):
                bu = b.bundle(u, bd["name"])
                for bs in bd.get("bitstreams", []):
                    spec = bs.get("content") or text(bs.get("text", ""))
                    x = b.bitstream(bu, bs.get("name"), spec, bs.get("restricted", False),
                                    bs.get("metadata"), bs.get("format"))
                    if bs.get("primary"):
                        b.set_primary(bu, x)

    def comms(parent, lst):
        for c in lst:
            u = b.community(c["name"], parent, c.get("description"))
            comms(u, c.get("communities", []))
            for col in c.get("collections", []):
                cu = b.collection(col["name"], u, col.get("submitters", []), col.get("description"))
                items(cu, col.get("items", []))

    comms(None, doc["communities"])
    fx = b.fixture()
    if "users" in doc:
        fx["users"] = doc["users"]
    return fx


def load(spec):
    """Return (fixture, base_dir) for a built-in name or a JSON file path."""
    if spec in BUILTIN:
        return BUILTIN[spec](), None
    with open(spec, encoding="utf-8") as f:
        doc = json.load(f)
    base_dir = os.path.dirname(os.path.abspath(spec))
    if "objects" not in doc:
        doc = expand_tree(doc)
    doc.setdefault("format", FORMAT)
    doc.setdefault("handlePrefix", HANDLE_PREFIX)
    users = doc.get("users") or DEFAULT_USERS
    doc["users"] = [dict(u, uuid=u.get("uuid") or det_uuid("eperson", u["email"])) for u in users]
    return doc, base_dir
