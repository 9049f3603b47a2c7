/*
 * api-hooks.c: POST /hooks/gitea, where Gitea delivers its webhooks, and
 * the worker threads that apply what it stored.  Gitea gives up on a
 * delivery after a few seconds and never retries: the answer comes once
 * the delivery is stored, whatever applying it will take.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#include "daemon.h"

#define HOOKS_WORKERS	2	/* one waits on Gitea, one goes on */
#define HOOKS_POLL_S	1	/* for other daemons' deliveries and retries */

static struct {
	pthread_mutex_t	mtx;
	pthread_cond_t	cv;
	pthread_t	threads[HOOKS_WORKERS];
	int		running;
	unsigned long	wakes;
	atomic_bool	stop;
} hooks = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static const char *
header(struct request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void
api_gitea_hook(struct request *rq, struct response *rs)
{
	struct webhook		 w;
	enum webhook_outcome	 outcome;
	struct err		 e;
	json_object		*data;
	char			 id[37];

	err_clear(&e);
	w.delivery = header(rq, "X-Gitea-Delivery");
	w.event = header(rq, "X-Gitea-Event");
	w.event_type = header(rq, "X-Gitea-Event-Type");
	w.signature = header(rq, "X-Gitea-Signature");
	w.body = rq->body != NULL ? rq->body : "";
	w.len = rq->body_len;
	if (webhook_receive(rq->pool, rq->conf, &w, &outcome, id, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	if (outcome == WEBHOOK_QUEUED)
		hooks_wake();
	data = json_object_new_object();
	json_object_object_add(data, "outcome",
	    json_object_new_string(webhook_outcome_name(outcome)));
	if (id[0] != '\0')
		json_object_object_add(data, "id", json_object_new_string(id));
	reply_json(rs, 200, json_ok(webhook_outcome_name(outcome), data, NULL));
}

void
hooks_wake(void)
{
	pthread_mutex_lock(&hooks.mtx);
	hooks.wakes++;
	pthread_cond_signal(&hooks.cv);
	pthread_mutex_unlock(&hooks.mtx);
}

static void *
hooks_loop(void *arg)
{
	struct timespec	 ts;
	struct err	 e;
	unsigned long	 seen;
	int		 rc;

	(void)arg;
	for (;;) {
		pthread_mutex_lock(&hooks.mtx);
		seen = hooks.wakes;
		pthread_mutex_unlock(&hooks.mtx);
		/* Until the queue has nothing due. */
		do {
			err_clear(&e);
			rc = webhook_apply_next(daemon_state.pool, server_conf(),
			    &e);
			if (rc == -1)
				log_warn("webhook worker: %s", e.message);
		} while (rc == 1 && !hooks.stop);
		pthread_mutex_lock(&hooks.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += HOOKS_POLL_S;
		while (!hooks.stop && hooks.wakes == seen &&
		    pthread_cond_timedwait(&hooks.cv, &hooks.mtx, &ts) == 0)
			;
		if (hooks.stop) {
			pthread_mutex_unlock(&hooks.mtx);
			return NULL;
		}
		pthread_mutex_unlock(&hooks.mtx);
	}
}

void
hooks_start(void)
{
	int	i;

	for (i = 0; i < HOOKS_WORKERS; i++) {
		if (pthread_create(&hooks.threads[i], NULL, hooks_loop, NULL) !=
		    0) {
			log_error("cannot start a webhook worker");
			break;
		}
		hooks.running++;
	}
}

void
hooks_stop(void)
{
	int	i;

	pthread_mutex_lock(&hooks.mtx);
	hooks.stop = true;
	pthread_cond_broadcast(&hooks.cv);
	pthread_mutex_unlock(&hooks.mtx);
	for (i = 0; i < hooks.running; i++)
		pthread_join(hooks.threads[i], NULL);
	hooks.running = 0;
}
