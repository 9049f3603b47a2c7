/*
 * keycache.c: active agents by the hash of their key, so that a request
 * needs no key lookup of its own (its first statement is its own work).
 *
 * An entry is only as good as what tells us of changes: every change of
 * an agent's status, name or key is announced by PostgreSQL
 * (0012-agent-changes.sql: NOTIFY synstack_agents, the agent's id, at
 * commit) to each daemon's listener, which forgets the agent; this
 * daemon's own changes forget it directly, before they answer.  While the
 * listener is not connected the cache is off and emptied (notices sent
 * meanwhile are lost), so a suspension is never missed: at worst a
 * request that another daemon took in the moment between the commit and
 * the notice is served, as one that arrived just before would have been.
 * Entries are direct-mapped by the hash (uniform already); a collision
 * just replaces the older one.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define KEYCACHE_SLOTS	16384		/* a power of two; ~2.5 MB */

struct keycache_slot {
	char		hash[HASH_HEX_LEN + 1];	/* "" = empty */
	struct agent	agent;
};

static struct {
	pthread_mutex_t		 mtx;
	bool			 on;
	unsigned long		 generation;	/* bumped by every forget */
	struct keycache_slot	*slots;
} cache = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static size_t
keycache_index(const char *hash)
{
	return (size_t)strtoul((char[]){ hash[0], hash[1], hash[2], hash[3],
	    '\0' }, NULL, 16) & (KEYCACHE_SLOTS - 1);
}

void
keycache_enable(bool on)
{
	pthread_mutex_lock(&cache.mtx);
	cache.generation++;
	if (on && cache.slots == NULL)
		cache.slots = calloc(KEYCACHE_SLOTS, sizeof(*cache.slots));
	else if (cache.slots != NULL)
		memset(cache.slots, 0, KEYCACHE_SLOTS * sizeof(*cache.slots));
	cache.on = on && cache.slots != NULL;
	pthread_mutex_unlock(&cache.mtx);
}

bool
keycache_get(const char *hash, struct agent *out, unsigned long *generation)
{
	struct keycache_slot	*s;
	bool			 hit = false;

	pthread_mutex_lock(&cache.mtx);
	*generation = cache.generation;
	if (cache.on) {
		s = &cache.slots[keycache_index(hash)];
		if (strcmp(s->hash, hash) == 0) {
			*out = s->agent;
			hit = true;
		}
	}
	pthread_mutex_unlock(&cache.mtx);
	return hit;
}

/* Kept only if nothing was forgotten since the lookup began: a notice
 * that arrived meanwhile may be about this very agent. */
void
keycache_put(const char *hash, const struct agent *a,
    unsigned long generation)
{
	struct keycache_slot	*s;

	pthread_mutex_lock(&cache.mtx);
	if (cache.on && cache.generation == generation) {
		s = &cache.slots[keycache_index(hash)];
		strlcpy_ss(s->hash, hash, sizeof(s->hash));
		s->agent = *a;
	}
	pthread_mutex_unlock(&cache.mtx);
}

void
keycache_forget(const char *agent_id)
{
	size_t	i;

	pthread_mutex_lock(&cache.mtx);
	cache.generation++;
	for (i = 0; cache.on && i < KEYCACHE_SLOTS; i++)
		if (agent_id == NULL ||
		    strcmp(cache.slots[i].agent.id, agent_id) == 0)
			memset(&cache.slots[i], 0, sizeof(cache.slots[i]));
	pthread_mutex_unlock(&cache.mtx);
}
