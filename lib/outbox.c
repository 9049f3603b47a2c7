/*
 * outbox.c: Gitea writes that may happen later (assignees, collaborators,
 * comments, clean-ups), kept in PostgreSQL and retried with backoff until
 * Gitea takes them.  Several daemons share the queue: each item is taken
 * with FOR UPDATE SKIP LOCKED, so exactly one of them sends it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define OUTBOX_BACKOFF_MAX_S	600

int
outbox_add(PGconn *c, const char *kind, const char *method, const char *path,
    json_object *body, const char *sudo, struct err *e)
{
	const char	*params[5];

	params[0] = kind;
	params[1] = method;
	params[2] = path;
	params[3] = body != NULL ? json_object_to_json_string_ext(body,
	    JSON_C_TO_STRING_PLAIN) : NULL;
	params[4] = sudo;
	return db_run(c, e, "INSERT INTO gitea_outbox (kind, method, path,"
	    " body, sudo) VALUES ($1, $2, $3, $4::jsonb, $5)", 5, params);
}

int
outbox_add_now(struct db_pool *p, const char *kind, const char *method,
    const char *path, json_object *body, const char *sudo, struct err *e)
{
	PGconn	*c;
	int	 rc;

	if ((c = db_acquire(p, e)) == NULL)
		return -1;
	rc = outbox_add(c, kind, method, path, body, sudo, e);
	db_release(p, c);
	return rc;
}

/* A 4xx other than 408 and 429 will never succeed: give up and say so. */
static bool
outbox_permanent(long status)
{
	return status >= 400 && status < 500 && status != 408 && status != 429;
}

/* One due item, sent while its row is locked.  1: one was handled; 0: none
 * is due; -1: the database failed. */
static int
outbox_one(const struct core *core, PGconn *c, struct err *e)
{
	struct gitea_req	 q = { 0 };
	struct gitea_resp	 r = { .total = -1 };
	struct err		 ge;
	json_object		*body = NULL;
	const char		*params[3];
	char			 id[37], delay[24], *path = NULL, *method = NULL,
				*sudo = NULL;
	PGresult		*res;
	long			 attempts, backoff;
	int			 rc;

	if (db_begin(c, e) == -1)
		return -1;
	res = db_query(c, e, "SELECT id, method, path, body, sudo, attempts"
	    " FROM gitea_outbox WHERE done_at IS NULL AND next_attempt_at <="
	    " now() ORDER BY next_attempt_at, created_at LIMIT 1"
	    " FOR UPDATE SKIP LOCKED", 0, NULL);
	if (res == NULL) {
		db_rollback(c);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		return db_commit(c, e) == -1 ? -1 : 0;
	}
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	method = strdup(PQgetvalue(res, 0, 1));
	path = strdup(PQgetvalue(res, 0, 2));
	if (!PQgetisnull(res, 0, 3))
		body = json_tokener_parse(PQgetvalue(res, 0, 3));
	if (!PQgetisnull(res, 0, 4))
		sudo = strdup(PQgetvalue(res, 0, 4));
	attempts = strtol(PQgetvalue(res, 0, 5), NULL, 10) + 1;
	PQclear(res);

	err_clear(&ge);
	q.method = method;
	q.path = path;
	q.body = body;
	q.sudo = sudo;
	rc = gitea_call(core->conf, &q, &r, &ge);
	params[0] = id;
	if (rc == 0 || outbox_permanent(r.status)) {
		params[1] = rc == 0 ? NULL : ge.message;
		res = db_query(c, e, "UPDATE gitea_outbox SET done_at = now(),"
		    " attempts = attempts + 1, last_error = $2 WHERE id = $1",
		    2, params);
		if (rc != 0)
			log_error("outbox: gave up on %s %s: %s", method, path,
			    ge.message);
	} else {
		backoff = attempts >= 10 ? OUTBOX_BACKOFF_MAX_S : 1L << attempts;
		if (backoff > OUTBOX_BACKOFF_MAX_S)
			backoff = OUTBOX_BACKOFF_MAX_S;
		snprintf(delay, sizeof(delay), "%ld", backoff);
		params[1] = ge.message;
		params[2] = delay;
		res = db_query(c, e, "UPDATE gitea_outbox SET attempts = attempts"
		    " + 1, last_error = $2, next_attempt_at = now() +"
		    " make_interval(secs => $3::int) WHERE id = $1", 3, params);
	}
	gitea_resp_free(&r);
	json_object_put(body);
	free(method);
	free(path);
	free(sudo);
	if (res == NULL) {
		db_rollback(c);
		return -1;
	}
	PQclear(res);
	return db_commit(c, e) == -1 ? -1 : 1;
}

int
outbox_drain(const struct core *core, int max, int *handled, struct err *e)
{
	PGconn	*c;
	int	 rc = 0;

	*handled = 0;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	while (*handled < max && (rc = outbox_one(core, c, e)) == 1)
		(*handled)++;
	db_release(core->pool, c);
	return rc == -1 ? -1 : 0;
}
