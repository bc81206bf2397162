"""Repository state: the objects of the fixture, their permissions and changes,
and the fixture.json dump of the state directory."""

import json
import os
import threading
import uuid as uuidlib

import fixtures

from .common import FORMATS, FORMAT_BY_ID, STOP, SYNC_DUMP_MAX, first_value, now_ms


def guess_format(name):
    """BitstreamFormatService.guessFormat: by file extension, else Unknown (1)."""
    if name and "." in name:
        ext = name.rsplit(".", 1)[1].lower()
        for f in FORMATS:
            if ext in f[5] and not f[4]:
                return f[0]
    return 1


def is_admin(user):
    return bool(user and user.get("admin"))


class Denied(Exception):
    """Read/write permission missing (401 for anonymous, 403 when logged in)."""


class Repo:
    """All DSpace objects, kept in memory; content bytes live in STATE/content."""

    RELS = ("subcommunities", "collections", "items", "mappedItems", "bundles", "bitstreams")

    def __init__(self, fx, state_dir):
        self.lock = threading.RLock()
        self.state_dir = state_dir
        self.content_dir = os.path.join(state_dir, "content")
        self.tmp_dir = os.path.join(state_dir, "tmp")
        os.makedirs(self.tmp_dir, exist_ok=True)
        self.fx_name = fx.get("name", "custom")
        self.prefix = fx.get("handlePrefix", fixtures.HANDLE_PREFIX)
        self.users = {u["uuid"]: u for u in fx["users"]}
        self.by_email = {u["email"].lower(): u for u in fx["users"]}
        self.obj = {}
        self.kids = {}
        self.top = []
        self.deleted = []
        self.handles = {}
        self.order = {}
        self.n = 0
        self.handle_max = 0
        self.gen = 0
        self.cache = {}
        self.downloads = {}
        self.dump_lock = threading.Lock()
        self.dumped_gen = -1
        self.dump_wanted = threading.Event()
        self.submissions = {}             # ("workspace"|"workflow", id) -> item uuid
        self.sub_max = {"workspace": 0, "workflow": 0}
        for o in fx["objects"]:
            self._load(dict(o))
        self.write_dump()
        # decided once: a background writer must never race a synchronous one
        self.async_dump = len(self.obj) > SYNC_DUMP_MAX
        if self.async_dump:
            threading.Thread(target=self._dump_loop, daemon=True).start()

    # -- loading and indexes
    def _kids(self, uuid, rel):
        k = self.kids.get(uuid)
        if k is None:
            k = self.kids[uuid] = {r: [] for r in self.RELS}
        return k[rel]

    def _load(self, o):
        o["uuid"] = o["uuid"].lower()
        t = o["type"]
        u = o["uuid"]
        o.setdefault("metadata", {})
        o["metadata"] = fixtures.expand_metadata(o["metadata"])
        parent = o.get("parent")
        if t == "community":
            (self.top if not parent else self._kids(parent, "subcommunities")).append(u)
        elif t == "collection":
            o.setdefault("submitters", [])
            self._kids(parent, "collections").append(u)
        elif t == "item":
            o.setdefault("mappedCollections", [])
            o.setdefault("inArchive", not o.get("withdrawn", False))
            o.setdefault("discoverable", True)
            o.setdefault("withdrawn", False)
            o.setdefault("restricted", False)
            o.setdefault("lastModified", fixtures.iso_millis(now_ms()))
            o["_seq"] = 0
            sub = o.get("submission")
            if sub:
                self.submissions[(sub["state"], sub["id"])] = u
                self.sub_max[sub["state"]] = max(self.sub_max[sub["state"]], sub["id"])
            self._kids(parent, "items").append(u)
            for m in o["mappedCollections"]:
                self._kids(m, "mappedItems").append(u)
        elif t == "bundle":
            o.setdefault("primaryBitstream", None)
            self._kids(parent, "bundles").append(u)
        elif t == "bitstream":
            o.setdefault("restricted", False)
            o.setdefault("deleted", False)
            if "format" not in o:
                o["format"] = guess_format(first_value(o["metadata"], "dc.title"))
            bundle = self.obj.get(parent)
            item = self.obj.get(bundle["parent"]) if bundle else None
            if item is not None:          # None: a deleted bitstream whose bundle is gone
                if not o.get("sequenceId"):
                    o["sequenceId"] = item["_seq"] + 1
                item["_seq"] = max(item["_seq"], o["sequenceId"])
            if o["deleted"]:
                self.deleted.append(u)
            else:
                self._kids(parent, "bitstreams").append(u)
        else:
            raise ValueError("unknown object type %r" % t)
        h = o.get("handle")
        if h:
            self.handles[h] = u
            tail = h.rsplit("/", 1)[-1]
            if tail.isdigit():
                self.handle_max = max(self.handle_max, int(tail))
        self.n += 1
        self.order[u] = self.n
        self.obj[u] = o

    # -- lookups
    def get(self, uuid, typ=None):
        o = self.obj.get(uuid.lower()) if uuid else None
        if o is None or (typ and o["type"] != typ):
            return None
        return o

    def children(self, uuid, rel):
        k = self.kids.get(uuid)
        return [self.obj[x] for x in k[rel]] if k else []

    def name(self, o):
        return first_value(o["metadata"], "dc.title")

    def item_of(self, o):
        if o["type"] == "item":
            return o
        if o["type"] == "bundle":
            return self.obj[o["parent"]]
        if o["type"] == "bitstream":
            return self.obj[self.obj[o["parent"]]["parent"]]
        return None

    def containers(self, o):
        """Collections and communities an object lives in (discovery 'location')."""
        out = set()
        if o["type"] == "item":
            todo = [o["parent"]] + list(o["mappedCollections"])
        else:
            todo = [o.get("parent")]
        while todo:
            p = todo.pop()
            if p and p not in out:
                out.add(p)
                todo.append(self.obj[p].get("parent"))
        return out

    # -- permissions
    def can_read(self, o, user):
        t = o["type"]
        if t in ("community", "collection"):
            return True
        if t == "item":
            if o.get("submission"):
                return self.is_submitter(o, user)
            return is_admin(user) or not (o["restricted"] or o["withdrawn"])
        if t == "bundle":
            return self.can_read(self.obj[o["parent"]], user)
        if t == "bitstream":
            if o["deleted"]:
                return False
            return is_admin(user) or (not o["restricted"] and self.can_read(self.obj[o["parent"]], user))
        return False

    @staticmethod
    def is_submitter(item, user):
        """Submitter (or admin) of an in-progress submission. The submitter
        has READ/WRITE/ADD/REMOVE/DELETE on a workspace item's item
        (dspace-api WorkspaceItemServiceImpl.create) and keeps READ only in
        the workflow (XmlWorkflowServiceImpl.start: removeUserItemPolicies,
        then grantSubmitterReadPolicies)."""
        return is_admin(user) or bool(user and user["email"] == item["submission"]["submitter"])

    def submission(self, state, ws_id):
        """The item of workspace/workflow item ws_id, or None."""
        u = self.submissions.get((state, ws_id))
        return self.obj.get(u) if u else None

    def can_read_metadata(self, o, user):
        """METADATA_READ: a bitstream's metadata (and so its place in listings) is
        readable with READ on its item and first bundle, even when its content is
        not (DS: SW/security/BitstreamMetadataReadPermissionEvaluatorPlugin.java
        metadataReadPermissionOnBitstream). Content still needs can_read."""
        if o["type"] == "bitstream":
            return not o["deleted"] and (self.can_read(o, user) or
                                         self.can_read(self.obj[o["parent"]], user))
        return self.can_read(o, user)

    def can_write(self, o, user):
        """ADD/WRITE/DELETE on bundles and bitstreams (and adding bundles to items)."""
        if is_admin(user):
            return True
        if not user:
            return False
        item = self.item_of(o)
        sub = item.get("submission")
        if sub:
            return sub["state"] == "workspace" and self.is_submitter(item, user)
        coll = self.obj[item["parent"]]
        return (user["email"] in coll.get("submitters", []) and self.can_read(o, user))

    def discoverable(self, o, user, admin_view=False):
        if o["type"] != "item":
            return True
        if o.get("submission"):
            return False                  # in-progress: not indexed as an Item
        if not self.can_read(o, user):
            return False
        if admin_view:
            return True
        return o["inArchive"] and not o["withdrawn"] and o["discoverable"]

    # -- dump
    def export(self, o):
        d = {k: v for k, v in o.items() if not k.startswith("_")}
        d["name"] = self.name(o)
        if o["type"] == "bitstream":
            d["bundle"] = self.name(self.obj[o["parent"]]) if o["parent"] in self.obj else None
            d["item"] = self.obj[o["parent"]]["parent"] if o["parent"] in self.obj else None
            d["path"] = "content/" + o["uuid"]
            d["mimetype"] = FORMAT_BY_ID[o["format"]][2]
        return d

    def walk(self):
        """Every live object, parents first, siblings in order."""
        out = []

        def comm(u):
            out.append(self.obj[u])
            for s in self.kids.get(u, {}).get("subcommunities", []):
                comm(s)
            for c in self.kids.get(u, {}).get("collections", []):
                out.append(self.obj[c])
                for i in self.kids.get(c, {}).get("items", []):
                    out.append(self.obj[i])
                    for b in self.kids.get(i, {}).get("bundles", []):
                        out.append(self.obj[b])
                        for bs in self.kids.get(b, {}).get("bitstreams", []):
                            out.append(self.obj[bs])
        for t in self.top:
            comm(t)
        return out

    def snapshot(self):
        """The whole state in the fixture format (the content of fixture.json)."""
        with self.lock:
            objs = [self.export(o) for o in self.walk()]
            objs += [self.export(self.obj[u]) for u in self.deleted]
            return {"format": fixtures.FORMAT, "name": self.fx_name, "handlePrefix": self.prefix,
                    "generation": self.gen, "users": list(self.users.values()), "objects": objs}

    def write_dump(self):
        """Write STATE/fixture.json atomically (skipped if already current).
        Serialising happens outside the state lock: mutations replace nested
        values instead of changing them in place."""
        with self.dump_lock:
            doc = self.snapshot()
            if doc["generation"] == self.dumped_gen:
                return
            path = os.path.join(self.state_dir, "fixture.json")
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
            os.replace(tmp, path)
            self.dumped_gen = doc["generation"]

    def _dump_loop(self):
        while not STOP.is_set():
            if self.dump_wanted.wait(0.5):
                self.dump_wanted.clear()
                self.write_dump()

    def changed(self, item=None):
        """Record a modification: bump item lastModified, drop caches, dump the
        state (synchronously for small states, within ~1 s in the background
        for big ones such as the bench fixture)."""
        with self.lock:
            if item is not None:
                item["lastModified"] = fixtures.iso_millis(now_ms())
            self.gen += 1
            self.cache.clear()
        if self.async_dump:
            self.dump_wanted.set()
        else:
            self.write_dump()

    # -- mutations (callers hold no lock; each takes it)
    def tmp_path(self):
        """A fresh file name in the temp directory (same file system as content)."""
        return os.path.join(self.tmp_dir, "gen-" + self._new_uuid())

    def _new_uuid(self):
        return str(uuidlib.uuid4())

    def _mint_handle(self):
        self.handle_max += 1
        return "%s/%d" % (self.prefix, self.handle_max)

    def create_item(self, coll, metadata, discoverable):
        with self.lock:
            u = self._new_uuid()
            h = self._mint_handle()
            t = fixtures.iso_millis(now_ms())
            md = {k: [dict(v) for v in vals] for k, vals in metadata.items()}
            stamp = t[:19] + "Z"
            for field, val in (("dc.date.accessioned", stamp), ("dc.date.available", stamp),
                               ("dc.identifier.uri", "http://localhost:4000/handle/" + h),
                               ("dc.description.provenance",
                                "Made available in DSpace on %s (GMT)." % stamp)):
                vals = md.setdefault(field, [])
                vals.append(fixtures.mv(val, len(vals)))
            o = {"type": "item", "uuid": u, "handle": h, "parent": coll["uuid"],
                 "mappedCollections": [], "metadata": md, "inArchive": True,
                 "discoverable": discoverable, "withdrawn": False, "restricted": False,
                 "lastModified": t}
            self._load(o)
            self.changed()
            return self.obj[u]

    def create_bundle(self, item, name, metadata):
        with self.lock:
            md = {k: [dict(v) for v in vals] for k, vals in (metadata or {}).items()}
            md["dc.title"] = [fixtures.mv(name)]
            o = {"type": "bundle", "uuid": self._new_uuid(), "parent": item["uuid"],
                 "metadata": md, "primaryBitstream": None}
            self._load(o)
            self.changed(item)
            return self.obj[o["uuid"]]

    def add_bitstream(self, bundle, name, tmp_path, size, md5, metadata):
        with self.lock:
            u = self._new_uuid()
            os.replace(tmp_path, os.path.join(self.content_dir, u))
            md = {k: [dict(v) for v in vals] for k, vals in (metadata or {}).items()}
            md["dc.title"] = [fixtures.mv(name)]
            o = {"type": "bitstream", "uuid": u, "parent": bundle["uuid"], "metadata": md,
                 "restricted": False, "deleted": False, "size": size, "md5": md5,
                 "format": guess_format(name),
                 "content": {"file": os.path.join(self.content_dir, u)}}
            self._load(o)
            self.changed(self.item_of(bundle))
            return self.obj[u]

    def replace_bitstream(self, old, tmp_path, size, md5, filename, replace_name):
        """BitstreamServiceImpl.replace (10.0): a new bitstream at the old one's
        place in its bundle, with its metadata (BitstreamLinkingService
        .replaceMetadata adds dspace.bitstream.isReplacementOf), format
        guessed from the new name, the old one deleted."""
        with self.lock:
            u = self._new_uuid()
            os.replace(tmp_path, os.path.join(self.content_dir, u))
            oldname = self.name(old) or ""
            name = filename
            if not replace_name:
                o_ext = oldname.rsplit(".", 1)[1] if "." in oldname else ""
                n_ext = filename.rsplit(".", 1)[1] if "." in filename else ""
                name = oldname if o_ext == n_ext else (
                    (oldname.rsplit(".", 1)[0] if "." in oldname else oldname) + "." + n_ext)
            md = {k: [dict(v) for v in vals] for k, vals in old["metadata"].items()}
            md["dc.title"] = [fixtures.mv(name)]
            md["dspace.bitstream.isReplacementOf"] = [fixtures.mv(old["uuid"])]
            b = self.obj[old["parent"]]
            o = {"type": "bitstream", "uuid": u, "parent": b["uuid"], "metadata": md,
                 "restricted": old["restricted"], "deleted": False, "size": size, "md5": md5,
                 "format": guess_format(name), "content": {"file": os.path.join(self.content_dir, u)}}
            self._load(o)
            lst = self.kids[b["uuid"]]["bitstreams"]
            lst.remove(u)
            lst.insert(lst.index(old["uuid"]), u)
            if b.get("primaryBitstream") == old["uuid"]:
                b["primaryBitstream"] = u
            self.delete_bitstream(old, record=False)
            self.changed(self.item_of(b))
            return self.obj[u]

    def _unlink_bitstream(self, bs):
        b = self.obj[bs["parent"]]
        self.kids[b["uuid"]]["bitstreams"].remove(bs["uuid"])
        if b.get("primaryBitstream") == bs["uuid"]:
            b["primaryBitstream"] = None

    def delete_bitstream(self, bs, record=True):
        with self.lock:
            item = self.item_of(bs)
            self._unlink_bitstream(bs)
            bs["deleted"] = True
            self.deleted.append(bs["uuid"])
            if record:
                self.changed(item)

    def delete_bundle(self, b, record=True):
        with self.lock:
            item = self.obj[b["parent"]]
            for bs in self.children(b["uuid"], "bitstreams"):
                self.delete_bitstream(bs, record=False)
            self.kids[item["uuid"]]["bundles"].remove(b["uuid"])
            del self.obj[b["uuid"]]
            if record:
                self.changed(item)

    def delete_item(self, item):
        with self.lock:
            for b in self.children(item["uuid"], "bundles"):
                self.delete_bundle(b, record=False)
            self.kids[item["parent"]]["items"].remove(item["uuid"])
            for m in item["mappedCollections"]:
                self.kids[m]["mappedItems"].remove(item["uuid"])
            if item.get("handle"):
                self.handles.pop(item["handle"], None)
            sub = item.get("submission")
            if sub:
                self.submissions.pop((sub["state"], sub["id"]), None)
            del self.obj[item["uuid"]]
            self.changed()

    def move_bitstream(self, bs, target):
        with self.lock:
            old_item = self.item_of(bs)
            self._unlink_bitstream(bs)
            bs["parent"] = target["uuid"]
            self._kids(target["uuid"], "bitstreams").append(bs["uuid"])
            new_item = self.item_of(target)
            if new_item is not old_item:
                old_item["lastModified"] = fixtures.iso_millis(now_ms())
            self.changed(new_item)
