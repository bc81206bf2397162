"""Discovery search and browse: /discover/search/objects and
/discover/browses (contract §4.3)."""

import re

from . import solrquery
from .common import (ApiError, BROWSES, BROWSE_SORT_OPTIONS, SEARCH_FILTERS, SORT_FIELDS, UUID_RE,
                     first_value, not_found, unprocessable)
from .context import Part, embedded_page, json_resp, sort_key_text, split_sort, with_params


class Discovery(Part):
    """Discovery search and browse endpoints."""

    def discover_root(self, ctx):
        d = ctx.api + "/discover"
        return json_resp({"type": "discover", "_links": {
            "search": {"href": d + "/search"}, "facets": {"href": d + "/facets"},
            "self": {"href": d}}})

    def search_config(self, ctx):
        d = ctx.api + "/discover/search"
        sorts = [{"name": "score", "actualName": "score", "sortOrder": "DESC"},
                 {"name": "dc.title", "actualName": "dc.title", "sortOrder": "ASC"},
                 {"name": "dc.date.issued", "actualName": "dc.date.issued", "sortOrder": "DESC"},
                 {"name": "dc.date.accessioned", "actualName": "dc.date.accessioned",
                  "sortOrder": "DESC"}]
        filters = [{"filter": n, "hasFacets": True, "filterType": "text", "isOpenByDefault": False,
                    "pageSize": 5, "operators": [{"operator": op} for op in (
                        "equals", "notequals", "contains", "notcontains")], "type": "discover"}
                   for n in SEARCH_FILTERS]
        return json_resp({"scope": ctx.param("scope"),
                          "configuration": ctx.param("configuration") or "default",
                          "filters": filters, "sortOptions": sorts, "defaultSortOption": sorts[0],
                          "type": "discover", "_links": {"objects": {"href": d + "/objects"},
                                                         "self": {"href": d}}})

    @staticmethod
    def query_words(query):
        q = (query or "").strip()
        if q in ("", "*", "*:*"):
            return []
        words = [w for w in re.split(r"[\s()\"]+", q) if w and w not in ("AND", "OR", "NOT")]
        words = [w.split(":", 1)[1] if ":" in w else w for w in words]
        return [w.strip("*").casefold() for w in words if w.strip("*")]

    def highlights(self, o, words, ctx):
        """hitHighlights: null without a query (SearchResultEntryRest), else
        field -> values with the matched words in <em>...</em>."""
        if not words:
            return None
        out = {}
        for field, vals in self.hal.metadata_view(o, ctx).items():
            hl = []
            for v in vals:
                text = v["value"] or ""
                if any(w in text.casefold() for w in words):
                    for w in words:
                        text = re.sub("(?i)(" + re.escape(w) + ")", r"<em>\1</em>", text)
                    hl.append(text)
            if hl:
                out[field] = hl
        return out

    def query_matcher(self, query):
        """The query as Solr's standard parser would read it (solrquery.py,
        which says what is simplified); a syntax error is a 422."""
        try:
            m = solrquery.matcher(query)
        except ValueError:
            raise unprocessable()
        if m is None:
            return None
        return lambda o: m(solrquery.Doc(o["metadata"], o["uuid"], o.get("handle")))

    def search_results(self, ctx, scope, types, configuration, query, filters, sort):
        r = self.repo
        key = ("search", scope, tuple(sorted(types)), configuration, query, tuple(filters), sort,
               ctx.user["uuid"] if ctx.user else None)
        with r.lock:
            hit = r.cache.get(key)
            if hit is not None:
                return hit
            match = self.query_matcher(query)
            scope_obj = r.get(scope) if scope and re.fullmatch(UUID_RE, scope) else None
            if scope_obj is not None and scope_obj["type"] not in ("community", "collection"):
                scope_obj = None
            admin_view = configuration == "administrativeView"
            out = []
            for o in r.walk():
                t = o["type"]
                if t not in ("community", "collection", "item"):
                    continue
                if types and t not in types:
                    continue
                if admin_view and t != "item":
                    continue
                if scope_obj is not None and scope_obj["uuid"] not in r.containers(o):
                    continue
                if not r.discoverable(o, ctx.user, admin_view):
                    continue
                if match is not None and not match(o):
                    continue
                if not all(self.filter_ok(o, f) for f in filters):
                    continue
                out.append(o)
            field, direction = sort if sort else ("score", "DESC")
            if field == "score":
                out.sort(key=lambda o: r.order[o["uuid"]], reverse=(direction == "ASC"))
            else:
                out.sort(key=lambda o: (sort_key_text(first_value(o["metadata"], field)),
                                        r.order[o["uuid"]]), reverse=(direction == "DESC"))
            r.cache[key] = out
            return out

    def my_submissions(self, ctx, types, query):
        """configuration=workspace (MyDSpace's "your submissions"): the
        user's workspace items (type workspaceitem) and workflow items
        (workflowitem), oldest first. discovery.xml workspaceConfiguration:
        defaultFilterQueries Item, WorkspaceItem and XmlWorkflowItem;
        SolrServiceWorkspaceWorkflowRestrictionPlugin adds the filter
        submitter_authority:(<current user>), and refuses an anonymous user
        (IllegalStateException; the fake answers 401). The fake leaves out
        the user's archived items (it keeps no submitter for them)."""
        if ctx.user is None:
            raise ctx.deny()
        match = self.query_matcher(query)
        out = []
        for state in ("workspace", "workflow"):
            if types and state not in types:
                continue
            for it in self.app.submission.all_in(state):
                if it["submission"]["submitter"] == ctx.user["email"] and \
                        (match is None or match(it)):
                    out.append(it)
        return out

    def filter_ok(self, o, f):
        name, value, op = f
        vals = [v["value"] or "" for fld in SEARCH_FILTERS[name] for v in o["metadata"].get(fld, [])]
        if op in ("equals", "authority"):
            ok = value in vals
        elif op in ("notequals", "notauthority"):
            ok = value not in vals
        elif op == "contains":
            ok = any(value.casefold() in v.casefold() for v in vals)
        elif op == "notcontains":
            ok = not any(value.casefold() in v.casefold() for v in vals)
        else:
            ok = any(value.casefold() in v.casefold() for v in vals)
        return ok

    def search_objects(self, ctx):
        query = ctx.param("query")
        scope = ctx.param("scope")
        configuration = ctx.param("configuration")
        dso_types = ctx.params_all("dsoType", split=True)
        number, size = ctx.pageable()
        sort = None
        sp = ctx.param("sort")
        if sp:
            sort = split_sort(sp)
            if sort[0] not in SORT_FIELDS:
                raise ApiError(400, "Request is invalid or incorrect")
        types = set()
        for t in dso_types:
            # IndexFactory.getType() names, compared ignoring case
            # (DiscoverQueryBuilder.getDsoType)
            m = {"ITEM": "item", "COLLECTION": "collection", "COMMUNITY": "community",
                 "WORKSPACEITEM": "workspace", "XMLWORKFLOWITEM": "workflow"}.get(t.upper())
            if m is None:
                raise ApiError(400, "Request is invalid or incorrect")
            types.add(m)
        filters = []
        applied = []
        for k, v in ctx.params:
            if not k.startswith("f."):
                continue
            name = k[2:]
            if name not in SEARCH_FILTERS:
                raise unprocessable()
            value, _, op = v.rpartition(",")
            if not value:
                value, op = v, "equals"
            filters.append((name, value, op))
            applied.append({"filter": name, "operator": op, "value": value, "label": value})
        if (configuration or "").startswith("workspace"):
            results = self.my_submissions(ctx, types, query)
        else:
            results = self.search_results(ctx, scope, types, configuration, query, filters, sort)
        offset = number * size
        shown = results[offset:offset + min(size, self.cfg.discovery_cap)] if offset < len(results) else []
        entries = []
        words = self.query_words(query)
        for o in shown:
            res = self.app.submission.render(o, ctx) if o.get("submission") else self.hal.render(o, ctx)
            entries.append({"hitHighlights": self.highlights(o, words, ctx), "type": "discover",
                            "_links": {"indexableObject": res["_links"]["self"]},
                            "_embedded": {"indexableObject": res}})
        # SearchResultsResourceHalLinkFactory.buildSearchBaseLink: no page/size/embed
        params = []
        if query is not None:
            params.append(("query", query))
        params += [("dsoType", t) for t in dso_types]
        if scope:
            params.append(("scope", scope))
        if configuration:
            params.append(("configuration", configuration))
        params += [("f." + f["filter"], f["value"] + "," + f["operator"]) for f in applied]
        base = with_params(ctx.api + "/discover/search/objects", params)
        sort_str = "%s,%s" % sort if sort else None
        page = embedded_page(base, "objects", entries, number, size, len(results), sort_str)
        return json_resp({"query": query, "scope": scope, "appliedFilters": applied,
                          "sort": {"by": sort[0], "order": sort[1]} if sort else None,
                          "configuration": configuration, "type": "discover",
                          "_embedded": {"searchResult": page, "facets": []},
                          "_links": {"self": {"href": base}}})

    # -------------------------------------------------------------- browse
    def browse_res(self, bid, ctx):
        b = BROWSES[bid]
        href = "%s/discover/browses/%s" % (ctx.api, bid)
        d = {"id": bid, "browseType": b["browseType"], "dataType": b["dataType"],
             "sortOptions": BROWSE_SORT_OPTIONS, "order": b["order"], "type": "browse",
             "metadata": b["metadata"]}
        links = {"self": {"href": href}, "items": {"href": href + "/items"}}
        if b["browseType"] == "valueList":
            d["facetType"] = bid
            links["entries"] = {"href": href + "/entries"}
        d["_links"] = links
        return d

    def list_browses(self, ctx):
        return self.hal.paged(ctx, "browses", list(BROWSES), render=lambda b: self.browse_res(b, ctx))

    def one_browse(self, ctx, id):
        if id not in BROWSES:
            raise not_found()
        return json_resp(self.browse_res(id, ctx))

    def browse_pool(self, ctx):
        """Items visible to browse: as the default discovery configuration."""
        scope = ctx.param("scope")
        return self.search_results(ctx, scope if scope else None, {"item"}, None, None, (), None)

    def browse_items(self, ctx, id):
        b = BROWSES.get(id)
        if b is None:
            raise ApiError(400, "Request is invalid or incorrect")
        fv = ctx.param("filterValue")
        fa = ctx.param("filterAuthority")
        if b["browseType"] == "valueList" and fv is None and fa is None:
            raise ApiError(400, "Request is invalid or incorrect")
        if b["browseType"] == "flatBrowse" and (fv is not None or fa is not None):
            raise ApiError(400, "Request is invalid or incorrect")
        items = self.browse_pool(ctx)
        if fv is not None:
            items = [o for o in items
                     if any(v["value"] == fv for f in b["fields"] for v in o["metadata"].get(f, []))]
        field = b.get("sort", "dc.title")
        direction = b["order"]
        sp = ctx.param("sort")
        if sp:
            name, direction = split_sort(sp)
            opt = {"title": "dc.title", "dateissued": "dc.date.issued",
                   "dateaccessioned": "dc.date.accessioned"}.get(name)
            if opt:
                field = opt
        order = self.repo.order
        items = sorted(items, key=lambda o: (sort_key_text(first_value(o["metadata"], field)),
                                             order[o["uuid"]]), reverse=(direction == "DESC"))
        sw = ctx.param("startsWith")
        if sw:
            k = sw.casefold()
            items = [o for o in items if (sort_key_text(first_value(o["metadata"], field)) >= k)
                     != (direction == "DESC")]
        return self.hal.sub_page(ctx, "items", items)

    def browse_entries(self, ctx, id):
        b = BROWSES.get(id)
        if b is None or b["browseType"] != "valueList":
            raise ApiError(400, "Request is invalid or incorrect")
        counts = {}
        for o in self.browse_pool(ctx):
            seen = set()
            for f in b["fields"]:
                for v in o["metadata"].get(f, []):
                    if v["value"] and v["value"] not in seen:
                        seen.add(v["value"])
                        counts[v["value"]] = counts.get(v["value"], 0) + 1
        values = sorted(counts, key=lambda v: (v.casefold(), v))
        if (ctx.param("sort") or "").upper().endswith(",DESC"):
            values.reverse()
        number, size = ctx.pageable()
        href = "%s/discover/browses/%s/items" % (ctx.api, id)
        content = [{"authority": None, "value": v, "valueLang": None, "count": counts[v],
                    "type": "browseEntry",
                    "_links": {"items": {"href": with_params(href, [("filterValue", v)])}}}
                   for v in values[number * size:number * size + size]]
        return json_resp(embedded_page(ctx.url(), "entries", content, number, size, len(values)))
