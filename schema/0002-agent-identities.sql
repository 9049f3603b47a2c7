-- 0002-agent-identities.sql: each approved agent's Gitea password and
-- access token, sealed by the vault (lib/vault.c) under the master key.
-- The plain values never reach the database.
ALTER TABLE agents
    ADD COLUMN gitea_password_sealed text,
    ADD COLUMN gitea_token_sealed text;
