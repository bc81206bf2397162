#!/usr/bin/env python3
"""Chaos soak for dspacefs: parallel readers and writers through a real
mount while the fake DSpace injects faults, with a kill -9 of the daemon and
a remount on the same cache directory; then the invariants are checked.

Python 3 standard library only.  Loopback only.  Every wait is bounded.
Exit status: 0 all checks passed, 1 a check failed, 2 the soak could not run.

    tests/soak/soak.py --dspacefs src/dspacefs --workdir /tmp/soak \\
        [--seconds 100] [--seed 1] [--writers 3] [--readers 4]

What is checked (see doc/HACKING.md, "The chaos soak"):
  reads     every successful read returned one complete version of the file
            ever written to that name (MD5 of the read in that set); a read
            overlapping a write of the same name may be a prefix of one
            version (local-file semantics), never a mix of two
  uploads   a version whose close() succeeded is on the server exactly once
            with its MD5; a version whose close() failed (or the daemon died)
            is on the server exactly once or pending in .dspacefs-status with
            its bytes in the spool; a version never fully written (writer
            killed) is never on the server and, if any byte was acknowledged,
            pending with a prefix of it (at least the acknowledged bytes)
  server    no bitstream in the soak bundle with bytes that are not a
            complete version; no two live bitstreams with one name; each
            name's live content is one the sequence of operations allows
  retry     after a plain "retry": still no duplicates, nothing incomplete
            published
  daemon    no fd or thread growth between two quiescent points, VmHWM within
            the limit, a clean unmount, no sanitizer report in its log
"""

import argparse
import errno
import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request

ITEM_DIR = ("Research Data", "Physics", "Physics Theses",
            "Thesis With Empty Bundle", "ORIGINAL")
ITEM_NAME = "Thesis With Empty Bundle"
STATUS_NAME = ".dspacefs-status"
ABSENT = "absent"
# States of a status-file row that mean "still moving" (both formats)
MOVING = ("uploading", "writing")
CHUNK = 256 << 10

# Fault scenarios the chaos thread switches between (fake-dspace SPECs;
# "calm" is none).  Rates keep most operations alive so that the soak
# exercises the retry paths rather than only the failure paths.
SCENARIOS = [
    ["calm"],
    ["status=503,rate=0.15"],
    ["status=503,rate=0.5,path=/content"],
    ["reset,rate=0.05"],
    ["reset,rate=0.3,method=POST,path=/bitstreams"],
    ["drop-after=0,rate=0.3,method=POST,path=/bitstreams"],
    ["drop-after=65536,rate=0.3,path=/content"],
    ["stall=5,rate=0.1,path=/content"],
    ["csrf-rotate,rate=0.3"],
    ["status=503,rate=0.3,method=DELETE"],
    ["reset,rate=0.2,method=PATCH", "drop-after=0,rate=0.2,method=DELETE"],
    ["status=503,rate=0.1", "csrf-rotate,rate=0.1", "reset,rate=0.03"],
]


def now():
    """Monotonic seconds."""
    return time.monotonic()


def log(msg):
    """A progress line on stderr."""
    sys.stderr.write("soak: %s\n" % msg)
    sys.stderr.flush()


def md5(b):
    """Hex MD5 of some bytes."""
    return hashlib.md5(b).hexdigest()


def gen(seed, tag, size):
    """The bytes of one version: seeded, so a check can regenerate them."""
    return random.Random("%s:%s" % (seed, tag)).randbytes(size)


def head(seed, v, n):
    """The first n bytes of version v, without generating all of it
    (randbytes is consistent in whole 32-bit words only)."""
    w = (n + 3) & ~3
    return gen(seed, v.tag, v.size if w > v.size else w)[:n]


class Timeout(Exception):
    """A bounded call did not return in time."""


class Hung(Exception):
    """Workload operations did not finish in time."""


def bounded(fn, secs, *args):
    """fn(*args) in a daemon thread; Timeout when it takes over secs (the
    thread is abandoned: a hung FUSE call cannot be cancelled)."""
    box = {}

    def run():
        """fn's result or exception, into box."""
        try:
            box["r"] = fn(*args)
        except BaseException as e:          # handed to the caller
            box["e"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(secs)
    if t.is_alive():
        raise Timeout("%s did not return within %ss" % (fn.__name__, secs))
    if "e" in box:
        raise box["e"]
    return box.get("r")


# ------------------------------------------------------------ processes

class Fake:
    """The fake DSpace server, started and stopped by PID."""

    def __init__(self, py, script, workdir, jwt):
        self.dir = os.path.join(workdir, "fake")
        os.makedirs(self.dir, exist_ok=True)
        portf = os.path.join(self.dir, "port")
        self.err = open(os.path.join(self.dir, "server.err"), "wb")
        self.proc = subprocess.Popen(
            [py, script, "--port", "0", "--port-file", portf,
             "--state", os.path.join(self.dir, "state"), "--fixture", "small",
             "--jwt-lifetime", str(jwt),
             "--request-log", os.path.join(self.dir, "requests.log")],
            stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err)
        deadline = now() + 30
        while now() < deadline:
            if os.path.exists(portf) and open(portf).read().strip():
                break
            if self.proc.poll() is not None:
                raise RuntimeError("fake server exited early")
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("fake server did not start within 30 s")
        self.port = int(open(portf).read())
        self.url = "http://127.0.0.1:%d/server" % self.port

    def control(self, method, path, body=None):
        """A request to /fake-control (JSON in and out)."""
        data = None if body is None else (
            body if isinstance(body, bytes) else json.dumps(body).encode())
        req = urllib.request.Request(
            "http://127.0.0.1:%d/fake-control%s" % (self.port, path),
            data=data, method=method)
        with urllib.request.urlopen(req, timeout=15) as r:
            return json.loads(r.read().decode("utf-8"))

    def faults(self, specs):
        """Replaces the active faults (none: clears them)."""
        if specs:
            self.control("POST", "/faults", {"faults": specs})
        else:
            self.control("DELETE", "/faults")

    def stop(self):
        """SIGTERM, at most 5 s, then SIGKILL (by PID)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def run_bounded(argv, secs):
    """Runs argv (output discarded) for at most secs; its exit status, or
    None when it had to be killed (never an unbounded wait)."""
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        return p.wait(secs)
    except subprocess.TimeoutExpired:
        p.kill()
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass
        return None


def fuse_abort(mnt):
    """Aborts the FUSE connection of mnt (/sys/fs/fuse/connections/N/abort,
    mounting fusectl if needed): every request waiting on a daemon that
    cannot answer fails at once. True when done."""
    minor = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            w = line.split()
            if len(w) > 4 and w[4] == mnt:
                minor = w[2].split(":")[1]
    if minor is None:
        return False
    conns = "/sys/fs/fuse/connections"
    if os.path.isdir(conns) and not os.listdir(conns):
        run_bounded(["mount", "-t", "fusectl", "none", conns], 10)
    try:
        with open(os.path.join(conns, minor, "abort"), "w") as f:
            f.write("1")
        return True
    except OSError:
        return False


def stuck_threads(pid):
    """The threads of pid in uninterruptible sleep, with where they wait."""
    out = []
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/stat" % (pid, t)) as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
            if state == "D":
                with open("/proc/%d/task/%s/wchan" % (pid, t)) as f:
                    out.append("%s in %s" % (t, f.read().strip()))
    except OSError:
        pass
    return out


def is_mounted(mnt):
    """Whether a FUSE file system is mounted on mnt."""
    with open("/proc/mounts") as f:
        return any(len(w) > 2 and w[1] == mnt and w[2].startswith("fuse")
                   for w in (line.split() for line in f))


class Daemon:
    """One dspacefs process (foreground, -f), mounted on mnt."""

    def __init__(self, exe, url, mnt, cache, logpath, extra):
        self.mnt = mnt
        self.log = open(logpath, "ab")
        env = dict(os.environ, DSPACEFS_PASSWORD="admin")
        self.proc = subprocess.Popen(
            [exe, "-f", "-o", "cache_dir=" + cache,
             "-o", "user=admin@example.org"] + extra + [url, mnt],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
            env=env)
        self.pid = self.proc.pid
        deadline = now() + 20
        while now() < deadline:
            if is_mounted(mnt):
                return
            if self.proc.poll() is not None:
                raise RuntimeError("dspacefs exited before mounting (%s)"
                                   % self.proc.returncode)
            time.sleep(0.1)
        self.abort()
        raise RuntimeError("dspacefs did not mount within 20 s")

    def sample(self):
        """(fds, threads, VmHWM KiB, VmRSS KiB, fds by kind) of the
        daemon."""
        p = "/proc/%d" % self.pid
        st = {}
        with open(p + "/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                st[k] = v.strip()
        kib = lambda k: int(st.get(k, "0 kB").split()[0])
        kinds = {}
        fds = os.listdir(p + "/fd")
        for fd in fds:
            try:
                t = os.readlink("%s/fd/%s" % (p, fd))
            except OSError:
                continue
            k = ("socket" if t.startswith("socket:") else
                 "spool" if "/spool/" in t else
                 "content" if "/content/" in t else
                 "meta.db" if "/meta.db" in t else "other")
            kinds[k] = kinds.get(k, 0) + 1
        return (len(fds), len(os.listdir(p + "/task")), kib("VmHWM"),
                kib("VmRSS"), kinds)

    def kill9(self):
        """kill -9 and a lazy unmount of what it leaves behind; returns the
        threads that kept it from dying (aborting its FUSE connection)."""
        os.kill(self.pid, signal.SIGKILL)
        stuck = []
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            stuck = stuck_threads(self.pid) or ["(no thread in D state)"]
            fuse_abort(self.mnt)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        run_bounded(["fusermount3", "-uz", self.mnt], 20)
        return stuck

    def unmount(self):
        """Clean unmount; returns the daemon's exit status (or None)."""
        if run_bounded(["fusermount3", "-u", self.mnt], 20) != 0:
            fuse_abort(self.mnt)
            run_bounded(["fusermount3", "-uz", self.mnt], 20)
        try:
            return self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.abort()
            return None

    def abort(self):
        """Kills the daemon and detaches its mount (clean-up after errors)."""
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                fuse_abort(self.mnt)
        if is_mounted(self.mnt):
            fuse_abort(self.mnt)
            run_bounded(["fusermount3", "-uz", self.mnt], 20)


# ------------------------------------------------------------ records

class Version:
    """One write of a whole file (open O_TRUNC, write, close)."""

    def __init__(self, name, tag, size, digest, epoch):
        self.name, self.tag, self.size, self.md5 = name, tag, size, digest
        self.epoch = epoch
        self.acked = 0          # bytes write() acknowledged
        self.cur = name         # its name now (renames move pending files)
        self.discarded = False  # removed or replaced by the user later
        self.result = None      # "ok", "failed" (close), "partial" (write)
        self.error = ""
        self.t0 = self.t1 = None


class Read:
    """One whole-file read through the mount."""
    def __init__(self, name, mode, epoch):
        self.name, self.mode, self.epoch = name, mode, epoch
        self.md5, self.n, self.error = None, 0, ""
        self.data = None        # the bytes, kept when they looked wrong
        self.t0 = self.t1 = None


class Model:
    """What the workload did, shared by the worker threads."""

    def __init__(self, seed):
        self.seed = seed
        self.lock = threading.Lock()
        self.versions = {}      # name -> set of complete-version md5s
        self.by_md5 = {}        # md5 -> Version
        self.writes = []        # Version, in start order
        self.reads = []
        self.windows = {}       # name -> [(t0, t1, Version)] of writes
        self.moves = []         # (t0, t1, src, dst) of renames that may
                                # have happened
        self.final = {}         # name -> set of allowed final md5s / ABSENT
        self.ops = []           # (kind, detail, result)
        self.epoch = 0
        self.kept = 0           # wrong-looking reads whose bytes are kept
        self.writing = {}       # name -> the Version being written now

    def allowed(self, name):
        """What the server may hold under name now (md5s or ABSENT)."""
        return self.final.setdefault(name, {ABSENT})


def errname(e):
    """The errno name of an OSError (ENOENT, ESTALE, ...)."""
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(
        e, OSError) and e.errno else type(e).__name__


# ------------------------------------------------------------ workload

class Workload:
    """The reader and writer threads, with a gate to pause them."""
    def __init__(self, args, model, bundle_dir):
        self.a, self.m, self.dir = args, model, bundle_dir
        self.stop = threading.Event()
        self.gate = threading.Event()       # set: operations may start
        self.gate.set()
        self.busy = 0
        self.busy_lock = threading.Condition()
        self.threads = []
        self.current_op = {}                # thread name -> (op, since)

    def path(self, name):
        """The path of name in the bundle directory."""
        return os.path.join(self.dir, name)

    def enter(self, what):
        """Waits at the gate; False once the workload stops."""
        while not self.stop.is_set():
            if self.gate.wait(0.2):
                with self.busy_lock:
                    if self.gate.is_set():
                        self.busy += 1
                        self.current_op[threading.current_thread().name] = (
                            what, now())
                        return True
        return False

    def leave(self):
        """The end of an operation started by enter()."""
        with self.busy_lock:
            self.busy -= 1
            self.current_op.pop(threading.current_thread().name, None)
            self.busy_lock.notify_all()

    def pause(self, secs):
        """Stop new operations and wait (bounded) for the running ones."""
        self.gate.clear()
        deadline = now() + secs
        with self.busy_lock:
            while self.busy and now() < deadline:
                self.busy_lock.wait(0.2)
            return self.busy == 0

    def resume(self):
        """Lets operations start again."""
        self.gate.set()

    # ---- writers
    def write_version(self, w, name, v, size):
        """One version: open O_TRUNC, write in 256 KiB pieces, close."""
        m = self.m
        tag = "w%dv%d" % (w, v)
        data = gen(m.seed, tag, size)
        ver = Version(name, tag, size, md5(data), m.epoch)
        rng = random.Random("%s:slow:%s" % (m.seed, tag))
        with m.lock:
            m.versions.setdefault(name, set()).add(ver.md5)
            m.by_md5[ver.md5] = ver
            m.writes.append(ver)
            prior = set(m.allowed(name))
            m.writing[name] = ver
        ver.t0 = now()
        fd = -1
        try:
            fd = os.open(self.path(name), os.O_WRONLY | os.O_CREAT |
                         os.O_TRUNC, 0o644)
            off = 0
            while off < size:
                n = os.write(fd, data[off:off + CHUNK])
                off += n
                ver.acked = off
                if rng.random() < 0.1:
                    time.sleep(rng.uniform(0, 0.3))
            ver.result = "failed"       # until close says otherwise
            # close() frees the descriptor even when it fails: never
            # close it twice (another thread may own that number by then)
            cfd, fd = fd, -1
            os.close(cfd)
            ver.result = "ok"
        except OSError as e:
            ver.error = errname(e)
            if ver.result is None:
                ver.result = "partial"
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        ver.t1 = now()
        with m.lock:
            m.writing.pop(name, None)
            m.windows.setdefault(name, []).append((ver.t0, ver.t1, ver))
            if ver.result == "ok":
                m.final[name] = {ver.md5}
            elif ver.result == "failed":
                m.final[name] = prior | {ver.md5}
            else:
                m.final[name] = prior
            m.ops.append((ver.t0 - T0, ver.t1 - T0, "write",
                          "%s %s %d" % (name, tag, size),
                          ver.result + (" " + ver.error if ver.error else "")))

    def rename(self, src, dst):
        """rename(2) src over dst; dst may then show anything src held."""
        m = self.m
        with m.lock:
            # dst may show anything src held; src may go away
            m.versions.setdefault(dst, set()).update(
                m.versions.get(src, set()))
            a, b = set(m.allowed(src)), set(m.allowed(dst))
        t0 = now()
        try:
            os.rename(self.path(src), self.path(dst))
            res = "ok"
        except OSError as e:
            res = errname(e)
        t1 = now()
        with m.lock:
            if res == "ok":
                # certain only when src's content was on the server; a
                # pending src replaces dst's server copy only once uploaded
                m.final[dst] = a if len(a) == 1 and ABSENT not in a \
                    else a | b
                m.final[src] = {ABSENT}
                for v in m.writes:
                    if v.result != "ok" and v.cur == dst:
                        v.discarded = True
                for v in m.writes:
                    if v.result != "ok" and v.cur == src:
                        v.cur = dst
            else:
                m.final[dst], m.final[src] = a | b, a | {ABSENT}
            m.windows.setdefault(dst, []).append((t0, t1, None))
            if res != "ENOENT":
                m.moves.append((t0, t1, src, dst))
            m.ops.append((t0 - T0, t1 - T0, "rename", "%s -> %s" % (src, dst),
                          res))

    def unlink(self, name):
        """unlink(2) of a name."""
        m = self.m
        t0 = now()
        try:
            os.unlink(self.path(name))
            res = "ok"
        except OSError as e:
            res = errname(e)
        with m.lock:
            if res == "ok":
                a = m.allowed(name)
                m.final[name] = {ABSENT} if len(a) == 1 else a | {ABSENT}
                for v in m.writes:
                    if v.result != "ok" and v.cur == name:
                        v.discarded = True
            else:
                m.final[name] = m.allowed(name) | {ABSENT}
            m.ops.append((t0 - T0, now() - T0, "unlink", name, res))

    def writer(self, w):
        """Writer w: overwrites, renames and deletes among its own names."""
        rng = random.Random("%s:writer:%d" % (self.m.seed, w))
        names = ["w%d-%d.bin" % (w, k) for k in range(self.a.names)]
        v = 0
        while self.enter("writer"):
            try:
                x = rng.random()
                if x < 0.72:
                    v += 1
                    r = rng.random()
                    if r < 0.3:
                        size = rng.randint(1, 64 << 10)
                    elif r < 0.7:
                        size = rng.randint(64 << 10, 1 << 20)
                    else:
                        size = rng.randint(1 << 20, 3 << 20)
                    self.write_version(w, rng.choice(names), v, size)
                elif x < 0.92:
                    src, dst = rng.sample(names, 2)
                    self.rename(src, dst)
                elif x < 0.96:
                    self.unlink(rng.choice(names))
                else:
                    time.sleep(rng.uniform(0.1, 0.5))
            finally:
                self.leave()

    # ---- readers
    def read_once(self, name, mode, rng):
        """One whole-file read; a slow one pauses after its first 64 KiB."""
        m = self.m
        rd = Read(name, mode, m.epoch)
        h = hashlib.md5()
        got = bytearray()
        rd.t0 = now()
        fd = -1
        try:
            fd = os.open(self.path(name), os.O_RDONLY)
            first = True
            while True:
                b = os.read(fd, (64 << 10) if first and mode == "slow"
                            else (1 << 20))
                if not b:
                    break
                h.update(b)
                got += b
                rd.n += len(b)
                if first and mode == "slow":
                    time.sleep(rng.uniform(0.2, 1.5))
                first = False
            rd.md5 = h.hexdigest()
        except OSError as e:
            rd.error = errname(e)
        finally:
            if fd >= 0:
                cfd, fd = fd, -1
                try:
                    os.close(cfd)
                except OSError as e:
                    if rd.md5 is not None:
                        rd.md5, rd.error = None, "close " + errname(e)
        rd.t1 = now()
        with m.lock:
            m.reads.append(rd)
            odd = rd.md5 and rd.md5 not in m.versions.get(name, ()) and \
                m.kept < 40
            w = m.writing.get(name)
        if odd and not (w and rd.n <= w.size and
                        got == head(m.seed, w, rd.n)):
            with m.lock:
                rd.data = bytes(got)        # for the diagnosis
                m.kept += 1

    def reader(self, r):
        """Reader r: whole-file reads of any writer's names, some slow."""
        rng = random.Random("%s:reader:%d" % (self.m.seed, r))
        names = ["w%d-%d.bin" % (w, k) for w in range(self.a.writers)
                 for k in range(self.a.names)]
        while self.enter("reader"):
            try:
                mode = "slow" if rng.random() < 0.35 else "fast"
                self.read_once(rng.choice(names), mode, rng)
                if rng.random() < 0.2:
                    # a listing now and then (readdirplus, merged uploads)
                    try:
                        os.listdir(self.dir)
                    except OSError:
                        pass
            finally:
                self.leave()

    def start(self):
        """Starts the writer and reader threads."""
        for w in range(self.a.writers):
            self.threads.append(threading.Thread(
                target=self.writer, args=(w,), name="writer%d" % w,
                daemon=True))
        for r in range(self.a.readers):
            self.threads.append(threading.Thread(
                target=self.reader, args=(r,), name="reader%d" % r,
                daemon=True))
        for t in self.threads:
            t.start()

    def finish(self, secs):
        """Stops the workload; returns the operations still hung."""
        self.stop.set()
        deadline = now() + secs
        for t in self.threads:
            t.join(max(0.1, deadline - now()))
        with self.busy_lock:
            return ["%s: %s for %.0f s" % (k, v[0], now() - v[1])
                    for k, v in self.current_op.items()]


# ------------------------------------------------------------ status file

def spool_of(cache, row_id, old_spool):
    """The spool file of a status row: the old format names it; the new one
    does not, so ask the journal (read-only) or guess the spool name."""
    if old_spool:
        return old_spool
    db = os.path.join(cache, "meta.db")
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5)
        try:
            r = c.execute("SELECT spool FROM uploads WHERE id = ?",
                          (int(row_id),)).fetchone()
        finally:
            c.close()
        if r and r[0]:
            return r[0]
    except (sqlite3.Error, ValueError):
        pass
    return os.path.join(cache, "spool", "upload-%s" % row_id)


def parse_status(text, cache):
    """Rows of .dspacefs-status (after the header line), either format:
    old: id, state, path, size, spool file, last error
    new: id, kind (upload|draft), state, path, size, bytes sent, detail"""
    rows = []
    for line in text.splitlines():
        # blank lines; the header line ("# session: ...", dspacefs(1))
        if not line.strip() or line.startswith("# "):
            continue
        f = line.split("\t")
        if len(f) >= 7 and f[1] in ("upload", "draft"):
            row = {"id": f[0], "kind": f[1], "state": f[2], "path": f[3],
                   "size": f[4], "detail": "\t".join(f[6:]), "spool": None}
        elif len(f) >= 6:
            row = {"id": f[0], "kind": "upload", "state": f[1],
                   "path": f[2], "size": f[3], "spool": f[4],
                   "detail": "\t".join(f[5:])}
        else:
            rows.append({"bad": line})
            continue
        if row["kind"] == "upload":
            row["spool"] = spool_of(cache, row["id"], row["spool"])
            try:
                with open(row["spool"], "rb") as sf:
                    data = sf.read()
                row["spool_md5"], row["spool_len"] = md5(data), len(data)
                row["spool_data"] = data
            except OSError as e:
                row["spool_md5"], row["spool_len"] = None, -1
                row["spool_err"] = errname(e)
        rows.append(row)
    return rows


def read_status(mnt, cache):
    """The rows of MOUNT/.dspacefs-status (bounded)."""
    def rd():
        with open(os.path.join(mnt, STATUS_NAME), "r",
                  encoding="utf-8", errors="replace") as f:
            return f.read()
    return parse_status(bounded(rd, 20), cache)


def write_status(mnt, cmd):
    """Writes one command to MOUNT/.dspacefs-status (bounded)."""
    def wr():
        with open(os.path.join(mnt, STATUS_NAME), "w") as f:
            f.write(cmd + "\n")
    bounded(wr, 120)


# ------------------------------------------------------------ chaos

class Chaos:
    """Switches the fake server's faults every few seconds (seeded) and
    kills every token now and then (POST /fake-control/restart)."""

    def __init__(self, args, fake, seed):
        self.a, self.fake = args, fake
        self.rng = random.Random("%s:chaos" % seed)
        self.current = []
        self.history = []
        self.total_hits = 0
        self.lock = threading.Lock()

    def step(self):
        """The next fault scenario (seeded choice)."""
        self.count_hits()
        sc = self.rng.choice(SCENARIOS)
        if self.a.calm:
            sc = ["calm"]
        specs = [] if sc == ["calm"] else [
            "%s,seed=%s-%d" % (s, self.a.seed, len(self.history))
            for s in sc]
        restart = self.rng.random() < 0.15 and not self.a.calm
        with self.lock:
            self.fake.faults(specs)
            if restart:
                self.fake.control("POST", "/restart")
            self.current = specs
            self.history.append((now(), sc, restart))
            chaos_history.append((now(), sc, restart))

    def calm(self):
        """No faults."""
        self.count_hits()
        with self.lock:
            self.fake.faults([])
            self.current = []

    def count_hits(self):
        """Adds up the hits of the faults about to be replaced."""
        try:
            self.total_hits += sum(f["hits"] for f in self.fake.control(
                "GET", "/faults")["faults"])
        except OSError:
            pass


# ------------------------------------------------------------ checks

class Checks:
    """The checks' results, printed one line each."""
    def __init__(self):
        self.results = []       # (name, ok, detail lines)

    def add(self, name, failures, summary):
        """Records a check: its failures (none: passed) and a summary."""
        self.results.append((name, not failures, summary, failures))

    def ok(self):
        """Whether every check passed."""
        return all(r[1] for r in self.results)

    def print(self, out):
        """One line per check, then up to 12 failures each."""
        for name, ok, summary, failures in self.results:
            out.write("%-4s %-34s %s\n" % ("ok" if ok else "FAIL", name,
                                           summary))
            for f in failures[:12]:
                out.write("       - %s\n" % f)
            if len(failures) > 12:
                out.write("       ... and %d more\n" % (len(failures) - 12))


def followed(m, rd):
    """The names the file being read may have had during the read: its
    name, and those it was renamed to meanwhile (a rename moves the open
    file, as with a local file)."""
    names = {rd.name}
    for (t0, t1, src, dst) in sorted(m.moves, key=lambda x: x[0]):
        if t0 <= rd.t1 and t1 >= rd.t0 and src in names:
            names.add(dst)
    return names


def overlapping(m, rd):
    """Versions whose write overlapped the read (the reader may see the
    file being written: a prefix of it, as with a local file). A write to
    a name the file was renamed to during the read counts: with a local
    file too, an O_TRUNC open of the new name truncates the file the
    reader holds open, which then ends early."""
    return [v for name in followed(m, rd)
            for (t0, t1, v) in m.windows.get(name, [])
            if v is not None and t0 <= rd.t1 and t1 >= rd.t0]


def lcp(a, b):
    """Length of the common prefix of a and b."""
    n = min(len(a), len(b))
    lo = 0
    step = 1 << 16
    while lo < n:
        hi = min(n, lo + step)
        if a[lo:hi] != b[lo:hi]:
            while lo < hi and a[lo] == b[lo]:
                lo += 1
            return lo
        lo = hi
    return n


def diagnose(rd, pool, seed, everything):
    """Which versions a wrong read is made of: a prefix of one, or one
    then another (from the same name, else from any name)."""
    other = BY_MD5.get(rd.md5)
    if other is not None:
        return "exactly %s (%d B), which was written to %s%s" % (
            other.tag, other.size, other.name,
            " (another name!)" if other.name != rd.name else "")
    if rd.data is None:
        return "(bytes not kept)"
    if not pool:
        return "no version known"
    near = lambda vs, n: sorted(vs, key=lambda v: abs(v.t0 - rd.t0))[:n]
    pool = near(pool, 40)
    v1, k = None, -1
    for v in pool:
        x = lcp(rd.data, head(seed, v, min(v.size, rd.n)))
        if x > k:
            v1, k = v, x
    if k == rd.n:
        return "the first %d B of %s (%d B, %s): truncated" % (
            k, v1.tag, v1.size, v1.result)
    for where, vs in (("", pool), (" (another name!)",
                                   near(everything, 60))):
        for v2 in vs:
            if v2 is v1 or v2.size <= k:
                continue
            b2 = head(seed, v2, min(v2.size, rd.n))
            if rd.data[k:k + 4096] == b2[k:k + 4096]:
                k2 = k + lcp(rd.data[k:], b2[k:])
                first = "MIXED: bytes 0-%d of %s (%d B), then " % (
                    k, v1.tag, v1.size) if k else ""
                return ("%sbytes %d-%d of %s (%d B, written to %s)%s%s" % (
                    first, k, k2, v2.tag, v2.size, v2.name, where,
                    "" if k2 == rd.n else ", then other bytes"))
    zeros = rd.data[k:k + 4096].count(0)
    return ("bytes 0-%d of %s (%d B), then bytes of no version written "
            "(%d of the next 4096 B are zero)" % (k, v1.tag, v1.size, zeros))


BY_MD5 = {}


def check_reads(m, seed, ck):
    """Every read returned one version (or a prefix while written)."""
    fails, ok, errs, prefix = [], 0, {}, 0
    BY_MD5.update(m.by_md5)
    for rd in m.reads:
        if rd.md5 is None:
            errs[rd.error] = errs.get(rd.error, 0) + 1
            continue
        cands = m.versions.get(rd.name, set())
        if rd.md5 in cands:
            ok += 1
            continue
        # a prefix of a version written (or replaced) during the read?
        ov = overlapping(m, rd)
        pool = {m.by_md5[c] for c in cands if c in m.by_md5} | set(ov)
        if ov and any(rd.n <= v.size and md5(head(seed, v, rd.n)) ==
                      rd.md5 for v in pool):
            prefix += 1
            continue
        fails.append("%s: %s read of %d B at %.1f-%.1f s (epoch %d) "
                     "matches none of the %d versions written there: %s" % (
                         rd.name, rd.mode, rd.n, rd.t0 - T0, rd.t1 - T0,
                         rd.epoch, len(cands),
                         diagnose(rd, pool, seed, m.writes)
                         if len(fails) < 12 else "(not diagnosed)"))
        if rd.data is not None:
            keep = os.path.join(WORK, "wrong-read-%d.bin" % len(fails))
            with open(keep, "wb") as f:
                f.write(rd.data)
    ck.add("reads: never wrong bytes", fails,
           "%d exact, %d prefix while written, %d errors %s, %d WRONG" % (
               ok, prefix, sum(errs.values()),
               json.dumps(errs, sort_keys=True), len(fails)))


def server_bitstreams(fake, bundle_uuid):
    """Every bitstream (deleted ones too) the server ever had in the bundle."""
    st = fake.control("GET", "/state")
    return [o for o in st["objects"] if o["type"] == "bitstream"
            and o.get("parent") == bundle_uuid]


def pending_match(v, rows, seed):
    """A status row holding version v: its whole bytes, or for a version
    never fully written a prefix of at least the acknowledged bytes."""
    for r in rows:
        if r.get("spool_md5") is None:
            continue
        if r["spool_md5"] == v.md5:
            return r
        if v.result == "partial" and v.acked <= r["spool_len"] <= v.size \
                and r["spool_data"] == head(seed, v, r["spool_len"]):
            return r
    return None


def check_uploads(m, seed, bs, rows, ck, label):
    """Each version is on the server once, or pending, as its close() said."""
    count = {}
    for b in bs:
        count[b.get("md5")] = count.get(b.get("md5"), 0) + 1
    prows = [r for r in rows if r.get("kind") == "upload"]
    fails, tally = [], {}
    for v in m.writes:
        n = count.get(v.md5, 0)
        if v.result == "ok":
            kind = "ok"
            if n != 1:
                fails.append("%s %s (%d B): close() succeeded but it is on "
                             "the server %d times" % (v.name, v.tag, v.size,
                                                       n))
        elif v.result == "failed":
            row = pending_match(v, prows, seed) if n == 0 else None
            kind = "failed, on server" if n == 1 else "failed, pending"
            if n > 1:
                fails.append("%s %s: failed close (%s), on the server %d "
                             "times" % (v.name, v.tag, v.error, n))
            elif n == 0 and row is None and not v.discarded:
                fails.append("%s %s (%d B): close() failed (%s); neither on "
                             "the server nor pending with its bytes" % (
                                 v.name, v.tag, v.size, v.error))
        else:
            row = pending_match(v, prows, seed)
            kind = "never closed, pending" if row else "never closed"
            if n:
                fails.append("%s %s: never fully written (%d of %d B "
                             "acknowledged, %s) but on the server %d times"
                             % (v.name, v.tag, v.acked, v.size, v.error, n))
            elif v.acked > 0 and row is None and not v.discarded:
                fails.append("%s %s: %d B acknowledged by write(), then %s; "
                             "not pending with those bytes" % (
                                 v.name, v.tag, v.acked, v.error))
        tally[kind] = tally.get(kind, 0) + 1
    ck.add("uploads %s: once or pending" % label, fails,
           json.dumps(tally, sort_keys=True))


UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                     r"[0-9a-f]{12}")


def pending_deletes(rows):
    """The old versions that delete-pending rows report as still live."""
    out = set()
    for r in rows or []:
        if r.get("state") == "delete-pending":
            out.update(UUID_RE.findall(r.get("detail", "")))
    return out


def check_server(m, bs, ck, label, final=True, rows=None):
    """Nothing incomplete on the server, no duplicates (but the old
    versions a delete-pending row reports), allowed finals."""
    pending = pending_deletes(rows)
    complete = {v.md5 for v in m.writes if v.result in ("ok", "failed")}
    fails, gone = [], []
    for b in bs:
        if b.get("md5") in complete:
            continue
        v = m.by_md5.get(b.get("md5"))
        what = "%s (%d B, md5 %s%s)" % (
            b.get("name"), b.get("size", -1), b.get("md5"),
            ", a partial write of " + v.tag if v else "")
        if b.get("deleted"):
            gone.append(what)
        else:
            fails.append("live on the server, not a complete version: " +
                         what)
    if gone:
        fails.append("%d incomplete versions were on the server for a "
                     "while (deleted since), e.g. %s" % (
                         len(gone), "; ".join(gone[:3])))
    live = {}
    for b in bs:
        if not b.get("deleted") and b.get("uuid") not in pending:
            live.setdefault(b.get("name"), []).append(b)
    for name, l in sorted(live.items()):
        if len(l) > 1:
            fails.insert(0, "%d live bitstreams named %s (sizes %s)" % (
                len(l), name, ", ".join(str(b.get("size")) for b in l[:6])
                + (", ..." if len(l) > 6 else "")))
        if name not in m.final:
            fails.insert(0, "live bitstream with a name never used: %r "
                         "(%d B)" % (name, l[0].get("size", -1)))
    if final:
        for name, allowed in sorted(m.final.items()):
            got = {b.get("md5") for b in live.get(name, [])} or {ABSENT}
            if not got & allowed:
                tags = [m.by_md5[x].tag if x in m.by_md5 else x
                        for x in allowed]
                have = [m.by_md5[x].tag if x in m.by_md5 else x
                        for x in got]
                fails.append("%s on the server is %s; the operations allow "
                             "only %s" % (name, have, tags))
    ck.add("server %s: exact, no duplicates" % label, fails,
           "%d bitstreams (%d live)" % (len(bs), sum(
               1 for b in bs if not b.get("deleted"))))


def check_rows(m, seed, rows, ck, label):
    """Status rows at rest: none still moving, every spool real."""
    fails, states = [], {}
    for r in rows:
        if "bad" in r:
            fails.append("unparsable status line: %r" % r["bad"])
            continue
        states[r["state"]] = states.get(r["state"], 0) + 1
        if r["kind"] != "upload":
            continue
        if r["state"] in MOVING:
            fails.append("row %s %s still %s after quiescence" % (
                r["id"], r["path"], r["state"]))
        if r["state"] == "delete-pending":
            continue  # landed; only the old version's DELETE is left
        if r.get("spool_md5") is None:
            fails.append("row %s %s (%s): spool %s unreadable (%s)" % (
                r["id"], r["path"], r["state"], r["spool"],
                r.get("spool_err")))
            continue
        v = m.by_md5.get(r["spool_md5"])
        d, n = r["spool_data"], r["spool_len"]
        if v is None and not any(
                n <= w.size and d[:64] == head(seed, w, min(n, 64)) and
                d == head(seed, w, n) for w in m.writes):
            fails.append("row %s %s (%s): spool holds %d B that are no "
                         "version written" % (r["id"], r["path"],
                                              r["state"], r["spool_len"]))
    ck.add("status file %s" % label, fails,
           "%d rows %s" % (len(rows), json.dumps(states, sort_keys=True)))


# ------------------------------------------------------------ the run

T0 = now()


def wait_settled(mnt, cache, secs):
    """Waits (bounded) until no status row is still moving."""
    deadline = now() + secs
    rows = []
    while now() < deadline:
        try:
            rows = read_status(mnt, cache)
        except (OSError, Timeout):
            rows = []
        if not any(r.get("kind") == "upload" and r.get("state") in MOVING
                   for r in rows):
            return rows
        time.sleep(0.5)
    return rows


def quiet_sample(d, secs=3):
    """A sample of the daemon after secs of rest."""
    time.sleep(secs)
    return d.sample()


WORK = "."


def run(a):
    """The whole soak: start, workload with chaos, kill -9, checks."""
    global T0, WORK
    seed = a.seed
    work = WORK = os.path.abspath(a.workdir)
    os.makedirs(work, exist_ok=True)
    if os.listdir(work):
        raise RuntimeError("%s is not empty (an earlier run?)" % work)
    mnt = os.path.join(work, "mnt")
    cache = os.path.join(work, "cache")
    os.makedirs(mnt, exist_ok=True)
    os.makedirs(cache, exist_ok=True)
    os.chmod(cache, 0o700)
    fslog = os.path.join(work, "dspacefs.log")
    pidfile = os.path.join(work, "pids")
    opts = ["-o", "timeout=%d" % a.timeout, "-o", "cache_ttl=2"]
    fake = daemon = wl = None
    ck = Checks()
    m = Model(seed)
    try:
        fake = Fake(a.python, a.fake, work, a.jwt_lifetime)
        with open(pidfile, "w") as f:
            f.write("%d\n" % fake.proc.pid)
        st = fake.control("GET", "/state")
        item = [o for o in st["objects"] if o["type"] == "item"
                and o.get("name") == ITEM_NAME][0]
        bundle = [o for o in st["objects"] if o["type"] == "bundle"
                  and o.get("parent") == item["uuid"]
                  and o.get("name") == "ORIGINAL"][0]["uuid"]
        daemon = Daemon(a.dspacefs, fake.url, mnt, cache, fslog, opts)
        with open(pidfile, "a") as f:
            f.write("%d\n" % daemon.pid)
        bdir = os.path.join(mnt, *ITEM_DIR)
        if not bounded(os.path.isdir, 30, bdir):
            raise RuntimeError("%s is not a directory" % bdir)
        log("seed %s, %d s, %d writers x %d names, %d readers; work in %s"
            % (seed, a.seconds, a.writers, a.names, a.readers, work))
        wl = Workload(a, m, bdir)
        chaos = Chaos(a, fake, seed)
        T0 = now()
        wl.start()
        plan = [(a.seconds * 0.4, "kill"), (a.seconds * 0.55, "baseline"),
                (a.seconds, "end")]
        samples = {}
        hung = []
        crng = random.Random("%s:when" % seed)
        for at, what in plan:
            while now() - T0 < at:
                chaos.step()
                time.sleep(min(crng.uniform(2, 5),
                               max(0.1, at - (now() - T0))))
            if what == "kill":
                if a.no_kill:
                    continue
                samples["before kill"] = daemon.sample()
                wl.gate.clear()         # in-flight operations die with it
                stuck = daemon.kill9()
                ck.add("daemon: dies on kill -9", [
                    "still alive 10 s after SIGKILL (its FUSE connection "
                    "had to be aborted): " + ", ".join(stuck)]
                    if stuck else [], "within 10 s")
                log("kill -9 at %.1f s; remounting on the same cache" %
                    (now() - T0))
                m.epoch += 1
                chaos.calm()
                daemon = Daemon(a.dspacefs, fake.url, mnt, cache, fslog,
                                opts)
                with open(pidfile, "a") as f:
                    f.write("%d\n" % daemon.pid)
                wl.resume()
            elif what == "baseline":
                chaos.calm()
                if not wl.pause(60):
                    hung += ["baseline: %s" % h for h in wl.finish(1)]
                    break
                wait_settled(mnt, cache, 30)
                samples["baseline"] = quiet_sample(daemon)
                wl.resume()
            else:
                chaos.calm()
                hung += wl.finish(90)
        hits = chaos.total_hits
        ck.add("no operation hung", hung, "%d reads, %d writes, %d ops" % (
            len(m.reads), len(m.writes), len(m.ops)))
        if hung:
            raise Hung("operations hung: %s" % hung)
        rows = wait_settled(mnt, cache, 60)
        samples["end"] = quiet_sample(daemon)
        # ---- the checks, on the state before any retry
        check_reads(m, seed, ck)
        bs = server_bitstreams(fake, bundle)
        check_uploads(m, seed, bs, rows, ck, "as left")
        check_server(m, bs, ck, "as left", rows=rows)
        check_rows(m, seed, rows, ck, "as left")
        # ---- a plain retry of whatever is pending
        retry_err = ""
        if rows and not a.no_retry:
            try:
                write_status(mnt, "retry")
            except (OSError, Timeout) as e:
                retry_err = errname(e)      # some rows failed again: fine
            rows2 = wait_settled(mnt, cache, 60)
            bs2 = server_bitstreams(fake, bundle)
            check_uploads(m, seed, bs2, rows2, ck, "after retry")
            check_server(m, bs2, ck, "after retry", final=False,
                         rows=rows2)
            check_rows(m, seed, rows2, ck, "after retry")
        check_daemon(a, samples, ck)
        sane = []
        nok = sum(1 for v in m.writes if v.result == "ok")
        nrd = sum(1 for r in m.reads if r.md5 is not None)
        if nok < a.min_ops or (a.readers and nrd < a.min_ops):
            sane.append("only %d successful uploads and %d reads (want %d)"
                        % (nok, nrd, a.min_ops))
        if hits == 0 and not a.calm:
            sane.append("no fault fired")
        ck.add("the soak did something", sane,
               "%d uploads ok, %d reads ok, %d fault hits, %d scenarios%s" % (
                   nok, nrd, hits, len(chaos.history),
                   ", retry: " + retry_err if retry_err else ""))
        code = daemon.unmount()
        daemon = None
        bad = []
        if code != 0:
            bad.append("dspacefs exit status %s after fusermount3 -u" % code)
        with open(fslog, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        for pat in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if pat in text:
                bad.append("sanitizer report in %s (%s)" % (fslog, pat))
        ck.add("clean unmount", bad, "log %s" % fslog)
    except (Hung, Timeout, OSError, RuntimeError,
            subprocess.SubprocessError) as e:
        if not wl:
            raise           # could not even start: exit 2
        ck.add("the soak ran to its end", [str(e)], "")
    finally:
        if daemon:
            daemon.abort()
        if fake:
            fake.stop()
    write_report(a, m, ck, work)
    return 0 if ck.ok() else 1


def check_daemon(a, samples, ck):
    """No fd or thread growth between quiescent points; VmHWM bound."""
    fails = []
    base, end = samples.get("baseline"), samples.get("end")
    if base and end:
        # each extra FUSE thread may bring its splice pipe (2 fds) and
        # a SQLite connection from the pool (db, WAL, shm)
        allow = a.fd_slack + 5 * max(0, end[1] - base[1])
        if end[0] > base[0] + allow:
            fails.append("fds grew from %d to %d (allowed: %d more)" % (
                base[0], end[0], allow))
        if end[1] > base[1] + a.thread_slack:
            fails.append("threads grew from %d to %d" % (base[1], end[1]))
    if end and end[4].get("spool"):
        fails.append("%d spool files still open with no file open for "
                     "writing" % end[4]["spool"])
    ck.add("daemon: no fd/thread leak", fails, "; ".join(
        "%s: %d fds %s, %d threads" % (
            k, v[0], json.dumps(v[4], sort_keys=True).replace('"', ""),
            v[1]) for k, v in samples.items()))
    fails = []
    if a.rss_limit_mib:
        for k, v in samples.items():
            if v[2] > a.rss_limit_mib * 1024:
                fails.append("%s: VmHWM %.1f MiB > %d MiB" % (
                    k, v[2] / 1024.0, a.rss_limit_mib))
    ck.add("daemon: memory (VmHWM)", fails, "; ".join(
        "%s: VmHWM %.1f MiB" % (k, v[2] / 1024.0)
        for k, v in samples.items()) + (
            "" if a.rss_limit_mib else " (limit off)"))


chaos_history = []


def write_report(a, m, ck, work):
    """The summary on stdout; every operation in WORK/ops.log."""
    out = sys.stdout
    out.write("\n=== dspacefs chaos soak: seed %s, %d s ===\n" % (
        a.seed, a.seconds))
    ck.print(out)
    out.write("=== %s ===\n" % ("PASS" if ck.ok() else "FAIL"))
    with open(os.path.join(work, "ops.log"), "w") as f:
        ops = list(m.ops) + [
            (rd.t0 - T0, rd.t1 - T0, "read", "%s %s" % (rd.name, rd.mode),
             "%d %s" % (rd.n, rd.md5 or rd.error)) for rd in m.reads]
        for op in sorted(ops):
            f.write("%7.2f %7.2f\t%s\t%s\t%s\n" % op)
        for t, sc, restart in chaos_history:
            f.write("%7.2f\tfaults\t%s%s\n" % (t - T0, sc,
                                              " +restart" if restart else ""))
    out.write("operations: %s/ops.log; daemon log: %s/dspacefs.log\n" % (
        work, work))
    out.flush()


def main():
    """Command line."""
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dspacefs", required=True)
    p.add_argument("--fake", default=os.path.join(
        here, "..", "fake-dspace", "fake_dspace.py"))
    p.add_argument("--python", default=sys.executable)
    p.add_argument("--workdir", required=True)
    p.add_argument("--seconds", type=int, default=int(
        os.environ.get("SOAK_SECONDS", "100")))
    p.add_argument("--seed", default=os.environ.get("SOAK_SEED", "1"))
    p.add_argument("--writers", type=int, default=3)
    p.add_argument("--names", type=int, default=3,
                   help="files per writer (renames move between them)")
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--timeout", type=int, default=3, help="-o timeout=")
    p.add_argument("--jwt-lifetime", type=int, default=8)
    p.add_argument("--rss-limit-mib", type=int, default=64,
                   help="VmHWM bound (0: off, e.g. under ASan)")
    p.add_argument("--fd-slack", type=int, default=12)
    p.add_argument("--thread-slack", type=int, default=8)
    p.add_argument("--min-ops", type=int, default=10)
    p.add_argument("--no-kill", action="store_true")
    p.add_argument("--no-retry", action="store_true")
    p.add_argument("--calm", action="store_true",
                   help="no faults, no token deaths (to tell the workload's "
                   "findings from the faults')")
    a = p.parse_args()
    a.dspacefs = os.path.abspath(a.dspacefs)
    # Nothing we start may hold our caller's descriptors (a child stuck on a
    # hung mount would keep a test runner's pipe open forever).
    os.closerange(3, 4096)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
    try:
        return run(a)
    except (RuntimeError, Timeout, OSError, subprocess.SubprocessError) as e:
        log("could not run: %s" % e)
        return 2


if __name__ == "__main__":
    sys.exit(main())
