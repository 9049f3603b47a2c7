/*
 * webhook.c: Gitea's deliveries.  The signature is checked in constant
 * time over the raw bytes before anything is parsed; a delivery is stored
 * and its effects applied in one transaction, acknowledged after commit.
 * A delivery id seen before, or the same bytes of the same event type
 * (Gitea's "Replay" sends them under a new id), is acknowledged and not
 * applied again.  Unknown events and fields are accepted and ignored.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "synstack.h"

#define WEBHOOK_MAX_DEPTH	64
#define WEBHOOK_TRIES		3

static atomic_ulong	outcomes[WEBHOOK__OUTCOMES];

static const char *const outcome_names[WEBHOOK__OUTCOMES] = {
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
 * Each returns 0 when applied, 1 when the delivery is none of our
 * business (a repository outside gitea.owners), -1 on error. */

struct apply_ctx {
	PGconn			*c;
	const struct conf	*conf;
	const char		*type;
};

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

/* Webhooks never bring a deleted project back: a delivery may be a late
 * one from before the deletion (only the reconciliation revives). */
static int
project_of(struct apply_ctx *x, json_object *body, char id[37], struct err *e)
{
	json_object	*repo = json_path(body, "repository");

	if (repo == NULL)
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no"
		    " repository");
	if (!owner_mirrored(x->conf, json_path_str(repo, "owner.login")))
		return 1;
	return store_project(x->c, repo, false, id, e);
}

static int
apply_repository(struct apply_ctx *x, json_object *body, struct err *e)
{
	const char	*action = json_path_str(body, "action");
	char		 id[37];
	long		 gid;
	int		 rc;

	if ((rc = project_of(x, body, id, e)) != 0)
		return rc;
	if (action != NULL && strcmp(action, "deleted") == 0) {
		/* The row exists now (a tombstone if it was unknown), so a
		 * late "created" cannot make it live. */
		json_path_long(body, "repository.id", &gid);
		return store_project_deleted(x->c, gid, e);
	}
	return 0;
}

static int
apply_issue(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*issue = json_path(body, "issue"), *pr;
	char		 id[37];
	int		 rc;

	if ((rc = project_of(x, body, id, e)) != 0)
		return rc;
	if (issue == NULL)
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no issue");
	/* A comment on a PR carries the PR's issue: the PR row is kept
	 * current by its own events. */
	pr = json_path(issue, "pull_request");
	if (pr != NULL && !json_object_is_type(pr, json_type_null))
		return 0;
	return store_issue(x->c, id, issue, e);
}

static int
apply_pull(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*pr = json_path(body, "pull_request");
	char		 id[37];
	int		 rc;

	if ((rc = project_of(x, body, id, e)) != 0)
		return rc;
	if (pr == NULL)
		return err_set(e, ERR_BAD_REQUEST, "the delivery has no"
		    " pull_request");
	return store_pull(x->c, x->conf, id, pr, e);
}

/* The three review events share action "reviewed"; the kind is in the
 * event type, and the body carries no review id (README section 2). */
static int
apply_review(struct apply_ctx *x, json_object *body, struct err *e)
{
	json_object	*pr = json_path(body, "pull_request");
	const char	*state, *reviewer;
	char		 id[37];
	long		 number;
	int		 rc;

	if ((rc = apply_pull(x, body, e)) != 0 ||
	    (rc = project_of(x, body, id, e)) != 0)
		return rc;
	if (strstr(x->type, "approved") != NULL)
		state = "APPROVED";
	else if (strstr(x->type, "rejected") != NULL)
		state = "REQUEST_CHANGES";
	else
		state = "COMMENT";
	reviewer = json_path_str(body, "sender.login");
	if (reviewer == NULL || !json_path_long(pr, "number", &number))
		return err_set(e, ERR_BAD_REQUEST, "a review without reviewer"
		    " or pull request number");
	return store_review(x->c, x->conf, id, number, reviewer, state,
	    json_path_str(body, "review.content"),
	    json_path_str(pr, "head.sha"), 0,
	    json_path_str(pr, "updated_at"), e);
}

static int
apply_push(struct apply_ctx *x, json_object *body, struct err *e)
{
	const char	*params[3], *ref = json_path_str(body, "ref"),
			*after = json_path_str(body, "after");
	char		 id[37];
	int		 rc;

	/* PR heads move with their pull_request_sync events; a push of a
	 * branch naming a claimed issue's number keeps the claim from
	 * expiring. */
	if ((rc = project_of(x, body, id, e)) != 0)
		return rc;
	if (ref == NULL || strncmp(ref, "refs/heads/", 11) != 0 ||
	    after == NULL || strspn(after, "0") == strlen(after))
		return 0;
	params[0] = id;
	params[1] = json_path_str(body, "pusher.login");
	params[2] = ref + 11;
	if (params[1] == NULL)
		return 0;
	return db_run(x->c, e, "UPDATE issues i SET branch_pushed_at = now()"
	    " FROM agents x WHERE i.project_id = $1 AND i.state = 'open' AND"
	    " i.assigned_to = x.id AND x.gitea_username = $2 AND"
	    " $3 ~ ('(^|[^0-9])' || i.number || '([^0-9]|$)')", 3, params);
}

static const struct webhook_applier {
	const char	*event_type;
	int		(*apply)(struct apply_ctx *, json_object *,
			    struct err *);
} appliers[] = {
	{ "repository", apply_repository },
	{ "issues", apply_issue },
	{ "issue_assign", apply_issue },
	{ "issue_label", apply_issue },
	{ "issue_milestone", apply_issue },
	{ "issue_comment", apply_issue },
	{ "pull_request", apply_pull },
	{ "pull_request_sync", apply_pull },
	{ "pull_request_assign", apply_pull },
	{ "pull_request_label", apply_pull },
	{ "pull_request_milestone", apply_pull },
	{ "pull_request_review_approved", apply_review },
	{ "pull_request_review_rejected", apply_review },
	{ "pull_request_review_comment", apply_review },
	{ "push", apply_push },
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

/* One delivery in one transaction: stored, then applied, or nothing of
 * it stays (the reconciliation converges on what is lost). */
static int
webhook_store(PGconn *c, const struct conf *conf, const struct webhook *w,
    json_object *body, const char *type, const char *key,
    enum webhook_outcome *outcome, struct err *e)
{
	const struct webhook_applier	*ap;
	struct apply_ctx		 x = { c, conf, type };
	const char			*params[4];
	PGresult			*res;
	char				 id[37];
	int				 applied = 1;

	if (db_begin(c, e) == -1)
		return -1;
	params[0] = w->delivery;
	params[1] = w->event != NULL ? w->event : type;
	params[2] = type;
	params[3] = key;
	res = db_query(c, e, "INSERT INTO webhook_deliveries (delivery_id,"
	    " event, event_type, content_key) VALUES ($1, $2, $3, $4)"
	    " ON CONFLICT DO NOTHING RETURNING id", 4, params);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		*outcome = WEBHOOK_DUPLICATE;
		return db_commit(c, e);
	}
	strlcpy_ss(id, PQgetvalue(res, 0, 0), sizeof(id));
	PQclear(res);
	ap = applier_for(type);
	if (ap != NULL && (applied = ap->apply(&x, body, e)) == -1)
		goto fail;
	*outcome = ap != NULL && applied == 0 ? WEBHOOK_APPLIED :
	    WEBHOOK_IGNORED;
	params[0] = id;
	params[1] = outcome_names[*outcome];
	if (db_run(c, e, "UPDATE webhook_deliveries SET processed_at = now(),"
	    " outcome = $2 WHERE id = $1", 2, params) == -1)
		goto fail;
	return db_commit(c, e);
fail:
	db_rollback(c);
	return -1;
}

int
webhook_receive(struct db_pool *p, const struct conf *conf,
    const struct webhook *w, enum webhook_outcome *outcome, struct err *e)
{
	const char			*type;
	char				 key[HASH_HEX_LEN + 1];
	json_object			*body = NULL;
	crypto_hash_sha256_state	 st;
	unsigned char			 raw[32];
	PGconn				*c;
	int				 try, rc;

	*outcome = WEBHOOK_REJECTED;
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
	/* The content key: the same bytes of the same kind of event. */
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)type,
	    strlen(type));
	crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
	crypto_hash_sha256_update(&st, (const unsigned char *)w->body, w->len);
	crypto_hash_sha256_final(&st, raw);
	sodium_bin2hex(key, sizeof(key), raw, sizeof(raw));

	*outcome = WEBHOOK_FAILED;
	if ((c = db_acquire(p, e)) == NULL)
		goto count;
	/*
	 * Two first deliveries of one repository may race on a unique index
	 * that ON CONFLICT does not arbitrate (its name): the loser's
	 * transaction is simply run again, and finds the winner's row.
	 */
	for (try = 1; ; try++) {
		rc = webhook_store(c, conf, w, body, type, key, outcome, e);
		if (rc == 0 || try == WEBHOOK_TRIES || !db_retryable(e))
			break;
		err_clear(e);
	}
	db_release(p, c);
	if (rc == -1) {
		*outcome = e->code == ERR_BAD_REQUEST ? WEBHOOK_REJECTED :
		    WEBHOOK_FAILED;
		if (e->code == ERR_INTERNAL || e->code == ERR_DB_UNAVAILABLE)
			log_error("webhook %s (%s) failed: %s", w->delivery,
			    type, e->message);
		goto count;
	}
	json_object_put(body);
	atomic_fetch_add(&outcomes[*outcome], 1);
	return 0;
count:
	json_object_put(body);
	atomic_fetch_add(&outcomes[*outcome], 1);
	return -1;
}
