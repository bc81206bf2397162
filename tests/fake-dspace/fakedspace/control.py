"""Test controls: the /fake-control endpoints and the run-time configuration they change.

These are not DSpace behaviour; README "Test controls" documents them.  They
are outside the API: never logged, delayed or faulted (server.py dispatches
them before any of that)."""

import json
import urllib.parse

from .common import ApiError
from .context import Part, Resp
from .faults import HOSTILE, HOSTILE_KINDS, parse_fault_payload

CONFIG_KEYS = {"latency_ms": int, "no_range": bool, "csrf": str, "jwt_lifetime": int,
               "jwt_skew": int, "discovery_cap": int, "upload_max": int,
               "replace_bitstream": bool, "cover_pages": bool,
               "cover_unstable": bool, "cover_generation": int, "cover_trim": int}


class Control(Part):
    """GET/POST/DELETE /fake-control/<name>: one method per endpoint (see ENDPOINTS)."""

    ENDPOINTS = {"/faults": "faults", "/restart": "restart", "/stats": "stats",
                 "/config": "config", "/state": "state",
                 "/hostile": "hostile", "/submitters": "submitters"}

    def handle(self, handler, sub, query):
        """Answer one control request (sub: the path below /fake-control) with a Resp."""
        method = handler.command
        params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        status, out = 200, None
        try:
            body = handler.read_body(16 << 20)
            name = self.ENDPOINTS.get(sub)
            out = getattr(self, name)(method, params, body) if name else None
            if isinstance(out, Resp):
                return out
            if out is None:
                status, out = 404, {"error": "unknown control endpoint " + sub}
        except (ValueError, KeyError, TypeError) as e:
            status, out = 400, {"error": str(e)}
        except ApiError as e:
            status, out = e.status, {"error": e.message}
        return Resp(status, json.dumps(out, ensure_ascii=False).encode("utf-8"),
                    "application/json;charset=UTF-8")

    # Each endpoint returns a dict (sent as JSON, 200), a Resp, or None (404).
    def faults(self, method, params, body):
        faults = self.app.faults
        if method == "POST":
            specs, mode = parse_fault_payload(body, params.get("mode", "replace"))
            if mode == "append":
                faults.add(specs)
            else:
                faults.replace(specs)
        elif method == "DELETE":
            faults.clear()
        return {"faults": faults.describe()}

    def hostile(self, method, params, body):
        if method == "POST":
            req = json.loads(body.decode("utf-8") or "{}")
            for k, v in req.items():
                if v not in HOSTILE_KINDS:
                    raise ValueError("unknown hostile kind %r (one of %s)"
                                     % (v, ", ".join(HOSTILE_KINDS)))
                HOSTILE[k.lower()] = v
        elif method == "DELETE":
            HOSTILE.clear()
        return {"hostile": dict(HOSTILE)}

    def restart(self, method, params, body):
        if method != "POST":
            return None
        self.auth.restart()
        return {"restarted": True}

    def stats(self, method, params, body):
        app = self.app
        if method == "DELETE":
            with app.stats_lock:
                app.requests.clear()
                app.repo.downloads.clear()
        with app.stats_lock:
            return {"downloads": dict(app.repo.downloads), "requests": dict(app.requests),
                    "connections": app.connections, "generation": app.repo.gen}

    def config(self, method, params, body):
        if method == "POST":
            self.update_config(json.loads(body.decode("utf-8") or "{}"))
        return self.config_view()

    def state(self, method, params, body):
        if method != "GET":
            return None
        data = json.dumps(self.repo.snapshot(), ensure_ascii=False).encode("utf-8")
        return Resp(200, data, "application/json;charset=UTF-8")

    def submitters(self, method, params, body):
        """POST ?collection=UUID, body a JSON list of e-mails: the members
        of that collection's submitters group from now on (what an
        administrator does in the web UI; modes tests, issue 10)."""
        if method != "POST":
            return None
        with self.repo.lock:
            coll = self.repo.obj.get(params["collection"])
            if not coll or coll["type"] != "collection":
                return None
            coll["submitters"] = list(json.loads(body or b"[]"))
        return {"collection": coll["uuid"], "submitters": coll["submitters"]}

    # -------------------------------------------------------------- run-time configuration
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
                  "state": self.cfg.state, "faults": self.app.faults.describe()})
        return d
