"""Authorization features: GET /authz/authorizations/search/objects
(DSpace >= 7.6), answered from the same permission rules the write paths
use, so that what a client is told it may do is what it then may do."""

import re

from .common import ApiError, UUID_RE
from .context import Part, json_resp
from .repo import is_admin

# type parameter -> fake object type (DS: SW/utils/... the "core.item"
# names are the REST categories + "." + model: AuthorizationRestUtil)
TYPES = {"core.community": "community", "core.collection": "collection",
         "core.item": "item", "core.bundle": "bundle", "core.bitstream": "bitstream"}


class Authz(Part):
    """DS: SW/repository/AuthorizationRestRepository.java findByObjects."""

    def feature(self, name, o, user):
        """Whether user has feature name on o; None when the feature does
        not support o's type (it is then left out, as DSpace does:
        AuthorizationFeature.getSupportedTypes)."""
        t, r = o["type"], self.repo
        if name == "canEditMetadata":
            # EditMetadataFeature: WRITE; here as writes.writable decides
            return r.can_write(o, user) if t in ("bundle", "bitstream") else is_admin(user)
        if name == "canDelete":
            # DeleteFeature: DELETE on the object (REMOVE on its parent)
            if t in ("bundle", "bitstream"):
                return r.can_write(o, user)
            return is_admin(user)
        if name == "canSubmit":
            # SubmitFeature: collections only, ADD on the collection
            return self.core.may_submit(user, o) if t == "collection" else None
        if name == "canManageBitstreamBundles":
            # CanManageBitstreamBundlesFeature: items only, ADD/REMOVE on
            # the item and its bundles (Writes.create_bundle checks this)
            return r.can_write(o, user) if t == "item" else None
        return None

    def search_objects(self, ctx):
        """uuid (repeated), type, feature (repeated; none: all known);
        400 without type or uuid (DSpace: @Parameter(required = true))."""
        typ = ctx.param("type")
        uuids = ctx.params_all("uuid", split=True)
        if not typ or not uuids:
            raise ApiError(400, "uuid and type are required")
        if typ not in TYPES:
            raise ApiError(400, "unknown type " + typ)
        feats = ctx.params_all("feature", split=True) or [
            "canEditMetadata", "canDelete", "canSubmit", "canManageBitstreamBundles"]
        out = []
        for u in uuids:
            o = self.repo.obj.get(u.lower()) if re.fullmatch(UUID_RE, u) else None
            if not o or o["type"] != TYPES[typ] or not self.repo.can_read_metadata(o, ctx.user):
                continue                  # unknown or unreadable objects are left out
            for f in feats:
                if self.feature(f, o, ctx.user):
                    out.append(self.render(ctx, f, typ, o))
        return json_resp(self.page(ctx, out))

    @staticmethod
    def render(ctx, feature, typ, o):
        """AuthorizationRestUtil.getAuthorizationId:
        <eperson>_<feature>_<type>_<id> (no eperson for anonymous)."""
        ep = ctx.user["uuid"] + "_" if ctx.user else ""
        aid = "%s%s_%s_%s" % (ep, feature, typ, o["uuid"])
        href = "%s/authz/authorizations/%s" % (ctx.api, aid)
        return {"id": aid, "type": "authorization",
                "_links": {"self": {"href": href},
                           "feature": {"href": href + "/feature"},
                           "object": {"href": href + "/object"}}}

    @staticmethod
    def page(ctx, out):
        """One page of the search (size, default 20, as any paged search)."""
        size = int(ctx.param("size") or 20)
        number = int(ctx.param("page") or 0)
        part = out[number * size:(number + 1) * size]
        return {"_embedded": {"authorizations": part},
                "_links": {"self": {"href": ctx.api + "/authz/authorizations/search/objects"}},
                "page": {"size": size, "totalElements": len(out),
                         "totalPages": (len(out) + size - 1) // size if size else 1,
                         "number": number}}
