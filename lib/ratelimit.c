/*
 * ratelimit.c: fixed-window counters kept in PostgreSQL, so every daemon
 * sharing the database enforces the same limit.
 */
#include <stdio.h>
#include <stdlib.h>

#include "synstack.h"

int
ratelimit_hit(struct db_pool *p, const char *bucket, long limit,
    long window_s, struct err *e)
{
	char		 win[24];
	const char	*params[2] = { bucket, win };
	PGresult	*res;
	long		 hits, retry;

	snprintf(win, sizeof(win), "%ld", window_s);
	res = db_exec(p, e,
	    "INSERT INTO rate_limits AS r (bucket, window_start, hits)"
	    " VALUES ($1, now(), 1)"
	    " ON CONFLICT (bucket) DO UPDATE SET"
	    "  hits = CASE WHEN r.window_start <= now() -"
	    "   make_interval(secs => $2::int) THEN 1 ELSE r.hits + 1 END,"
	    "  window_start = CASE WHEN r.window_start <= now() -"
	    "   make_interval(secs => $2::int) THEN now() ELSE r.window_start END"
	    " RETURNING hits, ceil(extract(epoch FROM r.window_start +"
	    "  make_interval(secs => $2::int) - now()))::bigint", 2, params);
	if (res == NULL)
		return -1;
	hits = strtol(PQgetvalue(res, 0, 0), NULL, 10);
	retry = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (hits <= limit)
		return 0;
	err_set(e, ERR_RATE_LIMITED, "more than %ld requests of this kind in"
	    " %ld seconds", limit, window_s);
	e->retry_after = retry > 0 ? (int)retry : 1;
	err_hint(e, "wait %d seconds and try again", e->retry_after);
	return -1;
}
