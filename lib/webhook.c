/*
 * webhook.c: Gitea's deliveries.  The signature is checked in constant
 * time over the raw bytes before anything is parsed; a delivery is
 * acknowledged once stored (one insert), and applied by the worker below,
 * in order per repository.
 * A delivery id seen before, or the same bytes of the same event type
 * (Gitea's "Replay" sends them under a new id), is acknowledged and not
 * applied again.  Unknown events and fields are accepted and ignored.
 * A delivery is a hint, never the only source of a new object: see the
 * appliers below.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "synstack.h"

/* The CTE (clr: was it silent?) that clears silent webhooks, below. */
#define WATCH_CLEAR	"clr AS (UPDATE webhook_watch w SET blind_runs = 0," \
	" silent_since = NULL FROM (SELECT silent_since IS NOT NULL AS was" \
	"  FROM webhook_watch) n WHERE w.blind_runs > 0 RETURNING n.was)"

#define WEBHOOK_MAX_DEPTH	64
#define WEBHOOK_TRIES		3

static atomic_ulong	outcomes[WEBHOOK__OUTCOMES];

static const char *const outcome_names[WEBHOOK__OUTCOMES] = {
	[WEBHOOK_QUEUED] = "queued",
	[WEBHOOK_APPLIED] = "applied",
	[WEBHOOK_IGNORED] = "ignored",
	[WEBHOOK_DUPLICATE] = "duplicate",
	[WEBHOOK_REJECTED] = "rejected",
	[WEBHOOK_FAILED] = "failed",
};

const char *
webhook_outcome_name(enum webhook_outcome o)
{
	return outcome_names[o];
}

unsigned long
webhook_outcome_count(enum webhook_outcome o)
{
	return atomic_load(&outcomes[o]);
}

bool
webhook_signature_ok(const char *secret, const char *body, size_t len,
    const char *hex)
{
	crypto_auth_hmacsha256_state	st;
	unsigned char			mac[crypto_auth_hmacsha256_BYTES];
	unsigned char			given[crypto_auth_hmacsha256_BYTES];
	size_t				n;

	if (secret == NULL || hex == NULL || strlen(hex) != sizeof(mac) * 2 ||
	    sodium_hex2bin(given, sizeof(given), hex, strlen(hex), NULL, &n,
	    NULL) != 0 || n != sizeof(given))
		return false;
	crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret,
	    strlen(secret));
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	return sodium_memcmp(mac, given, sizeof(mac)) == 0;
}

/* -- appliers: one per Gitea event type ----------------------------------
 * A delivery is a hint (SPEC.md section 4): what it says is taken alone
 * only to update what we have with something strictly newer.  Anything it
 * would create (a repository, an issue, a PR, a review), delete, or say
 * ambiguously (the same second as our row, saying otherwise) is confirmed
 * with Gitea first: the applier answers APPLY_CONFIRM naming what to read,
 * the transaction is rolled back, Gitea is read outside it, and the
 * delivery is applied again with Gitea's answer, which is stored instead.
 * Each returns 0 when applied, 1 when the delivery is none of our business
 * (a repository outside gitea.owners, or one Gitea no longer has),
 * APPLY_CONFIRM, or -1 on error. */

#define APPLY_CONFIRM		STORE_CONFIRM
#define WEBHOOK_CONFIRMS	4	/* Gitea reads one delivery may need */

struct confirmation {
	char		 path[512];
	bool		 list;		/* every item of a paginated list */
	bool		 fetched;
	json_object	*json;		/* Gitea's answer; NULL: it has none */
};

struct apply_ctx {
	PGconn			*c;
	const struct conf	*conf;
	const char		*type;
	struct confirmation	 asked[WEBHOOK_CONFIRMS];
	int			 nasked, need;
	/* The delivery's project, once known in this pass. */
	char			 project[37], owner[101], name[101];
};

/*
 * Gitea's answer for path: 1 with *json (NULL when Gitea has none) once it
 * was read; else 0, and it is the next thing to read.
 */
static int
confirmed(struct apply_ctx *x, const char *path, bool list, json_object **json)
{
	int	i;

	for (i = 0; i < x->nasked; i++)
		if (strcmp(x->asked[i].path, path) == 0) {
			if (!x->asked[i].fetched)
				break;
			*json = x->asked[i].json;
			return 1;
		}
	if (i == x->nasked) {
		if (x->nasked == WEBHOOK_CONFIRMS) {
			x->need = -1;
			return 0;
		}
		strlcpy_ss(x->asked[i].path, path, sizeof(x->asked[i].path));
		x->asked[i].list = list;
		x->nasked++;
	}
	x->need = i;
	return 0;
}

static int
confirm_collect(json_object *item, void *arg, struct err *e)
{
	(void)e;
	json_object_array_add(arg, json_object_get(item));
	return 0;
}

/* Reads what an applier asked for; a 404 is an answer (it is gone). */
static int
confirm_fetch(const struct conf *conf, struct confirmation *k, struct err *e)
{
	struct gitea_req	 q = { .method = "GET", .path = k->path };
	struct gitea_resp	 r = { .total = -1 };
	int			 rc;

	if (k->list) {
		k->json = json_object_new_array();
		rc = gitea_list(conf, k->path, NULL, NULL, false,
		    confirm_collect, k->json, e);
	} else {
		rc = gitea_call(conf, &q, &r, e);
		k->json = r.json;
		r.json = NULL;
		gitea_resp_free(&r);
	}
	if (rc == -1) {
		json_object_put(k->json);
		k->json = NULL;
		if (e->code != ERR_NOT_FOUND)
			return -1;
		err_clear(e);
	}
	k->fetched = true;
	return 0;
}

static bool
owner_mirrored(const struct conf *conf, const char *owner)
{
	size_t	i;

	if (conf->gitea_owners.n == 0)
		return true;
	for (i = 0; i < conf->gitea_owners.n; i++)
		if (owner != NULL && strcasecmp(owner, conf->gitea_owners.v[i]) ==
		    0)
			return true;
	return false;
}

static void
project_found(struct apply_ctx *x, const char *id, const char *owner,
    const char *name)
{
	strlcpy_ss(x->project, id, sizeof(x->project));
	strlcpy_ss(x->owner, owner, sizeof(x->owner));
	strlcpy_ss(x->name, name, sizeof(x->name));
}

/*
 * The delivery's project.  One we have, told of as we have it, is taken
 * as is (no write: deliveries of one repository do not queue on its row).
 * One we do not have, or told of otherwise (renamed, archived), is read
 * from Gitea by its id and stored as Gitea has it, URLs included; a name
 * a deleted repository left is taken over.  Webhooks never bring a
 * deleted project back: a delivery may be a late one from before the
 * deletion (only the reconciliation revives).
 */
static int
project_of(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*repo = json_path(body, "repository"), *gitea;
	const char	*params[6];
	char		 gid[24], path[64];
	PGresult	*res;
	long		 id, gitea_id;
	int		 rc;

	if (x->project[0] != '\0')
		return 0;
	if (repo == NULL || !json_path_long(repo, "id", &id))
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no"
		    " repository id");
	if (!owner_mirrored(x->conf, json_path_str(repo, "owner.login")))
		return 1;
	snprintf(gid, sizeof(gid), "%ld", id);
	snprintf(path, sizeof(path), "/repositories/%ld", id);
	if (confirmed(x, path, false, &gitea)) {
		if (gitea == NULL || !json_path_long(gitea, "id", &gitea_id) ||
		    gitea_id != id ||
		    !owner_mirrored(x->conf, json_path_str(gitea, "owner.login")))
			return store_project_deleted(x->c, id, e) == -1 ? -1 : 1;
		if (store_project(x->c, gitea, x->project, e) == -1)
			return -1;
		project_found(x, x->project, json_path_str(gitea, "owner.login"),
		    json_path_str(gitea, "name"));
		return 0;
	}
	params[0] = gid;
	params[1] = json_path_str(repo, "owner.login");
	params[2] = json_path_str(repo, "name");
	params[3] = json_path_str(repo, "description");
	params[4] = json_path_str(repo, "default_branch");
	params[5] = json_path_bool(repo, "archived") == 1 ? "true" : "false";
	if ((res = db_query(x->c, e, "SELECT id, owner, name, deleted_at IS NOT"
	    " NULL, (owner, name, description, default_branch, archived) IS NOT"
	    " DISTINCT FROM ($2, $3, COALESCE($4, ''), $5, $6::boolean)"
	    " FROM projects WHERE gitea_repo_id = $1", 6, params)) == NULL)
		return -1;
	if (PQntuples(res) == 1 && PQgetvalue(res, 0, 3)[0] == 't')
		rc = 1;
	else if (PQntuples(res) == 1 && PQgetvalue(res, 0, 4)[0] == 't') {
		project_found(x, PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1),
		    PQgetvalue(res, 0, 2));
		rc = 0;
	} else
		rc = APPLY_CONFIRM;
	PQclear(res);
	return rc;
}

static int
apply_repository(struct apply_ctx *x, json_object *body, struct err *e)
{
	const char	*action = json_path_str(body, "action");
	json_object	*gitea;
	char		 path[64];
	long		 id;

	if (action == NULL || strcmp(action, "deleted") != 0)
		return project_of(x, body, e);
	/* Gone only if Gitea no longer has it. */
	if (!json_path_long(body, "repository.id", &id))
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no"
		    " repository id");
	snprintf(path, sizeof(path), "/repositories/%ld", id);
	if (!confirmed(x, path, false, &gitea))
		return APPLY_CONFIRM;
	if (gitea != NULL)
		return 1;
	/* The row stays as a tombstone, so a late "created" cannot make it
	 * live. */
	return store_project_deleted(x->c, id, e);
}

/* "/repos/<owner>/<name>/<what>/<number><tail>" of the delivery's project. */
static void
item_path(struct apply_ctx *x, char *buf, size_t size, const char *what,
    long number, const char *tail)
{
	gitea_repo_path(buf, size, x->owner, x->name, "/%s/%ld%s", what, number,
	    tail);
}

static int
apply_issue(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*issue = json_path(body, "issue"), *pr, *gitea;
	char		 path[512];
	long		 number;
	int		 rc;

	if ((rc = project_of(x, body, e)) != 0)
		return rc;
	if (issue == NULL || !json_path_long(issue, "number", &number))
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no issue");
	/* A comment on a PR carries the PR's issue: the PR row is kept
	 * current by its own events. */
	pr = json_path(issue, "pull_request");
	if (pr != NULL && !json_object_is_type(pr, json_type_null))
		return 0;
	item_path(x, path, sizeof(path), "issues", number, "");
	if (confirmed(x, path, false, &gitea)) {
		if (gitea == NULL)
			return 1;
		pr = json_path(gitea, "pull_request");
		if (pr != NULL && !json_object_is_type(pr, json_type_null))
			return 0;
		return store_issue(x->c, x->project, gitea, e);
	}
	return store_issue_hint(x->c, x->project, issue, e);
}

static int
apply_pull(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*pr = json_path(body, "pull_request"), *gitea;
	char		 path[512];
	long		 number;
	int		 rc;

	if ((rc = project_of(x, body, e)) != 0)
		return rc;
	if (pr == NULL || !json_path_long(pr, "number", &number))
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no"
		    " pull_request");
	item_path(x, path, sizeof(path), "pulls", number, "");
	if (confirmed(x, path, false, &gitea))
		return gitea == NULL ? 1 : store_pull(x->c, x->conf, x->project,
		    gitea, e);
	return store_pull_hint(x->c, x->conf, x->project, pr, e);
}

/*
 * The three review events share action "reviewed"; the body carries no
 * review id, nor the commit the review was given on (README section 2):
 * the PR's reviews are read from Gitea and stored as it lists them.
 */
static int
apply_review(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*gitea;
	char		 path[512];
	long		 number;
	int		 rc;

	if ((rc = apply_pull(x, body, e)) != 0)
		return rc;
	json_path_long(body, "pull_request.number", &number);
	item_path(x, path, sizeof(path), "pulls", number, "/reviews");
	if (!confirmed(x, path, true, &gitea))
		return APPLY_CONFIRM;
	if (gitea == NULL)
		return 1;
	return store_reviews(x->c, x->conf, x->project, number, gitea, e);
}

static int
apply_push(struct apply_ctx *x, json_object *body, struct err *e)
{
	const char	*params[3], *ref = json_path_str(body, "ref"),
			*after = json_path_str(body, "after");
	char		 actor[64];
	bool		 queued;
	size_t		 n;
	int		 rc;

	/* PR heads move with their pull_request_sync events; a push of a
	 * branch naming a claimed issue's number keeps the claim from
	 * expiring; a push of a deploy branch queues its deployment (the
	 * runner confirms with Gitea that the commit is the branch's head
	 * before it deploys anything). */
	if ((rc = project_of(x, body, e)) != 0)
		return rc;
	n = after != NULL ? strlen(after) : 0;
	if (ref == NULL || strncmp(ref, "refs/heads/", 11) != 0 || n < 40 ||
	    n > 64 || strspn(after, "0123456789abcdef") != n ||
	    strspn(after, "0") == n)
		return 0;
	params[0] = x->project;
	params[1] = json_path_str(body, "pusher.login");
	params[2] = ref + 11;
	snprintf(actor, sizeof(actor), "gitea:%.50s", params[1] != NULL ?
	    params[1] : "?");
	if (deploy_enqueue(x->c, x->conf, x->project, ref + 11, after, "push",
	    actor, &queued, e) == -1)
		return -1;
	if (params[1] == NULL)
		return 0;
	return db_run(x->c, e, "UPDATE issues i SET branch_pushed_at = now()"
	    " FROM agents x WHERE i.project_id = $1 AND i.state = 'open' AND"
	    " i.assigned_to = x.id AND x.gitea_username = $2 AND"
	    " $3 ~ ('(^|[^0-9])' || i.number || '([^0-9]|$)')", 3, params);
}

/* Each event type we use, what it must hold to be applied (checked when
 * it arrives, so a delivery that cannot be is refused, not queued), and
 * its applier. */
/*
 * A commit's status changed (CI reported): the commit's statuses are read
 * from Gitea and stored, and open PRs with that head are due for an
 * auto-merge attempt now rather than at the next pass.
 */
static int
apply_status(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*gitea;
	const char	*sha = json_path_str(body, "sha"), *params[2];
	char		 path[512];
	size_t		 n;
	int		 rc;

	if ((rc = project_of(x, body, e)) != 0)
		return rc;
	n = sha != NULL ? strlen(sha) : 0;
	if (n < 7 || n > 64 || strspn(sha, "0123456789abcdef") != n)
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no commit"
		    " SHA");
	gitea_repo_path(path, sizeof(path), x->owner, x->name, "/statuses/%s",
	    sha);
	if (!confirmed(x, path, true, &gitea))
		return APPLY_CONFIRM;
	if (gitea == NULL)
		return 1;
	params[0] = x->project;
	params[1] = sha;
	if (checks_store(x->c, x->project, sha, gitea, e) == -1)
		return -1;
	return db_run(x->c, e, "UPDATE pull_requests SET automerge_tried_at ="
	    " NULL WHERE project_id = $1 AND head_sha = $2 AND state = 'open'",
	    2, params);
}

static const struct webhook_applier {
	const char	*event_type;
	const char	*needs;		/* a number at this path */
	int		(*apply)(struct apply_ctx *, json_object *,
			    struct err *);
} appliers[] = {
	{ "repository", NULL, apply_repository },
	{ "issues", "issue.number", apply_issue },
	{ "issue_assign", "issue.number", apply_issue },
	{ "issue_label", "issue.number", apply_issue },
	{ "issue_milestone", "issue.number", apply_issue },
	{ "issue_comment", "issue.number", apply_issue },
	{ "pull_request", "pull_request.number", apply_pull },
	{ "pull_request_sync", "pull_request.number", apply_pull },
	{ "pull_request_assign", "pull_request.number", apply_pull },
	{ "pull_request_label", "pull_request.number", apply_pull },
	{ "pull_request_milestone", "pull_request.number", apply_pull },
	{ "pull_request_review_approved", "pull_request.number", apply_review },
	{ "pull_request_review_rejected", "pull_request.number", apply_review },
	{ "pull_request_review_comment", "pull_request.number", apply_review },
	{ "push", NULL, apply_push },
	{ "status", NULL, apply_status },
};

static const struct webhook_applier *
applier_for(const char *type)
{
	size_t	i;

	for (i = 0; i < sizeof(appliers) / sizeof(appliers[0]); i++)
		if (strcmp(appliers[i].event_type, type) == 0)
			return &appliers[i];
	return NULL;
}

static bool
header_ok(const char *v, size_t max)
{
	size_t	i, n = v != NULL ? strlen(v) : 0;

	if (n == 0 || n > max)
		return false;
	for (i = 0; i < n; i++)
		if (v[i] <= ' ' || v[i] > '~')
			return false;
	return true;
}


/* -- receiving: one durable insert, then the answer --------------------- */

int
webhook_receive(struct db_pool *p, const struct conf *conf,
    const struct webhook *w, enum webhook_outcome *outcome, char id[37],
    struct err *e)
{
	const struct webhook_applier	*ap;
	const char			*type, *params[7];
	char				 key[HASH_HEX_LEN + 1], repo[24];
	json_object			*body = NULL;
	crypto_hash_sha256_state	 st;
	unsigned char			 raw[32];
	PGresult			*res;
	long				 n;

	*outcome = WEBHOOK_REJECTED;
	id[0] = '\0';
	if (conf->gitea_webhook_secret == NULL) {
		err_set(e, ERR_UNAUTHORIZED, "webhooks are not configured here");
		err_hint(e, "set gitea.webhook_secret_file and run synstackd"
		    " install-hook");
		goto count;
	}
	if (!webhook_signature_ok(conf->gitea_webhook_secret, w->body, w->len,
	    w->signature)) {
		err_set(e, ERR_UNAUTHORIZED, "missing or wrong X-Gitea-Signature");
		err_hint(e, "the hook's secret must be the one in"
		    " gitea.webhook_secret_file");
		goto count;
	}
	type = w->event_type != NULL ? w->event_type : w->event;
	if (!header_ok(w->delivery, 64) || !header_ok(type, 64)) {
		err_set(e, ERR_BAD_REQUEST, "X-Gitea-Delivery and X-Gitea-Event"
		    " must be set");
		goto count;
	}
	if ((body = json_parse_strict(w->body, w->len, WEBHOOK_MAX_DEPTH, e)) ==
	    NULL || !json_object_is_type(body, json_type_object)) {
		if (body != NULL)
			err_set(e, ERR_MALFORMED_JSON, "the delivery is not a"
			    " JSON object");
		goto count;
	}
	/* What an applier needs is checked now: a delivery that could never
	 * be applied is refused, not queued. */
	if ((ap = applier_for(type)) != NULL) {
		if (!json_path_long(body, "repository.id", &n)) {
			err_set(e, ERR_BAD_REQUEST, "the delivery has no"
			    " repository id");
			goto count;
		}
		snprintf(repo, sizeof(repo), "%ld", n);
		if (ap->needs != NULL && !json_path_long(body, ap->needs, &n)) {
			err_set(e, ERR_BAD_REQUEST, "the delivery has no %s",
			    ap->needs);
			goto count;
		}
	}
	/* The content key: the same bytes of the same kind of event. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)type,
	    strlen(type));
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)w->body, w->len);
	crypto_hash_sha256_final(&st, raw);
	sodium_bin2hex(key, sizeof(key), raw, sizeof(raw));

	/* Stored, it is safe: acknowledged now, applied by the worker.  An
	 * event we do not use is stored as done (for the duplicates). */
	params[0] = w->delivery;
	params[1] = w->event != NULL ? w->event : type;
	params[2] = type;
	params[3] = key;
	params[4] = ap != NULL ? w->body : NULL;
	params[5] = ap != NULL ? repo : "0";
	params[6] = ap != NULL ? "received" : "ignored";
	*outcome = WEBHOOK_FAILED;
	/* In the same statement, any delivery (a duplicate too: Gitea
	 * reaches us) clears silent webhooks; it writes the watch row only
	 * when there is something to clear. */
	if ((res = db_exec(p, e, "WITH ins AS (INSERT INTO webhook_deliveries"
	    " (delivery_id, event, event_type, content_key, body, repo_id,"
	    " outcome, processed_at) VALUES ($1, $2, $3, $4, $5, $6::bigint,"
	    " $7, CASE WHEN $7 = 'ignored' THEN now() END)"
	    " ON CONFLICT DO NOTHING RETURNING id), " WATCH_CLEAR
	    " SELECT (SELECT id FROM ins), (SELECT was FROM clr)", 7,
	    params)) == NULL) {
		log_error("webhook %s (%s) not stored: %s", w->delivery, type,
		    e->message);
		goto count;
	}
	if (!PQgetisnull(res, 0, 1) && PQgetvalue(res, 0, 1)[0] == 't')
		log_info("webhooks: no longer silent (a delivery was"
		    " received)");
	if (PQgetisnull(res, 0, 0))
		*outcome = WEBHOOK_DUPLICATE;
	else {
		strlcpy_ss(id, PQgetvalue(res, 0, 0), 37);
		*outcome = ap != NULL ? WEBHOOK_QUEUED : WEBHOOK_IGNORED;
	}
	PQclear(res);
	json_object_put(body);
	atomic_fetch_add(&outcomes[*outcome], 1);
	return 0;
count:
	json_object_put(body);
	atomic_fetch_add(&outcomes[*outcome], 1);
	return -1;
}

/* -- applying: the worker ------------------------------------------------
 * The oldest delivery whose repository has no older one waiting is taken
 * with its row locked (SKIP LOCKED: daemons share the queue), applied in
 * a savepoint of the same transaction, and marked done as it commits: its
 * effects and its mark are one commit, so a daemon killed meanwhile
 * leaves it waiting for the next worker, whole.  Gitea is read with the
 * transaction open (only the delivery's row is held).  A failure for
 * which Gitea or the database may be to blame is tried again later. */

#define WEBHOOK_ATTEMPTS	5	/* then "failed": the reconciliation
					 * converges on what it missed */

static const char take_sql[] =
    "SELECT d.id, d.delivery_id, d.event_type, d.body FROM webhook_deliveries d"
    " WHERE d.processed_at IS NULL AND d.next_attempt_at <= now()"
    "  AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o"
    "   WHERE o.processed_at IS NULL AND o.repo_id = d.repo_id"
    "   AND o.seq < d.seq)"
    " ORDER BY d.seq LIMIT 1 FOR UPDATE SKIP LOCKED";

/* The applier's verdict on a delivery, Gitea read as it asks. */
static int
webhook_apply(struct apply_ctx *x, const struct webhook_applier *ap,
    json_object *body, struct err *e)
{
	int	tries = 1, reads = 0, rc;

	for (;;) {
		x->project[0] = '\0';
		x->need = -1;
		if (db_run(x->c, e, "SAVEPOINT apply", 0, NULL) == -1)
			return -1;
		rc = ap->apply(x, body, e);
		if (rc != 0 && rc != 1 && db_run(x->c, e,
		    "ROLLBACK TO SAVEPOINT apply", 0, NULL) == -1)
			return -1;
		if (rc == APPLY_CONFIRM) {
			if (x->need == -1)
				return err_set(e, ERR_INTERNAL, "a delivery needs"
				    " more than %d reads of Gitea",
				    WEBHOOK_CONFIRMS);
			if (reads++ == WEBHOOK_CONFIRMS || confirm_fetch(x->conf,
			    &x->asked[x->need], e) == -1)
				return -1;
			continue;
		}
		/*
		 * Two first deliveries of one repository may race on a unique
		 * index that ON CONFLICT does not arbitrate (its name): the
		 * loser simply applies again, and finds the winner's row.
		 */
		if (rc != -1 || tries++ == WEBHOOK_TRIES || !db_retryable(e))
			return rc;
		err_clear(e);
	}
}

int
webhook_apply_next(struct db_pool *p, const struct conf *conf,
    struct err *e)
{
	const struct webhook_applier	*ap;
	struct apply_ctx		 x;
	enum webhook_outcome		 outcome;
	struct err			 ae;
	json_object			*body = NULL;
	const char			*params[4], *text;
	char				 id[37], max[12], delivery[65],
					 type[65];
	PGconn				*c;
	PGresult			*res;
	int				 rc, i;

	if ((c = db_acquire(p, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1 ||
	    (res = db_query(c, e, take_sql, 0, NULL)) == NULL) {
		db_rollback(c);
		db_release(p, c);
		return -1;
	}
	if (PQntuples(res) == 0) {
		PQclear(res);
		rc = db_commit(c, e);
		db_release(p, c);
		return rc;
	}
	memset(&x, 0, sizeof(x));
	x.c = c;
	x.conf = conf;
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	strlcpy_ss(delivery, PQgetvalue(res, 0, 1), sizeof(delivery));
	strlcpy_ss(type, PQgetvalue(res, 0, 2), sizeof(type));
	x.type = type;
	text = PQgetvalue(res, 0, 3);
	err_clear(&ae);
	/* Checked as it came in: this fails only if the table was edited. */
	if ((ap = applier_for(x.type)) == NULL ||
	    (body = json_parse_strict(text, strlen(text), WEBHOOK_MAX_DEPTH,
	    &ae)) == NULL)
		rc = err_set(&ae, ERR_BAD_REQUEST, "the stored delivery cannot"
		    " be applied");
	else
		rc = webhook_apply(&x, ap, body, &ae);
	PQclear(res);
	params[0] = id;
	if (rc != -1) {
		outcome = rc == 0 ? WEBHOOK_APPLIED : WEBHOOK_IGNORED;
		params[1] = outcome_names[outcome];
		rc = db_run(c, e, "UPDATE webhook_deliveries SET processed_at ="
		    " now(), outcome = $2, body = NULL, error = NULL"
		    " WHERE id = $1", 2, params);
	} else {
		/* Gitea away or the database failing: again, later.  Anything
		 * else would fail again: failed at once. */
		snprintf(max, sizeof(max), "%d", ae.code == ERR_GITEA_UNAVAILABLE ||
		    ae.code == ERR_DB_UNAVAILABLE || ae.sqlstate[0] != '\0' ?
		    WEBHOOK_ATTEMPTS : 1);
		params[1] = ae.message;
		params[2] = max;
		log_warn("webhook %s (%s): %s", delivery, x.type, ae.message);
		res = db_query(c, e, "UPDATE webhook_deliveries SET"
		    " attempts = attempts + 1, error = $2,"
		    " next_attempt_at = now() + least(interval '1 second' *"
		    "  2 ^ attempts, interval '1 minute'),"
		    " outcome = CASE WHEN attempts + 1 >= $3::int THEN 'failed'"
		    "  ELSE outcome END,"
		    " processed_at = CASE WHEN attempts + 1 >= $3::int THEN now()"
		    "  END,"
		    " body = CASE WHEN attempts + 1 >= $3::int THEN NULL"
		    "  ELSE body END"
		    " WHERE id = $1 RETURNING processed_at IS NOT NULL", 3,
		    params);
		rc = res == NULL ? -1 : 0;
		/* Counted once, when it is given up on. */
		outcome = res != NULL && PQgetvalue(res, 0, 0)[0] == 't' ?
		    WEBHOOK_FAILED : WEBHOOK__OUTCOMES;
		PQclear(res);
	}
	if (rc == 0)
		rc = db_commit(c, e);
	if (rc == -1)
		db_rollback(c);
	else if (outcome != WEBHOOK__OUTCOMES)
		atomic_fetch_add(&outcomes[outcome], 1);
	db_release(p, c);
	json_object_put(body);
	for (i = 0; i < x.nasked; i++)
		json_object_put(x.asked[i].json);
	return rc == -1 ? -1 : 1;
}

/* -- silent webhooks -------------------------------------------------------
 * Gitea's default [webhook] ALLOWED_HOST_LIST (external) refuses to
 * deliver to a loopback or private address, and says so only in its own
 * log: the mirror then lags a sync interval behind, quietly.  What shows
 * it here is the reconciliation finding changes no delivery brought.  The
 * state is one row (webhook_watch), shared by the daemons of a database:
 * a run reads the newest received_at (an index's end) and writes the row;
 * a delivery (webhook_receive) writes it only when it is not clear
 * already, in the statement that stores it.
 */

void
webhook_hook_url(const struct conf *conf, char *buf, size_t size)
{
	size_t	n = strlen(conf->http_public_url);

	snprintf(buf, size, "%.*s/hooks/gitea",
	    (int)(n > 0 && conf->http_public_url[n - 1] == '/' ? n - 1 : n),
	    conf->http_public_url);
}

void
webhook_silent_advice(const struct conf *conf, char *buf, size_t size)
{
	char	url[2048];

	webhook_hook_url(conf, url, sizeof(url));
	snprintf(buf, size, "check that Gitea's [webhook] ALLOWED_HOST_LIST"
	    " allows this daemon's address (loopback,private for a local one)"
	    " and that the system hook points at %s", url);
}

void
webhook_watch_run(const struct conf *conf, PGconn *c, const char *started,
    long items)
{
	struct err	 e;
	const char	*params[2];
	char		 nitems[24], advice[2560];
	PGresult	*res;
	bool		 was, now;

	/* Without a secret, deliveries are refused: webhooks are unused. */
	if (conf->gitea_webhook_secret == NULL)
		return;
	err_clear(&e);
	snprintf(nitems, sizeof(nitems), "%ld", items);
	params[0] = started;
	params[1] = nitems;
	if ((res = db_query(c, &e, "UPDATE webhook_watch w SET"
	    " blind_runs = n.blind, last_run_at = $1::timestamptz,"
	    " silent_since = CASE WHEN n.blind >= 2"
	    "  THEN COALESCE(w.silent_since, now()) END"
	    " FROM (SELECT CASE WHEN $2::bigint > 0 AND last_run_at IS NOT NULL"
	    "  AND COALESCE((SELECT max(received_at) FROM webhook_deliveries)"
	    "  < last_run_at, true) THEN blind_runs + 1 ELSE 0 END AS blind,"
	    "  silent_since IS NOT NULL AS was FROM webhook_watch) n"
	    " RETURNING n.was, w.silent_since IS NOT NULL, n.blind", 2,
	    params)) == NULL) {
		log_warn("webhook watch: %s", e.message);
		return;
	}
	if (PQntuples(res) == 1) {
		was = PQgetvalue(res, 0, 0)[0] == 't';
		now = PQgetvalue(res, 0, 1)[0] == 't';
		webhook_silent_advice(conf, advice, sizeof(advice));
		if (!was && now)
			log_warn("webhooks look blocked: %s reconciliations in a"
			    " row found changes no delivery brought; %s",
			    PQgetvalue(res, 0, 2), advice);
		else if (was && !now)
			log_info("webhooks: no longer silent (a reconciliation"
			    " found nothing to change)");
	}
	PQclear(res);
}

enum webhook_watch_state
webhook_watch_get(struct db_pool *p, const struct conf *conf, char *since,
    size_t size)
{
	struct err			 e;
	PGresult			*res;
	enum webhook_watch_state	 st = WATCH_UNKNOWN;

	if (size > 0)
		since[0] = '\0';
	if (conf->gitea_webhook_secret == NULL)
		return WATCH_UNKNOWN;
	err_clear(&e);
	if ((res = db_exec(p, &e, "SELECT last_run_at IS NOT NULL,"
	    " to_char(silent_since AT TIME ZONE 'UTC',"
	    " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM webhook_watch", 0,
	    NULL)) == NULL)
		return WATCH_UNKNOWN;
	if (PQntuples(res) == 1) {
		if (!PQgetisnull(res, 0, 1)) {
			st = WATCH_SILENT;
			strlcpy_ss(since, PQgetvalue(res, 0, 1), size);
		} else if (PQgetvalue(res, 0, 0)[0] == 't')
			st = WATCH_OK;
	}
	PQclear(res);
	return st;
}
