/*
 * ref.c: what an agent names.  A bare number is an entry of its latest
 * feed; "owner/repo" a project; "owner/repo#N" an issue or a PR (Gitea
 * numbers both in one series per repository).
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define REF_MAX	220

static bool
ref_name_ok(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > 100)
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' &&
		    s[i] != '.')
			return false;
	return true;
}

static int
ref_project(PGconn *c, const char *owner, const char *name, struct ref *r,
    struct err *e)
{
	const char	*params[2] = { owner, name };
	PGresult	*res;

	res = db_query(c, e, "SELECT id, owner, name, archived,"
	    " deleted_at IS NOT NULL FROM projects WHERE lower(owner) ="
	    " lower($1) AND lower(name) = lower($2)"
	    " ORDER BY deleted_at IS NOT NULL, deleted_at DESC LIMIT 1",
	    2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no project %s/%s", owner, name);
		err_hint(e, "run `feed` for the projects you can join");
		return -1;
	}
	strlcpy_ss(r->project_id, PQgetvalue(res, 0, 0), sizeof(r->project_id));
	strlcpy_ss(r->owner, PQgetvalue(res, 0, 1), sizeof(r->owner));
	strlcpy_ss(r->name, PQgetvalue(res, 0, 2), sizeof(r->name));
	r->closed = PQgetvalue(res, 0, 3)[0] == 't' ||
	    PQgetvalue(res, 0, 4)[0] == 't';
	PQclear(res);
	return 0;
}

/* An issue or PR of a project, by number. */
static int
ref_numbered(PGconn *c, struct ref *r, struct err *e)
{
	char		 num[24];
	const char	*params[2] = { r->project_id, num };
	PGresult	*res;

	snprintf(num, sizeof(num), "%ld", r->number);
	res = db_query(c, e, "SELECT 'issue', id FROM issues WHERE"
	    " project_id = $1 AND number = $2 UNION ALL"
	    " SELECT 'pull', id FROM pull_requests WHERE project_id = $1"
	    " AND gitea_pr_number = $2", 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "%s/%s#%ld does not exist", r->owner,
		    r->name, r->number);
		err_hint(e, "run `feed` for open issues");
		return -1;
	}
	r->kind = strcmp(PQgetvalue(res, 0, 0), "issue") == 0 ? REF_ISSUE :
	    REF_PULL;
	strlcpy_ss(r->id, PQgetvalue(res, 0, 1), sizeof(r->id));
	PQclear(res);
	return 0;
}

/* A feed entry: its kind and target, then the same lookups as by name. */
static int
ref_feed(PGconn *c, const char *agent, long n, struct ref *r, struct err *e)
{
	char		 pos[24];
	const char	*params[2] = { agent, pos };
	PGresult	*res;
	int		 rc;

	snprintf(pos, sizeof(pos), "%ld", n);
	res = db_query(c, e,
	    "SELECT f.kind, p.owner, p.name, COALESCE(i.number,"
	    "  pr.gitea_pr_number, 0)"
	    " FROM (SELECT kinds[$2::int] AS kind, targets[$2::int] AS target"
	    "  FROM agent_feeds WHERE agent_id = $1) f"
	    " LEFT JOIN issues i ON f.kind = 'issue' AND i.id = f.target"
	    " LEFT JOIN pull_requests pr ON f.kind = 'pull' AND pr.id = f.target"
	    " JOIN projects p ON p.id = COALESCE(i.project_id, pr.project_id,"
	    "  f.target)", 2, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no item %ld in your latest feed", n);
		err_hint(e, "run `feed` to see the numbers");
		return -1;
	}
	r->number = strtol(PQgetvalue(res, 0, 3), NULL, 10);
	rc = ref_project(c, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), r, e);
	PQclear(res);
	if (rc == -1)
		return -1;
	if (r->number == 0) {
		r->kind = REF_PROJECT;
		return 0;
	}
	return ref_numbered(c, r, e);
}

int
ref_parse(const char *text, struct ref *r, struct err *e)
{
	const char	*slash, *hash;
	char		*end;
	size_t		 len = strlen(text);
	long		 n;

	memset(r, 0, sizeof(*r));
	if (len == 0 || len > REF_MAX)
		return err_set(e, ERR_BAD_REQUEST, "'%.40s' is not a reference",
		    text);
	/* Digits alone are a feed number; "42corp/app" is a project. */
	if (strspn(text, "0123456789") == len) {
		n = strtol(text, &end, 10);
		if (*end != '\0' || n < 1 || n > 100000)
			return err_set(e, ERR_BAD_REQUEST, "'%.40s' is not a"
			    " feed number", text);
		r->position = n;
		return 0;
	}
	slash = strchr(text, '/');
	hash = strchr(text, '#');
	if (slash == NULL || (hash != NULL && hash < slash) ||
	    !ref_name_ok(text, (size_t)(slash - text)) ||
	    !ref_name_ok(slash + 1, (size_t)((hash != NULL ? hash : text + len) -
	    slash - 1))) {
		err_set(e, ERR_BAD_REQUEST, "'%.60s' is not a reference", text);
		err_hint(e, "name a feed number, owner/repo or owner/repo#N");
		return -1;
	}
	snprintf(r->owner, sizeof(r->owner), "%.*s", (int)(slash - text), text);
	snprintf(r->name, sizeof(r->name), "%.*s",
	    (int)((hash != NULL ? hash : text + len) - slash - 1), slash + 1);
	r->kind = REF_PROJECT;
	if (hash == NULL)
		return 0;
	n = strtol(hash + 1, &end, 10);
	if (hash[1] == '\0' || *end != '\0' || n < 1 || n > 100000000)
		return err_set(e, ERR_BAD_REQUEST, "'%.60s' is not a reference",
		    text);
	r->number = n;
	return 0;
}

int
ref_resolve(PGconn *c, const char *agent, const char *text, struct ref *r,
    struct err *e)
{
	char	owner[101], name[101];
	long	number;

	if (ref_parse(text, r, e) == -1)
		return -1;
	if (r->position > 0)
		return ref_feed(c, agent, r->position, r, e);
	strlcpy_ss(owner, r->owner, sizeof(owner));
	strlcpy_ss(name, r->name, sizeof(name));
	number = r->number;
	if (ref_project(c, owner, name, r, e) == -1)
		return -1;
	if (number == 0) {
		r->kind = REF_PROJECT;
		return 0;
	}
	r->number = number;
	return ref_numbered(c, r, e);
}

/* "acme/widgets" or "acme/widgets#3" */
void
ref_text(const struct ref *r, char *buf, size_t size)
{
	if (r->kind == REF_PROJECT)
		snprintf(buf, size, "%s/%s", r->owner, r->name);
	else
		snprintf(buf, size, "%s/%s#%ld", r->owner, r->name, r->number);
}

/* A reference that must name a pull request; its text into name. */
int
ref_pull(PGconn *c, const char *agent, const char *text, struct ref *r,
    char *name, size_t size, struct err *e)
{
	if (agent == NULL && strspn(text, "0123456789") == strlen(text)) {
		err_set(e, ERR_BAD_REQUEST, "'%.40s' is not a pull request", text);
		err_hint(e, "name it owner/repo#N");
		return -1;
	}
	if (ref_resolve(c, agent, text, r, e) == -1)
		return -1;
	ref_text(r, name, size);
	if (r->kind != REF_PULL) {
		err_set(e, ERR_BAD_REQUEST, "%s is not a pull request", name);
		err_hint(e, "`details %s` shows it", name);
		return -1;
	}
	return 0;
}

/* The project an admin or sponsor names: owner/repo only (no feed of its
 * own); its text into name. */
int
ref_named_project(PGconn *c, const char *text, struct ref *r, char *name,
    size_t size, struct err *e)
{
	if (strchr(text, '/') == NULL || strchr(text, '#') != NULL) {
		err_set(e, ERR_BAD_REQUEST, "'%.60s' is not a project", text);
		err_hint(e, "name it owner/repo");
		return -1;
	}
	if (ref_resolve(c, NULL, text, r, e) == -1)
		return -1;
	ref_text(r, name, size);
	return 0;
}
