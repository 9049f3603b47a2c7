/* fuzz-common.c: synstackd's state for the libFuzzer targets (fuzz.h). */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"

#define FUZZ_TIMEOUT_S	10

static struct fuzz_env	env;

/* The small world of a fuzzing database, made once (several fuzzers may
 * share the database: every row is made only if missing). */
static const char *const fuzz_world_sql[] = {
	"INSERT INTO agents (name, status, api_key_hash, api_key_prefix,"
	" gitea_username) VALUES ('other', 'active', repeat('0', 64),"
	" 'ssk_0000', 'other') ON CONFLICT DO NOTHING",
	"INSERT INTO projects (gitea_repo_id, owner, name, description,"
	" clone_url, html_url, gitea_updated_at) VALUES (1, 'acme', 'widgets',"
	" 'Widget library', 'http://127.0.0.1:9/acme/widgets.git',"
	" 'http://127.0.0.1:9/acme/widgets', '2030-01-01T00:00:00Z')"
	" ON CONFLICT DO NOTHING",
	NULL
};

static const char fuzz_world_rows_sql[] =
    "WITH p AS (SELECT id FROM projects WHERE gitea_repo_id = 1),"
    " a AS (SELECT id FROM agents WHERE name IN ('fuzzer', 'other')),"
    " m AS (INSERT INTO project_members (project_id, agent_id)"
    "  SELECT p.id, a.id FROM p, a ON CONFLICT DO NOTHING),"
    " i AS (INSERT INTO issues (project_id, gitea_issue_id, number, title,"
    "  body, gitea_updated_at) SELECT p.id, g, g - 100, 'Issue ' || g, 'x',"
    "  '2030-01-01T00:00:00Z' FROM p, generate_series(101, 104) g"
    "  ON CONFLICT DO NOTHING)"
    " INSERT INTO pull_requests (project_id, gitea_pr_id, gitea_pr_number,"
    "  author_id, author_login, source_branch, head_sha, gitea_updated_at)"
    " SELECT p.id, 105, 5, (SELECT id FROM agents WHERE name = 'other'),"
    "  'other', 'fix-grid', repeat('a', 40), '2030-01-01T00:00:00Z' FROM p"
    " ON CONFLICT DO NOTHING";

static void
fuzz_world(void)
{
	char		 hash[HASH_HEX_LEN + 1];
	const char	*params[1] = { hash };
	struct err	 e;
	PGconn		*c;
	PGresult	*res;
	int		 i;

	err_clear(&e);
	if ((c = db_acquire(env.core.pool, &e)) == NULL ||
	    migrate_apply(c, getenv("SYNSTACK_FUZZ_SCHEMA"), &e) == -1) {
		fprintf(stderr, "fuzz: the database is not usable: %s\n",
		    e.message);
		abort();
	}
	key_hash_hex(FUZZ_AGENT_KEY, hash);
	/* Active again: an earlier run may have suspended it. */
	res = PQexecParams(c, "INSERT INTO agents (name, status, api_key_hash,"
	    " api_key_prefix, gitea_username) VALUES ('fuzzer', 'active', $1,"
	    " 'ssk_ZnV6', 'fuzzer') ON CONFLICT (name) DO UPDATE SET status ="
	    " 'active', api_key_hash = $1", 1, NULL, params, NULL, NULL, 0);
	PQclear(res);
	for (i = 0; fuzz_world_sql[i] != NULL; i++)
		PQclear(PQexec(c, fuzz_world_sql[i]));
	PQclear(PQexec(c, fuzz_world_rows_sql));
	db_release(env.core.pool, c);
	if (agent_authenticate(env.core.pool, FUZZ_AGENT_KEY, &env.agent,
	    &e) == -1) {
		fprintf(stderr, "fuzz: no fuzz agent: %s\n", e.message);
		abort();
	}
}

const struct fuzz_env *
fuzz_setup(bool http)
{
	static bool	 done;
	char		 yaml[2048], secret[64], hash[HASH_HEX_LEN + 1];
	static char	 sock[64];
	const char	*db = getenv("SYNSTACK_FUZZ_DB");
	struct conf	*conf;
	struct err	 e;
	int		 fd;

	if (done)
		return &env;
	done = true;
	log_init("fuzz");
	log_set_level(getenv("SYNSTACK_FUZZ_DEBUG") != NULL ? LOG_DEBUG :
	    LOG_ERROR);
	if (sodium_init() < 0)
		abort();
	gitea_global_init();
	/* The webhook secret, in a file of the owner's only. */
	snprintf(secret, sizeof(secret), "/tmp/synstack-fuzz-%ld.secret",
	    (long)getpid());
	if ((fd = open(secret, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    write(fd, FUZZ_HOOK_SECRET "\n", sizeof(FUZZ_HOOK_SECRET)) !=
	    (ssize_t)sizeof(FUZZ_HOOK_SECRET))
		abort();
	close(fd);
	key_hash_hex(FUZZ_ADMIN_TOKEN, hash);
	env.db = db != NULL && *db != '\0';
	snprintf(sock, sizeof(sock), "/tmp/synstack-fuzz-%ld.sock",
	    (long)getpid());
	snprintf(yaml, sizeof(yaml),
	    "http:\n  listen: [\"unix:%s\"]\n"
	    "  public_url: http://127.0.0.1:8470\n"
	    "  request_timeout: 5s\n"
	    "database:\n  url: \"%s\"\n  pool_size: 4\n"
	    "  connect_timeout: 1s\n  acquire_timeout: 2s\n"
	    "gitea:\n  url: http://127.0.0.1:9\n  timeout: 200ms\n"
	    "  webhook_secret_file: %s\n"
	    "admin:\n  token_hashes: [\"sha256:%s\"]\n"
	    "limits:\n  register_per_hour: 1000000\n"
	    "log:\n  level: %s\n  requests: false\n",
	    sock, env.db ? db : "host=/nonexistent-synstack-fuzz dbname=none",
	    secret, hash, getenv("SYNSTACK_FUZZ_DEBUG") != NULL ? "debug" :
	    "error");
	err_clear(&e);
	if ((conf = conf_load_buffer(yaml, strlen(yaml), "fuzz.yaml", &e)) ==
	    NULL) {
		fprintf(stderr, "fuzz: %s\n", e.message);
		abort();
	}
	unlink(secret);
	server_set_conf(conf);
	if ((daemon_state.pool = db_pool_new(conf, &e)) == NULL)
		abort();
	vault_load(&daemon_state.vault, "", &e);
	env.conf = conf;
	env.core.pool = daemon_state.pool;
	env.core.conf = conf;
	env.core.vault = &daemon_state.vault;
	strlcpy_ss(env.agent.name, "fuzzer", sizeof(env.agent.name));
	strlcpy_ss(env.agent.status, "active", sizeof(env.agent.status));
	if (env.db)
		fuzz_world();
	/* A real listening socket of its own: the request path as clients
	 * meet it. */
	if (http && server_start(conf) == -1)
		abort();
	if (http)
		atexit(server_stop);
	return &env;
}

void
fuzz_exchange(const uint8_t *data, size_t size)
{
	struct timeval	 tv = { FUZZ_TIMEOUT_S, 0 };
	char		 head[16];
	size_t		 off = 0, got = 0;
	struct sockaddr_un sun;
	ssize_t		 n;
	int		 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "/tmp/synstack-fuzz-%ld.sock",
	    (long)getpid());
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		abort();
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "fuzz: cannot connect: %s\n", strerror(errno));
		abort();
	}
	/* The server may answer and close before it read everything.
	 * libFuzzer's timers interrupt system calls: EINTR is no answer. */
	while (off < size) {
		n = send(fd, data + off, size - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		char	buf[4096];

		n = recv(fd, buf, sizeof(buf), 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 || (n == -1 && errno == ECONNRESET))
			break;
		if (n == -1) {
			fprintf(stderr, "fuzz: no answer within %d s\n",
			    FUZZ_TIMEOUT_S);
			abort();
		}
		if (got < sizeof(head) - 1) {
			size_t	k = sizeof(head) - 1 - got;

			memcpy(head + got, buf, (size_t)n < k ? (size_t)n : k);
		}
		got += (size_t)n;
	}
	close(fd);
	head[got < sizeof(head) - 1 ? got : sizeof(head) - 1] = '\0';
	if (strncmp(head, "HTTP/1.1 500", 12) == 0 ||
	    strncmp(head, "HTTP/1.0 500", 12) == 0) {
		fprintf(stderr, "fuzz: the server answered 500\n");
		abort();
	}
}
