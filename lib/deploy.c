/*
 * deploy.c: a project's deployment status, its transitions (one table),
 * readiness read from Gitea, and the lists that show them
 * (docs/deployment.md).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "synstack.h"

#define DEPLOY_BRANCH_MAX	255
#define DEPLOY_URL_MAX		2048
#define README_MAX_BYTES	(512 * 1024)
#define ADMIN_PROJECTS_DEFAULT	50
#define ADMIN_PROJECTS_MAX	200

enum deploy_need {
	NEED_NOTHING,
	NEED_READY,		/* readiness passes, checked now */
	NEED_SPONSOR,		/* an active sponsor covering hosting */
	NEED_SPONSOR_PLATFORM	/* that, and a platform */
};

static const struct deploy_transition {
	const char		*from, *to;
	enum deploy_need	 need;
} transitions[] = {
	{ "none",	"ready",	NEED_READY },
	{ "ready",	"none",		NEED_NOTHING },
	{ "ready",	"sponsored",	NEED_SPONSOR },
	{ "sponsored",	"live",		NEED_SPONSOR_PLATFORM },
	{ "sponsored",	"ready",	NEED_NOTHING },
	{ "sponsored",	"suspended",	NEED_NOTHING },
	{ "live",	"sponsored",	NEED_NOTHING },
	{ "live",	"suspended",	NEED_NOTHING },
	{ "suspended",	"sponsored",	NEED_SPONSOR },
	{ "suspended",	"live",		NEED_SPONSOR_PLATFORM },
	{ "suspended",	"ready",	NEED_NOTHING },
	{ "suspended",	"none",		NEED_NOTHING },
};
#define NTRANSITIONS	(sizeof(transitions) / sizeof(transitions[0]))

static const char *const deploy_statuses[] = {
	"none", "ready", "sponsored", "live", "suspended", NULL
};

static const char *const deployment_fields[] = {
	"platform", "branch", "url", "status", NULL
};

bool
deploy_status_valid(const char *s)
{
	size_t	i;

	for (i = 0; deploy_statuses[i] != NULL; i++)
		if (strcmp(deploy_statuses[i], s) == 0)
			return true;
	return false;
}

static const struct deploy_transition *
transition_find(const char *from, const char *to)
{
	size_t	i;

	for (i = 0; i < NTRANSITIONS; i++)
		if (strcmp(transitions[i].from, from) == 0 &&
		    strcmp(transitions[i].to, to) == 0)
			return &transitions[i];
	return NULL;
}

/* The statuses one may go to from this one, as JSON and as words. */
static json_object *
transitions_from(const char *from, char *words, size_t size)
{
	json_object	*a = json_object_new_array();
	size_t		 i, off = 0;

	if (size > 0)
		words[0] = '\0';
	for (i = 0; i < NTRANSITIONS; i++) {
		if (strcmp(transitions[i].from, from) != 0)
			continue;
		json_object_array_add(a,
		    json_object_new_string(transitions[i].to));
		if (off < size)
			off += (size_t)snprintf(words + off, size - off, "%s%s",
			    off > 0 ? ", " : "", transitions[i].to);
	}
	return a;
}

/* A git branch name as Gitea takes one (git check-ref-format, briefly). */
static bool
branch_valid(const char *s)
{
	const char	*p;

	if (*s == '\0' || *s == '-' || *s == '/' || s[strlen(s) - 1] == '/' ||
	    s[strlen(s) - 1] == '.' || strstr(s, "..") != NULL ||
	    strstr(s, "//") != NULL || strstr(s, "@{") != NULL ||
	    strstr(s, ".lock") != NULL)
		return false;
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '~' ||
		    *p == '^' || *p == ':' || *p == '?' || *p == '*' ||
		    *p == '[' || *p == '\\')
			return false;
	return true;
}

/* -- readiness ---------------------------------------------------------- */

struct readiness {
	json_object	*missing;
	char		 head[64];
	bool		 dockerfile, status_ok, readme;
	char		 state[32];
};

static bool
mentions_deploy(const char *text, size_t len)
{
	static const char	word[] = "deploy";
	size_t			i, j;

	for (i = 0; i + sizeof(word) - 1 <= len; i++) {
		for (j = 0; j < sizeof(word) - 1; j++)
			if (tolower((unsigned char)text[i + j]) != word[j])
				break;
		if (j == sizeof(word) - 1)
			return true;
	}
	return false;
}

/* The README's text from Gitea's contents answer (base64). */
static bool
readme_says_deploy(const struct conf *conf, const char *owner,
    const char *name, const char *file, const char *ref, struct err *e)
{
	struct gitea_req	 rq = { 0 };
	struct gitea_resp	 rs = { 0 };
	const char		*b64;
	unsigned char		*bin;
	char			 path[1024], query[600], *f, *r;
	size_t			 len, blen;
	bool			 ok = false;

	f = gitea_escape(file);
	r = gitea_escape(ref);
	gitea_repo_path(path, sizeof(path), owner, name, "/contents/%s",
	    f != NULL ? f : "");
	snprintf(query, sizeof(query), "ref=%s", r != NULL ? r : "");
	free(f);
	free(r);
	rq.path = path;
	rq.query = query;
	if (gitea_call(conf, &rq, &rs, e) == -1) {
		gitea_resp_free(&rs);
		return false;
	}
	if ((b64 = json_path_str(rs.json, "content")) != NULL &&
	    (len = strlen(b64)) / 4 * 3 <= README_MAX_BYTES &&
	    (bin = malloc(len / 4 * 3 + 3)) != NULL) {
		if (sodium_base642bin(bin, len / 4 * 3 + 3, b64, len, "\r\n",
		    &blen, NULL, sodium_base64_VARIANT_ORIGINAL) == 0)
			ok = mentions_deploy((const char *)bin, blen);
		free(bin);
	}
	gitea_resp_free(&rs);
	return ok;
}

/*
 * Reads the deploy branch from Gitea: its head, the files at its root,
 * the combined status of its head and the README.  No database
 * connection is held meanwhile.
 */
static int
readiness_read(const struct conf *conf, const char *owner, const char *name,
    const char *branch, json_object *config_files, struct readiness *rd,
    struct err *e)
{
	struct gitea_req	 rq = { 0 };
	struct gitea_resp	 rs = { 0 };
	json_object		*item;
	const char		*fname, *sha, *state;
	char			 path[1024], query[600], msg[512], files[400],
				 readme[256], *b;
	size_t			 i, j, off = 0;

	memset(rd, 0, sizeof(*rd));
	rd->missing = json_object_new_array();
	readme[0] = '\0';
	b = gitea_escape(branch);
	gitea_repo_path(path, sizeof(path), owner, name, "/branches/%s",
	    b != NULL ? b : "");
	rq.path = path;
	if (gitea_call(conf, &rq, &rs, e) == -1) {
		free(b);
		if (rs.status == 404) {
			gitea_resp_free(&rs);
			err_clear(e);
			snprintf(msg, sizeof(msg), "the deploy branch '%s' does"
			    " not exist", branch);
			json_object_array_add(rd->missing,
			    json_object_new_string(msg));
			return 0;
		}
		gitea_resp_free(&rs);
		goto fail;
	}
	if ((sha = json_path_str(rs.json, "commit.id")) != NULL)
		strlcpy_ss(rd->head, sha, sizeof(rd->head));
	gitea_resp_free(&rs);

	/* The root's files: a Dockerfile or the platform's config file. */
	gitea_repo_path(path, sizeof(path), owner, name, "/contents");
	snprintf(query, sizeof(query), "ref=%s", b != NULL ? b : "");
	free(b);
	rq.path = path;
	rq.query = query;
	if (gitea_call(conf, &rq, &rs, e) == -1) {
		gitea_resp_free(&rs);
		goto fail;
	}
	for (i = 0; json_object_is_type(rs.json, json_type_array) &&
	    i < json_object_array_length(rs.json); i++) {
		item = json_object_array_get_idx(rs.json, i);
		if ((fname = json_path_str(item, "name")) == NULL)
			continue;
		if (strcmp(fname, "Dockerfile") == 0)
			rd->dockerfile = true;
		for (j = 0; config_files != NULL &&
		    j < json_object_array_length(config_files); j++)
			if (strcmp(fname, json_object_get_string(
			    json_object_array_get_idx(config_files, j))) == 0)
				rd->dockerfile = true;
		if (readme[0] == '\0' && strncasecmp(fname, "readme", 6) == 0 &&
		    (fname[6] == '\0' || fname[6] == '.'))
			strlcpy_ss(readme, fname, sizeof(readme));
	}
	gitea_resp_free(&rs);
	if (!rd->dockerfile) {
		files[0] = '\0';
		for (j = 0; config_files != NULL &&
		    j < json_object_array_length(config_files); j++)
			off += (size_t)snprintf(files + off, off < sizeof(files)
			    ? sizeof(files) - off : 0, ", %s",
			    json_object_get_string(
			    json_object_array_get_idx(config_files, j)));
		snprintf(msg, sizeof(msg), "a Dockerfile%s%s at the root of"
		    " %s", files[0] != '\0' ? " or one of the platform's"
		    " config files: " : "", files[0] != '\0' ? files + 2 : "",
		    branch);
		json_object_array_add(rd->missing, json_object_new_string(msg));
	}

	/* Gitea's combined status of the head: success, and nothing less. */
	gitea_repo_path(path, sizeof(path), owner, name, "/commits/%s/status",
	    rd->head);
	rq.path = path;
	rq.query = NULL;
	if (gitea_call(conf, &rq, &rs, e) == -1) {
		gitea_resp_free(&rs);
		goto fail;
	}
	state = json_path_str(rs.json, "state");
	item = json_path(rs.json, "statuses");
	strlcpy_ss(rd->state, state != NULL && *state != '\0' &&
	    json_object_is_type(item, json_type_array) &&
	    json_object_array_length(item) > 0 ? state : "none",
	    sizeof(rd->state));
	gitea_resp_free(&rs);
	rd->status_ok = strcmp(rd->state, "success") == 0;
	if (!rd->status_ok) {
		snprintf(msg, sizeof(msg), "a successful commit status on the"
		    " head of %s (%.12s): it is %s", branch, rd->head,
		    strcmp(rd->state, "none") == 0 ? "not reported" :
		    rd->state);
		json_object_array_add(rd->missing, json_object_new_string(msg));
	}

	if (readme[0] != '\0') {
		rd->readme = readme_says_deploy(conf, owner, name, readme,
		    branch, e);
		if (e->code == ERR_GITEA_UNAVAILABLE)
			goto fail;
		err_clear(e);
	}
	if (!rd->readme) {
		snprintf(msg, sizeof(msg), readme[0] != '\0' ? "deploy"
		    " instructions in %s (a line about how to deploy)" :
		    "a README with deploy instructions at the root of %s",
		    readme[0] != '\0' ? readme : branch);
		json_object_array_add(rd->missing, json_object_new_string(msg));
	}
	return 0;
fail:
	json_object_put(rd->missing);
	rd->missing = NULL;
	return -1;
}

static json_object *
readiness_json(const struct readiness *rd)
{
	json_object	*o = json_object_new_object(), *checks;

	json_object_object_add(o, "ready", json_object_new_boolean(
	    json_object_array_length(rd->missing) == 0));
	json_object_object_add(o, "missing", json_object_get(rd->missing));
	json_object_object_add(o, "head", rd->head[0] != '\0' ?
	    json_object_new_string(rd->head) : NULL);
	checks = json_object_new_object();
	json_object_object_add(checks, "deploy_file",
	    json_object_new_boolean(rd->dockerfile));
	json_object_object_add(checks, "commit_status",
	    json_object_new_string(rd->state[0] != '\0' ? rd->state : "none"));
	json_object_object_add(checks, "readme",
	    json_object_new_boolean(rd->readme));
	json_object_object_add(o, "checks", checks);
	return o;
}

/* The project's deploy branch and platform config files. */
struct deploy_target {
	struct ref	 r;
	char		 name[256];
	char		 branch[DEPLOY_BRANCH_MAX + 1];
	char		 status[16];
	json_object	*config_files;
};

static int
target_load(const struct core *core, const char *text,
    struct deploy_target *t, struct err *e)
{
	const char	*params[1];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*row;
	int		 rc = -1;

	memset(t, 0, sizeof(*t));
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if (ref_named_project(c, text, &t->r, t->name, sizeof(t->name), e) ==
	    -1)
		goto out;
	params[0] = t->r.project_id;
	if ((res = db_query(c, e, "SELECT COALESCE(p.deployment_branch,"
	    " p.default_branch), p.deployment_status,"
	    " to_json(pl.config_files) AS config_files FROM projects p"
	    " LEFT JOIN platforms pl ON pl.name = p.deployment_platform"
	    " WHERE p.id = $1", 1, params)) == NULL)
		goto out;
	if (PQntuples(res) == 1) {
		strlcpy_ss(t->branch, PQgetvalue(res, 0, 0), sizeof(t->branch));
		strlcpy_ss(t->status, PQgetvalue(res, 0, 1), sizeof(t->status));
		row = json_from_row(res, 0);
		t->config_files = json_object_get(json_object_object_get(row,
		    "config_files"));
		json_object_put(row);
		rc = 0;
	}
out:
	PQclear(res);
	db_release(core->pool, c);
	return rc;
}

/* Reads readiness from Gitea and stores it with its time. */
static int
readiness_refresh(const struct core *core, const struct deploy_target *t,
    const char *branch, json_object *config_files, json_object **out,
    struct err *e)
{
	struct readiness	 rd;
	json_object		*j;
	const char		*params[2];
	PGresult		*res;

	*out = NULL;
	if (readiness_read(core->conf, t->r.owner, t->r.name, branch,
	    config_files, &rd, e) == -1)
		return -1;
	j = readiness_json(&rd);
	json_object_put(rd.missing);
	params[0] = t->r.project_id;
	params[1] = json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	if ((res = db_exec(core->pool, e, "UPDATE projects SET readiness ="
	    " $2::jsonb, readiness_checked_at = now() WHERE id = $1"
	    " RETURNING ss_iso(readiness_checked_at)", 2, params)) == NULL) {
		json_object_put(j);
		return -1;
	}
	if (PQntuples(res) == 1)
		json_object_object_add(j, "checked_at",
		    json_object_new_string(PQgetvalue(res, 0, 0)));
	PQclear(res);
	*out = j;
	return 0;
}

json_object *
deploy_readiness(const struct core *core, const char *text, struct err *e)
{
	struct deploy_target	 t;
	json_object		*j, *data;
	char			 msg[1024];

	if (target_load(core, text, &t, e) == -1)
		return NULL;
	if (readiness_refresh(core, &t, t.branch, t.config_files, &j, e) ==
	    -1) {
		json_object_put(t.config_files);
		return NULL;
	}
	json_object_put(t.config_files);
	if (json_object_get_boolean(json_object_object_get(j, "ready")))
		snprintf(msg, sizeof(msg), "%s is ready to deploy from %s.",
		    t.name, t.branch);
	else
		snprintf(msg, sizeof(msg), "%s is not ready to deploy from %s:"
		    " %zu missing (see missing).", t.name, t.branch,
		    json_object_array_length(json_object_object_get(j,
		    "missing")));
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(t.name));
	json_object_object_add(data, "branch", json_object_new_string(t.branch));
	json_object_object_add(data, "readiness", j);
	return json_ok(msg, data, NULL);
}

/* -- showing it ------------------------------------------------------- */

static const char deployment_sql[] =
	"SELECT p.deployment_status AS status, COALESCE(p.deployment_branch,"
	" p.default_branch) AS branch, p.deployment_url AS url,"
	" ss_iso(p.deployed_at) AS deployed_at,"
	" CASE WHEN p.readiness IS NULL THEN NULL ELSE p.readiness ||"
	"  jsonb_build_object('checked_at', ss_iso(p.readiness_checked_at))"
	" END AS readiness,"
	" CASE WHEN pl.name IS NULL THEN NULL ELSE jsonb_build_object("
	"  'name', pl.name, 'display_name', pl.display_name, 'docs_url',"
	"  pl.docs_url, 'secrets', to_jsonb(pl.secrets)) END AS platform,"
	" COALESCE((SELECT jsonb_agg(jsonb_build_object('name', s.name,"
	"  'tier', s.tier) ORDER BY s.started_at, s.id) FROM sponsors s"
	"  WHERE s.project_id = p.id AND s.status = 'active' AND s.public),"
	"  '[]') AS sponsors"
	" FROM projects p LEFT JOIN platforms pl"
	" ON pl.name = p.deployment_platform WHERE p.id = $1";

json_object *
deploy_data(PGconn *c, const char *project_id, const char *name,
    struct err *e)
{
	const char	*params[1] = { project_id };
	PGresult	*res;
	json_object	*row, *data;
	char		 words[128];

	if ((res = db_query(c, e, deployment_sql, 1, params)) == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no project %s", name);
		return NULL;
	}
	row = json_from_row(res, 0);
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_foreach(row, k, v)
		json_object_object_add(data, k, json_object_get(v));
	json_object_object_add(data, "allowed", transitions_from(
	    json_object_get_string(json_object_object_get(row, "status")),
	    words, sizeof(words)));
	json_object_put(row);
	return data;
}

json_object *
deploy_show(const struct core *core, const char *text, struct err *e)
{
	struct ref	 r;
	PGconn		*c;
	json_object	*data = NULL;
	char		 name[256], msg[400];

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == 0)
		data = deploy_data(c, r.project_id, name, e);
	db_release(core->pool, c);
	if (data == NULL)
		return NULL;
	snprintf(msg, sizeof(msg), "The deployment of %s is %s.", name,
	    json_object_get_string(json_object_object_get(data, "status")));
	return json_ok(msg, data, NULL);
}

/* -- changing it ------------------------------------------------------ */

/* Whether the project has an active sponsor covering hosting. */
static int
hosting_sponsored(PGconn *c, const char *project_id, bool *yes,
    struct err *e)
{
	const char	*params[1] = { project_id };
	PGresult	*res;

	if ((res = db_query(c, e, "SELECT EXISTS (SELECT 1 FROM sponsors"
	    " WHERE project_id = $1 AND status = 'active' AND covers_hosting)",
	    1, params)) == NULL)
		return -1;
	*yes = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return 0;
}

/*
 * After any change of a project's sponsors, in the same transaction: a
 * sponsored or live project without an active hosting sponsor is
 * suspended, and one suspended that way goes back when one returns.
 */
int
deploy_sponsors_changed(PGconn *c, const char *project_id, struct err *e)
{
	const char	*params[2];
	struct actor	 sys = { .kind = ACTOR_SYSTEM, .id = "sponsors" };
	PGresult	*res;
	json_object	*detail;
	bool		 covered;
	char		 from[16], to[16];

	if (hosting_sponsored(c, project_id, &covered, e) == -1)
		return -1;
	params[0] = project_id;
	params[1] = covered ? "true" : "false";
	if ((res = db_query(c, e, "UPDATE projects SET"
	    " deployment_resume = CASE WHEN $2 THEN NULL"
	    "  ELSE deployment_status END,"
	    " deployment_status = CASE WHEN $2 THEN deployment_resume"
	    "  ELSE 'suspended' END, updated_at = now()"
	    " WHERE id = $1 AND CASE WHEN $2"
	    "  THEN deployment_status = 'suspended' AND deployment_resume IS NOT"
	    "   NULL"
	    "  ELSE deployment_status IN ('sponsored', 'live') END"
	    " RETURNING deployment_status, COALESCE(deployment_resume, '')", 2,
	    params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return 0;
	}
	strlcpy_ss(to, PQgetvalue(res, 0, 0), sizeof(to));
	strlcpy_ss(from, covered ? "suspended" : PQgetvalue(res, 0, 1),
	    sizeof(from));
	PQclear(res);
	detail = json_object_new_object();
	json_object_object_add(detail, "from", json_object_new_string(from));
	json_object_object_add(detail, "to", json_object_new_string(to));
	json_object_object_add(detail, "reason", json_object_new_string(
	    covered ? "an active sponsor covers hosting again" :
	    "no active sponsor covers hosting"));
	log_kv(LOG_INFO, "deployment status changed by its sponsors",
	    "project", project_id, "from", from, "to", to, NULL);
	return audit_write(c, &sys, "deployment.status", "project", project_id,
	    detail, e);
}

/* The body of POST .../deployment, checked before anything is read. */
struct deploy_changes {
	const char	*platform, *branch, *url, *status;
	bool		 has_platform, has_branch, has_url;
};

static int
changes_parse(json_object *body, struct deploy_changes *ch, struct err *e)
{
	memset(ch, 0, sizeof(*ch));
	if (!json_object_is_type(body, json_type_object) ||
	    json_object_object_length(body) == 0) {
		err_set(e, ERR_INVALID_FIELD, "the body must name at least one"
		    " of platform, branch, url, status");
		err_hint(e, "for example {\"platform\": \"fly\"} or"
		    " {\"status\": \"ready\"}");
		return -1;
	}
	if (json_only_keys(body, deployment_fields, e) == -1)
		return -1;
	ch->has_platform = json_object_object_get_ex(body, "platform", NULL);
	ch->has_branch = json_object_object_get_ex(body, "branch", NULL);
	ch->has_url = json_object_object_get_ex(body, "url", NULL);
	if (json_get_str(body, "platform", false, 32, &ch->platform, e) == -1 ||
	    json_get_str(body, "branch", false, DEPLOY_BRANCH_MAX, &ch->branch,
	    e) == -1 || json_get_str(body, "url", false, DEPLOY_URL_MAX,
	    &ch->url, e) == -1 || json_get_str(body, "status", false, 16,
	    &ch->status, e) == -1)
		return -1;
	if (ch->platform != NULL && !platform_name_valid(ch->platform)) {
		err_set(e, ERR_UNKNOWN_PLATFORM, "no platform '%.40s'",
		    ch->platform);
		return -1;
	}
	if (ch->branch != NULL && !branch_valid(ch->branch))
		return err_set(e, ERR_INVALID_FIELD, "'%.60s' is not a branch"
		    " name", ch->branch);
	if (ch->url != NULL && !http_url_valid(ch->url))
		return err_set(e, ERR_INVALID_FIELD, "url must be an http(s)"
		    " URL");
	if (ch->status != NULL && !deploy_status_valid(ch->status)) {
		err_set(e, ERR_INVALID_FIELD, "status must be one of none,"
		    " ready, sponsored, live, suspended");
		return -1;
	}
	return 0;
}

static int
refuse_transition(const char *name, const char *from, const char *to,
    struct err *e)
{
	char	words[128];

	json_object_put(transitions_from(from, words, sizeof(words)));
	if (strcmp(from, to) == 0)
		err_set(e, ERR_INVALID_TRANSITION, "the deployment of %s is"
		    " already %s. Allowed next: %s.", name, from,
		    words[0] != '\0' ? words : "none");
	else
		err_set(e, ERR_INVALID_TRANSITION, "the deployment of %s is %s;"
		    " it cannot become %s. Allowed next: %s.", name, from, to,
		    words[0] != '\0' ? words : "none");
	err_hint(e, "ask for one of: %s", words);
	return -1;
}

json_object *
deploy_set(const struct core *core, const struct actor *who, const char *text,
    json_object *body, struct err *e)
{
	struct deploy_changes		 ch;
	struct deploy_target		 t;
	const struct deploy_transition	*tr = NULL;
	json_object			*ready = NULL, *data, *answer = NULL,
					*detail;
	const char			*params[6];
	PGconn				*c = NULL;
	PGresult			*res = NULL;
	char				 status[16], msg[512];
	bool				 covered;

	if (changes_parse(body, &ch, e) == -1 ||
	    target_load(core, text, &t, e) == -1)
		return NULL;
	/* A platform chosen now: it must exist and not be retired. */
	if (ch.platform != NULL) {
		params[0] = ch.platform;
		if ((res = db_exec(core->pool, e, "SELECT"
		    " to_json(config_files) AS config_files FROM platforms"
		    " WHERE name = $1 AND NOT retired", 1, params)) == NULL)
			goto out;
		if (PQntuples(res) == 0) {
			err_set(e, ERR_UNKNOWN_PLATFORM, "no platform '%s', or"
			    " it is retired", ch.platform);
			goto out;
		}
		json_object_put(t.config_files);
		data = json_from_row(res, 0);
		t.config_files = json_object_get(json_object_object_get(data,
		    "config_files"));
		json_object_put(data);
		PQclear(res);
		res = NULL;
	}
	/* Readiness is read from Gitea before the transaction, on the branch
	 * and platform this request leaves. */
	if (ch.status != NULL && (tr = transition_find(t.status, ch.status)) !=
	    NULL && tr->need == NEED_READY && readiness_refresh(core, &t,
	    ch.branch != NULL ? ch.branch : t.branch, t.config_files, &ready,
	    e) == -1)
		goto out;
	if ((c = db_acquire(core->pool, e)) == NULL || db_begin(c, e) == -1)
		goto out;
	params[0] = t.r.project_id;
	if ((res = db_query(c, e, "SELECT deployment_status FROM projects"
	    " WHERE id = $1 FOR UPDATE", 1, params)) == NULL)
		goto fail;
	strlcpy_ss(status, PQgetvalue(res, 0, 0), sizeof(status));
	PQclear(res);
	res = NULL;
	if (ch.status != NULL && strcmp(ch.status, status) != 0) {
		if ((tr = transition_find(status, ch.status)) == NULL) {
			refuse_transition(t.name, status, ch.status, e);
			goto fail;
		}
		if (tr->need == NEED_READY && (ready == NULL ||
		    !json_object_get_boolean(json_object_object_get(ready,
		    "ready")))) {
			err_set(e, ERR_NOT_READY, "%s is not ready to deploy:"
			    " missing %s", t.name, ready == NULL ? "a fresh"
			    " readiness check" : json_object_to_json_string_ext(
			    json_object_object_get(ready, "missing"),
			    JSON_C_TO_STRING_PLAIN));
			goto fail;
		}
		if (tr->need == NEED_SPONSOR || tr->need ==
		    NEED_SPONSOR_PLATFORM) {
			if (hosting_sponsored(c, t.r.project_id, &covered, e) ==
			    -1)
				goto fail;
			if (!covered) {
				err_set(e, ERR_NEEDS_SPONSOR, "%s cannot become"
				    " %s: no active sponsor covers its"
				    " hosting", t.name, ch.status);
				goto fail;
			}
		}
	} else if (ch.status != NULL) {
		/* Not a transition of the table: say where it can go. */
		refuse_transition(t.name, status, ch.status, e);
		goto fail;
	}
	params[1] = ch.has_platform ? "t" : "f";
	params[2] = ch.platform;
	params[3] = ch.has_branch ? (ch.branch != NULL ? ch.branch : "") : NULL;
	params[4] = ch.has_url ? (ch.url != NULL ? ch.url : "") : NULL;
	params[5] = ch.status != NULL && tr != NULL ? ch.status : NULL;
	/* One statement: the fields, then the status, which needs the
	 * platform this request leaves. */
	if ((res = db_query(c, e, "UPDATE projects SET"
	    " deployment_platform = CASE WHEN $2 THEN $3"
	    "  ELSE deployment_platform END,"
	    " deployment_branch = CASE WHEN $4::text IS NULL"
	    "  THEN deployment_branch ELSE NULLIF($4, '') END,"
	    " deployment_url = CASE WHEN $5::text IS NULL THEN deployment_url"
	    "  ELSE NULLIF($5, '') END,"
	    " deployment_status = COALESCE($6, deployment_status),"
	    " deployment_resume = CASE WHEN $6::text IS NULL"
	    "  THEN deployment_resume ELSE NULL END,"
	    " deployed_at = CASE WHEN $6 = 'live' THEN now()"
	    "  ELSE deployed_at END, updated_at = now()"
	    " WHERE id = $1 RETURNING deployment_platform IS NOT NULL", 6,
	    params)) == NULL)
		goto fail;
	if (tr != NULL && tr->need == NEED_SPONSOR_PLATFORM &&
	    strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		err_set(e, ERR_NEEDS_PLATFORM, "%s cannot become %s without a"
		    " platform", t.name, ch.status);
		goto fail;
	}
	PQclear(res);
	res = NULL;
	detail = json_object_get(body);
	json_object_object_add(detail, "project", json_object_new_string(
	    t.name));
	if (audit_write(c, who, "deployment.set", "project", t.r.project_id,
	    detail, e) == -1)
		goto fail;
	if (tr != NULL) {
		detail = json_object_new_object();
		json_object_object_add(detail, "from",
		    json_object_new_string(status));
		json_object_object_add(detail, "to",
		    json_object_new_string(ch.status));
		if (audit_write(c, who, "deployment.status", "project",
		    t.r.project_id, detail, e) == -1)
			goto fail;
	}
	if (db_commit(c, e) == -1)
		goto fail;
	if ((data = deploy_data(c, t.r.project_id, t.name, e)) == NULL)
		goto out;
	if (tr != NULL)
		snprintf(msg, sizeof(msg), "The deployment of %s went from %s"
		    " to %s.", t.name, status, ch.status);
	else
		snprintf(msg, sizeof(msg), "The deployment of %s is changed;"
		    " it is %s.", t.name, status);
	answer = json_ok(msg, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	json_object_put(ready);
	json_object_put(t.config_files);
	if (c != NULL)
		db_release(core->pool, c);
	return answer;
}

/* -- the admin's list ---------------------------------------------------- */

json_object *
deploy_admin_projects(const struct core *core, const char *status,
    const char *platform, const char *sponsor, const char *after,
    const char *limit_s, struct err *e)
{
	const char	*params[5];
	PGresult	*res;
	json_object	*rows, *data;
	char		 lim[24], *end, text[128];
	long		 limit = ADMIN_PROJECTS_DEFAULT;
	int		 n;

	if (status != NULL && !deploy_status_valid(status)) {
		err_set(e, ERR_INVALID_FIELD, "status must be one of none,"
		    " ready, sponsored, live, suspended");
		return NULL;
	}
	if (platform != NULL && !platform_name_valid(platform)) {
		err_set(e, ERR_INVALID_FIELD, "'%.40s' is not a platform name",
		    platform);
		return NULL;
	}
	if (sponsor != NULL && (*sponsor == '\0' || strlen(sponsor) > 200)) {
		err_set(e, ERR_INVALID_FIELD, "sponsor must be a name of 1 to"
		    " 200 characters");
		return NULL;
	}
	if (after != NULL && (strchr(after, '/') == NULL ||
	    strlen(after) > 201)) {
		err_set(e, ERR_INVALID_FIELD, "after must be owner/repo, as"
		    " next_after gives it");
		return NULL;
	}
	if (limit_s != NULL) {
		limit = strtol(limit_s, &end, 10);
		if (*limit_s == '\0' || *end != '\0' || limit < 1 ||
		    limit > ADMIN_PROJECTS_MAX) {
			err_set(e, ERR_INVALID_FIELD, "limit must be a number"
			    " from 1 to %d", ADMIN_PROJECTS_MAX);
			return NULL;
		}
	}
	snprintf(lim, sizeof(lim), "%ld", limit + 1);
	params[0] = status;
	params[1] = platform;
	params[2] = sponsor;
	params[3] = after;
	params[4] = lim;
	if ((res = db_exec(core->pool, e, "SELECT p.owner || '/' || p.name AS"
	    " project, p.deployment_status AS status, p.deployment_platform AS"
	    " platform, COALESCE(p.deployment_branch, p.default_branch) AS"
	    " branch, p.deployment_url AS url, ss_iso(p.deployed_at) AS"
	    " deployed_at, (SELECT count(*) FROM sponsors s WHERE s.project_id"
	    " = p.id AND s.status = 'active')::int AS sponsors"
	    " FROM projects p WHERE p.deleted_at IS NULL"
	    " AND ($1::text IS NULL OR p.deployment_status = $1)"
	    " AND ($2::text IS NULL OR p.deployment_platform = $2)"
	    " AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM sponsors s"
	    "  WHERE s.project_id = p.id AND lower(s.name) = lower($3)))"
	    " AND ($4::text IS NULL OR (lower(p.owner), lower(p.name)) >"
	    "  (lower(split_part($4, '/', 1)), lower(split_part($4, '/', 2))))"
	    " ORDER BY lower(p.owner), lower(p.name) LIMIT $5::int", 5,
	    params)) == NULL)
		return NULL;
	n = PQntuples(res);
	rows = json_object_new_array();
	for (int i = 0; i < n && i < limit; i++)
		json_object_array_add(rows, json_from_row(res, i));
	data = json_object_new_object();
	json_object_object_add(data, "projects", rows);
	json_object_object_add(data, "next_after", n > limit ?
	    json_object_get(json_object_object_get(json_object_array_get_idx(
	    rows, (size_t)limit - 1), "project")) : NULL);
	PQclear(res);
	snprintf(text, sizeof(text), "%zu projects%s",
	    json_object_array_length(rows), n > limit ? "; more after the"
	    " last (after=next_after)" : "");
	return json_ok(text, data, NULL);
}
