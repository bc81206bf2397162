#!/usr/bin/env bats
# Fake DSpace: authentication (JWT) and CSRF.  Section numbers refer to
# /work/shared/dspace-rest-contract.md.

load helpers
load mount

setup_file() {
	shared_server_setup --fixture small
}

teardown_file() {
	shared_teardown
}

teardown() {
	test_teardown
}

# jwt_claims TOKEN: the decoded payload (JSON)
jwt_claims() {
	"$FAKE_PYTHON" -S -c '
import base64, json, sys
h, p, s = sys.argv[1].split(".")
print(json.dumps({"header": json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4))),
                  "claims": json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))}))' "$1"
}

@test "§3.3 GET /security/csrf: 204, DSPACE-XSRF-TOKEN header and cookie (Path=/server, HttpOnly, SameSite=Lax)" {
	api GET /security/csrf
	[ "$STATUS" = 204 ]
	tok=$(hdr DSPACE-XSRF-TOKEN)
	[[ "$tok" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]
	[ "$(hdr Set-Cookie)" = "DSPACE-XSRF-COOKIE=$tok; Path=/server; HttpOnly; SameSite=Lax" ]
	[ "$(hdr_count Set-Cookie)" = 1 ]
	[ -z "$(hdr Content-Length)" ]
	# with a cookie, the same token is saved again
	api GET /security/csrf -b "DSPACE-XSRF-COOKIE=$tok"
	[ "$(hdr DSPACE-XSRF-TOKEN)" = "$tok" ]
}

@test "§3.2 eager issuance (7.6): a GET without the cookie gets a token, with the cookie none" {
	api GET /core/communities/search/top
	[ "$STATUS" = 200 ]
	tok=$(hdr DSPACE-XSRF-TOKEN)
	[ -n "$tok" ]
	[ "$(hdr Set-Cookie)" = "DSPACE-XSRF-COOKIE=$tok; Path=/server; HttpOnly; SameSite=Lax" ]
	api GET /core/communities/search/top -b "DSPACE-XSRF-COOKIE=$tok"
	[ -z "$(hdr DSPACE-XSRF-TOKEN)" ]
	[ "$(hdr_count Set-Cookie)" = 0 ]
}

@test "§2.1 login: 200, empty body, Bearer JWS (HS256: eid, sg, authenticationMethod, exp) and CSRF rotation with two Set-Cookie" {
	fake_csrf
	old=$CSRF
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" \
		-H 'Content-Type: application/x-www-form-urlencoded' --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 200 ]
	[ ! -s "$FAKE_DIR/body" ]
	auth=$(hdr Authorization)
	[[ "$auth" == "Bearer "*.*.* ]]
	new=$(hdr DSPACE-XSRF-TOKEN)
	[ -n "$new" ] && [ "$new" != "$old" ]
	[ "$(hdr_count Set-Cookie)" = 2 ]
	[ "$(grep -i '^Set-Cookie:' "$FAKE_DIR/hdrs" | head -1 | tr -d '\r')" = "Set-Cookie: DSPACE-XSRF-COOKIE=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:10 GMT; Path=/server; HttpOnly; SameSite=Lax" ]
	[ "$(hdr Set-Cookie)" = "DSPACE-XSRF-COOKIE=$new; Path=/server; HttpOnly; SameSite=Lax" ]
	j=$(jwt_claims "${auth#Bearer }")
	admin=$(fx 'next(u["uuid"] for u in doc["users"] if u["email"] == "admin@example.org")')
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys,time; d=json.loads(sys.argv[1]); c=d["claims"]; print(d["header"], sorted(c), c["eid"], c["sg"], c["authenticationMethod"], 1700 < c["exp"] - time.time() <= 1800)' "$j")" = "{'alg': 'HS256'} ['authenticationMethod', 'eid', 'exp', 'sg'] $admin [] password True" ]
}

@test "§3.4 POST without a CSRF token: 403 'Access is denied. Invalid CSRF token.' with a fresh token" {
	api POST /authn/login --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 403 ]
	[ "$(jbody 'd["message"]')" = "Access is denied. Invalid CSRF token." ]
	[ -n "$(hdr DSPACE-XSRF-TOKEN)" ]
	[ "$(hdr_count Set-Cookie)" = 1 ]
	[ -z "$(hdr Authorization)" ]
	# a mismatched token: rotation (empty cookie, then the new one)
	api POST /authn/login -H 'X-XSRF-TOKEN: aaaa' -b 'DSPACE-XSRF-COOKIE=bbbb' --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 403 ]
	[ "$(hdr_count Set-Cookie)" = 2 ]
	new=$(hdr DSPACE-XSRF-TOKEN)
	[ -n "$new" ] && [ "$new" != bbbb ]
	# header without cookie, cookie without header: both refused
	api POST /authn/login -H 'X-XSRF-TOKEN: aaaa' --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 403 ]
	api POST /authn/login -b 'DSPACE-XSRF-COOKIE=aaaa' --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 403 ]
	# the fresh token works (here through a curl cookie file)
	CSRF=$new
	fake_cookie_file
	api POST /authn/login -H "X-XSRF-TOKEN: $new" -b "$FAKE_COOKIES" --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 200 ]
}

@test "§3.1 CSRF is checked on PUT, PATCH and DELETE too, bearer or not" {
	fake_login admin@example.org admin
	bs=$(fx "one('bitstream', name='notes.txt')['uuid']")
	api DELETE "/core/bitstreams/$bs" -H "Authorization: Bearer $TOKEN"
	[ "$STATUS" = 403 ]
	api PATCH "/core/bitstreams/$bs" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --data '[]'
	[ "$STATUS" = 403 ]
	api PUT "/core/bitstreams/$bs/format" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: text/uri-list' --data "$FAKE_API/core/bitstreamformats/6"
	[ "$STATUS" = 403 ]
	[ "$(jbody 'd["message"]')" = "Access is denied. Invalid CSRF token." ]
	api GET "/core/bitstreams/$bs"
	[ "$STATUS" = 200 ]
}

@test "§2.1 bad password or no credentials: 401 'Authentication failed!' with WWW-Authenticate; other methods 405 text" {
	fake_csrf
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" --data 'user=admin%40example.org&password=wrong'
	[ "$STATUS" = 401 ]
	[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
	[ "$(jbody 'd["message"]')" = "Authentication failed!" ]
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF"
	[ "$STATUS" = 401 ]
	api POST /authn/login -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF" -H 'Content-Type: application/json' \
		--data '{"user":"admin@example.org","password":"admin"}'
	[ "$STATUS" = 401 ]
	api GET /authn/login
	[ "$STATUS" = 405 ]
	[ "$(cat "$FAKE_DIR/body")" = "Only POST is allowed for login requests." ]
	api GET /authn/logout
	[ "$STATUS" = 405 ]
	api GET /authn
	[ "$(jbody 'sorted(d["_links"])')" = '["login", "logout", "self", "shortlivedtokens", "status"]' ]
}

@test "§2.5 status: anonymous (WWW-Authenticate, no method) vs authenticated; eperson only with embed" {
	api GET /authn/status
	[ "$STATUS" = 200 ]
	[ "$(jbody '[d["okay"], d["authenticated"], "authenticationMethod" in d, d["type"]]')" = '[true, false, false, "status"]' ]
	[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
	fake_login user@example.org user
	api_as GET /authn/status
	[ "$(jbody '[d["authenticated"], d["authenticationMethod"], "_embedded" in d]')" = '[true, "password", false]' ]
	[ -z "$(hdr WWW-Authenticate)" ]
	api_as GET "/authn/status?embed=eperson"
	[ "$(jbody 'd["_embedded"]["eperson"]["email"]')" = user@example.org ]
	[ "$(jbody 'd["_links"]["eperson"]["href"] == d["_embedded"]["eperson"]["_links"]["self"]["href"]')" = true ]
}

@test "§2.4 refresh: POST /authn/login with the bearer and no parameters gives a new token; the old one stays valid" {
	fake_login admin@example.org admin
	old=$TOKEN
	sleep 1.1
	api_as POST /authn/login
	[ "$STATUS" = 200 ]
	new=$(hdr Authorization)
	new=${new#Bearer }
	[ -n "$new" ] && [ "$new" != "$old" ]
	[ "$(hdr_count Set-Cookie)" = 2 ]
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys; a=json.loads(sys.argv[1])["claims"]; b=json.loads(sys.argv[2])["claims"]; print(a["eid"] == b["eid"], b["exp"] > a["exp"])' "$(jwt_claims "$old")" "$(jwt_claims "$new")")" = "True True" ]
	for t in "$old" "$new"; do
		api GET /authn/status -H "Authorization: Bearer $t"
		[ "$(jbody 'd["authenticated"]')" = true ]
	done
	# refresh without CSRF is refused like any POST
	api POST /authn/login -H "Authorization: Bearer $new"
	[ "$STATUS" = 403 ]
}

@test "§2.2 an invalid, tampered or garbage token is anonymous, never a 401 by itself" {
	fake_login admin@example.org admin
	# Change the first character of the signature: the last one may only
	# carry base64url padding bits, and changing those changes nothing.
	sig=${TOKEN##*.}
	bad="${TOKEN%.*}.$( [ "${sig:0:1}" = A ] && echo B || echo A)${sig:1}"
	for t in "$bad" garbage "a.b.c"; do
		api GET /authn/status -H "Authorization: Bearer $t"
		[ "$STATUS" = 200 ]
		[ "$(jbody 'd["authenticated"]')" = false ]
		api GET /core/communities/search/top -H "Authorization: Bearer $t"
		[ "$STATUS" = 200 ]
	done
	api GET "/core/items/$(fx "one('item', name='Restricted Item')['uuid']")" -H "Authorization: Bearer $bad"
	[ "$STATUS" = 401 ]
	api GET "/core/items/$(fx "one('item', name='Restricted Item')['uuid']")" -H "Authorization: Bearer $TOKEN"
	[ "$STATUS" = 200 ]
}

@test "§2.6 logout: 204 and every token of that user is revoked, other users keep theirs" {
	fake_login user@example.org user
	u1=$TOKEN
	fake_login user@example.org user
	u2=$TOKEN c2=$CSRF
	fake_login admin@example.org admin
	a1=$TOKEN
	api POST /authn/logout -H "Authorization: Bearer $u2" -H "X-XSRF-TOKEN: $c2" -b "DSPACE-XSRF-COOKIE=$c2"
	[ "$STATUS" = 204 ]
	[ "$(hdr_count Set-Cookie)" = 2 ]
	for t in "$u1" "$u2"; do
		api GET /authn/status -H "Authorization: Bearer $t"
		[ "$(jbody 'd["authenticated"]')" = false ]
	done
	api GET /authn/status -H "Authorization: Bearer $a1"
	[ "$(jbody 'd["authenticated"]')" = true ]
	# logging out without a valid token still answers 204
	fake_csrf
	api POST /authn/logout -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF"
	[ "$STATUS" = 204 ]
}

@test "§2.3 --jwt-lifetime: exp follows it and an expired token is anonymous" {
	fake_start --fixture small --jwt-lifetime 1
	fake_login admin@example.org admin
	[ "$("$FAKE_PYTHON" -S -c 'import json,sys,time; print(json.loads(sys.argv[1])["claims"]["exp"] - time.time() <= 1)' "$(jwt_claims "$TOKEN")")" = True ]
	sleep 2.1
	api GET /authn/status -H "Authorization: Bearer $TOKEN"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["authenticated"]')" = false ]
	# an expired token cannot be refreshed either
	api_as POST /authn/login
	[ "$STATUS" = 401 ]
}

@test "§2.3 a backend restart (control endpoint or SIGUSR2) invalidates every token" {
	fake_start --fixture small
	fake_login admin@example.org admin
	fake_control POST /restart >/dev/null
	api GET /authn/status -H "Authorization: Bearer $TOKEN"
	[ "$(jbody 'd["authenticated"]')" = false ]
	fake_login admin@example.org admin
	api GET /authn/status -H "Authorization: Bearer $TOKEN"
	[ "$(jbody 'd["authenticated"]')" = true ]
	kill -USR2 "$FAKE_PID"
	sleep 0.3
	api GET /authn/status -H "Authorization: Bearer $TOKEN"
	[ "$(jbody 'd["authenticated"]')" = false ]
}

@test "§3.2 deferred issuance (9.1 default): GETs never carry a token, the first POST fails 403 with one" {
	fake_start --fixture small --dspace-version 9.1
	api GET ""
	[ "$(jbody 'd["dspaceVersion"]')" = "DSpace 9.1" ]
	[ -z "$(hdr DSPACE-XSRF-TOKEN)" ]
	[ "$(hdr_count Set-Cookie)" = 0 ]
	api GET /core/communities/search/top
	[ -z "$(hdr DSPACE-XSRF-TOKEN)" ]
	api POST /authn/login --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 403 ]
	tok=$(hdr DSPACE-XSRF-TOKEN)
	[ -n "$tok" ]
	api POST /authn/login -H "X-XSRF-TOKEN: $tok" -b "DSPACE-XSRF-COOKIE=$tok" --data 'user=admin%40example.org&password=admin'
	[ "$STATUS" = 200 ]
	[ -n "$(hdr Authorization)" ]
	# /security/csrf exists here too
	api GET /security/csrf
	[ "$STATUS" = 204 ]
	[ -n "$(hdr DSPACE-XSRF-TOKEN)" ]
}

@test "§4 restricted objects: anonymous 401 (+WWW-Authenticate), user 403, admin 200" {
	it=$(fx "one('item', name='Restricted Item')['uuid']")
	bs=$(fx "one('bitstream', name='secret.txt')['uuid']")
	# A restricted file in a public item: metadata readable (METADATA_READ via
	# READ on item and bundle, DS: SW/security/BitstreamMetadataReadPermission
	# EvaluatorPlugin.java), content refused.
	api GET "/core/bitstreams/$bs"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["name"]')" = secret.txt ]
	for path in "/core/items/$it" "/core/items/$it/bundles" "/core/bitstreams/$bs/content"; do
		api GET "$path"
		[ "$STATUS" = 401 ]
		[ "$(hdr WWW-Authenticate)" = 'password realm="DSpace REST API"' ]
		[ "$(jbody 'd["message"]')" = "Authentication is required" ]
	done
	fake_login user@example.org user
	for path in "/core/items/$it" "/core/bitstreams/$bs/content"; do
		api_as GET "$path"
		[ "$STATUS" = 403 ]
		[ "$(jbody 'd["message"]')" = "Access is denied" ]
	done
	fake_login admin@example.org admin
	for path in "/core/items/$it" "/core/bitstreams/$bs" "/core/bitstreams/$bs/content"; do
		api_as GET "$path"
		[ "$STATUS" = 200 ]
	done
	cmp "$FAKE_DIR/body" "$FAKE_STATE/content/$bs"
}

@test "§4.2 GET /core/items and /core/bitstreams are admin-only" {
	api GET /core/items
	[ "$STATUS" = 401 ]
	fake_login user@example.org user
	api_as GET /core/items
	[ "$STATUS" = 403 ]
	fake_login admin@example.org admin
	api_as GET "/core/items?size=5"
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["page"]["totalElements"]')" = "$(fx 'len(find("item"))')" ]
	api_as GET "/core/bitstreams?size=1"
	[ "$STATUS" = 200 ]
}

@test "§2.2 an Origin outside the allow-list is refused with 403; allowed origins get CORS headers" {
	api GET /core/communities/search/top -H 'Origin: https://evil.example.com'
	[ "$STATUS" = 403 ]
	fake_login admin@example.org admin
	api_as GET /authn/status -H 'Origin: https://evil.example.com'
	[ "$STATUS" = 403 ]
	api GET /core/communities/search/top -H 'Origin: http://localhost:4000'
	[ "$STATUS" = 200 ]
	[ "$(hdr Access-Control-Allow-Origin)" = http://localhost:4000 ]
	api GET /core/communities/search/top -H "Origin: http://127.0.0.1:$FAKE_PORT"
	[ "$STATUS" = 200 ]
}

@test "§2.7 short-lived tokens: minted for a logged-in user, usable as authentication-token on GET; login token there is 401" {
	fake_csrf
	api POST /authn/shortlivedtokens -H "X-XSRF-TOKEN: $CSRF" -b "DSPACE-XSRF-COOKIE=$CSRF"
	[ "$STATUS" = 401 ]
	fake_login admin@example.org admin
	api_as POST /authn/shortlivedtokens
	[ "$STATUS" = 200 ]
	[ "$(jbody 'd["type"]')" = shortlivedtoken ]
	[ "$(hdr_count Set-Cookie)" = 0 ]
	short=$(jbody 'd["token"]')
	bs=$(fx "one('bitstream', name='secret.txt')['uuid']")
	api GET "/core/bitstreams/$bs/content?authentication-token=$short"
	[ "$STATUS" = 200 ]
	api GET "/core/bitstreams/$bs/content?authentication-token=$TOKEN"
	[ "$STATUS" = 401 ]
}
