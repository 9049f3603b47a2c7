/*
 * checks.c: a commit's checks, which CI (Gitea Actions, Woodpecker, Drone)
 * reports to Gitea as commit statuses, and whether they let a PR merge.
 * Gitea's listing is the source: statuses are read from it when a merge is
 * decided (the head that will be merged), when `pr` shows a PR and when a
 * status webhook says something changed; the newest status of each
 * context is stored in commit_checks for the feed.  The rule itself,
 * work.required_checks or the project's own, is read in one place, the
 * SQL function ss_checks (0016-checks.sql).
 */
#include <stdio.h>
#include <string.h>

#include "synstack.h"

bool
checks_required(const char *rule)
{
	return strcmp(rule, "[\"none\"]") != 0;
}

static int
checks_collect(json_object *status, void *arg, struct err *e)
{
	(void)e;
	json_object_array_add(arg, json_object_get(status));
	return 0;
}

int
checks_store(PGconn *c, const char *project, const char *sha,
    json_object *statuses, struct err *e)
{
	const char	*params[3];

	params[0] = project;
	params[1] = sha;
	params[2] = json_object_to_json_string_ext(statuses,
	    JSON_C_TO_STRING_PLAIN);
	/* Gitea's list as it is: what it no longer lists goes.  Its status
	 * ids count up per commit: the highest of a context is the newest.
	 * In a status the state is the field "status". */
	if (db_run(c, e, "DELETE FROM commit_checks WHERE project_id = $1 AND"
	    " sha = $2", 2, params) == -1)
		return -1;
	return db_run(c, e, "INSERT INTO commit_checks (project_id, sha, context,"
	    " state, target_url, description)"
	    " SELECT DISTINCT ON (left(x->>'context', 255)) $1, $2,"
	    "  left(x->>'context', 255),"
	    "  CASE WHEN x->>'status' IN ('pending', 'success', 'error',"
	    "   'failure', 'warning', 'skipped') THEN x->>'status' ELSE 'error'"
	    "  END,"
	    "  left(COALESCE(x->>'target_url', ''), 2048),"
	    "  left(COALESCE(x->>'description', ''), 1024)"
	    " FROM jsonb_array_elements($3::jsonb) x"
	    " WHERE COALESCE(x->>'context', '') <> ''"
	    " ORDER BY left(x->>'context', 255), (x->>'id')::bigint DESC"
	    /* A status delivery and a merge may store one commit's checks
	     * at once: the later waits, then takes Gitea's answer too. */
	    " ON CONFLICT (project_id, sha, context) DO UPDATE SET"
	    " state = EXCLUDED.state, target_url = EXCLUDED.target_url,"
	    " description = EXCLUDED.description",
	    3, params);
}

int
checks_judge(PGconn *c, const char *project, const char *sha,
    const char *rule, struct checks *k, struct err *e)
{
	const char	*params[3] = { project, sha, rule };
	PGresult	*res;

	memset(k, 0, sizeof(*k));
	if ((res = db_query(c, e, "SELECT verdict, COALESCE(failing, ''),"
	    " COALESCE(pending, '') FROM ss_checks($1, $2, $3::jsonb)", 3,
	    params)) == NULL)
		return -1;
	strlcpy_ss(k->verdict, PQgetvalue(res, 0, 0), sizeof(k->verdict));
	strlcpy_ss(k->failing, PQgetvalue(res, 0, 1), sizeof(k->failing));
	strlcpy_ss(k->pending, PQgetvalue(res, 0, 2), sizeof(k->pending));
	PQclear(res);
	return 0;
}

int
checks_read(const struct core *core, const char *project, const char *owner,
    const char *name, const char *sha, const char *rule, struct checks *k,
    struct err *e)
{
	json_object	*statuses;
	char		 path[512];
	PGconn		*c;
	int		 rc = -1;

	memset(k, 0, sizeof(*k));
	if (sha == NULL || sha[0] == '\0')
		return err_set(e, ERR_CONFLICT, "the PR has no head commit yet");
	gitea_repo_path(path, sizeof(path), owner, name, "/statuses/%s", sha);
	statuses = json_object_new_array();
	if (gitea_list(core->conf, path, NULL, NULL, false, checks_collect,
	    statuses, e) == -1) {
		json_object_put(statuses);
		return -1;
	}
	if ((c = db_acquire(core->pool, e)) != NULL) {
		if (db_begin(c, e) == 0 &&
		    checks_store(c, project, sha, statuses, e) == 0 &&
		    db_commit(c, e) == 0 &&
		    checks_judge(c, project, sha, rule, k, e) == 0)
			rc = 0;
		else
			db_rollback(c);
		db_release(core->pool, c);
	}
	json_object_put(statuses);
	return rc;
}

json_object *
checks_list(PGconn *c, const char *project, const char *sha, const char *rule,
    struct err *e)
{
	const char	*params[3] = { project, sha, rule };
	PGresult	*res;
	json_object	*out;

	/* Every check of the commit, and whether the rule counts it. */
	if ((res = db_query(c, e, "SELECT k.context, k.state, k.target_url,"
	    " k.description, r.names <> '{none}' AND (r.names = '{reported}' OR"
	    "  k.context = ANY (r.names)) AS required"
	    " FROM commit_checks k, (SELECT ARRAY(SELECT"
	    "  jsonb_array_elements_text($3::jsonb)) AS names) r"
	    " WHERE k.project_id = $1 AND k.sha = $2 ORDER BY k.context", 3,
	    params)) == NULL)
		return NULL;
	out = json_from_rows(res);
	PQclear(res);
	return out;
}
