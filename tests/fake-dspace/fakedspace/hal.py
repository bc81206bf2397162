"""HAL rendering: the JSON of every object, its links and embeds (contract
§1.3, §1.5, §4), and the paged lists of top-level and sub-resources."""

import math

from .common import (EMBED_MAX_LEVELS, FORMAT_BY_ID, HIDDEN_FIELDS, SUPPORT_LEVEL, iso_to_ms,
                     java_date, major)
from .context import PLURAL, Part, embedded_page, json_resp, with_params
from .faults import HOSTILE, apply_hostile
from .repo import Denied, is_admin


class Hal(Part):
    """Renders objects, links, embeds and pages as DSpace's HAL converters do."""

    def links_for(self, t):
        nine = major(self.cfg.dspace_version) >= 9
        if t == "community":
            return ("collections", "logo", "subcommunities", "parentCommunity", "adminGroup")
        if t == "collection":
            return ("license", "logo", "mappedItems", "parentCommunity", "adminGroup",
                    "submittersGroup", "itemReadGroup", "bitstreamReadGroup")
        if t == "item":
            base = ("accessStatus", "bundles", "identifiers", "mappedCollections", "owningCollection",
                    "relationships", "version", "templateItemOf", "thumbnail")
            return base + (("submitter",) if nine else ())
        if t == "bundle":
            return ("item", "bitstreams", "primaryBitstream")
        if t == "bitstream":
            return ("bundle",) + (("accessStatus",) if nine else ()) + ("format", "thumbnail")
        return ()

    def metadata_view(self, o, ctx):
        md = o["metadata"]
        if is_admin(ctx.user):
            return md
        if o["type"] == "item" and o["withdrawn"]:
            return {}
        return {k: v for k, v in md.items() if k not in HIDDEN_FIELDS}

    def render(self, o, ctx, level=0, path=()):
        r = self.repo
        t = o["type"]
        u = o["uuid"]
        d = {"id": u, "uuid": u, "name": r.name(o), "handle": o.get("handle"),
             "metadata": self.metadata_view(o, ctx)}
        if t in ("community", "collection"):
            d["archivedItemsCount"] = -1
        elif t == "item":
            d["inArchive"] = o["inArchive"]
            d["discoverable"] = o["discoverable"]
            d["withdrawn"] = o["withdrawn"]
            d["lastModified"] = java_date(iso_to_ms(o["lastModified"]), ctx.version)
            d["entityType"] = None
        elif t == "bitstream":
            d["bundleName"] = r.name(r.obj[o["parent"]])
            d["sizeBytes"] = o["size"]
            d["checkSum"] = {"checkSumAlgorithm": "MD5", "value": o["md5"]}
            d["sequenceId"] = o["sequenceId"]
        d["type"] = t
        if u in HOSTILE:
            apply_hostile(d, HOSTILE[u])
        selfhref = "%s/core/%s/%s" % (ctx.api, PLURAL[t], u)
        links = {}
        emb = {}
        proj = ctx.proj
        for rel in self.links_for(t):
            href = selfhref + "/" + rel
            links[rel] = {"href": href}
            if proj.active and level < EMBED_MAX_LEVELS and proj.allow(level, path, rel):
                try:
                    emb[rel] = self.embed(o, rel, ctx, level, path, href)
                except Denied:
                    pass                   # left out silently (SW/utils/Utils.java)
        if t == "bitstream":
            links["content"] = {"href": selfhref + "/content"}
        links["self"] = {"href": selfhref}
        if emb:
            d["_embedded"] = emb
        d["_links"] = links
        return d

    def embed(self, o, rel, ctx, level, path, href):
        kind, val = self.resolve(o, rel, ctx)
        sub = path + (rel,)
        if kind == "many":
            size = ctx.proj.page_size(level, path, rel)
            content = [self.render(x, ctx, level + 1, sub) for x in val[:size]]
            return embedded_page(href, rel, content, 0, size, len(val))
        if kind == "one":
            return None if val is None else self.render(val, ctx, level + 1, sub)
        return val

    def format_res(self, fid, ctx):
        f = FORMAT_BY_ID[fid]
        return {"id": f[0], "shortDescription": f[1], "description": f[1], "mimetype": f[2],
                "supportLevel": SUPPORT_LEVEL[f[3]], "internal": f[4], "extensions": f[5],
                "type": "bitstreamformat",
                "_links": {"self": {"href": "%s/core/bitstreamformats/%d" % (ctx.api, f[0])}}}

    def thumbnail_of(self, item, name, ctx):
        for b in self.repo.children(item["uuid"], "bundles"):
            if self.repo.name(b) == "THUMBNAIL":
                for bs in self.repo.children(b["uuid"], "bitstreams"):
                    if self.repo.name(bs) == (name or "") + ".jpg" and self.repo.can_read(bs, ctx.user):
                        return bs
        return None

    def resolve(self, o, rel, ctx):
        """A link's target: ('many', [objs]) | ('one', obj|None) | ('res', dict|None).
        Raises Denied when the caller may not follow it, KeyError when unknown."""
        r = self.repo
        t = o["type"]
        user = ctx.user
        if rel not in self.links_for(t):
            raise KeyError(rel)
        if rel in ("adminGroup", "submittersGroup", "itemReadGroup", "bitstreamReadGroup",
                   "submitter"):
            if not is_admin(user):
                raise Denied()
            return "one", None
        if rel in ("logo", "version", "templateItemOf"):
            return "one", None
        if t == "community":
            if rel == "parentCommunity":
                return "one", r.get(o["parent"])
            return "many", r.children(o["uuid"], rel)
        if t == "collection":
            if rel == "parentCommunity":
                return "one", r.get(o["parent"])
            if rel == "license":
                return "res", self.app.submission.collection_license(ctx, o)
            return "many", [x for x in r.children(o["uuid"], "mappedItems") if r.can_read(x, user)]
        if not r.can_read_metadata(o, user):
            raise Denied()
        if t == "item":
            if rel == "bundles":
                return "many", r.children(o["uuid"], "bundles")
            if rel == "owningCollection":
                return "one", r.get(o["parent"])
            if rel == "mappedCollections":
                return "many", [r.obj[c] for c in o["mappedCollections"]]
            if rel == "relationships":
                return "many", []
            if rel == "accessStatus":
                return "res", {"status": self.access_status(o), "embargoDate": None,
                               "type": "accessStatus"}
            if rel == "identifiers":
                ids = []
                if o.get("handle"):
                    ids.append({"value": "http://hdl.handle.net/" + o["handle"],
                                "identifierType": "handle", "identifierStatus": None,
                                "type": "identifier"})
                return "res", {"identifiers": ids, "type": "identifiers"}
            if rel == "thumbnail":
                orig = self.first_original(o)
                return "one", self.thumbnail_of(o, r.name(orig), ctx) if orig else None
        if t == "bundle":
            if rel == "item":
                return "one", r.obj[o["parent"]]
            if rel == "bitstreams":
                return "many", [x for x in r.children(o["uuid"], "bitstreams")
                                if r.can_read_metadata(x, user)]
            if rel == "primaryBitstream":
                p = r.get(o.get("primaryBitstream"))
                if p is not None and not r.can_read(p, user):
                    raise Denied()
                return "one", p
        if t == "bitstream":
            if rel == "bundle":
                return "one", r.obj[o["parent"]]
            if rel == "format":
                return "res", self.format_res(o["format"], ctx)
            if rel == "accessStatus":
                return "res", {"status": "restricted" if o["restricted"] else "open.access",
                               "embargoDate": None, "type": "accessStatus"}
            if rel == "thumbnail":
                return "one", self.thumbnail_of(r.item_of(o), r.name(o), ctx)
        raise KeyError(rel)

    def first_original(self, item):
        for b in self.repo.children(item["uuid"], "bundles"):
            if self.repo.name(b) == "ORIGINAL":
                bss = self.repo.children(b["uuid"], "bitstreams")
                p = self.repo.get(b.get("primaryBitstream"))
                return p or (bss[0] if bss else None)
        return None

    def access_status(self, item):
        if item["restricted"]:
            return "restricted"
        bs = self.first_original(item)
        if bs is None:
            return "metadata.only"
        return "restricted" if bs["restricted"] else "open.access"

    def paged(self, ctx, rel, objs, search_link=None, render=None):
        """A top-level list (Spring HATEOAS PagedResourcesAssembler shape)."""
        number, size = ctx.pageable()
        total = len(objs)
        offset = number * size
        content = objs[offset:offset + size] if offset < total else []
        render = render or (lambda o: self.render(o, ctx))
        body = {}
        if content:
            body["_embedded"] = {rel: [render(o) for o in content]}
        pages = int(math.ceil(total / size))
        has_prev = number > 0
        has_next = number + 1 < pages
        base = ctx.url()

        def mk(page):
            return {"href": with_params(base, [("page", str(page)), ("size", str(size))])}
        links = {}
        if has_prev or has_next:
            links["first"] = mk(0)
        if has_prev:
            links["prev"] = mk(number - 1)
        links["self"] = {"href": base}
        if has_next:
            links["next"] = mk(number + 1)
        if has_prev or has_next:
            links["last"] = mk(max(pages - 1, 0))
        if search_link:
            links["search"] = {"href": ctx.api + search_link}
        body["_links"] = links
        body["page"] = {"size": size, "totalElements": total, "totalPages": pages, "number": number}
        return json_resp(body)

    def sub_page(self, ctx, rel, objs):
        """A linked sub-resource list (RestResourceController.findRelInternal)."""
        number, size = ctx.pageable()
        offset = number * size
        content = [self.render(o, ctx) for o in objs[offset:offset + size]] if offset < len(objs) else []
        return json_resp(embedded_page(ctx.url(), rel, content, number, size, len(objs)))
