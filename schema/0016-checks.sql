-- 0016-checks.sql: the checks of a commit (Gitea's commit statuses: CI
-- reports them), as Gitea last listed them, and the rule that requires
-- them before a merge (work.required_checks, or the project's override).

-- The newest status of each context of a commit.  Written from Gitea's
-- own listing (a status webhook is confirmed by reading it), never from a
-- delivery's body.
CREATE TABLE commit_checks (
    project_id      uuid NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    sha             text NOT NULL,
    context         text NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'success',
                        'error', 'failure', 'warning', 'skipped')),
    target_url      text NOT NULL DEFAULT '',
    description     text NOT NULL DEFAULT '',
    read_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, sha, context)
);

-- ["none"], ["reported"] or the contexts that must pass; NULL: the default.
ALTER TABLE project_policies ADD COLUMN required_checks jsonb
    CHECK (jsonb_typeof(required_checks) = 'array');

-- The one place the rule is read: under rule (a JSON array as above) the
-- checks of a commit have passed, are pending or failed.  `reported`
-- counts every context reported; a list counts its contexts, and one not
-- reported yet is pending.  success and skipped pass; pending waits;
-- failure, error and warning fail.  failing and pending name them
-- ("context state (target_url)"), for people.
CREATE FUNCTION ss_checks(p_project uuid, p_sha text, p_rule jsonb,
    OUT verdict text, OUT failing text, OUT pending text)
    LANGUAGE sql STABLE AS $$
    WITH rule AS (
        SELECT ARRAY(SELECT jsonb_array_elements_text(p_rule)) AS names),
    counted AS (
        SELECT k.context, k.state, k.target_url
        FROM commit_checks k, rule
        WHERE k.project_id = p_project AND k.sha = p_sha
            AND rule.names <> '{none}'
            AND (rule.names = '{reported}' OR k.context = ANY (rule.names))),
    missing AS (
        SELECT n AS context FROM rule, unnest(rule.names) n
        WHERE rule.names NOT IN ('{none}', '{reported}')
            AND NOT EXISTS (SELECT 1 FROM counted c WHERE c.context = n))
    SELECT
        CASE WHEN EXISTS (SELECT 1 FROM counted
                WHERE state IN ('failure', 'error', 'warning')) THEN 'failed'
            WHEN EXISTS (SELECT 1 FROM counted WHERE state = 'pending')
                OR EXISTS (SELECT 1 FROM missing) THEN 'pending'
            ELSE 'passed' END,
        (SELECT string_agg(context || ' ' || state || CASE WHEN target_url <> ''
                THEN ' (' || target_url || ')' ELSE '' END, ', ' ORDER BY context)
            FROM counted WHERE state IN ('failure', 'error', 'warning')),
        (SELECT string_agg(x, ', ' ORDER BY x) FROM (
            SELECT context AS x FROM counted WHERE state = 'pending'
            UNION ALL SELECT context || ' (not reported yet)' FROM missing) p)
$$;
