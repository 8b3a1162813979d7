-- A station's token may be bound to its client certificate (RFC 8705 certificate-bound
-- tokens): the certificate's x5t#S256 thumbprint. A bound token is accepted only over a TLS
-- connection whose verified client certificate has it; NULL is an unbound token, as before.
ALTER TABLE api_tokens ADD COLUMN client_cert_x5t_s256 TEXT;
