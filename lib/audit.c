/* audit.c: one row per state change, written in the changing transaction. */
#include <stdio.h>

#include "synstack.h"

const char *
actor_kind_name(enum actor_kind k)
{
	switch (k) {
	case ACTOR_ADMIN:
		return "admin";
	case ACTOR_AGENT:
		return "agent";
	case ACTOR_SPONSOR:
		return "sponsor";
	default:
		return "system";
	}
}

int
audit_write(PGconn *c, const struct actor *who, const char *action,
    const char *target_kind, const char *target_id, json_object *detail,
    struct err *e)
{
	const char	*params[6];
	PGresult	*res;

	params[0] = actor_kind_name(who->kind);
	params[1] = who->id;
	params[2] = action;
	params[3] = target_kind;
	params[4] = target_id;
	params[5] = detail != NULL ? json_object_to_json_string_ext(detail,
	    JSON_C_TO_STRING_PLAIN) : "{}";
	res = db_query(c, e, "INSERT INTO audit_log (actor_kind, actor,"
	    " action, target_kind, target_id, detail)"
	    " VALUES ($1, $2, $3, $4, $5, $6::jsonb)", 6, params);
	json_object_put(detail);
	if (res == NULL) {
		log_error("audit_log insert failed: %s", e->message);
		return -1;
	}
	PQclear(res);
	return 0;
}

json_object *
audit_list(struct db_pool *p, long limit, const char *project, struct err *e)
{
	char		 lim[24];
	const char	*params[2] = { lim, NULL };
	PGresult	*res;
	json_object	*rows;
	PGconn		*c;
	struct ref	 r;
	char		 name[256];

	snprintf(lim, sizeof(lim), "%ld", limit);
	if (project != NULL) {
		if ((c = db_acquire(p, e)) == NULL)
			return NULL;
		if (ref_named_project(c, project, &r, name, sizeof(name), e) ==
		    -1) {
			db_release(p, c);
			return NULL;
		}
		db_release(p, c);
		params[1] = r.project_id;
	}
	res = db_exec(p, e, "SELECT ss_iso(at) AS at, actor_kind, actor,"
	    " action, target_kind, target_id, detail FROM audit_log"
	    " WHERE $2::text IS NULL OR (target_kind = 'project' AND"
	    " target_id = $2) ORDER BY at DESC, id LIMIT $1", 2, params);
	if (res == NULL)
		return NULL;
	rows = json_from_rows(res);
	PQclear(res);
	return rows;
}
