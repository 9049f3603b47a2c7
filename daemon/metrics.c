/* metrics.c: Prometheus text for requests, latency, the pool and Gitea. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define METRICS_ROUTES	64	/* >= routes_n + 1 (unmatched) */

static const int metric_statuses[] = {
	200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429,
	500, 502, 503
};
#define NSTATUS	(sizeof(metric_statuses) / sizeof(metric_statuses[0]) + 1)

static const double metric_buckets[] = {
	0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define NBUCKET	(sizeof(metric_buckets) / sizeof(metric_buckets[0]))

static atomic_ulong	requests[METRICS_ROUTES][NSTATUS];
static atomic_ulong	latency[METRICS_ROUTES][NBUCKET + 1];
static atomic_ulong	latency_sum_us[METRICS_ROUTES];

static size_t
status_slot(int status)
{
	size_t	i;

	for (i = 0; i < NSTATUS - 1; i++)
		if (metric_statuses[i] == status)
			return i;
	return NSTATUS - 1;
}

void
metrics_count(int route, const char *method, int status, long usec)
{
	size_t	r = route < 0 ? 0 : (size_t)route + 1, b;

	(void)method;
	if (r >= METRICS_ROUTES)
		return;
	atomic_fetch_add(&requests[r][status_slot(status)], 1);
	for (b = 0; b < NBUCKET; b++)
		if ((double)usec / 1e6 <= metric_buckets[b])
			break;
	atomic_fetch_add(&latency[r][b], 1);
	atomic_fetch_add(&latency_sum_us[r], (unsigned long)usec);
}

struct mbuf {
	char	*p;
	size_t	 len, cap;
};

static void SS_PRINTF(2, 3)
mput(struct mbuf *m, const char *fmt, ...)
{
	va_list	ap;
	int	n;
	char	*q;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(m->p + m->len, m->cap - m->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < m->cap - m->len) {
			m->len += n;
			return;
		}
		if ((q = realloc(m->p, m->cap * 2)) == NULL)
			return;
		m->p = q;
		m->cap *= 2;
	}
}

/* From the database, so every daemon reports the same, whoever ran it. */
static void
sync_metrics(struct mbuf *m, struct db_pool *pool)
{
	struct err	 e;
	PGresult	*res;

	err_clear(&e);
	res = db_exec(pool, &e, "SELECT extract(epoch FROM now() -"
	    " max(finished_at))::bigint, (SELECT gitea_calls FROM sync_runs"
	    "  WHERE outcome = 'ok' ORDER BY finished_at DESC LIMIT 1),"
	    " (SELECT count(*) FROM gitea_outbox WHERE done_at IS NULL),"
	    " (SELECT count(*) FROM webhook_deliveries WHERE processed_at"
	    "  IS NULL),"
	    " (SELECT count(*) FROM webhook_watch WHERE silent_since IS NOT"
	    "  NULL)"
	    " FROM sync_runs WHERE outcome = 'ok'", 0, NULL);
	if (res == NULL)
		return;
	mput(m, "# HELP synstack_sync_lag_seconds Time since the last"
	    " successful reconciliation (-1: none yet).\n"
	    "# TYPE synstack_sync_lag_seconds gauge\n"
	    "synstack_sync_lag_seconds %s\n"
	    "# HELP synstack_sync_gitea_calls Gitea calls of the last successful"
	    " reconciliation.\n# TYPE synstack_sync_gitea_calls gauge\n"
	    "synstack_sync_gitea_calls %s\n"
	    "# HELP synstack_outbox_depth Gitea writes waiting to be done.\n"
	    "# TYPE synstack_outbox_depth gauge\nsynstack_outbox_depth %s\n"
	    "# HELP synstack_webhook_queue_depth Stored deliveries not yet"
	    " applied.\n# TYPE synstack_webhook_queue_depth gauge\n"
	    "synstack_webhook_queue_depth %s\n"
	    "# HELP synstack_webhooks_silent Whether webhooks look blocked:"
	    " reconciliations in a row found changes no delivery brought.\n"
	    "# TYPE synstack_webhooks_silent gauge\n"
	    "synstack_webhooks_silent %s\n",
	    PQgetisnull(res, 0, 0) ? "-1" : PQgetvalue(res, 0, 0),
	    PQgetisnull(res, 0, 1) ? "0" : PQgetvalue(res, 0, 1),
	    PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3),
	    server_conf()->gitea_webhook_secret == NULL ? "0" :
	    PQgetvalue(res, 0, 4));
	PQclear(res);
}

static void
route_labels(size_t r, const char **route, const char **method)
{
	*route = r == 0 ? "unmatched" : routes[r - 1].pattern;
	*method = r == 0 ? "" : routes[r - 1].method;
}

char *
metrics_render(struct db_pool *pool)
{
	struct mbuf		 m = { malloc(8192), 0, 8192 };
	struct db_pool_stats	 st;
	struct gitea_stats	 gs;
	enum webhook_outcome	 o;
	struct err		 e;
	const char		*route, *method;
	unsigned long		 n, cum, cut;
	size_t			 r, s, b, nroutes = routes_n + 1;
	long			 usec, open;
	int			 db_up;

	if (m.p == NULL)
		return NULL;
	m.p[0] = '\0';
	mput(&m, "# HELP synstack_http_requests_total HTTP requests answered,"
	    " by route and status.\n"
	    "# TYPE synstack_http_requests_total counter\n");
	for (r = 0; r < nroutes && r < METRICS_ROUTES; r++) {
		route_labels(r, &route, &method);
		for (s = 0; s < NSTATUS; s++) {
			if ((n = atomic_load(&requests[r][s])) == 0)
				continue;
			if (s == NSTATUS - 1)
				mput(&m, "synstack_http_requests_total{route=\"%s\","
				    "method=\"%s\",status=\"other\"} %lu\n",
				    route, method, n);
			else
				mput(&m, "synstack_http_requests_total{route=\"%s\","
				    "method=\"%s\",status=\"%d\"} %lu\n", route,
				    method, metric_statuses[s], n);
		}
	}
	mput(&m, "# HELP synstack_http_request_duration_seconds Time from"
	    " request headers to the queued answer.\n"
	    "# TYPE synstack_http_request_duration_seconds histogram\n");
	for (r = 0; r < nroutes && r < METRICS_ROUTES; r++) {
		route_labels(r, &route, &method);
		cum = 0;
		for (b = 0; b <= NBUCKET; b++)
			cum += atomic_load(&latency[r][b]);
		if (cum == 0)
			continue;
		cum = 0;
		for (b = 0; b < NBUCKET; b++) {
			cum += atomic_load(&latency[r][b]);
			mput(&m, "synstack_http_request_duration_seconds_bucket"
			    "{route=\"%s\",le=\"%g\"} %lu\n", route,
			    metric_buckets[b], cum);
		}
		cum += atomic_load(&latency[r][NBUCKET]);
		mput(&m, "synstack_http_request_duration_seconds_bucket"
		    "{route=\"%s\",le=\"+Inf\"} %lu\n", route, cum);
		mput(&m, "synstack_http_request_duration_seconds_sum"
		    "{route=\"%s\"} %.6f\n", route,
		    atomic_load(&latency_sum_us[r]) / 1e6);
		mput(&m, "synstack_http_request_duration_seconds_count"
		    "{route=\"%s\"} %lu\n", route, cum);
	}
	server_connection_stats(&open, &cut);
	mput(&m, "# HELP synstack_http_connections Connections open now.\n"
	    "# TYPE synstack_http_connections gauge\n"
	    "synstack_http_connections %ld\n"
	    "# HELP synstack_http_connections_cut_total Connections closed"
	    " because a request was not whole within http.request_timeout.\n"
	    "# TYPE synstack_http_connections_cut_total counter\n"
	    "synstack_http_connections_cut_total %lu\n", open, cut);
	err_clear(&e);
	db_up = db_ping(pool, &usec, &e) == 0;
	db_pool_stats(pool, &st);
	mput(&m, "# HELP synstack_db_up Whether PostgreSQL answered a ping.\n"
	    "# TYPE synstack_db_up gauge\nsynstack_db_up %d\n", db_up);
	mput(&m, "# HELP synstack_db_pool_connections Pooled connections.\n"
	    "# TYPE synstack_db_pool_connections gauge\n"
	    "synstack_db_pool_connections{state=\"max\"} %d\n"
	    "synstack_db_pool_connections{state=\"open\"} %d\n"
	    "synstack_db_pool_connections{state=\"in_use\"} %d\n",
	    st.size, st.open, st.in_use);
	mput(&m, "# HELP synstack_db_reconnects_total Connections reopened"
	    " after PostgreSQL closed them.\n"
	    "# TYPE synstack_db_reconnects_total counter\n"
	    "synstack_db_reconnects_total %d\n", st.reconnects);
	mput(&m, "# HELP synstack_db_round_trips_total Statements sent to"
	    " PostgreSQL (each a round trip), prepares included.\n"
	    "# TYPE synstack_db_round_trips_total counter\n"
	    "synstack_db_round_trips_total %lu\n", st.round_trips);
	mput(&m, "# HELP synstack_gitea_up Whether Gitea answered the last"
	    " call.\n# TYPE synstack_gitea_up gauge\nsynstack_gitea_up %d\n",
	    health_gitea_up() ? 1 : 0);
	mput(&m, "# HELP synstack_gitea_token_refused Whether Gitea refuses"
	    " gitea.admin_token (or it is not a site administrator's).\n"
	    "# TYPE synstack_gitea_token_refused gauge\n"
	    "synstack_gitea_token_refused %d\n",
	    gitea_token_state(NULL, 0) == GITEA_TOKEN_REFUSED ? 1 : 0);
	gitea_stats_get(&gs);
	mput(&m, "# HELP synstack_gitea_calls_total Requests sent to Gitea.\n"
	    "# TYPE synstack_gitea_calls_total counter\n"
	    "synstack_gitea_calls_total %lu\n"
	    "# HELP synstack_gitea_failures_total Requests Gitea did not answer"
	    " or answered with 5xx.\n"
	    "# TYPE synstack_gitea_failures_total counter\n"
	    "synstack_gitea_failures_total %lu\n"
	    "# HELP synstack_gitea_retries_total Reads sent again after a"
	    " failure.\n# TYPE synstack_gitea_retries_total counter\n"
	    "synstack_gitea_retries_total %lu\n", gs.calls, gs.failures,
	    gs.retries);
	sync_metrics(&m, pool);
	mput(&m, "# HELP synstack_webhook_deliveries_total Gitea deliveries,"
	    " by outcome.\n# TYPE synstack_webhook_deliveries_total counter\n");
	for (o = 0; o < WEBHOOK__OUTCOMES; o++)
		mput(&m, "synstack_webhook_deliveries_total{outcome=\"%s\"}"
		    " %lu\n", webhook_outcome_name(o), webhook_outcome_count(o));
	return m.p;
}
