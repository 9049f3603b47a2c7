/*
 * jobs.c: background work.  One thread runs the reconciliation with Gitea
 * at start and every sync.interval (read anew each time, so SIGHUP changes
 * it); several daemons coordinate through PostgreSQL's advisory lock.
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

static void
jobs_sync_once(void)
{
	struct core		 core;
	struct mirror_report	 rep;
	struct err		 e;

	err_clear(&e);
	core.pool = daemon_state.pool;
	core.conf = server_conf();
	core.vault = &daemon_state.vault;
	mirror_run(&core, &rep, &e);	/* it logs its own outcome */
}

static void *
jobs_loop(void *arg)
{
	struct timespec	ts;
	long		ms;

	(void)arg;
	for (;;) {
		jobs_sync_once();
		ms = server_conf()->sync_interval;
		pthread_mutex_lock(&jobs.mtx);
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!jobs.stop && pthread_cond_timedwait(&jobs.cv, &jobs.mtx,
		    &ts) == 0)
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
	if (pthread_create(&jobs.thread, NULL, jobs_loop, NULL) == 0)
		jobs.running = true;
	else
		log_error("cannot start the background jobs");
}

void
jobs_stop(void)
{
	if (!jobs.running)
		return;
	pthread_mutex_lock(&jobs.mtx);
	jobs.stop = true;
	pthread_cond_signal(&jobs.cv);
	pthread_mutex_unlock(&jobs.mtx);
	pthread_join(jobs.thread, NULL);
	jobs.running = false;
}
