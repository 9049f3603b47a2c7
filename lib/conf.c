/*
 * conf.c: synstack.yaml, read with libyaml's event API through one table
 * of keys.
 *
 * A file is read twice.  The first pass checks only YAML itself (syntax,
 * one document, no anchors or aliases, nesting no deeper than
 * CONF_MAX_DEPTH), so a hostile file is refused before anything looks at
 * its keys and the answer does not depend on where a schema error sits.
 * The second pass walks the events with an explicit, bounded stack: the
 * top level and every section are mappings, every leaf a scalar or, for a
 * list, a sequence of scalars.  Built-in defaults are tiny YAML documents
 * fed through the same second pass, so defaults and file values share one
 * parser.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "synstack.h"

#define CONF_MAX_SCALAR	4096	/* bytes in one key or value */
#define CONF_MAX_ITEMS	64	/* items in one list */
#define CONF_PATH_MAX	64	/* longer than any dotted key name */
#define CONF_SHOW_MAX	48	/* bytes of a bad value quoted back */

#define MS_S	1000L
#define MS_M	(60 * MS_S)
#define MS_H	(60 * MS_M)
#define MS_D	(24 * MS_H)
#define KIB	1024L
#define MIB	(1024 * KIB)
#define GIB	(1024 * MIB)

const struct conf_key conf_keys[] = {
	{ .name = "http.listen", .type = CONF_STRLIST,
	  .offset = offsetof(struct conf, http_listen),
	  .def = "[\"127.0.0.1:8470\"]", .reloadable = false,
	  .help = "addresses to listen on: \"host:port\", \"[v6]:port\" "
	      "or \"unix:/path\"" },
	{ .name = "http.public_url", .type = CONF_STRING,
	  .offset = offsetof(struct conf, http_public_url),
	  .def = "http://127.0.0.1:8470", .reloadable = true,
	  .help = "the URL Gitea and people reach synstackd at" },
	{ .name = "http.max_body", .type = CONF_SIZE,
	  .offset = offsetof(struct conf, http_max_body),
	  .def = "1MiB", .reloadable = true, .min = KIB, .max = 64 * MIB,
	  .help = "largest request body accepted" },
	{ .name = "http.max_json_depth", .type = CONF_INT,
	  .offset = offsetof(struct conf, http_max_json_depth),
	  .def = "32", .reloadable = true, .min = 2, .max = 256,
	  .help = "deepest JSON nesting accepted" },
	{ .name = "http.max_connections", .type = CONF_INT,
	  .offset = offsetof(struct conf, http_max_connections),
	  .def = "2048", .reloadable = false, .min = 1, .max = 100000,
	  .help = "most connections open at once (each has its thread)" },
	{ .name = "http.per_ip_connections", .type = CONF_INT,
	  .offset = offsetof(struct conf, http_per_ip_connections),
	  .def = "64", .reloadable = false, .min = 1, .max = 100000,
	  .help = "most connections open at once from one client address" },
	{ .name = "http.connection_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, http_connection_timeout),
	  .def = "30s", .reloadable = false, .min = MS_S, .max = MS_H,
	  .help = "idle connection timeout" },
	{ .name = "http.request_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, http_request_timeout),
	  .def = "30s", .reloadable = true, .min = MS_S, .max = MS_H,
	  .help = "a request must arrive whole (headers and body) within this"
	      " long of the connection or of the previous answer" },
	{ .name = "http.drain_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, http_drain_timeout),
	  .def = "10s", .reloadable = true, .min = 0, .max = 10 * MS_M,
	  .help = "how long SIGTERM waits for in-flight requests" },

	{ .name = "database.url", .type = CONF_STRING,
	  .offset = offsetof(struct conf, db_url),
	  .def = "postgresql:///synstack", .reloadable = false,
	  .help = "libpq connection string or URI" },
	{ .name = "database.pool_size", .type = CONF_INT,
	  .offset = offsetof(struct conf, db_pool_size),
	  .def = "8", .reloadable = false, .min = 1, .max = 256,
	  .help = "PostgreSQL connections kept open" },
	{ .name = "database.schema_dir", .type = CONF_STRING,
	  .offset = offsetof(struct conf, db_schema_dir),
	  .def = "\"\"", .reloadable = false,
	  .help = "folder of numbered migrations; \"\" = the installed one" },
	{ .name = "database.connect_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, db_connect_timeout),
	  .def = "5s", .reloadable = false, .min = MS_S, .max = 5 * MS_M,
	  .help = "how long to wait for PostgreSQL to accept a connection" },
	{ .name = "database.statement_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, db_statement_timeout),
	  .def = "30s", .reloadable = false, .min = 0, .max = MS_H,
	  .help = "longest a single statement may run; 0 = no limit" },
	{ .name = "database.acquire_timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, db_acquire_timeout),
	  .def = "5s", .reloadable = true, .min = 0, .max = 5 * MS_M,
	  .help = "wait for a free pooled connection" },

	{ .name = "gitea.url", .type = CONF_STRING,
	  .offset = offsetof(struct conf, gitea_url),
	  .def = "http://127.0.0.1:3000", .reloadable = false,
	  .help = "base URL of Gitea" },
	{ .name = "gitea.admin_token", .type = CONF_STRING,
	  .offset = offsetof(struct conf, gitea_admin_token),
	  .def = "\"\"", .reloadable = false,
	  .help = "Gitea admin token (prefer admin_token_file)" },
	{ .name = "gitea.admin_token_file", .type = CONF_STRING,
	  .offset = offsetof(struct conf, gitea_admin_token_file),
	  .def = "\"\"", .reloadable = false,
	  .help = "file holding the Gitea admin token" },
	{ .name = "gitea.timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, gitea_timeout),
	  .def = "10s", .reloadable = true, .min = 100, .max = 5 * MS_M,
	  .help = "timeout of each request to Gitea" },
	{ .name = "gitea.webhook_secret_file", .type = CONF_STRING,
	  .offset = offsetof(struct conf, gitea_webhook_secret_file),
	  .def = "\"\"", .reloadable = true,
	  .help = "file whose first line is the webhook secret" },
	{ .name = "gitea.owners", .type = CONF_STRLIST,
	  .offset = offsetof(struct conf, gitea_owners),
	  .def = "[]", .reloadable = true,
	  .help = "users and organisations whose repositories are mirrored" },
	{ .name = "gitea.agent_email_domain", .type = CONF_STRING,
	  .offset = offsetof(struct conf, gitea_agent_email_domain),
	  .def = "agents.synstack.invalid", .reloadable = false,
	  .help = "domain of the e-mail addresses of agents' Gitea users" },

	{ .name = "work.max_claims", .type = CONF_INT,
	  .offset = offsetof(struct conf, work_max_claims),
	  .def = "1", .reloadable = true, .min = 1, .max = 100,
	  .help = "issues an agent may hold at once" },

	{ .name = "work.required_approvals", .type = CONF_INT,
	  .offset = offsetof(struct conf, work_required_approvals),
	  .def = "1", .reloadable = true, .min = 1, .max = 20,
	  .help = "approvals on the current head a PR needs" },
	{ .name = "work.review_rate", .type = CONF_INT,
	  .offset = offsetof(struct conf, work_review_rate),
	  .def = "30", .reloadable = true, .min = 1, .max = 100000,
	  .help = "reviews an agent may give per hour" },
	{ .name = "work.claim_ttl", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, work_claim_ttl),
	  .def = "48h", .reloadable = true, .min = 60 * 1000,
	  .max = 365L * 24 * MS_H,
	  .help = "a claim with no pushed branch or PR is released after this" },
	{ .name = "work.dismiss_stale_approvals", .type = CONF_BOOL,
	  .offset = offsetof(struct conf, work_dismiss_stale_approvals),
	  .def = "true", .reloadable = true,
	  .help = "an approval counts only for the PR head it was given on" },
	{ .name = "work.auto_merge", .type = CONF_BOOL,
	  .offset = offsetof(struct conf, work_auto_merge),
	  .def = "true", .reloadable = true,
	  .help = "merge a PR as soon as its rule holds and Gitea can merge it" },
	{ .name = "work.merge_style", .type = CONF_STRING,
	  .offset = offsetof(struct conf, work_merge_style),
	  .def = "merge", .reloadable = true,
	  .choices = "merge rebase rebase-merge squash",
	  .help = "how Gitea merges: merge, rebase, rebase-merge or squash" },
	{ .name = "work.required_checks", .type = CONF_STRLIST,
	  .offset = offsetof(struct conf, work_required_checks),
	  .def = "[reported]", .reloadable = true,
	  .help = "[none], [reported] (every check reported on the head must"
	  " pass) or the check contexts that must pass" },

	{ .name = "elo.k_factor", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_k_factor),
	  .def = "32", .reloadable = true, .min = 1, .max = 400,
	  .help = "K of a merged PR's author" },
	{ .name = "elo.difficulty", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_difficulty),
	  .def = "1200", .reloadable = true, .min = 100, .max = 4000,
	  .help = "the rating an issue plays as the author's opponent" },
	{ .name = "elo.k_caught", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_k_caught),
	  .def = "16", .reloadable = true, .min = 0, .max = 400,
	  .help = "K of a reviewer whose requested changes were made" },
	{ .name = "elo.k_approval", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_k_approval),
	  .def = "8", .reloadable = true, .min = 0, .max = 400,
	  .help = "K of a reviewer who approved a PR that merged" },
	{ .name = "elo.k_closed", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_k_closed),
	  .def = "8", .reloadable = true, .min = 0, .max = 400,
	  .help = "K of an author whose reviewed PR closed unmerged" },
	{ .name = "elo.pair_decay", .type = CONF_INT,
	  .offset = offsetof(struct conf, elo_pair_decay),
	  .def = "50", .reloadable = true, .min = 0, .max = 100,
	  .help = "percent each earlier reward between two agents keeps of the next" },

	{ .name = "sync.interval", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, sync_interval),
	  .def = "5m", .reloadable = true, .min = 1000, .max = 24 * 60 * MS_M,
	  .help = "time between two reconciliations with Gitea" },

	{ .name = "secrets.master_key_file", .type = CONF_STRING,
	  .offset = offsetof(struct conf, secrets_master_key_file),
	  .def = "\"\"", .reloadable = false,
	  .help = "file with the 32-byte master key as 64 hex digits" },

	{ .name = "deploy.platforms_file", .type = CONF_STRING,
	  .offset = offsetof(struct conf, deploy_platforms_file),
	  .def = "\"\"", .reloadable = false,
	  .help = "YAML catalog of deployment platforms added at start"
	  " (\"\": " SYNSTACK_SYSCONFDIR "/platforms.yaml when present)" },

	{ .name = "deploy.timeout", .type = CONF_DURATION,
	  .offset = offsetof(struct conf, deploy_timeout),
	  .def = "10m", .reloadable = true, .min = 1000, .max = 86400000,
	  .help = "how long a deploy may run before it is stopped (error)" },
	{ .name = "deploy.log_excerpt", .type = CONF_SIZE,
	  .offset = offsetof(struct conf, deploy_log_excerpt),
	  .def = "8KiB", .reloadable = true, .min = 256, .max = 1048576,
	  .help = "bytes of a deploy's output kept (its end), secrets masked" },
	{ .name = "deploy.sponsor_contact", .type = CONF_STRING,
	  .offset = offsetof(struct conf, deploy_sponsor_contact),
	  .def = "\"\"", .reloadable = true,
	  .help = "how to become a sponsor, on project pages: an address or"
	  " a URL (\"\": the section says to ask the instance's admins)" },

	{ .name = "admin.token_hashes", .type = CONF_STRLIST,
	  .offset = offsetof(struct conf, admin_token_hashes),
	  .def = "[]", .reloadable = true,
	  .help = "\"sha256:<64 hex>\" of each admin token" },
	{ .name = "admin.token_file", .type = CONF_STRING,
	  .offset = offsetof(struct conf, admin_token_file),
	  .def = "\"\"", .reloadable = true,
	  .help = "file with one admin token per line" },

	{ .name = "limits.register_per_hour", .type = CONF_INT,
	  .offset = offsetof(struct conf, limits_register_per_hour),
	  .def = "10", .reloadable = true, .min = 1, .max = 1000000,
	  .help = "agent registrations per client address per hour" },

	{ .name = "log.level", .type = CONF_LOGLEVEL,
	  .offset = offsetof(struct conf, log_level),
	  .def = "info", .reloadable = true,
	  .help = "least severe level logged: debug, info, warn or error" },
	{ .name = "log.requests", .type = CONF_BOOL,
	  .offset = offsetof(struct conf, log_requests),
	  .def = "true", .reloadable = true,
	  .help = "one logfmt line per HTTP request" },
};

#define NKEYS	(sizeof(conf_keys) / sizeof(conf_keys[0]))
_Static_assert(NKEYS <= CONF_MAX_KEYS, "raise CONF_MAX_KEYS");

const size_t conf_keys_n = NKEYS;

struct unit {
	const char	*name;
	long		 mult;
};

/* Largest first, so formatting picks the biggest exact unit. */
static const struct unit duration_units[] = {
	{ "d", MS_D }, { "h", MS_H }, { "m", MS_M }, { "s", MS_S },
	{ "ms", 1 }, { NULL, 0 }
};
static const struct unit size_units[] = {
	{ "GiB", GIB }, { "MiB", MIB }, { "KiB", KIB }, { "B", 1 },
	{ "", 1 }, { NULL, 0 }
};

/* 1-based, as printed; line 0 means "not from the file". */
struct pos {
	unsigned long	line, col;
};

/* Where a value goes: a leaf key, or a section (path "" is the top). */
struct slot {
	const struct conf_key	*leaf;
	char			 path[CONF_PATH_MAX];
};

struct frame {
	bool		 seq;		/* a list, else a mapping */
	struct slot	 self;		/* this collection's place */
	struct pos	 at;
	bool		 have_key;	/* mapping: a key was read, */
	struct slot	 next;		/* and its value goes here */
	struct strlist	 items;		/* list: items so far */
};

struct loader {
	struct conf	*c;
	struct err	*e;
	const char	*name;		/* for messages */
	bool		 defaults;	/* applying built-in defaults */
	struct slot	 root;		/* the document's place */

	/* per pass */
	int		 depth;		/* pass 2: frames in use */
	int		 nest;		/* pass 1: open collections */
	int		 docs;
	bool		 root_done;
	struct frame	 stack[CONF_MAX_DEPTH];

	/* per file */
	char		 sections[CONF_MAX_KEYS][CONF_PATH_MAX];
	size_t		 nsections;
	struct pos	 where[CONF_MAX_KEYS];	/* each key's value */
};

typedef int	(*event_fn)(struct loader *, const yaml_event_t *);

static void	*field(struct conf *, const struct conf_key *);
static const void *cfield(const struct conf *, const struct conf_key *);
static void	 strlist_free(struct strlist *);
static int	 strlist_add(struct strlist *, char *);
static int	 strlist_copy(struct strlist *, const struct strlist *);
static struct pos pos_of(const yaml_mark_t *);
static int	 failv(struct loader *, struct pos, const char *, va_list)
		     SS_PRINTF(3, 0);
static int	 fail_at(struct loader *, struct pos, const char *, ...)
		     SS_PRINTF(3, 4);
static int	 fail(struct loader *, const yaml_mark_t *, const char *, ...)
		     SS_PRINTF(3, 4);
static int	 fail_key(struct loader *, const struct conf_key *,
		     const char *, ...) SS_PRINTF(3, 4);
static int	 oom(struct loader *);
static const char *show(const char *, size_t, char *, size_t);
static const char *expects(enum conf_type);
static const char *fmt_value(enum conf_type, long, char *, size_t);
static int	 parse_number(enum conf_type, const char *, long *);
static bool	 is_null(const yaml_event_t *);
static bool	 is_section(const char *);
static const struct conf_key *key_at(size_t);
static int	 yaml_fail(struct loader *, const yaml_parser_t *,
		     const char *, size_t);
static int	 walk(struct loader *, const char *, size_t, event_fn);
static int	 lint_event(struct loader *, const yaml_event_t *);
static int	 load_event(struct loader *, const yaml_event_t *);
static int	 on_key(struct loader *, struct frame *,
		     const yaml_event_t *);
static int	 on_value(struct loader *, const struct slot *,
		     const yaml_event_t *);
static int	 on_item(struct loader *, struct frame *,
		     const yaml_event_t *);
static int	 not_section(struct loader *, const struct slot *,
		     const yaml_event_t *);
static int	 push(struct loader *, bool, const struct slot *,
		     const yaml_event_t *);
static int	 list_end(struct loader *);
static int	 set_scalar(struct loader *, const struct conf_key *,
		     const yaml_event_t *);
static int	 check_scalar(struct loader *, const struct conf_key *,
		     const yaml_event_t *);
static void	 mark_set(struct loader *, const struct conf_key *,
		     struct pos);
static int	 slurp(const char *, char **, size_t *);
static char	*trim(char *);
static int	 read_secret_file(struct loader *, const struct conf_key *,
		     const char *, char **, size_t *);
static int	 hash_add(struct conf *, const unsigned char [32]);
static int	 finish(struct loader *);
static struct conf *conf_new(const char *, struct err *);
static int	 copy_value(struct conf *, const struct conf *,
		     const struct conf_key *);

static void *
field(struct conf *c, const struct conf_key *k)
{
	return (char *)c + k->offset;
}

static const void *
cfield(const struct conf *c, const struct conf_key *k)
{
	return (const char *)c + k->offset;
}

static void
strlist_free(struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/* Takes s, also on failure. */
static int
strlist_add(struct strlist *l, char *s)
{
	char	**v;

	if (s == NULL)
		return -1;
	if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL) {
		free(s);
		return -1;
	}
	l->v = v;
	l->v[l->n++] = s;
	return 0;
}

static int
strlist_copy(struct strlist *dst, const struct strlist *src)
{
	struct strlist	l = { NULL, 0 };
	size_t		i;

	for (i = 0; i < src->n; i++) {
		if (strlist_add(&l, strdup(src->v[i])) == -1) {
			strlist_free(&l);
			return -1;
		}
	}
	strlist_free(dst);
	*dst = l;
	return 0;
}

static struct pos
pos_of(const yaml_mark_t *m)
{
	struct pos	p;

	/* libyaml counts from 0; editors and compilers from 1. */
	p.line = (unsigned long)m->line + 1;
	p.col = (unsigned long)m->column + 1;
	return p;
}

static int
failv(struct loader *ld, struct pos p, const char *fmt, va_list ap)
{
	char	msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (p.line == 0)
		return err_set(ld->e, ERR_CONFIG, "%s: %s", ld->name, msg);
	return err_set(ld->e, ERR_CONFIG, "%s:%lu:%lu: %s", ld->name, p.line,
	    p.col, msg);
}

static int
fail_at(struct loader *ld, struct pos p, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = failv(ld, p, fmt, ap);
	va_end(ap);
	return rc;
}

static int
fail(struct loader *ld, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = failv(ld, pos_of(m), fmt, ap);
	va_end(ap);
	return rc;
}

/* An error about a key as a whole, at its value's place in the file. */
static int
fail_key(struct loader *ld, const struct conf_key *k, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = failv(ld, ld->where[k - conf_keys], fmt, ap);
	va_end(ap);
	return rc;
}

static int
oom(struct loader *ld)
{
	return err_set(ld->e, ERR_INTERNAL, "%s: out of memory", ld->name);
}

/*
 * A bounded, printable copy of file text for an error message: control
 * bytes become '?', and a cut never splits a UTF-8 sequence.
 */
static const char *
show(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t	i, n;

	n = len < bufsz - 4 ? len : bufsz - 4;
	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    '?' : s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Is v one of the space-separated words? */
static bool
word_in(const char *v, const char *words)
{
	size_t	n = strlen(v);
	const char *w;

	if (strchr(v, ' ') != NULL)
		return false;		/* "merge rebase" is two words */
	for (w = words; n > 0 && (w = strstr(w, v)) != NULL; w += n)
		if ((w == words || w[-1] == ' ') && (w[n] == ' ' || w[n] == '\0'))
			return true;
	return false;
}

static const char *
expects(enum conf_type t)
{
	switch (t) {
	case CONF_STRING:
		return "a string";
	case CONF_INT:
		return "an integer";
	case CONF_BOOL:
		return "true or false";
	case CONF_DURATION:
		return "a duration such as 250ms, 30s, 5m, 48h or 2d";
	case CONF_SIZE:
		return "a size such as 512, 64KiB or 1MiB";
	case CONF_STRLIST:
		return "a list";
	case CONF_LOGLEVEL:
		return "debug, info, warn or error";
	}
	return "a value";
}

/* A bound written the way the file would write it: 1s, 64MiB, 256. */
static const char *
fmt_value(enum conf_type t, long v, char *buf, size_t bufsz)
{
	const struct unit	*u = NULL;

	if (t == CONF_DURATION)
		u = duration_units;
	else if (t == CONF_SIZE)
		u = size_units;
	if (u != NULL && v != 0)
		for (; u->name != NULL; u++)
			if (v % u->mult == 0) {
				snprintf(buf, bufsz, "%ld%s", v / u->mult,
				    u->name);
				return buf;
			}
	snprintf(buf, bufsz, "%ld", v);
	return buf;
}

/*
 * Decimal only, so "010" (octal in YAML 1.1) and "0x10" cannot mean
 * something other than what the reader sees.  Returns 0, -1 when
 * malformed, -2 on overflow.
 */
static int
parse_number(enum conf_type t, const char *s, long *out)
{
	const struct unit	*u;
	const char		*p = s, *digits;
	long			 n = 0, mult = 0;
	bool			 neg = false;
	int			 d;

	if (t == CONF_INT && *p == '-') {
		neg = true;
		p++;
	}
	digits = p;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p == digits || (p - digits > 1 && *digits == '0'))
		return -1;
	if (t == CONF_INT) {
		if (*p != '\0')
			return -1;
		mult = 1;
	} else if (t == CONF_DURATION && *p == '\0') {
		/* A bare number only as 0: "30" could be seconds or ms. */
		if (p - digits != 1 || *digits != '0')
			return -1;
		mult = 1;
	} else {
		u = t == CONF_DURATION ? duration_units : size_units;
		for (; u->name != NULL; u++)
			if (strcmp(p, u->name) == 0) {
				mult = u->mult;
				break;
			}
		if (mult == 0)
			return -1;
	}
	for (; digits < p; digits++) {
		d = *digits - '0';
		if (neg) {
			if (n < (LONG_MIN + d) / 10)
				return -2;
			n = n * 10 - d;
		} else {
			if (n > (LONG_MAX - d) / 10)
				return -2;
			n = n * 10 + d;
		}
	}
	if (n > LONG_MAX / mult)
		return -2;
	*out = n * mult;
	return 0;
}

/* A plain empty, "~" or "null": YAML's null, not a quoted string. */
static bool
is_null(const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;

	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0;
}

/* Sections are implied by the dotted key names. */
static bool
is_section(const char *path)
{
	size_t	i, len = strlen(path);

	for (i = 0; i < NKEYS; i++)
		if (strncmp(conf_keys[i].name, path, len) == 0 &&
		    conf_keys[i].name[len] == '.')
			return true;
	return false;
}

static const struct conf_key *
key_at(size_t offset)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (conf_keys[i].offset == offset)
			return &conf_keys[i];
	abort();	/* the table lost a field: a bug */
}

static int
yaml_fail(struct loader *ld, const yaml_parser_t *p, const char *buf,
    size_t len)
{
	struct pos	 at = { 1, 1 };
	const char	*problem;
	size_t		 i;

	if (p->error == YAML_MEMORY_ERROR)
		return oom(ld);
	problem = p->problem != NULL ? p->problem : "invalid YAML";
	if (p->error == YAML_READER_ERROR) {
		/* The reader knows only a byte offset; count characters. */
		for (i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				at.line++;
				at.col = 1;
			} else if (((unsigned char)buf[i] & 0xc0) != 0x80)
				at.col++;
		}
		return fail_at(ld, at, "%s", problem);
	}
	at = pos_of(&p->problem_mark);
	if (p->context != NULL)
		return fail_at(ld, at, "%s (%s at %lu:%lu)", problem,
		    p->context, (unsigned long)p->context_mark.line + 1,
		    (unsigned long)p->context_mark.column + 1);
	return fail_at(ld, at, "%s", problem);
}

/* One pass over the events of buf; fn sees each until it fails. */
static int
walk(struct loader *ld, const char *buf, size_t len, event_fn fn)
{
	yaml_parser_t	parser;
	yaml_event_t	ev;
	bool		done = false;
	int		rc = 0;

	ld->depth = 0;
	ld->nest = 0;
	ld->docs = 0;
	ld->root_done = false;
	if (!yaml_parser_initialize(&parser))
		return oom(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
	    len);
	while (rc == 0 && !done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_fail(ld, &parser, buf, len);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		rc = fn(ld, &ev);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	/* An error can leave lists half collected. */
	while (ld->depth > 0)
		strlist_free(&ld->stack[--ld->depth].items);
	return rc;
}

/* First pass: YAML itself, before any key is looked at. */
static int
lint_event(struct loader *ld, const yaml_event_t *ev)
{
	const yaml_char_t	*anchor = NULL;

	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		if (++ld->docs > 1)
			return fail(ld, &ev->start_mark,
			    "more than one document; the file must hold "
			    "exactly one");
		break;
	case YAML_ALIAS_EVENT:
		return fail(ld, &ev->start_mark, "aliases are not supported");
	case YAML_SCALAR_EVENT:
		anchor = ev->data.scalar.anchor;
		break;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		anchor = ev->type == YAML_SEQUENCE_START_EVENT ?
		    ev->data.sequence_start.anchor :
		    ev->data.mapping_start.anchor;
		/* At once, however much deeper the file would go. */
		if (++ld->nest > CONF_MAX_DEPTH)
			return fail(ld, &ev->start_mark,
			    "nesting deeper than %d levels", CONF_MAX_DEPTH);
		break;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		ld->nest--;
		break;
	default:
		break;
	}
	if (anchor != NULL)
		return fail(ld, &ev->start_mark,
		    "anchors and aliases are not supported");
	return 0;
}

/* Second pass: the keys. */
static int
load_event(struct loader *ld, const yaml_event_t *ev)
{
	struct frame	*top;

	switch (ev->type) {
	case YAML_NO_EVENT:
	case YAML_STREAM_START_EVENT:
	case YAML_STREAM_END_EVENT:
	case YAML_DOCUMENT_START_EVENT:
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_ALIAS_EVENT:
		return fail(ld, &ev->start_mark, "aliases are not supported");
	case YAML_MAPPING_END_EVENT:
		if (ld->depth > 0)
			ld->depth--;
		return 0;
	case YAML_SEQUENCE_END_EVENT:
		return list_end(ld);
	default:
		break;
	}
	if (ld->depth == 0) {
		if (ld->root_done)
			return fail(ld, &ev->start_mark,
			    "more than one document; the file must hold "
			    "exactly one");
		ld->root_done = true;
		return on_value(ld, &ld->root, ev);
	}
	top = &ld->stack[ld->depth - 1];
	if (top->seq)
		return on_item(ld, top, ev);
	if (!top->have_key)
		return on_key(ld, top, ev);
	top->have_key = false;
	return on_value(ld, &top->next, ev);
}

static int
on_key(struct loader *ld, struct frame *top, const yaml_event_t *ev)
{
	const struct conf_key	*k;
	const char		*name, *dot;
	char			 path[CONF_PATH_MAX], shown[CONF_SHOW_MAX];
	size_t			 len, i;
	int			 n = -1;

	if (ev->type != YAML_SCALAR_EVENT)
		return fail(ld, &ev->start_mark, "keys must be scalars");
	name = (const char *)ev->data.scalar.value;
	len = ev->data.scalar.length;
	dot = top->self.path[0] != '\0' ? "." : "";
	show(name, len, shown, sizeof(shown));
	/* "http.max_body: 1" would be a second spelling of the same key. */
	if (memchr(name, '.', len) != NULL)
		return fail(ld, &ev->start_mark, "key '%s%s%s' contains '.'; "
		    "write sections as nested mappings", top->self.path, dot,
		    shown);
	if (len < CONF_PATH_MAX && memchr(name, '\0', len) == NULL)
		n = snprintf(path, sizeof(path), "%s%s%s", top->self.path,
		    dot, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return fail(ld, &ev->start_mark, "unknown key '%s%s%s'",
		    top->self.path, dot, shown);

	if ((k = conf_key_find(path)) != NULL) {
		if (ld->c->seen[k - conf_keys])
			return fail(ld, &ev->start_mark,
			    "duplicate key '%s'", path);
		ld->c->seen[k - conf_keys] = true;
	} else if (is_section(path)) {
		for (i = 0; i < ld->nsections; i++)
			if (strcmp(ld->sections[i], path) == 0)
				return fail(ld, &ev->start_mark,
				    "duplicate key '%s'", path);
		if (ld->nsections == CONF_MAX_KEYS)
			return fail(ld, &ev->start_mark, "too many sections");
		memcpy(ld->sections[ld->nsections++], path, sizeof(path));
	} else
		return fail(ld, &ev->start_mark, "unknown key '%s%s%s'",
		    top->self.path, dot, shown);

	top->next.leaf = k;
	memcpy(top->next.path, path, sizeof(path));
	top->have_key = true;
	return 0;
}

static int
on_value(struct loader *ld, const struct slot *s, const yaml_event_t *ev)
{
	const struct conf_key	*k = s->leaf;

	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		if (k != NULL)
			return set_scalar(ld, k, ev);
		/* "http:" with every key commented out keeps the defaults. */
		if (is_null(ev))
			return 0;
		return not_section(ld, s, ev);
	case YAML_MAPPING_START_EVENT:
		if (k == NULL)
			return push(ld, false, s, ev);
		return fail(ld, &ev->start_mark, "'%s' expects %s, got a "
		    "mapping", k->name, expects(k->type));
	case YAML_SEQUENCE_START_EVENT:
		if (k == NULL)
			return not_section(ld, s, ev);
		if (k->type == CONF_STRLIST)
			return push(ld, true, s, ev);
		return fail(ld, &ev->start_mark, "'%s' expects %s, got a "
		    "list", k->name, expects(k->type));
	default:
		return fail(ld, &ev->start_mark, "unexpected YAML event");
	}
}

static int
not_section(struct loader *ld, const struct slot *s, const yaml_event_t *ev)
{
	if (s->path[0] == '\0')
		return fail(ld, &ev->start_mark,
		    "the top level must be a mapping of sections");
	return fail(ld, &ev->start_mark,
	    "'%s' is a section and must hold a mapping", s->path);
}

static int
push(struct loader *ld, bool seq, const struct slot *s, const yaml_event_t *ev)
{
	struct frame	*f;

	if (ld->depth >= CONF_MAX_DEPTH)
		return fail(ld, &ev->start_mark, "nesting deeper than %d "
		    "levels", CONF_MAX_DEPTH);
	f = &ld->stack[ld->depth++];
	memset(f, 0, sizeof(*f));
	f->seq = seq;
	f->self = *s;
	f->at = pos_of(&ev->start_mark);
	return 0;
}

static int
list_end(struct loader *ld)
{
	struct frame	*f;
	struct strlist	*dst;

	if (ld->depth == 0 || !ld->stack[ld->depth - 1].seq)
		return err_set(ld->e, ERR_INTERNAL, "%s: unbalanced list",
		    ld->name);
	f = &ld->stack[--ld->depth];
	dst = field(ld->c, f->self.leaf);
	strlist_free(dst);
	*dst = f->items;
	f->items.v = NULL;
	f->items.n = 0;
	mark_set(ld, f->self.leaf, f->at);
	return 0;
}

static int
on_item(struct loader *ld, struct frame *top, const yaml_event_t *ev)
{
	const struct conf_key	*k = top->self.leaf;
	const char		*v;
	unsigned char		 raw[32];

	if (ev->type != YAML_SCALAR_EVENT)
		return fail(ld, &ev->start_mark, "'%s' items must be scalars",
		    k->name);
	if (check_scalar(ld, k, ev) == -1)
		return -1;
	if (top->items.n == CONF_MAX_ITEMS)
		return fail(ld, &ev->start_mark, "'%s' has more than %d items",
		    k->name, CONF_MAX_ITEMS);
	v = is_null(ev) ? "" : (const char *)ev->data.scalar.value;
	/*
	 * Checked here, where the item's position is known.  The value is
	 * not quoted back: it may be a raw token pasted by mistake.
	 */
	if (k->offset == offsetof(struct conf, admin_token_hashes) &&
	    token_hash_parse(v, raw) != 0)
		return fail(ld, &ev->start_mark, "'%s' item %zu is not "
		    "\"sha256:<64 hex digits>\"", k->name, top->items.n + 1);
	if (strlist_add(&top->items, strdup(v)) == -1)
		return oom(ld);
	return 0;
}

static int
check_scalar(struct loader *ld, const struct conf_key *k,
    const yaml_event_t *ev)
{
	if (ev->data.scalar.length > CONF_MAX_SCALAR)
		return fail(ld, &ev->start_mark, "'%s' value is longer than "
		    "%d bytes", k->name, CONF_MAX_SCALAR);
	/* "\0" in a quoted string would cut the C string short. */
	if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length) !=
	    NULL)
		return fail(ld, &ev->start_mark, "'%s' value contains a NUL "
		    "byte", k->name);
	return 0;
}

static int
set_scalar(struct loader *ld, const struct conf_key *k,
    const yaml_event_t *ev)
{
	const char	*v = (const char *)ev->data.scalar.value;
	char		 shown[CONF_SHOW_MAX], lo[32], hi[32], *s;
	enum log_level	 level;
	long		 n = 0;
	int		 rc;

	if (check_scalar(ld, k, ev) == -1)
		return -1;
	switch (k->type) {
	case CONF_STRING:
		if (k->choices != NULL && !word_in(v, k->choices))
			return fail(ld, &ev->start_mark, "'%s' must be one of"
			    " %s, got '%s'", k->name, k->choices,
			    show(v, strlen(v), shown, sizeof(shown)));
		if ((s = strdup(is_null(ev) ? "" : v)) == NULL)
			return oom(ld);
		free(*(char **)field(ld->c, k));
		*(char **)field(ld->c, k) = s;
		break;
	case CONF_STRLIST:
		/* Not quoted back: it may be a token meant for a list. */
		if (!is_null(ev))
			return fail(ld, &ev->start_mark, "'%s' expects a "
			    "list, got a single value", k->name);
		strlist_free(field(ld->c, k));
		break;
	case CONF_BOOL:
		if (strcmp(v, "true") == 0)
			*(bool *)field(ld->c, k) = true;
		else if (strcmp(v, "false") == 0)
			*(bool *)field(ld->c, k) = false;
		else
			goto bad;
		break;
	case CONF_LOGLEVEL:
		if (log_level_parse(v, &level) != 0)
			goto bad;
		*(enum log_level *)field(ld->c, k) = level;
		break;
	case CONF_INT:
	case CONF_DURATION:
	case CONF_SIZE:
		if ((rc = parse_number(k->type, v, &n)) == -1)
			goto bad;
		if (k->min == 0 && k->max == 0) {
			if (rc == -2)
				return fail(ld, &ev->start_mark, "'%s' value "
				    "'%s' is out of range", k->name,
				    show(v, ev->data.scalar.length, shown,
				    sizeof(shown)));
		} else if (rc == -2 || n < k->min || n > k->max)
			return fail(ld, &ev->start_mark, "'%s' must be between "
			    "%s and %s", k->name,
			    fmt_value(k->type, k->min, lo, sizeof(lo)),
			    fmt_value(k->type, k->max, hi, sizeof(hi)));
		*(long *)field(ld->c, k) = n;
		break;
	}
	mark_set(ld, k, pos_of(&ev->start_mark));
	return 0;
bad:
	return fail(ld, &ev->start_mark, "'%s' expects %s, got '%s'", k->name,
	    expects(k->type), show(v, ev->data.scalar.length, shown,
	    sizeof(shown)));
}

static void
mark_set(struct loader *ld, const struct conf_key *k, struct pos p)
{
	if (!ld->defaults)
		ld->where[k - conf_keys] = p;
}

/* The whole file, NUL-terminated; errno EFBIG past CONF_MAX_FILE. */
static int
slurp(const char *path, char **out, size_t *outlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 r;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* Room for one byte too many, to tell "full" from "too large". */
	if ((buf = malloc(CONF_MAX_FILE + 2)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (;;) {
		r = read(fd, buf + len, CONF_MAX_FILE + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto bad;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CONF_MAX_FILE) {
			errno = EFBIG;
			goto bad;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
bad:
	saved = errno;
	explicit_bzero(buf, len);
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

static char *
trim(char *s)
{
	char	*end;

	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	return s;
}

static int
read_secret_file(struct loader *ld, const struct conf_key *k,
    const char *path, char **buf, size_t *len)
{
	struct err	tmp;

	memset(&tmp, 0, sizeof(tmp));
	if (secret_file_check(path, &tmp) != 0)
		return fail_key(ld, k, "'%s': %s", k->name, tmp.message);
	if (slurp(path, buf, len) == -1) {
		if (errno == EFBIG)
			return fail_key(ld, k, "'%s': %s is larger than %d "
			    "bytes", k->name, path, CONF_MAX_FILE);
		return fail_key(ld, k, "'%s': %s: %s", k->name, path,
		    strerror(errno));
	}
	return 0;
}

static int
hash_add(struct conf *c, const unsigned char raw[32])
{
	unsigned char	(*h)[32];

	h = reallocarray(c->admin_hashes, c->admin_hashes_n + 1, sizeof(*h));
	if (h == NULL)
		return -1;
	c->admin_hashes = h;
	memcpy(c->admin_hashes[c->admin_hashes_n++], raw, 32);
	return 0;
}

/*
 * A *_file value "credential:NAME" names $CREDENTIALS_DIRECTORY/NAME, where
 * systemd's LoadCredential= puts the file: the field is rewritten to that
 * path, so the permission check and every message see the real file.
 */
static int
resolve_credential(struct loader *ld, size_t off)
{
	const struct conf_key	*k = key_at(off);
	char			**f = (char **)field(ld->c, k);
	const char		*name, *dir;
	char			*path;
	struct stat		 st;

	if (strncmp(*f, CONF_CREDENTIAL, sizeof(CONF_CREDENTIAL) - 1) != 0)
		return 0;
	name = *f + sizeof(CONF_CREDENTIAL) - 1;
	if (*name == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return fail_key(ld, k, "'%s': '%s' is not a credential name "
		    "(one file name, no '/')", k->name, *f);
	if ((dir = getenv("CREDENTIALS_DIRECTORY")) == NULL || *dir == '\0')
		return fail_key(ld, k, "'%s': %s needs CREDENTIALS_DIRECTORY, "
		    "which is not set: run synstackd from its systemd unit "
		    "with LoadCredential=%s:/path/to/file, or give the file's "
		    "path instead", k->name, *f, name);
	if (asprintf(&path, "%s/%s", dir, name) == -1)
		return oom(ld);
	if (stat(path, &st) == -1) {
		fail_key(ld, k, "'%s': %s: %s: %s (is LoadCredential=%s:... "
		    "in the unit?)", k->name, *f, path, strerror(errno), name);
		free(path);
		return -1;
	}
	free(*f);
	*f = path;
	return 0;
}

/* Checks across keys, and what is derived from them: the secret files. */
static int
finish(struct loader *ld)
{
	struct conf		*c = ld->c;
	const struct conf_key	*kt, *kf;
	struct pos		 at;
	struct err		 ce;
	char			*buf = NULL, *line, *next, *s;
	size_t			 len = 0, i;
	unsigned char		 raw[32];
	int			 rc = -1;

	err_clear(&ce);
	if (resolve_credential(ld, offsetof(struct conf,
	    gitea_admin_token_file)) == -1 ||
	    resolve_credential(ld, offsetof(struct conf,
	    gitea_webhook_secret_file)) == -1 ||
	    resolve_credential(ld, offsetof(struct conf,
	    secrets_master_key_file)) == -1 ||
	    resolve_credential(ld, offsetof(struct conf,
	    admin_token_file)) == -1)
		return -1;
	kt = key_at(offsetof(struct conf, gitea_admin_token));
	kf = key_at(offsetof(struct conf, gitea_admin_token_file));
	if (c->gitea_admin_token[0] != '\0' &&
	    c->gitea_admin_token_file[0] != '\0') {
		/* Point at whichever of the two comes last in the file. */
		at = ld->where[kt - conf_keys];
		if (at.line < ld->where[kf - conf_keys].line)
			at = ld->where[kf - conf_keys];
		return fail_at(ld, at, "'%s' and '%s' are mutually exclusive",
		    kt->name, kf->name);
	}
	if (c->gitea_admin_token_file[0] != '\0') {
		if (read_secret_file(ld, kf, c->gitea_admin_token_file, &buf,
		    &len) == -1)
			return -1;
		buf[strcspn(buf, "\n")] = '\0';
		line = trim(buf);
		if (*line == '\0') {
			rc = fail_key(ld, kf, "'%s': the first line of %s is "
			    "empty", kf->name, c->gitea_admin_token_file);
			goto out;
		}
		if ((s = strdup(line)) == NULL) {
			rc = oom(ld);
			goto out;
		}
		free(c->gitea_admin_token);
		c->gitea_admin_token = s;
		explicit_bzero(buf, len);
		free(buf);
		buf = NULL;
	}

	if (c->gitea_webhook_secret_file[0] != '\0') {
		kf = key_at(offsetof(struct conf, gitea_webhook_secret_file));
		if (read_secret_file(ld, kf, c->gitea_webhook_secret_file, &buf,
		    &len) == -1)
			return -1;
		buf[strcspn(buf, "\n")] = '\0';
		line = trim(buf);
		if (*line == '\0') {
			rc = fail_key(ld, kf, "'%s': the first line of %s is "
			    "empty", kf->name, c->gitea_webhook_secret_file);
			goto out;
		}
		if ((c->gitea_webhook_secret = strdup(line)) == NULL) {
			rc = oom(ld);
			goto out;
		}
		explicit_bzero(buf, len);
		free(buf);
		buf = NULL;
	}

	kf = key_at(offsetof(struct conf, work_required_checks));
	if ((c->work_required_checks_json = malloc(CHECKS_RULE_MAX)) == NULL)
		return oom(ld);
	if (policy_checks_rule((const char *const *)c->work_required_checks.v,
	    c->work_required_checks.n, c->work_required_checks_json,
	    CHECKS_RULE_MAX, &ce) == -1)
		return fail_key(ld, kf, "'%s': %s", kf->name, ce.message);

	for (i = 0; i < c->admin_token_hashes.n; i++) {
		/* Each item passed token_hash_parse() when it was read. */
		if (token_hash_parse(c->admin_token_hashes.v[i], raw) != 0 ||
		    hash_add(c, raw) == -1) {
			rc = oom(ld);
			goto out;
		}
	}
	if (c->admin_token_file[0] != '\0') {
		kf = key_at(offsetof(struct conf, admin_token_file));
		if (read_secret_file(ld, kf, c->admin_token_file, &buf,
		    &len) == -1)
			return -1;
		for (line = buf; line != NULL; line = next) {
			if ((next = strchr(line, '\n')) != NULL)
				*next++ = '\0';
			line = trim(line);
			if (*line == '\0' || *line == '#')
				continue;
			key_hash_raw(line, raw);
			if (hash_add(c, raw) == -1) {
				rc = oom(ld);
				goto out;
			}
		}
	}
	rc = 0;
out:
	explicit_bzero(raw, sizeof(raw));
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return rc;
}

/* A config holding every built-in default, each parsed like a file's. */
static struct conf *
conf_new(const char *path, struct err *e)
{
	struct loader	 ld;
	struct conf	*c;
	size_t		 i;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (path != NULL && (c->path = strdup(path)) == NULL)) {
		free(c);
		err_set(e, ERR_INTERNAL, "%s: out of memory",
		    path != NULL ? path : "config");
		return NULL;
	}
	for (i = 0; i < NKEYS; i++) {
		memset(&ld, 0, sizeof(ld));
		ld.c = c;
		ld.e = e;
		ld.name = "built-in defaults";
		ld.defaults = true;
		ld.root.leaf = &conf_keys[i];
		if (walk(&ld, conf_keys[i].def, strlen(conf_keys[i].def),
		    lint_event) == -1 || walk(&ld, conf_keys[i].def,
		    strlen(conf_keys[i].def), load_event) == -1) {
			conf_free(c);
			return NULL;
		}
		if (!ld.root_done) {
			/* An empty default would leave a NULL string. */
			err_set(e, ERR_INTERNAL, "built-in default of '%s' is "
			    "empty", conf_keys[i].name);
			conf_free(c);
			return NULL;
		}
	}
	return c;
}

struct conf *
conf_load(const char *path, struct err *e)
{
	struct loader	 ld;
	struct conf	*c;
	char		*buf;
	size_t		 len;

	if (path == NULL) {
		if ((c = conf_new(NULL, e)) == NULL)
			return NULL;
		memset(&ld, 0, sizeof(ld));
		ld.c = c;
		ld.e = e;
		ld.name = "built-in defaults";
		if (finish(&ld) == -1) {
			conf_free(c);
			return NULL;
		}
		return c;
	}
	if (slurp(path, &buf, &len) == -1) {
		if (errno == EFBIG)
			err_set(e, ERR_CONFIG, "%s: larger than %d bytes",
			    path, CONF_MAX_FILE);
		else
			err_set(e, ERR_CONFIG, "%s: %s", path,
			    strerror(errno));
		return NULL;
	}
	c = conf_load_buffer(buf, len, path, e);
	/* The file may hold gitea.admin_token. */
	explicit_bzero(buf, len);
	free(buf);
	return c;
}

struct conf *
conf_load_buffer(const char *buf, size_t len, const char *name,
    struct err *e)
{
	struct loader	 ld;
	struct conf	*c;

	if (name == NULL)
		name = "synstack.yaml";
	if (buf == NULL)
		len = 0;
	if (len > CONF_MAX_FILE) {
		err_set(e, ERR_CONFIG, "%s: larger than %d bytes", name,
		    CONF_MAX_FILE);
		return NULL;
	}
	if ((c = conf_new(name, e)) == NULL)
		return NULL;
	memset(&ld, 0, sizeof(ld));
	ld.c = c;
	ld.e = e;
	ld.name = name;
	if (walk(&ld, buf != NULL ? buf : "", len, lint_event) == -1 ||
	    walk(&ld, buf != NULL ? buf : "", len, load_event) == -1 ||
	    finish(&ld) == -1) {
		conf_free(c);
		return NULL;
	}
	return c;
}

void
conf_free(struct conf *c)
{
	char	**s;
	size_t	  i;

	if (c == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		switch (conf_keys[i].type) {
		case CONF_STRING:
			s = field(c, &conf_keys[i]);
			/* Some are secrets: gitea.admin_token. */
			if (*s != NULL)
				explicit_bzero(*s, strlen(*s));
			free(*s);
			break;
		case CONF_STRLIST:
			strlist_free(field(c, &conf_keys[i]));
			break;
		default:
			break;
		}
	}
	if (c->admin_hashes != NULL)
		explicit_bzero(c->admin_hashes,
		    c->admin_hashes_n * sizeof(*c->admin_hashes));
	free(c->admin_hashes);
	if (c->gitea_webhook_secret != NULL)
		explicit_bzero(c->gitea_webhook_secret,
		    strlen(c->gitea_webhook_secret));
	free(c->gitea_webhook_secret);
	free(c->work_required_checks_json);
	free(c->path);
	free(c);
}

const struct conf_key *
conf_key_find(const char *name)
{
	size_t	i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < NKEYS; i++)
		if (strcmp(conf_keys[i].name, name) == 0)
			return &conf_keys[i];
	return NULL;
}

bool
conf_key_equal(const struct conf *a, const struct conf *b,
    const struct conf_key *k)
{
	const void		*fa = cfield(a, k), *fb = cfield(b, k);
	const struct strlist	*la, *lb;
	const char		*sa, *sb;
	size_t			 i;

	switch (k->type) {
	case CONF_STRING:
		sa = *(char *const *)fa;
		sb = *(char *const *)fb;
		return strcmp(sa != NULL ? sa : "", sb != NULL ? sb : "") == 0;
	case CONF_INT:
	case CONF_DURATION:
	case CONF_SIZE:
		return *(const long *)fa == *(const long *)fb;
	case CONF_BOOL:
		return *(const bool *)fa == *(const bool *)fb;
	case CONF_LOGLEVEL:
		return *(const enum log_level *)fa ==
		    *(const enum log_level *)fb;
	case CONF_STRLIST:
		la = fa;
		lb = fb;
		if (la->n != lb->n)
			return false;
		for (i = 0; i < la->n; i++)
			if (strcmp(la->v[i], lb->v[i]) != 0)
				return false;
		return true;
	}
	return false;
}

static int
copy_value(struct conf *dst, const struct conf *src, const struct conf_key *k)
{
	void		*fd = field(dst, k);
	const void	*fs = cfield(src, k);
	const char	*from;
	char		*s, **to;

	switch (k->type) {
	case CONF_STRING:
		from = *(char *const *)fs;
		if ((s = strdup(from != NULL ? from : "")) == NULL)
			return -1;
		to = fd;
		if (*to != NULL)
			explicit_bzero(*to, strlen(*to));
		free(*to);
		*to = s;
		break;
	case CONF_STRLIST:
		return strlist_copy(fd, fs);
	case CONF_INT:
	case CONF_DURATION:
	case CONF_SIZE:
		*(long *)fd = *(const long *)fs;
		break;
	case CONF_BOOL:
		*(bool *)fd = *(const bool *)fs;
		break;
	case CONF_LOGLEVEL:
		*(enum log_level *)fd = *(const enum log_level *)fs;
		break;
	}
	return 0;
}

void
conf_keep_unreloadable(struct conf *nc, const struct conf *old)
{
	const struct conf_key	*k;

	if (nc == NULL || old == NULL)
		return;
	for (k = conf_keys; k < conf_keys + NKEYS; k++) {
		if (k->reloadable || conf_key_equal(nc, old, k))
			continue;
		/* Only the name: the value may be a secret. */
		log_warn("config key %s changed; restart synstackd to apply it",
		    k->name);
		if (copy_value(nc, old, k) == -1)
			log_error("config key %s: out of memory keeping the "
			    "running value", k->name);
	}
}
