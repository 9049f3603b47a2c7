/*
 * fuzz.h: what the libFuzzer targets share.  Each target is a file of its
 * own with one LLVMFuzzerTestOneInput; fuzz-common.c sets up synstackd's
 * state once: its configuration, the pool, and for the HTTP targets the
 * server itself, listening on a unix socket of the process's own.
 *
 * With SYNSTACK_FUZZ_DB (a libpq connection string) and
 * SYNSTACK_FUZZ_SCHEMA (the migrations) the targets run against a real
 * database holding a small world (an active agent, a project, issues, a
 * PR), so inputs reach the SQL behind the commands, the MCP tools and the
 * webhook appliers; without them every database call fails at once and
 * the targets stay in the parsing and checking code.  Gitea is an address
 * where nothing listens.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stdint.h>

#include "daemon.h"

/* The fuzz agent's key, and the admin token of the configuration. */
#define FUZZ_AGENT_KEY	"ssk_ZnV6emluZy1hZ2VudC1rZXktZm9yLXN5bnN0YWNrISE"
#define FUZZ_ADMIN_TOKEN "fuzz-admin-token-for-synstack"
#define FUZZ_HOOK_SECRET "fuzz-webhook-secret"

struct fuzz_env {
	const struct conf	*conf;
	struct core		 core;
	struct agent		 agent;		/* active, with a database */
	bool			 db;
};

/* Once per process; http: start the in-process request path too. */
const struct fuzz_env	*fuzz_setup(bool);
/* One connection to the in-process server: the bytes sent, the answer
 * read to its end.  A server that answers 500, or nothing within 10 s,
 * is a finding: abort(). */
void			 fuzz_exchange(const uint8_t *, size_t);

#endif /* FUZZ_H */
