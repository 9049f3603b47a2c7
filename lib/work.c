/*
 * work.c: the agent's side of a project: join it, claim an issue, let it
 * go, read things, see its own work.  Every function is the one core of a
 * command; the command form, REST routes and MCP tools only adapt to it.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define WORK_BRANCH_SLUG	32

/* The agent's Gitea login; approval gave it one. */
static int
agent_login(PGconn *c, const struct agent *a, char login[64], struct err *e)
{
	const char	*params[1] = { a->id };
	PGresult	*res;

	if ((res = db_query(c, e, "SELECT gitea_username FROM agents WHERE"
	    " id = $1", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		err_set(e, ERR_NOT_CONFIGURED, "agent '%s' has no Gitea user",
		    a->name);
		err_hint(e, "ask an admin to suspend and approve you again");
		return -1;
	}
	strlcpy_ss(login, PQgetvalue(res, 0, 0), 64);
	PQclear(res);
	return 0;
}

static int
resolve(const struct core *core, const struct agent *a, const char *text,
    struct ref *r, struct err *e)
{
	PGconn	*c;
	int	 rc;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	rc = ref_resolve(c, a->id, text, r, e);
	db_release(core->pool, c);
	return rc;
}

static bool
is_member(PGconn *c, const char *project, const char *agent, struct err *e,
    int *rc)
{
	const char	*params[2] = { project, agent };
	PGresult	*res;
	bool		 yes;

	*rc = 0;
	if ((res = db_query(c, e, "SELECT 1 FROM project_members WHERE"
	    " project_id = $1 AND agent_id = $2", 2, params)) == NULL) {
		*rc = -1;
		return false;
	}
	yes = PQntuples(res) > 0;
	PQclear(res);
	return yes;
}

static const char *
project_clone_url(PGconn *c, const char *project, char *buf, size_t size,
    struct err *e)
{
	const char	*params[1] = { project };
	PGresult	*res;

	if ((res = db_query(c, e, "SELECT clone_url FROM projects WHERE id = $1",
	    1, params)) == NULL)
		return NULL;
	strlcpy_ss(buf, PQntuples(res) > 0 ? PQgetvalue(res, 0, 0) : "", size);
	PQclear(res);
	return buf;
}

static json_object *
next_list(const char *a, const char *b, const char *c)
{
	json_object	*n = json_object_new_array();

	if (a != NULL)
		json_object_array_add(n, json_object_new_string(a));
	if (b != NULL)
		json_object_array_add(n, json_object_new_string(b));
	if (c != NULL)
		json_object_array_add(n, json_object_new_string(c));
	return n;
}

json_object *
work_join(const struct core *core, const struct agent *a, const char *text,
    struct err *e)
{
	struct gitea_req	 q = { .method = "PUT" };
	struct gitea_resp	 gr = { .total = -1 };
	struct actor		 who = { ACTOR_AGENT, "" };
	struct ref		 r;
	json_object		*body, *data;
	char			 login[64], name[256], path[512], url[1024],
				 msg[2048], *l;
	const char		*params[2];
	PGconn			*c;
	int			 rc;
	bool			 already;

	if (resolve(core, a, text, &r, e) == -1)
		return NULL;
	ref_text(&r, name, sizeof(name));
	if (r.kind != REF_PROJECT) {
		err_set(e, ERR_BAD_REQUEST, "%s is not a project", name);
		err_hint(e, "join takes a project: join %s/%s", r.owner, r.name);
		return NULL;
	}
	if (r.closed) {
		err_set(e, ERR_PROJECT_CLOSED, "%s is archived or gone from Gitea",
		    name);
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	already = is_member(c, r.project_id, a->id, e, &rc);
	if (rc == -1 || agent_login(c, a, login, e) == -1 ||
	    project_clone_url(c, r.project_id, url, sizeof(url), e) == NULL) {
		db_release(core->pool, c);
		return NULL;
	}
	db_release(core->pool, c);
	if (!already) {
		/* In the request: the agent needs the access to push now, and
		 * nothing is recorded when Gitea says no. */
		l = gitea_escape(login);
		gitea_repo_path(path, sizeof(path), r.owner, r.name,
		    "/collaborators/%s", l != NULL ? l : "");
		free(l);
		body = json_object_new_object();
		json_object_object_add(body, "permission",
		    json_object_new_string("write"));
		q.path = path;
		q.body = body;
		rc = gitea_call(core->conf, &q, &gr, e);
		json_object_put(body);
		gitea_resp_free(&gr);
		if (rc == -1)
			return NULL;
		if ((c = db_acquire(core->pool, e)) == NULL)
			return NULL;
		params[0] = r.project_id;
		params[1] = a->id;
		strlcpy_ss(who.id, a->id, sizeof(who.id));
		if (db_begin(c, e) == -1 ||
		    db_run(c, e, "INSERT INTO project_members (project_id,"
		    " agent_id) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
		    params) == -1 ||
		    audit_write(c, &who, "project.join", "project", r.project_id,
		    NULL, e) == -1 || db_commit(c, e) == -1) {
			db_release(core->pool, c);
			return NULL;
		}
		db_release(core->pool, c);
	}
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "clone_url", json_object_new_string(url));
	json_object_object_add(data, "member", json_object_new_boolean(1));
	snprintf(msg, sizeof(msg), "%s %s. Clone it with your Gitea login and"
	    " token: %s", already ? "You are already a member of" :
	    "You joined", name, url);
	return json_ok(msg, data, next_list("feed", "work-on <issue>", NULL));
}

/* issue-12-fix-widget-alignment */
static void
branch_name(long number, const char *title, char *out, size_t size)
{
	size_t	 n = 0, off;
	bool	 dash = false;

	off = (size_t)snprintf(out, size, "issue-%ld", number);
	for (; *title != '\0' && n < WORK_BRANCH_SLUG && off + 2 < size;
	    title++) {
		if (isalnum((unsigned char)*title)) {
			if (dash || n == 0) {
				out[off++] = '-';
				dash = false;
			}
			out[off++] = (char)tolower((unsigned char)*title);
			n++;
		} else
			dash = n > 0;
	}
	out[off] = '\0';
}

/*
 * work-on: ss_claim (0015-claims.sql) does it all in one statement, the
 * name looked up included; here its outcome is worded.
 */
static const char claim_sql[] =
    "SELECT outcome, kind, owner, name, number, title, body, url, clone_url,"
    " holder, since, held"
    " FROM ss_claim($1, $2, $3, $4::int, $5::int, $6::int)";

/* The error an outcome other than claimed or already is. */
static void
claim_refused(PGresult *res, const struct agent *a, const struct ref *r,
    struct err *e)
{
	const char	*outcome = PQgetvalue(res, 0, 0),
			*kind = PQgetvalue(res, 0, 1);
	char		 name[256];

	snprintf(name, sizeof(name), "%s/%s#%s", PQgetvalue(res, 0, 2),
	    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	if (strcmp(outcome, "not_active") == 0)
		/* Suspended since its key was checked. */
		err_set(e, ERR_SUSPENDED, "agent '%s' is suspended", a->name);
	else if (strcmp(outcome, "no_project") == 0 && r->position > 0) {
		err_set(e, ERR_NOT_FOUND, "no item %ld in your latest feed",
		    r->position);
		err_hint(e, "run `feed` to see the numbers");
	} else if (strcmp(outcome, "no_project") == 0) {
		err_set(e, ERR_NOT_FOUND, "no project %s/%s", r->owner, r->name);
		err_hint(e, "run `feed` for the projects you can join");
	} else if (strcmp(outcome, "no_item") == 0) {
		err_set(e, ERR_NOT_FOUND, "%s/%s#%ld does not exist",
		    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3), r->number);
		err_hint(e, "run `feed` for open issues");
	} else if (strcmp(outcome, "not_issue") == 0) {
		if (strcmp(kind, "pull") == 0)
			err_set(e, ERR_BAD_REQUEST, "%s/%s#%ld is a pull request,"
			    " not an issue", PQgetvalue(res, 0, 2),
			    PQgetvalue(res, 0, 3), r->number);
		else
			err_set(e, ERR_BAD_REQUEST, "%s/%s is a project, not an"
			    " issue", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
		err_hint(e, "work-on takes an issue: run `feed` for open issues");
	} else if (strcmp(outcome, "project_closed") == 0)
		err_set(e, ERR_PROJECT_CLOSED, "%s/%s is archived or gone from"
		    " Gitea", PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	else if (strcmp(outcome, "not_member") == 0) {
		err_set(e, ERR_NOT_MEMBER, "you are not a member of %s/%s",
		    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
		err_hint(e, "run `join %s/%s` first", PQgetvalue(res, 0, 2),
		    PQgetvalue(res, 0, 3));
	} else if (strcmp(outcome, "no_gitea_user") == 0) {
		err_set(e, ERR_NOT_CONFIGURED, "agent '%s' has no Gitea user",
		    a->name);
		err_hint(e, "ask an admin to suspend and approve you again");
	} else if (strcmp(outcome, "issue_closed") == 0)
		err_set(e, ERR_ISSUE_CLOSED, "%s is closed", name);
	else if (strcmp(outcome, "taken") == 0)
		err_set(e, ERR_ISSUE_TAKEN, "%s is claimed by agent '%s' since %s",
		    name, PQgetvalue(res, 0, 9), PQgetvalue(res, 0, 10));
	else if (strcmp(outcome, "claim_limit") == 0) {
		err_set(e, ERR_CLAIM_LIMIT, "you already work on %s",
		    PQgetvalue(res, 0, 11));
		err_hint(e, "`submit` your branch or `abandon` first");
	} else
		err_set(e, ERR_INTERNAL, "claim: unknown outcome '%s'", outcome);
}

json_object *
work_on(const struct core *core, const struct agent *a, const char *text,
    struct err *e)
{
	struct ref	 r;
	json_object	*data, *issue;
	char		 name[256], branch[96], max[24], number[24], position[24],
			 msg[4096], next[128];
	const char	*params[6], *title, *body, *url;
	PGresult	*res;

	if (ref_parse(text, &r, e) == -1)
		return NULL;
	if (r.position == 0 && r.number == 0) {
		err_set(e, ERR_BAD_REQUEST, "%s/%s is a project, not an issue",
		    r.owner, r.name);
		err_hint(e, "work-on takes an issue: run `feed` for open issues");
		return NULL;
	}
	snprintf(number, sizeof(number), "%ld", r.number);
	snprintf(position, sizeof(position), "%ld", r.position);
	snprintf(max, sizeof(max), "%ld", core->conf->work_max_claims);
	params[0] = a->id;
	params[1] = r.position > 0 ? NULL : r.owner;
	params[2] = r.position > 0 ? NULL : r.name;
	params[3] = r.position > 0 ? NULL : number;
	params[4] = r.position > 0 ? position : NULL;
	params[5] = max;
	if ((res = db_exec(core->pool, e, claim_sql, 6, params)) == NULL)
		return NULL;
	if (strcmp(PQgetvalue(res, 0, 0), "claimed") != 0 &&
	    strcmp(PQgetvalue(res, 0, 0), "already") != 0) {
		claim_refused(res, a, &r, e);
		PQclear(res);
		return NULL;
	}
	snprintf(name, sizeof(name), "%s/%s#%s", PQgetvalue(res, 0, 2),
	    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4));
	title = PQgetvalue(res, 0, 5);
	body = PQgetvalue(res, 0, 6);
	url = PQgetvalue(res, 0, 7);
	branch_name(strtol(PQgetvalue(res, 0, 4), NULL, 10), title, branch,
	    sizeof(branch));
	issue = json_object_new_object();
	json_object_object_add(issue, "ref", json_object_new_string(name));
	json_object_object_add(issue, "title", json_object_new_string(title));
	json_object_object_add(issue, "body", json_object_new_string(body));
	json_object_object_add(issue, "url", json_object_new_string(url));
	data = json_object_new_object();
	json_object_object_add(data, "issue", issue);
	json_object_object_add(data, "clone_url",
	    json_object_new_string(PQgetvalue(res, 0, 8)));
	json_object_object_add(data, "branch", json_object_new_string(branch));
	snprintf(msg, sizeof(msg), "You work on %s: %s\n\n%.600s\n\nClone %s,"
	    " commit on a branch such as %s, push it, then run `submit %s`.",
	    name, title, body, PQgetvalue(res, 0, 8), branch, branch);
	PQclear(res);
	snprintf(next, sizeof(next), "submit %s", branch);
	return json_ok(msg, data, next_list(next, "details <issue>", "abandon"));
}

/* abandon: ss_abandon (0015-claims.sql), one statement. */
json_object *
work_abandon(const struct core *core, const struct agent *a, struct err *e)
{
	const char	*params[1] = { a->id }, *outcome;
	json_object	*released, *data;
	char		 msg[512];
	PGresult	*res;

	if ((res = db_exec(core->pool, e, "SELECT outcome, array_to_json(refs)"
	    " FROM ss_abandon($1)", 1, params)) == NULL)
		return NULL;
	outcome = PQgetvalue(res, 0, 0);
	if (strcmp(outcome, "released") != 0) {
		if (strcmp(outcome, "nothing_claimed") == 0)
			err_set(e, ERR_NOTHING_CLAIMED, "you hold no issue");
		else if (strcmp(outcome, "no_gitea_user") == 0) {
			err_set(e, ERR_NOT_CONFIGURED, "agent '%s' has no Gitea"
			    " user", a->name);
			err_hint(e, "ask an admin to suspend and approve you"
			    " again");
		} else		/* suspended since its key was checked */
			err_set(e, ERR_SUSPENDED, "agent '%s' is suspended",
			    a->name);
		PQclear(res);
		return NULL;
	}
	released = json_tokener_parse(PQgetvalue(res, 0, 1));
	PQclear(res);
	snprintf(msg, sizeof(msg), "You let go of %s.",
	    json_object_get_string(json_object_array_get_idx(released, 0)));
	data = json_object_new_object();
	json_object_object_add(data, "released", released);
	return json_ok(msg, data, next_list("feed", NULL, NULL));
}

/* A project's details in words, its deployment last. */
static void
details_project_text(char *msg, size_t size, const char *name, PGresult *res,
    json_object *data)
{
	json_object	*d = json_object_object_get(data, "deployment"), *last;
	const char	*status, *url;
	size_t		 off;

	off = (size_t)snprintf(msg, size, "%s: %s\n%s open issues; clone %s",
	    name, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 5),
	    PQgetvalue(res, 0, 2));
	if (off >= size)
		return;
	status = json_path_str(d, "status");
	url = json_path_str(d, "url");
	last = json_object_object_get(d, "last");
	if (status == NULL || strcmp(status, "none") == 0 ||
	    strcmp(status, "ready") == 0)
		off += (size_t)snprintf(msg + off, size - off, "\nDeployment:"
		    " %s; merges are not deployed.", status != NULL ? status :
		    "none");
	else
		off += (size_t)snprintf(msg + off, size - off, "\nDeployment:"
		    " %s%s%s; pushes to %s are deployed%s.", status,
		    url != NULL ? " at " : "", url != NULL ? url : "",
		    json_path_str(d, "branch"), strcmp(status, "suspended") == 0
		    ? " once it is sponsored again" : "");
	if (off < size && last != NULL && !json_object_is_type(last,
	    json_type_null))
		snprintf(msg + off, size - off, " Last deployment: %.12s, %s.",
		    json_path_str(last, "commit"), json_path_str(last,
		    "status"));
}

json_object *
work_details(const struct core *core, const struct agent *a, const char *text,
    struct err *e)
{
	struct ref	 r;
	const char	*params[1];
	json_object	*data;
	char		 name[256], msg[8192];
	PGconn		*c;
	PGresult	*res;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_resolve(c, a->id, text, &r, e) == -1) {
		db_release(core->pool, c);
		return NULL;
	}
	ref_text(&r, name, sizeof(name));
	params[0] = r.kind == REF_PROJECT ? r.project_id : r.id;
	switch (r.kind) {
	case REF_PROJECT:
		/* The deployment too: an agent knows whether its merge
		 * goes live. */
		res = db_query(c, e, "SELECT description, default_branch,"
		    " clone_url, html_url, archived, (SELECT count(*) FROM issues"
		    " i WHERE i.project_id = p.id AND i.state = 'open') AS"
		    " open_issues, jsonb_build_object('status',"
		    " p.deployment_status, 'url', p.deployment_url, 'branch',"
		    " COALESCE(p.deployment_branch, p.default_branch),"
		    " 'deployed_at', ss_iso(p.deployed_at), 'last', (SELECT"
		    " jsonb_build_object('commit', d.commit_sha, 'status',"
		    " d.status, 'created_at', ss_iso(d.created_at),"
		    " 'finished_at', ss_iso(d.finished_at)) FROM deployments d"
		    " WHERE d.project_id = p.id ORDER BY d.created_at DESC"
		    " LIMIT 1)) AS deployment FROM projects p WHERE id = $1", 1,
		    params);
		break;
	case REF_ISSUE:
		res = db_query(c, e, "SELECT i.title, i.body, i.state, i.labels,"
		    " x.name AS claimed_by FROM issues i LEFT JOIN agents x ON"
		    " x.id = i.assigned_to WHERE i.id = $1", 1, params);
		break;
	default:
		res = db_query(c, e, "SELECT title, body, state, review_status,"
		    " source_branch, target_branch, author_login, head_sha,"
		    " mergeable FROM pull_requests WHERE id = $1", 1, params);
		break;
	}
	db_release(core->pool, c);
	if (res == NULL)
		return NULL;
	data = json_from_row(res, 0);
	json_object_object_add(data, "ref", json_object_new_string(name));
	if (r.kind == REF_PROJECT)
		details_project_text(msg, sizeof(msg), name, res, data);
	else
		snprintf(msg, sizeof(msg), "%s (%s): %s\n\n%.6000s", name,
		    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 0),
		    PQgetvalue(res, 0, 1));
	PQclear(res);
	return json_ok(msg, data, NULL);
}

json_object *
work_status(const struct core *core, const struct agent *a, struct err *e)
{
	const char	*params[1] = { a->id };
	json_object	*data, *me, *claims, *pulls, *gitea, *login;
	char		 msg[2048];
	size_t		 off, i;
	long		 elo = a->elo;
	PGresult	*res;

	/* The agent's own git credentials (an agent that reaches us only
	 * through MCP has no other way to them), and its rating as it is. */
	if ((gitea = identity_credentials(core->pool, core->conf, core->vault,
	    a->id, &elo, e)) == NULL) {
		/* Logged there; the rest of the answer stands. */
		err_clear(e);
		gitea = json_object_new_object();
	}
	res = db_exec(core->pool, e,
	    "SELECT 'claim' AS what, p.owner || '/' || p.name || '#' ||"
	    "  i.number AS ref, i.title, ss_iso(i.assigned_at) AS since,"
	    "  NULL AS review_status"
	    " FROM issues i JOIN projects p ON p.id = i.project_id"
	    " WHERE i.assigned_to = $1 AND i.state = 'open'"
	    " UNION ALL"
	    " SELECT 'pull', p.owner || '/' || p.name || '#' || r.gitea_pr_number,"
	    "  r.title, ss_iso(r.created_at), r.review_status"
	    " FROM pull_requests r JOIN projects p ON p.id = r.project_id"
	    " WHERE r.author_id = $1 AND r.state = 'open'"
	    " ORDER BY 1, 4", 1, params);
	if (res == NULL) {
		json_object_put(gitea);
		return NULL;
	}
	claims = json_object_new_array();
	pulls = json_object_new_array();
	off = (size_t)snprintf(msg, sizeof(msg), "You are '%s', rating %ld.",
	    a->name, elo);
	for (i = 0; i < (size_t)PQntuples(res); i++) {
		json_object *row = json_from_row(res, (int)i);

		json_object_object_del(row, "what");
		if (PQgetvalue(res, (int)i, 0)[0] == 'c') {
			json_object_object_del(row, "review_status");
			json_object_array_add(claims, row);
			off += (size_t)snprintf(msg + off, off < sizeof(msg) ?
			    sizeof(msg) - off : 0, "\nWorking on %s: %s",
			    PQgetvalue(res, (int)i, 1), PQgetvalue(res, (int)i, 2));
		} else {
			json_object_array_add(pulls, row);
			off += (size_t)snprintf(msg + off, off < sizeof(msg) ?
			    sizeof(msg) - off : 0, "\nPR %s (%s): %s",
			    PQgetvalue(res, (int)i, 1), PQgetvalue(res, (int)i, 4),
			    PQgetvalue(res, (int)i, 2));
		}
	}
	PQclear(res);
	if (json_object_array_length(claims) == 0 &&
	    json_object_array_length(pulls) == 0 && off < sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off,
		    " You hold no issue and have no open PR; run `feed`.");
	if ((res = db_exec(core->pool, e, rating_recent_sql, 1, params)) ==
	    NULL) {
		json_object_put(claims);
		json_object_put(pulls);
		json_object_put(gitea);
		return NULL;
	}
	for (i = 0; i < (size_t)PQntuples(res) && off < sizeof(msg); i++)
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "%s%+d %s"
		    " %s", i == 0 ? "\nRecent rating changes: " : ", ",
		    atoi(PQgetvalue(res, (int)i, 0)), PQgetvalue(res, (int)i, 1),
		    PQgetvalue(res, (int)i, 2));
	if (json_object_object_get_ex(gitea, "login", &login) && off <
	    sizeof(msg))
		off += (size_t)snprintf(msg + off, sizeof(msg) - off, "\nGit:"
		    " clone and push over HTTP as '%s' with data.gitea.token as"
		    " the password.", json_object_get_string(login));
	me = json_object_new_object();
	json_object_object_add(me, "name", json_object_new_string(a->name));
	json_object_object_add(me, "elo", json_object_new_int64(elo));
	data = json_object_new_object();
	json_object_object_add(data, "agent", me);
	json_object_object_add(data, "claims", claims);
	json_object_object_add(data, "pulls", pulls);
	json_object_object_add(data, "ratings", json_from_rows(res));
	json_object_object_add(data, "gitea", gitea);
	PQclear(res);
	return json_ok(msg, data, next_list("feed", NULL, NULL));
}

/*
 * Branches of the repository that name the issue's number and are the
 * claimer's: authored by its Gitea user, or with a head commit made since
 * the claim (collected in times, for PostgreSQL to compare).  A branch an
 * earlier claimer left behind keeps no one's claim.
 */
struct branch_walk {
	long		 number;
	const char	*login;
	bool		 found;
	json_object	*times;
};

static int
on_branch(json_object *b, void *arg, struct err *e)
{
	struct branch_walk	*w = arg;
	const char		*name = json_path_str(b, "name"), *p, *t, *u;
	size_t			 n;
	char			 num[24];
	bool			 named = false;

	(void)e;
	if (name == NULL)
		return 0;
	n = (size_t)snprintf(num, sizeof(num), "%ld", w->number);
	for (p = strstr(name, num); p != NULL; p = strstr(p + 1, num))
		if ((p == name || !isdigit((unsigned char)p[-1])) &&
		    !isdigit((unsigned char)p[n]))
			named = true;
	if (!named)
		return 0;
	u = json_path_str(b, "commit.author.username");
	if (u != NULL && strcasecmp(u, w->login) == 0)
		w->found = true;
	else if ((t = json_path_str(b, "commit.timestamp")) != NULL &&
	    json_object_array_length(w->times) < 100)
		json_object_array_add(w->times, json_object_new_string(t));
	return 0;
}

/*
 * Claims past their project's claim_ttl with neither an open PR nor a
 * pushed branch naming the issue are released, here and in Gitea, and
 * the agent finds a notice in its next feed.  Push webhooks mark branches
 * as they come; since Gitea never redelivers a lost one, Gitea's branch
 * list is read once more before a claim is let go.
 */
int
work_expire_claims(const struct core *core, int *released, struct err *e)
{
	struct actor		 who = { ACTOR_SYSTEM, "claim-expiry" };
	struct branch_walk	 w;
	json_object		*body;
	const char		*params[3], *notice[2];
	char			 ttl[24], path[512], text[512];
	PGconn			*c = NULL;
	PGresult		*res, *gone;
	int			 i, rc = 0;

	*released = 0;
	snprintf(ttl, sizeof(ttl), "%ld", core->conf->work_claim_ttl / 1000);
	params[0] = ttl;
	if ((res = db_exec(core->pool, e, "SELECT i.id, p.owner, p.name,"
	    " i.number, i.assigned_to, ss_iso(i.assigned_at), x.gitea_username,"
	    " round(COALESCE(pp.claim_ttl_seconds, $1::int) / 3600.0, 1)"
	    " FROM issues i JOIN projects p ON p.id = i.project_id"
	    " JOIN agents x ON x.id = i.assigned_to"
	    " LEFT JOIN project_policies pp ON pp.project_id = p.id"
	    " WHERE i.assigned_to IS NOT NULL AND i.state = 'open'"
	    "  AND p.deleted_at IS NULL AND NOT p.archived"
	    "  AND i.branch_pushed_at IS NULL"
	    "  AND i.assigned_at < now() - make_interval(secs =>"
	    "   COALESCE(pp.claim_ttl_seconds, $1::int))"
	    "  AND NOT EXISTS (SELECT 1 FROM pull_requests pr"
	    "   WHERE pr.project_id = i.project_id AND pr.state = 'open' AND"
	    "   (pr.issue_id = i.id OR (pr.author_id = i.assigned_to AND"
	    "   pr.source_branch ~ ('(^|[^0-9])' || i.number || '([^0-9]|$)'))))"
	    " ORDER BY i.assigned_at LIMIT 20", 1, params)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res) && rc == 0; i++) {
		c = NULL;
		w.number = strtol(PQgetvalue(res, i, 3), NULL, 10);
		w.login = PQgetvalue(res, i, 6);
		w.found = false;
		w.times = json_object_new_array();
		gitea_repo_path(path, sizeof(path), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), "/branches");
		/* Gitea cannot list them: this claim waits for the next pass,
		 * and the others are not held up by it. */
		if (gitea_list(core->conf, path, NULL, NULL, false, on_branch,
		    &w, e) == -1) {
			log_warn("claim expiry: %s/%s#%s kept for now: %s",
			    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			    PQgetvalue(res, i, 3), e->message);
			err_clear(e);
			json_object_put(w.times);
			continue;
		}
		if ((c = db_acquire(core->pool, e)) == NULL)
			rc = -1;
		params[0] = json_object_to_json_string(w.times);
		params[1] = PQgetvalue(res, i, 5);
		if (rc == 0 && !w.found && json_object_array_length(w.times) > 0) {
			if ((gone = db_query(c, e, "SELECT EXISTS (SELECT 1 FROM"
			    " jsonb_array_elements_text($1::jsonb) t WHERE"
			    " t::timestamptz >= $2::timestamptz)", 2,
			    params)) == NULL)
				rc = -1;
			else {
				w.found = PQgetvalue(gone, 0, 0)[0] == 't';
				PQclear(gone);
			}
		}
		json_object_put(w.times);
		if (rc == -1) {
			if (c != NULL)
				db_release(core->pool, c);
			break;
		}
		params[0] = PQgetvalue(res, i, 0);
		params[1] = PQgetvalue(res, i, 4);
		params[2] = PQgetvalue(res, i, 5);
		if (w.found) {
			/* Kept for good: marked like a push webhook would. */
			rc = db_run(c, e, "UPDATE issues SET branch_pushed_at ="
			    " now() WHERE id = $1 AND assigned_to = $2", 2,
			    params);
			db_release(core->pool, c);
			continue;
		}
		snprintf(text, sizeof(text), "Your claim on %s/%s#%s was"
		    " released: %sh passed without a pushed branch naming #%s"
		    " or a PR. Claim it again with `work-on` if you still work"
		    " on it.", PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 7),
		    PQgetvalue(res, i, 3));
		gitea_repo_path(path, sizeof(path), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), "/issues/%s", PQgetvalue(res, i, 3));
		body = json_object_new_object();
		json_object_object_add(body, "assignees", json_object_new_array());
		/* Released only if still the same claim (no abandon and
		 * re-claim in between). */
		rc = -1;
		/* Still the same claim, still without a branch or a PR (a push
		 * or a submit may have come while Gitea was read). */
		if (db_begin(c, e) == 0 && (gone = db_query(c, e, "UPDATE issues"
		    " i SET assigned_to = NULL, assigned_at = NULL, updated_at ="
		    " now() WHERE i.id = $1 AND i.assigned_to = $2 AND"
		    " ss_iso(i.assigned_at) = $3 AND i.branch_pushed_at IS NULL"
		    " AND NOT EXISTS (SELECT 1 FROM pull_requests pr WHERE"
		    "  pr.project_id = i.project_id AND pr.state = 'open' AND"
		    "  (pr.issue_id = i.id OR (pr.author_id = i.assigned_to AND"
		    "  pr.source_branch ~ ('(^|[^0-9])' || i.number ||"
		    "  '([^0-9]|$)'))))"
		    " RETURNING i.id", 3, params)) != NULL) {
			notice[0] = params[1];
			notice[1] = text;
			if (PQntuples(gone) == 0) {
				db_rollback(c);
				rc = 0;
			} else if (db_run(c, e, "INSERT INTO agent_notices (agent_id,"
			    " kind, text) VALUES ($1, 'claim_expired', $2)", 2,
			    notice) == 0 &&
			    outbox_add(c, "issue.unassign", "PATCH", path, body,
			    PQgetvalue(res, i, 6), e) == 0 &&
			    audit_write(c, &who, "issue.claim_expired", "issue",
			    PQgetvalue(res, i, 0), NULL, e) == 0 &&
			    db_commit(c, e) == 0) {
				(*released)++;
				rc = 0;
			}
			PQclear(gone);
		}
		json_object_put(body);
		db_release(core->pool, c);
	}
	PQclear(res);
	return rc;
}
