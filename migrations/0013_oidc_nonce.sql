-- OpenID Connect: the `nonce` of an authorization request, kept with its code so the id_token
-- issued for the code carries it back (OpenID Connect Core 1.0 section 3.1.2.1).
ALTER TABLE oauth_codes ADD COLUMN nonce TEXT;
