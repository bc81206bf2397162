"""Writes: item and bundle creation, uploads, metadata PATCH, moves and
deletes (contract §6)."""

import json
import os
import re

import fixtures

from .common import (ApiError, DC_FIELDS, FORMAT_BY_ID, UUID_RE, bad_request, major, not_found,
                     unprocessable)
from .context import Part, Resp, json_resp, streams
from .multipart import parse_multipart
from .repo import is_admin


def java_split(path):
    """Java's String.split("/"): trailing empty strings are removed."""
    parts = path.split("/")
    while parts and parts[-1] == "":
        parts.pop()
    return parts


def jackson_read(data):
    """ObjectMapper.readValue(String, Class): the first JSON value; content
    after it is ignored (FAIL_ON_TRAILING_TOKENS is off by default), so
    '{"name":"x"};application/json' is accepted (contract §13;
    SW/repository/BitstreamRestRepository.java uploadBitstreamToBundle).
    Anything unreadable -> 422."""
    try:
        text = data.decode("utf-8").lstrip(" \t\r\n")
        return json.JSONDecoder().raw_decode(text)[0]
    except (ValueError, UnicodeDecodeError):
        raise unprocessable()


class Writes(Part):
    """The endpoints that change the repository."""

    def require_json(self, ctx, types=("json",)):
        ct = (ctx.header("Content-Type") or "").lower()
        if not any(t in ct for t in types):
            raise ApiError(415, "Content-Type '%s' is not supported." % ct, kind="spring")

    def check_metadata(self, md):
        if not isinstance(md, dict):
            raise unprocessable()
        out = {}
        for field, vals in md.items():
            if not (field in DC_FIELDS or field.startswith("dcterms.")):
                raise unprocessable()
            if not isinstance(vals, list):
                raise unprocessable()
            out[field] = [self.value_obj(v, i) for i, v in enumerate(vals)]
        return out

    @staticmethod
    def value_obj(v, place):
        if not isinstance(v, dict):
            raise unprocessable()
        d = fixtures.mv(v.get("value"), place, v.get("language"))
        d["authority"] = v.get("authority")
        d["confidence"] = v.get("confidence", -1) if v.get("confidence") is not None else -1
        return d

    def create_item(self, ctx):
        self.require_json(ctx)
        if not is_admin(ctx.user):
            raise ctx.deny()
        body = ctx.json_body()
        if not isinstance(body, dict):
            raise unprocessable()
        coll = self.repo.get(ctx.param("owningCollection") or "", "collection")
        if coll is None:
            raise bad_request()
        if body.get("inArchive") is not True:
            raise bad_request()       # "InArchive attribute should not be set to false"
        md = self.check_metadata(body.get("metadata") or {})
        item = self.repo.create_item(coll, md, bool(body.get("discoverable", False)))
        return json_resp(self.hal.render(item, ctx), 201)

    def create_bundle(self, ctx, uuid):
        item = self.repo.get(uuid, "item")
        if item is None:
            raise not_found()
        if not self.repo.can_write(item, ctx.user):
            raise ctx.deny()
        body = ctx.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("name"), str) or not body["name"].strip():
            raise unprocessable()
        md = self.check_metadata(body.get("metadata") or {})
        name = body["name"]
        with self.repo.lock:
            if any(self.repo.name(b) == name for b in self.repo.children(uuid, "bundles")):
                raise bad_request()   # "The bundle name already exists in the item"
            b = self.repo.create_bundle(item, name, md)
        return json_resp(self.hal.render(b, ctx), 201)

    @streams
    def upload(self, ctx, uuid):
        r = self.repo
        bundle = r.get(uuid, "bundle")
        allowed = bundle is not None and r.can_write(bundle, ctx.user)
        return self.multipart(ctx, allowed, lambda parts: self.finish_upload(ctx, uuid, parts, allowed))

    def multipart(self, ctx, allowed, finish):
        """Stream a multipart body (file parts to temp files only when
        `allowed`), then call finish(parts) under the repository lock; temp
        files finish() did not take are removed. Spring parses the whole
        body before the controller (and its permission checks) runs."""
        r = self.repo
        h = ctx.h
        ct = ctx.header("Content-Type") or ""
        m = re.search(r'boundary=(?:"([^"]+)"|([^;\s]+))', ct, re.I)
        if not ct.lower().startswith("multipart/form-data") or not m:
            h.drain_body()
            raise ApiError(400, "Request is invalid or incorrect")   # MultipartException
        boundary = (m.group(1) or m.group(2)).encode("latin-1")
        limit = self.cfg.upload_max
        cl = h.headers.get("Content-Length")
        if cl is not None and cl.isdigit() and int(cl) > limit:
            h.drain_body()
            raise ApiError(400, "Request is invalid or incorrect")   # MaxUploadSizeExceeded
        parts = []
        try:
            overflow = parse_multipart(h.body_reader(), boundary, parts, r.tmp_dir if allowed else None,
                                       limit)
            if overflow:
                raise ApiError(400, "Request is invalid or incorrect")
            # The JWT is checked only once the whole body has arrived: a
            # token that expired on the way gives 401 (contract §13, DS#12351).
            had_user = ctx.user is not None
            self.app.authn.authenticate(ctx)
            if had_user and ctx.user is None:
                raise ctx.deny()
            with r.lock:
                return finish(parts)
        finally:
            for p in parts:
                if p.get("path"):
                    try:
                        os.unlink(p["path"])
                    except OSError:
                        pass

    def finish_upload(self, ctx, uuid, parts, allowed):
        """The checks and the bitstream creation after the body was read."""
        r = self.repo
        bundle = r.get(uuid, "bundle")
        files = [p for p in parts if p["name"] == "file" and p["filename"] is not None]
        if bundle is None:
            raise not_found()
        if not files:
            raise ApiError(400, "Required part 'file' is not present.", kind="spring")
        if not allowed:
            raise ctx.deny()
        if len(files) > 1:
            raise unprocessable()
        props = next((p for p in parts if p["name"] == "properties"), None)
        name, md = files[0]["filename"], {}
        if props is not None and props["data"].strip():
            pj = jackson_read(props["data"])
            if not isinstance(pj, dict):
                raise unprocessable()
            md = self.check_metadata(pj.get("metadata") or {})
            if isinstance(pj.get("name"), str) and pj["name"].strip():
                name = pj["name"]
        f = files[0]
        bs = r.add_bitstream(bundle, name, f["path"], f["size"], f["md5"], md)
        f["path"] = None
        return json_resp(self.hal.render(bs, ctx), 201)

    @streams
    def replace_content(self, ctx, uuid):
        """DSpace 10: PUT /core/bitstreams/{uuid}/content, multipart "file"
        (SW/BitstreamReplaceController.java replaceBitstream): 201 with a new
        bitstream that takes the old one's place and metadata
        (API/content/BitstreamServiceImpl.java replace). Before 10.0 there
        is no such handler (405). With replace-bitstream.enabled = false
        (the default) replace() throws IllegalStateException -> 400
        "Request is invalid or incorrect", after the body was read."""
        if major(self.cfg.dspace_version) < 10:
            ctx.h.drain_body()
            raise ApiError(405, "Request method 'PUT' is not supported", kind="spring")
        r = self.repo
        bs = r.get(uuid, "bitstream")
        allowed = bs is not None and not bs["deleted"] and r.can_write(bs, ctx.user)
        return self.multipart(ctx, allowed, lambda parts: self.finish_replace(ctx, uuid, parts,
                                                                              allowed))

    def finish_replace(self, ctx, uuid, parts, allowed):
        r = self.repo
        bs = r.get(uuid, "bitstream")
        files = [p for p in parts if p["name"] == "file" and p["filename"] is not None]
        if not files:
            raise ApiError(400, "Required part 'file' is not present.", kind="spring")
        if not allowed:
            if bs is None or bs["deleted"]:
                raise not_found()
            raise ctx.deny()
        if not self.cfg.replace_bitstream:
            raise ApiError(400, "Request is invalid or incorrect")
        replace_name = (next((p["data"].decode("utf-8", "replace") for p in parts
                              if p["name"] == "replaceName"), None) or ctx.param("replaceName")
                        or "true").strip().lower() != "false"
        f = files[0]
        new = r.replace_bitstream(bs, f["path"], f["size"], f["md5"], f["filename"], replace_name)
        f["path"] = None
        return json_resp(self.hal.render(new, ctx), 201)

    def writable(self, ctx, o):
        """Permission for PATCH/DELETE: admin for items, communities, collections;
        bundle/bitstream writers otherwise."""
        if o["type"] in ("bundle", "bitstream"):
            ok = self.repo.can_write(o, ctx.user)
        else:
            ok = is_admin(ctx.user)
        if not ok:
            raise ctx.deny()

    def patch(self, ctx, model, uuid):
        o = self.core.find_dso(ctx, model, uuid)
        self.require_json(ctx)
        self.writable(ctx, o)
        ops = ctx.json_body()
        if not isinstance(ops, list) or not all(isinstance(op, dict) and "op" in op and "path" in op
                                                for op in ops):
            raise bad_request()
        r = self.repo
        with r.lock:
            md = {k: [dict(v) for v in vals] for k, vals in o["metadata"].items()}
            flags = {}
            order = None
            for op in ops:
                kind, path = op["op"], op["path"]
                if kind not in ("add", "replace", "remove", "move", "copy", "test"):
                    raise bad_request()
                if path == "/metadata" or path.startswith("/metadata/"):
                    self.patch_metadata(md, kind, path, op)
                elif o["type"] == "item" and path in ("/withdrawn", "/discoverable") and kind == "replace":
                    v = op.get("value")
                    if isinstance(v, str) and v.lower() in ("true", "false"):
                        v = v.lower() == "true"
                    if not isinstance(v, bool):
                        raise bad_request()
                    flags[path[1:]] = v
                elif o["type"] == "bundle" and kind == "move" and path.startswith("/_links/bitstreams/"):
                    if order is None:
                        order = list(r.kids.get(o["uuid"], {}).get("bitstreams", []))
                    try:
                        i = int(op.get("from", "").split("/")[3])
                        j = int(path.split("/")[3])
                        order.insert(j, order.pop(i))
                    except (ValueError, IndexError):
                        raise unprocessable()
                else:
                    raise unprocessable()
            for fld in md:
                if not (fld in DC_FIELDS or fld.startswith("dcterms.")):
                    raise unprocessable()
            o["metadata"] = {k: v for k, v in md.items() if v}
            if "withdrawn" in flags:
                o["withdrawn"] = flags["withdrawn"]
                o["inArchive"] = not flags["withdrawn"]
            if "discoverable" in flags:
                o["discoverable"] = flags["discoverable"]
            if order is not None:
                r.kids[o["uuid"]]["bitstreams"] = order
            r.changed(r.item_of(o))
        return json_resp(self.hal.render(o, ctx))

    def patch_metadata(self, md, kind, path, op, section=False):
        """JSON Patch on /metadata (DSpaceObjectMetadataPatchUtils semantics).
        The path is split like Java's String.split("/"), which drops trailing
        empty parts: "/metadata/dc.description.abstract/" has no place
        (DSpaceObjectMetadataPatchUtils.getIndexFromPath). section: a
        submission form's field (SW/submit/factory/impl/ItemMetadataValue*
        PatchOperation: an array on a field without place replaces it)."""
        parts = java_split(path)[2:]
        value = op.get("value")
        if not parts:
            if kind in ("add", "replace"):
                if not isinstance(value, dict):
                    raise unprocessable()
                md.clear()
                md.update(self.check_metadata(value))
                return
            if kind == "remove":
                md.clear()
                return
            raise unprocessable()
        field = parts[0]
        if not (field in DC_FIELDS or field.startswith("dcterms.")):
            raise unprocessable()                 # "Metadata field does not exist"
        vals = md.setdefault(field, [])
        if len(parts) == 1 and kind == "add" and vals and not section:
            # DSpaceObjectMetadataAddOperation.add: no place -> index 0 and
            # only the first value of an array (extractMetadataValueFromOperation);
            # addAndShiftRightMetadata inserts it before the existing values
            first = value[0] if isinstance(value, list) and value else value
            vals.insert(0, self.value_obj(first, 0))
            for i, v in enumerate(vals):
                v["place"] = i
            return
        if len(parts) == 1:
            if kind in ("add", "replace"):
                if isinstance(value, dict):
                    value = [value]
                if not isinstance(value, list):
                    raise unprocessable()
                if not section:
                    # DSpaceObjectMetadataReplaceOperation.replaceMetadataFieldMetadata
                    # (and add on an empty field): clear, then the first value only
                    value = value[:1]
                md[field] = [self.value_obj(v, i) for i, v in enumerate(value)]
            elif kind == "remove":
                # DSpaceObjectMetadataRemoveOperation.remove: clearMetadata, also
                # when the field is empty; a form field without values -> 422
                if not vals and section:
                    raise unprocessable()
                md[field] = []
            else:
                raise unprocessable()
            return
        idx_s = parts[1]
        if kind == "add" and idx_s == "-":
            idx = len(vals)
        elif kind == "add" and not section:
            idx = 0                       # DSpaceObjectMetadataAddOperation.add: any place but "-" is 0
            if isinstance(value, list):
                value = value[0] if value else None
        else:
            try:
                idx = int(idx_s)
            except ValueError:
                raise bad_request()
        if kind == "move":
            src = op.get("from", "").split("/")
            try:
                i = int(src[3])
            except (ValueError, IndexError):
                raise bad_request()
            if not (0 <= i < len(vals)) or not (0 <= idx < len(vals)):
                raise unprocessable()
            vals.insert(idx, vals.pop(i))
        elif kind == "add":
            if not (0 <= idx <= len(vals)):
                raise unprocessable()
            vals.insert(idx, self.value_obj(value, idx))
        elif kind == "replace":
            if not (0 <= idx < len(vals)):
                raise unprocessable()
            if len(parts) >= 3:
                prop = parts[2]
                if prop not in ("value", "language", "authority", "confidence"):
                    raise unprocessable()
                vals[idx][prop] = value
            else:
                vals[idx] = self.value_obj(value, idx)
        elif kind == "remove":
            if not (0 <= idx < len(vals)):
                raise unprocessable()
            vals.pop(idx)
        else:
            raise unprocessable()
        for i, v in enumerate(vals):
            v["place"] = i

    def delete(self, ctx, model, uuid):
        o = self.core.find_dso(ctx, model, uuid)
        self.writable(ctx, o)
        t = o["type"]
        if t == "item":
            self.repo.delete_item(o)
        elif t == "bundle":
            self.repo.delete_bundle(o)
        elif t == "bitstream":
            self.repo.delete_bitstream(o)
        else:
            raise ApiError(405, "Method is not allowed or supported")
        return Resp(204)

    def bulk_delete(self, ctx):
        self.require_json(ctx)
        if ctx.user is None:
            raise ctx.deny()
        ops = ctx.json_body()
        if not isinstance(ops, list):
            raise bad_request()
        if len(ops) > 1000:
            raise bad_request()
        targets = []
        for op in ops:
            if not isinstance(op, dict) or op.get("op") != "remove" or \
                    not str(op.get("path", "")).startswith("/bitstreams/"):
                raise bad_request()
            bs = self.repo.get(op["path"].split("/")[2], "bitstream")
            if bs is None or bs["deleted"]:
                raise unprocessable()         # RESTBitstreamNotFoundException
            if not self.repo.can_write(bs, ctx.user):
                raise ctx.deny()
            targets.append(bs)
        with self.repo.lock:
            for bs in targets:
                if not bs["deleted"]:
                    self.repo.delete_bitstream(bs)
        return Resp(204)

    def uri_list(self, ctx):
        self.require_json(ctx, ("text/uri-list",))
        return [ln.strip() for ln in ctx.body().decode("utf-8", "replace").splitlines()
                if ln.strip() and not ln.strip().startswith("#")]

    def bitstream_bundle(self, ctx, uuid):
        if ctx.method == "GET":
            return self.core.dso_rel(ctx, "bitstreams", uuid, "bundle")
        bs = self.core.find_dso(ctx, "bitstreams", uuid)
        lines = self.uri_list(ctx)
        if not self.repo.can_write(bs, ctx.user):
            raise ctx.deny()
        if len(lines) != 1:
            raise unprocessable()
        m = re.search(r"/core/bundles/(" + UUID_RE + r")/?$", lines[0])
        target = self.repo.get(m.group(1), "bundle") if m else None
        if target is None:
            raise unprocessable()
        if target["uuid"] == bs["parent"]:
            raise bad_request()
        if not self.repo.can_write(target, ctx.user):
            raise ctx.deny()
        self.repo.move_bitstream(bs, target)
        return json_resp(self.hal.render(target, ctx))

    def bitstream_format(self, ctx, uuid):
        if ctx.method == "GET":
            return self.core.dso_rel(ctx, "bitstreams", uuid, "format")
        bs = self.core.find_dso(ctx, "bitstreams", uuid)
        lines = self.uri_list(ctx)
        if not self.repo.can_write(bs, ctx.user):
            raise ctx.deny()
        if len(lines) != 1:
            raise bad_request()
        m = re.search(r"/core/bitstreamformats/(\d+)/?$", lines[0])
        if not m or int(m.group(1)) not in FORMAT_BY_ID:
            raise bad_request()
        with self.repo.lock:
            bs["format"] = int(m.group(1))
            self.repo.changed(self.repo.item_of(bs))
        return json_resp(self.hal.render(bs, ctx))
