"""Injected faults (--fault SPEC, /fake-control/faults): matching requests and
spoiling their responses (README "Faults")."""

import hashlib
import json
import random
import threading

from .common import jdump


FAULT_KINDS = ("status", "drop-after", "malformed-json", "stall", "bad-checksum", "reset",
               "csrf-rotate")
# Methods Spring Security's CsrfFilter checks (contract §3.1): csrf-rotate
# fires only on these.
CSRF_METHODS = ("POST", "PUT", "PATCH", "DELETE")


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
        if self.kind == "csrf-rotate" and method not in CSRF_METHODS:
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
