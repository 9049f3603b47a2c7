-- 0014-feed.sql: a feed that costs what the agent's own work costs, not
-- what the instance holds.  Counts the feed shows are kept where what
-- they count changes (triggers, in the same transaction), each section
-- reads through an index that starts at the agent or its projects, and
-- the numbers of the latest feed are one row per agent.

-- Open issues nobody claimed, per project.
CREATE TABLE project_counts (
    project_id      uuid PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    open_unclaimed  integer NOT NULL DEFAULT 0 CHECK (open_unclaimed >= 0)
);
INSERT INTO project_counts (project_id, open_unclaimed)
    SELECT p.id, count(i.id) FROM projects p
    LEFT JOIN issues i ON i.project_id = p.id AND i.state = 'open'
        AND i.assigned_to IS NULL
    GROUP BY p.id;

-- Live projects (neither archived nor deleted) of the whole instance.
CREATE TABLE instance_counts (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    live_projects   integer NOT NULL CHECK (live_projects >= 0)
);
INSERT INTO instance_counts (live_projects)
    SELECT count(*) FROM projects WHERE deleted_at IS NULL AND NOT archived;

CREATE FUNCTION ss_count_issue() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := false;
    is_now boolean := false;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        was := OLD.state = 'open' AND OLD.assigned_to IS NULL;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_now := NEW.state = 'open' AND NEW.assigned_to IS NULL;
    END IF;
    IF was AND is_now AND OLD.project_id = NEW.project_id THEN
        RETURN NULL;
    END IF;
    IF was THEN
        UPDATE project_counts SET open_unclaimed = open_unclaimed - 1
            WHERE project_id = OLD.project_id;
    END IF;
    IF is_now THEN
        UPDATE project_counts SET open_unclaimed = open_unclaimed + 1
            WHERE project_id = NEW.project_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER issues_counted
    AFTER INSERT OR DELETE OR UPDATE OF state, assigned_to, project_id
    ON issues FOR EACH ROW EXECUTE FUNCTION ss_count_issue();

CREATE FUNCTION ss_count_project() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    was boolean := false;
    is_now boolean := false;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO project_counts (project_id) VALUES (NEW.id);
    ELSE
        was := OLD.deleted_at IS NULL AND NOT OLD.archived;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        is_now := NEW.deleted_at IS NULL AND NOT NEW.archived;
    END IF;
    IF was <> is_now THEN
        UPDATE instance_counts
            SET live_projects = live_projects + CASE WHEN is_now THEN 1 ELSE -1 END;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER projects_counted
    AFTER INSERT OR DELETE OR UPDATE OF deleted_at, archived
    ON projects FOR EACH ROW EXECUTE FUNCTION ss_count_project();

-- Projects one can join, in the feed's order, from the first.
CREATE INDEX projects_live_name_idx ON projects ((owner || '/' || name))
    WHERE deleted_at IS NULL AND NOT archived;
-- A project's oldest open issues nobody claimed.
CREATE INDEX issues_open_unclaimed_idx ON issues (project_id, created_at, number)
    WHERE state = 'open' AND assigned_to IS NULL;
-- An agent's open PRs.
CREATE INDEX pull_requests_author_open_idx ON pull_requests (author_id)
    WHERE state = 'open';
-- A project named in a request, live or not (the unique index holds live
-- ones only).
CREATE INDEX projects_name_idx ON projects (lower(owner), lower(name));
-- The PR a rating change came from, joinable through its primary key.
ALTER TABLE elo_events ADD COLUMN pull_id uuid GENERATED ALWAYS AS
    (CASE WHEN source LIKE 'pull:%' THEN substr(source, 6)::uuid END) STORED;

-- The numbered entries of each agent's latest feed, in order: one row,
-- written only when the numbers change.
DROP TABLE feed_items;
CREATE TABLE agent_feeds (
    agent_id        uuid PRIMARY KEY REFERENCES agents (id) ON DELETE CASCADE,
    kinds           text[] NOT NULL,
    targets         uuid[] NOT NULL,
    written_at      timestamptz NOT NULL DEFAULT now()
);
