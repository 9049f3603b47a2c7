/*
 * jobs.c: background work, on one thread that wakes every second: the
 * outbox is drained (without a pause while batches come full) and
 * approved PRs are auto-merged each time, expired
 * claims are released (and suspended agents' Gitea users Gitea was away
 * for are blocked) every 10 s, and the reconciliation with Gitea runs at
 * start and every sync.interval (read anew each time, so SIGHUP changes
 * it).  Several daemons coordinate through PostgreSQL (an advisory lock
 * for the reconciliation, SKIP LOCKED for the outbox and deployments).
 * Deployments run on a thread of their own (runner_loop).
 */
#include <pthread.h>
#include <time.h>

#include "daemon.h"

static struct {
	pthread_mutex_t	mtx;
	pthread_cond_t	cv;
	pthread_t	thread;
	bool		running, stop;
} jobs = { .mtx = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

#define JOBS_TICK_S		1
#define JOBS_OUTBOX_BATCH	100
#define JOBS_EXPIRY_MS		10000	/* claims expire within 10 s */

static void *
jobs_loop(void *arg)
{
	struct core		 core;
	struct mirror_report	 rep;
	struct err		 e;
	struct timespec		 ts;
	long			 next_sync = 0, next_expiry = 0;
	int			 handled;
	bool			 more;

	(void)arg;
	for (;;) {
		core.pool = daemon_state.pool;
		core.conf = server_conf();
		core.vault = &daemon_state.vault;
		err_clear(&e);
		if (now_ms() >= next_sync) {
			mirror_run(&core, &rep, &e);	/* logs its outcome */
			next_sync = now_ms() + core.conf->sync_interval;
		}
		err_clear(&e);
		if (outbox_drain(&core, JOBS_OUTBOX_BATCH, &handled, &e) == -1)
			log_warn("outbox: %s", e.message);
		/* A full batch: more may be due; no pause before the next. */
		more = handled == JOBS_OUTBOX_BATCH;
		err_clear(&e);
		if (pull_automerge_sweep(&core, &handled, &e) == -1)
			log_warn("auto-merge: %s", e.message);
		err_clear(&e);
		if (now_ms() >= next_expiry) {
			if (work_expire_claims(&core, &handled, &e) == -1)
				log_warn("claim expiry: %s", e.message);
			else if (handled > 0)
				log_info("claim expiry: %d claims released",
				    handled);
			err_clear(&e);
			if (agent_block_pending(&core, &handled, &e) == -1)
				log_warn("suspension: %s", e.message);
			else if (handled > 0)
				log_info("suspension: %d Gitea users blocked",
				    handled);
			next_expiry = now_ms() + JOBS_EXPIRY_MS;
		}
		pthread_mutex_lock(&jobs.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += JOBS_TICK_S;
		while (!more && !jobs.stop && pthread_cond_timedwait(&jobs.cv,
		    &jobs.mtx, &ts) == 0)
			;
		if (jobs.stop) {
			pthread_mutex_unlock(&jobs.mtx);
			return NULL;
		}
		pthread_mutex_unlock(&jobs.mtx);
	}
}

/*
 * The deploy runner: a thread of its own, since a deploy may take up to
 * deploy.timeout; it takes one queued deployment after another, and every
 * minute errors those a stopped daemon left in progress.
 */
static struct {
	pthread_t	thread;
	bool		running;
} runner;

static void *
runner_loop(void *arg)
{
	struct core	 core;
	struct err	 e;
	struct timespec	 ts;
	long		 next_reap = 0;
	bool		 ran;

	(void)arg;
	for (;;) {
		core.pool = daemon_state.pool;
		core.conf = server_conf();
		core.vault = &daemon_state.vault;
		err_clear(&e);
		if (now_ms() >= next_reap) {
			if (deploy_reap(&core, &e) == -1)
				log_warn("deployments: %s", e.message);
			next_reap = now_ms() + 60000;
		}
		err_clear(&e);
		ran = false;
		if (deploy_run_next(&core, &ran, &e) == -1)
			log_warn("deployments: %s", e.message);
		pthread_mutex_lock(&jobs.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += JOBS_TICK_S;
		while (!ran && !jobs.stop && pthread_cond_timedwait(&jobs.cv,
		    &jobs.mtx, &ts) == 0)
			;
		if (jobs.stop) {
			pthread_mutex_unlock(&jobs.mtx);
			return NULL;
		}
		pthread_mutex_unlock(&jobs.mtx);
	}
}

void
jobs_start(void)
{
	if (pthread_create(&runner.thread, NULL, runner_loop, NULL) == 0)
		runner.running = true;
	else
		log_error("cannot start the deploy runner");
	if (pthread_create(&jobs.thread, NULL, jobs_loop, NULL) == 0)
		jobs.running = true;
	else
		log_error("cannot start the background jobs");
}

void
jobs_stop(void)
{
	if (!jobs.running && !runner.running)
		return;
	pthread_mutex_lock(&jobs.mtx);
	jobs.stop = true;
	pthread_cond_broadcast(&jobs.cv);
	pthread_mutex_unlock(&jobs.mtx);
	/* A deploy command running is stopped, and recorded as such. */
	deploy_interrupt();
	pthread_join(jobs.thread, NULL);
	jobs.running = false;
	if (runner.running)
		pthread_join(runner.thread, NULL);
	runner.running = false;
}
