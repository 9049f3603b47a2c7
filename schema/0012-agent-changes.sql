-- 0012-agent-changes.sql: every daemon hears of a change to an agent's
-- status, name or key (NOTIFY at commit), so that it may keep active
-- agents' keys in memory (lib/keycache.c) and still never let a suspended
-- agent in: the payload is the agent's id.

CREATE FUNCTION ss_agent_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('synstack_agents', OLD.id::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER agents_changed AFTER UPDATE ON agents FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
        OR OLD.name IS DISTINCT FROM NEW.name
        OR OLD.api_key_hash IS DISTINCT FROM NEW.api_key_hash)
    EXECUTE FUNCTION ss_agent_changed();

CREATE TRIGGER agents_deleted AFTER DELETE ON agents FOR EACH ROW
    EXECUTE FUNCTION ss_agent_changed();
