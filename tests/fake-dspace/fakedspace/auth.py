"""Authentication and CSRF: JWT login tokens (contract §2) and the /authn,
/security/csrf and /eperson endpoints, plus the per-request token and CSRF
filters App.handle runs before routing (contract §3)."""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.parse
import uuid as uuidlib

import fixtures

from .common import (ApiError, CSRF_COOKIE, CSRF_HEADER_IN, SHORT_TOKEN_LIFETIME, WWW_AUTH, jdump,
                     not_found)
from .context import Part, Resp, embedded_page, json_resp
from .repo import is_admin


# ------------------------------------------------------------------ auth (JWT)

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class Auth:
    """HS256 JWS tokens signed with server secret + per-user session salt
    (SW/security/jwt/JWTTokenHandler.java): logout clears the salt, which
    revokes every token of that user; restart() changes the secret."""

    def __init__(self, users, lifetime, skew):
        self.lock = threading.Lock()
        self.users = users                 # uuid -> user dict
        self.lifetime = lifetime
        self.skew = skew
        self.secret = os.urandom(32)
        self.salts = {}

    def _key(self, uid, salt, short):
        return hashlib.sha256(self.secret + (b"short:" if short else b"login:")
                              + uid.encode() + b":" + salt.encode()).digest()

    def issue(self, user, short=False):
        with self.lock:
            salt = self.salts.get(user["uuid"])
            if salt is None:
                salt = self.salts[user["uuid"]] = uuidlib.uuid4().hex
            key = self._key(user["uuid"], salt, short)
        exp = int(time.time()) + (SHORT_TOKEN_LIFETIME if short else self.lifetime)
        claims = {"eid": user["uuid"], "sg": [], "authenticationMethod": "password", "exp": exp}
        signing_input = b64u(b'{"alg":"HS256"}') + "." + b64u(jdump(claims))
        sig = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
        return signing_input + "." + b64u(sig)

    def verify(self, token, short=False):
        """The user of a valid token, else None (never an error by itself)."""
        try:
            h, p, s = token.split(".")
            claims = json.loads(b64u_dec(p))
            user = self.users.get(claims.get("eid"))
            if user is None:
                return None
            with self.lock:
                salt = self.salts.get(user["uuid"])
                if salt is None:
                    return None
                key = self._key(user["uuid"], salt, short)
            good = hmac.new(key, (h + "." + p).encode(), hashlib.sha256).digest()
            if not hmac.compare_digest(good, b64u_dec(s)):
                return None
            skew = 0 if short else self.skew
            if int(claims.get("exp", 0)) + skew <= time.time():
                return None
            return user
        except (ValueError, TypeError, AttributeError):
            return None

    def logout(self, user):
        with self.lock:
            self.salts.pop(user["uuid"], None)

    def restart(self):
        with self.lock:
            self.secret = os.urandom(32)
            self.salts.clear()


class Authn(Part):
    """Token and CSRF filters and the /authn, /security/csrf, /eperson endpoints."""

    def authenticate(self, ctx):
        short = ctx.param("authentication-token")
        if short is not None:
            user = self.auth.verify(short, short=True)
            if user is None:
                raise ApiError(401, "Authentication is required",
                               headers=[("WWW-Authenticate", WWW_AUTH)])
            ctx.user = user
            return
        h = ctx.header("Authorization")
        if h:
            tok = h.strip()
            if tok.startswith("Bearer"):
                tok = tok[len("Bearer"):].strip()
            ctx.user = self.auth.verify(tok)

    def check_csrf(self, ctx):
        """Spring Security CsrfFilter with DSpaceCsrfTokenRepository (contract §3)."""
        cookie = ctx.cookie(CSRF_COOKIE) or None
        if self.cfg.csrf == "eager" and not cookie:
            ctx.csrf = ("new", str(uuidlib.uuid4()))
        if ctx.method in ("POST", "PUT", "PATCH", "DELETE"):
            sent = ctx.header(CSRF_HEADER_IN) or ctx.param("_csrf")
            if not cookie or not sent or sent != cookie:
                ctx.csrf = ("rotate" if cookie else "new", str(uuidlib.uuid4()))
                raise ApiError(403, "Access is denied. Invalid CSRF token.")
            if ctx.header(CSRF_HEADER_IN) is None:     # token via _csrf param: reset
                ctx.csrf = ("rotate", str(uuidlib.uuid4()))

    def rotate_csrf(self, ctx):
        ctx.csrf = ("rotate", str(uuidlib.uuid4()))

    def authn_root(self, ctx):
        a = ctx.api + "/authn"
        return json_resp({"type": "authn", "_links": {
            "login": {"href": a + "/login"}, "logout": {"href": a + "/logout"},
            "status": {"href": a + "/status"}, "shortlivedtokens": {"href": a + "/shortlivedtokens"},
            "self": {"href": a}}})

    def form_params(self, ctx):
        params = dict(ctx.params)
        ctype = (ctx.header("Content-Type") or "").lower()
        raw = ctx.body()
        if "application/x-www-form-urlencoded" in ctype and raw:
            for k, v in urllib.parse.parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                params.setdefault(k, v)
        return params

    def authn_login(self, ctx):
        if ctx.method != "POST":
            raise ApiError(405, "Only POST is allowed for login requests.", kind="text")
        p = self.form_params(ctx)
        email, pw = p.get("user"), p.get("password")
        if email or pw:
            u = self.repo.by_email.get((email or "").lower())
            if u is None or u.get("password") != pw:
                raise ApiError(401, "Authentication failed!", headers=[("WWW-Authenticate", WWW_AUTH)])
        elif ctx.user is not None:
            u = ctx.user                      # refresh: bearer + no parameters
        else:
            raise ApiError(401, "Authentication failed!", headers=[("WWW-Authenticate", WWW_AUTH)])
        token = self.auth.issue(u)
        ctx.user = u
        self.rotate_csrf(ctx)
        return Resp(200, b"", None, [("Authorization", "Bearer " + token)])

    def authn_logout(self, ctx):
        if ctx.method != "POST":
            raise ApiError(405, "Only POST is allowed for logout requests.", kind="text")
        if ctx.user is not None:
            self.auth.logout(ctx.user)
        self.rotate_csrf(ctx)
        return Resp(204)

    def eperson_res(self, u, ctx):
        return {"id": u["uuid"], "uuid": u["uuid"], "name": u["email"], "handle": None,
                "metadata": fixtures.expand_metadata({"eperson.firstname": u.get("firstname", ""),
                                                      "eperson.lastname": u.get("lastname", "")}),
                "netid": None, "lastActive": None, "canLogIn": True, "email": u["email"],
                "requireCertificate": False, "selfRegistered": False, "type": "eperson",
                "_links": {"groups": {"href": "%s/eperson/epersons/%s/groups" % (ctx.api, u["uuid"])},
                           "self": {"href": "%s/eperson/epersons/%s" % (ctx.api, u["uuid"])}}}

    def authn_status(self, ctx):
        a = ctx.api + "/authn/status"
        d = {"okay": True, "authenticated": ctx.user is not None}
        headers = []
        if ctx.user is not None:
            d["authenticationMethod"] = "password"
        else:
            headers.append(("WWW-Authenticate", WWW_AUTH))
        d["type"] = "status"
        links = {"self": {"href": a}, "specialGroups": {"href": a + "/specialGroups"}}
        if ctx.user is not None:
            links["eperson"] = {"href": "%s/eperson/epersons/%s" % (ctx.api, ctx.user["uuid"])}
            if ctx.proj.allow(0, (), "eperson"):
                d["_embedded"] = {"eperson": self.eperson_res(ctx.user, ctx)}
        d["_links"] = links
        return json_resp(d, headers=headers)

    def authn_special_groups(self, ctx):
        number, size = ctx.pageable()
        return json_resp(embedded_page(ctx.url(), "specialGroups", [], number, size, 0))

    def authn_shortlived(self, ctx):
        if ctx.user is None:
            raise ctx.deny()
        return json_resp({"token": self.auth.issue(ctx.user, short=True), "type": "shortlivedtoken",
                          "_links": {"self": {"href": ctx.api + "/authn/shortlivedtokens"}}})

    def security_csrf(self, ctx):
        if ctx.method != "GET":
            raise ApiError(403, "Access is denied")
        cookie = ctx.cookie(CSRF_COOKIE)
        ctx.csrf = ("resave", cookie) if cookie else ("new", str(uuidlib.uuid4()))
        return Resp(204)

    def eperson(self, ctx, uuid):
        u = self.repo.users.get(uuid)
        if ctx.user is None:
            raise ctx.deny()
        if u is None:
            raise not_found()
        if not (is_admin(ctx.user) or ctx.user["uuid"] == uuid):
            raise ctx.deny()
        return json_resp(self.eperson_res(u, ctx))
