/*
 * api-health.c: /healthz and /metrics.  Whether Gitea is up is what its
 * last call said (lib/gitea.c notes every call), so an outage shows as
 * soon as any call fails; a background thread probes it too, every 10 s
 * (every second while it is down, to see it back), so a slow or dead
 * Gitea never makes a health check hang.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"

#define HEALTH_INTERVAL_S	10
#define HEALTH_DOWN_INTERVAL_S	1

static struct {
	pthread_mutex_t	mtx;
	pthread_cond_t	cv;
	pthread_t	thread;
	bool		running, stop;
	char		version[64];
} health = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void
health_probe(void)
{
	struct err	e;
	char		version[64] = "";

	err_clear(&e);
	/* A failure is noted (and logged) by the Gitea client itself. */
	if (gitea_probe(server_conf(), version, sizeof(version), &e) == 0) {
		pthread_mutex_lock(&health.mtx);
		strlcpy_ss(health.version, version, sizeof(health.version));
		pthread_mutex_unlock(&health.mtx);
		/* The token: at start, and while refused (so a user made
		 * a site admin shows); once taken, calls refused with 401
		 * say if it stops being. */
		if (gitea_token_state(NULL, 0) != GITEA_TOKEN_OK) {
			err_clear(&e);
			(void)gitea_check_token(server_conf(), &e);
		}
	}
}

static void *
health_loop(void *arg)
{
	struct timespec	ts;

	(void)arg;
	for (;;) {
		health_probe();
		pthread_mutex_lock(&health.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += gitea_health(NULL, 0) ? HEALTH_INTERVAL_S :
		    HEALTH_DOWN_INTERVAL_S;
		while (!health.stop && pthread_cond_timedwait(&health.cv,
		    &health.mtx, &ts) == 0)
			;
		if (health.stop) {
			pthread_mutex_unlock(&health.mtx);
			return NULL;
		}
		pthread_mutex_unlock(&health.mtx);
	}
}

void
health_start(void)
{
	/* The first probe runs before serving, so /healthz is never blind. */
	health_probe();
	if (pthread_create(&health.thread, NULL, health_loop, NULL) == 0)
		health.running = true;
}

void
health_stop(void)
{
	if (!health.running)
		return;
	pthread_mutex_lock(&health.mtx);
	health.stop = true;
	pthread_cond_signal(&health.cv);
	pthread_mutex_unlock(&health.mtx);
	pthread_join(health.thread, NULL);
	health.running = false;
}

bool
health_gitea_up(void)
{
	return gitea_health(NULL, 0);
}

void
api_healthz(struct request *rq, struct response *rs)
{
	json_object	*root, *db, *gitea, *hooks;
	struct err	 e;
	enum webhook_watch_state watch;
	enum gitea_token token;
	char		 error[256], since[32], url[2048], advice[2560];
	char		 hint[2700];
	char		 token_error[800];
	long		 usec;
	bool		 db_ok, gitea_ok;

	err_clear(&e);
	db_ok = db_ping(rq->pool, &usec, &e) == 0;
	db = json_object_new_object();
	json_object_object_add(db, "ok", json_object_new_boolean(db_ok));
	if (db_ok) {
		char ms[32];

		snprintf(ms, sizeof(ms), "%.3f", (double)usec / 1000.0);
		json_object_object_add(db, "latency_ms",
		    json_object_new_double_s((double)usec / 1000.0, ms));
	}
	else
		json_object_object_add(db, "error",
		    json_object_new_string(e.message));

	gitea = json_object_new_object();
	gitea_ok = gitea_health(error, sizeof(error));
	json_object_object_add(gitea, "ok", json_object_new_boolean(gitea_ok));
	json_object_object_add(gitea, "url",
	    json_object_new_string(rq->conf->gitea_url));
	pthread_mutex_lock(&health.mtx);
	if (gitea_ok)
		json_object_object_add(gitea, "version",
		    json_object_new_string(health.version));
	else
		json_object_object_add(gitea, "error",
		    json_object_new_string(error));
	pthread_mutex_unlock(&health.mtx);
	/* A refused admin token leaves Gitea up and the mirror dead. */
	token = gitea_token_state(token_error, sizeof(token_error));
	json_object_object_add(gitea, "admin_token", json_object_new_string(
	    token == GITEA_TOKEN_OK ? "ok" : token == GITEA_TOKEN_REFUSED ?
	    "refused" : "unknown"));
	if (token == GITEA_TOKEN_REFUSED)
		json_object_object_add(gitea, "admin_token_error",
		    json_object_new_string(token_error));

	/* Webhooks that look blocked (lib/webhook.c says when). */
	hooks = json_object_new_object();
	watch = db_ok ? webhook_watch_get(rq->pool, rq->conf, since,
	    sizeof(since)) : WATCH_UNKNOWN;
	json_object_object_add(hooks, "status", json_object_new_string(
	    watch == WATCH_SILENT ? "silent" : watch == WATCH_OK ? "ok" :
	    "unknown"));
	if (watch == WATCH_SILENT) {
		webhook_hook_url(rq->conf, url, sizeof(url));
		webhook_silent_advice(rq->conf, advice, sizeof(advice));
		snprintf(hint, sizeof(hint), "the reconciliation keeps finding"
		    " changes no webhook delivered: %s", advice);
		json_object_object_add(hooks, "since",
		    json_object_new_string(since));
		json_object_object_add(hooks, "hook_url",
		    json_object_new_string(url));
		json_object_object_add(hooks, "hint",
		    json_object_new_string(hint));
	}

	/* Gitea down, its token refused or webhooks silent degrade the
	 * sidecar (the mirror lags); without its database it is out. */
	root = json_object_new_object();
	json_object_object_add(root, "ok", json_object_new_boolean(db_ok));
	json_object_object_add(root, "status", json_object_new_string(
	    !db_ok ? "unavailable" : gitea_ok && watch != WATCH_SILENT &&
	    token != GITEA_TOKEN_REFUSED ? "ok" : "degraded"));
	json_object_object_add(root, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(root, "database", db);
	json_object_object_add(root, "gitea", gitea);
	json_object_object_add(root, "webhooks", hooks);
	reply_json(rs, db_ok ? 200 : 503, root);
}

void
api_metrics(struct request *rq, struct response *rs)
{
	struct err	e;

	if ((rs->text = metrics_render(rq->pool)) == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		reply_error(rs, &e);
		return;
	}
	rs->status = 200;
	rs->content_type = "text/plain; version=0.0.4; charset=utf-8";
}
