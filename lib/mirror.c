/*
 * mirror.c: the reconciliation.  Gitea never retries a webhook, so this is
 * what makes our tables converge on Gitea: repositories of the configured
 * owners become projects; then, per project, one issues listing with
 * `since` (issues and PRs together, never the slow /pulls listing), one
 * collaborators listing, and for each PR that changed its details and
 * reviews.  A quiet instance thus costs 1 + 2 x repositories calls, and
 * lists nothing it has read before (sync_project() says how).
 * One daemon at a time runs it (an advisory lock); the others skip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

/* "SynStak" + 2: the key of the reconciliation lock. */
#define MIRROR_LOCK_KEY	"6010416289005593346"

/* How far the cursor stays behind Gitea's clock at a read, in seconds:
 * a change stamped before the read may commit after it, and a proxy may
 * write the Date by a clock a little off Gitea's. */
#define MIRROR_SETTLE	1

struct project_ref {
	char	 id[37];
	char	*owner, *name;
	char	*watermark;		/* NULL: a full sync */
};

struct repo_walk {
	PGconn			*c;
	struct project_ref	*v;
	size_t			 n, cap;
	json_object		*seen;		/* Gitea ids, for deletions */
};

struct item_walk {
	const struct core	*core;
	PGconn			*c;
	struct project_ref	*p;
	char			*max_updated;
	const char		*horizon;	/* epoch; NULL: not known */
	long			 items;
};

static int
on_repo(json_object *repo, void *arg, struct err *e)
{
	struct repo_walk	*w = arg;
	struct project_ref	*v;
	const char		*params[1];
	PGresult		*res;
	long			 gid;

	if (w->n == w->cap) {
		w->cap = w->cap ? w->cap * 2 : 32;
		if ((v = realloc(w->v, w->cap * sizeof(*v))) == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		w->v = v;
	}
	v = &w->v[w->n];
	memset(v, 0, sizeof(*v));
	if (store_project(w->c, repo, v->id, e) == -1)
		return -1;
	json_path_long(repo, "id", &gid);
	json_object_array_add(w->seen, json_object_new_int64(gid));
	v->owner = strdup(json_path_str(repo, "owner.login"));
	v->name = strdup(json_path_str(repo, "name"));
	params[0] = v->id;
	if ((res = db_query(w->c, e, "SELECT to_char(sync_watermark AT TIME"
	    " ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM projects"
	    " WHERE id = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		v->watermark = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	w->n++;
	return 0;
}

/*
 * Deletions are known only from a complete listing.  A project the listing
 * does not hold is gone from Gitea, or out of gitea.owners now: either
 * way it is no longer mirrored.
 */
static int
mark_deleted(PGconn *c, json_object *seen, struct err *e)
{
	const char	*params[1];
	PGresult	*res;

	params[0] = json_object_to_json_string_ext(seen, JSON_C_TO_STRING_PLAIN);
	res = db_query(c, e, "UPDATE projects SET deleted_at = now(),"
	    " updated_at = now() WHERE deleted_at IS NULL"
	    " AND gitea_repo_id NOT IN (SELECT jsonb_array_elements_text($1::jsonb)"
	    "  ::bigint)", 1, params);
	if (res == NULL)
		return -1;
	if (atoi(PQcmdTuples(res)) > 0)
		log_info("mirror: %s projects no longer mirrored", PQcmdTuples(res));
	PQclear(res);
	return 0;
}

struct review_walk {
	struct item_walk	*w;
	long			 number;	/* the PR's */
};

static int
on_review(json_object *rv, void *arg, struct err *e)
{
	struct review_walk	*rw = arg;
	const char		*login = json_path_str(rv, "user.login");
	const char		*state = json_path_str(rv, "state");
	long			 id = 0;

	json_path_long(rv, "id", &id);
	if (login == NULL || state == NULL)
		return 0;
	return store_review(rw->w->c, rw->w->core->conf, rw->w->p->id, rw->number, login, state,
	    json_path_str(rv, "body"), json_path_str(rv, "commit_id"), id,
	    json_path_str(rv, "submitted_at"), e);
}

/* A PR seen in the issues listing: its details and reviews, unless our
 * row already has this updated_at. */
static int
sync_pull(struct item_walk *w, long number, const char *updated,
    struct err *e)
{
	struct gitea_req	 q = { .method = "GET" };
	struct gitea_resp	 r = { .total = -1 };
	struct review_walk	 rw = { w, number };
	char			 num[24], path[512];
	const char		*params[4] = { w->p->id, num, updated,
				    w->horizon };
	PGresult		*res;
	int			 rc = -1;

	snprintf(num, sizeof(num), "%ld", number);
	/* reviews_synced_at, not the row's updated_at: a webhook may have
	 * brought the row up to date without a review lost meanwhile. */
	if ((res = db_query(w->c, e, "SELECT 1 FROM pull_requests WHERE"
	    " project_id = $1 AND gitea_pr_number = $2 AND reviews_synced_at ="
	    " $3::timestamptz", 3, params)) == NULL)
		return -1;
	rc = PQntuples(res);
	PQclear(res);
	if (rc > 0)
		return 0;
	gitea_repo_path(path, sizeof(path), w->p->owner, w->p->name,
	    "/pulls/%ld", number);
	q.path = path;
	rc = gitea_call(w->core->conf, &q, &r, e);
	if (rc == 0)
		rc = store_pull(w->c, w->core->conf, w->p->id, r.json, e);
	gitea_resp_free(&r);
	if (rc == 0) {
		gitea_repo_path(path, sizeof(path), w->p->owner, w->p->name,
		    "/pulls/%ld/reviews", number);
		rc = gitea_list(w->core->conf, path, NULL, NULL, false,
		    on_review, &rw, e);
	}
	/* Gitea's times have whole seconds: a PR read in the second it
	 * changed may change again within that second under the same
	 * updated_at.  Only a second before the horizon (by Gitea's clock,
	 * never the database's) marks it read; a later one is listed, and
	 * read, again by the next run. */
	if (rc == 0 && updated != NULL)
		rc = db_run(w->c, e, "UPDATE pull_requests SET reviews_synced_at"
		    " = $3::timestamptz WHERE project_id = $1 AND"
		    " gitea_pr_number = $2 AND $3::timestamptz <"
		    " to_timestamp($4::bigint)", 4, params);
	return rc;
}

static int
on_item(json_object *item, void *arg, struct err *e)
{
	struct item_walk	*w = arg;
	json_object		*pr = json_path(item, "pull_request");
	const char		*updated = json_path_str(item, "updated_at");
	long			 number;
	int			 rc;

	w->items++;
	if (updated != NULL && (w->max_updated == NULL ||
	    strcmp(updated, w->max_updated) > 0)) {
		free(w->max_updated);
		w->max_updated = strdup(updated);
	}
	if (pr != NULL && !json_object_is_type(pr, json_type_null)) {
		if (!json_path_long(item, "number", &number))
			return 0;
		rc = sync_pull(w, number, updated, e);
		/* A PR Gitea no longer shows is not a reason to stop. */
		return rc == -1 && e->code == ERR_NOT_FOUND ? 0 : rc;
	}
	return store_issue(w->c, w->p->id, item, e);
}

static int
collect_user(json_object *u, void *arg, struct err *e)
{
	(void)e;
	json_object_array_add(arg, json_object_get(u));
	return 0;
}

static int
sync_project(const struct core *core, PGconn *c, struct project_ref *p,
    long *items, struct err *e)
{
	struct item_walk	 w = { core, c, p, NULL, NULL, 0 };
	json_object		*users = json_object_new_array();
	const char		*params[3];
	char			 path[512], query[128], horizon[24];
	PGresult		*res;
	time_t			 date = -1;
	int			 rc;

	/* Members first: a review counts only if its agent is one. */
	gitea_repo_path(path, sizeof(path), p->owner, p->name,
	    "/collaborators");
	rc = gitea_list_dated(core->conf, path, NULL, NULL, false,
	    collect_user, users, &date, e);
	if (rc == 0)
		rc = store_members(c, p->id, users, e);
	/*
	 * The cursor.  Gitea's `since` is inclusive and has whole seconds
	 * (updated_unix >= since), so a cursor at the newest updated_at seen
	 * lists that second again on every run.  Gitea sent the Date above
	 * before it read the issues below: every change the listing misses
	 * is stamped at that second or later, by the clock that stamps
	 * updated_at.  Less MIRROR_SETTLE, that is where the next listing
	 * starts: a second is left behind once it is complete, a change made
	 * after our read in a second we read is listed again, and the
	 * database's clock plays no part.  Without a Date (HTTP wants one)
	 * the cursor is the newest updated_at seen, as it was, and no PR is
	 * marked read.
	 */
	if (rc == 0 && date != -1) {
		snprintf(horizon, sizeof(horizon), "%lld",
		    (long long)date - MIRROR_SETTLE);
		w.horizon = horizon;
	}
	/* Without `type` the listing holds issues and PRs; `since` makes a
	 * quiet repository cost one call. */
	gitea_repo_path(path, sizeof(path), p->owner, p->name, "/issues");
	if (p->watermark != NULL)
		snprintf(query, sizeof(query), "state=all&since=%s", p->watermark);
	else
		snprintf(query, sizeof(query), "state=all");
	if (rc == 0)
		rc = gitea_list(core->conf, path, query, NULL, false, on_item, &w,
		    e);
	if (rc == 0) {
		params[0] = p->id;
		params[1] = w.horizon;
		params[2] = w.max_updated;
		if ((res = db_query(c, e, "UPDATE projects SET synced_at = now(),"
		    " sync_watermark = GREATEST(sync_watermark,"
		    " COALESCE(to_timestamp($2::bigint), $3::timestamptz))"
		    " WHERE id = $1", 3, params)) == NULL)
			rc = -1;
		else
			PQclear(res);
	}
	*items += w.items;
	json_object_put(users);
	free(w.max_updated);
	return rc;
}

static void
walk_free(struct repo_walk *w)
{
	size_t	i;

	for (i = 0; i < w->n; i++) {
		free(w->v[i].owner);
		free(w->v[i].name);
		free(w->v[i].watermark);
	}
	free(w->v);
	json_object_put(w->seen);
}

static int
list_repos(const struct core *core, struct repo_walk *w, struct err *e)
{
	const struct strlist	*owners = &core->conf->gitea_owners;
	char			 path[256], *esc;
	size_t			 i;

	if (owners->n == 0)
		return gitea_list(core->conf, "/repos/search", NULL, NULL, true,
		    on_repo, w, e);
	for (i = 0; i < owners->n; i++) {
		if ((esc = gitea_escape(owners->v[i])) == NULL)
			return err_set(e, ERR_INTERNAL, "out of memory");
		snprintf(path, sizeof(path), "/users/%s/repos", esc);
		free(esc);
		if (gitea_list(core->conf, path, NULL, NULL, false, on_repo, w,
		    e) == -1)
			return -1;
	}
	return 0;
}

int
mirror_run(const struct core *core, struct mirror_report *rep, struct err *e)
{
	const char		*lock[1] = { MIRROR_LOCK_KEY };
	const char		*params[6];
	char			 run[37], nproj[24], nitems[24], ncalls[24];
	char			 started[64];
	struct repo_walk	 w = { 0 };
	struct gitea_stats	 before, after;
	PGconn			*c;
	PGresult		*res;
	size_t			 i;
	int			 rc = -1;

	memset(rep, 0, sizeof(*rep));
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if ((res = db_query(c, e, "SELECT pg_try_advisory_lock($1)", 1,
	    lock)) == NULL)
		goto out;
	rep->ran = PQgetvalue(res, 0, 0)[0] == 't';
	PQclear(res);
	if (!rep->ran) {		/* another daemon is at it */
		rc = 0;
		goto out;
	}
	/* Holding the lock, no other run is alive: a "running" row is one a
	 * killed daemon left behind. */
	if (db_run(c, e, "UPDATE sync_runs SET outcome = 'failed', finished_at"
	    " = now(), error = 'interrupted' WHERE outcome = 'running'", 0,
	    NULL) == -1)
		goto unlock;
	if ((res = db_query(c, e, "INSERT INTO sync_runs DEFAULT VALUES"
	    " RETURNING id, started_at", 0, NULL)) == NULL)
		goto unlock;
	strlcpy_ss(run, PQgetvalue(res, 0, 0), sizeof(run));
	strlcpy_ss(started, PQgetvalue(res, 0, 1), sizeof(started));
	PQclear(res);
	gitea_stats_get(&before);
	w.c = c;
	w.seen = json_object_new_array();
	rc = list_repos(core, &w, e);
	if (rc == 0)
		rc = mark_deleted(c, w.seen, e);
	for (i = 0; rc == 0 && i < w.n; i++)
		rc = sync_project(core, c, &w.v[i], &rep->items, e);
	/* Deploy branches that moved without a delivery (one call per
	 * sponsored or live project). */
	if (rc == 0)
		rc = deploy_reconcile(core, c, e);
	rep->projects = (long)w.n;
	gitea_stats_get(&after);
	rep->gitea_calls = (long)(after.calls - before.calls);
	snprintf(nproj, sizeof(nproj), "%ld", rep->projects);
	snprintf(nitems, sizeof(nitems), "%ld", rep->items);
	snprintf(ncalls, sizeof(ncalls), "%ld", rep->gitea_calls);
	params[0] = run;
	params[1] = rc == 0 ? "ok" : "failed";
	params[2] = nproj;
	params[3] = nitems;
	params[4] = ncalls;
	params[5] = rc == 0 ? NULL : e->message;
	res = PQexecParams(c, "UPDATE sync_runs SET finished_at = now(),"
	    " outcome = $2, projects = $3, items = $4, gitea_calls = $5,"
	    " error = $6 WHERE id = $1", 6, NULL, params, NULL, NULL, 0);
	PQclear(res);
	if (rc == 0) {
		log_info("mirror: %ld projects, %ld changed items, %ld Gitea"
		    " calls", rep->projects, rep->items, rep->gitea_calls);
		/* Changes no delivery brought: are webhooks blocked? */
		webhook_watch_run(core->conf, c, started, rep->items);
	} else
		log_warn("mirror failed: %s%s%s", e->message,
		    e->detail[0] != '\0' ? ": " : "", e->detail);
unlock:
	res = PQexecParams(c, "SELECT pg_advisory_unlock($1)", 1, NULL, lock,
	    NULL, NULL, 0);
	PQclear(res);
out:
	walk_free(&w);
	db_release(core->pool, c);
	return rc;
}
