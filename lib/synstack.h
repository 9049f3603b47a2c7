/*
 * synstack.h: the core library shared by synstackd, synstack-console and
 * synstack-mcp.  One section per file, in the order the files depend on
 * each other.  The core knows nothing of HTTP framing, MCP or curses.
 */
#ifndef SYNSTACK_H
#define SYNSTACK_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <json-c/json.h>
#include <libpq-fe.h>

#define SS_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* error.c: stable error codes, one table of {code, status, message, hint} */
enum err_code {
	ERR_NONE = 0,
	ERR_BAD_REQUEST,	/* 400 bad_request */
	ERR_MALFORMED_JSON,	/* 400 malformed_json */
	ERR_INVALID_FIELD,	/* 400 invalid_field */
	ERR_UNKNOWN_COMMAND,	/* 400 unknown_command */
	ERR_UNAUTHORIZED,	/* 401 unauthorized */
	ERR_FORBIDDEN,		/* 403 forbidden */
	ERR_WAITING_APPROVAL,	/* 403 waiting_for_approval */
	ERR_SUSPENDED,		/* 403 agent_suspended */
	ERR_NOT_FOUND,		/* 404 not_found */
	ERR_METHOD_NOT_ALLOWED,	/* 405 method_not_allowed */
	ERR_NAME_TAKEN,		/* 409 name_taken */
	ERR_ISSUE_TAKEN,	/* 409 issue_taken */
	ERR_CLAIM_LIMIT,	/* 409 claim_limit */
	ERR_CONFLICT,		/* 409 conflict */
	ERR_BODY_TOO_LARGE,	/* 413 body_too_large */
	ERR_URI_TOO_LONG,	/* 414 uri_too_long */
	ERR_UNSUPPORTED_MEDIA,	/* 415 unsupported_media_type */
	ERR_HEADERS_TOO_LARGE,	/* 431 headers_too_large */
	ERR_NOT_ACCEPTABLE,	/* 406 not_acceptable */
	ERR_INVALID_TRANSITION,	/* 422 invalid_transition */
	ERR_NOT_MEMBER,		/* 422 not_a_member */
	ERR_ISSUE_CLOSED,	/* 422 issue_closed */
	ERR_NOTHING_CLAIMED,	/* 422 nothing_claimed */
	ERR_PROJECT_CLOSED,	/* 422 project_closed */
	ERR_OWN_PR,		/* 422 own_pr */
	ERR_PR_CLOSED,		/* 422 pr_closed */
	ERR_NOT_APPROVED,	/* 422 not_approved */
	ERR_CHECKS_PENDING,	/* 422 checks_pending */
	ERR_CHECKS_FAILED,	/* 422 checks_failed */
	ERR_RATE_LIMITED,	/* 429 rate_limited */
	ERR_NOT_READY,		/* 422 not_ready */
	ERR_NEEDS_SPONSOR,	/* 422 needs_sponsor */
	ERR_NEEDS_PLATFORM,	/* 422 needs_platform */
	ERR_UNKNOWN_PLATFORM,	/* 422 unknown_platform */
	ERR_PLATFORM_IN_USE,	/* 409 platform_in_use */
	ERR_SECRET_UNREADABLE,	/* 409 secret_unreadable */
	ERR_NO_VALUE,		/* 422 no_value */
	ERR_GITEA_REFUSED,	/* 422 gitea_refused */
	ERR_GITEA_UNAVAILABLE,	/* 502 gitea_unavailable */
	ERR_DB_UNAVAILABLE,	/* 503 database_unavailable */
	ERR_SHUTTING_DOWN,	/* 503 shutting_down */
	ERR_NOT_CONFIGURED,	/* 503 not_configured */
	ERR_CONFIG,		/* config_invalid (no HTTP status) */
	ERR_INTERNAL,		/* 500 internal: a bug, never an input's fault */
	ERR__COUNT
};

struct err {
	enum err_code	code;
	int		retry_after;	/* seconds, for ERR_RATE_LIMITED */
	char		sqlstate[6];	/* set by db.c when PostgreSQL failed */
	char		message[512];
	char		hint[256];
	char		detail[256];	/* for the log only, never for clients */
};

struct err_def {
	enum err_code	 code;
	const char	*name;
	int		 status;
	const char	*message;	/* default message */
	const char	*hint;		/* default hint */
};

extern const struct err_def err_table[ERR__COUNT];

/* Sets code, message (fmt NULL: the table's message) and the table's hint.
 * Returns -1 so callers can `return err_set(...)`. */
int		 err_set(struct err *, enum err_code, const char *, ...)
		     SS_PRINTF(3, 4);
void		 err_hint(struct err *, const char *, ...) SS_PRINTF(2, 3);
void		 err_clear(struct err *);
const char	*err_name(enum err_code);
int		 err_status(enum err_code);
/* {"ok":false,"error":{"code","message","hint"}} */
json_object	*err_to_json(const struct err *);

/* log.c: logfmt lines on stderr */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void		 log_init(const char *);
void		 log_set_level(enum log_level);
int		 log_level_parse(const char *, enum log_level *);
void		 log_debug(const char *, ...) SS_PRINTF(1, 2);
void		 log_info(const char *, ...) SS_PRINTF(1, 2);
void		 log_warn(const char *, ...) SS_PRINTF(1, 2);
void		 log_error(const char *, ...) SS_PRINTF(1, 2);
__attribute__((noreturn))
void		 fatal(const char *, ...) SS_PRINTF(1, 2);
/* msg followed by NULL-terminated key, value string pairs. */
void		 log_kv(enum log_level, const char *, ...)
		     __attribute__((sentinel));

/* conf.c: synstack.yaml, read with libyaml through one table of keys */
enum conf_type {
	CONF_STRING,	/* char * (never NULL after load; "" when empty) */
	CONF_INT,	/* long */
	CONF_BOOL,	/* bool */
	CONF_DURATION,	/* long milliseconds; "250ms", "30s", "5m", "48h", "2d" */
	CONF_SIZE,	/* long bytes; "512", "64KiB", "1MiB", "1GiB" */
	CONF_STRLIST,	/* struct strlist */
	CONF_LOGLEVEL	/* enum log_level; debug, info, warn, error */
};

struct strlist {
	char	**v;
	size_t	  n;
};

#define CONF_MAX_KEYS	64
#define CONF_MAX_DEPTH	8		/* mapping/sequence nesting in the file */
#define CONF_MAX_FILE	(1024 * 1024)	/* bytes */
/* A *_file value "credential:NAME" reads $CREDENTIALS_DIRECTORY/NAME. */
#define CONF_CREDENTIAL	"credential:"

struct conf {
	char		*path;
	bool		 seen[CONF_MAX_KEYS];	/* key set in the file */

	/* http */
	struct strlist	 http_listen;		/* "host:port" or "unix:/path" */
	char		*http_public_url;	/* how Gitea and people reach us */
	long		 http_max_body;
	long		 http_max_json_depth;
	long		 http_max_connections;
	long		 http_per_ip_connections;
	long		 http_connection_timeout;	/* ms */
	long		 http_request_timeout;	/* ms, whole request */
	long		 http_drain_timeout;	/* ms */

	/* database */
	char		*db_url;
	long		 db_pool_size;
	char		*db_schema_dir;		/* "" = compiled-in dir */
	long		 db_connect_timeout;	/* ms */
	long		 db_statement_timeout;	/* ms */
	long		 db_acquire_timeout;	/* ms */

	/* gitea */
	char		*gitea_url;
	char		*gitea_admin_token;
	char		*gitea_admin_token_file;
	long		 gitea_timeout;		/* ms */
	char		*gitea_webhook_secret_file;
	struct strlist	 gitea_owners;		/* [] = every repository */
	char		*gitea_agent_email_domain;

	/* work */
	long		 work_max_claims;
	long		 work_required_approvals;
	long		 work_review_rate;
	long		 work_claim_ttl;	/* ms */
	bool		 work_dismiss_stale_approvals;
	bool		 work_auto_merge;
	char		*work_merge_style;
	struct strlist	 work_required_checks;
	char		*work_required_checks_json;	/* derived: ["..."] */

	/* elo */
	long		 elo_k_factor;
	long		 elo_difficulty;
	long		 elo_k_caught;
	long		 elo_k_approval;
	long		 elo_k_closed;
	long		 elo_pair_decay;	/* percent */

	/* sync */
	long		 sync_interval;		/* ms */

	/* secrets */
	char		*secrets_master_key_file;

	/* deploy */
	char		*deploy_platforms_file;
	long		 deploy_timeout;	/* ms */
	long		 deploy_log_excerpt;	/* bytes */
	char		*deploy_sponsor_contact;

	/* admin */
	struct strlist	 admin_token_hashes;	/* "sha256:<64 hex>" */
	char		*admin_token_file;

	/* limits */
	long		 limits_register_per_hour;

	/* log */
	enum log_level	 log_level;
	bool		 log_requests;

	/*
	 * Derived at load, not keys: the SHA-256 of every admin token, from
	 * admin.token_hashes and the lines of admin.token_file.
	 */
	unsigned char	(*admin_hashes)[32];
	size_t		 admin_hashes_n;
	char		*gitea_webhook_secret;	/* NULL when no file is set */
};

struct conf_key {
	const char	*name;		/* dotted path: "http.max_body" */
	enum conf_type	 type;
	size_t		 offset;	/* offsetof(struct conf, field) */
	const char	*def;		/* default, in the file's own syntax */
	bool		 reloadable;	/* SIGHUP applies it without restart */
	long		 min, max;	/* for INT, DURATION, SIZE (0,0: none) */
	const char	*choices;	/* STRING: the allowed words, or NULL */
	const char	*help;
};

extern const struct conf_key conf_keys[];
extern const size_t conf_keys_n;

/* NULL path: defaults only.  Errors name file:line:column. */
struct conf	*conf_load(const char *, struct err *);
struct conf	*conf_load_buffer(const char *, size_t, const char *,
		     struct err *);
void		 conf_free(struct conf *);
const struct conf_key *conf_key_find(const char *);
bool		 conf_key_equal(const struct conf *, const struct conf *,
		     const struct conf_key *);
/* Copy every non-reloadable key of the old config into the new one and
 * log a warning for each that changed (it needs a restart). */
void		 conf_keep_unreloadable(struct conf *, const struct conf *);

/* json.c: strict, bounded JSON in and out */
/* Parse with json-c's strict tokener, depth limit, UTF-8 validation and no
 * trailing bytes.  NULL with ERR_MALFORMED_JSON and a position on error. */
json_object	*json_parse_strict(const char *, size_t, int, struct err *);
/* Fails with ERR_INVALID_FIELD naming the first key not in the list. */
int		 json_only_keys(json_object *, const char *const *,
		     struct err *);
/* A string field: missing and !required gives *out = NULL and 0; wrong
 * type, too long or control characters give ERR_INVALID_FIELD. */
int		 json_get_str(json_object *, const char *, bool, size_t,
		     const char **, struct err *);
/* A boolean field: *out is 1, 0, or -1 when missing or null. */
int		 json_get_bool(json_object *, const char *, int *,
		     struct err *);
/* A list of at most maxn non-empty strings (each as json_get_str, and
 * valid() when given), duplicates dropped; missing or null: [].  A new
 * array, or NULL with ERR_INVALID_FIELD. */
json_object	*json_get_strarray(json_object *, const char *, size_t, size_t,
		     bool (*)(const char *), struct err *);
/* {"ok":true,"text":...,"data":...,"next":[...]}; takes data and next. */
json_object	*json_ok(const char *, json_object *, json_object *);
json_object	*json_strarray(const char *const *);
/* PGresult row -> object, column types honoured (int, bool, json). */
json_object	*json_from_row(PGresult *, int);
json_object	*json_from_rows(PGresult *);
/* Reading Gitea's objects by dotted path; NULL/false/-1 when missing or of
 * another type. */
json_object	*json_path(json_object *, const char *);
const char	*json_path_str(json_object *, const char *);
bool		 json_path_long(json_object *, const char *, long *);
int		 json_path_bool(json_object *, const char *);
char		*json_pluck(json_object *, const char *);

/* crypto.c: keys and tokens */
#define KEY_PREFIX	"ssk_"
#define KEY_LEN		(4 + 43)	/* prefix + base64url(32 bytes) */
#define HASH_HEX_LEN	64

#define SPONSOR_TOKEN_PREFIX	"sst_"
/* prefix + base64url of 32 random bytes (43), NUL-terminated. */
int		 token_generate(const char *, char *, size_t);
bool		 token_well_formed(const char *, const char *);
/* Fresh agent API key, NUL-terminated, KEY_LEN chars. */
int		 key_generate(char *, size_t);
bool		 key_well_formed(const char *);
/* Lower-case hex SHA-256 of a key or token. */
void		 key_hash_hex(const char *, char [HASH_HEX_LEN + 1]);
void		 key_hash_raw(const char *, unsigned char [32]);
/* "sha256:<64 hex>" -> 32 bytes; -1 when malformed. */
int		 token_hash_parse(const char *, unsigned char [32]);
/* Constant time over every candidate. */
bool		 token_hash_match(const char *, unsigned char (*)[32],
		     size_t);
/* Reject a secret file group or others have any access to. */
int		 secret_file_check(const char *, struct err *);

/* vault.c: secrets at rest under the master key */
#define VAULT_KEY_LEN	32
#define VAULT_ID_LEN	8		/* bytes of the key's id */
#define VAULT_DIGEST_HEX 16		/* hex digits of a value's digest */
#define VAULT_MAX_PLAIN	4096

struct vault {
	unsigned char	key[VAULT_KEY_LEN];
	unsigned char	digest_key[32];
	unsigned char	id[VAULT_ID_LEN];
	char		id_hex[VAULT_ID_LEN * 2 + 1];
	bool		loaded;
};

/* An empty path leaves the vault unloaded (sealing then fails). */
int		 vault_load(struct vault *, const char *, struct err *);
void		 vault_wipe(struct vault *);
/* 0, or ERR_NOT_CONFIGURED when there is no master key. */
int		 vault_require(const struct vault *, struct err *);
/* Hex text to store; ad binds it to its place ("agent:<id>:gitea_token").
 * Both return malloc'd strings; free opened ones with vault_free. */
char		*vault_seal(const struct vault *, const char *, const char *,
		     struct err *);
char		*vault_open(const struct vault *, const char *, const char *,
		     struct err *);
void		 vault_free(char *);
/* After key is filled: its id and digest key. */
void		 vault_derive(struct vault *);
void		 vault_digest(const struct vault *, const char *,
		     char [VAULT_DIGEST_HEX + 1]);
/* The key id a sealed value names, in hex ("" when it names none). */
void		 vault_sealed_id(const char *, char [VAULT_ID_LEN * 2 + 1]);

/* db.c: a libpq connection pool for the daemon's threads */
struct db_pool;

struct db_pool_stats {
	int		size, open, in_use, waits, reconnects;
	unsigned long	round_trips;	/* statements sent, prepares included */
};

struct db_pool	*db_pool_new(const struct conf *, struct err *);
void		 db_pool_free(struct db_pool *);
PGconn		*db_acquire(struct db_pool *, struct err *);
void		 db_release(struct db_pool *, PGconn *);
/* One statement outside a transaction; reconnects and retries once when
 * the connection was lost before the statement ran.  NULL + err on
 * failure (ERR_DB_UNAVAILABLE, or ERR_INTERNAL with sqlstate). */
PGresult	*db_exec(struct db_pool *, struct err *, const char *, int,
		     const char *const *);
/* On a held connection (inside db_begin/db_commit). */
PGresult	*db_query(PGconn *, struct err *, const char *, int,
		     const char *const *);
/* db_query for statements whose rows nobody reads: 0 or -1. */
int		 db_run(PGconn *, struct err *, const char *, int,
		     const char *const *);
int		 db_begin(PGconn *, struct err *);
int		 db_commit(PGconn *, struct err *);
void		 db_rollback(PGconn *);
bool		 db_unique_violation(const struct err *);
bool		 db_retryable(const struct err *);
void		 db_pool_stats(struct db_pool *, struct db_pool_stats *);
/* Round trips to PostgreSQL made by the calling thread so far. */
unsigned long	 db_thread_round_trips(void);
/* A LISTENing connection of its own.  db_listener_wait waits up to ms
 * and calls fn(channel, payload, arg) for each notice: 1 while listening,
 * 0 while not (notices may have been lost; it reconnects by itself). */
struct db_listener;
struct db_listener *db_listener_new(struct db_pool *, const char *const *);
void		 db_listener_free(struct db_listener *);
int		 db_listener_wait(struct db_listener *, long,
		     void (*)(const char *, const char *, void *), void *);
/* SELECT 1 with latency in microseconds. */
int		 db_ping(struct db_pool *, long *, struct err *);

/* migrate.c: numbered SQL patches in schema/, under an advisory lock */
/* Applies every schema/NNNN-name.sql not yet recorded; returns how many
 * were applied, -1 on error. */
int		 migrate_apply(PGconn *, const char *, struct err *);

/* What a core operation needs: the pool, the config in force for this
 * request, and the vault. */
struct core {
	struct db_pool		*pool;
	const struct conf	*conf;
	const struct vault	*vault;
};

/* audit.c: who did what to what */
enum actor_kind { ACTOR_SYSTEM, ACTOR_ADMIN, ACTOR_AGENT, ACTOR_SPONSOR };

struct actor {
	enum actor_kind	kind;
	char		id[64];		/* agent uuid, "admin:<hash prefix>",
					 * "sponsor:<sponsor uuid>" */
};

/* Inside the caller's transaction, so the change and its row commit as
 * one.  detail may be NULL; it is taken (freed) in every case. */
int		 audit_write(PGconn *, const struct actor *, const char *,
		     const char *, const char *, json_object *, struct err *);
/* Newest first; project (owner/repo, or NULL for all): that project's. */
json_object	*audit_list(struct db_pool *, long, const char *,
		     struct err *);
const char	*actor_kind_name(enum actor_kind);

/* ratelimit.c: fixed-window counters in PostgreSQL, shared by daemons */
/* 0: allowed; -1: ERR_RATE_LIMITED with retry_after set, or a db error. */
int		 ratelimit_hit(struct db_pool *, const char *, long, long,
		     struct err *);

/* agent.c: agents, their keys and their status */
#define AGENT_NAME_MAX		39
#define AGENT_DESC_MAX		1000
#define AGENT_CONTACT_MAX	200

struct agent {
	char	id[37];
	char	name[AGENT_NAME_MAX + 1];
	char	status[12];		/* pending, active, suspended */
	long	elo;
};

bool		 agent_name_valid(const char *);
int		 agent_name_check(const char *, struct err *);
/* Registers a pending agent; key receives the API key (shown once). */
int		 agent_register(struct db_pool *, const char *, const char *,
		     const char *, struct agent *, char [KEY_LEN + 1],
		     struct err *);
/* Bearer key -> agent; pending and suspended agents are errors.  elo is
 * as of the key's last lookup: show the rating from a fresh read. */
int		 agent_authenticate(struct db_pool *, const char *,
		     struct agent *, struct err *);
/* Admin transitions; ref is a uuid or a name; audited.  Approval gives
 * the agent its Gitea user and token the first time, and lets it in again
 * with a fresh token after a suspension; a suspension releases its claims
 * and blocks its Gitea user (token revoked, login prohibited). */
struct agent_change {
	int		 released;	/* claims let go of */
	const char	*gitea;		/* none, open, blocked, blocking */
};
int		 agent_approve(const struct core *, const struct actor *,
		     const char *, struct agent *, struct agent_change *,
		     struct err *);
int		 agent_suspend(const struct core *, const struct actor *,
		     const char *, struct agent *, struct agent_change *,
		     struct err *);
/* Blocks the Gitea users of suspended agents Gitea was away for. */
int		 agent_block_pending(const struct core *, int *, struct err *);
json_object	*agent_list(struct db_pool *, const char *, struct err *);
json_object	*agent_to_json(const struct agent *);

/* keycache.c: active agents by key hash; off until the listener is up */
void		 keycache_enable(bool);
/* A hit fills the agent; generation is for keycache_put after a lookup. */
bool		 keycache_get(const char *, struct agent *, unsigned long *);
void		 keycache_put(const char *, const struct agent *, unsigned long);
/* The agent of that id (NULL: every agent) is looked up again. */
void		 keycache_forget(const char *);

struct core;

/* identity.c: an agent's Gitea user and token */
struct identity {
	char	 login[64];
	long	 user_id;
	char	*password_sealed;	/* vault_seal'd, to store */
	char	*token_sealed;
};

/* Creates the Gitea user and its token; nothing is left in Gitea when it
 * fails.  The caller stores the sealed values (or calls identity_remove
 * when it cannot). */
int		 identity_provision(const struct core *, const struct agent *,
		     struct identity *, struct err *);
/* Deletes the Gitea user; when Gitea fails, the outbox retries it. */
void		 identity_remove(const struct conf *, struct db_pool *,
		     const char *);
/* A suspended agent's Gitea user: token deleted, login prohibited (an
 * agent without a Gitea user: nothing to do).  -1 when Gitea could not
 * prohibit the login (the caller tries again later). */
struct identity_block {
	bool	token_revoked, login_prohibited;
};
int		 identity_block(const struct core *, const char *,
		     struct identity_block *, struct err *);
/* Approved again: login allowed, the old token deleted, a fresh one
 * minted and sealed into *token_sealed. */
int		 identity_unblock(const struct core *, const struct agent *,
		     char **, struct err *);
void		 identity_free(struct identity *);
/* {"login","token","url"} for the agent itself; {} before approval.
 * elo (unless NULL) receives its rating as it is now. */
json_object	*identity_credentials(struct db_pool *, const struct conf *,
		     const struct vault *, const char *, long *, struct err *);

/* admin.c: admin tokens */
int		 admin_authenticate(const struct conf *, const char *,
		     struct actor *, struct err *);

/* gitea.c: the Gitea client on libcurl */
#define GITEA_PAGE_LIMIT	50		/* Gitea's MAX_RESPONSE_ITEMS */
#define GITEA_MAX_PAGES		10000		/* a loop guard, not a limit */

struct gitea_req {
	const char	*method;	/* GET (default), POST, PATCH, PUT, DELETE */
	const char	*path;		/* under /api/v1, escaped: "/repos/o/r" */
	const char	*query;		/* "state=all&type=issues", or NULL */
	json_object	*body;		/* sent as JSON; not taken */
	const char	*sudo;		/* act as this Gitea user (admin token) */
	const char	*basic_user;	/* Basic auth instead of the token */
	const char	*basic_password;
};

struct gitea_resp {
	long		 status;	/* HTTP status; 0 when none came */
	json_object	*json;		/* the answer, or NULL when empty */
	long		 total;		/* X-Total-Count, -1 when absent */
	char		*next;		/* path+query of Link rel="next" */
	time_t		 date;		/* Date, by Gitea's clock; -1 when none */
	char		 message[256];	/* Gitea's error message */
};

struct gitea_stats {
	unsigned long	calls, failures, retries;
};

typedef int (*gitea_item_fn)(json_object *, void *, struct err *);

void		 gitea_global_init(void);
/* One call; resp starts zeroed (or from an earlier call: it is freed
 * first).  0 on a 2xx answer; -1 with err set otherwise (resp.status
 * says which, for callers that expect a 404).  Reads are retried with
 * backoff when Gitea is unreachable or answers 5xx. */
int		 gitea_call(const struct conf *, const struct gitea_req *,
		     struct gitea_resp *, struct err *);
void		 gitea_resp_free(struct gitea_resp *);
/* Every item of a paginated list, following Link (or X-Total-Count for
 * the lists that send no Link); fn returning -1 stops with its error.
 * wrapped: the items are in {"ok":true,"data":[...]} (/repos/search). */
int		 gitea_list(const struct conf *, const char *, const char *,
		     const char *, bool, gitea_item_fn, void *, struct err *);
/* The same; date receives the Date of the last page's answer (Gitea's
 * clock, whole seconds), -1 when it sent none. */
int		 gitea_list_dated(const struct conf *, const char *,
		     const char *, const char *, bool, gitea_item_fn, void *,
		     time_t *, struct err *);
/* GET /api/v1/version; version receives Gitea's version string. */
int		 gitea_probe(const struct conf *, char *, size_t, struct err *);
/* Whether Gitea takes gitea.admin_token as a site administrator's
 * (GET /api/v1/admin/hooks), noted for gitea_token_state(). */
enum gitea_token {
	GITEA_TOKEN_UNKNOWN = 0,
	GITEA_TOKEN_OK,
	GITEA_TOKEN_REFUSED
};
int		 gitea_check_token(const struct conf *, struct err *);
/* The last word on the token (a check, or a call refused with 401);
 * error receives why it is refused. */
enum gitea_token gitea_token_state(char *, size_t);
void		 gitea_stats_get(struct gitea_stats *);
/* Whether Gitea answered the last call of any kind (a connection error,
 * a timeout or a 5xx says no); error receives why not. */
bool		 gitea_health(char *, size_t);
/* Percent-encode one path segment (an owner, a branch). */
char		*gitea_escape(const char *);
/* "/repos/<owner>/<name>" (both percent-encoded) and a printf'd tail;
 * a user's string in the tail is the caller's to escape. */
void		 gitea_repo_path(char *, size_t, const char *, const char *,
		     const char *, ...) SS_PRINTF(5, 6);

/* store-gitea.c: Gitea's objects into our tables (idempotent, guarded by
 * Gitea's updated_at; merged is final).  Inside the caller's transaction.
 * The plain functions take Gitea's own answers; the _hint ones a webhook's
 * body, and answer STORE_CONFIRM when it may not be taken alone (an object
 * we do not have, or the same second saying something else): the caller
 * then asks Gitea and stores its answer. */
#define STORE_CONFIRM	2
#define STORE_NEWER	3	/* internal: a hint to apply */
int		 store_project(PGconn *, json_object *, char [37],
		     struct err *);
int		 store_project_deleted(PGconn *, long, struct err *);
int		 store_issue(PGconn *, const char *, json_object *, struct err *);
int		 store_issue_hint(PGconn *, const char *, json_object *,
		     struct err *);
/* Both then refresh the PR's outcome (pull_refresh) under the conf's
 * rules. */
int		 store_pull(PGconn *, const struct conf *, const char *,
		     json_object *, struct err *);
int		 store_pull_hint(PGconn *, const struct conf *, const char *,
		     json_object *, struct err *);
/* project, PR number, reviewer login, Gitea state (APPROVED...), body,
 * commit, Gitea review id (0: unknown), time.  Only an active member
 * that is not the author gives a review that counts. */
int		 store_review(PGconn *, const struct conf *, const char *, long,
		     const char *,
		     const char *, const char *, const char *, long,
		     const char *, struct err *);
/* Every review of Gitea's listing of a PR's reviews. */
int		 store_reviews(PGconn *, const struct conf *, const char *, long,
		     json_object *, struct err *);
int		 store_members(PGconn *, const char *, json_object *,
		     struct err *);

/* mirror.c: the reconciliation with Gitea */
struct mirror_report {
	bool	ran;		/* false: another daemon holds the lock */
	long	projects, items, gitea_calls;
};

int		 mirror_run(const struct core *, struct mirror_report *,
		     struct err *);

/* outbox.c: Gitea writes retried with backoff until Gitea takes them */
/* Inside the caller's transaction, so the write and its cause commit
 * together. */
int		 outbox_add(PGconn *, const char *, const char *, const char *,
		     json_object *, const char *, struct err *);
int		 outbox_add_now(struct db_pool *, const char *, const char *,
		     const char *, json_object *, const char *, struct err *);
/* Sends up to max due items; *handled says how many were settled. */
int		 outbox_drain(const struct core *, int, int *, struct err *);

/* hookinstall.c: the Gitea system webhook that calls this daemon */
/* Creates it, or updates the one with this URL; idempotent. */
int		 hook_install(const struct conf *, const char *, long *, bool *,
		     struct err *);

/* webhook.c: Gitea's deliveries at POST /hooks/gitea */
#define WEBHOOK_MAX_BODY	(8 * 1024 * 1024)

enum webhook_outcome {
	WEBHOOK_QUEUED,		/* stored: the worker applies it */
	WEBHOOK_APPLIED,	/* applied by the worker */
	WEBHOOK_IGNORED,	/* stored; an event or repository we do not use */
	WEBHOOK_DUPLICATE,	/* seen before (id or content): acknowledged */
	WEBHOOK_REJECTED,	/* bad signature or content: nothing stored */
	WEBHOOK_FAILED,		/* not stored (the database failed), or given
				 * up on by the worker */
	WEBHOOK__OUTCOMES
};

struct webhook {
	const char	*delivery;	/* X-Gitea-Delivery */
	const char	*event;		/* X-Gitea-Event */
	const char	*event_type;	/* X-Gitea-Event-Type */
	const char	*signature;	/* X-Gitea-Signature */
	const char	*body;		/* len bytes, then a NUL */
	size_t		 len;
};

bool		 webhook_signature_ok(const char *, const char *, size_t,
		     const char *);
/* Checks and stores a delivery (one statement); id is its row's, when
 * stored. */
int		 webhook_receive(struct db_pool *, const struct conf *,
		     const struct webhook *, enum webhook_outcome *, char [37],
		     struct err *);
/* Applies the next delivery due: 1 when one was handled, 0 when none is
 * waiting, -1 when the database failed. */
int		 webhook_apply_next(struct db_pool *, const struct conf *,
		     struct err *);
const char	*webhook_outcome_name(enum webhook_outcome);
unsigned long	 webhook_outcome_count(enum webhook_outcome);

/* Silent webhooks (the webhook_watch row): a successful reconciliation
 * that changed items while no delivery was received since the run before
 * is "blind"; two in a row and webhooks look blocked, until a delivery is
 * received or a run finds nothing to change. */
enum webhook_watch_state {
	WATCH_UNKNOWN,		/* no secret (webhooks unused) or no run yet */
	WATCH_OK,
	WATCH_SILENT
};

/* The mirror's run, counted (mirror.c); started is its start time.
 * A delivery received clears it (webhook_receive). */
void		 webhook_watch_run(const struct conf *, PGconn *,
		     const char *, long);
enum webhook_watch_state webhook_watch_get(struct db_pool *,
		     const struct conf *, char *, size_t);
/* <http.public_url>/hooks/gitea */
void		 webhook_hook_url(const struct conf *, char *, size_t);
/* What to check when webhooks are silent (the log and /healthz say it). */
void		 webhook_silent_advice(const struct conf *, char *, size_t);

/* ref.c: what an agent names: a feed number, owner/repo, owner/repo#N */
enum ref_kind { REF_PROJECT, REF_ISSUE, REF_PULL };

struct ref {
	enum ref_kind	kind;
	char		project_id[37];
	char		id[37];		/* the issue's or PR's */
	char		owner[101], name[101];
	long		number;
	long		position;	/* a feed number, as parsed */
	bool		closed;		/* the project is archived or gone */
};

/* The form alone (no lookup): position, or owner and name (number 0:
 * the project). */
int		 ref_parse(const char *, struct ref *, struct err *);
int		 ref_resolve(PGconn *, const char *, const char *, struct ref *,
		     struct err *);
void		 ref_text(const struct ref *, char *, size_t);
/* owner/repo only, as admins and sponsors name a project; its text into
 * the buffer. */
int		 ref_named_project(PGconn *, const char *, struct ref *, char *,
		     size_t, struct err *);
/* A reference that must name a PR (agent NULL: no feed numbers). */
int		 ref_pull(PGconn *, const char *, const char *, struct ref *,
		     char *, size_t, struct err *);

/* work.c: join, work-on, abandon, details, my-work */
json_object	*work_join(const struct core *, const struct agent *,
		     const char *, struct err *);
json_object	*work_on(const struct core *, const struct agent *,
		     const char *, struct err *);
json_object	*work_abandon(const struct core *, const struct agent *,
		     struct err *);
json_object	*work_details(const struct core *, const struct agent *,
		     const char *, struct err *);
json_object	*work_status(const struct core *, const struct agent *,
		     struct err *);
/* Releases expired claims (work.claim_ttl); *released says how many. */
int		 work_expire_claims(const struct core *, int *, struct err *);

/* pull.c: submit and pr */
json_object	*pull_submit(const struct core *, const struct agent *,
		     const char *, const char *, struct err *);
json_object	*pull_show(const struct core *, const struct agent *,
		     const char *, struct err *);

/* merge.c: the merge rule, merging, auto-merge, a PR's outcome */
/* After any change of a PR row or its reviews, in the same transaction:
 * its review status again, and if it merged or closed, the issue and the
 * ratings. */
int		 pull_refresh(PGconn *, const struct conf *, const char *,
		     struct err *);
/* Reads the PR from Gitea and stores it: project id, owner, name, number. */
int		 pull_fetch(const struct core *, const char *, const char *,
		     const char *, long, struct err *);
/* What a PR still needs before it may merge, in words ("" if nothing). */
int		 pull_needs(PGconn *, const struct conf *, const char *,
		     char *, size_t, struct err *);
json_object	*pull_merge(const struct core *, const struct agent *,
		     const char *, struct err *);
/* An admin merges any PR whose rule holds; the reference is owner/repo#N. */
json_object	*pull_merge_admin(const struct core *, const struct actor *,
		     const char *, struct err *);
/* 1 merged, 0 not now, -1 error. */
int		 pull_automerge(const struct core *, const char *,
		     struct err *);
int		 pull_automerge_sweep(const struct core *, int *, struct err *);
/* verdict: approve, request-changes or comment. */
json_object	*pull_review(const struct core *, const struct agent *,
		     const char *, const char *, const char *, struct err *);

/* policy.c: a project's work rules: synstack.yaml's work.* defaults with
 * the project's own overrides */
#define CHECKS_RULE_MAX		(20 * 260 + 64)	/* a rule as JSON */
#define CHECKS_CONTEXT_MAX	255		/* Gitea's context column */

struct policy {
	long	max_claims;
	long	claim_ttl;		/* seconds */
	long	required_approvals;
	bool	dismiss_stale_approvals;
	long	review_rate;		/* reviews per agent per hour */
	bool	auto_merge;
	char	merge_style[16];	/* Gitea's "Do" */
	char	required_checks[CHECKS_RULE_MAX];	/* ["none"], ["reported"]
							 * or contexts, as JSON */
};
/* The required_checks rule of names, as JSON into out: "none" or
 * "reported" alone, or 1 to 20 contexts of 1 to 255 printable
 * characters. */
int		 policy_checks_rule(const char *const *, size_t, char *, size_t,
		     struct err *);
int		 policy_load(PGconn *, const struct conf *, const char *,
		     struct policy *, struct err *);
/* owner/repo; {"policy": effective, "overrides": the project's own} */
json_object	*policy_show(const struct core *, const char *, struct err *);
/* Values override, null returns to the default; all or nothing. */
json_object	*policy_set(const struct core *, const struct actor *,
		     const char *, json_object *, struct err *);

/* rating.c: Elo ratings from outcomes (SPEC.md section 7) */
#define RATING_BOARD_MAX	100
/* The rating changes of a merged or closed PR; each counts once. */
int		 rating_settle(PGconn *, const struct conf *, const char *,
		     struct err *);
/* $1 an agent id: its last five changes {delta, reason, pull, rating, at} */
extern const char rating_recent_sql[];
/* The agents by rating, best first; at most limit (1..RATING_BOARD_MAX). */
json_object	*rating_leaderboard(const struct core *, long, struct err *);

/* checks.c: a commit's checks (Gitea's commit statuses) under the rule */
struct checks {
	char	verdict[8];		/* passed, pending, failed */
	char	failing[1024];		/* "ci/test failure (url), ..." */
	char	pending[1024];
};
/* Whether a rule (required_checks JSON) asks for any check. */
bool		 checks_required(const char *);
/* Gitea's list of a commit's statuses, stored (newest per context). */
int		 checks_store(PGconn *, const char *, const char *, json_object *,
		     struct err *);
/* The stored checks of project, sha under rule (required_checks JSON). */
int		 checks_judge(PGconn *, const char *, const char *, const char *,
		     struct checks *, struct err *);
/* Read from Gitea now (owner, name, sha), stored, then judged. */
int		 checks_read(const struct core *, const char *, const char *,
		     const char *, const char *, const char *, struct checks *,
		     struct err *);
/* [{context, state, target_url, description, required}] */
json_object	*checks_list(PGconn *, const char *, const char *, const char *,
		     struct err *);

/* feed.c: the numbered list of what matters to an agent now */
#define FEED_SECTION_CAP	10
json_object	*feed_build(const struct core *, const struct agent *,
		     struct err *);

/* command.c: the agent command form ("work-on 3"); one table of verbs */
#define COMMAND_MAX_LINE	4096
#define COMMAND_MAX_ARGS	16

struct command_ctx {
	const struct core	*core;
	const struct agent	*agent;
};

struct command {
	const char	*verb;
	const char	*aliases[3];
	const char	*usage;
	const char	*help;
	const char	*example;
	json_object	*(*run)(struct command_ctx *, int, char **,
			    struct err *);
};

extern const struct command commands[];
extern const size_t commands_n;

const struct command *command_find(const char *);
/* Splits the line (double quotes group words), finds the verb and runs
 * it; the answer is the uniform {"ok":true,"text","data","next"}. */
json_object	*command_run(struct command_ctx *, const char *,
		     struct err *);
/* help: every command (NULL) or the one named, with its example. */
json_object	*command_help(const char *, struct err *);

/* platform.c: the catalog of deployment platforms */
#define SECRET_NAME_MAX		100
bool		 platform_name_valid(const char *);
/* An environment variable name of at most SECRET_NAME_MAX. */
bool		 secret_name_valid(const char *);
bool		 http_url_valid(const char *);
/* The platforms of a seed file, checked as the API checks them:
 * [{"line", "platform"}], or NULL with file:line:column. */
json_object	*platform_file_load(const char *, struct err *);
/* Adds the file's platforms the database lacks; never overwrites. */
int		 platform_seed(struct db_pool *, const char *, int *,
		     struct err *);
json_object	*platform_list(const struct core *, struct err *);
json_object	*platform_show(const struct core *, const char *,
		     struct err *);
json_object	*platform_add(const struct core *, const struct actor *,
		     json_object *, struct err *);
/* The stored platform with the body's fields laid over it, checked whole. */
json_object	*platform_change(const struct core *, const struct actor *,
		     const char *, json_object *, struct err *);
/* 409 platform_in_use while a project uses it. */
json_object	*platform_delete(const struct core *, const struct actor *,
		     const char *, struct err *);

/* deploy.c: a project's deployment status, transitions and readiness */
bool		 deploy_status_valid(const char *);
/* owner/repo: status, platform, branch, URL, readiness, public sponsors,
 * the allowed next statuses; public. */
json_object	*deploy_show(const struct core *, const char *, struct err *);
/* {"platform", "branch", "url", "status"}: all or nothing; a status is a
 * transition of the table, with its need checked. */
json_object	*deploy_set(const struct core *, const struct actor *,
		     const char *, json_object *, struct err *);
/* The deployment object of a project (status, platform, branch, url,
 * deployed_at, readiness, public sponsors, allowed), on a held
 * connection; name is its owner/repo. */
json_object	*deploy_data(PGconn *, const char *, const char *,
		     struct err *);
/* Reads readiness from Gitea now and stores it with its time. */
json_object	*deploy_readiness(const struct core *, const char *,
		     struct err *);
/* In the transaction that changed a project's sponsors: suspends a
 * sponsored or live project left without hosting, and resumes one it
 * suspended when hosting returns. */
int		 deploy_sponsors_changed(PGconn *, const char *, struct err *);
/* status, platform, sponsor name, after (owner/repo), limit: NULL for
 * none. */
json_object	*deploy_admin_projects(const struct core *, const char *,
		     const char *, const char *, const char *, const char *,
		     struct err *);

/* deployment.c: deploying on push; the runner; masking */
#define DEPLOY_MASK_MIN	3	/* shorter values are not masked */
#define DEPLOY_BRANCH_LEN	256	/* a branch name and its NUL */
/* Masks in place each value, each line of a multi-line one, and their
 * base64 forms. */
void		 mask_secrets(char *, const char *const *, size_t);
/* In the caller's transaction: the deploy branch's head was seen; a
 * sponsored or live project queues its deployment (once per commit).
 * project id, branch, sha, trigger (push, reconciliation, admin), actor. */
int		 deploy_enqueue(PGconn *, const struct conf *, const char *,
		     const char *, const char *, const char *, const char *,
		     bool *, struct err *);
/* The page's data: the deployment, description, html_url, the last five
 * deployments, sponsor_contact; 404 for an unknown or closed project. */
json_object	*deploy_page_data(const struct core *, const char *,
		     struct err *);
/* Newest first; limit (1..100, default 20), before (a deployment id). */
json_object	*deploy_list(const struct core *, const char *, const char *,
		     const char *, struct err *);
/* One, with its log excerpt. */
json_object	*deploy_get(const struct core *, const char *, const char *,
		     struct err *);
/* An admin deploys the deploy branch's head, read from Gitea now. */
json_object	*deploy_request(const struct core *, const struct actor *,
		     const char *, struct err *);
/* {"url", "commit"}: deployed by hand; the project is live. */
json_object	*deploy_mark(const struct core *, const struct actor *,
		     const char *, json_object *, struct err *);
/* Runs the oldest queued deployment of a project with none running:
 * *ran says whether there was one.  Holds no connection meanwhile. */
int		 deploy_run_next(const struct core *, bool *, struct err *);
/* Deployments left in progress by a daemon that stopped: errors. */
int		 deploy_reap(const struct core *, struct err *);
/* Stops the command a runner is waiting for (shutdown). */
void		 deploy_interrupt(void);
/* The reconciliation, on its connection: the deploy branch's head of a
 * sponsored or live project, read from Gitea, queued when it moved
 * without a delivery. */
int		 deploy_reconcile(const struct core *, PGconn *, struct err *);

/* sponsor.c: sponsors and sponsor tokens */
/* admin: email and notes shown. */
json_object	*sponsor_list(const struct core *, const char *, bool,
		     struct err *);
json_object	*sponsor_add(const struct core *, const struct actor *, bool,
		     const char *, json_object *, struct err *);
/* project, sponsor id, replace (PUT) or not (PATCH), body. */
json_object	*sponsor_change(const struct core *, const struct actor *,
		     const char *, const char *, bool, json_object *,
		     struct err *);
json_object	*sponsor_tokens(const struct core *, const char *,
		     const char *, struct err *);
json_object	*sponsor_token_issue(const struct core *, const struct actor *,
		     const char *, const char *, struct err *);
json_object	*sponsor_token_revoke(const struct core *,
		     const struct actor *, const char *, const char *,
		     const char *, struct err *);
/* token, owner, repo of the path: 401 unknown, 403 another project's. */
int		 sponsor_authenticate(struct db_pool *, const char *,
		     const char *, const char *, struct actor *, struct err *);

/* secret.c: deployment secrets, sealed; reveal; master key rotation */
/* A name the deploy command's environment cannot take from a secret
 * (LD_*, GIT_*, PATH, ...). */
bool		 secret_name_reserved(const char *);
json_object	*secret_list(const struct core *, const char *, struct err *);
/* name NULL: the body holds it. */
json_object	*secret_put(const struct core *, const struct actor *,
		     const char *, const char *, json_object *, struct err *);
json_object	*secret_delete(const struct core *, const struct actor *,
		     const char *, const char *, struct err *);
json_object	*secret_confirm(const struct core *, const struct actor *,
		     const char *, const char *, struct err *);
/* {"reason"}: the value, audited. */
json_object	*secret_reveal(const struct core *, const struct actor *,
		     const char *, const char *, json_object *, struct err *);
struct rotate_report {
	long	resealed, already;
};
int		 secret_rotate(PGconn *, const struct vault *,
		     const struct vault *, struct rotate_report *,
		     struct err *);

/* util.c */
bool		 uuid_valid(const char *);
bool		 utf8_valid(const char *, size_t);
void		 utf8_sanitize(char *);
size_t		 strlcpy_ss(char *, const char *, size_t);
long		 now_ms(void);
void		 remove_tree(const char *);

#endif /* SYNSTACK_H */
