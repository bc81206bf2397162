#!/usr/bin/env python3
"""Small helpers for bench/run.sh (standard library only).

    helpers.py uuid FIXTURE.json NAME       UUID of the bitstream called NAME
    helpers.py reqstats LOG [FROM_LINE]     request counts by kind (one line)
    helpers.py randread FILE COUNT SIZE SEED
                                            COUNT preads of SIZE bytes at
                                            seeded random offsets; latencies
    helpers.py mirror SRC DST               copy a tree's shape: mkdir and
                                            sparse truncate, no content
    helpers.py rate BYTES SECONDS           MB/s (10^6 bytes per second)
    helpers.py fxstats FIXTURE.json         collections, items and the
                                            discovery pages a listing needs
                                            (sum of ceil(items/100))
    helpers.py readsizes DEBUG.log          FUSE READ reply sizes from a
                                            dspacefs -d log (histogram)
    helpers.py summary RESULTS.tsv          medians as markdown tables
    helpers.py compare RESULTS.tsv          new against old (DSPACEFS_OLD):
                                            per figure, the ratio of the
                                            medians and the median of the
                                            per-repetition ratios (> 1:
                                            new is faster; the verdict is
                                            the latter's: both binaries ran
                                            in the same repetition)

RESULTS.tsv lines: bench <TAB> variant <TAB> metric <TAB> value.
"""

import json
import os
import random
import re
import statistics
import sys
import time

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def cmd_uuid(fixture, name):
    with open(fixture, encoding="utf-8") as f:
        doc = json.load(f)
    for o in doc["objects"]:
        if o.get("type") == "bitstream" and o.get("name") == name \
                and not o.get("deleted"):
            print(o["uuid"])
            return 0
    print("no bitstream named %r in %s" % (name, fixture), file=sys.stderr)
    return 1


def kind_of(rec):
    """Which kind of request a request-log line is."""
    path = rec.get("path", "")
    if path.endswith("/content"):
        return "content"
    if "/discover/" in path:
        return "discovery"
    if re.search(r"/core/(items|bundles|bitstreams)/" + UUID, path):
        return "per_object"
    if "/core/communities" in path or "/core/collections" in path:
        return "containers"
    if "/authn" in path or "/security/csrf" in path:
        return "auth"
    return "other"


def cmd_reqstats(log, start="1"):
    counts = {"total": 0, "content": 0, "discovery": 0, "per_object": 0,
              "containers": 0, "auth": 0, "other": 0, "content_bytes": 0}
    paths = {}
    with open(log, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if i < int(start) or not line.strip():
                continue
            rec = json.loads(line)
            k = kind_of(rec)
            counts["total"] += 1
            counts[k] += 1
            if k == "content":
                counts["content_bytes"] += rec.get("bytes") or 0
            if k in ("per_object", "other"):
                p = re.sub(UUID, "{uuid}", rec.get("path", ""))
                paths[p] = paths.get(p, 0) + 1
    print(" ".join("%s=%d" % kv for kv in counts.items()))
    for p, n in sorted(paths.items(), key=lambda kv: -kv[1])[:5]:
        print("  %6d %s" % (n, p), file=sys.stderr)
    return 0


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list."""
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def cmd_randread(path, count, size, seed):
    count, size = int(count), int(size)
    rnd = random.Random(int(seed))
    fd = os.open(path, os.O_RDONLY)
    try:
        total = os.fstat(fd).st_size
        offs = [rnd.randrange(0, total - size) for _ in range(count)]
        lat = []
        t0 = time.perf_counter()
        for off in offs:
            t = time.perf_counter()
            got = os.pread(fd, size, off)
            lat.append(time.perf_counter() - t)
            if len(got) != size:
                print("short read at %d: %d bytes" % (off, len(got)), file=sys.stderr)
                return 1
        wall = time.perf_counter() - t0
    finally:
        os.close(fd)
    s = sorted(lat)
    print("reads=%d wall_s=%.3f mean_ms=%.3f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f"
          % (count, wall, 1000 * statistics.mean(s), 1000 * pct(s, 50),
             1000 * pct(s, 99), 1000 * s[-1]))
    return 0


def cmd_mirror(src, dst):
    n = 0
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        out = os.path.join(dst, rel) if rel != "." else dst
        os.makedirs(out, exist_ok=True)
        for name in files:
            st = os.lstat(os.path.join(root, name))
            with open(os.path.join(out, name), "wb") as f:
                f.truncate(st.st_size)
            os.utime(os.path.join(out, name), ns=(st.st_atime_ns, st.st_mtime_ns))
            n += 1
    print("files=%d" % n)
    return 0


def cmd_rate(nbytes, secs):
    print("%.1f" % (int(nbytes) / float(secs) / 1e6))
    return 0


def cmd_fxstats(fixture):
    with open(fixture, encoding="utf-8") as f:
        doc = json.load(f)
    per = {}
    ncoll = 0
    for o in doc["objects"]:
        if o.get("deleted"):
            continue
        if o.get("type") == "collection":
            ncoll += 1
            per.setdefault(o["uuid"], 0)
        elif o.get("type") == "item":
            per[o.get("parent")] = per.get(o.get("parent"), 0) + 1
    items = sum(per.values())
    pages = sum(-(-n // 100) for n in per.values())
    print("collections=%d items=%d expected_pages=%d" % (ncoll, items, pages))
    return 0


def cmd_readsizes(log):
    """libfuse -d prints each request ("unique: N, opcode: READ (15), ...")
    and each reply ("unique: N, success, outsize: M"; M includes the 16-byte
    header): the sizes of the READ replies, as a histogram."""
    ops = {}
    hist = {}
    req = re.compile(r"unique: (\d+), opcode: (\w+)")
    rep = re.compile(r"unique: (\d+), success, outsize: (\d+)")
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = req.search(line)
            if m:
                ops[m.group(1)] = m.group(2)
                continue
            m = rep.search(line)
            if m and ops.pop(m.group(1), None) == "READ":
                n = int(m.group(2)) - 16
                hist[n] = hist.get(n, 0) + 1
    total = sum(hist.values())
    print("reads=%d bytes=%d" % (total, sum(k * v for k, v in hist.items())))
    for n, c in sorted(hist.items(), key=lambda kv: -kv[1])[:6]:
        print("  %d KiB x %d" % (n // 1024, c))
    return 0


def fmt(v):
    if abs(v) >= 100:
        return "%.0f" % v
    if abs(v) >= 10:
        return "%.1f" % v
    return "%.3g" % v


def cmd_summary(path):
    data = {}
    order = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            bench, variant, metric, value = parts
            try:
                value = float(value)
            except ValueError:
                continue
            key = (bench, variant)
            if key not in data:
                data[key] = {}
                order.append(key)
            data[key].setdefault(metric, []).append(value)
    benches = []
    for b, _ in order:
        if b not in benches:
            benches.append(b)
    for b in benches:
        keys = [k for k in order if k[0] == b]
        metrics = []
        for k in keys:
            for m in data[k]:
                if m not in metrics:
                    metrics.append(m)
        print("\n### %s (median of runs; all runs in brackets)\n" % b)
        print("| variant | " + " | ".join(metrics) + " |")
        print("|---|" + "---|" * len(metrics))
        for k in keys:
            cells = []
            for m in metrics:
                vals = data[k].get(m)
                if not vals:
                    cells.append("")
                elif len(vals) == 1:
                    cells.append(fmt(vals[0]))
                else:
                    cells.append("%s [%s]" % (fmt(statistics.median(vals)),
                                              " ".join(fmt(v) for v in vals)))
            print("| %s | %s |" % (k[1], " | ".join(cells)))
    return 0


# The figures compare compares; True where a larger value is better.
COMPARED = {"MB_s": True, "wall_s": False, "ratio_vs_cache_file": True}


def read_results(path):
    """{(bench, variant, metric): [values in order]} of a results.tsv."""
    data = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 4:
                continue
            try:
                data.setdefault(tuple(parts[:3]), []).append(float(parts[3]))
            except ValueError:
                continue
    return data


def cmd_compare(path):
    data = read_results(path)
    print("| case | figure | old median | new median | new/old (medians) "
          "| new/old (per repetition: median [all]) | verdict |")
    print("|---|---|---|---|---|---|---|")
    for (bench, variant, metric), new in data.items():
        if (not variant.startswith("new: ") or metric not in COMPARED
                or "baseline" in variant):
            continue
        old = data.get((bench, "old: " + variant[5:], metric))
        if not old:
            continue
        up = COMPARED[metric]
        speed = [(n / o if up else o / n) for n, o in zip(new, old) if n and o]
        mo, mn = statistics.median(old), statistics.median(new)
        med = mn / mo if up else mo / mn
        per = statistics.median(speed) if speed else 0
        verdict = ("worse by > 10 %" if per < 0.9 else
                   "better by > 10 %" if per > 1.1 else "within 10 %")
        print("| %s | %s %s | %s | %s | %.3f | %.3f [%s] | %s |" % (
            bench, variant[5:], metric, fmt(mo), fmt(mn), med, per,
            " ".join("%.2f" % v for v in speed), verdict))
    return 0


def main(argv):
    cmds = {"uuid": cmd_uuid, "reqstats": cmd_reqstats, "randread": cmd_randread,
            "mirror": cmd_mirror, "rate": cmd_rate, "summary": cmd_summary,
            "compare": cmd_compare,
            "fxstats": cmd_fxstats, "readsizes": cmd_readsizes}
    if len(argv) < 2 or argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
