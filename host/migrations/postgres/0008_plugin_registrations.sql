-- A digest names code; names and ownership are per program. `plugins` keeps the code
-- (digest, hook, size, bytes, shipped-with-the-service), shared by every program that
-- registers it; each program's registration of a digest has its own name, version and
-- upload time. `program_id` NULL is the platform's registration (built-ins, admin uploads
-- for no program). The name, version and owner columns of `plugins` are no longer read.
CREATE TABLE plugin_registrations (
    program_id     TEXT REFERENCES programs (id),
    digest         TEXT NOT NULL REFERENCES plugins (digest),
    name           TEXT NOT NULL,
    version        TEXT NOT NULL,
    uploaded_at_ms BIGINT NOT NULL
);
-- One registration per program (or the platform) and digest; '' is never a program id.
CREATE UNIQUE INDEX plugin_registrations_key ON plugin_registrations (COALESCE(program_id, ''), digest);
CREATE INDEX plugin_registrations_digest ON plugin_registrations (digest);
INSERT INTO plugin_registrations (program_id, digest, name, version, uploaded_at_ms)
    SELECT owner_program_id, digest, name, version, created_at_ms FROM plugins;
