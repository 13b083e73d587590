#!/usr/bin/env bash
# Checks that the anchor (server.mjs) answers every request the benchmark sends, correctly.
# Usage: bench/anchor/check.sh [BASE_URL]   (default http://127.0.0.1:9090)
# Exits non-zero on the first wrong answer.
set -euo pipefail

base=${1:-http://127.0.0.1:9090}
base=${base%/}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "check: FAIL: $*" >&2; exit 1; }

# request NAME EXPECTED_STATUS curl-args... ; body in $tmp/NAME
request() {
  local name=$1 want=$2; shift 2
  local code
  code=$(curl -sS --max-time 10 -o "$tmp/$name" -w '%{http_code}' "$@") || fail "$name: curl failed"
  [[ $code == "$want" ]] || fail "$name: HTTP $code, want $want: $(head -c 300 "$tmp/$name")"
}

# json FILE EXPR: evaluates a JS expression over the parsed body `j`; prints the result.
json() {
  node -e '
    const fs = require("node:fs");
    const j = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    const v = (0, eval)("(j) => (" + process.argv[2] + ")")(j);
    process.stdout.write(v === undefined ? "" : String(v));
  ' "$1" "$2" || fail "$1: not JSON or expression failed: $2"
}

# jwt_alg TOKEN: prints the "alg" of a compact JWS header (base64url-decoded with node).
jwt_alg() {
  local header=${1%%.*}
  [[ $1 == *.*.* ]] || fail "access_token is not a compact JWT: ${1:0:40}"
  node -e 'process.stdout.write(String(JSON.parse(Buffer.from(process.argv[1], "base64url").toString()).alg))' "$header"
}

token_alg_check() {
  local client=$1 want=$2 at alg
  request "token-$client" 200 -u "$client:bench-secret" -d grant_type=client_credentials "$base/token"
  at=$(json "$tmp/token-$client" 'j.access_token')
  [[ -n $at ]] || fail "token $client: no access_token: $(cat "$tmp/token-$client")"
  [[ $(json "$tmp/token-$client" 'j.token_type') == Bearer ]] || fail "token $client: token_type is not Bearer"
  alg=$(jwt_alg "$at")
  [[ $alg == "$want" ]] || fail "token $client: JWT alg $alg, want $want"
  echo "ok  client_credentials $client -> JWT $alg"
}

token_alg_check bench RS256
token_alg_check bench-es ES256

# Introspection: oidc-provider only introspects opaque (stored) tokens, so take one for the
# opaque resource and check it is active; a JWT must be refused as unsupported_token_type.
request token-opaque 200 -u bench:bench-secret -d grant_type=client_credentials -d resource=urn:bench:opaque "$base/token"
opaque=$(json "$tmp/token-opaque" 'j.access_token')
[[ -n $opaque && $opaque != *.* ]] || fail "opaque token expected, got: $(cat "$tmp/token-opaque")"
request introspect 200 -u bench:bench-secret --data-urlencode "token=$opaque" "$base/token/introspection"
[[ $(json "$tmp/introspect" 'j.active === true && j.client_id === "bench"') == true ]] \
  || fail "introspection: not active: $(cat "$tmp/introspect")"
echo 'ok  introspection of an opaque token -> "active":true'
request introspect-bad 200 -u bench:bench-secret --data-urlencode "token=not-a-token" "$base/token/introspection"
[[ $(json "$tmp/introspect-bad" 'j.active === false') == true ]] || fail "introspection of garbage is not inactive"
echo 'ok  introspection of an unknown token -> "active":false'

jwt=$(json "$tmp/token-bench" 'j.access_token')
request introspect-jwt 400 -u bench:bench-secret --data-urlencode "token=$jwt" "$base/token/introspection"
[[ $(json "$tmp/introspect-jwt" 'j.error') == unsupported_token_type ]] || fail "introspection of a JWT: $(cat "$tmp/introspect-jwt")"
echo "ok  introspection of a JWT access token -> 400 unsupported_token_type (as oidc-provider documents)"

request bad-secret 401 -u bench:wrong -d grant_type=client_credentials "$base/token"
echo "ok  wrong client secret -> 401"

request discovery 200 "$base/.well-known/openid-configuration"
[[ $(json "$tmp/discovery" 'typeof j.issuer === "string" && j.token_endpoint && j.jwks_uri && j.introspection_endpoint ? "yes" : "no"') == yes ]] \
  || fail "discovery: missing issuer/token_endpoint/jwks_uri/introspection_endpoint"
echo "ok  discovery (issuer $(json "$tmp/discovery" 'j.issuer'))"

request jwks 200 "$base/jwks"
[[ $(json "$tmp/jwks" 'j.keys.map((k) => k.alg).sort().join(",")') == ES256,RS256 ]] \
  || fail "jwks: want one ES256 and one RS256 key: $(head -c 300 "$tmp/jwks")"
[[ $(json "$tmp/jwks" 'j.keys.some((k) => k.d || k.p || k.q)') == false ]] || fail "jwks: private key material published"
echo "ok  jwks (RS256 + ES256 public keys)"

echo "check: all answers right at $base"
