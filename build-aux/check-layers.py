#!/usr/bin/env python3
"""Checks the layering rules of src/ (doc/HACKING.md, "Layers").

usage: check-layers.py [SRCDIR]     (default: src next to this script's parent)

Exits 1 and names every broken rule:
  - which files may include a library's headers (curl, jansson, sqlite3, fuse);
  - which files may spell DSpace API paths;
  - which headers each layer may include (the adapter calls only the core;
    the core reaches the backend only through dspace/dspace.h);
  - no function longer than MAX_FUNC_LINES (tables are not functions);
  - no accessor that hands out a module's internals (FORBIDDEN_NAMES).
Rules are data (the tables below), so a new module is one line here.
"""
import fnmatch
import os
import re
import sys

MAX_FUNC_LINES = 80

# Library headers: include prefix -> files (globs relative to src/) allowed.
LIBRARIES = {
    "curl/": ["net/http.c"],
    "jansson.h": ["dspace/model.c", "dspace/submission.c"],
    "sqlite3.h": ["core/cache.c"],
    "fuse": ["mount/*.c", "mount/*.h"],
}

# DSpace REST paths: only the dspace backend spells them.
API_PATH = re.compile(
    r'"[^"]*/(api|core|authn|security|submission|workflow|discover|'
    r'authz|pid|dso|eperson|config)/[^"]*"|"/api"')
API_ALLOWED = ["dspace/*"]

# Layer of a file, by glob; each layer may include headers of the layers
# listed (plus its own and util).
LAYERS = [
    ("util", ["util/*"]),
    ("net", ["net/*"]),
    ("dspace", ["dspace/*"]),
    ("core", ["core/*"]),
    ("mount", ["mount/*"]),
    ("main", ["main.c"]),
]
MAY_INCLUDE = {
    "util": [],
    "net": [],
    "dspace": ["net"],
    "core": ["dspace"],
    "mount": ["core"],
    "main": ["mount", "core", "dspace", "net"],
}
# (layer, included layer) -> the only headers of that layer it may include:
# the core sees the backend through its one header (a second backend sits
# next to dspace/ behind a header of its own).
ONLY_HEADERS = {
    ("core", "dspace"): ["dspace/dspace.h"],
}
# Core headers the adapter may not reach through (the server and the SQL
# cache are the core's business, not the adapter's).
MOUNT_FORBIDDEN = ["core/cache.h"]

# Names that may not appear anywhere in src/: accessors that let a caller
# reach past a module to the pieces it owns. main.c opens the cache and the
# session and hands them to the modules that need them.
FORBIDDEN_NAMES = {
    "tree_cache": "the cache database is main.c's to hand out, not tree's",
    "tree_session": "the session is main.c's to hand out, not tree's",
}
FORBIDDEN_NAME = re.compile(r"\b(" + "|".join(FORBIDDEN_NAMES) + r")\b")

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
FUNC_START = re.compile(r"^[A-Za-z_][^;=]*\)\s*$")


def layer_of(rel):
    for name, globs in LAYERS:
        if any(fnmatch.fnmatch(rel, g) for g in globs):
            return name
    return None


def allowed(rel, globs):
    return any(fnmatch.fnmatch(rel, g) for g in globs)


def check_includes(rel, lines, errors):
    layer = layer_of(rel)
    if layer is None:
        errors.append(f"{rel}: in no layer (add it to LAYERS)")
        return
    for no, line in enumerate(lines, 1):
        m = INCLUDE.match(line)
        if not m:
            continue
        kind, name = m.groups()
        if kind == "<":
            for prefix, globs in LIBRARIES.items():
                if name.startswith(prefix) and not allowed(rel, globs):
                    errors.append(f"{rel}:{no}: includes <{name}>, "
                                  f"allowed only in {', '.join(globs)}")
            continue
        target = layer_of(name)
        if name in ("config.h",) or target in (None, layer, "util"):
            continue
        if target not in MAY_INCLUDE[layer]:
            errors.append(f"{rel}:{no}: {layer} includes {name} "
                          f"({target}); {layer} may include "
                          f"{', '.join(MAY_INCLUDE[layer]) or 'util only'}")
        only = ONLY_HEADERS.get((layer, target))
        if only is not None and name not in only:
            errors.append(f"{rel}:{no}: {layer} includes {name}; from "
                          f"{target} it may include only "
                          f"{', '.join(only)}")
        if layer == "mount" and name in MOUNT_FORBIDDEN:
            errors.append(f"{rel}:{no}: the adapter includes {name}")


def check_paths(rel, lines, errors):
    if allowed(rel, API_ALLOWED):
        return
    for no, line in enumerate(lines, 1):
        code = line.split("//")[0]
        if code.lstrip().startswith(("*", "/*")):
            continue
        if API_PATH.search(code):
            errors.append(f"{rel}:{no}: spells a DSpace API path outside "
                          f"{', '.join(API_ALLOWED)}: {line.strip()}")


def check_names(rel, lines, errors):
    for no, line in enumerate(lines, 1):
        for name in FORBIDDEN_NAME.findall(line):
            errors.append(f"{rel}:{no}: uses {name}: "
                          f"{FORBIDDEN_NAMES[name]}")


def signature(lines, brace):
    """The name of the function whose body opens at lines[brace], or None
    (a brace at column 0 after an initialiser is a table, not a body)."""
    i = brace - 1
    while i > 0 and lines[i][:1] in ("\t", " "):
        i -= 1
    head = " ".join(l.strip() for l in lines[i:brace])
    if i < 0 or not FUNC_START.match(head) or "(" not in lines[i]:
        return None
    return lines[i].split("(")[0].split()[-1].lstrip("*")


def check_lengths(rel, lines, errors):
    name, start = None, None
    for no, line in enumerate(lines, 1):
        if line.startswith("{") and no > 1 and signature(lines, no - 1):
            name, start = signature(lines, no - 1), no
        elif line.startswith("}") and start is not None:
            length = no - start - 1
            if length > MAX_FUNC_LINES:
                errors.append(f"{rel}:{start}: {name} has {length} lines "
                              f"(at most {MAX_FUNC_LINES})")
            name, start = None, None


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "src")
    errors = []
    for root, _, files in os.walk(src):
        for f in sorted(files):
            if not f.endswith((".c", ".h")):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, src)
            with open(path, encoding="utf-8") as fh:
                lines = fh.read().split("\n")
            check_includes(rel, lines, errors)
            check_paths(rel, lines, errors)
            check_names(rel, lines, errors)
            if f.endswith(".c"):
                check_lengths(rel, lines, errors)
    for e in errors:
        print("check-layers: " + e)
    if errors:
        print(f"check-layers: {len(errors)} rule(s) broken")
        return 1
    print("check-layers: all rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
