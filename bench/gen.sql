-- bench/gen.sql: the benchmark's instance, loaded straight into synstackd's
-- tables (the daemon has applied its migrations first; Gitea plays no part).
--
--   psql -v issues=100000 [-v projects=N -v prs=N -v agents=N -v drivers=N]
--        [-v owner=bench] -f bench/gen.sql
--
-- The default shape, for issues = N: N/100 projects of 100 issues each,
-- N/5 PRs, N/10 agents; the first `drivers` agents (300 at most) are the
-- ones the load driver acts as.  Everything is deterministic: ids are
-- md5-derived uuids, choices come from hashint8 of the row's number, and
-- times count from a fixed base.  The same script makes the 1k, 10k and
-- 100k-issue instances.
--
-- Driver agent d (0-based) is named drv-NNNN, is active, has the Gitea
-- login drv-NNNN and the API key
--     ssk_ + base64url(sha256('synstack-bench-driver-' || d)), unpadded,
-- stored as the daemon stores it (api_key_hash: SHA-256 hex of the key).
-- Its home project is project (d mod P) + 1; it is a member of its home
-- project and of the next two.  In every project, issues #1 to #R (R =
-- ceil(drivers / P)) are open and unassigned, and driver d claims issue
-- #(1 + d div P) of its home project: no two drivers share a target.
-- No driver holds a claim at the start.
\set ON_ERROR_STOP 1
\if :{?issues}
\else
\set issues 100000
\endif
\if :{?owner}
\else
\set owner bench
\endif

SELECT :issues::int AS n_issues,
       greatest(1, :issues::int / 100) AS def_projects,
       greatest(1, :issues::int / 5) AS def_prs,
       greatest(2, :issues::int / 10) AS def_agents \gset
\if :{?projects}
\else
\set projects :def_projects
\endif
\if :{?prs}
\else
\set prs :def_prs
\endif
\if :{?agents}
\else
\set agents :def_agents
\endif
SELECT least(300, :agents::int) AS def_drivers \gset
\if :{?drivers}
\else
\set drivers :def_drivers
\endif

SELECT :projects::int AS p, :issues::int AS n, :prs::int AS m,
       :agents::int AS a, :drivers::int AS d,
       greatest(1, :issues::int / :projects::int) AS per_project,
       greatest(1, :prs::int / :projects::int) AS prs_per_project,
       (:drivers::int + :projects::int - 1) / :projects::int AS reserved \gset

\echo gen.sql: :p projects, :n issues, :m PRs, :a agents (:d drivers) for owner :owner

BEGIN;
SET LOCAL synchronous_commit = off;

-- A repeatable number in [0, 2^31) for row i of a kind.
CREATE FUNCTION pg_temp.rnd(kind int, i bigint) RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN hashint8(i * 16 + kind) & 2147483647;

CREATE FUNCTION pg_temp.uid(kind text, i bigint) RETURNS uuid
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN md5('synstack-bench-' || kind || '-' || i)::uuid;

CREATE TEMP TABLE bench_base AS
    SELECT timestamptz '2025-01-06 00:00:00+00' AS t0;

-- Projects: one owner, proj-0001 ... (Gitea repository ids 1 ... P).
INSERT INTO projects (id, gitea_repo_id, owner, name, description,
    default_branch, clone_url, html_url, gitea_updated_at, created_at,
    updated_at)
SELECT pg_temp.uid('project', i), i, :'owner', 'proj-' || lpad(i::text, 4, '0'),
       'Bench project ' || i || ': a library of small tools',
       'main',
       'http://gitea.invalid/' || :'owner' || '/proj-' || lpad(i::text, 4, '0') || '.git',
       'http://gitea.invalid/' || :'owner' || '/proj-' || lpad(i::text, 4, '0'),
       t0 + i * interval '1 minute', t0, t0
FROM generate_series(1, :p) i, bench_base;

-- Agents: drivers first (drv-0000 ...), then agent-000001 ...; most of the
-- others active, some pending or suspended (their Gitea users blocked).
INSERT INTO agents (id, name, description, contact, status, elo,
    api_key_hash, api_key_prefix, gitea_username, gitea_user_id,
    gitea_state, created_at, updated_at, approved_at)
SELECT pg_temp.uid('agent', i), k.name, 'bench agent ' || i, 'bench@example.invalid',
       k.status, 1100 + pg_temp.rnd(1, i) % 300,
       encode(sha256(convert_to(k.key, 'UTF8')), 'hex'), left(k.key, 8),
       CASE WHEN k.status = 'pending' THEN NULL ELSE k.name END,
       CASE WHEN k.status = 'pending' THEN NULL ELSE 1000 + i END,
       CASE WHEN k.status = 'suspended' THEN 'blocked' ELSE 'open' END,
       t0 + i * interval '1 second', t0 + i * interval '1 second',
       CASE WHEN k.status = 'pending' THEN NULL ELSE t0 + i * interval '1 second' END
FROM generate_series(0, :a - 1) i, bench_base,
LATERAL (SELECT
    CASE WHEN i < :d THEN 'drv-' || lpad(i::text, 4, '0')
         ELSE 'agent-' || lpad((i - :d + 1)::text, 6, '0') END AS name,
    CASE WHEN i < :d THEN 'active'
         WHEN pg_temp.rnd(2, i) % 20 = 0 THEN 'pending'
         WHEN pg_temp.rnd(2, i) % 20 = 1 THEN 'suspended'
         ELSE 'active' END AS status,
    CASE WHEN i < :d THEN 'ssk_' || rtrim(translate(encode(sha256(convert_to(
             'synstack-bench-driver-' || i, 'UTF8')), 'base64'), '+/', '-_'), '=')
         ELSE 'ssk_bench-not-a-key-' || i END AS key) k;

-- Memberships: a driver in its home project and the next two; every other
-- agent in three projects spread over the instance.
INSERT INTO project_members (project_id, agent_id, role, joined_at)
SELECT DISTINCT pg_temp.uid('project', pj), pg_temp.uid('agent', i), 'write', t0
FROM generate_series(0, :a - 1) i, generate_series(0, 2) j, bench_base,
LATERAL (SELECT CASE WHEN i < :d THEN (i % :p + j) % :p + 1
    ELSE (pg_temp.rnd(3, i * 3 + j) % :p) + 1 END AS pj) x;

-- Issues: per_project in each project, numbered 1 ... per_project (PRs
-- take the numbers after them, as in Gitea's one series).  #1 ... #R are
-- open and unassigned (the drivers' claims); of the rest about 60% are
-- open, one open issue in ten is held by a (non-driver) agent whose claim
-- has a pushed branch (so the claim expiry leaves it be).
INSERT INTO issues (id, project_id, gitea_issue_id, number, title, body,
    state, labels, author_login, assigned_to, assigned_at, branch_pushed_at,
    gitea_updated_at, closed_at, created_at, updated_at)
SELECT pg_temp.uid('issue', g), pg_temp.uid('project', pj), g, num,
       'Issue ' || num || ' of proj-' || lpad(pj::text, 4, '0') || ': '
           || (ARRAY['widget misaligned', 'crash on empty input',
               'slow start-up', 'typo in the help text', 'add a --quiet flag',
               'wrong exit status', 'missing test for the parser',
               'document the config file'])[1 + pg_temp.rnd(4, g) % 8],
       repeat('Steps to reproduce, what happens and what was expected. ',
           2 + (pg_temp.rnd(5, g) % 6)::int),
       st,
       CASE WHEN pg_temp.rnd(6, g) % 4 = 0 THEN '["bug"]'::jsonb ELSE '[]'::jsonb END,
       'maintainer',
       CASE WHEN held THEN pg_temp.uid('agent', :d + pg_temp.rnd(7, g) % greatest(1, :a - :d)) END,
       CASE WHEN held THEN t0 + g * interval '1 second' END,
       CASE WHEN held THEN t0 + g * interval '1 second' END,
       t0 + g * interval '1 second',
       CASE WHEN st = 'closed' THEN t0 + g * interval '1 second' END,
       t0 + g * interval '1 second', t0 + g * interval '1 second'
FROM generate_series(1, :n) g, bench_base,
LATERAL (SELECT (g - 1) / :per_project % :p + 1 AS pj,
    ((g - 1) % :per_project + 1 + (g - 1) / (:per_project * :p) * :per_project)::int AS num) x,
LATERAL (SELECT CASE WHEN x.num <= :reserved OR pg_temp.rnd(8, g) % 10 < 6
    THEN 'open' ELSE 'closed' END AS st) s,
LATERAL (SELECT s.st = 'open' AND x.num > :reserved AND :a > :d
    AND pg_temp.rnd(9, g) % 10 = 0 AS held) h;

-- PRs: prs_per_project in each project, numbered after its issues; their
-- authors are non-driver agents; half open (pending or changes requested:
-- nothing for the auto-merge to do), the rest merged or closed.
CREATE TEMP TABLE bench_prs AS
SELECT g, pj, (SELECT max(number) FROM issues i
               WHERE i.project_id = pg_temp.uid('project', pj)) + k AS num,
       pg_temp.uid('agent', :d + pg_temp.rnd(10, g) % greatest(1, :a - :d)) AS author,
       pg_temp.rnd(11, g) % 4 AS kind
FROM generate_series(1, :m) g,
LATERAL (SELECT (g - 1) / :prs_per_project % :p + 1 AS pj,
    ((g - 1) % :prs_per_project + 1 + (g - 1) / (:prs_per_project * :p) * :prs_per_project)::int AS k) x;

INSERT INTO pull_requests (id, project_id, gitea_pr_id, gitea_pr_number,
    issue_id, author_id, author_login, source_branch, target_branch, title,
    body, head_sha, state, review_status, mergeable, merged_at,
    merge_commit_sha, gitea_updated_at, reviews_synced_at, created_at,
    updated_at, head_ref)
SELECT pg_temp.uid('pull', g), pg_temp.uid('project', pj), g, num,
       NULL, author, a.name, 'work-' || num, 'main',
       'Change ' || num || ' of proj-' || lpad(pj::text, 4, '0'),
       'What this changes and why.',
       md5('head-' || g) || left(md5('tail-' || g), 8),
       CASE WHEN kind < 2 THEN 'open' ELSE 'closed' END,
       (ARRAY['pending', 'changes_requested', 'merged', 'closed'])[kind + 1],
       kind < 2, CASE WHEN kind = 2 THEN t0 + g * interval '1 second' END,
       CASE WHEN kind = 2 THEN md5('merge-' || g) || left(md5('m-' || g), 8) END,
       t0 + g * interval '1 second', t0 + g * interval '1 second',
       t0 + g * interval '1 second', t0 + g * interval '1 second',
       'work-' || num
FROM bench_prs JOIN agents a ON a.id = author, bench_base;

-- Two reviews of each PR, by non-driver agents, on its head, all told.
INSERT INTO reviews (id, pull_request_id, reviewer_id, action, body,
    commit_sha, gitea_review_id, created_at, updated_at, recorded_at,
    author_seen_at)
SELECT DISTINCT ON (pr.id, rv)
       pg_temp.uid('review', pr.gitea_pr_id * 2 + j), pr.id, rv,
       (ARRAY['approve', 'request_changes', 'comment'])[1 + pg_temp.rnd(12, pr.gitea_pr_id * 2 + j) % 3],
       'Looks reasonable; see the comments.', pr.head_sha,
       pr.gitea_pr_id * 2 + j, pr.created_at, pr.created_at, pr.created_at,
       pr.created_at
FROM pull_requests pr, generate_series(0, 1) j,
LATERAL (SELECT pg_temp.uid('agent', :d + pg_temp.rnd(13, pr.gitea_pr_id * 2 + j)
    % greatest(1, :a - :d)) AS rv) r
WHERE rv IS DISTINCT FROM pr.author_id;

INSERT INTO review_events (id, pull_request_id, reviewer_id, action, body,
    commit_sha, gitea_review_id, created_at)
SELECT pg_temp.uid('review-event', gitea_review_id), pull_request_id,
       reviewer_id, action, body, commit_sha, gitea_review_id, created_at
FROM reviews;

-- Some history: deliveries received and audit entries.
INSERT INTO webhook_deliveries (id, delivery_id, event, event_type,
    content_key, received_at, processed_at, outcome)
SELECT pg_temp.uid('delivery', i), pg_temp.uid('delivery-id', i)::text,
       'issues', 'issues', md5('content-' || i) || md5('key-' || i),
       t0 + i * interval '1 second', t0 + i * interval '1 second', 'applied'
FROM generate_series(1, :n / 10) i, bench_base;

INSERT INTO audit_log (id, at, actor_kind, actor, action, target_kind,
    target_id, detail)
SELECT pg_temp.uid('audit', i), t0 + i * interval '1 second', 'agent',
       pg_temp.uid('agent', i % :a)::text, 'issue.claim', 'issue',
       pg_temp.uid('issue', 1 + i % :n)::text, '{}'
FROM generate_series(1, :n / 10) i, bench_base;

COMMIT;

VACUUM ANALYZE;

SELECT (SELECT count(*) FROM projects) AS projects,
       (SELECT count(*) FROM issues) AS issues,
       (SELECT count(*) FROM issues WHERE state = 'open') AS open_issues,
       (SELECT count(*) FROM pull_requests) AS prs,
       (SELECT count(*) FROM agents) AS agents,
       (SELECT count(*) FROM project_members) AS memberships,
       (SELECT count(*) FROM reviews) AS reviews;
