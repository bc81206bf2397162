"""Read endpoints of /core (communities, collections, items, bundles,
bitstreams, formats), the root document and the identifier lookups
/pid/find and /dso/find (contract §1.2, §4, §8)."""

import re

from .common import (ApiError, FORMATS, FORMAT_BY_ID, UUID_RE, VERSIONS, bad_request, not_found,
                     unprocessable)
from .context import PLURAL, Part, Resp, json_resp
from .repo import Denied, is_admin


class Core(Part):
    """The /core read endpoints, the root document and /pid, /dso lookups."""

    # -------------------------------------------------------------- root document
    def root(self, ctx):
        api = ctx.api
        names = [("authn", "authn"), ("authorizations", "authz/authorizations"),
                 ("bitstreamformats", "core/bitstreamformats"), ("bitstreams", "core/bitstreams"),
                 ("browses", "discover/browses"), ("bundles", "core/bundles"),
                 ("collections", "core/collections"), ("communities", "core/communities"),
                 ("discover", "discover"), ("epersons", "eperson/epersons"),
                 ("groups", "eperson/groups"), ("items", "core/items"),
                 ("metadatafields", "core/metadatafields"),
                 ("metadataschemas", "core/metadataschemas"), ("pid", "pid"),
                 ("security", "security"), ("sites", "core/sites"),
                 ("workflowitems", "workflow/workflowitems"),
                 ("workspaceitems", "submission/workspaceitems")]
        links = {n: {"href": "%s/%s" % (api, p)} for n, p in names}
        links["self"] = {"href": api}
        return json_resp({"dspaceUI": "http://localhost:4000",
                          "dspaceName": "DSpace fake (%s fixture)" % self.repo.fx_name,
                          "dspaceServer": ctx.base,
                          "dspaceVersion": VERSIONS[self.cfg.dspace_version],
                          "type": "root", "_links": links})

    # -------------------------------------------------------------- communities / collections
    def all_of(self, t):
        r = self.repo
        with r.lock:
            hit = r.cache.get(("all", t))
            if hit is None:
                hit = r.cache[("all", t)] = [o for o in r.walk() if o["type"] == t]
            return hit

    def list_communities(self, ctx):
        return self.hal.paged(ctx, "communities", self.all_of("community"), "/core/communities/search")

    def top_communities(self, ctx):
        return self.hal.paged(ctx, "communities", [self.repo.obj[u] for u in self.repo.top])

    def search_methods(self, ctx, model, names):
        base = "%s/core/%s/search" % (ctx.api, model)
        links = {n: {"href": base + "/" + n} for n in names}
        links["self"] = {"href": base}
        return json_resp({"_links": links})

    def community_search_methods(self, ctx):
        return self.search_methods(ctx, "communities", ["top", "subCommunities", "findAdminAuthorized"])

    def list_collections(self, ctx):
        return self.hal.paged(ctx, "collections", self.all_of("collection"), "/core/collections/search")

    def collection_search_methods(self, ctx):
        return self.search_methods(ctx, "collections", ["findSubmitAuthorized", "findAdminAuthorized"])

    @staticmethod
    def may_submit(user, coll):
        """ADD on the collection: admins, and members of its submitters group."""
        return is_admin(user) or bool(user and user["email"] in coll.get("submitters", []))

    def submit_collections_of(self, user):
        return [c for c in self.all_of("collection") if self.may_submit(user, c)]

    def submit_collections(self, ctx):
        """search/findSubmitAuthorized (CollectionRestRepository
        findSubmitAuthorized: collectionService.findCollectionsWithSubmit, paged)."""
        if ctx.user is None:
            raise ctx.deny()
        return self.hal.paged(ctx, "collections", self.submit_collections_of(ctx.user))

    def authz_by_object(self, ctx):
        """authz/authorizations/search/object?uri=&feature= (SW/repository/
        AuthorizationRestRepository.java findByObject): a page of the features
        the current user has on the object, empty when none. Only
        canEditMetadata (SW/authorization/impl/EditMetadataFeature.java: WRITE
        on the object) is known here; it follows the fake's PATCH rule
        (Writes.writable)."""
        uri, feature = ctx.param("uri") or "", ctx.param("feature")
        m = re.search(r"/core/(items|bitstreams|bundles)/(" + UUID_RE + r")$", uri)
        if m is None:
            raise ApiError(400, "The uri is not a DSpace object")
        o = self.find_dso(ctx, m.group(1), m.group(2))
        try:
            self.writes.writable(ctx, o)
            ok = feature == "canEditMetadata"
        except ApiError:
            # the submitter of a workspace item has WRITE on its item
            # (API/content/WorkspaceItemServiceImpl.java create: addPolicy)
            sub = o.get("submission") if o["type"] == "item" else None
            ok = (feature == "canEditMetadata" and ctx.user is not None and sub is not None
                  and sub.get("state") == "workspace" and sub.get("submitter") == ctx.user.get("email"))
        who = ctx.user or "anonymous"
        auths = [{"type": "authorization", "id": "%s_%s_%s_%s" % (who, feature, o["type"], o["uuid"])}] \
            if ok else []
        return self.hal.paged(ctx, "authorizations", auths, render=lambda a: a)

    # -------------------------------------------------------------- generic DSO endpoints
    def find_dso(self, ctx, model, uuid, write=False):
        t = {v: k for k, v in PLURAL.items()}[model]
        o = self.repo.get(uuid, t)
        if o is None or (t == "bitstream" and o["deleted"]):
            if t == "bitstream" and ctx.user is None and o is None:
                raise ctx.deny()          # DS#10099: permission is evaluated first
            raise not_found()
        return o

    def dso(self, ctx, model, uuid):
        if ctx.method == "PATCH":
            return self.writes.patch(ctx, model, uuid)
        if ctx.method == "DELETE":
            return self.writes.delete(ctx, model, uuid)
        o = self.find_dso(ctx, model, uuid)
        if not self.repo.can_read_metadata(o, ctx.user):
            if not (o["type"] == "item" and o["withdrawn"] and not o["restricted"]):
                raise ctx.deny()          # withdrawn items stay visible (STATUS permission)
        return json_resp(self.hal.render(o, ctx))

    def dso_rel(self, ctx, model, uuid, rel):
        o = self.find_dso(ctx, model, uuid)
        try:
            kind, val = self.hal.resolve(o, rel, ctx)
        except KeyError:
            raise not_found()
        except Denied:
            raise ctx.deny()
        if kind == "many":
            return self.hal.sub_page(ctx, rel, val)
        if val is None:
            return Resp(204)
        if kind == "one":
            return json_resp(self.hal.render(val, ctx))
        return json_resp(val)

    def items_root(self, ctx):
        if ctx.method == "POST":
            return self.writes.create_item(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        # in-progress submissions are not listed (ItemServiceImpl.findAll asks
        # the DAO for archived items; the fake keeps listing withdrawn ones)
        items = [o for o in self.all_of("item") if not o.get("submission")]
        return self.hal.paged(ctx, "items", items, "/core/items/search")

    def bundles_root(self, ctx):
        raise ApiError(405, "An exception has occurred")

    def bitstreams_root(self, ctx):
        if ctx.method == "PATCH":
            return self.writes.bulk_delete(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        return self.hal.paged(ctx, "bitstreams", self.all_of("bitstream"), "/core/bitstreams/search")

    def bitstream_search_methods(self, ctx):
        return self.search_methods(ctx, "bitstreams", ["byItemHandle", "byItemId", "showableByItem"])

    def by_item_handle(self, ctx):
        handle = ctx.param("handle")
        seq, fname = ctx.param("sequence"), ctx.param("filename")
        if handle is None:
            raise ApiError(400, "A required parameter is missing")
        if seq is None and fname is None:
            raise bad_request()
        item = self.repo.get(self.repo.handles.get(handle), "item")
        if item is None:
            raise unprocessable()
        for b in self.repo.children(item["uuid"], "bundles"):
            for bs in self.repo.children(b["uuid"], "bitstreams"):
                if (seq is not None and str(bs["sequenceId"]) == seq) or \
                        (seq is None and self.repo.name(bs) == fname):
                    if not self.repo.can_read_metadata(bs, ctx.user):
                        raise ctx.deny()
                    return json_resp(self.hal.render(bs, ctx))
        return Resp(204)

    def list_formats(self, ctx):
        return self.hal.paged(ctx, "bitstreamformats", [f[0] for f in FORMATS],
                          render=lambda fid: self.hal.format_res(fid, ctx))

    def one_format(self, ctx, id):
        try:
            fid = int(id)
        except ValueError:
            raise not_found()
        if fid not in FORMAT_BY_ID:
            raise not_found()
        return json_resp(self.hal.format_res(fid, ctx))

    # -------------------------------------------------------------- identifiers
    HANDLE_PATTERNS = [re.compile(p) for p in (
        r"^hdl:(?P<h>.+)$", r"^info:hdl/(?P<h>.+)$", r"^https?://hdl\.handle\.net/(?P<h>.+)$",
        r"^https?://[^/]+/handle/(?P<h>.+)$", r"^(?P<h>[^/:]+/[^/]+)$")]

    def pid_find(self, ctx):
        ident = ctx.param("id")
        if ident is None:
            raise ApiError(400, "Required request parameter 'id' for method parameter type String "
                                "is not present", kind="spring")
        for rx in self.HANDLE_PATTERNS:
            m = rx.match(ident.strip())
            if m:
                u = self.repo.handles.get(m.group("h"))
                o = self.repo.get(u) if u else None
                if o is not None:
                    return Resp(302, headers=[("Location", "%s/core/%s/%s" % (
                        ctx.api, PLURAL[o["type"]], o["uuid"]))])
                break
        raise ApiError(404, "", kind="empty")

    def dso_find(self, ctx):
        u = ctx.param("uuid")
        if u is None:
            raise ApiError(400, "A required parameter is missing")
        o = self.repo.get(u) if re.fullmatch(UUID_RE, u) else None
        if o is None or (o["type"] == "bitstream" and o["deleted"]):
            raise ApiError(404, "", kind="empty")
        if not self.repo.can_read(o, ctx.user):
            raise ctx.deny()
        return Resp(302, headers=[("Location", "%s/core/%s/%s" % (ctx.api, PLURAL[o["type"]], o["uuid"]))])
