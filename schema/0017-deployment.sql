-- The deployment and sponsorship registry (SPEC.md section 8,
-- docs/deployment.md): the platform catalog, each project's deployment
-- status, its sponsors and their tokens, and its sealed secrets.

CREATE TABLE platforms (
    name            text PRIMARY KEY
                    CHECK (name ~ '^[a-z][a-z0-9-]{0,31}$'),
    display_name    text NOT NULL,
    secrets         text[] NOT NULL DEFAULT '{}',
    trigger         text NOT NULL CHECK (trigger IN ('hook', 'command', 'manual')),
    hook_secret     text,
    command         text[],
    config_files    text[] NOT NULL DEFAULT '{}',
    docs_url        text,
    retired         boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((trigger = 'hook') = (hook_secret IS NOT NULL)),
    CHECK ((trigger = 'command') = (command IS NOT NULL))
);

-- Platforms an admin deleted: the seed file does not bring them back.
CREATE TABLE platforms_deleted (
    name            text PRIMARY KEY,
    deleted_at      timestamptz NOT NULL DEFAULT now()
);

-- The seed's columns.  deployment_branch NULL: the repository's default
-- branch.  deployment_resume: the status a project had when the end of
-- its last hosting sponsor suspended it, to go back to when one returns
-- (NULL when someone suspended it by hand).
ALTER TABLE projects
    ADD COLUMN deployment_status text NOT NULL DEFAULT 'none'
        CHECK (deployment_status IN ('none', 'ready', 'sponsored', 'live', 'suspended')),
    ADD COLUMN deployment_platform text REFERENCES platforms (name)
        ON UPDATE CASCADE,
    ADD COLUMN deployment_branch text,
    ADD COLUMN deployment_url text,
    ADD COLUMN deployed_at timestamptz,
    ADD COLUMN deployment_resume text
        CHECK (deployment_resume IN ('sponsored', 'live')),
    ADD COLUMN readiness jsonb,
    ADD COLUMN readiness_checked_at timestamptz;
CREATE INDEX projects_deployment_status_idx ON projects (deployment_status)
    WHERE deployment_status <> 'none';
CREATE INDEX projects_deployment_platform_idx ON projects (deployment_platform)
    WHERE deployment_platform IS NOT NULL;

CREATE TABLE sponsors (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    name            text NOT NULL,
    email           text,
    github_username text,
    covers_hosting  boolean NOT NULL DEFAULT true,
    covers_domain   boolean NOT NULL DEFAULT false,
    monthly_budget  text,
    tier            text,
    recurrence      text NOT NULL DEFAULT 'monthly'
                    CHECK (recurrence IN ('monthly', 'one_time')),
    public          boolean NOT NULL DEFAULT false,
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'paused', 'ended')),
    started_at      timestamptz NOT NULL DEFAULT now(),
    ended_at        timestamptz,
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sponsors_project_idx ON sponsors (project_id, status);
CREATE INDEX sponsors_name_idx ON sponsors (lower(name));

-- Tokens are full-entropy ("sst_" + 32 random bytes), stored as SHA-256.
CREATE TABLE sponsor_tokens (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    sponsor_id      uuid NOT NULL REFERENCES sponsors (id) ON DELETE CASCADE,
    token_hash      text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
CREATE INDEX sponsor_tokens_sponsor_idx ON sponsor_tokens (sponsor_id);

-- encrypted_value: lib/vault.c's sealed text (version, key id, nonce,
-- ciphertext), bound to "project:<id>:secret:<name>"; NULL for BYOK.
-- digest: a keyed hash of the value, to recognise equal values.
CREATE TABLE deployment_secrets (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    key_name        text NOT NULL CHECK (key_name ~ '^[A-Za-z_][A-Za-z0-9_]{0,99}$'),
    encrypted_value text,
    digest          text,
    is_byok         boolean NOT NULL DEFAULT false,
    confirmed_at    timestamptz,
    confirmed_by    text,
    set_by          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, key_name),
    CHECK (is_byok = (encrypted_value IS NULL)),
    CHECK ((encrypted_value IS NULL) = (digest IS NULL))
);

-- A JSON list of strings as text[] (NULL stays NULL): how the core passes
-- lists as one parameter.
CREATE FUNCTION ss_text_array(j jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN j IS NULL OR jsonb_typeof(j) = 'null' THEN NULL
                ELSE ARRAY(SELECT jsonb_array_elements_text(j)) END
$$;

-- Sponsors act through their tokens: the audit log names them.
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_kind_check,
    ADD CONSTRAINT audit_log_actor_kind_check
        CHECK (actor_kind IN ('system', 'admin', 'agent', 'sponsor'));
