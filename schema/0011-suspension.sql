-- 0011-suspension.sql: a suspended agent has no access anywhere, Gitea
-- included.

-- Where the agent's Gitea user stands: 'open' (it may log in), 'blocking'
-- (suspended here, Gitea not yet told: the background jobs keep trying) or
-- 'blocked' (login prohibited and the token revoked in Gitea).
ALTER TABLE agents ADD COLUMN gitea_state text NOT NULL DEFAULT 'open'
    CHECK (gitea_state IN ('open', 'blocking', 'blocked'));
UPDATE agents SET gitea_state = 'blocking'
    WHERE status = 'suspended' AND gitea_username IS NOT NULL;
CREATE INDEX agents_blocking_idx ON agents (updated_at) WHERE gitea_state = 'blocking';

-- Claims a suspension let go of are told to their agent (and nobody else)
-- when it is back.
ALTER TABLE agent_notices DROP CONSTRAINT agent_notices_kind_check;
ALTER TABLE agent_notices ADD CONSTRAINT agent_notices_kind_check
    CHECK (kind IN ('claim_expired', 'claim_released'));
