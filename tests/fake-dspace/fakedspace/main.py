"""Command line, start-up and shutdown."""

import argparse
import os
import signal
import sys
import threading
import time

import fixtures

from .app import App
from .auth import Auth
from .common import DEFAULT_ORIGINS, STOP, VERSIONS
from .faults import Faults
from .repo import Repo
from .server import Handler, RequestLog, Server


def parse_args(argv):
    p = argparse.ArgumentParser(description="Fake DSpace REST server for dspacefs tests.")
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: pick a free one)")
    p.add_argument("--port-file", help="write the port number here once listening")
    p.add_argument("--state", required=True, help="state directory (content, fixture.json)")
    p.add_argument("--fixture", default="small", help="small | demo | bench | PATH.json")
    p.add_argument("--latency-ms", type=int, default=0, help="delay every API response")
    p.add_argument("--conn-rate", type=int, default=0,
                   help="cap every response body at BYTES_PER_S per connection (0: none)")
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
    p.add_argument("--replace-bitstream", action="store_true",
                   help="replace-bitstream.enabled = true (10.0: PUT .../bitstreams/{uuid}/content)")
    p.add_argument("--cover-pages", action="store_true",
                   help="citation-page.enable_globally = true: PDFs get a cover page")
    p.add_argument("--cover-unstable", action="store_true",
                   help="with --cover-pages: a new cover-page document for every request, "
                        "as DSpace generates it (default: one per --cover-generation)")
    p.add_argument("--cover-generation", type=int, default=0,
                   help="with --cover-pages: the generation of the cover-page documents")
    p.add_argument("--cover-trim", type=int, default=0,
                   help="with --cover-pages: leave out the last N stored bytes "
                        "(a document shorter than sizeBytes)")
    p.add_argument("--discovery-cap", type=int, default=100, help="rest.search.max.results")
    p.add_argument("--allow-origin", action="append", default=[],
                   help="CORS origin to allow besides http://localhost:4000 (repeatable)")
    p.add_argument("--redirect", action="append", default=[], metavar="FROM=TO",
                   help="answer 301 to a path FROM or under FROM/ (not already under TO): "
                        "Location TO + the rest, as a reverse proxy in front of DSpace does "
                        "(a moved application, an added trailing slash) (repeatable)")
    a = p.parse_args(argv)
    a.redirect = [tuple(r.split("=", 1)) for r in a.redirect if "=" in r]
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
