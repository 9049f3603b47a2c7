/*
 * sponsor.c: a project's sponsors and the tokens that let a sponsor manage
 * that one project (docs/deployment.md).  Every change of a sponsor calls
 * deploy_sponsors_changed() in its transaction, so a project's status
 * follows its sponsors at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "synstack.h"

/* The fields of a sponsor: what a body may hold, their bounds, the
 * default on add, and who sees them. */
enum sfield_type { SF_TEXT, SF_BOOL, SF_CHOICE };

static const struct sfield {
	const char		*name;
	enum sfield_type	 type;
	size_t			 max;
	const char		*def;		/* NULL: NULL */
	const char		*choices;	/* SF_CHOICE: "a|b|c" */
	bool			 admin_only;	/* shown to admins only */
} sfields[] = {
	{ "name",		SF_TEXT,   200,  NULL,      NULL, false },
	{ "email",		SF_TEXT,   254,  NULL,      NULL, true },
	{ "github_username",	SF_TEXT,   39,   NULL,      NULL, false },
	{ "covers_hosting",	SF_BOOL,   0,    "true",    NULL, false },
	{ "covers_domain",	SF_BOOL,   0,    "false",   NULL, false },
	{ "monthly_budget",	SF_TEXT,   50,   NULL,      NULL, false },
	{ "tier",		SF_TEXT,   50,   NULL,      NULL, false },
	{ "recurrence",		SF_CHOICE, 0,    "monthly", "monthly|one_time",
	  false },
	{ "public",		SF_BOOL,   0,    "false",   NULL, false },
	{ "status",		SF_CHOICE, 0,    "active",  "active|paused|ended",
	  false },
	{ "notes",		SF_TEXT,   2000, NULL,      NULL, true },
};
#define NSFIELDS	(sizeof(sfields) / sizeof(sfields[0]))
#define SF_STATUS	9		/* sfields[SF_STATUS] is status */

static const char sponsor_cols[] =
	"s.id, s.name, s.email, s.github_username, s.covers_hosting,"
	" s.covers_domain, s.monthly_budget, s.tier, s.recurrence, s.public,"
	" s.status, ss_iso(s.started_at) AS started_at,"
	" ss_iso(s.ended_at) AS ended_at, s.notes, p.deployment_status AS"
	" deployment";

static bool
choice_ok(const char *choices, const char *v)
{
	size_t		n = strlen(v);
	const char	*p = choices;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, v, n) == 0 && (p[n] == '|' || p[n] == '\0'))
			return true;
		p = strchr(p, '|');
		if (p != NULL)
			p++;
	}
	return false;
}

static bool
github_name_ok(const char *s)
{
	size_t	i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    (s[i] == '-' && i > 0)))
			return false;
	return i > 0;
}

/*
 * The values of a body, one per field (vals[i] NULL when the body does not
 * name it; given[i] says whether it did).  full: every field has a value,
 * the default when the body gave none (add and PUT).
 */
static int
sponsor_parse(json_object *body, bool full, const char **vals, bool *given,
    struct err *e)
{
	const char	*keys[NSFIELDS + 1];
	size_t		 i;
	int		 b;

	if (!json_object_is_type(body, json_type_object))
		return err_set(e, ERR_INVALID_FIELD, "a sponsor is an object");
	if (!full && json_object_object_length(body) == 0) {
		err_set(e, ERR_INVALID_FIELD, "the body must name at least one"
		    " field");
		err_hint(e, "for example {\"status\": \"ended\"}");
		return -1;
	}
	for (i = 0; i < NSFIELDS; i++)
		keys[i] = sfields[i].name;
	keys[NSFIELDS] = NULL;
	if (json_only_keys(body, keys, e) == -1)
		return -1;
	for (i = 0; i < NSFIELDS; i++) {
		given[i] = json_object_object_get_ex(body, sfields[i].name,
		    NULL);
		vals[i] = NULL;
		if (sfields[i].type == SF_BOOL) {
			if (json_get_bool(body, sfields[i].name, &b, e) == -1)
				return -1;
			if (b != -1)
				vals[i] = b ? "true" : "false";
		} else if (json_get_str(body, sfields[i].name, false,
		    sfields[i].type == SF_TEXT ? sfields[i].max : 16, &vals[i],
		    e) == -1)
			return -1;
		if (vals[i] == NULL && (full || given[i]) &&
		    (sfields[i].def != NULL || i == 0)) {
			if (i == 0)	/* name */
				return err_set(e, ERR_INVALID_FIELD,
				    "field 'name' is required");
			if (!full)
				return err_set(e, ERR_INVALID_FIELD, "field"
				    " '%s' cannot be null", sfields[i].name);
			vals[i] = sfields[i].def;
		}
		if (vals[i] == NULL)
			continue;
		if (sfields[i].type == SF_CHOICE &&
		    !choice_ok(sfields[i].choices, vals[i]))
			return err_set(e, ERR_INVALID_FIELD, "%s must be one of"
			    " %s", sfields[i].name, sfields[i].choices);
		if (sfields[i].type == SF_TEXT && i == 0 && *vals[i] == '\0')
			return err_set(e, ERR_INVALID_FIELD, "name is empty");
		if (strcmp(sfields[i].name, "email") == 0 &&
		    (strchr(vals[i], '@') == NULL || strchr(vals[i], ' ') !=
		    NULL || strchr(vals[i], '\n') != NULL))
			return err_set(e, ERR_INVALID_FIELD, "email must be an"
			    " address");
		if (strcmp(sfields[i].name, "github_username") == 0 &&
		    !github_name_ok(vals[i]))
			return err_set(e, ERR_INVALID_FIELD, "'%.40s' is not a"
			    " GitHub user name", vals[i]);
	}
	return 0;
}

/* A sponsor row as an admin (everything) or a sponsor sees it. */
static json_object *
sponsor_json(PGresult *res, int row, bool admin)
{
	json_object	*o = json_from_row(res, row);
	size_t		 i;

	if (!admin)
		for (i = 0; i < NSFIELDS; i++)
			if (sfields[i].admin_only)
				json_object_object_del(o, sfields[i].name);
	return o;
}

static json_object *
sponsor_get(PGconn *c, const char *project_id, const char *id, bool admin,
    struct err *e)
{
	const char	*params[2] = { project_id, id };
	char		 sql[1024];
	PGresult	*res;
	json_object	*o;

	snprintf(sql, sizeof(sql), "SELECT %s FROM sponsors s JOIN projects p"
	    " ON p.id = s.project_id WHERE s.project_id = $1 AND s.id = $2",
	    sponsor_cols);
	if ((res = db_query(c, e, sql, 2, params)) == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no sponsor %s in this project", id);
		err_hint(e, "GET .../sponsors lists them");
		return NULL;
	}
	o = sponsor_json(res, 0, admin);
	PQclear(res);
	return o;
}

json_object *
sponsor_list(const struct core *core, const char *text, bool admin,
    struct err *e)
{
	struct ref	 r;
	const char	*params[1];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*rows, *data, *answer = NULL;
	char		 name[256], sql[1024], msg[320];
	int		 i;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	params[0] = r.project_id;
	snprintf(sql, sizeof(sql), "SELECT %s FROM sponsors s JOIN projects p"
	    " ON p.id = s.project_id WHERE s.project_id = $1"
	    " ORDER BY s.started_at, s.id", sponsor_cols);
	if ((res = db_query(c, e, sql, 1, params)) == NULL)
		goto out;
	rows = json_object_new_array();
	for (i = 0; i < PQntuples(res); i++)
		json_object_array_add(rows, sponsor_json(res, i, admin));
	snprintf(msg, sizeof(msg), "%d sponsors of %s", PQntuples(res), name);
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "sponsors", rows);
	answer = json_ok(msg, data, NULL);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

/* Audit detail of a sponsor change: the fields, never email or notes. */
static json_object *
sponsor_detail(const char *project, const char *id, const char **vals,
    const bool *given)
{
	json_object	*d = json_object_new_object();
	size_t		 i;

	json_object_object_add(d, "project", json_object_new_string(project));
	json_object_object_add(d, "sponsor", json_object_new_string(id));
	for (i = 0; i < NSFIELDS; i++)
		if (given[i] && !sfields[i].admin_only)
			json_object_object_add(d, sfields[i].name, vals[i] ?
			    json_object_new_string(vals[i]) : NULL);
	return d;
}

json_object *
sponsor_add(const struct core *core, const struct actor *who, bool admin,
    const char *text, json_object *body, struct err *e)
{
	struct ref	 r;
	const char	*vals[NSFIELDS], *params[NSFIELDS + 1];
	bool		 given[NSFIELDS];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*o = NULL;
	char		 name[256], id[37], msg[512];
	size_t		 i;

	if (sponsor_parse(body, true, vals, given, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1 ||
	    db_begin(c, e) == -1)
		goto out;
	params[0] = r.project_id;
	for (i = 0; i < NSFIELDS; i++)
		params[i + 1] = vals[i];
	if ((res = db_query(c, e, "INSERT INTO sponsors (project_id, name,"
	    " email, github_username, covers_hosting, covers_domain,"
	    " monthly_budget, tier, recurrence, public, status, notes, ended_at)"
	    " VALUES ($1, $2, $3, $4, $5::boolean, $6::boolean, $7, $8, $9,"
	    " $10::boolean, $11, $12, CASE WHEN $11 = 'ended' THEN now() END)"
	    " RETURNING id", 1 + NSFIELDS, params)) == NULL)
		goto fail;
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	if (deploy_sponsors_changed(c, r.project_id, e) == -1 ||
	    audit_write(c, who, "sponsor.added", "project", r.project_id,
	    sponsor_detail(name, id, vals, given), e) == -1 ||
	    db_commit(c, e) == -1)
		goto fail;
	if ((o = sponsor_get(c, r.project_id, id, admin, e)) != NULL) {
		snprintf(msg, sizeof(msg), "Sponsor %s added to %s; its"
		    " deployment is %s.", vals[0], name, json_object_get_string(
		    json_object_object_get(o, "deployment")));
		o = json_ok(msg, o, NULL);
	}
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return o;
}

/* PUT (replace: every field, defaults for those not given) or PATCH
 * (the fields given).  An ended sponsor stays ended. */
json_object *
sponsor_change(const struct core *core, const struct actor *who,
    const char *text, const char *id, bool replace, json_object *body,
    struct err *e)
{
	struct ref	 r;
	const char	*vals[NSFIELDS], *params[2 + NSFIELDS];
	bool		 given[NSFIELDS];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*o = NULL;
	char		 name[256], sql[2048], msg[512], status[16];
	size_t		 i, n, off;

	if (!uuid_valid(id)) {
		err_set(e, ERR_NOT_FOUND, "no sponsor '%.40s'", id);
		return NULL;
	}
	if (sponsor_parse(body, replace, vals, given, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1 ||
	    db_begin(c, e) == -1)
		goto out;
	params[0] = r.project_id;
	params[1] = id;
	if ((res = db_query(c, e, "SELECT status FROM sponsors WHERE"
	    " project_id = $1 AND id = $2 FOR UPDATE", 2, params)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no sponsor %s in %s", id, name);
		goto fail;
	}
	strlcpy_ss(status, PQgetvalue(res, 0, 0), sizeof(status));
	PQclear(res);
	res = NULL;
	if (strcmp(status, "ended") == 0 && vals[SF_STATUS] != NULL &&
	    strcmp(vals[SF_STATUS], "ended") != 0) {
		err_set(e, ERR_INVALID_TRANSITION, "the sponsor has ended; an"
		    " ended sponsor stays ended");
		err_hint(e, "add the sponsor again to start anew");
		goto fail;
	}
	/* The fields given (PUT: all), then ended_at, stamped once. */
	n = 2;
	off = (size_t)snprintf(sql, sizeof(sql), "UPDATE sponsors SET"
	    " updated_at = now()");
	for (i = 0; i < NSFIELDS; i++) {
		if (!replace && !given[i])
			continue;
		params[n++] = vals[i];
		off += (size_t)snprintf(sql + off, sizeof(sql) - off,
		    ", %s = $%zu%s", sfields[i].name, n,
		    sfields[i].type == SF_BOOL ? "::boolean" : "");
	}
	snprintf(sql + off, sizeof(sql) - off, " WHERE project_id = $1 AND"
	    " id = $2");
	if (db_run(c, e, sql, (int)n, params) == -1 ||
	    db_run(c, e, "UPDATE sponsors SET ended_at = CASE WHEN status ="
	    " 'ended' THEN COALESCE(ended_at, now()) END"
	    " WHERE project_id = $1 AND id = $2", 2, params) == -1)
		goto fail;
	if (deploy_sponsors_changed(c, r.project_id, e) == -1 ||
	    audit_write(c, who, "sponsor.changed", "project", r.project_id,
	    sponsor_detail(name, id, vals, given), e) == -1 ||
	    db_commit(c, e) == -1)
		goto fail;
	if ((o = sponsor_get(c, r.project_id, id, true, e)) != NULL) {
		snprintf(msg, sizeof(msg), "Sponsor %s of %s changed; it is %s,"
		    " and the deployment is %s.", json_object_get_string(
		    json_object_object_get(o, "name")), name,
		    json_object_get_string(json_object_object_get(o, "status")),
		    json_object_get_string(json_object_object_get(o,
		    "deployment")));
		o = json_ok(msg, o, NULL);
	}
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return o;
}

/* -- tokens ----------------------------------------------------------- */

static const char token_cols[] =
	"id, ss_iso(created_at) AS created_at, created_by,"
	" ss_iso(revoked_at) AS revoked_at, ss_iso(last_used_at) AS"
	" last_used_at";

/* The sponsor's project and status; 404 when it is not this project's. */
static int
token_sponsor(PGconn *c, const char *text, const char *sponsor_id,
    struct ref *r, char *name, size_t size, char *status, struct err *e)
{
	const char	*params[2];
	PGresult	*res;

	if (!uuid_valid(sponsor_id))
		return err_set(e, ERR_NOT_FOUND, "no sponsor '%.40s'",
		    sponsor_id);
	if (ref_named_project(c, text, r, name, size, e) == -1)
		return -1;
	params[0] = r->project_id;
	params[1] = sponsor_id;
	if ((res = db_query(c, e, "SELECT status FROM sponsors WHERE"
	    " project_id = $1 AND id = $2", 2, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return err_set(e, ERR_NOT_FOUND, "no sponsor %s in %s",
		    sponsor_id, name);
	}
	strlcpy_ss(status, PQgetvalue(res, 0, 0), 16);
	PQclear(res);
	return 0;
}

json_object *
sponsor_tokens(const struct core *core, const char *text,
    const char *sponsor_id, struct err *e)
{
	struct ref	 r;
	const char	*params[1] = { sponsor_id };
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*data, *answer = NULL;
	char		 name[256], status[16], sql[512], msg[128];

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (token_sponsor(c, text, sponsor_id, &r, name, sizeof(name), status,
	    e) == -1)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT %s FROM sponsor_tokens WHERE"
	    " sponsor_id = $1 ORDER BY created_at, id", token_cols);
	if ((res = db_query(c, e, sql, 1, params)) == NULL)
		goto out;
	snprintf(msg, sizeof(msg), "%d tokens", PQntuples(res));
	data = json_object_new_object();
	json_object_object_add(data, "tokens", json_from_rows(res));
	answer = json_ok(msg, data, NULL);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

json_object *
sponsor_token_issue(const struct core *core, const struct actor *who,
    const char *text, const char *sponsor_id, struct err *e)
{
	struct ref	 r;
	const char	*params[3];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*data, *answer = NULL, *detail;
	char		 name[256], status[16], token[64], hash[HASH_HEX_LEN + 1],
			 msg[400];

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (token_sponsor(c, text, sponsor_id, &r, name, sizeof(name), status,
	    e) == -1)
		goto out;
	if (strcmp(status, "ended") == 0) {
		err_set(e, ERR_INVALID_TRANSITION, "the sponsor has ended: it"
		    " gets no token");
		goto out;
	}
	if (token_generate(SPONSOR_TOKEN_PREFIX, token, sizeof(token)) == -1) {
		err_set(e, ERR_INTERNAL, "no randomness for a token");
		goto out;
	}
	key_hash_hex(token, hash);
	params[0] = sponsor_id;
	params[1] = hash;
	params[2] = who->id;
	if (db_begin(c, e) == -1)
		goto out;
	if ((res = db_query(c, e, "INSERT INTO sponsor_tokens (sponsor_id,"
	    " token_hash, created_by) VALUES ($1, $2, $3)"
	    " RETURNING id, ss_iso(created_at)", 3, params)) == NULL)
		goto fail;
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(name));
	json_object_object_add(detail, "sponsor",
	    json_object_new_string(sponsor_id));
	json_object_object_add(detail, "token",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	if (audit_write(c, who, "sponsor_token.issued", "project",
	    r.project_id, detail, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	data = json_object_new_object();
	json_object_object_add(data, "id",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(data, "sponsor_id",
	    json_object_new_string(sponsor_id));
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "token", json_object_new_string(token));
	json_object_object_add(data, "created_at",
	    json_object_new_string(PQgetvalue(res, 0, 1)));
	snprintf(msg, sizeof(msg), "A sponsor token for %s; it is shown this"
	    " once: keep it now.", name);
	answer = json_ok(msg, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	sodium_memzero(token, sizeof(token));
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

json_object *
sponsor_token_revoke(const struct core *core, const struct actor *who,
    const char *text, const char *sponsor_id, const char *token_id,
    struct err *e)
{
	struct ref	 r;
	const char	*params[2] = { sponsor_id, token_id };
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*data, *answer = NULL, *detail;
	char		 name[256], status[16], msg[128];

	if (!uuid_valid(token_id)) {
		err_set(e, ERR_NOT_FOUND, "no token '%.40s'", token_id);
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (token_sponsor(c, text, sponsor_id, &r, name, sizeof(name), status,
	    e) == -1 || db_begin(c, e) == -1)
		goto out;
	if ((res = db_query(c, e, "UPDATE sponsor_tokens SET revoked_at ="
	    " COALESCE(revoked_at, now()) WHERE sponsor_id = $1 AND id = $2"
	    " RETURNING id, ss_iso(revoked_at)", 2, params)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no token %s of that sponsor",
		    token_id);
		goto fail;
	}
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(name));
	json_object_object_add(detail, "sponsor",
	    json_object_new_string(sponsor_id));
	json_object_object_add(detail, "token",
	    json_object_new_string(token_id));
	if (audit_write(c, who, "sponsor_token.revoked", "project",
	    r.project_id, detail, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	data = json_object_new_object();
	json_object_object_add(data, "id", json_object_new_string(token_id));
	json_object_object_add(data, "revoked_at",
	    json_object_new_string(PQgetvalue(res, 0, 1)));
	snprintf(msg, sizeof(msg), "Token %s revoked.", token_id);
	answer = json_ok(msg, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}

/*
 * A sponsor token -> the sponsor, for the project owner/repo the path
 * names: one round trip, which also notes when the token was last used
 * (at most once a minute).  401 for an unknown, revoked or ended one;
 * 403 for another project's.
 */
int
sponsor_authenticate(struct db_pool *pool, const char *token,
    const char *owner, const char *repo, struct actor *who, struct err *e)
{
	const char	*params[1];
	char		 hash[HASH_HEX_LEN + 1];
	PGresult	*res;

	if (!token_well_formed(SPONSOR_TOKEN_PREFIX, token)) {
		err_set(e, ERR_UNAUTHORIZED, "missing or unknown token");
		err_hint(e, "send Authorization: Bearer <admin token or this"
		    " project's sponsor token>");
		return -1;
	}
	key_hash_hex(token, hash);
	params[0] = hash;
	if ((res = db_exec(pool, e, "WITH t AS (SELECT t.id, s.id AS sponsor,"
	    " p.owner, p.name, t.last_used_at FROM sponsor_tokens t"
	    " JOIN sponsors s ON s.id = t.sponsor_id"
	    " JOIN projects p ON p.id = s.project_id"
	    " WHERE t.token_hash = $1 AND t.revoked_at IS NULL"
	    " AND s.status <> 'ended' AND p.deleted_at IS NULL),"
	    " u AS (UPDATE sponsor_tokens SET last_used_at = now()"
	    " WHERE id = (SELECT id FROM t WHERE last_used_at IS NULL"
	    " OR last_used_at < now() - interval '1 minute'))"
	    " SELECT sponsor, owner, name FROM t", 1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_UNAUTHORIZED, "unknown, revoked or ended sponsor"
		    " token");
		err_hint(e, "ask an admin for a new sponsor token");
		return -1;
	}
	if (owner == NULL || repo == NULL ||
	    strcasecmp(PQgetvalue(res, 0, 1), owner) != 0 ||
	    strcasecmp(PQgetvalue(res, 0, 2), repo) != 0) {
		err_set(e, ERR_FORBIDDEN, "this sponsor token is for %s/%s"
		    " only", PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
		PQclear(res);
		return -1;
	}
	who->kind = ACTOR_SPONSOR;
	snprintf(who->id, sizeof(who->id), "sponsor:%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return 0;
}
