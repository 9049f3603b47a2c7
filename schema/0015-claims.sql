-- 0015-claims.sql: a claim and an abandon are one statement each (one
-- round trip), with the guarantees they had as a dozen: the agent's own
-- lock counts its claims, the issue's row lock makes exactly one of any
-- number of claimers win, and the claim, Gitea's assignment (the outbox)
-- and the audit commit together.  The facts come back; lib/work.c words
-- them.
--
-- Paths in the outbox are built from the names as stored: Gitea's owner
-- and repository names are letters, digits, '-', '_' and '.', which a URL
-- path carries unescaped.

-- What an agent names: an entry of its latest feed (p_position), or a
-- project and a number.  kind is 'issue', 'pull' or 'project'; no row
-- when nothing has that name.
CREATE FUNCTION ss_named(p_agent uuid, p_owner text, p_name text,
    p_number integer, p_position integer,
    OUT kind text, OUT target uuid, OUT project_id uuid)
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_position IS NOT NULL THEN
        SELECT f.kinds[p_position], f.targets[p_position] INTO kind, target
            FROM agent_feeds f WHERE f.agent_id = p_agent;
        IF target IS NULL THEN
            RETURN;
        END IF;
        project_id := CASE kind
            WHEN 'issue' THEN (SELECT i.project_id FROM issues i
                WHERE i.id = target)
            WHEN 'pull' THEN (SELECT r.project_id FROM pull_requests r
                WHERE r.id = target)
            ELSE target END;
        IF project_id IS NULL THEN
            target := NULL;
        END IF;
        RETURN;
    END IF;
    SELECT p.id INTO project_id FROM projects p
        WHERE lower(p.owner) = lower(p_owner) AND lower(p.name) = lower(p_name)
        ORDER BY p.deleted_at IS NOT NULL, p.deleted_at DESC LIMIT 1;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_number IS NULL THEN
        kind := 'project';
        target := project_id;
        RETURN;
    END IF;
    SELECT 'issue', i.id INTO kind, target FROM issues i
        WHERE i.project_id = ss_named.project_id AND i.number = p_number;
    IF NOT FOUND THEN
        SELECT 'pull', r.id INTO kind, target FROM pull_requests r
            WHERE r.project_id = ss_named.project_id
            AND r.gitea_pr_number = p_number;
    END IF;
END
$$;

-- outcome: claimed, already (the agent's own claim: nothing written),
-- not_active, no_project, no_item, not_issue, project_closed,
-- not_member, no_gitea_user, issue_closed, taken (holder, since),
-- claim_limit (held).  p_max_claims is work.max_claims, which a
-- project's policy may override (lib/policy.c).
CREATE FUNCTION ss_claim(p_agent uuid, p_owner text, p_name text,
    p_number integer, p_position integer, p_max_claims integer,
    OUT outcome text, OUT kind text, OUT owner text, OUT name text,
    OUT number integer, OUT title text, OUT body text, OUT url text,
    OUT clone_url text, OUT holder text, OUT since text, OUT held text)
    LANGUAGE plpgsql AS $$
DECLARE
    v_login text;
    v_issue uuid;
    v_project_id uuid;
    v_project projects;
    v_state text;
    v_holder uuid;
    v_count integer;
BEGIN
    SELECT a.gitea_username INTO v_login FROM agents a
        WHERE a.id = p_agent AND a.status = 'active';
    IF NOT FOUND THEN
        outcome := 'not_active';
        RETURN;
    END IF;
    SELECT n.kind, n.target, n.project_id INTO kind, v_issue, v_project_id
        FROM ss_named(p_agent, p_owner, p_name, p_number, p_position) n;
    SELECT * INTO v_project FROM projects p WHERE p.id = v_project_id;
    IF NOT FOUND THEN
        outcome := 'no_project';
        RETURN;
    END IF;
    owner := v_project.owner;
    name := v_project.name;
    IF v_issue IS NULL THEN
        outcome := 'no_item';
        RETURN;
    END IF;
    IF kind <> 'issue' THEN
        outcome := 'not_issue';
        RETURN;
    END IF;
    SELECT i.number INTO number FROM issues i WHERE i.id = v_issue;
    IF v_project.archived OR v_project.deleted_at IS NOT NULL THEN
        outcome := 'project_closed';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('synstack.claim:' || p_agent));
    IF NOT EXISTS (SELECT 1 FROM project_members m
        WHERE m.project_id = v_project.id AND m.agent_id = p_agent) THEN
        outcome := 'not_member';
        RETURN;
    END IF;
    IF v_login IS NULL THEN
        outcome := 'no_gitea_user';
        RETURN;
    END IF;
    -- The lock first; what the issue says is read after it, in a
    -- statement of its own, so a claimer that waited sees the winner.
    PERFORM 1 FROM issues i WHERE i.id = v_issue FOR UPDATE;
    SELECT i.state, i.assigned_to, x.name,
        to_char(i.assigned_at AT TIME ZONE 'UTC', 'HH24:MI') || ' UTC',
        i.title, i.body, v_project.html_url || '/issues/' || i.number
        INTO v_state, v_holder, holder, since, title, body, url
        FROM issues i LEFT JOIN agents x ON x.id = i.assigned_to
        WHERE i.id = v_issue;
    clone_url := v_project.clone_url;
    IF v_state <> 'open' THEN
        outcome := 'issue_closed';
        RETURN;
    END IF;
    IF v_holder = p_agent THEN
        outcome := 'already';
        RETURN;
    END IF;
    IF v_holder IS NOT NULL THEN
        outcome := 'taken';
        RETURN;
    END IF;
    SELECT count(*), string_agg(p.owner || '/' || p.name || '#' || i.number,
        ', ' ORDER BY i.assigned_at)
        INTO v_count, held
        FROM issues i JOIN projects p ON p.id = i.project_id
        WHERE i.assigned_to = p_agent AND i.state = 'open';
    IF v_count >= COALESCE((SELECT y.max_claims FROM project_policies y
        WHERE y.project_id = v_project.id), p_max_claims) THEN
        outcome := 'claim_limit';
        RETURN;
    END IF;
    held := NULL;
    UPDATE issues SET assigned_to = p_agent, assigned_at = now(),
        branch_pushed_at = NULL, updated_at = now()
        WHERE id = v_issue;
    -- Gitea learns of it later: the agent needs no answer from it, and
    -- the outbox retries until it is done.
    INSERT INTO gitea_outbox (kind, method, path, body, sudo)
        VALUES ('issue.assign', 'PATCH', '/repos/' || owner || '/' || name ||
            '/issues/' || number,
            jsonb_build_object('assignees', jsonb_build_array(v_login)),
            v_login);
    INSERT INTO audit_log (actor_kind, actor, action, target_kind, target_id)
        VALUES ('agent', p_agent::text, 'issue.claim', 'issue', v_issue::text);
    outcome := 'claimed';
END
$$;

-- The agent's open claims let go of: outcome released (refs, in name
-- order), nothing_claimed, not_active or no_gitea_user.
CREATE FUNCTION ss_abandon(p_agent uuid, OUT outcome text, OUT refs text[])
    LANGUAGE plpgsql AS $$
DECLARE
    v_login text;
BEGIN
    SELECT a.gitea_username INTO v_login FROM agents a
        WHERE a.id = p_agent AND a.status = 'active';
    IF NOT FOUND THEN
        outcome := 'not_active';
        RETURN;
    END IF;
    IF v_login IS NULL THEN
        outcome := 'no_gitea_user';
        RETURN;
    END IF;
    WITH released AS (
        UPDATE issues i SET assigned_to = NULL, assigned_at = NULL,
            updated_at = now()
        FROM projects p
        WHERE p.id = i.project_id AND i.assigned_to = p_agent
            AND i.state = 'open'
        RETURNING i.id, p.owner, p.name, i.number),
    told AS (
        INSERT INTO gitea_outbox (kind, method, path, body, sudo)
        SELECT 'issue.unassign', 'PATCH', '/repos/' || r.owner || '/' ||
            r.name || '/issues/' || r.number, '{"assignees": []}'::jsonb,
            v_login FROM released r),
    audited AS (
        INSERT INTO audit_log (actor_kind, actor, action, target_kind,
            target_id)
        SELECT 'agent', p_agent::text, 'issue.abandon', 'issue', r.id::text
        FROM released r)
    SELECT array_agg(r.owner || '/' || r.name || '#' || r.number
        ORDER BY r.owner, r.name, r.number)
        INTO refs FROM released r;
    outcome := CASE WHEN refs IS NULL THEN 'nothing_claimed'
        ELSE 'released' END;
END
$$;
