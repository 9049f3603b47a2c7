/* check_conf.c: synstack.yaml parsing, its errors, and the sample file. */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_synstack.h"
#include "synstack.h"

#define HEX64 \
	"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static struct conf *
load(const char *yaml, struct err *e)
{
	memset(e, 0, sizeof(*e));
	return conf_load_buffer(yaml, strlen(yaml), "t.yaml", e);
}

/* The load must fail with exactly this message. */
static void
load_fails(const char *yaml, const char *msg)
{
	struct conf	*c;
	struct err	 e;

	c = load(yaml, &e);
	ck_assert_msg(c == NULL, "loaded, expected \"%s\"", msg);
	ck_assert_int_eq(e.code, ERR_CONFIG);
	ck_assert_str_eq(e.message, msg);
}

static struct conf *
load_ok(const char *yaml)
{
	struct conf	*c;
	struct err	 e;

	c = load(yaml, &e);
	ck_assert_msg(c != NULL, "failed: %s", e.message);
	return c;
}

/* A private temp file holding text, with the given mode. */
static void
temp_file(char *path, size_t pathsz, const char *text, mode_t mode)
{
	const char	*dir = getenv("TMPDIR");
	int		 fd;

	snprintf(path, pathsz, "%s/check_conf.XXXXXX",
	    dir != NULL && *dir != '\0' ? dir : "/tmp");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

START_TEST(test_defaults)
{
	struct conf	*c;
	struct err	 e;
	size_t		 i;

	memset(&e, 0, sizeof(e));
	c = conf_load(NULL, &e);
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_null(c->path);
	for (i = 0; i < conf_keys_n; i++)
		ck_assert(!c->seen[i]);
	ck_assert_uint_eq(c->http_listen.n, 1);
	ck_assert_str_eq(c->http_listen.v[0], "127.0.0.1:8470");
	ck_assert_int_eq(c->http_max_body, 1024 * 1024);
	ck_assert_int_eq(c->http_max_json_depth, 32);
	ck_assert_int_eq(c->http_max_connections, 2048);
	ck_assert_int_eq(c->http_request_timeout, 30000);
	ck_assert_int_eq(c->http_per_ip_connections, 64);
	ck_assert_int_eq(c->http_connection_timeout, 30000);
	ck_assert_int_eq(c->http_drain_timeout, 10000);
	ck_assert_str_eq(c->db_url, "postgresql:///synstack");
	ck_assert_int_eq(c->db_pool_size, 8);
	ck_assert_str_eq(c->db_schema_dir, "");
	ck_assert_int_eq(c->db_connect_timeout, 5000);
	ck_assert_int_eq(c->db_statement_timeout, 30000);
	ck_assert_int_eq(c->db_acquire_timeout, 5000);
	ck_assert_str_eq(c->gitea_url, "http://127.0.0.1:3000");
	ck_assert_str_eq(c->gitea_admin_token, "");
	ck_assert_str_eq(c->gitea_admin_token_file, "");
	ck_assert_int_eq(c->gitea_timeout, 10000);
	ck_assert_uint_eq(c->admin_token_hashes.n, 0);
	ck_assert_str_eq(c->admin_token_file, "");
	ck_assert_int_eq(c->limits_register_per_hour, 10);
	ck_assert_int_eq(c->work_max_claims, 1);
	ck_assert_int_eq(c->work_claim_ttl, 48L * 3600 * 1000);
	ck_assert_int_eq(c->work_required_approvals, 1);
	ck_assert(c->work_dismiss_stale_approvals);
	ck_assert(c->work_auto_merge);
	ck_assert_str_eq(c->work_merge_style, "merge");
	ck_assert_str_eq(c->work_required_checks_json, "[\"reported\"]");
	ck_assert_int_eq(c->elo_k_factor, 32);
	ck_assert_int_eq(c->elo_difficulty, 1200);
	ck_assert_int_eq(c->elo_pair_decay, 50);
	ck_assert_int_eq(c->log_level, LOG_INFO);
	ck_assert(c->log_requests);
	ck_assert_uint_eq(c->admin_hashes_n, 0);
	conf_free(c);
	conf_free(NULL);
}
END_TEST

/* An empty file, comments only, or a null document: all defaults. */
START_TEST(test_empty_is_defaults)
{
	static const char *const docs[] = {
		"", "# nothing\n", "---\n", "null\n", "~\n", "---\n...\n",
		"http:\n", "http:\nlog: ~\n"
	};
	struct conf	*c, *d;
	struct err	 e;
	size_t		 i, k;

	d = conf_load(NULL, &e);
	ck_assert_ptr_nonnull(d);
	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		c = load_ok(docs[i]);
		ck_assert_str_eq(c->path, "t.yaml");
		for (k = 0; k < conf_keys_n; k++) {
			ck_assert(!c->seen[k]);
			ck_assert(conf_key_equal(c, d, &conf_keys[k]));
		}
		conf_free(c);
	}
	conf_free(d);
}
END_TEST

START_TEST(test_types)
{
	struct conf	*c;

	c = load_ok(
	    "http:\n"
	    "  listen:\n"
	    "    - \"[::1]:8470\"\n"
	    "    - unix:/run/synstack.sock\n"
	    "  max_body: 64KiB\n"
	    "  max_json_depth: 2\n"
	    "  connection_timeout: 1h\n"
	    "  request_timeout: 2m\n"
	    "  drain_timeout: 0\n"
	    "database:\n"
	    "  url: \"host=db dbname=x\"\n"
	    "  pool_size: 256\n"
	    "  schema_dir:\n"
	    "  statement_timeout: 250ms\n"
	    "  acquire_timeout: 0s\n"
	    "gitea:\n"
	    "  url: 'https://git.example'\n"
	    "  admin_token: \"null\"\n"
	    "  timeout: 2m\n"
	    "limits: {register_per_hour: 1000000}\n"
	    "log:\n"
	    "  level: debug\n"
	    "  requests: false\n");
	ck_assert_uint_eq(c->http_listen.n, 2);
	ck_assert_str_eq(c->http_listen.v[0], "[::1]:8470");
	ck_assert_str_eq(c->http_listen.v[1], "unix:/run/synstack.sock");
	ck_assert_int_eq(c->http_max_body, 64 * 1024);
	ck_assert_int_eq(c->http_max_json_depth, 2);
	ck_assert_int_eq(c->http_connection_timeout, 3600L * 1000);
	ck_assert_int_eq(c->http_request_timeout, 120000);
	ck_assert_int_eq(c->db_pool_size, 256);
	ck_assert_int_eq(c->http_drain_timeout, 0);
	ck_assert_str_eq(c->db_url, "host=db dbname=x");
	ck_assert_str_eq(c->db_schema_dir, "");
	ck_assert_int_eq(c->db_statement_timeout, 250);
	ck_assert_int_eq(c->db_acquire_timeout, 0);
	ck_assert_str_eq(c->gitea_url, "https://git.example");
	/* Quoted, "null" is a string, not YAML's null. */
	ck_assert_str_eq(c->gitea_admin_token, "null");
	ck_assert_int_eq(c->gitea_timeout, 120000);
	ck_assert_int_eq(c->limits_register_per_hour, 1000000);
	ck_assert_int_eq(c->log_level, LOG_DEBUG);
	ck_assert(!c->log_requests);
	ck_assert(c->seen[conf_key_find("database.pool_size") - conf_keys]);
	ck_assert(!c->seen[conf_key_find("http.max_connections") -
	    conf_keys]);
	conf_free(c);

	c = load_ok("http:\n  max_body: 2048\n");
	ck_assert_int_eq(c->http_max_body, 2048);
	conf_free(c);
	c = load_ok("http:\n  max_body: 4096B\n");
	ck_assert_int_eq(c->http_max_body, 4096);
	conf_free(c);
	c = load_ok("http:\n  max_body: 64MiB\n  listen: []\n");
	ck_assert_int_eq(c->http_max_body, 64L * 1024 * 1024);
	ck_assert_uint_eq(c->http_listen.n, 0);
	conf_free(c);
	c = load_ok("database:\n  statement_timeout: 1h\n"
	    "  connect_timeout: 5m\nlog:\n  level: error\n");
	ck_assert_int_eq(c->db_statement_timeout, 3600000);
	ck_assert_int_eq(c->db_connect_timeout, 300000);
	ck_assert_int_eq(c->log_level, LOG_ERROR);
	conf_free(c);
}
END_TEST

static const struct bad_case {
	const char	*yaml;
	const char	*msg;
} bad_cases[] = {
	/* keys */
	{ "http:\n  maxbody: 1\n",
	  "t.yaml:2:3: unknown key 'http.maxbody'" },
	{ "htp:\n  pool_size: 1\n",
	  "t.yaml:1:1: unknown key 'htp'" },
	{ "database:\n  pool_size: 4\ndatabase:\n  pool_size: 5\n",
	  "t.yaml:3:1: duplicate key 'database'" },
	{ "database:\n  url: a\n  pool_size: 2\n  url: b\n",
	  "t.yaml:4:3: duplicate key 'database.url'" },
	{ "database.pool_size: 4\n",
	  "t.yaml:1:1: key 'database.pool_size' contains '.'; "
	  "write sections as nested mappings" },
	{ "? [a]\n: b\n",
	  "t.yaml:1:3: keys must be scalars" },
	/* shapes */
	{ "database:\n  pool_size: {a: 1}\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got a mapping" },
	{ "database:\n  pool_size: [1]\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got a list" },
	{ "http: 5\n",
	  "t.yaml:1:7: 'http' is a section and must hold a mapping" },
	{ "log:\n  - level\n",
	  "t.yaml:2:3: 'log' is a section and must hold a mapping" },
	{ "- a\n",
	  "t.yaml:1:1: the top level must be a mapping of sections" },
	{ "hello\n",
	  "t.yaml:1:1: the top level must be a mapping of sections" },
	{ "http:\n  listen: 127.0.0.1:80\n",
	  "t.yaml:2:11: 'http.listen' expects a list, got a single value" },
	{ "http:\n  listen: [[a]]\n",
	  "t.yaml:2:12: 'http.listen' items must be scalars" },
	/* YAML features refused */
	{ "http: &a\n  max_connections: 4\n",
	  "t.yaml:1:7: anchors and aliases are not supported" },
	{ "http: *a\n",
	  "t.yaml:1:7: aliases are not supported" },
	{ "http:\n  max_connections: 4\n---\nhttp: {}\n",
	  "t.yaml:3:1: more than one document; the file must hold exactly "
	  "one" },
	/* libyaml's own errors */
	{ "a: b: c\n",
	  "t.yaml:1:5: mapping values are not allowed in this context" },
	{ "database:\n  pool_size: [1, 2\n",
	  "t.yaml:3:1: did not find expected ',' or ']' "
	  "(while parsing a flow sequence at 2:14)" },
	{ "database:\n  pool_size: 4\n  x: \xff\n",
	  "t.yaml:3:6: invalid leading UTF-8 octet" },
	/* INT */
	{ "database:\n  pool_size: four\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got 'four'" },
	{ "database:\n  pool_size: 0x10\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got '0x10'" },
	{ "database:\n  pool_size: 4.0\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got '4.0'" },
	{ "database:\n  pool_size: 010\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got '010'" },
	{ "database:\n  pool_size: +4\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got '+4'" },
	{ "database:\n  pool_size: \"\"\n",
	  "t.yaml:2:14: 'database.pool_size' expects an integer, got ''" },
	{ "database:\n  pool_size: 0\n",
	  "t.yaml:2:14: 'database.pool_size' must be between 1 and 256" },
	{ "database:\n  pool_size: 257\n",
	  "t.yaml:2:14: 'database.pool_size' must be between 1 and 256" },
	{ "database:\n  pool_size: -1\n",
	  "t.yaml:2:14: 'database.pool_size' must be between 1 and 256" },
	{ "database:\n  pool_size: 99999999999999999999\n",
	  "t.yaml:2:14: 'database.pool_size' must be between 1 and 256" },
	{ "limits:\n  register_per_hour: 1000001\n",
	  "t.yaml:2:22: 'limits.register_per_hour' must be between 1 and "
	  "1000000" },
	/* BOOL, LOGLEVEL */
	{ "log:\n  requests: yes\n",
	  "t.yaml:2:13: 'log.requests' expects true or false, got 'yes'" },
	{ "log:\n  requests: True\n",
	  "t.yaml:2:13: 'log.requests' expects true or false, got 'True'" },
	{ "log:\n  level: loud\n",
	  "t.yaml:2:10: 'log.level' expects debug, info, warn or error, "
	  "got 'loud'" },
	/* DURATION */
	{ "http:\n  drain_timeout: 10\n",
	  "t.yaml:2:18: 'http.drain_timeout' expects a duration such as "
	  "250ms, 30s, 5m, 48h or 2d, got '10'" },
	{ "http:\n  drain_timeout: 10sec\n",
	  "t.yaml:2:18: 'http.drain_timeout' expects a duration such as "
	  "250ms, 30s, 5m, 48h or 2d, got '10sec'" },
	{ "http:\n  drain_timeout: 1.5s\n",
	  "t.yaml:2:18: 'http.drain_timeout' expects a duration such as "
	  "250ms, 30s, 5m, 48h or 2d, got '1.5s'" },
	{ "http:\n  drain_timeout: -1s\n",
	  "t.yaml:2:18: 'http.drain_timeout' expects a duration such as "
	  "250ms, 30s, 5m, 48h or 2d, got '-1s'" },
	{ "http:\n  drain_timeout: 11m\n",
	  "t.yaml:2:18: 'http.drain_timeout' must be between 0 and 10m" },
	{ "http:\n  connection_timeout: 999ms\n",
	  "t.yaml:2:23: 'http.connection_timeout' must be between 1s and "
	  "1h" },
	{ "gitea:\n  timeout: 99ms\n",
	  "t.yaml:2:12: 'gitea.timeout' must be between 100ms and 5m" },
	{ "database:\n  statement_timeout: 999999999999d\n",
	  "t.yaml:2:22: 'database.statement_timeout' must be between 0 and "
	  "1h" },
	/* SIZE */
	{ "http:\n  max_body: 1MB\n",
	  "t.yaml:2:13: 'http.max_body' expects a size such as 512, 64KiB or "
	  "1MiB, got '1MB'" },
	{ "http:\n  max_body: 1023\n",
	  "t.yaml:2:13: 'http.max_body' must be between 1KiB and 64MiB" },
	{ "http:\n  max_body: 65MiB\n",
	  "t.yaml:2:13: 'http.max_body' must be between 1KiB and 64MiB" },
	{ "http:\n  max_body: 99999999999GiB\n",
	  "t.yaml:2:13: 'http.max_body' must be between 1KiB and 64MiB" },
	/* STRING */
	{ "database:\n  url: \"a\\0b\"\n",
	  "t.yaml:2:8: 'database.url' value contains a NUL byte" },
	{ "work:\n  merge_style: fast-forward\n",
	  "t.yaml:2:16: 'work.merge_style' must be one of merge rebase "
	  "rebase-merge squash, got 'fast-forward'" },
	{ "work:\n  merge_style: merge rebase\n",
	  "t.yaml:2:16: 'work.merge_style' must be one of merge rebase "
	  "rebase-merge squash, got 'merge rebase'" },
	{ "work:\n  merge_style: rebase-\n",
	  "t.yaml:2:16: 'work.merge_style' must be one of merge rebase "
	  "rebase-merge squash, got 'rebase-'" },
	{ "work:\n  merge_style: \"\"\n",
	  "t.yaml:2:16: 'work.merge_style' must be one of merge rebase "
	  "rebase-merge squash, got ''" },
	{ "work:\n  required_checks: [none, ci/test]\n",
	  "t.yaml:2:20: 'work.required_checks': required_checks: 'none' stands"
	  " alone" },
	{ "work:\n  required_checks: []\n",
	  "t.yaml:2:20: 'work.required_checks': required_checks names none,"
	  " reported, or 1 to 20 check contexts" },
	/* post-load checks */
	{ "admin:\n  token_hashes:\n    - sha256:abc\n",
	  "t.yaml:3:7: 'admin.token_hashes' item 1 is not "
	  "\"sha256:<64 hex digits>\"" },
	{ "admin:\n  token_hashes: [\"sha256:" HEX64 "\",\n"
	  "    \"md5:00\"]\n",
	  "t.yaml:3:5: 'admin.token_hashes' item 2 is not "
	  "\"sha256:<64 hex digits>\"" },
	{ "gitea:\n  admin_token: x\n  admin_token_file: /nonexistent\n",
	  "t.yaml:3:21: 'gitea.admin_token' and 'gitea.admin_token_file' "
	  "are mutually exclusive" },
};

START_TEST(test_bad)
{
	load_fails(bad_cases[_i].yaml, bad_cases[_i].msg);
}
END_TEST

/* Hostile nesting is refused at depth 9, long before the end. */
START_TEST(test_deep_nesting)
{
	char	*y;
	size_t	 i, n = 200;

	ck_assert_ptr_nonnull(y = malloc(3 + 2 * n + 2));
	memcpy(y, "x: ", 3);
	for (i = 0; i < n; i++) {
		y[3 + i] = '[';
		y[3 + n + i] = ']';
	}
	memcpy(y + 3 + 2 * n, "\n", 2);
	/* The mapping is level 1; the 8th '[', at column 11, is level 9. */
	load_fails(y, "t.yaml:1:11: nesting deeper than 8 levels");
	/* Unbalanced, too. */
	y[3 + n] = '\0';
	load_fails(y, "t.yaml:1:11: nesting deeper than 8 levels");
	free(y);

	/* A whole file of '[' is no worse. */
	ck_assert_ptr_nonnull(y = malloc(CONF_MAX_FILE + 1));
	memset(y, '[', CONF_MAX_FILE);
	y[CONF_MAX_FILE] = '\0';
	load_fails(y, "t.yaml:1:9: nesting deeper than 8 levels");
	free(y);

	/* Block mappings count the same. */
	load_fails("a:\n b:\n  c:\n   d:\n    e:\n     f:\n      g:\n"
	    "       h:\n        i:\n         j: 1\n",
	    "t.yaml:9:9: nesting deeper than 8 levels");
}
END_TEST

START_TEST(test_sizes)
{
	struct conf	*c;
	struct err	 e;
	char		*y, path[256];
	FILE		*f;
	size_t		 i;

	/* Exactly CONF_MAX_FILE bytes is accepted, one more is not. */
	ck_assert_ptr_nonnull(y = malloc(CONF_MAX_FILE + 2));
	memset(y, ' ', CONF_MAX_FILE + 1);
	y[0] = '#';
	y[CONF_MAX_FILE - 1] = '\n';
	y[CONF_MAX_FILE + 1] = '\0';
	memset(&e, 0, sizeof(e));
	c = conf_load_buffer(y, CONF_MAX_FILE, "t.yaml", &e);
	ck_assert_msg(c != NULL, "%s", e.message);
	conf_free(c);
	load_fails(y, "t.yaml: larger than 1048576 bytes");

	/* The same through conf_load, which reads the file itself. */
	temp_file(path, sizeof(path), "", 0600);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(y, 1, CONF_MAX_FILE + 1, f),
	    CONF_MAX_FILE + 1);
	fclose(f);
	ck_assert_ptr_null(conf_load(path, &e));
	ck_assert(strstr(e.message, ": larger than 1048576 bytes") != NULL);
	unlink(path);
	free(y);

	ck_assert_ptr_null(conf_load("/nonexistent/synstack.yaml", &e));
	ck_assert_int_eq(e.code, ERR_CONFIG);
	ck_assert_str_eq(e.message,
	    "/nonexistent/synstack.yaml: No such file or directory");

	/* Scalars: 4096 bytes fit, 4097 do not. */
	ck_assert_ptr_nonnull(y = malloc(64 + 4097));
	memcpy(y, "database:\n  url: ", 17);
	memset(y + 17, 'u', 4097);
	memcpy(y + 17 + 4097, "\n", 2);
	load_fails(y, "t.yaml:2:8: 'database.url' value is longer than "
	    "4096 bytes");
	memcpy(y + 17 + 4096, "\n", 2);
	c = load_ok(y);
	ck_assert_uint_eq(strlen(c->db_url), 4096);
	conf_free(c);
	free(y);

	/* Lists: 64 items fit, 65 do not. */
	ck_assert_ptr_nonnull(y = malloc(32 + 65 * 10));
	strcpy(y, "http:\n  listen:\n");
	for (i = 0; i < 64; i++)
		strcat(y, "  - a:1\n");
	c = load_ok(y);
	ck_assert_uint_eq(c->http_listen.n, 64);
	conf_free(c);
	strcat(y, "  - a:1\n");
	load_fails(y, "t.yaml:67:5: 'http.listen' has more than 64 items");
	free(y);
}
END_TEST

START_TEST(test_token_file)
{
	struct conf	*c;
	struct err	 e;
	unsigned char	 raw[32];
	char		 path[256], hex[HASH_HEX_LEN + 1], *y;
	char		 prefix[64];

	key_hash_hex("hashed-token", hex);

	/* Readable by the group: refused, at the value's position. */
	temp_file(path, sizeof(path), "tok-one\n", 0640);
	ck_assert(asprintf(&y, "admin:\n  token_file: %s\n", path) > 0);
	c = load(y, &e);
	ck_assert_ptr_null(c);
	snprintf(prefix, sizeof(prefix), "t.yaml:2:15: 'admin.token_file': ");
	ck_assert_msg(strncmp(e.message, prefix, strlen(prefix)) == 0, "%s",
	    e.message);
	ck_assert(strstr(e.message, "tok-one") == NULL);
	free(y);
	unlink(path);

	/* 0600: every token line counts, beside token_hashes. */
	temp_file(path, sizeof(path),
	    "# admins\n\n  tok-one  \r\ntok-two\n#tok-three\n   \n", 0600);
	ck_assert(asprintf(&y, "admin:\n  token_file: %s\n"
	    "  token_hashes: [\"sha256:%s\"]\n", path, hex) > 0);
	c = load_ok(y);
	ck_assert_uint_eq(c->admin_hashes_n, 3);
	ck_assert(token_hash_match("hashed-token", c->admin_hashes, 3));
	ck_assert(token_hash_match("tok-one", c->admin_hashes, 3));
	ck_assert(token_hash_match("tok-two", c->admin_hashes, 3));
	ck_assert(!token_hash_match("tok-three", c->admin_hashes, 3));
	ck_assert(!token_hash_match("# admins", c->admin_hashes, 3));
	key_hash_raw("tok-one", raw);
	ck_assert(memcmp(c->admin_hashes[1], raw, 32) == 0);
	conf_free(c);
	free(y);
	unlink(path);

	ck_assert(asprintf(&y, "admin:\n  token_file: %s\n", path) > 0);
	c = load(y, &e);
	ck_assert_ptr_null(c);
	ck_assert_msg(strncmp(e.message, prefix, strlen(prefix)) == 0, "%s",
	    e.message);
	free(y);
}
END_TEST

START_TEST(test_gitea_token_file)
{
	struct conf	*c;
	struct err	 e;
	char		 path[256], *y;

	temp_file(path, sizeof(path), "  gitea-secret \nsecond line\n", 0600);
	ck_assert(asprintf(&y, "gitea:\n  admin_token_file: %s\n", path) > 0);
	c = load_ok(y);
	ck_assert_str_eq(c->gitea_admin_token, "gitea-secret");
	ck_assert_str_eq(c->gitea_admin_token_file, path);
	conf_free(c);

	ck_assert_int_eq(chmod(path, 0604), 0);
	c = load(y, &e);
	ck_assert_ptr_null(c);
	ck_assert(strncmp(e.message, "t.yaml:2:21: 'gitea.admin_token_file': ",
	    39) == 0);
	ck_assert(strstr(e.message, "gitea-secret") == NULL);
	free(y);
	unlink(path);
}
END_TEST

/* credential:NAME reads $CREDENTIALS_DIRECTORY/NAME (LoadCredential=). */
START_TEST(test_credentials)
{
	struct conf	*c;
	struct err	 e;
	const char	*tmp = getenv("TMPDIR");
	char		 dir[256], path[512], *y, *old;
	FILE		*f;

	old = getenv("CREDENTIALS_DIRECTORY") != NULL ?
	    strdup(getenv("CREDENTIALS_DIRECTORY")) : NULL;
	snprintf(dir, sizeof(dir), "%s/check_cred.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/gitea-token", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("cred-secret\n", f);
	fclose(f);
	ck_assert_int_eq(chmod(path, 0400), 0);
	ck_assert(asprintf(&y, "gitea:\n  admin_token_file: "
	    "credential:gitea-token\n") > 0);

	/* Unset: said, naming the key, the variable and LoadCredential=. */
	unsetenv("CREDENTIALS_DIRECTORY");
	c = load(y, &e);
	ck_assert_ptr_null(c);
	ck_assert_msg(strncmp(e.message, "t.yaml:2:21: "
	    "'gitea.admin_token_file': credential:gitea-token needs "
	    "CREDENTIALS_DIRECTORY, which is not set", 92) == 0, "%s",
	    e.message);
	ck_assert(strstr(e.message, "LoadCredential=gitea-token:") != NULL);

	/* Set: the file in it is read, and the field names the real file. */
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", dir, 1), 0);
	c = load_ok(y);
	ck_assert_str_eq(c->gitea_admin_token, "cred-secret");
	ck_assert_str_eq(c->gitea_admin_token_file, path);
	conf_free(c);

	/* The permission check applies to the real file. */
	ck_assert_int_eq(chmod(path, 0440), 0);
	c = load(y, &e);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.message, path) != NULL &&
	    strstr(e.message, "accessible by group or others") != NULL, "%s",
	    e.message);
	ck_assert(strstr(e.message, "cred-secret") == NULL);
	ck_assert_int_eq(chmod(path, 0400), 0);
	free(y);

	/* A credential that is not there: the path and the unit line. */
	ck_assert(asprintf(&y, "secrets:\n  master_key_file: "
	    "credential:master-key\n") > 0);
	c = load(y, &e);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(e.message, "'secrets.master_key_file': "
	    "credential:master-key: ") != NULL && strstr(e.message,
	    "/master-key: No such file or directory (is "
	    "LoadCredential=master-key:... in the unit?)") != NULL, "%s",
	    e.message);
	free(y);

	/* Every *_file key resolves; the master key's path is the vault's. */
	ck_assert(asprintf(&y, "gitea:\n  webhook_secret_file: "
	    "credential:gitea-token\nsecrets:\n  master_key_file: "
	    "credential:gitea-token\nadmin:\n  token_file: "
	    "credential:gitea-token\n") > 0);
	c = load_ok(y);
	ck_assert_str_eq(c->gitea_webhook_secret, "cred-secret");
	ck_assert_str_eq(c->secrets_master_key_file, path);
	ck_assert_str_eq(c->admin_token_file, path);
	ck_assert_uint_eq(c->admin_hashes_n, 1);
	conf_free(c);
	free(y);

	/* Names are one file name: no way out of the directory. */
	load_fails("admin:\n  token_file: credential:../etc/shadow\n",
	    "t.yaml:2:15: 'admin.token_file': 'credential:../etc/shadow' is "
	    "not a credential name (one file name, no '/')");
	load_fails("admin:\n  token_file: \"credential:\"\n",
	    "t.yaml:2:15: 'admin.token_file': 'credential:' is not a "
	    "credential name (one file name, no '/')");

	unlink(path);
	rmdir(dir);
	if (old != NULL) {
		setenv("CREDENTIALS_DIRECTORY", old, 1);
		free(old);
	} else
		unsetenv("CREDENTIALS_DIRECTORY");
}
END_TEST

/* conf/synstack.yaml sets every key, each to its default. */
START_TEST(test_sample_agrees)
{
	struct conf	*c, *d;
	struct err	 e;
	char		 path[4096];
	size_t		 i;

	snprintf(path, sizeof(path), "%s/conf/synstack.yaml", test_srcdir());
	memset(&e, 0, sizeof(e));
	c = conf_load(path, &e);
	ck_assert_msg(c != NULL, "%s", e.message);
	d = conf_load(NULL, &e);
	ck_assert_ptr_nonnull(d);
	for (i = 0; i < conf_keys_n; i++) {
		ck_assert_msg(c->seen[i], "%s is missing from %s",
		    conf_keys[i].name, path);
		ck_assert_msg(conf_key_equal(c, d, &conf_keys[i]),
		    "%s in %s differs from the default %s", conf_keys[i].name,
		    path, conf_keys[i].def);
	}
	conf_free(c);
	conf_free(d);
}
END_TEST

START_TEST(test_table)
{
	const struct conf_key	*k;
	size_t			 i, j;

	ck_assert(conf_keys_n > 0 && conf_keys_n <= CONF_MAX_KEYS);
	ck_assert_ptr_null(conf_key_find("http"));
	ck_assert_ptr_null(conf_key_find("http.nope"));
	ck_assert_ptr_null(conf_key_find(NULL));
	ck_assert_ptr_nonnull(k = conf_key_find("database.pool_size"));
	ck_assert_int_eq(k->type, CONF_INT);
	ck_assert(!k->reloadable);
	ck_assert_ptr_nonnull(k = conf_key_find("log.level"));
	ck_assert_int_eq(k->type, CONF_LOGLEVEL);
	ck_assert(k->reloadable);
	for (i = 0; i < conf_keys_n; i++) {
		ck_assert_ptr_nonnull(conf_keys[i].help);
		ck_assert_ptr_eq(conf_key_find(conf_keys[i].name),
		    &conf_keys[i]);
		for (j = 0; j < i; j++)
			ck_assert_uint_ne(conf_keys[i].offset,
			    conf_keys[j].offset);
	}
}
END_TEST

START_TEST(test_keep_unreloadable)
{
	struct conf	*old, *nc;

	old = load_ok("http:\n  max_body: 1MiB\n"
	    "database:\n  url: postgresql://a/b\n  pool_size: 4\n");
	nc = load_ok("http:\n  max_body: 2MiB\n"
	    "  listen: [\"0.0.0.0:1\", \"unix:/x\"]\n"
	    "database:\n  url: postgresql://c/d\n  pool_size: 8\n"
	    "log:\n  level: debug\n");
	conf_keep_unreloadable(nc, old);
	/* Not reloadable: the running value stays. */
	ck_assert_int_eq(nc->db_pool_size, 4);
	ck_assert_str_eq(nc->db_url, "postgresql://a/b");
	ck_assert_ptr_ne(nc->db_url, old->db_url);
	ck_assert_uint_eq(nc->http_listen.n, 1);
	ck_assert_ptr_ne(nc->http_listen.v, old->http_listen.v);
	/* Reloadable: the new value wins. */
	ck_assert_int_eq(nc->http_max_body, 2L * 1024 * 1024);
	ck_assert_int_eq(nc->log_level, LOG_DEBUG);
	/* Deep copies: the old config can go first. */
	conf_free(old);
	ck_assert_str_eq(nc->http_listen.v[0], "127.0.0.1:8470");
	ck_assert_str_eq(nc->db_url, "postgresql://a/b");
	conf_free(nc);
}
END_TEST

/* synstack.yaml(5) documents every key of the table in its section. */
START_TEST(test_manpage_agrees)
{
	char		 path[4096], sec[64], want[96], *text, *start, *end;
	const char	*dot;
	FILE		*f;
	long		 len;
	size_t		 i;

	snprintf(path, sizeof(path), "%s/docs/synstack.yaml.5", test_srcdir());
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	ck_assert_ptr_nonnull(text = calloc(1, (size_t)len + 1));
	ck_assert_uint_eq(fread(text, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (i = 0; i < conf_keys_n; i++) {
		dot = strchr(conf_keys[i].name, '.');
		ck_assert_ptr_nonnull(dot);
		snprintf(sec, sizeof(sec), "\n.Ss %.*s\n",
		    (int)(dot - conf_keys[i].name), conf_keys[i].name);
		start = strstr(text, sec);
		ck_assert_msg(start != NULL, "no section for %s", conf_keys[i].name);
		start += strlen(sec);
		end = strstr(start, "\n.Ss ");
		if (end == NULL)
			end = strstr(start, "\n.Sh ");
		ck_assert_ptr_nonnull(end);
		snprintf(want, sizeof(want), "\n.It Ic %s\n", dot + 1);
		*end = '\0';
		ck_assert_msg(strstr(start, want) != NULL,
		    "synstack.yaml(5) does not document %s", conf_keys[i].name);
		*end = '\n';
	}
	free(text);
}
END_TEST

Suite *
conf_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("conf");
	tc = tcase_create("conf");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_empty_is_defaults);
	tcase_add_test(tc, test_types);
	tcase_add_loop_test(tc, test_bad, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_deep_nesting);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_token_file);
	tcase_add_test(tc, test_gitea_token_file);
	tcase_add_test(tc, test_credentials);
	tcase_add_test(tc, test_sample_agrees);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_manpage_agrees);
	tcase_add_test(tc, test_keep_unreloadable);
	suite_add_tcase(s, tc);
	return s;
}
