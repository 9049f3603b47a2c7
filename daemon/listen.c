/*
 * listen.c: PostgreSQL's notices, on a thread and a connection of their
 * own, one table of channels.  While the listener is connected the key
 * cache may serve (every change of an agent reaches it); while it is not,
 * the cache is off.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "daemon.h"

static void
on_agent(const char *payload)
{
	keycache_forget(payload);
}

static const struct channel {
	const char	*name;
	void		(*fn)(const char *);
} channels[] = {
	{ "synstack_agents", on_agent },	/* 0012-agent-changes.sql */
};
#define NCHANNELS	(sizeof(channels) / sizeof(channels[0]))

static struct {
	pthread_t		 thread;
	bool			 running;
	_Atomic bool		 stop;
	struct db_listener	*l;
} listen_state;

static void
dispatch(const char *channel, const char *payload, void *arg)
{
	size_t	i;

	(void)arg;
	for (i = 0; i < NCHANNELS; i++)
		if (strcmp(channels[i].name, channel) == 0)
			channels[i].fn(payload);
}

static void *
listen_loop(void *arg)
{
	bool	up = false, now;

	(void)arg;
	while (!listen_state.stop) {
		now = db_listener_wait(listen_state.l, 500, dispatch, NULL) == 1;
		if (now != up) {
			keycache_enable(now);
			if (now)
				log_info("database listener connected");
			up = now;
		}
	}
	keycache_enable(false);
	return NULL;
}

void
listen_start(struct db_pool *pool)
{
	static const char	*names[NCHANNELS + 1];
	size_t			 i;

	for (i = 0; i < NCHANNELS; i++)
		names[i] = channels[i].name;
	if ((listen_state.l = db_listener_new(pool, names)) == NULL ||
	    pthread_create(&listen_state.thread, NULL, listen_loop, NULL) != 0) {
		log_error("cannot start the database listener; agent keys are"
		    " looked up on every request");
		return;
	}
	listen_state.running = true;
}

void
listen_stop(void)
{
	if (!listen_state.running)
		return;
	listen_state.stop = true;
	pthread_join(listen_state.thread, NULL);
	db_listener_free(listen_state.l);
	listen_state.running = false;
}
