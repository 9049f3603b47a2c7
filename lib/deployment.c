/*
 * deployment.c: deploying on push (docs/deployment.md, "Deployments").
 *
 * A push to the deploy branch of a sponsored or live project, or a head
 * the reconciliation finds moved, queues a deployment (once per commit).
 * A runner takes the oldest queued one of a project with none running,
 * confirms the commit is the branch's head with Gitea, and runs the
 * platform's trigger with no database connection held: a deploy hook
 * POSTed, or a command run with the project's secrets as its environment,
 * under deploy.timeout, its output kept (the end of it) with every secret
 * masked.  Each status is posted to Gitea as the commit's
 * synstack/deploy status through the outbox.
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sodium.h>

#include "synstack.h"

#define DEPLOY_CAPTURE_MAX	(256 * 1024)	/* output read and kept */
#define DEPLOY_LIST_DEFAULT	20
#define DEPLOY_LIST_MAX		100
#define DEPLOY_KILL_GRACE_MS	5000
#define DEPLOY_STATUS_CONTEXT	"synstack/deploy"

static const char deployment_cols[] =
	"d.id, d.commit_sha AS commit, d.branch, d.trigger, d.platform,"
	" d.method, d.actor, d.status, d.reason, d.url,"
	" ss_iso(d.created_at) AS created_at, ss_iso(d.started_at) AS"
	" started_at, ss_iso(d.finished_at) AS finished_at";

/* -- masking -------------------------------------------------------------- */

static void
mask_one(char *text, const char *secret)
{
	size_t	n = strlen(secret);
	char	*p;

	if (n < DEPLOY_MASK_MIN)
		return;
	for (p = strstr(text, secret); p != NULL; p = strstr(p, secret)) {
		/* Same length, so nothing moves: '*' over every byte. */
		memset(p, '*', n);
		p += n;
	}
}

/*
 * Masks, in place, every value of the list, each line of a multi-line
 * value, and their base64 forms (standard and URL-safe, with and without
 * padding), so a deploy's output can be kept.
 */
void
mask_secrets(char *text, const char *const *values, size_t n)
{
	const int	 variants[] = { sodium_base64_VARIANT_ORIGINAL,
			    sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
			    sodium_base64_VARIANT_URLSAFE,
			    sodium_base64_VARIANT_URLSAFE_NO_PADDING };
	const char	*v, *line, *end;
	char		*b64, piece[VAULT_MAX_PLAIN + 1];
	size_t		 i, j, len, blen;

	for (i = 0; i < n; i++) {
		v = values[i];
		len = strlen(v);
		mask_one(text, v);
		for (j = 0; j < sizeof(variants) / sizeof(variants[0]); j++) {
			blen = sodium_base64_encoded_len(len, variants[j]);
			if ((b64 = malloc(blen)) == NULL)
				continue;
			sodium_bin2base64(b64, blen, (const unsigned char *)v,
			    len, variants[j]);
			mask_one(text, b64);
			free(b64);
		}
		/* Each line of a multi-line value (a PEM key) on its own. */
		for (line = v; strchr(v, '\n') != NULL && *line != '\0';
		    line = *end == '\0' ? end : end + 1) {
			end = strchr(line, '\n');
			if (end == NULL)
				end = line + strlen(line);
			if ((size_t)(end - line) < sizeof(piece)) {
				memcpy(piece, line, (size_t)(end - line));
				piece[end - line] = '\0';
				if (piece[0] != '\0' && piece[strlen(piece) - 1] ==
				    '\r')
					piece[strlen(piece) - 1] = '\0';
				mask_one(text, piece);
			}
		}
	}
}

/* -- queueing --------------------------------------------------------- */

/* The commit status Gitea shows for a deployment, queued in the outbox in
 * the transaction that set it. */
static int
post_status(PGconn *c, const struct conf *conf, const char *owner,
    const char *name, const char *sha, const char *status, const char *why,
    struct err *e)
{
	json_object	*body;
	const char	*state;
	char		 path[512], url[1024], desc[140];
	size_t		 n = strlen(conf->http_public_url);
	int		 rc;

	if (strcmp(status, "queued") == 0 || strcmp(status, "in_progress") ==
	    0)
		state = "pending";
	else if (strcmp(status, "success") == 0 ||
	    strcmp(status, "inactive") == 0)
		state = "success";
	else if (strcmp(status, "failure") == 0)
		state = "failure";
	else
		state = "error";
	snprintf(desc, sizeof(desc), "%s%s%.100s", status, why != NULL &&
	    *why != '\0' ? ": " : "", why != NULL ? why : "");
	gitea_repo_path(path, sizeof(path), owner, name, "/statuses/%s", sha);
	body = json_object_new_object();
	json_object_object_add(body, "state", json_object_new_string(state));
	json_object_object_add(body, "context",
	    json_object_new_string(DEPLOY_STATUS_CONTEXT));
	json_object_object_add(body, "description", json_object_new_string(
	    desc));
	if (n > 0) {
		char	*o = gitea_escape(owner), *r = gitea_escape(name);

		snprintf(url, sizeof(url), "%.*s/p/%s/%s", (int)(n > 0 &&
		    conf->http_public_url[n - 1] == '/' ? n - 1 : n),
		    conf->http_public_url, o != NULL ? o : "", r != NULL ? r :
		    "");
		free(o);
		free(r);
		json_object_object_add(body, "target_url",
		    json_object_new_string(url));
	}
	rc = outbox_add(c, "deploy_status", "POST", path, body, NULL, e);
	json_object_put(body);
	return rc;
}

/*
 * In the caller's transaction: the deploy branch's head was seen at sha
 * (a push of branch, or the reconciliation).  It is noted, and for a
 * sponsored or live project a deployment is queued, once per commit, and
 * supersedes the queued ones.  *queued says whether one was.
 */
int
deploy_enqueue(PGconn *c, const struct conf *conf, const char *project_id,
    const char *branch, const char *sha, const char *trigger,
    const char *actor, bool *queued, struct err *e)
{
	const char	*params[5] = { project_id, sha, branch, trigger, actor };
	PGresult	*res;
	char		 id[37], owner[101], name[101], why[80];
	int		 i;

	*queued = false;
	if ((res = db_query(c, e, "WITH p AS (SELECT p.id, p.owner, p.name,"
	    " p.deployment_platform, COALESCE(pl.trigger, 'manual') AS method,"
	    " p.deployment_status IN ('sponsored', 'live') AS deployable"
	    " FROM projects p LEFT JOIN platforms pl"
	    " ON pl.name = p.deployment_platform"
	    " WHERE p.id = $1 AND p.deleted_at IS NULL"
	    " AND COALESCE(p.deployment_branch, p.default_branch) = $3),"
	    " seen AS (UPDATE projects SET deploy_head = $2"
	    "  WHERE id = (SELECT id FROM p)),"
	    " ins AS (INSERT INTO deployments (project_id, commit_sha, branch,"
	    "  trigger, platform, method, actor, reason)"
	    "  SELECT id, $2, $3, $4, deployment_platform, method, $5,"
	    "  CASE WHEN method = 'manual' THEN 'waiting for an admin: the"
	    " platform deploys by hand (mark-deployed when done)' END"
	    "  FROM p WHERE deployable"
	    "  ON CONFLICT (project_id, commit_sha) WHERE trigger <> 'admin'"
	    "  DO NOTHING RETURNING id)"
	    " SELECT ins.id, p.owner, p.name FROM ins, p", 5, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	strlcpy_ss(owner, PQgetvalue(res, 0, 1), sizeof(owner));
	strlcpy_ss(name, PQgetvalue(res, 0, 2), sizeof(name));
	PQclear(res);
	*queued = true;
	snprintf(why, sizeof(why), "superseded by %.12s", sha);
	params[1] = id;
	params[2] = why;
	if ((res = db_query(c, e, "UPDATE deployments SET status = 'canceled',"
	    " reason = $3, finished_at = now(), updated_at = now()"
	    " WHERE project_id = $1 AND status = 'queued' AND id <> $2"
	    " RETURNING commit_sha", 3, params)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++)
		if (post_status(c, conf, owner, name, PQgetvalue(res, i, 0),
		    "canceled", why, e) == -1) {
			PQclear(res);
			return -1;
		}
	PQclear(res);
	log_kv(LOG_INFO, "deployment queued", "project", project_id, "commit",
	    sha, "trigger", trigger, NULL);
	return post_status(c, conf, owner, name, sha, "queued", NULL, e);
}

/* -- reading -------------------------------------------------------------- */

static json_object *
deployments_of(PGconn *c, const char *project_id, long limit,
    const char *before, struct err *e)
{
	const char	*params[3];
	char		 lim[24], sql[1024];
	PGresult	*res;
	json_object	*rows;

	snprintf(lim, sizeof(lim), "%ld", limit);
	params[0] = project_id;
	params[1] = lim;
	params[2] = before;
	snprintf(sql, sizeof(sql), "SELECT %s FROM deployments d"
	    " WHERE d.project_id = $1 AND ($3::uuid IS NULL OR"
	    " (d.created_at, d.id) < (SELECT created_at, id FROM deployments"
	    "  WHERE id = $3::uuid))"
	    " ORDER BY d.created_at DESC, d.id DESC LIMIT $2::int",
	    deployment_cols);
	if ((res = db_query(c, e, sql, 3, params)) == NULL)
		return NULL;
	rows = json_from_rows(res);
	PQclear(res);
	return rows;
}

/* What the public page and badges show of a project: its deployment,
 * public sponsors, the last deployments and how to sponsor it. */
json_object *
deploy_page_data(const struct core *core, const char *text, struct err *e)
{
	json_object	*data = NULL, *deps, *row;
	struct ref	 r;
	const char	*params[1];
	PGconn		*c;
	PGresult	*res = NULL;
	char		 name[256];

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	if (r.closed) {
		err_set(e, ERR_NOT_FOUND, "no project %s", name);
		goto out;
	}
	params[0] = r.project_id;
	if ((data = deploy_data(c, r.project_id, name, e)) == NULL ||
	    (res = db_query(c, e, "SELECT description, html_url,"
	    " ss_iso(updated_at) AS updated_at FROM projects WHERE id = $1", 1,
	    params)) == NULL || (deps = deployments_of(c, r.project_id, 5,
	    NULL, e)) == NULL) {
		json_object_put(data);
		data = NULL;
		goto out;
	}
	row = json_from_row(res, 0);
	json_object_object_foreach(row, k, v)
		json_object_object_add(data, k, json_object_get(v));
	json_object_put(row);
	json_object_object_add(data, "deployments", deps);
	json_object_object_add(data, "sponsor_contact",
	    core->conf->deploy_sponsor_contact[0] != '\0' ?
	    json_object_new_string(core->conf->deploy_sponsor_contact) : NULL);
out:
	PQclear(res);
	db_release(core->pool, c);
	return data;
}

json_object *
deploy_list(const struct core *core, const char *text, const char *limit_s,
    const char *before, struct err *e)
{
	struct ref	 r;
	PGconn		*c;
	json_object	*rows, *data, *answer = NULL;
	char		 name[256], msg[400], *end;
	long		 limit = DEPLOY_LIST_DEFAULT;
	size_t		 n;

	if (limit_s != NULL) {
		limit = strtol(limit_s, &end, 10);
		if (*limit_s == '\0' || *end != '\0' || limit < 1 ||
		    limit > DEPLOY_LIST_MAX) {
			err_set(e, ERR_INVALID_FIELD, "limit must be a number"
			    " from 1 to %d", DEPLOY_LIST_MAX);
			return NULL;
		}
	}
	if (before != NULL && !uuid_valid(before)) {
		err_set(e, ERR_INVALID_FIELD, "before must be a deployment id,"
		    " as next_before gives it");
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1 ||
	    (rows = deployments_of(c, r.project_id, limit + 1, before, e)) ==
	    NULL)
		goto out;
	n = json_object_array_length(rows);
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "next_before", n > (size_t)limit ?
	    json_object_get(json_object_object_get(json_object_array_get_idx(
	    rows, (size_t)limit - 1), "id")) : NULL);
	if (n > (size_t)limit)
		json_object_array_del_idx(rows, (size_t)limit, 1);
	json_object_object_add(data, "deployments", rows);
	snprintf(msg, sizeof(msg), "%zu deployments of %s, newest first%s",
	    json_object_array_length(rows), name, n > (size_t)limit ?
	    "; more before the last (before=next_before)" : "");
	answer = json_ok(msg, data, NULL);
out:
	db_release(core->pool, c);
	return answer;
}

json_object *
deploy_get(const struct core *core, const char *text, const char *id,
    struct err *e)
{
	struct ref	 r;
	const char	*params[2];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*answer = NULL, *row;
	char		 name[256], sql[1024], msg[400];

	if (!uuid_valid(id)) {
		err_set(e, ERR_NOT_FOUND, "no deployment '%.40s'", id);
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	params[0] = r.project_id;
	params[1] = id;
	snprintf(sql, sizeof(sql), "SELECT %s, d.log_excerpt FROM deployments d"
	    " WHERE d.project_id = $1 AND d.id = $2", deployment_cols);
	if ((res = db_query(c, e, sql, 2, params)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no deployment %s in %s", id, name);
		goto out;
	}
	row = json_from_row(res, 0);
	snprintf(msg, sizeof(msg), "Deployment of %.12s to %s: %s.",
	    PQgetvalue(res, 0, 1), name, PQgetvalue(res, 0, 7));
	answer = json_ok(msg, row, NULL);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

/* -- asking for one ----------------------------------------------------- */

/* The branch's head as Gitea says now: 0, or -1 (404: *gone). */
static int
branch_head(const struct conf *conf, const char *owner, const char *name,
    const char *branch, char *sha, size_t size, bool *gone, struct err *e)
{
	struct gitea_req	 rq = { 0 };
	struct gitea_resp	 rs = { 0 };
	const char		*id;
	char			 path[1024], *b = gitea_escape(branch);

	*gone = false;
	gitea_repo_path(path, sizeof(path), owner, name, "/branches/%s",
	    b != NULL ? b : "");
	free(b);
	rq.path = path;
	if (gitea_call(conf, &rq, &rs, e) == -1) {
		*gone = rs.status == 404;
		gitea_resp_free(&rs);
		return -1;
	}
	id = json_path_str(rs.json, "commit.id");
	strlcpy_ss(sha, id != NULL ? id : "", size);
	gitea_resp_free(&rs);
	return 0;
}

/* Locks the project row; its status and deploy branch. */
static int
project_lock(PGconn *c, const char *project_id, char *status, char *branch,
    struct err *e)
{
	const char	*params[1] = { project_id };
	PGresult	*res;

	if ((res = db_query(c, e, "SELECT deployment_status,"
	    " COALESCE(deployment_branch, default_branch) FROM projects"
	    " WHERE id = $1 FOR UPDATE", 1, params)) == NULL)
		return -1;
	strlcpy_ss(status, PQgetvalue(res, 0, 0), 16);
	strlcpy_ss(branch, PQgetvalue(res, 0, 1), DEPLOY_BRANCH_LEN);
	PQclear(res);
	return 0;
}

/* An admin deploys the deploy branch's head now (trigger admin). */
json_object *
deploy_request(const struct core *core, const struct actor *who,
    const char *text, struct err *e)
{
	struct ref	 r;
	const char	*params[1];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*answer = NULL, *data;
	char		 name[256], status[16], branch[DEPLOY_BRANCH_LEN],
			 sha[72], msg[512];
	bool		 gone, queued;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	params[0] = r.project_id;
	if ((res = db_query(c, e, "SELECT deployment_status,"
	    " COALESCE(deployment_branch, default_branch) FROM projects"
	    " WHERE id = $1", 1, params)) == NULL)
		goto out;
	strlcpy_ss(status, PQgetvalue(res, 0, 0), sizeof(status));
	strlcpy_ss(branch, PQgetvalue(res, 0, 1), sizeof(branch));
	PQclear(res);
	res = NULL;
	db_release(core->pool, c);
	c = NULL;
	if (strcmp(status, "sponsored") != 0 && strcmp(status, "live") != 0) {
		err_set(e, ERR_INVALID_TRANSITION, "the deployment of %s is %s:"
		    " only a sponsored or live project deploys", name, status);
		return NULL;
	}
	if (branch_head(core->conf, r.owner, r.name, branch, sha, sizeof(sha),
	    &gone, e) == -1) {
		if (gone) {
			err_clear(e);
			err_set(e, ERR_NOT_FOUND, "the deploy branch '%s' of %s"
			    " does not exist", branch, name);
		}
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (db_begin(c, e) == -1)
		goto out;
	/* An admin's deploy may repeat a commit: trigger admin is not
	 * bound to once per commit. */
	if (deploy_enqueue(c, core->conf, r.project_id, branch, sha, "admin",
	    who->id, &queued, e) == -1 || audit_write(c, who,
	    "deployment.requested", "project", r.project_id, NULL, e) == -1 ||
	    db_commit(c, e) == -1) {
		db_rollback(c);
		goto out;
	}
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "branch", json_object_new_string(branch));
	json_object_object_add(data, "commit", json_object_new_string(sha));
	json_object_object_add(data, "queued", json_object_new_boolean(queued));
	snprintf(msg, sizeof(msg), queued ? "Deploying %.12s of %s (%s);"
	    " GET .../deployments shows how it goes." : "%.12s of %s (%s) is"
	    " not deployable now.", sha, name, branch);
	answer = json_ok(msg, data, NULL);
out:
	PQclear(res);
	if (c != NULL)
		db_release(core->pool, c);
	return answer;
}

/*
 * mark-deployed: an admin deployed a commit by hand (or saw it deployed):
 * the deployment is a success, the project live at url.
 */
json_object *
deploy_mark(const struct core *core, const struct actor *who,
    const char *text, json_object *body, struct err *e)
{
	static const char *const fields[] = { "url", "commit", NULL };
	struct ref	 r;
	const char	*url, *commit, *params[5];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*answer = NULL, *detail, *data;
	char		 name[256], status[16], branch[DEPLOY_BRANCH_LEN],
			 sha[72], id[37], msg[512];
	size_t		 n;

	if (!json_object_is_type(body, json_type_object) ||
	    json_only_keys(body, fields, e) == -1 ||
	    json_get_str(body, "url", true, 2048, &url, e) == -1 ||
	    json_get_str(body, "commit", false, 64, &commit, e) == -1) {
		if (e->code == ERR_NONE)
			err_set(e, ERR_INVALID_FIELD, "the body must be an"
			    " object");
		return NULL;
	}
	if (!http_url_valid(url)) {
		err_set(e, ERR_INVALID_FIELD, "url must be an http(s) URL");
		return NULL;
	}
	n = commit != NULL ? strlen(commit) : 0;
	if (commit != NULL && (n < 40 || strspn(commit, "0123456789abcdef") !=
	    n)) {
		err_set(e, ERR_INVALID_FIELD, "commit must be a full commit"
		    " SHA (40 or 64 lower-case hex digits)");
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1 ||
	    db_begin(c, e) == -1)
		goto out;
	if (project_lock(c, r.project_id, status, branch, e) == -1)
		goto fail;
	if (strcmp(status, "sponsored") != 0 && strcmp(status, "live") != 0) {
		err_set(e, ERR_INVALID_TRANSITION, "the deployment of %s is %s:"
		    " only a sponsored or live project is marked deployed",
		    name, status);
		goto fail;
	}
	/* Which commit: the one named, else the newest waiting for an
	 * admin, else the deploy branch's head as last seen. */
	params[0] = r.project_id;
	params[1] = commit;
	if ((res = db_query(c, e, "SELECT COALESCE($2::text, (SELECT"
	    " commit_sha FROM deployments WHERE project_id = $1 AND status ="
	    " 'queued' ORDER BY created_at DESC LIMIT 1), deploy_head, '')"
	    " FROM projects WHERE id = $1", 2, params)) == NULL)
		goto fail;
	strlcpy_ss(sha, PQgetvalue(res, 0, 0), sizeof(sha));
	PQclear(res);
	res = NULL;
	if (sha[0] == '\0') {
		err_set(e, ERR_INVALID_FIELD, "no deployment of %s waits and no"
		    " head of %s was seen: name the commit", name, branch);
		goto fail;
	}
	params[1] = sha;
	params[2] = branch;
	params[3] = who->id;
	params[4] = url;
	/* The waiting (or running) deployment of that commit, or a new
	 * one, becomes the success; the one before it is inactive. */
	if ((res = db_query(c, e, "WITH w AS (UPDATE deployments SET"
	    " status = 'success', url = $5, reason = 'marked deployed by ' ||"
	    " $4, finished_at = now(), updated_at = now() WHERE id = (SELECT"
	    " id FROM deployments WHERE project_id = $1 AND commit_sha = $2"
	    " AND status IN ('queued', 'in_progress') ORDER BY created_at DESC"
	    " LIMIT 1) RETURNING id),"
	    " n AS (INSERT INTO deployments (project_id, commit_sha, branch,"
	    " trigger, platform, method, actor, status, reason, url,"
	    " started_at, finished_at) SELECT $1, $2, $3, 'admin',"
	    " deployment_platform, 'manual', $4, 'success', 'marked deployed by'"
	    " || ' ' || $4, $5, now(), now() FROM projects WHERE id = $1 AND"
	    " NOT EXISTS (SELECT 1 FROM w) RETURNING id)"
	    " SELECT id FROM w UNION ALL SELECT id FROM n", 5, params)) == NULL)
		goto fail;
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	PQclear(res);
	res = NULL;
	params[1] = id;
	params[2] = url;
	if (db_run(c, e, "UPDATE deployments SET status = 'inactive',"
	    " updated_at = now() WHERE project_id = $1 AND status = 'success'"
	    " AND id <> $2", 2, params) == -1 || db_run(c, e, "UPDATE projects"
	    " SET deployment_status = 'live', deployment_resume = NULL,"
	    " deployment_url = $2, deployed_at = now(), updated_at = now()"
	    " WHERE id = $1", 2, (const char *[]){ r.project_id, url }) == -1)
		goto fail;
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(name));
	json_object_object_add(detail, "commit", json_object_new_string(sha));
	json_object_object_add(detail, "url", json_object_new_string(url));
	json_object_object_add(detail, "from", json_object_new_string(status));
	json_object_object_add(detail, "to", json_object_new_string("live"));
	if (audit_write(c, who, "deployment.marked", "project", r.project_id,
	    detail, e) == -1 || post_status(c, core->conf, r.owner, r.name, sha,
	    "success", "marked deployed", e) == -1 || db_commit(c, e) == -1)
		goto fail;
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "deployment", json_object_new_string(id));
	json_object_object_add(data, "commit", json_object_new_string(sha));
	json_object_object_add(data, "url", json_object_new_string(url));
	json_object_object_add(data, "status", json_object_new_string("live"));
	snprintf(msg, sizeof(msg), "%s is live at %s (%.12s).", name, url, sha);
	answer = json_ok(msg, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

/* -- running one ---------------------------------------------------------- */

struct deploy_job {
	char	 id[37], project[37], owner[101], name[101], sha[72],
		 branch[DEPLOY_BRANCH_LEN], method[16], platform[40],
		 clone_url[1024];
};

/* What a run keeps of the output: its last DEPLOY_CAPTURE_MAX bytes. */
struct capture {
	char	 buf[DEPLOY_CAPTURE_MAX + 1];
	size_t	 len;
	bool	 cut;		/* earlier bytes were dropped */
};

static void
capture_add(struct capture *cap, const char *p, size_t n)
{
	if (n >= DEPLOY_CAPTURE_MAX) {
		p += n - DEPLOY_CAPTURE_MAX;
		n = DEPLOY_CAPTURE_MAX;
		cap->len = 0;
		cap->cut = true;
	} else if (cap->len + n > DEPLOY_CAPTURE_MAX) {
		size_t	drop = cap->len + n - DEPLOY_CAPTURE_MAX;

		memmove(cap->buf, cap->buf + drop, cap->len - drop);
		cap->len -= drop;
		cap->cut = true;
	}
	memcpy(cap->buf + cap->len, p, n);
	cap->len += n;
	cap->buf[cap->len] = '\0';
}

/* The project's secret values, opened: names[i]=values[i]. */
struct job_secrets {
	char	**names, **values;
	size_t	  n;
};

static void
job_secrets_free(struct job_secrets *js)
{
	size_t	i;

	for (i = 0; i < js->n; i++) {
		free(js->names[i]);
		vault_free(js->values[i]);
	}
	free(js->names);
	free(js->values);
	memset(js, 0, sizeof(*js));
}

static int
job_secrets_load(const struct core *core, const struct deploy_job *job,
    struct job_secrets *js, char *reason, size_t rsize, struct err *e)
{
	const char	*params[1] = { job->project };
	PGresult	*res;
	char		 ad[256];
	int		 i, n;

	memset(js, 0, sizeof(*js));
	if ((res = db_exec(core->pool, e, "SELECT key_name, encrypted_value"
	    " FROM deployment_secrets WHERE project_id = $1 AND"
	    " encrypted_value IS NOT NULL ORDER BY key_name", 1, params)) ==
	    NULL)
		return -1;
	n = PQntuples(res);
	js->names = calloc((size_t)n + 1, sizeof(char *));
	js->values = calloc((size_t)n + 1, sizeof(char *));
	if (js->names == NULL || js->values == NULL) {
		PQclear(res);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	for (i = 0; i < n; i++) {
		snprintf(ad, sizeof(ad), "project:%s:secret:%s", job->project,
		    PQgetvalue(res, i, 0));
		js->names[i] = strdup(PQgetvalue(res, i, 0));
		if ((js->values[i] = vault_open(core->vault, ad,
		    PQgetvalue(res, i, 1), e)) == NULL) {
			snprintf(reason, rsize, "secret %.100s does not open:"
			    " %.300s", PQgetvalue(res, i, 0), e->message);
			js->n = (size_t)i + 1;
			PQclear(res);
			err_clear(e);
			return 1;
		}
		js->n = (size_t)i + 1;
	}
	PQclear(res);
	return 0;
}

static const char *
job_secret(const struct job_secrets *js, const char *name)
{
	size_t	i;

	for (i = 0; i < js->n; i++)
		if (strcmp(js->names[i], name) == 0)
			return js->values[i];
	return NULL;
}

static size_t
hook_body(char *p, size_t size, size_t n, void *arg)
{
	capture_add(arg, p, size * n);
	return size * n;
}

/* POSTs to the deploy hook; the URL is a secret: it is never logged. */
static const char *
run_hook(const struct conf *conf, const char *url, struct capture *cap,
    char *reason, size_t rsize)
{
	CURL		*curl;
	CURLcode	 rc;
	long		 code = 0;
	char		 line[96];

	if ((curl = curl_easy_init()) == NULL) {
		snprintf(reason, rsize, "no curl handle");
		return "error";
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_POST, 1L);
	curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, conf->deploy_timeout);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "synstackd deploy");
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, hook_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, cap);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		/* curl_easy_strerror() names no host, unlike its error
		 * buffer. */
		snprintf(reason, rsize, "the deploy hook was not answered: %s",
		    curl_easy_strerror(rc));
		return "error";
	}
	snprintf(line, sizeof(line), "\n(the deploy hook answered %ld)\n",
	    code);
	capture_add(cap, line, strlen(line));
	snprintf(reason, rsize, "the deploy hook answered %ld", code);
	return code >= 200 && code < 300 ? "success" : "failure";
}

static pthread_mutex_t	 child_mtx = PTHREAD_MUTEX_INITIALIZER;
static pid_t		 child_pid;	/* the command running, or 0 */
static bool		 child_stop;	/* shutting down */

void
deploy_interrupt(void)
{
	pthread_mutex_lock(&child_mtx);
	child_stop = true;
	if (child_pid > 0)
		kill(-child_pid, SIGTERM);
	pthread_mutex_unlock(&child_mtx);
}

/* argv[0] found on PATH before fork, so the child only calls execve. */
static char *
resolve_program(const char *prog)
{
	const char	*path = "/usr/local/bin:/usr/bin:/bin", *p, *end;
	char		 buf[4096];

	if (strchr(prog, '/') != NULL)
		return strdup(prog);
	for (p = path; *p != '\0'; p = *end == '\0' ? end : end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		snprintf(buf, sizeof(buf), "%.*s/%s", (int)(end - p), p, prog);
		if (access(buf, X_OK) == 0)
			return strdup(buf);
	}
	return NULL;
}

/* Strings for an argv or an environment, freed (and wiped) together. */
struct strvec {
	char	**v;		/* NULL-terminated */
	size_t	  n, cap;
};

static void	strvec_add(struct strvec *, const char *, ...) SS_PRINTF(2, 3);

static void
strvec_add(struct strvec *sv, const char *fmt, ...)
{
	va_list	  ap;
	char	**v;

	if (sv->n + 2 > sv->cap) {
		if ((v = realloc(sv->v, (sv->cap + 16) * sizeof(char *))) ==
		    NULL)
			return;
		sv->v = v;
		sv->cap += 16;
	}
	va_start(ap, fmt);
	if (vasprintf(&sv->v[sv->n], fmt, ap) != -1)
		sv->n++;
	va_end(ap);
	sv->v[sv->n] = NULL;
}

static void
strvec_free(struct strvec *sv)
{
	size_t	i;

	for (i = 0; i < sv->n; i++) {
		sodium_memzero(sv->v[i], strlen(sv->v[i]));
		free(sv->v[i]);
	}
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

/*
 * Runs argv in dir, in a session of its own (so a timeout stops all it
 * started), stdin from /dev/null, stdout and stderr captured, until
 * deadline: SIGTERM then, SIGKILL DEPLOY_KILL_GRACE_MS later.  0 with
 * *status (and *timed_out) once it ran; -1 with a reason when it could
 * not start.
 */
static int
spawn(char *const argv[], char *const envp[], const char *dir,
    long deadline, struct capture *cap, int *status, bool *timed_out,
    char *reason, size_t rsize)
{
	struct pollfd	 pfd;
	char		*prog, buf[4096];
	long		 left, killed_at = 0;
	ssize_t		 got;
	pid_t		 pid;
	int		 fds[2], devnull;

	*timed_out = false;
	if ((prog = resolve_program(argv[0])) == NULL) {
		snprintf(reason, rsize, "%.200s is not a program on"
		    " /usr/local/bin:/usr/bin:/bin", argv[0]);
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) == -1) {
		snprintf(reason, rsize, "no pipe: %s", strerror(errno));
		free(prog);
		return -1;
	}
	pthread_mutex_lock(&child_mtx);
	if (child_stop || (pid = fork()) == -1) {
		pthread_mutex_unlock(&child_mtx);
		snprintf(reason, rsize, child_stop ? "interrupted: synstackd is"
		    " stopping" : "cannot fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(prog);
		return -1;
	}
	if (pid == 0) {
		/* The child: async-signal-safe calls only, then execve. */
		setsid();
		devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close_range(3, ~0U, 0);
		if (chdir(dir) == -1)
			_exit(126);
		execve(prog, argv, envp);
		(void)!write(2, "synstackd: cannot run it\n", 25);
		_exit(127);
	}
	child_pid = pid;
	pthread_mutex_unlock(&child_mtx);
	free(prog);
	close(fds[1]);
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	for (;;) {
		left = (killed_at != 0 ? killed_at + DEPLOY_KILL_GRACE_MS :
		    deadline) - now_ms();
		if (left <= 0) {
			if (killed_at == 0) {
				*timed_out = true;
				kill(-pid, SIGTERM);
				killed_at = now_ms();
				continue;
			}
			kill(-pid, SIGKILL);
			break;
		}
		if (poll(&pfd, 1, (int)(left > 1000 ? 1000 : left)) < 0 &&
		    errno != EINTR)
			break;
		if (pfd.revents & (POLLIN | POLLHUP)) {
			if ((got = read(fds[0], buf, sizeof(buf))) <= 0)
				break;
			capture_add(cap, buf, (size_t)got);
		}
	}
	close(fds[0]);
	waitpid(pid, status, 0);
	pthread_mutex_lock(&child_mtx);
	child_pid = 0;
	pthread_mutex_unlock(&child_mtx);
	return 0;
}

/* What a finished spawn says: success, failure or error, and why. */
static const char *
spawn_result(const char *what, int status, bool timed_out, long timeout_ms,
    char *reason, size_t rsize)
{
	if (timed_out) {
		snprintf(reason, rsize, "timed out after %ld s",
		    timeout_ms / 1000);
		return "error";
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		snprintf(reason, rsize, "%.200s exited with status 0", what);
		return "success";
	}
	if (WIFEXITED(status)) {
		snprintf(reason, rsize, "%.200s exited with status %d", what,
		    WEXITSTATUS(status));
		return WEXITSTATUS(status) >= 126 ? "error" : "failure";
	}
	snprintf(reason, rsize, "%.200s was killed by signal %d%s", what,
	    WTERMSIG(status), child_stop ? " (synstackd is stopping)" : "");
	return "error";
}

/*
 * A checkout of the commit in dir/src (git, with the daemon's Gitea token
 * in git's environment only: neither on a command line nor in the deploy
 * command's environment), then the platform's argv run in it with the
 * project's secrets as environment variables.
 */
static const char *
run_command(const struct conf *conf, const struct deploy_job *job,
    json_object *argv_j, const struct job_secrets *js, struct capture *cap,
    char *reason, size_t rsize)
{
	struct strvec	 argv = { 0 }, env = { 0 };
	const char	*result = "error", *token[1];
	char		 dir[64], src[96];
	long		 deadline = now_ms() + conf->deploy_timeout;
	size_t		 i, n;
	int		 status;
	bool		 timed_out;

	n = json_object_array_length(argv_j);
	strlcpy_ss(dir, "/tmp/synstack-deploy-XXXXXX", sizeof(dir));
	if (n == 0 || n > 32) {
		snprintf(reason, rsize, "no command to run");
		return "error";
	}
	if (mkdtemp(dir) == NULL) {
		snprintf(reason, rsize, "no working directory: %s",
		    strerror(errno));
		return "error";
	}
	snprintf(src, sizeof(src), "%s/src", dir);

	strvec_add(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
	strvec_add(&env, "HOME=%s", dir);
	strvec_add(&env, "LANG=C.UTF-8");
	strvec_add(&env, "GIT_TERMINAL_PROMPT=0");
	strvec_add(&env, "GIT_CONFIG_NOSYSTEM=1");
	if (conf->gitea_admin_token[0] != '\0') {
		strvec_add(&env, "GIT_CONFIG_COUNT=1");
		strvec_add(&env, "GIT_CONFIG_KEY_0=http.extraHeader");
		strvec_add(&env, "GIT_CONFIG_VALUE_0=Authorization: token %s",
		    conf->gitea_admin_token);
	}
	strvec_add(&argv, "git");
	strvec_add(&argv, "clone");
	strvec_add(&argv, "--quiet");
	strvec_add(&argv, "--single-branch");
	strvec_add(&argv, "--branch");
	strvec_add(&argv, "%s", job->branch);
	strvec_add(&argv, "%s", job->clone_url);
	strvec_add(&argv, "src");
	if (spawn(argv.v, env.v, dir, deadline, cap, &status, &timed_out,
	    reason, rsize) == -1)
		goto out;
	result = spawn_result("git clone", status, timed_out,
	    conf->deploy_timeout, reason, rsize);
	strvec_free(&argv);
	if (strcmp(result, "success") == 0) {
		strvec_add(&argv, "git");
		strvec_add(&argv, "checkout");
		strvec_add(&argv, "--quiet");
		strvec_add(&argv, "--detach");
		strvec_add(&argv, "%s", job->sha);
		if (spawn(argv.v, env.v, src, deadline, cap, &status,
		    &timed_out, reason, rsize) == -1) {
			result = "error";
			goto out;
		}
		result = spawn_result("git checkout", status, timed_out,
		    conf->deploy_timeout, reason, rsize);
		strvec_free(&argv);
	}
	token[0] = conf->gitea_admin_token;
	mask_secrets(cap->buf, token, 1);
	if (strcmp(result, "success") != 0) {
		/* The checkout's failure is the deploy's error. */
		if (strncmp(reason, "git ", 4) == 0 && strcmp(result,
		    "failure") == 0)
			result = "error";
		goto out;
	}

	/* Ours first: a secret cannot pose as SYNSTACK_COMMIT. */
	strvec_free(&env);
	strvec_add(&env, "SYNSTACK_PROJECT=%s/%s", job->owner, job->name);
	strvec_add(&env, "SYNSTACK_COMMIT=%s", job->sha);
	strvec_add(&env, "SYNSTACK_BRANCH=%s", job->branch);
	strvec_add(&env, "SYNSTACK_CLONE_URL=%s", job->clone_url);
	strvec_add(&env, "SYNSTACK_DEPLOYMENT=%s", job->id);
	for (i = 0; i < js->n; i++)
		if (!secret_name_reserved(js->names[i]))
			strvec_add(&env, "%s=%s", js->names[i], js->values[i]);
	strvec_add(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
	strvec_add(&env, "HOME=%s", dir);
	strvec_add(&env, "LANG=C.UTF-8");
	for (i = 0; i < n; i++)
		strvec_add(&argv, "%s", json_object_get_string(
		    json_object_array_get_idx(argv_j, i)));
	if (spawn(argv.v, env.v, src, deadline, cap, &status, &timed_out,
	    reason, rsize) == -1) {
		result = "error";
		goto out;
	}
	result = spawn_result(argv.v[0], status, timed_out,
	    conf->deploy_timeout, reason, rsize);
out:
	strvec_free(&argv);
	strvec_free(&env);
	remove_tree(dir);
	return result;
}

/* Records the end of a run: status, reason, the excerpt (masked). */
static int
job_finish(const struct core *core, const struct deploy_job *job,
    const char *status, const char *reason, struct capture *cap,
    const struct job_secrets *js, struct err *e)
{
	const char	*params[5];
	const char	*excerpt;
	PGconn		*c;
	size_t		 keep = (size_t)core->conf->deploy_log_excerpt;
	int		 rc = -1;

	if (js != NULL)
		mask_secrets(cap->buf, (const char *const *)js->values, js->n);
	excerpt = cap->buf;
	if (cap->len > keep) {
		excerpt = cap->buf + cap->len - keep;
		/* Start on a line, and on a character. */
		if (strchr(excerpt, '\n') != NULL && strchr(excerpt, '\n') -
		    excerpt < 200)
			excerpt = strchr(excerpt, '\n') + 1;
	}
	utf8_sanitize((char *)(uintptr_t)excerpt);
	params[0] = job->id;
	params[1] = status;
	params[2] = reason;
	params[3] = excerpt;
	params[4] = job->project;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1 || db_run(c, e, "UPDATE deployments SET"
	    " status = $2, reason = $3, log_excerpt = $4, finished_at = now(),"
	    " updated_at = now() WHERE id = $1 AND status = 'in_progress'", 4,
	    params) == -1)
		goto fail;
	if (strcmp(status, "success") == 0 && (db_run(c, e, "UPDATE"
	    " deployments SET status = 'inactive', updated_at = now() WHERE"
	    " project_id = $2 AND status = 'success' AND id <> $1", 2,
	    (const char *[]){ job->id, job->project }) == -1 || db_run(c, e,
	    "UPDATE projects SET deployed_at = now(), updated_at = now()"
	    " WHERE id = $1", 1, &params[4]) == -1))
		goto fail;
	if (post_status(c, core->conf, job->owner, job->name, job->sha, status,
	    reason, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	log_kv(strcmp(status, "success") == 0 ? LOG_INFO : LOG_WARN,
	    "deployment finished", "project", job->project, "commit", job->sha,
	    "status", status, "reason", reason, NULL);
	rc = 0;
	goto out;
fail:
	db_rollback(c);
out:
	db_release(core->pool, c);
	return rc;
}

int
deploy_run_next(const struct core *core, bool *ran, struct err *e)
{
	struct deploy_job	 job;
	struct job_secrets	 js = { 0 };
	struct capture		*cap;
	const char		*params[1], *status = "error", *url;
	PGconn			*c;
	PGresult		*res = NULL, *pl = NULL;
	json_object		*row = NULL;
	char			 reason[512], head[72];
	bool			 gone;
	int			 rc = -1;

	*ran = false;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1)
		goto out_c;
	res = db_query(c, e, "UPDATE deployments d SET status = 'in_progress',"
	    " started_at = now(), updated_at = now() FROM projects p"
	    " WHERE p.id = d.project_id AND d.id = (SELECT q.id FROM"
	    " deployments q WHERE q.status = 'queued' AND q.method <> 'manual'"
	    " AND NOT EXISTS (SELECT 1 FROM deployments r WHERE r.project_id ="
	    " q.project_id AND r.status = 'in_progress')"
	    " ORDER BY q.created_at LIMIT 1 FOR UPDATE SKIP LOCKED)"
	    " RETURNING d.id, d.project_id, p.owner, p.name, d.commit_sha,"
	    " d.branch, d.method, COALESCE(d.platform, ''), p.clone_url", 0,
	    NULL);
	if (res == NULL) {
		db_rollback(c);
		/* Another daemon started that project's meanwhile. */
		if (db_unique_violation(e)) {
			err_clear(e);
			rc = 0;
		}
		goto out_c;
	}
	if (PQntuples(res) == 0) {
		db_rollback(c);
		rc = 0;
		goto out_c;
	}
	memset(&job, 0, sizeof(job));
	strlcpy_ss(job.id, PQgetvalue(res, 0, 0), sizeof(job.id));
	strlcpy_ss(job.project, PQgetvalue(res, 0, 1), sizeof(job.project));
	strlcpy_ss(job.owner, PQgetvalue(res, 0, 2), sizeof(job.owner));
	strlcpy_ss(job.name, PQgetvalue(res, 0, 3), sizeof(job.name));
	strlcpy_ss(job.sha, PQgetvalue(res, 0, 4), sizeof(job.sha));
	strlcpy_ss(job.branch, PQgetvalue(res, 0, 5), sizeof(job.branch));
	strlcpy_ss(job.method, PQgetvalue(res, 0, 6), sizeof(job.method));
	strlcpy_ss(job.platform, PQgetvalue(res, 0, 7), sizeof(job.platform));
	strlcpy_ss(job.clone_url, PQgetvalue(res, 0, 8),
	    sizeof(job.clone_url));
	PQclear(res);
	res = NULL;
	if (post_status(c, core->conf, job.owner, job.name, job.sha,
	    "in_progress", NULL, e) == -1 || db_commit(c, e) == -1) {
		db_rollback(c);
		goto out_c;
	}
	params[0] = job.platform;
	pl = db_query(c, e, "SELECT trigger, hook_secret, to_json(command) AS"
	    " command FROM platforms WHERE name = $1", 1, params);
	db_release(core->pool, c);
	c = NULL;
	*ran = true;
	if ((cap = calloc(1, sizeof(*cap))) == NULL) {
		PQclear(pl);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	reason[0] = '\0';
	/* A delivery is a hint: only the branch's head, as Gitea says now,
	 * is deployed. */
	if (branch_head(core->conf, job.owner, job.name, job.branch, head,
	    sizeof(head), &gone, e) == -1) {
		snprintf(reason, sizeof(reason), gone ? "the branch %.200s is"
		    " gone" : "Gitea could not be asked for the head of %.200s:"
		    " %.200s", job.branch, e->message);
		status = gone ? "canceled" : "error";
		err_clear(e);
	} else if (strcmp(head, job.sha) != 0) {
		snprintf(reason, sizeof(reason), "not the head of %s any more"
		    " (it is %.12s)", job.branch, head);
		status = "canceled";
	} else if (pl == NULL || PQntuples(pl) == 0) {
		snprintf(reason, sizeof(reason), "the platform '%s' is gone",
		    job.platform);
		err_clear(e);
	} else if (job_secrets_load(core, &job, &js, reason, sizeof(reason),
	    e) != 0) {
		if (reason[0] == '\0')
			snprintf(reason, sizeof(reason), "the secrets could not"
			    " be read: %.300s", e->message);
		err_clear(e);
	} else if (strcmp(PQgetvalue(pl, 0, 0), "hook") == 0) {
		if ((url = job_secret(&js, PQgetvalue(pl, 0, 1))) == NULL)
			snprintf(reason, sizeof(reason), "the secret %s that"
			    " holds the deploy hook's URL is not set",
			    PQgetvalue(pl, 0, 1));
		else if (!http_url_valid(url))
			snprintf(reason, sizeof(reason), "the secret %s is not"
			    " an http(s) URL", PQgetvalue(pl, 0, 1));
		else
			status = run_hook(core->conf, url, cap, reason,
			    sizeof(reason));
	} else if (strcmp(PQgetvalue(pl, 0, 0), "command") == 0) {
		row = json_from_row(pl, 0);
		status = run_command(core->conf, &job, json_object_object_get(
		    row, "command"), &js, cap, reason, sizeof(reason));
	} else {
		snprintf(reason, sizeof(reason), "the platform deploys by hand"
		    " now: mark-deployed when done");
		status = "canceled";
	}
	rc = job_finish(core, &job, status, reason, cap, &js, e);
	json_object_put(row);
	job_secrets_free(&js);
	sodium_memzero(cap, sizeof(*cap));
	free(cap);
	PQclear(pl);
	return rc;
out_c:
	PQclear(res);
	if (c != NULL)
		db_release(core->pool, c);
	return rc;
}

int
deploy_reap(const struct core *core, struct err *e)
{
	char		 secs[24];
	const char	*params[1] = { secs };
	PGconn		*c;
	PGresult	*res = NULL;
	int		 i, rc = -1;

	snprintf(secs, sizeof(secs), "%ld", core->conf->deploy_timeout / 1000 +
	    DEPLOY_KILL_GRACE_MS / 1000 + 60);
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1 || (res = db_query(c, e, "UPDATE deployments d"
	    " SET status = 'error', reason = 'interrupted: the synstackd"
	    " running it stopped', finished_at = now(), updated_at = now()"
	    " FROM projects p WHERE p.id = d.project_id AND d.status ="
	    " 'in_progress' AND d.started_at < now() - make_interval(secs =>"
	    " $1::int) RETURNING p.owner, p.name, d.commit_sha", 1, params)) ==
	    NULL)
		goto fail;
	for (i = 0; i < PQntuples(res); i++)
		if (post_status(c, core->conf, PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), "error",
		    "interrupted", e) == -1)
			goto fail;
	if (db_commit(c, e) == -1)
		goto fail;
	rc = 0;
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return rc;
}

/* The reconciliation's part, on its connection: sponsored and live
 * projects' deploy heads. */
int
deploy_reconcile(const struct core *core, PGconn *c, struct err *e)
{
	PGresult	*res, *u;
	const char	*p[2];
	char		 head[72];
	bool		 gone, queued;
	int		 i, rc = 0;

	if ((res = db_query(c, e, "SELECT id, owner, name,"
	    " COALESCE(deployment_branch, default_branch), deploy_head"
	    " FROM projects WHERE deployment_status IN ('sponsored', 'live')"
	    " AND deleted_at IS NULL ORDER BY id", 0, NULL)) == NULL)
		return -1;
	for (i = 0; rc == 0 && i < PQntuples(res); i++) {
		if (branch_head(core->conf, PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3), head,
		    sizeof(head), &gone, e) == -1) {
			/* Gitea away: the next run sees it; a gone branch is
			 * the project's to fix. */
			rc = !gone && e->code == ERR_GITEA_UNAVAILABLE ? -1 : 0;
			if (rc == 0)
				err_clear(e);
			continue;
		}
		if (head[0] == '\0' || strcmp(head, PQgetvalue(res, i, 4)) == 0)
			continue;
		p[0] = PQgetvalue(res, i, 0);
		p[1] = head;
		/* Never seen before: nothing is known to have moved. */
		if (PQgetisnull(res, i, 4)) {
			if ((u = db_query(c, e, "UPDATE projects SET deploy_head"
			    " = $2 WHERE id = $1 AND deploy_head IS NULL", 2,
			    p)) == NULL)
				rc = -1;
			PQclear(u);
			continue;
		}
		if (db_begin(c, e) == -1 || deploy_enqueue(c, core->conf, p[0],
		    PQgetvalue(res, i, 3), head, "reconciliation",
		    "system:reconciliation", &queued, e) == -1 ||
		    db_commit(c, e) == -1) {
			db_rollback(c);
			rc = -1;
		} else if (queued)
			log_kv(LOG_INFO, "a deploy head moved without a"
			    " delivery", "project", p[0], "commit", head, NULL);
	}
	PQclear(res);
	return rc;
}
