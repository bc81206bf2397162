"""The submission route of non-admin depositors (contract §7, §13): workspace
items, workflow items, submission definitions and forms, collection
licences.

DSpace sources (SW/ = dspace-server-webapp/src/main/java/org/dspace/app/rest/,
API/ = dspace-api/src/main/java/org/dspace/), tags dspace-7.6 .. dspace-10.0:
SW/repository/WorkspaceItemRestRepository.java, SW/submit/SubmissionService.java,
SW/repository/WorkflowItemRestRepository.java, SW/submit/step/{DescribeStep,
UploadStep,LicenseStep,CollectionStep}.java, API/validation/{Metadata,Upload,
License}Validator.java, dspace/config/item-submission.xml and
submission-forms.xml."""

import hashlib
import re

import fixtures

from .common import (ApiError, DC_FIELDS, bad_request, iso_to_ms, java_date, major, not_found,
                     now_ms, unprocessable)
from .context import Part, Resp, embedded_page, json_resp, streams
from .repo import is_admin

# dspace/config/item-submission.xml: submission-process "traditional", the
# default of the submission-map; (step id, type, heading, mandatory)
STEPS = [("collection", "collection", "", True),
         ("traditionalpageone", "submission-form", "submit.progressbar.describe.stepone", True),
         ("traditionalpagetwo", "submission-form", "submit.progressbar.describe.steptwo", True),
         ("upload", "upload", "submit.progressbar.upload", True),
         ("license", "license", "submit.progressbar.license", True)]

IDENTIFIER_QUALIFIERS = ["issn", "other", "ismn", "govdoc", "uri", "isbn"]


def form_fields(name, version):
    """dspace/config/submission-forms.xml: (field(s), label, input type,
    repeatable, required message or None). dc.type is required from 8.0."""
    type_msg = "You must choose at least one type." if major(version) >= 8 else None
    if name == "traditionalpageone":
        return [(["dc.contributor.author"], "Author", "onebox", True, None),
                (["dc.title"], "Title", "onebox", False,
                 "You must enter a main title for this item."),
                (["dc.title.alternative"], "Other Titles", "onebox", True, None),
                (["dc.date.issued"], "Date of Issue", "date", False,
                 "You must enter at least the year."),
                (["dc.publisher"], "Publisher", "onebox", False, None),
                (["dc.identifier.citation"], "Citation", "onebox", False, None),
                (["dc.relation.ispartofseries"], "Series/Report No.", "series", True, None),
                (["dc.identifier." + q for q in IDENTIFIER_QUALIFIERS], "Identifiers",
                 "qualdrop_value", True, None),
                (["dc.type"], "Type", "dropdown", True, type_msg),
                (["dc.language.iso"], "Language", "dropdown", False, None)]
    if name == "traditionalpagetwo":
        return [(["dc.subject"], "Subject Keywords", "tag", True, None),
                (["dc.description.abstract"], "Abstract", "textarea", False, None),
                (["dc.description.sponsorship"], "Sponsors", "textarea", False, None),
                (["dc.description"], "Description", "textarea", False, None)]
    return None


def form_field_names(name, version):
    return [f for fields, *_ in form_fields(name, version) for f in fields]


class Submission(Part):
    """Workspace and workflow items, submission configuration, licences."""

    # -------------------------------------------------------------- configuration
    def definition(self, ctx, name):
        if name != "traditional":
            raise not_found()
        base = "%s/config/submissiondefinitions/%s" % (ctx.api, name)
        d = {"id": name, "name": name, "type": "submissiondefinition", "isDefault": True,
             "_links": {"collections": {"href": base + "/collections"},
                        "sections": {"href": base + "/sections"}, "self": {"href": base}}}
        if ctx.proj.active and ctx.proj.allow(0, (), "sections"):
            d["_embedded"] = {"sections": embedded_page(base + "/sections", "sections",
                                                        self.sections(ctx), 0, 20, len(STEPS))}
        return d

    def sections(self, ctx):
        """SubmissionSectionRest of each step (SW/model/SubmissionSectionRest.java)."""
        out = []
        for sid, typ, heading, mandatory in STEPS:
            links = {"self": {"href": "%s/config/submissionsections/%s" % (ctx.api, sid)}}
            if typ == "submission-form":
                links["config"] = {"href": "%s/config/submissionforms/%s" % (ctx.api, sid)}
            elif typ == "upload":
                links["config"] = {"href": "%s/config/submissionuploads/%s" % (ctx.api, sid)}
            out.append({"id": sid, "header": heading, "mandatory": mandatory, "sectionType": typ,
                        "visibility": {"main": None, "other": "READONLY" if typ == "license" else None},
                        "type": "submissionsection", "_links": links})
        return out

    def definitions(self, ctx, name=None, rel=None):
        """/config/submissiondefinitions[/{name}[/sections|collections]]
        (SW/repository/SubmissionDefinitionRestRepository.java)."""
        if ctx.user is None:
            raise ctx.deny()              # @PreAuthorize("hasAuthority('AUTHENTICATED')")
        if name is None:
            d = self.definition(ctx, "traditional")
            return json_resp({"_embedded": {"submissiondefinitions": [d]},
                              "_links": {"self": {"href": ctx.url()}},
                              "page": {"size": 20, "totalElements": 1, "totalPages": 1,
                                       "number": 0}})
        if name == "search" and rel is None:
            base = ctx.api + "/config/submissiondefinitions/search"
            return json_resp({"_links": {"findByCollection": {"href": base + "/findByCollection"},
                                         "self": {"href": base}}})
        if rel == "sections":
            self.definition(ctx, name)
            return json_resp(embedded_page(ctx.url(), "sections", self.sections(ctx), 0, 20,
                                           len(STEPS)))
        if rel is not None:
            raise not_found()
        return json_resp(self.definition(ctx, name))

    def definition_by_collection(self, ctx):
        """search/findByCollection?uuid=: every collection maps to "traditional"
        (item-submission.xml <name-map collection-handle="default">)."""
        if ctx.user is None:
            raise ctx.deny()
        coll = self.repo.get(ctx.param("uuid") or "", "collection")
        if coll is None:
            raise not_found()
        return json_resp(self.definition(ctx, "traditional"))

    def form(self, ctx, name):
        """/config/submissionforms/{name} (SW/converter/SubmissionFormConverter.java)."""
        if ctx.user is None:
            raise ctx.deny()
        fields = form_fields(name, ctx.version)
        if fields is None:
            raise not_found()
        rows = []
        for names, label, itype, rep, msg in fields:
            sel = [{"metadata": n, "label": (n.rsplit(".", 1)[1].upper() if itype == "qualdrop_value"
                                             else None), "closed": False} for n in names]
            rows.append({"fields": [{"input": {"type": itype}, "label": label,
                                     "mandatory": msg is not None, "repeatable": rep,
                                     "mandatoryMessage": msg, "hints": "",
                                     "style": "col-sm-12", "languageCodes": [],
                                     "selectableMetadata": sel, "typeBind": [],
                                     "visibility": None, "scope": None}]})
        return json_resp({"id": name, "name": name, "rows": rows, "type": "submissionform",
                          "_links": {"self": {"href": "%s/config/submissionforms/%s"
                                              % (ctx.api, name)}}})

    def license_text(self, coll):
        """Collection licence, else the default (API/content/LicenseUtils,
        CollectionServiceImpl.getLicense)."""
        return coll.get("license") or fixtures.LICENSE_TEXT

    # -------------------------------------------------------------- rendering
    def lookup(self, ctx, state, ws_id, need_write=False):
        """The item of workspace/workflow item ws_id, with permission checks
        (WorkspaceItemRestPermissionEvaluatorPlugin: submitter or admin;
        WorkflowRestPermissionEvaluatorPlugin: READ for the submitter)."""
        try:
            item = self.repo.submission(state, int(ws_id))
        except ValueError:
            raise bad_request()
        if item is None:
            if ctx.user is None:
                raise ctx.deny()
            raise not_found()
        if not self.repo.is_submitter(item, ctx.user) or \
                (need_write and state == "workflow" and not is_admin(ctx.user)):
            raise ctx.deny()
        return item

    def original(self, item):
        for b in self.repo.children(item["uuid"], "bundles"):
            if self.repo.name(b) == "ORIGINAL":
                return b
        return None

    def files(self, item):
        b = self.original(item)
        return self.repo.children(b["uuid"], "bitstreams") if b else []

    def file_data(self, bs, ctx):
        """UploadBitstreamRest (SW/model/step/UploadBitstreamRest.java)."""
        return {"uuid": bs["uuid"], "metadata": bs["metadata"], "accessConditions": [],
                "format": self.hal.format_res(bs["format"], ctx), "sizeBytes": bs["size"],
                "checkSum": {"checkSumAlgorithm": "MD5", "value": bs["md5"]},
                "url": "%s/core/bitstreams/%s/content" % (ctx.api, bs["uuid"])}

    def errors(self, item, ctx):
        """The validators, in step order; one ErrorRest per message with all
        its paths (API/validation/util/ValidationUtils.addError)."""
        required = []
        for form in ("traditionalpageone", "traditionalpagetwo"):
            for names, _, _, _, msg in form_fields(form, ctx.version):
                if msg and not any(item["metadata"].get(n) for n in names):
                    required.append("/sections/%s/%s" % (form, names[0]))
        out = []
        if required:
            out.append({"message": "error.validation.required", "paths": required})
        if not self.files(item):              # webui.submit.upload.required = true
            out.append({"message": "error.validation.filerequired", "paths": ["/sections/upload"]})
        if not item["submission"].get("license"):
            out.append({"message": "error.validation.license.required",
                        "paths": ["/sections/license"]})
        return out

    def section_data(self, item, ctx):
        sub = item["submission"]
        md = item["metadata"]
        secs = {"collection": item["parent"]}
        for form in ("traditionalpageone", "traditionalpagetwo"):
            secs[form] = {f: md[f] for f in form_field_names(form, ctx.version) if md.get(f)}
        b = self.original(item)
        secs["upload"] = {"primary": b.get("primaryBitstream") if b else None,
                          "files": [self.file_data(bs, ctx) for bs in self.files(item)]}
        lic = sub.get("license")
        secs["license"] = {"url": ("%s/core/bitstreams/%s/content" % (ctx.api, lic["bitstream"])
                                   if lic else None),
                           "acceptanceDate": lic["date"] if lic else None,
                           "granted": bool(lic)}
        return secs

    def render(self, item, ctx):
        """WorkspaceItemRest / WorkflowItemRest (SW/model/AInprogressSubmissionRest.java)."""
        sub = item["submission"]
        wf = sub["state"] == "workflow"
        base = "%s/%s/%d" % (ctx.api, "workflow/workflowitems" if wf else "submission/workspaceitems",
                             sub["id"])
        links = {}
        for rel in (("collection", "item", "submissionDefinition", "submitter")
                    + (("step",) if wf else ("supervisionOrders",))):
            links[rel] = {"href": base + "/" + rel}
        links["self"] = {"href": base}
        d = {"id": sub["id"], "lastModified": java_date(iso_to_ms(item["lastModified"]), ctx.version),
             "sections": self.section_data(item, ctx), "errors": self.errors(item, ctx),
             "type": "workflowitem" if wf else "workspaceitem"}
        # 7.x: collection, item, submissionDefinition and submitter are
        # @JsonIgnore fields of AInprogressSubmissionRest, always embedded
        # (WorkspaceItemRestRepositoryIT @dspace-7.6 reads $._embedded.collection
        # without embed=); from 8.0 they are @LinkRest: embedded on request
        emb = {}
        always = major(ctx.version) < 8
        for rel in ("collection", "item", "submissionDefinition", "submitter"):
            if always or (ctx.proj.active and ctx.proj.allow(0, (), rel)):
                emb[rel] = self.embedded(item, rel, ctx)
        if emb:
            d["_embedded"] = emb
        d["_links"] = links
        return d

    def embedded(self, item, rel, ctx):
        if rel == "item":
            return self.hal.render(item, ctx, 1, (rel,))
        if rel == "collection":
            return self.hal.render(self.repo.obj[item["parent"]], ctx, 1, (rel,))
        if rel == "submissionDefinition":
            return self.definition(ctx, "traditional")
        u = self.repo.by_email.get(item["submission"]["submitter"].lower())
        return self.app.authn.eperson_res(u, ctx) if u else None

    def rel(self, ctx, state, id, rel):
        """/submission/workspaceitems/{id}/{rel} and the workflow twin."""
        item = self.lookup(ctx, state, id)
        if rel == "item":
            return json_resp(self.hal.render(item, ctx))
        if rel == "collection":
            return json_resp(self.hal.render(self.repo.obj[item["parent"]], ctx))
        if rel == "submissionDefinition":
            return json_resp(self.definition(ctx, "traditional"))
        if rel == "submitter":
            u = self.repo.by_email.get(item["submission"]["submitter"].lower())
            return json_resp(self.app.authn.eperson_res(u, ctx)) if u else Resp(204)
        raise not_found()

    # -------------------------------------------------------------- workspace items
    def workspaceitems(self, ctx):
        if ctx.method == "POST":
            return self.create(ctx)
        if not is_admin(ctx.user):            # findAll: @PreAuthorize ADMIN
            raise ctx.deny()
        return self.page(ctx, "workspaceitems", self.all_in("workspace"))

    def all_in(self, state):
        r = self.repo
        return [r.obj[u] for (s, _), u in sorted(r.submissions.items(), key=lambda kv: kv[0][1])
                if s == state and u in r.obj]

    def page(self, ctx, rel, items):
        return self.hal.paged(ctx, rel, items, render=lambda it: self.render(it, ctx))

    def create(self, ctx):
        """SubmissionService.createWorkspaceItem: owningCollection, else the
        first collection with ADD; none, unknown or no ADD right ->
        RESTAuthorizationException (401 anonymous, 403 otherwise)."""
        self.writes.require_json(ctx)
        ctx.body()
        if ctx.user is None:
            raise ctx.deny()
        cu = ctx.param("owningCollection")
        if cu:
            if not re.fullmatch(r"[0-9a-fA-F-]{36}", cu):
                raise bad_request()           # UUID.fromString -> IllegalArgumentException
            coll = self.repo.get(cu, "collection")
        else:
            colls = self.core.submit_collections_of(ctx.user)
            coll = colls[0] if colls else None
        if coll is None or not self.core.may_submit(ctx.user, coll):
            raise ctx.deny()
        item = self.new_draft(coll, ctx.user)
        return json_resp(self.render(item, ctx), 201)

    def new_draft(self, coll, user):
        r = self.repo
        with r.lock:
            r.sub_max["workspace"] += 1
            ws_id = r.sub_max["workspace"]
            o = {"type": "item", "uuid": r._new_uuid(), "handle": None, "parent": coll["uuid"],
                 "mappedCollections": [], "metadata": {}, "inArchive": False,
                 "discoverable": True, "withdrawn": False, "restricted": False,
                 "lastModified": fixtures.iso_millis(now_ms()),
                 "submission": {"id": ws_id, "state": "workspace", "submitter": user["email"],
                                "license": None}}
            r._load(o)
            r.changed()
            return r.obj[o["uuid"]]

    @streams
    def workspaceitem(self, ctx, id):
        if ctx.method == "POST":
            return self.upload(ctx, id)
        with self.repo.lock:
            return self.workspaceitem_locked(ctx, id)

    def workspaceitem_locked(self, ctx, id):
        if ctx.method == "GET":
            return json_resp(self.render(self.lookup(ctx, "workspace", id), ctx))
        item = self.lookup(ctx, "workspace", id, need_write=True)
        if ctx.method == "DELETE":
            self.repo.delete_item(item)
            return Resp(204)
        return self.patch(ctx, item)

    def search_methods(self, ctx, where, names):
        base = "%s/%s/search" % (ctx.api, where)
        links = {n: {"href": base + "/" + n} for n in names}
        links["self"] = {"href": base}
        return json_resp({"_links": links})

    def ws_search(self, ctx, name=None):
        if name is None:
            return self.search_methods(ctx, "submission/workspaceitems", ["findBySubmitter", "item"])
        return self.find_by_submitter(ctx, "workspace") if name == "findBySubmitter" \
            else self.find_by_item(ctx, "workspace")

    def wf_search(self, ctx, name=None):
        if name is None:
            return self.search_methods(ctx, "workflow/workflowitems", ["findBySubmitter", "item"])
        if name == "findBySubmitter" and not is_admin(ctx.user):
            raise ctx.deny()                  # WorkflowItemRestRepository: @PreAuthorize ADMIN
        return self.find_by_submitter(ctx, "workflow") if name == "findBySubmitter" \
            else self.find_by_item(ctx, "workflow")

    def find_by_submitter(self, ctx, state):
        """search/findBySubmitter?uuid=: EPERSON READ (self or admin), paged,
        oldest first (WorkspaceItemDAOImpl.findByEPerson orders by id)."""
        u = ctx.param("uuid")
        if not u:
            raise bad_request()
        if ctx.user is None:
            raise ctx.deny()
        if not (is_admin(ctx.user) or ctx.user["uuid"] == u.lower()):
            raise ctx.deny()
        person = self.repo.users.get(u.lower())
        email = person["email"] if person else None
        items = [i for i in self.all_in(state) if i["submission"]["submitter"] == email]
        rel = "workflowitems" if state == "workflow" else "workspaceitems"
        return self.page(ctx, rel, items)

    def find_by_item(self, ctx, state):
        """search/item?uuid=: null (204) when the item has no such
        submission; READ on the item needed."""
        u = ctx.param("uuid")
        if not u:
            raise bad_request()
        item = self.repo.get(u, "item")
        sub = item.get("submission") if item else None
        if not sub or sub["state"] != state:
            return Resp(204)
        if not self.repo.can_read(item, ctx.user):
            raise ctx.deny()
        return json_resp(self.render(item, ctx))

    # -------------------------------------------------------------- PATCH
    def patch(self, ctx, item):
        """SubmissionService / the steps' doPatchProcessing. Errors of one
        operation leave the draft unchanged."""
        self.writes.require_json(ctx)
        ops = ctx.json_body()
        if not isinstance(ops, list) or not all(isinstance(op, dict) and "op" in op and "path" in op
                                                for op in ops):
            raise bad_request()
        md = {k: [dict(v) for v in vals] for k, vals in item["metadata"].items()}
        sub = dict(item["submission"])
        removals = []
        for op in ops:
            parts = str(op["path"]).split("/")
            if len(parts) < 3 or parts[0] != "" or parts[1] != "sections":
                raise unprocessable()
            sec = parts[2]
            if sec in ("traditionalpageone", "traditionalpagetwo"):
                self.patch_form(md, sec, op, ctx)
            elif sec == "license":
                sub["license"] = self.patch_license(op, sub.get("license"))
            elif sec == "upload":
                removals.append(self.patch_upload(item, op))
            else:
                raise unprocessable()
        r = self.repo
        with r.lock:
            item["metadata"] = {k: v for k, v in md.items() if v}
            if sub.get("license") and not item["submission"].get("license"):
                sub["license"] = self.grant(item, sub["license"])
            elif not sub.get("license") and item["submission"].get("license"):
                self.revoke(item)
            item["submission"] = sub
            for bs in removals:
                if isinstance(bs, tuple):
                    bs[0]["metadata"] = bs[1]
                elif not bs["deleted"]:
                    r.delete_bitstream(bs, record=False)
            r.changed(item)
        return json_resp(self.render(item, ctx))

    def patch_form(self, md, sec, op, ctx):
        """DescribeStep.doPatchProcessing: the field must be on the form
        (422 "The field X is not present in section Y"); a remove of the
        section removes all its fields."""
        kind = op["op"]
        parts = op["path"].split("/")[3:]
        names = form_field_names(sec, ctx.version)
        if not parts or parts == [""]:
            if kind != "remove":
                raise unprocessable()
            for n in names:
                md.pop(n, None)
            return
        if parts[0] not in names or parts[0] not in DC_FIELDS:
            raise unprocessable()
        if kind not in ("add", "replace", "remove", "move"):
            raise unprocessable()
        path = "/metadata/" + "/".join(parts)
        self.writes.patch_metadata(md, kind, path, op, section=True)

    def patch_license(self, op, current):
        """LicenseStep: only /sections/license/granted; value true/false (the
        strings "true"/"false" are accepted too: LicenseAddPatchOperation
        uses BooleanUtils.toBooleanObject)."""
        if not op["path"].endswith("/granted"):
            raise unprocessable()
        v = op.get("value")
        if op["op"] == "remove":
            return None
        if isinstance(v, str) and v.lower() in ("true", "false"):
            v = v.lower() == "true"
        if not isinstance(v, bool):
            raise unprocessable()
        return (current or {"pending": True}) if v else None

    def patch_upload(self, item, op):
        """UploadStep: remove /sections/upload/files/<n> deletes the n-th file
        (BitstreamRemovePatchOperation); add/replace/remove on
        /sections/upload/files/<n>/metadata/<field>[/<place>] edits that
        file's metadata (BitstreamMetadataValue{Add,Replace,Remove}PatchOperation,
        SW/submit/factory/impl/, which apply DSpaceObjectMetadataPatchUtils
        to the n-th bitstream of the upload step); other paths unsupported here."""
        m = re.fullmatch(r"/sections/upload/files/(\d+)(/metadata/.+)?", op["path"])
        if not m:
            raise unprocessable()
        files = self.files(item)
        n = int(m.group(1))
        if n >= len(files):
            raise unprocessable()
        if m.group(2) is None:
            if op["op"] != "remove":
                raise unprocessable()
            return files[n]
        if op["op"] not in ("add", "replace", "remove"):
            raise unprocessable()
        md = {k: [dict(v) for v in vals] for k, vals in files[n]["metadata"].items()}
        self.writes.patch_metadata(md, op["op"], m.group(2), op)
        return (files[n], {k: v for k, v in md.items() if v})

    def grant(self, item, lic):
        """LicenseAddPatchOperation -> LicenseUtils.grantLicense: the licence
        text becomes LICENSE/license.txt of the item."""
        r = self.repo
        coll = r.obj[item["parent"]]
        b = next((x for x in r.children(item["uuid"], "bundles") if r.name(x) == "LICENSE"), None)
        if b is None:
            b = r.create_bundle(item, "LICENSE", {})
        path = r.tmp_path()
        data = self.license_text(coll).encode("utf-8")
        with open(path, "wb") as f:
            f.write(data)
        bs = r.add_bitstream(b, "license.txt", path, len(data), hashlib.md5(data).hexdigest(), {})
        bs["format"] = 2
        return {"bitstream": bs["uuid"], "date": fixtures.iso_millis(now_ms())[:19] + "Z"}

    def revoke(self, item):
        r = self.repo
        for b in list(r.children(item["uuid"], "bundles")):
            if r.name(b) == "LICENSE":
                r.delete_bundle(b, record=False)

    # -------------------------------------------------------------- upload
    def upload(self, ctx, id):
        """POST /submission/workspaceitems/{id} multipart "file": 201 with the
        whole workspace item (WorkspaceItemRestRepository.upload ->
        SubmissionService.uploadFileToInprogressSubmission -> UploadStep.upload:
        ORIGINAL bundle, name and dc.source from the file name)."""
        try:
            item = self.repo.submission("workspace", int(id))
        except ValueError:
            item = None
        allowed = item is not None and self.repo.can_write(item, ctx.user)

        def finish(parts):
            if self.repo.submission("workspace", int(id)) is None:
                raise not_found()
            files = [p for p in parts if p["name"] == "file" and p["filename"] is not None]
            if not files:
                raise ApiError(400, "Required part 'file' is not present.", kind="spring")
            if not allowed:
                raise ctx.deny()
            r = self.repo
            b = self.original(item) or r.create_bundle(item, "ORIGINAL", {})
            for f in files[:1]:
                name = f["filename"]
                r.add_bitstream(b, name, f["path"], f["size"], f["md5"],
                                {"dc.source": [fixtures.mv(name)]})
                f["path"] = None
            return json_resp(self.render(item, ctx), 201)
        return self.writes.multipart(ctx, allowed, finish)

    # -------------------------------------------------------------- workflow
    def workflowitems(self, ctx):
        """POST /workflow/workflowitems (text/uri-list naming one workspace
        item): WorkflowItemRestRepository.createAndReturn ->
        SubmissionService.createWorkflowItem. Collection without a workflow:
        the item is archived and createAndReturn returns null, which
        RestResourceController.postUriListInternal answers with
        ControllerUtils.toEmptyResponse(CREATED): 201, no body."""
        if ctx.method == "GET":
            if not is_admin(ctx.user):
                raise ctx.deny()
            return self.page(ctx, "workflowitems", self.all_in("workflow"))
        lines = self.writes.uri_list(ctx)
        if ctx.user is None:
            raise ctx.deny()
        if len(lines) != 1:
            raise unprocessable()
        m = re.search(r"/api/submission/workspaceitems/(\d+)/?$", lines[0])
        item = self.repo.submission("workspace", int(m.group(1))) if m else None
        if item is None:
            raise unprocessable()
        if not self.repo.is_submitter(item, ctx.user):
            raise ctx.deny()                  # WORKFLOWITEM WRITE on the workspace item
        if self.errors(item, ctx):
            raise unprocessable()             # "Start workflow failed due to validation error"
        coll = self.repo.obj[item["parent"]]
        if coll.get("workflow"):
            return json_resp(self.to_workflow(item, ctx), 201)
        self.archive(item)
        return Resp(201)

    def to_workflow(self, item, ctx):
        r = self.repo
        with r.lock:
            old = item["submission"]
            r.submissions.pop(("workspace", old["id"]), None)
            r.sub_max["workflow"] += 1
            sub = dict(old, state="workflow", id=r.sub_max["workflow"])
            item["submission"] = sub
            r.submissions[("workflow", sub["id"])] = item["uuid"]
            r.changed(item)
        return self.render(item, ctx)

    def archive(self, item):
        """XmlWorkflowServiceImpl.start -> archive (no workflow steps):
        InstallItemServiceImpl.installItem mints the handle and adds
        dc.date.accessioned/available, dc.identifier.uri, provenance."""
        r = self.repo
        with r.lock:
            r.submissions.pop(("workspace", item["submission"]["id"]), None)
            h = r._mint_handle()
            stamp = fixtures.iso_millis(now_ms())[:19] + "Z"
            md = {k: [dict(v) for v in vals] for k, vals in item["metadata"].items()}
            for field, val in (("dc.date.accessioned", stamp), ("dc.date.available", stamp),
                               ("dc.identifier.uri", "http://localhost:4000/handle/" + h),
                               ("dc.description.provenance",
                                "Made available in DSpace on %s (GMT)." % stamp)):
                vals = md.setdefault(field, [])
                vals.append(fixtures.mv(val, len(vals)))
            item["metadata"] = md
            item["handle"] = h
            r.handles[h] = item["uuid"]
            item["inArchive"] = True
            del item["submission"]
            r.changed(item)

    def workflowitem(self, ctx, id):
        return json_resp(self.render(self.lookup(ctx, "workflow", id), ctx))

    # -------------------------------------------------------------- licence
    def collection_license(self, ctx, coll):
        """GET /core/collections/{uuid}/license
        (SW/repository/CollectionLicenseLinkRepository.java getLicense)."""
        custom = bool(coll.get("license"))
        return {"custom": custom, "text": self.license_text(coll), "type": "license",
                "_links": {"self": {"href": "%s/core/collections/%s/license"
                                    % (ctx.api, coll["uuid"])}}}
