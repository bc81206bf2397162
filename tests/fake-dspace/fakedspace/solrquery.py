"""Enough of Solr's standard query syntax for the discovery search.

Real DSpace hands the query string to Solr unchanged (SolrServiceImpl.search
→ DiscoverQuery.setQuery → SolrQuery.setQuery; the "search" core's default
field is search_text, the catch-all copy of every metadata value, and its
default operator makes juxtaposed terms all required, as the repository's
own UI search narrows with every word).  What the fake understands:

  word              a value contains it (case-insensitive; Solr matches
                    analysed tokens: "thes" does not find "thesis" there,
                    here it does - a simplification); '*' in it is ignored
  "a phrase"        a value contains the phrase (white space collapsed)
  field:term        the term in that field only: dc.* names a metadata
                    field exactly; title, author, subject, dateIssued are
                    DSpace's discovery index names (discovery.xml)
  field:[a TO b]    a range, '[' ']' inclusive, '{' '}' exclusive, '*' open;
                    4-digit years compare as years (as DSpace's date
                    fields index dc.date.issued), anything else as text
  search.resourceid:U
                    the object with UUID U, exactly (every indexed object's
                    document holds its UUID in this string field:
                    IndexFactoryImpl.buildDocument, schema.xml); not part
                    of the catch-all text
  handle:"P/S"      the object with that handle, exactly (a string field:
                    DSpaceObjectIndexFactoryImpl.buildDocument, schema.xml)
  a AND b, a && b, a OR b, a || b, NOT a, -a, +a, ( ... )
  a b               both (AND), see above

Unbalanced quotes, brackets or parentheses are a syntax error, which DSpace
reports as 422 (DiscoverQueryBuilder catches the SearchServiceException,
DS#3002); the caller raises it on ValueError."""

import re

INDEXES = {
    "title": ("dc.title", "dc.title.alternative"),
    "author": ("dc.contributor.author", "dc.creator", "dc.contributor"),
    "subject": ("dc.subject",),
    "dateIssued": ("dc.date.issued",),
}

TOKEN = re.compile(r'\s*(?:(\()|(\))|("(?:[^"\\]|\\.)*")|([\[{][^\]}]*[\]}])|'
                   r'(&&|\|\|)|([^\s()"\[\]{}]+))')


def tokens(q):
    pos, out = 0, []
    while pos < len(q):
        if q[pos:].strip() == "":
            break
        m = TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise ValueError("syntax error at %d" % pos)
        pos = m.end()
        lp, rp, phrase, rng, op, word = m.groups()
        if lp:
            out.append(("(", None))
        elif rp:
            out.append((")", None))
        elif phrase:
            out.append(("phrase", phrase[1:-1].replace('\\"', '"')))
        elif rng:
            out.append(("range", rng))
        elif op:
            out.append(("op", "AND" if op == "&&" else "OR"))
        elif word in ("AND", "OR", "NOT"):
            out.append(("op", word))
        else:
            out.append(("word", word))
    return out


ID_FIELD = "search.resourceid"
HANDLE_FIELD = "handle"   # DSpaceObjectIndexFactoryImpl.buildDocument; string


class Doc:
    """What the matcher sees of an object: its metadata, its UUID as the
    search.resourceid field and its handle as the handle field (neither in
    the catch-all text)."""
    __slots__ = ("meta", "uuid", "handle")

    def __init__(self, meta, uuid, handle=None):
        self.meta, self.uuid, self.handle = meta, uuid, handle

    def get(self, field, default=None):
        if field == ID_FIELD:
            return [{"value": self.uuid}]
        if field == HANDLE_FIELD:
            return [{"value": self.handle}] if self.handle else []
        return self.meta.get(field, default)

    def values(self):
        return self.meta.values()


def values(meta, field):
    if field is None:
        return [v["value"] or "" for vals in meta.values() for v in vals]
    fields = INDEXES.get(field, (field,))
    return [v["value"] or "" for f in fields for v in meta.get(f, [])]


def norm(s):
    return " ".join(s.split()).casefold()


def range_match(spec, field):
    lo_inc, hi_inc = spec[0] == "[", spec[-1] == "]"
    parts = spec[1:-1].split(" TO ")
    if len(parts) != 2:
        raise ValueError("bad range %s" % spec)
    lo, hi = parts[0].strip().strip('"'), parts[1].strip().strip('"')

    def key(v, bound):
        if re.fullmatch(r"\d{4}", bound) and re.match(r"\d{4}", v):
            return v[:4]
        return v

    def ok(v):
        if lo != "*":
            k = key(v, lo)
            if k < lo or (k == lo and not lo_inc):
                return False
        if hi != "*":
            k = key(v, hi)
            if k > hi or (k == hi and not hi_inc):
                return False
        return True
    return lambda meta: any(ok(v) for v in values(meta, field))


class Parser:
    def __init__(self, toks):
        self.t, self.i = toks, 0

    def peek(self):
        return self.t[self.i] if self.i < len(self.t) else (None, None)

    def take(self):
        tok = self.peek()
        self.i += 1
        return tok

    def parse(self):
        e = self.or_expr()
        if self.i != len(self.t):
            raise ValueError("unexpected %r" % (self.peek(),))
        return e

    def or_expr(self):
        terms = [self.and_expr()]
        while self.peek() == ("op", "OR"):
            self.take()
            terms.append(self.and_expr())
        return terms[0] if len(terms) == 1 else (lambda m: any(t(m) for t in terms))

    def and_expr(self):
        terms = [self.unary()]
        while self.peek()[0] not in (None, ")") and self.peek() != ("op", "OR"):
            if self.peek() == ("op", "AND"):
                self.take()
            terms.append(self.unary())
        return terms[0] if len(terms) == 1 else (lambda m: all(t(m) for t in terms))

    def unary(self):
        kind, val = self.peek()
        if (kind, val) == ("op", "NOT"):
            self.take()
            inner = self.unary()
            return lambda m: not inner(m)
        if kind == "word" and val.startswith("-") and len(val) > 1:
            self.t[self.i] = ("word", val[1:])
            inner = self.unary()
            return lambda m: not inner(m)
        if kind == "word" and val.startswith("+") and len(val) > 1:
            self.t[self.i] = ("word", val[1:])
        return self.atom(None)

    def atom(self, field):
        kind, val = self.take()
        if kind == "(":
            e = self.or_expr()
            if self.take()[0] != ")":
                raise ValueError("unbalanced parenthesis")
            return e if field is None else e
        if kind == "phrase" and field in (ID_FIELD, HANDLE_FIELD):
            return lambda m: val in values(m, field)
        if kind == "phrase":
            p = norm(val)
            return lambda m: any(p in norm(v) for v in values(m, field))
        if kind == "range":
            if field is None:
                raise ValueError("range without a field")
            return range_match(val, field)
        if kind == "word":
            if ":" in val and field is None and not val.startswith(":"):
                f, rest = val.split(":", 1)
                if rest:
                    self.i -= 1
                    self.t[self.i] = ("word", rest)
                    return self.atom(f)
                return self.atom(f)
            if field in (ID_FIELD, HANDLE_FIELD):   # string fields: exact
                return lambda m: val in values(m, field)
            w = val.replace("\\", "").strip("*").casefold()
            if w == "":
                return lambda m: True
            return lambda m: any(w in v.casefold() for v in values(m, field))
        raise ValueError("unexpected %r" % val)


def matcher(query):
    """None (everything) for '', '*', '*:*'; else a function of an
    object's metadata dict.  ValueError on a syntax error."""
    q = (query or "").strip()
    if q in ("", "*", "*:*"):
        return None
    return Parser(tokens(q)).parse()
