-- The algorithm of the client's access tokens (RFC 9068 `at+jwt`): RS256 by default,
-- ES256 or EdDSA when the registration asks for it, like `id_token_alg`. A resource server
-- verifies either from the JWKS, which publishes every algorithm in use.
ALTER TABLE clients ADD COLUMN access_token_alg TEXT NOT NULL DEFAULT 'RS256';
