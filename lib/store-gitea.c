/*
 * store-gitea.c: Gitea's objects into our tables, for the webhooks and the
 * reconciliation alike.  Every write is an idempotent upsert keyed on
 * Gitea's ids, and guarded by Gitea's updated_at so that an event arriving
 * late never moves a row backwards; a merged PR stays merged whatever
 * comes after.  Callers hold a transaction.
 *
 * Two kinds of source.  Gitea's own answers (the reconciliation's listings,
 * a GET) are the truth now: they are stored when not older than our row.
 * A webhook's body is a hint (store_*_hint): it only updates a row we have
 * and only when strictly newer.  Gitea's times have whole seconds, so a
 * hint of the same second that says something else is ambiguous, and a
 * hint of an object we do not have would create it from a delivery alone:
 * both answer STORE_CONFIRM, and the caller asks Gitea (one GET) and
 * stores its answer instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* Another live project with this name is a deleted repository whose name
 * was taken again: Gitea says so by giving the name a new id. */
static int
store_free_name(PGconn *c, const char *gid, const char *owner,
    const char *name, struct err *e)
{
	const char	*params[3] = { gid, owner, name };

	return db_run(c, e, "UPDATE projects SET deleted_at = now(),"
	    " updated_at = now() WHERE deleted_at IS NULL"
	    " AND lower(owner) = lower($2) AND lower(name) = lower($3)"
	    " AND gitea_repo_id <> $1::bigint", 3, params);
}

/*
 * Gitea's answer for a repository, which may bring a deleted project back
 * (Gitea never reuses an id: it exists, so it is live) and takes its name
 * from a project of a repository deleted before.  Only Gitea's API answers
 * come here: clone and page URLs are Gitea's own, never a delivery's.
 */
int
store_project(PGconn *c, json_object *repo, char id[37], struct err *e)
{
	const char	*params[9];
	char		 gid[24];
	long		 v;
	PGresult	*res;

	if (!json_path_long(repo, "id", &v) ||
	    json_path_str(repo, "name") == NULL ||
	    json_path_str(repo, "owner.login") == NULL)
		return err_set(e, ERR_BAD_REQUEST, "a repository without id,"
		    " name or owner");
	snprintf(gid, sizeof(gid), "%ld", v);
	params[0] = gid;
	params[1] = json_path_str(repo, "owner.login");
	params[2] = json_path_str(repo, "name");
	params[3] = nz(json_path_str(repo, "description"));
	params[4] = json_path_str(repo, "default_branch") != NULL &&
	    *json_path_str(repo, "default_branch") != '\0' ?
	    json_path_str(repo, "default_branch") : "main";
	params[5] = nz(json_path_str(repo, "clone_url"));
	params[6] = nz(json_path_str(repo, "html_url"));
	params[7] = json_path_bool(repo, "archived") == 1 ? "true" : "false";
	params[8] = json_path_str(repo, "updated_at");
	if (store_free_name(c, gid, params[1], params[2], e) == -1)
		return -1;
	if (db_run(c, e,
	    "INSERT INTO projects AS p (gitea_repo_id, owner, name,"
	    "  description, default_branch, clone_url, html_url, archived,"
	    "  gitea_updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
	    " ON CONFLICT (gitea_repo_id) DO UPDATE SET owner = EXCLUDED.owner,"
	    "  name = EXCLUDED.name, description = EXCLUDED.description,"
	    "  default_branch = EXCLUDED.default_branch,"
	    "  clone_url = EXCLUDED.clone_url, html_url = EXCLUDED.html_url,"
	    "  archived = EXCLUDED.archived,"
	    "  gitea_updated_at = EXCLUDED.gitea_updated_at, deleted_at = NULL,"
	    "  updated_at = now()"
	    " WHERE p.gitea_updated_at IS NULL OR p.deleted_at IS NOT NULL"
	    "  OR EXCLUDED.gitea_updated_at IS NULL"
	    "  OR EXCLUDED.gitea_updated_at >= p.gitea_updated_at",
	    9, params) == -1)
		return -1;
	/* A statement of its own: a row another transaction has just
	 * committed is not in the upsert's snapshot. */
	if ((res = db_query(c, e, "SELECT id FROM projects WHERE"
	    " gitea_repo_id = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return err_set(e, ERR_INTERNAL, "project %s vanished", gid);
	}
	strlcpy_ss(id, PQgetvalue(res, 0, 0), 37);
	PQclear(res);
	return 0;
}

int
store_project_deleted(PGconn *c, long gitea_repo_id, struct err *e)
{
	char		 gid[24];
	const char	*params[1] = { gid };

	snprintf(gid, sizeof(gid), "%ld", gitea_repo_id);
	return db_run(c, e, "UPDATE projects SET deleted_at = now(),"
	    " updated_at = now() WHERE gitea_repo_id = $1 AND deleted_at IS NULL",
	    1, params);
}

/*
 * What a hint would do to the row of Gitea id gid: "new" (we have none),
 * "newer" (strictly later: apply it), "tie" (the same second, saying
 * something else: ambiguous) or "kept" (older, or nothing new).  same is
 * the SQL that compares the row (alias t) with the hint.
 */
static int
store_classify(PGconn *c, const char *sql, int n, const char *const *params,
    struct err *e)
{
	PGresult	*res;
	int		 rc;

	if ((res = db_query(c, e, sql, n, params)) == NULL)
		return -1;
	switch (PQgetvalue(res, 0, 0)[0]) {
	case 'n':		/* new */
	case 't':		/* tie */
		rc = STORE_CONFIRM;
		break;
	case 'w':		/* newer */
		rc = STORE_NEWER;
		break;
	default:		/* kept */
		rc = 0;
		break;
	}
	PQclear(res);
	return rc;
}

#define CLASSIFY(table, idcol, same) \
	"SELECT CASE WHEN t.id IS NULL THEN 'n'" \
	" WHEN t.gitea_updated_at IS NULL OR $2::timestamptz >" \
	"  t.gitea_updated_at THEN 'w'" \
	" WHEN $2::timestamptz = t.gitea_updated_at AND NOT (" same ")" \
	"  THEN 't' ELSE 'k' END" \
	" FROM (SELECT 1) one LEFT JOIN " table " t ON t." idcol " = $1"

static int
store_issue_row(PGconn *c, const char *project, json_object *issue,
    bool hint, struct err *e)
{
	const char	*params[13];
	char		 gid[24], num[24], *labels, *assignees;
	long		 id, number;
	int		 rc;

	if (!json_path_long(issue, "id", &id) ||
	    !json_path_long(issue, "number", &number))
		return err_set(e, ERR_BAD_REQUEST, "an issue without id or number");
	snprintf(gid, sizeof(gid), "%ld", id);
	snprintf(num, sizeof(num), "%ld", number);
	labels = json_pluck(json_path(issue, "labels"), "name");
	assignees = json_pluck(json_path(issue, "assignees"), "login");
	params[0] = project;
	params[1] = gid;
	params[2] = num;
	params[3] = nz(json_path_str(issue, "title"));
	params[4] = nz(json_path_str(issue, "body"));
	params[5] = strcmp(nz(json_path_str(issue, "state")), "closed") == 0 ?
	    "closed" : "open";
	params[6] = labels != NULL ? labels : "[]";
	params[7] = nz(json_path_str(issue, "user.login"));
	params[8] = assignees != NULL ? assignees : "[]";
	params[9] = json_path_str(issue, "updated_at");
	params[10] = json_path_str(issue, "closed_at");
	params[11] = json_path_str(issue, "created_at");
	params[12] = hint ? "false" : "true";
	rc = 0;
	if (hint) {
		const char *cp[7] = { gid, params[9], params[3], params[4],
		    params[5], params[6], params[8] };

		rc = store_classify(c, CLASSIFY("issues", "gitea_issue_id",
		    "(t.title, t.body, t.state, t.labels, t.assignees) IS NOT"
		    " DISTINCT FROM ($3, $4, $5, $6::jsonb, $7::jsonb)"), 7, cp, e);
	}
	if (rc == 0 && !hint)
		rc = STORE_NEWER;
	/* The guard is checked again on the row as it is when locked. */
	if (rc == STORE_NEWER)
		rc = db_run(c, e,
		    "INSERT INTO issues AS i (project_id, gitea_issue_id, number,"
		    " title, body, state, labels, author_login, assignees,"
		    " gitea_updated_at, closed_at, created_at) VALUES ($1, $2, $3,"
		    " $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11,"
		    " COALESCE($12::timestamptz, now()))"
		    " ON CONFLICT (gitea_issue_id) DO UPDATE SET"
		    "  title = EXCLUDED.title, body = EXCLUDED.body,"
		    "  state = EXCLUDED.state, labels = EXCLUDED.labels,"
		    "  assignees = EXCLUDED.assignees,"
		    "  gitea_updated_at = EXCLUDED.gitea_updated_at,"
		    "  closed_at = EXCLUDED.closed_at, updated_at = now()"
		    " WHERE i.gitea_updated_at IS NULL"
		    "  OR EXCLUDED.gitea_updated_at > i.gitea_updated_at"
		    "  OR ($13::boolean AND EXCLUDED.gitea_updated_at ="
		    "  i.gitea_updated_at)", 13, params);
	free(labels);
	free(assignees);
	return rc;
}

int
store_issue(PGconn *c, const char *project, json_object *issue,
    struct err *e)
{
	return store_issue_row(c, project, issue, false, e);
}

int
store_issue_hint(PGconn *c, const char *project, json_object *issue,
    struct err *e)
{
	return store_issue_row(c, project, issue, true, e);
}

/* The PR an upsert returned (none when the guard kept a newer row),
 * refreshed: pull_refresh() draws what follows from the change. */
static int
refresh_returned(PGconn *c, const struct conf *conf, PGresult *res,
    struct err *e)
{
	int	rc;

	if (res == NULL)
		return -1;
	rc = PQntuples(res) > 0 ? pull_refresh(c, conf, PQgetvalue(res, 0, 0),
	    e) : 0;
	PQclear(res);
	return rc;
}

static int
store_pull_row(PGconn *c, const struct conf *conf, const char *project,
    json_object *pr, bool hint, struct err *e)
{
	const char	*params[18];
	char		 gid[24], num[24], *assignees;
	long		 id, number;
	PGresult	*res;
	int		 merged, rc = 0;

	if (!json_path_long(pr, "id", &id) ||
	    !json_path_long(pr, "number", &number) ||
	    json_path_str(pr, "head.label") == NULL ||
	    json_path_str(pr, "base.ref") == NULL)
		return err_set(e, ERR_BAD_REQUEST, "a pull request without id,"
		    " number, head or base");
	snprintf(gid, sizeof(gid), "%ld", id);
	snprintf(num, sizeof(num), "%ld", number);
	merged = json_path_bool(pr, "merged");
	assignees = json_pluck(json_path(pr, "assignees"), "login");
	params[0] = project;
	params[1] = gid;
	params[2] = num;
	params[3] = nz(json_path_str(pr, "user.login"));
	/* head.label stays the branch name after the branch is deleted;
	 * head.ref becomes refs/pull/N/head (README section 2). */
	params[4] = json_path_str(pr, "head.label");
	params[5] = json_path_str(pr, "base.ref");
	params[6] = nz(json_path_str(pr, "head.ref"));
	params[7] = nz(json_path_str(pr, "title"));
	params[8] = nz(json_path_str(pr, "body"));
	params[9] = json_path_str(pr, "head.sha");
	params[10] = strcmp(nz(json_path_str(pr, "state")), "closed") == 0 ?
	    "closed" : "open";
	params[11] = merged == 1 ? "true" : "false";
	params[12] = json_path_bool(pr, "mergeable") == 1 ? "true" : "false";
	params[13] = json_path_str(pr, "merged_at");
	params[14] = json_path_str(pr, "merge_commit_sha");
	params[15] = assignees != NULL ? assignees : "[]";
	params[16] = json_path_str(pr, "updated_at");
	params[17] = hint ? "false" : "true";
	if (hint) {
		const char *cp[10] = { gid, params[16], params[7], params[8],
		    params[9], params[10], params[11], params[12], params[5],
		    params[15] };

		rc = store_classify(c, CLASSIFY("pull_requests", "gitea_pr_id",
		    "(t.title, t.body, t.head_sha, t.state, t.review_status ="
		    " 'merged', t.mergeable, t.target_branch, t.assignees) IS NOT"
		    " DISTINCT FROM ($3, $4, $5, $6, $7::boolean, $8::boolean,"
		    " $9, $10::jsonb)"), 10, cp, e);
		if (rc != STORE_NEWER) {
			free(assignees);
			return rc;
		}
	}
	/* A PR opened by the agent that claimed the issue its branch names
	 * (or its body closes) is that claim's work, however we learn of it:
	 * a submit whose answer was lost, or a PR opened in Gitea. */
	res = db_query(c, e,
	    "INSERT INTO pull_requests AS p (project_id, gitea_pr_id,"
	    " gitea_pr_number, author_id, author_login, source_branch,"
	    " target_branch, head_ref, title, body, head_sha, state,"
	    " review_status, mergeable, merged_at, merge_commit_sha, assignees,"
	    " gitea_updated_at, issue_id)"
	    " VALUES ($1, $2, $3, (SELECT id FROM agents WHERE gitea_username ="
	    "  $4), $4, $5, $6, $7, left($8, 500), $9, $10, $11,"
	    "  CASE WHEN $12::boolean THEN 'merged' WHEN $11 = 'closed'"
	    "  THEN 'closed' ELSE 'pending' END, $13::boolean, $14, $15,"
	    "  $16::jsonb, $17,"
	    "  (SELECT i.id FROM issues i JOIN agents x ON x.id = i.assigned_to"
	    "   WHERE i.project_id = $1 AND i.state = 'open'"
	    "   AND x.gitea_username = $4"
	    "   AND ($5::varchar ~ ('(^|[^0-9])' || i.number || '([^0-9]|$)')"
	    "   OR $9::text ~* ('(close[sd]?|fix(e[sd])?|resolve[sd]?) #' ||"
	    "   i.number"
	    "   || '([^0-9]|$)'))"
	    "   ORDER BY i.assigned_at LIMIT 1))"
	    " ON CONFLICT (gitea_pr_id) DO UPDATE SET"
	    "  title = EXCLUDED.title, body = EXCLUDED.body,"
	    "  head_ref = EXCLUDED.head_ref, head_sha = EXCLUDED.head_sha,"
	    "  target_branch = EXCLUDED.target_branch,"
	    "  mergeable = EXCLUDED.mergeable, assignees = EXCLUDED.assignees,"
	    "  issue_id = COALESCE(p.issue_id, EXCLUDED.issue_id),"
	    "  state = CASE WHEN p.review_status = 'merged' THEN 'closed'"
	    "   ELSE EXCLUDED.state END,"
	    /* merged is final; closed and reopened follow Gitea; otherwise
	     * the review status is ours (computed from reviews). */
	    "  review_status = CASE"
	    "   WHEN p.review_status = 'merged' OR EXCLUDED.review_status ="
	    "    'merged' THEN 'merged'"
	    "   WHEN EXCLUDED.state = 'closed' THEN 'closed'"
	    "   WHEN p.review_status = 'closed' THEN 'pending'"
	    "   ELSE p.review_status END,"
	    "  merged_at = COALESCE(p.merged_at, EXCLUDED.merged_at),"
	    "  merge_commit_sha = COALESCE(p.merge_commit_sha,"
	    "   EXCLUDED.merge_commit_sha),"
	    "  gitea_updated_at = EXCLUDED.gitea_updated_at, updated_at = now()"
	    " WHERE p.gitea_updated_at IS NULL"
	    "  OR EXCLUDED.gitea_updated_at > p.gitea_updated_at"
	    "  OR ($18::boolean AND EXCLUDED.gitea_updated_at ="
	    "  p.gitea_updated_at)"
	    " RETURNING p.id",
	    18, params);
	free(assignees);
	/* A new head, a merge or a close: what follows from it. */
	return refresh_returned(c, conf, res, e);
}

int
store_pull(PGconn *c, const struct conf *conf, const char *project,
    json_object *pr, struct err *e)
{
	return store_pull_row(c, conf, project, pr, false, e);
}

int
store_pull_hint(PGconn *c, const struct conf *conf, const char *project,
    json_object *pr, struct err *e)
{
	return store_pull_row(c, conf, project, pr, true, e);
}

/*
 * A review Gitea lists, by whoever gave it (our `review` command or the
 * agent's Gitea user directly): an agent's review in every respect.  It
 * counts only when given by an active agent that is a member of the
 * project and not the PR's author (SPEC.md section 6); a review by a
 * person, or of a PR we do not have yet, is not ours to store.  A new
 * verdict is also kept in review_events, the history ratings are drawn
 * from, once per Gitea review however often Gitea tells of it.  at
 * orders the reviews of one reviewer.
 */
int
store_review(PGconn *c, const struct conf *conf, const char *project,
    long number, const char *reviewer, const char *state, const char *body,
    const char *commit, long gitea_review_id, const char *at, struct err *e)
{
	const char	*params[8];
	char		 num[24], rid[24];
	const char	*action;
	PGresult	*res;

	if (strcmp(state, "APPROVED") == 0)
		action = "approve";
	else if (strcmp(state, "REQUEST_CHANGES") == 0)
		action = "request_changes";
	else if (strcmp(state, "COMMENT") == 0)
		action = "comment";
	else
		return 0;		/* pending, requested: not a verdict */
	snprintf(num, sizeof(num), "%ld", number);
	snprintf(rid, sizeof(rid), "%ld", gitea_review_id);
	params[0] = project;
	params[1] = num;
	params[2] = reviewer;
	params[3] = action;
	params[4] = nz(body);
	params[5] = commit;
	params[6] = gitea_review_id > 0 ? rid : NULL;
	params[7] = at;
	/* The PR's row first, as everywhere (lock order: no deadlock with a
	 * review command on the same PR). */
	if (db_run(c, e, "SELECT 1 FROM pull_requests WHERE project_id = $1 AND"
	    " gitea_pr_number = $2 FOR NO KEY UPDATE", 2, params) == -1)
		return -1;
	res = db_query(c, e,
	    "WITH up AS (INSERT INTO reviews AS r (pull_request_id, reviewer_id,"
	    "  action, body, commit_sha, gitea_review_id, updated_at)"
	    " SELECT p.id, a.id, $4, $5, $6, $7::bigint,"
	    "  COALESCE($8::timestamptz, now())"
	    " FROM pull_requests p, agents a"
	    " WHERE p.project_id = $1 AND p.gitea_pr_number = $2"
	    "  AND a.gitea_username = $3 AND a.status = 'active'"
	    "  AND a.id IS DISTINCT FROM p.author_id"
	    "  AND EXISTS (SELECT 1 FROM project_members m WHERE"
	    "   m.project_id = $1 AND m.agent_id = a.id)"
	    " ON CONFLICT (pull_request_id, reviewer_id) DO UPDATE SET"
	    "  action = EXCLUDED.action, body = EXCLUDED.body,"
	    "  commit_sha = EXCLUDED.commit_sha,"
	    "  gitea_review_id = COALESCE(EXCLUDED.gitea_review_id,"
	    "   r.gitea_review_id), updated_at = EXCLUDED.updated_at,"
	    /* News to the author only when the verdict changed (our own
	     * review's webhook brings nothing new). */
	    "  recorded_at = CASE WHEN (r.action, r.body, r.commit_sha) IS"
	    "   DISTINCT FROM (EXCLUDED.action, EXCLUDED.body,"
	    "   EXCLUDED.commit_sha) THEN now() ELSE r.recorded_at END"
	    " WHERE EXCLUDED.updated_at >= r.updated_at"
	    " RETURNING r.pull_request_id, r.reviewer_id, r.action, r.body,"
	    "  r.commit_sha, r.gitea_review_id, r.recorded_at = now() AS fresh),"
	    " history AS (INSERT INTO review_events (pull_request_id,"
	    "  reviewer_id, action, body, commit_sha, gitea_review_id)"
	    "  SELECT pull_request_id, reviewer_id, action, body, commit_sha,"
	    "  gitea_review_id FROM up WHERE fresh"
	    "  ON CONFLICT (gitea_review_id) WHERE gitea_review_id IS NOT NULL"
	    "  DO NOTHING)"
	    " SELECT pull_request_id FROM up", 8, params);
	return refresh_returned(c, conf, res, e);
}

/* Every review of a Gitea listing (GET .../pulls/N/reviews), in order. */
int
store_reviews(PGconn *c, const struct conf *conf, const char *project,
    long number, json_object *list, struct err *e)
{
	json_object	*rv;
	const char	*login, *state;
	size_t		 i, n;
	long		 id;

	n = list != NULL && json_object_is_type(list, json_type_array) ?
	    json_object_array_length(list) : 0;
	for (i = 0; i < n; i++) {
		rv = json_object_array_get_idx(list, i);
		login = json_path_str(rv, "user.login");
		state = json_path_str(rv, "state");
		id = 0;
		json_path_long(rv, "id", &id);
		if (login == NULL || state == NULL)
			continue;
		if (store_review(c, conf, project, number, login, state,
		    json_path_str(rv, "body"), json_path_str(rv, "commit_id"), id,
		    json_path_str(rv, "submitted_at"), e) == -1)
			return -1;
	}
	return 0;
}

/* Agents among a repository's collaborators are its members; agents no
 * longer among them are not. */
int
store_members(PGconn *c, const char *project, json_object *users,
    struct err *e)
{
	const char	*params[2];
	char		*logins;
	int		 rc;

	if ((logins = json_pluck(users, "login")) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	params[0] = project;
	params[1] = logins;
	rc = db_run(c, e,
	    "WITH listed AS (SELECT a.id FROM agents a WHERE a.gitea_username IN"
	    "  (SELECT jsonb_array_elements_text($2::jsonb))),"
	    " gone AS (DELETE FROM project_members m WHERE m.project_id = $1"
	    "  AND m.agent_id NOT IN (SELECT id FROM listed))"
	    " INSERT INTO project_members (project_id, agent_id)"
	    " SELECT $1, id FROM listed ON CONFLICT DO NOTHING", 2, params);
	free(logins);
	return rc;
}
