/*
 * pull.c: an agent's pull requests: `submit` opens one in Gitea (as the
 * agent, through Sudo, so Gitea's own rules about authors hold) from a
 * branch it pushed, linked to the issue it claimed; `pr` shows one with
 * its reviews and what it still needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define PULL_TITLE_MAX	255

struct claim {
	char	issue_id[37], project_id[37];
	char	owner[101], name[101], title[512], base[256], login[64];
	long	number;
};

/* The claimed issue a branch is for: the one whose number the branch
 * names ("issue-12-..."), else the agent's only claim. */
static int
pull_claim(PGconn *c, const struct agent *a, const char *branch,
    struct claim *cl, struct err *e)
{
	const char	*params[2] = { a->id, branch };
	PGresult	*res;

	res = db_query(c, e, "SELECT i.id, p.id, p.owner, p.name, i.number,"
	    " i.title, p.default_branch, x.gitea_username"
	    " FROM issues i JOIN projects p ON p.id = i.project_id"
	    " JOIN agents x ON x.id = i.assigned_to"
	    " WHERE i.assigned_to = $1 AND i.state = 'open'"
	    " ORDER BY $2 ~ ('(^|[^0-9])' || i.number || '([^0-9]|$)') DESC,"
	    "  i.assigned_at LIMIT 1", 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOTHING_CLAIMED, "you hold no issue to submit"
		    " work for");
		err_hint(e, "run `feed`, then `work-on <issue>`; push a branch;"
		    " then `submit <branch>`");
		return -1;
	}
	strlcpy_ss(cl->issue_id, PQgetvalue(res, 0, 0), sizeof(cl->issue_id));
	strlcpy_ss(cl->project_id, PQgetvalue(res, 0, 1),
	    sizeof(cl->project_id));
	strlcpy_ss(cl->owner, PQgetvalue(res, 0, 2), sizeof(cl->owner));
	strlcpy_ss(cl->name, PQgetvalue(res, 0, 3), sizeof(cl->name));
	cl->number = strtol(PQgetvalue(res, 0, 4), NULL, 10);
	strlcpy_ss(cl->title, PQgetvalue(res, 0, 5), sizeof(cl->title));
	strlcpy_ss(cl->base, PQgetvalue(res, 0, 6), sizeof(cl->base));
	strlcpy_ss(cl->login, PQgetvalue(res, 0, 7), sizeof(cl->login));
	PQclear(res);
	return 0;
}

/* The agent's open PR from branch into base, as Gitea lists it. */
struct open_find {
	const char	*branch;
	json_object	*found;
};

static int
on_open_pull(json_object *pr, void *arg, struct err *e)
{
	struct open_find	*f = arg;
	const char		*head = json_path_str(pr, "head.label");

	(void)e;
	if (f->found == NULL && head != NULL && strcmp(head, f->branch) == 0)
		f->found = json_object_get(pr);
	return 0;
}

/*
 * After Gitea's 409 ("a PR for these branches is open"): the agent's own
 * open PR from the branch, or NULL.  A submit whose answer was lost (a
 * timeout after Gitea made the PR) is thus taken up again by its retry.
 */
static json_object *
pull_find_open(const struct core *core, const struct claim *cl,
    const char *branch, struct err *e)
{
	struct open_find	 f = { branch, NULL };
	char			 path[512], query[768], *base, *login;

	base = gitea_escape(cl->base);
	login = gitea_escape(cl->login);
	gitea_repo_path(path, sizeof(path), cl->owner, cl->name, "/pulls");
	snprintf(query, sizeof(query), "state=open&base_branch=%s&poster=%s",
	    base != NULL ? base : "", login != NULL ? login : "");
	free(base);
	free(login);
	if (gitea_list(core->conf, path, query, NULL, false, on_open_pull, &f,
	    e) == -1) {
		json_object_put(f.found);
		return NULL;
	}
	return f.found;
}

static bool
branch_name_ok(const char *b)
{
	size_t	i, n = strlen(b);

	if (n == 0 || n > 200 || b[0] == '-' || b[0] == '/' ||
	    strstr(b, "..") != NULL)
		return false;
	for (i = 0; i < n; i++)
		if ((unsigned char)b[i] <= ' ' || strchr("~^:?*[\\", b[i]) != NULL)
			return false;
	return true;
}

json_object *
pull_submit(const struct core *core, const struct agent *a,
    const char *branch, const char *title, struct err *e)
{
	struct gitea_req	 q = { 0 };
	struct gitea_resp	 r = { .total = -1 };
	struct actor		 who = { ACTOR_AGENT, "" };
	struct claim		 cl;
	json_object		*body, *data, *next;
	const char		*params[3], *url;
	char			 path[768], ptitle[PULL_TITLE_MAX + 1], text[1024],
				 msg[4096], ref[256], num[24], *b;
	PGconn			*c;
	long			 number;
	int			 rc;
	bool			 existing = false;

	if (!branch_name_ok(branch)) {
		err_set(e, ERR_BAD_REQUEST, "'%.64s' is not a branch name", branch);
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	rc = pull_claim(c, a, branch, &cl, e);
	db_release(core->pool, c);
	if (rc == -1)
		return NULL;
	b = gitea_escape(branch);
	/* The branch must be there: a clear word beats Gitea's 404. */
	gitea_repo_path(path, sizeof(path), cl.owner, cl.name, "/branches/%s",
	    b != NULL ? b : "");
	free(b);
	q.method = "GET";
	q.path = path;
	rc = gitea_call(core->conf, &q, &r, e);
	gitea_resp_free(&r);
	if (rc == -1) {
		if (e->code == ERR_NOT_FOUND) {
			err_set(e, ERR_NOT_FOUND, "branch '%s' is not in %s/%s",
			    branch, cl.owner, cl.name);
			err_hint(e, "push it first: git push origin %s", branch);
		}
		goto out;
	}
	strlcpy_ss(ptitle, title != NULL && *title != '\0' ? title : cl.title,
	    sizeof(ptitle));
	utf8_sanitize(ptitle);		/* the cut may split a character */
	snprintf(text, sizeof(text), "Closes #%ld\n\nSubmitted by agent %s"
	    " through SynStack.", cl.number, a->name);
	body = json_object_new_object();
	json_object_object_add(body, "head", json_object_new_string(branch));
	json_object_object_add(body, "base", json_object_new_string(cl.base));
	json_object_object_add(body, "title", json_object_new_string(ptitle));
	json_object_object_add(body, "body", json_object_new_string(text));
	gitea_repo_path(path, sizeof(path), cl.owner, cl.name, "/pulls");
	q.method = "POST";
	q.path = path;
	q.body = body;
	/* As the agent: the PR is its own, and Gitea then refuses it an
	 * approval of its own PR. */
	q.sudo = cl.login;
	rc = gitea_call(core->conf, &q, &r, e);
	json_object_put(body);
	if (rc == -1 && r.status == 409) {
		/* Already open: the agent's own (a retry after a lost answer)
		 * is this submit's PR; anyone else's is a conflict. */
		err_clear(e);
		gitea_resp_free(&r);
		if ((r.json = pull_find_open(core, &cl, branch, e)) != NULL) {
			rc = 0;
			existing = true;
		} else if (e->code == ERR_NONE) {
			err_set(e, ERR_CONFLICT, "a PR from '%s' into %s is open"
			    " already, and not yours", branch, cl.base);
			err_hint(e, "push to a branch of your own and submit it");
		}
	}
	if (rc == -1) {
		if (r.status == 422)
			err_hint(e, "the branch must hold commits that %s does"
			    " not", cl.base);
		goto out;
	}
	if (!json_path_long(r.json, "number", &number)) {
		rc = err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea's answer has no PR"
		    " number");
		goto out;
	}
	/* Recorded in one transaction: the PR, its link, the audit row.  (The
	 * webhook of the same PR may come first or later: both upsert.) */
	snprintf(num, sizeof(num), "%ld", number);
	params[0] = cl.project_id;
	params[1] = num;
	params[2] = cl.issue_id;
	strlcpy_ss(who.id, a->id, sizeof(who.id));
	rc = -1;
	if ((c = db_acquire(core->pool, e)) == NULL)
		goto out;
	if (db_begin(c, e) == 0 &&
	    store_pull(c, core->conf, cl.project_id, r.json, e) == 0 &&
	    db_run(c, e, "UPDATE pull_requests SET issue_id = $3 WHERE"
	    " project_id = $1 AND gitea_pr_number = $2", 3, params) == 0 &&
	    audit_write(c, &who, "pull.submit", "issue", cl.issue_id, NULL,
	    e) == 0 && db_commit(c, e) == 0)
		rc = 0;
	db_release(core->pool, c);
	if (rc == -1)
		goto out;
	url = json_path_str(r.json, "html_url");
	snprintf(ref, sizeof(ref), "%s/%s#%ld", cl.owner, cl.name, number);
	data = json_object_new_object();
	json_object_object_add(data, "pull", json_object_new_string(ref));
	json_object_object_add(data, "url",
	    json_object_new_string(url != NULL ? url : ""));
	snprintf(text, sizeof(text), "%s/%s#%ld", cl.owner, cl.name, cl.number);
	json_object_object_add(data, "issue", json_object_new_string(text));
	if (existing && json_path_str(r.json, "title") != NULL)
		strlcpy_ss(ptitle, json_path_str(r.json, "title"),
		    sizeof(ptitle));
	json_object_object_add(data, "title", json_object_new_string(ptitle));
	snprintf(msg, sizeof(msg), "%s %s \"%s\" from %.200s into %.200s, for %s"
	    " (merging it closes the issue). Other agents review it from their"
	    " feed; push more commits to the branch to update it.",
	    existing ? "Your PR was open already:" : "Opened", ref, ptitle,
	    branch, cl.base, text);
	next = json_object_new_array();
	snprintf(text, sizeof(text), "pr %s", ref);
	json_object_array_add(next, json_object_new_string(text));
	json_object_array_add(next, json_object_new_string("my-work"));
	gitea_resp_free(&r);
	return json_ok(msg, data, next);
out:
	gitea_resp_free(&r);
	return NULL;
}

json_object *
pull_show(const struct core *core, const struct agent *a, const char *text,
    struct err *e)
{
	struct ref	 r;
	struct policy	 pol;
	struct checks	 k;
	const char	*params[1];
	json_object	*data, *reviews, *checks = NULL, *one;
	char		 name[256], needs[1024], head[64], msg[6144];
	size_t		 off, n;
	PGconn		*c;
	PGresult	*res = NULL, *rv = NULL;
	int		 i;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_pull(c, a->id, text, &r, name, sizeof(name), e) == -1)
		goto fail;
	/* Gitea's word on the head and mergeability, if it answers. */
	db_release(core->pool, c);
	if (pull_fetch(core, r.project_id, r.owner, r.name, r.number, e) == -1)
		log_debug("pr %s: showing what is stored: %s", name, e->message);
	err_clear(e);
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	params[0] = r.id;
	if ((res = db_query(c, e, "SELECT pr.title, pr.body, pr.state,"
	    " pr.review_status, pr.source_branch, pr.target_branch,"
	    " pr.author_login AS author, pr.head_sha, pr.mergeable,"
	    " CASE WHEN i.id IS NULL THEN NULL ELSE p.owner || '/' || p.name"
	    "  || '#' || i.number END AS issue"
	    " FROM pull_requests pr JOIN projects p ON p.id = pr.project_id"
	    " LEFT JOIN issues i ON i.id = pr.issue_id WHERE pr.id = $1", 1,
	    params)) == NULL ||
	    policy_load(c, core->conf, r.project_id, &pol, e) == -1)
		goto fail;
	strlcpy_ss(head, PQgetvalue(res, 0, 7), sizeof(head));
	/* The head's checks as Gitea has them now (else as stored). */
	db_release(core->pool, c);
	c = NULL;
	if (head[0] != '\0' && checks_read(core, r.project_id, r.owner, r.name,
	    head, pol.required_checks, &k, e) == -1) {
		log_debug("pr %s: checks as stored: %s", name, e->message);
		err_clear(e);
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		goto fail;
	if (checks_judge(c, r.project_id, head, pol.required_checks, &k, e) ==
	    -1 || (checks = checks_list(c, r.project_id, head,
	    pol.required_checks, e)) == NULL)
		goto fail;
	if ((rv = db_query(c, e, "SELECT x.name AS reviewer, r.action,"
	    " r.body, r.commit_sha, r.commit_sha IS NOT DISTINCT FROM"
	    " pr.head_sha AS current, ss_iso(r.updated_at) AS at"
	    " FROM reviews r JOIN agents x ON x.id = r.reviewer_id"
	    " JOIN pull_requests pr ON pr.id = r.pull_request_id"
	    " WHERE r.pull_request_id = $1 ORDER BY r.updated_at", 1,
	    params)) == NULL)
		goto fail;
	needs[0] = '\0';
	if (strcmp(PQgetvalue(res, 0, 2), "open") == 0 &&
	    pull_needs(c, core->conf, r.id, needs, sizeof(needs), e) == -1)
		goto fail;
	db_release(core->pool, c);
	c = NULL;
	data = json_from_row(res, 0);
	json_object_object_add(data, "ref", json_object_new_string(name));
	json_object_object_add(data, "needs", json_object_new_string(needs));
	reviews = json_from_rows(rv);
	json_object_object_add(data, "reviews", reviews);
	json_object_object_add(data, "checks", checks);
	json_object_object_add(data, "checks_verdict",
	    json_object_new_string(k.verdict));
	off = (size_t)snprintf(msg, sizeof(msg), "%s (%s, %s): %s\n%s -> %s by"
	    " %s; %s.", name, PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
	    PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
	    PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 8)[0] == 't' ?
	    "mergeable" : "not mergeable (yet)");
	for (i = 0; i < PQntuples(rv) && off < sizeof(msg); i++)
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    "\n%s: %s%s", PQgetvalue(rv, i, 0), PQgetvalue(rv, i, 1),
		    PQgetvalue(rv, i, 4)[0] == 't' ? "" : " (on an older head)");
	if (PQntuples(rv) == 0 && off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    "\nNo review yet.");
	/* Every check of the head, those the rule counts marked. */
	n = json_object_array_length(checks);
	if (off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    "\nChecks of %.12s: %s%s", head, n == 0 ? "none reported" :
		    k.verdict, n == 0 && strcmp(k.verdict, "passed") != 0 ?
		    " (pending)" : "");
	for (i = 0; i < (int)n && off < sizeof(msg); i++) {
		one = json_object_array_get_idx(checks, (size_t)i);
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    "\n  %s %s: %s%s%s",
		    json_object_get_boolean(json_object_object_get(one,
		    "required")) ? "*" : "-", json_object_get_string(
		    json_object_object_get(one, "context")),
		    json_object_get_string(json_object_object_get(one, "state")),
		    json_object_get_string(json_object_object_get(one,
		    "target_url"))[0] != '\0' ? " " : "",
		    json_object_get_string(json_object_object_get(one,
		    "target_url")));
	}
	if (strcmp(PQgetvalue(res, 0, 2), "open") == 0 && off < sizeof(msg)) {
		if (strcmp(k.verdict, "failed") == 0)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off,
			    "\nChecks failed: %s; fix them and push.",
			    k.failing);
		else if (strcmp(k.verdict, "pending") == 0)
			off += (size_t)snprintf(msg + off, sizeof(msg) - off,
			    "\nChecks pending: %s.", k.pending);
	}
	if (needs[0] != '\0' && off < sizeof(msg))
		snprintf(msg + off, sizeof(msg) - off, "\nBefore it merges: %s.",
		    needs);
	PQclear(res);
	PQclear(rv);
	return json_ok(msg, data, NULL);
fail:
	json_object_put(checks);
	PQclear(res);
	PQclear(rv);
	if (c != NULL)
		db_release(core->pool, c);
	return NULL;
}

static const struct verdict {
	const char	*word;		/* as typed */
	const char	*action;	/* ours */
	const char	*event;		/* Gitea's */
} verdicts[] = {
	{ "approve", "approve", "APPROVED" },
	{ "request-changes", "request_changes", "REQUEST_CHANGES" },
	{ "request_changes", "request_changes", "REQUEST_CHANGES" },
	{ "comment", "comment", "COMMENT" },
};

static const struct verdict *
verdict_find(const char *word)
{
	size_t	i;

	for (i = 0; i < sizeof(verdicts) / sizeof(verdicts[0]); i++)
		if (strcmp(verdicts[i].word, word) == 0)
			return &verdicts[i];
	return NULL;
}

json_object *
pull_review(const struct core *core, const struct agent *a,
    const char *word, const char *text, const char *comment, struct err *e)
{
	const struct verdict	*v = verdict_find(word);
	struct gitea_req	 q = { .method = "POST" };
	struct gitea_resp	 gr = { .total = -1 };
	struct actor		 who = { ACTOR_AGENT, "" };
	struct ref		 r;
	json_object		*body, *data;
	const char		*params[6];
	struct policy		 pol;
	struct err		 later;
	char			 name[256], bucket[64], path[512], login[64],
				 head[64], rid[24], status[24], msg[1024];
	int			 merged = 0;
	PGconn			*c;
	PGresult		*res = NULL;
	long			 gid = 0;
	int			 rc = -1;

	if (v == NULL) {
		err_set(e, ERR_BAD_REQUEST, "'%.32s' is not a verdict", word);
		err_hint(e, "review approve|request-changes|comment <pr> [comment]");
		return NULL;
	}
	if (comment == NULL)
		comment = "";
	if (strcmp(v->action, "request_changes") == 0 && *comment == '\0') {
		err_set(e, ERR_BAD_REQUEST, "request-changes needs a comment");
		err_hint(e, "say what to change: review request-changes %s"
		    " \"...\"", text);
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_pull(c, a->id, text, &r, name, sizeof(name), e) == -1)
		goto out;
	/* The head the review is for is Gitea's current one. */
	db_release(core->pool, c);
	c = NULL;
	if (pull_fetch(core, r.project_id, r.owner, r.name, r.number, e) == -1 ||
	    (c = db_acquire(core->pool, e)) == NULL)
		goto out;
	params[0] = r.id;
	params[1] = a->id;
	if ((res = db_query(c, e, "SELECT pr.state, pr.author_id = $2,"
	    " pr.head_sha, x.gitea_username, EXISTS (SELECT 1 FROM"
	    " project_members m WHERE m.project_id = pr.project_id AND"
	    " m.agent_id = $2) FROM pull_requests pr, agents x WHERE pr.id = $1"
	    " AND x.id = $2", 2, params)) == NULL)
		goto out;
	if (PQgetvalue(res, 0, 4)[0] != 't') {
		err_set(e, ERR_NOT_MEMBER, "you are not a member of %s/%s",
		    r.owner, r.name);
		err_hint(e, "run `join %s/%s` first", r.owner, r.name);
		goto out;
	}
	if (PQgetvalue(res, 0, 1)[0] == 't') {
		err_set(e, ERR_OWN_PR, "%s is your own pull request", name);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "open") != 0) {
		err_set(e, ERR_PR_CLOSED, "%s is closed", name);
		goto out;
	}
	strlcpy_ss(head, PQgetvalue(res, 0, 2), sizeof(head));
	strlcpy_ss(login, PQgetvalue(res, 0, 3), sizeof(login));
	PQclear(res);
	res = NULL;
	if (policy_load(c, core->conf, r.project_id, &pol, e) == -1)
		goto out;
	db_release(core->pool, c);
	c = NULL;
	snprintf(bucket, sizeof(bucket), "review:%s", a->id);
	if (ratelimit_hit(core->pool, bucket, pol.review_rate, 3600, e) == -1)
		goto out;
	/* As the agent, on the head it saw, so Gitea's own rules hold. */
	gitea_repo_path(path, sizeof(path), r.owner, r.name,
	    "/pulls/%ld/reviews", r.number);
	body = json_object_new_object();
	json_object_object_add(body, "event", json_object_new_string(v->event));
	json_object_object_add(body, "body", json_object_new_string(comment));
	if (head[0] != '\0')
		json_object_object_add(body, "commit_id",
		    json_object_new_string(head));
	q.path = path;
	q.body = body;
	q.sudo = login;
	rc = gitea_call(core->conf, &q, &gr, e);
	json_object_put(body);
	if (rc == -1)
		goto out;
	json_path_long(gr.json, "id", &gid);
	snprintf(rid, sizeof(rid), "%ld", gid);
	rc = -1;
	if ((c = db_acquire(core->pool, e)) == NULL)
		goto out;
	params[0] = r.id;
	params[1] = a->id;
	params[2] = v->action;
	params[3] = comment;
	params[4] = head[0] != '\0' ? head : NULL;
	params[5] = gid > 0 ? rid : NULL;
	strlcpy_ss(who.id, a->id, sizeof(who.id));
	/* The PR's row first, as webhooks and merges lock it first: the
	 * same order everywhere, no deadlock. */
	if (db_begin(c, e) == -1 ||
	    db_run(c, e, "SELECT 1 FROM pull_requests WHERE id = $1 FOR NO KEY"
	    " UPDATE", 1, params) == -1 ||
	    db_run(c, e, "INSERT INTO reviews AS r (pull_request_id,"
	    " reviewer_id, action, body, commit_sha, gitea_review_id)"
	    " VALUES ($1, $2, $3, $4, $5, $6::bigint)"
	    " ON CONFLICT (pull_request_id, reviewer_id) DO UPDATE SET"
	    " action = EXCLUDED.action, body = EXCLUDED.body,"
	    " commit_sha = EXCLUDED.commit_sha,"
	    " gitea_review_id = EXCLUDED.gitea_review_id, updated_at = now(),"
	    " recorded_at = now()",
	    6, params) == -1 ||
	    db_run(c, e, "INSERT INTO review_events (pull_request_id,"
	    " reviewer_id, action, body, commit_sha, gitea_review_id)"
	    " VALUES ($1, $2, $3, $4, $5, $6::bigint) ON CONFLICT"
	    " (gitea_review_id) WHERE gitea_review_id IS NOT NULL DO NOTHING",
	    6, params) == -1 ||
	    pull_refresh(c, core->conf, r.id, e) == -1 ||
	    audit_write(c, &who, "pull.review", "pull_request", r.id, NULL,
	    e) == -1 || db_commit(c, e) == -1)
		goto out;
	params[1] = NULL;
	if ((res = db_query(c, e, "SELECT review_status FROM pull_requests"
	    " WHERE id = $1", 1, params)) == NULL)
		goto out;
	strlcpy_ss(status, PQgetvalue(res, 0, 0), sizeof(status));
	PQclear(res);
	res = NULL;
	db_release(core->pool, c);
	c = NULL;
	gitea_resp_free(&gr);
	/* The approval that makes the rule hold merges at once where the
	 * project auto-merges; if Gitea cannot yet, the background pass
	 * tries again. */
	if (strcmp(status, "approved") == 0) {
		err_clear(&later);
		if ((merged = pull_automerge(core, r.id, &later)) == -1)
			log_warn("auto-merge of %s: %s", name, later.message);
		if (merged == 1)
			strlcpy_ss(status, "merged", sizeof(status));
	}
	data = json_object_new_object();
	json_object_object_add(data, "pull", json_object_new_string(name));
	json_object_object_add(data, "verdict", json_object_new_string(v->action));
	json_object_object_add(data, "review_status",
	    json_object_new_string(status));
	json_object_object_add(data, "merged", json_object_new_boolean(
	    merged == 1));
	snprintf(msg, sizeof(msg), "You reviewed %s: %s. It is now %s%s.", name,
	    v->action, status, merged == 1 ? " (the project auto-merges; its"
	    " issue is closed)" : "");
	return json_ok(msg, data, json_strarray((const char *const[]){
	    "feed", NULL }));
out:
	PQclear(res);
	if (c != NULL)
		db_release(core->pool, c);
	gitea_resp_free(&gr);
	return NULL;
}
