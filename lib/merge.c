/*
 * merge.c: when a PR may merge, and merging it (SPEC.md section 6).
 *
 * The rule: no outstanding request for changes, and required_approvals
 * approvals, counted on the current head only when dismiss_stale_approvals
 * holds; and, when it is merged, the checks required_checks names passed
 * on the head (read from Gitea then: checks.c).  With auto_merge the daemon merges an agent's PR as soon as the
 * rule holds and Gitea reports it mergeable (people's PRs are theirs to
 * merge); otherwise its author (or an admin) runs `merge`.  Gitea is always told the head SHA that was checked, so a push
 * in between cannot slip through.
 *
 * pull_refresh() is the one place a PR's outcome is drawn: every path
 * that learns of a change (a review, a merge, a webhook, the
 * reconciliation) calls it in its transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define AUTOMERGE_BATCH	20

/* The reviews the merge rule counts (alias r, the reviewer x): an active
 * agent's only. */
#define COUNTED_REVIEWS \
	"reviews r JOIN agents x ON x.id = r.reviewer_id AND x.status = 'active'"

struct pr_info {
	char	id[37], project[37], owner[101], name[101], head[64],
		status[24], author[64], author_id[37];
	long	number;
	bool	open;
};

static int
pr_load(PGconn *c, const char *id, struct pr_info *p, struct err *e)
{
	const char	*params[1] = { id };
	PGresult	*res;

	if ((res = db_query(c, e, "SELECT pr.id, pr.project_id, p.owner, p.name,"
	    " pr.gitea_pr_number, COALESCE(pr.head_sha, ''), pr.review_status,"
	    " pr.author_login, COALESCE(pr.author_id::text, ''),"
	    " pr.state = 'open'"
	    " FROM pull_requests pr JOIN projects p ON p.id = pr.project_id"
	    " WHERE pr.id = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return err_set(e, ERR_NOT_FOUND, "no such pull request");
	}
	strlcpy_ss(p->id, PQgetvalue(res, 0, 0), sizeof(p->id));
	strlcpy_ss(p->project, PQgetvalue(res, 0, 1), sizeof(p->project));
	strlcpy_ss(p->owner, PQgetvalue(res, 0, 2), sizeof(p->owner));
	strlcpy_ss(p->name, PQgetvalue(res, 0, 3), sizeof(p->name));
	p->number = strtol(PQgetvalue(res, 0, 4), NULL, 10);
	strlcpy_ss(p->head, PQgetvalue(res, 0, 5), sizeof(p->head));
	strlcpy_ss(p->status, PQgetvalue(res, 0, 6), sizeof(p->status));
	strlcpy_ss(p->author, PQgetvalue(res, 0, 7), sizeof(p->author));
	strlcpy_ss(p->author_id, PQgetvalue(res, 0, 8), sizeof(p->author_id));
	p->open = PQgetvalue(res, 0, 9)[0] == 't';
	PQclear(res);
	return 0;
}

/* The rules of the PR's project: 1, or 0 when there is no such PR. */
static int
pr_policy(PGconn *c, const struct conf *conf, const char *pr,
    struct policy *pol, struct err *e)
{
	const char	*params[1] = { pr };
	PGresult	*res;
	int		 rc = 0;

	if ((res = db_query(c, e, "SELECT project_id FROM pull_requests WHERE"
	    " id = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) > 0)
		rc = policy_load(c, conf, PQgetvalue(res, 0, 0), pol, e) == 0 ?
		    1 : -1;
	PQclear(res);
	return rc;
}

int
pull_refresh(PGconn *c, const struct conf *conf, const char *pr,
    struct err *e)
{
	struct policy	 pol;
	const char	*params[3] = { pr, NULL, NULL };
	char		 req[24];
	int		 rc;

	if ((rc = pr_policy(c, conf, pr, &pol, e)) != 1)
		return rc;
	snprintf(req, sizeof(req), "%ld", pol.required_approvals);
	params[1] = req;
	params[2] = pol.dismiss_stale_approvals ? "true" : "false";
	/* An outstanding request for changes blocks; approvals count on the
	 * head they were given on; only an active agent's review counts (a
	 * suspended one's stops counting, however it was given); merged and
	 * closed are Gitea's word. */
	if (db_run(c, e, "UPDATE pull_requests p SET review_status = s.status,"
	    " updated_at = now() FROM (SELECT CASE"
	    "  WHEN q.review_status IN ('merged', 'closed') THEN q.review_status"
	    "  WHEN EXISTS (SELECT 1 FROM " COUNTED_REVIEWS " WHERE"
	    "   r.pull_request_id = q.id AND r.action = 'request_changes')"
	    "   THEN 'changes_requested'"
	    "  WHEN (SELECT count(*) FROM " COUNTED_REVIEWS " WHERE"
	    "   r.pull_request_id = q.id AND r.action = 'approve' AND"
	    "   (NOT $3::boolean OR r.commit_sha = q.head_sha)) >= $2::int"
	    "   THEN 'approved'"
	    "  ELSE 'pending' END AS status"
	    "  FROM pull_requests q WHERE q.id = $1) s"
	    " WHERE p.id = $1 AND p.review_status IS DISTINCT FROM s.status", 3,
	    params) == -1)
		return -1;
	/* Merged: its issue is done here at once (Gitea closes it through
	 * "Closes #N" too), which ends the claim. */
	if (db_run(c, e, "UPDATE issues i SET state = 'closed', closed_at ="
	    " COALESCE(i.closed_at, now()), updated_at = now()"
	    " FROM pull_requests pr WHERE pr.id = $1 AND pr.review_status ="
	    " 'merged' AND i.id = pr.issue_id AND i.state = 'open'", 1,
	    params) == -1)
		return -1;
	return rating_settle(c, conf, pr, e);
}

/*
 * The PR as Gitea has it now, stored (and its outcome refreshed): a push
 * whose webhook is late or lost must not let a review or a merge apply
 * to a head the agent never saw.  Gitea unreachable: what we have stands.
 */
int
pull_fetch(const struct core *core, const char *project, const char *owner,
    const char *name, long number, struct err *e)
{
	struct gitea_req	 q = { .method = "GET" };
	struct gitea_resp	 gr = { .total = -1 };
	char			 path[512];
	PGconn			*c;
	int			 rc = -1;

	gitea_repo_path(path, sizeof(path), owner, name, "/pulls/%ld", number);
	q.path = path;
	if (gitea_call(core->conf, &q, &gr, e) == -1) {
		gitea_resp_free(&gr);
		return -1;
	}
	if ((c = db_acquire(core->pool, e)) != NULL) {
		if (db_begin(c, e) == 0 &&
		    store_pull(c, core->conf, project, gr.json, e) == 0 &&
		    db_commit(c, e) == 0)
			rc = 0;
		db_release(core->pool, c);
	}
	gitea_resp_free(&gr);
	return rc;
}

/* What the PR still needs before it may merge, for people; "" if nothing. */
int
pull_needs(PGconn *c, const struct conf *conf, const char *pr, char *buf,
    size_t size, struct err *e)
{
	struct policy	 pol;
	const char	*params[2] = { pr, NULL };
	PGresult	*res;
	size_t		 off = 0;
	long		 have;
	int		 rc;

	buf[0] = '\0';
	if ((rc = pr_policy(c, conf, pr, &pol, e)) != 1)
		return rc;
	params[1] = pol.dismiss_stale_approvals ? "true" : "false";
	if ((res = db_query(c, e, "SELECT"
	    " (SELECT string_agg(x.name, ', ' ORDER BY x.name) FROM "
	    COUNTED_REVIEWS " WHERE r.pull_request_id = pr.id AND"
	    "  r.action = 'request_changes'),"
	    " (SELECT count(*) FROM " COUNTED_REVIEWS " WHERE"
	    "  r.pull_request_id = pr.id AND r.action = 'approve' AND"
	    "  (NOT $2::boolean OR r.commit_sha = pr.head_sha)),"
	    " (SELECT string_agg(x.name, ', ' ORDER BY x.name) FROM "
	    COUNTED_REVIEWS " WHERE r.pull_request_id = pr.id AND"
	    "  r.action = 'approve' AND $2::boolean AND"
	    "  r.commit_sha IS DISTINCT FROM pr.head_sha),"
	    " left(COALESCE(pr.head_sha, ''), 12)"
	    " FROM pull_requests pr WHERE pr.id = $1", 2, params)) == NULL)
		return -1;
	have = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	if (!PQgetisnull(res, 0, 0))
		off += (size_t)snprintf(buf + off, size - off, "changes requested"
		    " by %s (a new review from them lifts it)",
		    PQgetvalue(res, 0, 0));
	if (have < pol.required_approvals && off < size)
		off += (size_t)snprintf(buf + off, size - off, "%s%ld of %ld"
		    " approval%s on the current head %s", off > 0 ? "; " : "",
		    have, pol.required_approvals,
		    pol.required_approvals == 1 ? "" : "s",
		    PQgetvalue(res, 0, 3));
	if (have < pol.required_approvals && !PQgetisnull(res, 0, 2) &&
	    off < size)
		snprintf(buf + off, size - off, " (the approval of %s is on an"
		    " older head: a push dismissed it)", PQgetvalue(res, 0, 2));
	PQclear(res);
	return 0;
}

/*
 * Merges through Gitea with the checked head, then records the outcome in
 * one transaction.  sudo: the author for `merge`, NULL (the admin token)
 * for an admin or the auto-merge.
 */
static json_object *
merge_now(const struct core *core, const struct pr_info *p,
    const struct policy *pol, const struct actor *who, const char *sudo,
    struct err *e)
{
	struct gitea_req	 q = { .method = "POST" };
	struct gitea_resp	 gr = { .total = -1 };
	struct pr_info		 now;
	json_object		*body, *data;
	const char		*params[1] = { p->id };
	char			 name[256], path[512], msg[512];
	PGconn			*c;
	int			 rc;

	snprintf(name, sizeof(name), "%s/%s#%ld", p->owner, p->name, p->number);
	/* The rule once more, as late as can be: a request for changes or a
	 * raised rule committed since it was checked stops the merge. */
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	rc = db_begin(c, e) == 0 && pull_refresh(c, core->conf, p->id, e) == 0 &&
	    db_commit(c, e) == 0 && pr_load(c, p->id, &now, e) == 0 ? 0 : -1;
	db_release(core->pool, c);
	if (rc == -1)
		return NULL;
	if (!now.open || strcmp(now.status, "approved") != 0 ||
	    strcmp(now.head, p->head) != 0) {
		err_set(e, ERR_NOT_APPROVED, "%s changed while it was being"
		    " merged: it is %s now", name, now.status);
		err_hint(e, "run `pr %s` to see what it still needs", name);
		return NULL;
	}
	gitea_repo_path(path, sizeof(path), p->owner, p->name,
	    "/pulls/%ld/merge", p->number);
	body = json_object_new_object();
	json_object_object_add(body, "Do",
	    json_object_new_string(pol->merge_style));
	json_object_object_add(body, "head_commit_id",
	    json_object_new_string(p->head));
	q.path = path;
	q.body = body;
	q.sudo = sudo;
	rc = gitea_call(core->conf, &q, &gr, e);
	json_object_put(body);
	if (rc == -1) {
		if (gr.status == 409)
			err_hint(e, "the PR moved or conflicts: run `pr %s`", name);
		else if (gr.status == 405)
			err_hint(e, "Gitea does not find it mergeable (yet): run"
			    " `pr %s`", name);
		gitea_resp_free(&gr);
		return NULL;
	}
	gitea_resp_free(&gr);
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	rc = -1;
	if (db_begin(c, e) == 0 &&
	    db_run(c, e, "UPDATE pull_requests SET review_status = 'merged',"
	    " state = 'closed', merged_at = COALESCE(merged_at, now()),"
	    " updated_at = now() WHERE id = $1", 1, params) == 0 &&
	    pull_refresh(c, core->conf, p->id, e) == 0 &&
	    audit_write(c, who, "pull.merge", "pull_request", p->id, NULL,
	    e) == 0 && db_commit(c, e) == 0)
		rc = 0;
	db_release(core->pool, c);
	if (rc == -1)
		return NULL;
	data = json_object_new_object();
	json_object_object_add(data, "pull", json_object_new_string(name));
	json_object_object_add(data, "merged", json_object_new_boolean(1));
	json_object_object_add(data, "head", json_object_new_string(p->head));
	json_object_object_add(data, "style",
	    json_object_new_string(pol->merge_style));
	snprintf(msg, sizeof(msg), "Merged %s at %.12s; its issue is closed,"
	    " the claim ends and ratings change (see `feed`).", name, p->head);
	return json_ok(msg, data, json_strarray((const char *const[]){
	    "feed", "my-work", NULL }));
}

/*
 * The checks of the head that will be merged, read from Gitea now (a late
 * or lost status webhook cannot let a red head through): 0 when they
 * passed (or the project requires none), else -1 with checks_failed or
 * checks_pending naming them.
 */
static int
checks_gate(const struct core *core, const struct pr_info *p,
    const struct policy *pol, const char *name, struct err *e)
{
	struct checks	k;

	if (!checks_required(pol->required_checks))
		return 0;
	if (checks_read(core, p->project, p->owner, p->name, p->head,
	    pol->required_checks, &k, e) == -1)
		return -1;
	if (strcmp(k.verdict, "failed") == 0) {
		err_set(e, ERR_CHECKS_FAILED, "%s cannot merge: checks failed on"
		    " its head %.12s: %.380s", name, p->head, k.failing);
		err_hint(e, "fix what they report and push to the PR's branch:"
		    " the checks run again on the new head");
		return -1;
	}
	if (strcmp(k.verdict, "pending") == 0) {
		err_set(e, ERR_CHECKS_PENDING, "%s cannot merge yet: checks"
		    " pending on its head %.12s: %.380s", name, p->head,
		    k.pending);
		err_hint(e, "wait for CI; `pr %s` shows each check", name);
		return -1;
	}
	return 0;
}

/* `merge`: by the author (agent) or an admin (a == NULL, who says who). */
static json_object *
merge_checked(const struct core *core, const struct agent *a,
    const struct actor *who, const char *text, struct err *e)
{
	struct pr_info	 p;
	struct policy	 pol;
	struct ref	 r;
	char		 name[256], needs[1024];
	PGconn		*c;
	int		 rc = -1;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_pull(c, a != NULL ? a->id : NULL, text, &r, name, sizeof(name),
	    e) == -1)
		goto out;
	db_release(core->pool, c);
	c = NULL;
	if (pull_fetch(core, r.project_id, r.owner, r.name, r.number, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (pr_load(c, r.id, &p, e) == -1 ||
	    policy_load(c, core->conf, p.project, &pol, e) == -1)
		goto out;
	if (!p.open) {
		err_set(e, ERR_PR_CLOSED, "%s is %s", name, p.status);
		goto out;
	}
	if (a != NULL && strcmp(p.author_id, a->id) != 0) {
		err_set(e, ERR_FORBIDDEN, "only the author of %s merges it", name);
		err_hint(e, "review it instead: review approve %s", name);
		goto out;
	}
	if (strcmp(p.status, "approved") != 0) {
		if (pull_needs(c, core->conf, p.id, needs, sizeof(needs), e) ==
		    -1)
			goto out;
		err_set(e, ERR_NOT_APPROVED, "%s cannot merge yet: %s", name,
		    needs[0] != '\0' ? needs : p.status);
		err_hint(e, "other agents review it from their feed; run `pr %s`"
		    " to follow it", name);
		goto out;
	}
	rc = 0;
out:
	if (c != NULL)
		db_release(core->pool, c);
	if (rc == -1 || checks_gate(core, &p, &pol, name, e) == -1)
		return NULL;
	return merge_now(core, &p, &pol, who, a != NULL ? p.author : NULL, e);
}

json_object *
pull_merge(const struct core *core, const struct agent *a, const char *text,
    struct err *e)
{
	struct actor	who = { ACTOR_AGENT, "" };

	strlcpy_ss(who.id, a->id, sizeof(who.id));
	return merge_checked(core, a, &who, text, e);
}

json_object *
pull_merge_admin(const struct core *core, const struct actor *who,
    const char *text, struct err *e)
{
	return merge_checked(core, NULL, who, text, e);
}

/*
 * One auto-merge attempt: 1 merged, 0 not now (the rule does not hold,
 * the project merges by hand, Gitea cannot merge it yet, another daemon
 * tries it), -1 an error.  An attempt is claimed in the database so that
 * concurrent triers do not both merge; a PR that changed since its last
 * attempt, or waited a minute, may be tried again.
 */
int
pull_automerge(const struct core *core, const char *pr, struct err *e)
{
	struct gitea_req	 q = { .method = "GET" };
	struct gitea_resp	 gr = { .total = -1 };
	struct actor		 who = { ACTOR_SYSTEM, "auto-merge" };
	struct pr_info		 p;
	struct policy		 pol;
	json_object		*answer;
	const char		*params[1] = { pr }, *head;
	char			 path[512];
	PGconn			*c;
	PGresult		*res;
	int			 rc = -1, mergeable;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	/* The rule as it stands now: an admin may have raised it since the
	 * PR was approved. */
	if (db_begin(c, e) == -1 || pull_refresh(c, core->conf, pr, e) == -1 ||
	    db_commit(c, e) == -1 || pr_load(c, pr, &p, e) == -1 ||
	    policy_load(c, core->conf, p.project, &pol, e) == -1)
		goto out;
	rc = 0;
	/* Only agents' PRs: people who open one in Gitea merge it themselves. */
	if (!pol.auto_merge || !p.open || strcmp(p.status, "approved") != 0 ||
	    p.author_id[0] == '\0')
		goto out;
	if ((res = db_query(c, e, "UPDATE pull_requests SET automerge_tried_at ="
	    " clock_timestamp() WHERE id = $1 AND state = 'open' AND"
	    " review_status = 'approved' AND (automerge_tried_at IS NULL OR"
	    " automerge_tried_at < updated_at OR automerge_tried_at < now() -"
	    " interval '1 minute') RETURNING id", 1, params)) == NULL) {
		rc = -1;
		goto out;
	}
	rc = PQntuples(res) > 0 ? 1 : 0;
	PQclear(res);
	db_release(core->pool, c);
	c = NULL;
	if (rc == 0)
		return 0;
	/* Gitea's word on mergeability, read now (it checks on read). */
	gitea_repo_path(path, sizeof(path), p.owner, p.name, "/pulls/%ld",
	    p.number);
	q.path = path;
	if (gitea_call(core->conf, &q, &gr, e) == -1) {
		gitea_resp_free(&gr);
		return -1;
	}
	mergeable = json_path_bool(gr.json, "mergeable");
	head = json_path_str(gr.json, "head.sha");
	if (mergeable != 1 || head == NULL || strcmp(head, p.head) != 0) {
		/* Not yet, or it moved: what Gitea says is stored, so a new
		 * head makes the approvals of the old one stale now. */
		log_info("auto-merge: %s/%s#%ld not mergeable yet (%s)",
		    p.owner, p.name, p.number, mergeable != 1 ? "Gitea says no" :
		    "the head moved");
		rc = 0;
		/* Storing bumps updated_at: the attempt is dated after it, or
		 * the PR would look changed and be tried again each second. */
		if ((c = db_acquire(core->pool, e)) == NULL ||
		    db_begin(c, e) == -1 ||
		    store_pull(c, core->conf, p.project, gr.json, e) == -1 ||
		    db_run(c, e, "UPDATE pull_requests SET automerge_tried_at ="
		    " clock_timestamp() WHERE id = $1", 1, params) == -1 ||
		    db_commit(c, e) == -1)
			rc = -1;
		if (c != NULL)
			db_release(core->pool, c);
		gitea_resp_free(&gr);
		return rc;
	}
	gitea_resp_free(&gr);
	/* Pending checks wait: a status webhook makes the PR due again, and
	 * the pass retries it every minute.  Failed ones wait for a push. */
	snprintf(path, sizeof(path), "%s/%s#%ld", p.owner, p.name, p.number);
	if (checks_gate(core, &p, &pol, path, e) == -1) {
		log_info("auto-merge: %s", e->message);
		return e->code == ERR_CHECKS_PENDING ||
		    e->code == ERR_CHECKS_FAILED ? 0 : -1;
	}
	if ((answer = merge_now(core, &p, &pol, &who, NULL, e)) == NULL) {
		log_info("auto-merge: %s/%s#%ld: %s", p.owner, p.name, p.number,
		    e->message);
		return e->code == ERR_GITEA_REFUSED || e->code == ERR_CONFLICT ||
		    e->code == ERR_NOT_FOUND ? 0 : -1;
	}
	json_object_put(answer);
	log_info("auto-merge: merged %s/%s#%ld at %.12s", p.owner, p.name,
	    p.number, p.head);
	return 1;
out:
	if (c != NULL)
		db_release(core->pool, c);
	return rc;
}

/* The background pass: every approved PR of an auto-merging project
 * that is due for an attempt. */
int
pull_automerge_sweep(const struct core *core, int *merged, struct err *e)
{
	const char	*params[2];
	char		 batch[24];
	PGresult	*res;
	struct err	 one;
	int		 i, rc;

	*merged = 0;
	snprintf(batch, sizeof(batch), "%d", AUTOMERGE_BATCH);
	params[0] = core->conf->work_auto_merge ? "true" : "false";
	params[1] = batch;
	if ((res = db_exec(core->pool, e, "SELECT pr.id FROM pull_requests pr"
	    " JOIN projects p ON p.id = pr.project_id"
	    " LEFT JOIN project_policies pp ON pp.project_id = pr.project_id"
	    " WHERE pr.state = 'open' AND pr.review_status = 'approved'"
	    "  AND pr.author_id IS NOT NULL"
	    "  AND p.deleted_at IS NULL AND NOT p.archived"
	    "  AND COALESCE(pp.auto_merge, $1::boolean)"
	    "  AND (pr.automerge_tried_at IS NULL OR pr.automerge_tried_at <"
	    "   pr.updated_at OR pr.automerge_tried_at < now() -"
	    "   interval '1 minute')"
	    " ORDER BY pr.updated_at LIMIT $2::int", 2, params)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		err_clear(&one);
		rc = pull_automerge(core, PQgetvalue(res, i, 0), &one);
		if (rc == 1)
			(*merged)++;
		else if (rc == -1)
			log_warn("auto-merge: %s", one.message);
	}
	PQclear(res);
	return 0;
}
