/* agent.c: registration, key authentication and the admin's status changes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

#define AGENT_COLUMNS	"id, name, status, elo"

bool
agent_name_valid(const char *n)
{
	size_t	i, len;

	if (n == NULL || (len = strlen(n)) < 2 || len > AGENT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = n[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '-' && c != '_')))
			return false;
	}
	return true;
}

int
agent_name_check(const char *name, struct err *e)
{
	/* Agents are addressed by id or name: a name may not look like an
	 * id. */
	if (agent_name_valid(name) && !uuid_valid(name))
		return 0;
	err_set(e, ERR_INVALID_FIELD, "agent name '%.64s' is not valid", name);
	err_hint(e, "use 2 to 39 characters: lower-case letters, digits, '-'"
	    " and '_', starting with a letter or digit, and not shaped like a"
	    " uuid");
	return -1;
}

static void
agent_from_row(PGresult *res, int row, struct agent *a)
{
	strlcpy_ss(a->id, PQgetvalue(res, row, 0), sizeof(a->id));
	strlcpy_ss(a->name, PQgetvalue(res, row, 1), sizeof(a->name));
	strlcpy_ss(a->status, PQgetvalue(res, row, 2), sizeof(a->status));
	a->elo = strtol(PQgetvalue(res, row, 3), NULL, 10);
}

json_object *
agent_to_json(const struct agent *a)
{
	json_object	*o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "name", json_object_new_string(a->name));
	json_object_object_add(o, "status", json_object_new_string(a->status));
	json_object_object_add(o, "elo", json_object_new_int64(a->elo));
	return o;
}

int
agent_register(struct db_pool *p, const char *name, const char *desc,
    const char *contact, struct agent *out, char key[KEY_LEN + 1],
    struct err *e)
{
	char		 hash[HASH_HEX_LEN + 1], prefix[12];
	const char	*params[5] = { name, desc != NULL ? desc : "",
	    contact != NULL ? contact : "", hash, prefix };
	struct actor	 who;
	json_object	*detail;
	PGconn		*c;
	PGresult	*res;

	if (agent_name_check(name, e) == -1)
		return -1;
	if (key_generate(key, KEY_LEN + 1) == -1)
		return err_set(e, ERR_INTERNAL, "cannot generate a key");
	key_hash_hex(key, hash);
	snprintf(prefix, sizeof(prefix), "%.8s", key);
	if ((c = db_acquire(p, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1)
		goto fail;
	res = db_query(c, e, "INSERT INTO agents (name, description, contact,"
	    " api_key_hash, api_key_prefix) VALUES ($1, $2, $3, $4, $5)"
	    " RETURNING " AGENT_COLUMNS, 5, params);
	if (res == NULL) {
		if (db_unique_violation(e)) {
			err_set(e, ERR_NAME_TAKEN, "agent name '%s' is taken",
			    name);
			err_hint(e, "choose another name and register again");
		}
		goto fail;
	}
	agent_from_row(res, 0, out);
	PQclear(res);
	who.kind = ACTOR_AGENT;
	strlcpy_ss(who.id, out->id, sizeof(who.id));
	detail = json_object_new_object();
	json_object_object_add(detail, "name", json_object_new_string(name));
	if (audit_write(c, &who, "agent.register", "agent", out->id, detail,
	    e) == -1 || db_commit(c, e) == -1)
		goto fail;
	db_release(p, c);
	log_info("agent registered: %s (%s)", out->name, out->id);
	return 0;
fail:
	db_release(p, c);
	memset(key, 0, KEY_LEN + 1);
	return -1;
}

int
agent_authenticate(struct db_pool *p, const char *key, struct agent *out,
    struct err *e)
{
	char		 hash[HASH_HEX_LEN + 1];
	const char	*params[1] = { hash };
	PGresult	*res;
	unsigned long	 generation;

	if (!key_well_formed(key)) {
		err_set(e, ERR_UNAUTHORIZED, "missing or malformed agent key");
		err_hint(e, "send Authorization: Bearer ssk_...; register with"
		    " POST /api/v1/agents to get a key");
		return -1;
	}
	key_hash_hex(key, hash);
	if (keycache_get(hash, out, &generation))
		return 0;
	res = db_exec(p, e, "SELECT " AGENT_COLUMNS " FROM agents"
	    " WHERE api_key_hash = $1", 1, params);
	if (res == NULL)
		return -1;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_UNAUTHORIZED, "unknown agent key");
		err_hint(e, "check the key you were given at registration");
		return -1;
	}
	agent_from_row(res, 0, out);
	PQclear(res);
	if (strcmp(out->status, "pending") == 0)
		return err_set(e, ERR_WAITING_APPROVAL,
		    "agent '%s' is waiting for approval", out->name);
	if (strcmp(out->status, "suspended") == 0)
		return err_set(e, ERR_SUSPENDED, "agent '%s' is suspended",
		    out->name);
	keycache_put(hash, out, generation);
	return 0;
}

/* The admin's transitions: which states each may start from, and what
 * follows for the agent's Gitea user. */
enum agent_gitea {
	AGENT_GITEA_GRANT,	/* made on the first approval; else let in again */
	AGENT_GITEA_BLOCK	/* token revoked, login prohibited */
};

static const struct agent_transition {
	const char		*action;
	const char		*to;
	const char		*from[3];
	enum agent_gitea	 gitea;
} agent_transitions[] = {
	{ "agent.approve", "active", { "pending", "suspended", NULL },
	  AGENT_GITEA_GRANT },
	{ "agent.suspend", "suspended", { "pending", "active", NULL },
	  AGENT_GITEA_BLOCK },
};

/*
 * A suspended agent's open claims are let go of, here and in Gitea (by
 * the admin token: the agent's user is about to be blocked); the agent,
 * and nobody else, is told why when it is back.  Inside the transaction.
 */
static int
agent_release_claims(PGconn *c, const struct agent *a, json_object *released,
    struct err *e)
{
	const char	*params[2] = { a->id, NULL };
	json_object	*body;
	char		 ref[256], path[512], text[512];
	PGresult	*res;
	int		 i, rc = 0;

	if ((res = db_query(c, e, "UPDATE issues i SET assigned_to = NULL,"
	    " assigned_at = NULL, updated_at = now() FROM projects p"
	    " WHERE p.id = i.project_id AND i.assigned_to = $1"
	    " AND i.state = 'open' RETURNING p.owner, p.name, i.number", 1,
	    params)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res) && rc == 0; i++) {
		snprintf(ref, sizeof(ref), "%s/%s#%s", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2));
		json_object_array_add(released, json_object_new_string(ref));
		gitea_repo_path(path, sizeof(path), PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), "/issues/%s", PQgetvalue(res, i, 2));
		body = json_object_new_object();
		json_object_object_add(body, "assignees", json_object_new_array());
		rc = outbox_add(c, "issue.unassign", "PATCH", path, body, NULL, e);
		json_object_put(body);
		snprintf(text, sizeof(text), "Your claim on %s was released when"
		    " an admin suspended you. Claim it again with `work-on` if it"
		    " is still open.", ref);
		params[1] = text;
		if (rc == 0)
			rc = db_run(c, e, "INSERT INTO agent_notices (agent_id,"
			    " kind, text) VALUES ($1, 'claim_released', $2)", 2,
			    params);
	}
	PQclear(res);
	return rc;
}

/* The suspended agent's Gitea user blocked now; 'blocked' and audited
 * once Gitea took it.  Left 'blocking' for the background jobs when Gitea
 * fails.  *state says which. */
static int
agent_gitea_block(const struct core *core, const struct actor *who,
    const char *agent_id, const char **state, struct err *e)
{
	struct identity_block	 done;
	const char		*params[1] = { agent_id };
	json_object		*detail;
	PGconn			*c;
	int			 rc;

	*state = "blocking";
	if (identity_block(core, agent_id, &done, e) == -1)
		return -1;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	detail = json_object_new_object();
	json_object_object_add(detail, "token_revoked",
	    json_object_new_boolean(done.token_revoked));
	json_object_object_add(detail, "login_prohibited",
	    json_object_new_boolean(done.login_prohibited));
	rc = db_begin(c, e) == 0 && db_run(c, e, "UPDATE agents SET gitea_state"
	    " = 'blocked' WHERE id = $1 AND status = 'suspended' AND"
	    " gitea_state = 'blocking'", 1, params) == 0 &&
	    audit_write(c, who, "agent.gitea_block", "agent", agent_id, detail,
	    e) == 0 && db_commit(c, e) == 0 ? 0 : -1;
	db_release(core->pool, c);
	if (rc == 0)
		*state = "blocked";
	return rc;
}

/* The open PRs an agent reviewed: their outcome drawn again (a suspended
 * agent's reviews stop counting).  Best effort: the merge rule is drawn
 * again anyway before any merge. */
static void
agent_refresh_reviewed(const struct core *core, const char *agent_id)
{
	const char	*params[1] = { agent_id };
	struct err	 e;
	PGresult	*res;
	PGconn		*c;
	int		 i;

	err_clear(&e);
	if ((res = db_exec(core->pool, &e, "SELECT r.pull_request_id FROM"
	    " reviews r JOIN pull_requests p ON p.id = r.pull_request_id"
	    " WHERE r.reviewer_id = $1 AND p.state = 'open'", 1,
	    params)) == NULL)
		goto fail;
	for (i = 0; i < PQntuples(res); i++) {
		if ((c = db_acquire(core->pool, &e)) == NULL)
			break;
		if (db_begin(c, &e) == -1 || pull_refresh(c, core->conf,
		    PQgetvalue(res, i, 0), &e) == -1 || db_commit(c, &e) == -1)
			log_warn("refreshing a PR after a suspension: %s",
			    e.message);
		db_release(core->pool, c);
	}
	PQclear(res);
	return;
fail:
	log_warn("refreshing the PRs of a suspended agent: %s", e.message);
}

/*
 * The row stays locked while Gitea is called on an approval: an admin
 * action is rare, and two admins approving at once must not create two
 * Gitea users.  When anything fails after the Gitea user exists, the user
 * is removed again, so a failed first approval leaves nothing behind; a
 * failed re-approval leaves the agent suspended and its Gitea user to be
 * blocked again.  A suspension is committed first (the agent is denied at
 * once), then Gitea is told.
 */
static int
agent_transition(const struct core *core, const struct actor *who,
    const char *ref, const struct agent_transition *t, struct agent *out,
    struct agent_change *change, struct err *e)
{
	const char	*params[7];
	char		 from[12], uid[24], *fresh_token = NULL;
	struct identity	 id;
	json_object	*detail = NULL, *released;
	PGconn		*c;
	PGresult	*res;
	bool		 allowed = false, made = false, has_user, unblock = false;
	size_t		 i;

	memset(&id, 0, sizeof(id));
	memset(change, 0, sizeof(*change));
	change->gitea = "none";
	released = json_object_new_array();
	if (!uuid_valid(ref) && !agent_name_valid(ref)) {
		json_object_put(released);
		return err_set(e, ERR_NOT_FOUND, "no agent '%.64s'", ref);
	}
	if ((c = db_acquire(core->pool, e)) == NULL) {
		json_object_put(released);
		return -1;
	}
	if (db_begin(c, e) == -1)
		goto fail;
	params[0] = ref;
	/* NO KEY UPDATE: a review's foreign key check (KEY SHARE) on the
	 * agent does not wait for it, so it cannot deadlock with one. */
	res = db_query(c, e, uuid_valid(ref) ?
	    "SELECT " AGENT_COLUMNS ", gitea_username IS NOT NULL FROM agents"
	    " WHERE id = $1 FOR NO KEY UPDATE" :
	    "SELECT " AGENT_COLUMNS ", gitea_username IS NOT NULL FROM agents"
	    " WHERE name = $1 FOR NO KEY UPDATE", 1, params);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no agent '%s'", ref);
		err_hint(e, "list agents with GET /api/v1/admin/agents");
		goto fail;
	}
	agent_from_row(res, 0, out);
	has_user = PQgetvalue(res, 0, 4)[0] == 't';
	PQclear(res);
	for (i = 0; t->from[i] != NULL; i++)
		if (strcmp(out->status, t->from[i]) == 0)
			allowed = true;
	if (!allowed) {
		err_set(e, ERR_INVALID_TRANSITION, "agent '%s' is already %s",
		    out->name, out->status);
		goto fail;
	}
	strlcpy_ss(from, out->status, sizeof(from));
	if (t->gitea == AGENT_GITEA_GRANT && !has_user) {
		if (identity_provision(core, out, &id, e) == -1)
			goto fail;
		made = true;
	} else if (t->gitea == AGENT_GITEA_GRANT) {
		unblock = true;
		if (identity_unblock(core, out, &fresh_token, e) == -1)
			goto fail;
	}
	snprintf(uid, sizeof(uid), "%ld", id.user_id);
	params[0] = out->id;
	params[1] = t->to;
	params[2] = made ? id.login : NULL;
	params[3] = made ? uid : NULL;
	params[4] = made ? id.password_sealed : NULL;
	params[5] = made ? id.token_sealed : fresh_token;
	res = db_query(c, e, "UPDATE agents SET status = $2, updated_at = now(),"
	    " approved_at = CASE WHEN $2 = 'active' THEN now()"
	    " ELSE approved_at END,"
	    " gitea_username = COALESCE($3, gitea_username),"
	    " gitea_user_id = COALESCE($4::bigint, gitea_user_id),"
	    " gitea_password_sealed = COALESCE($5, gitea_password_sealed),"
	    " gitea_token_sealed = COALESCE($6, gitea_token_sealed),"
	    " gitea_state = CASE WHEN $2 = 'active' OR gitea_username IS NULL"
	    "  THEN 'open' ELSE 'blocking' END"
	    " WHERE id = $1 RETURNING " AGENT_COLUMNS, 6, params);
	if (res == NULL)
		goto fail;
	agent_from_row(res, 0, out);
	PQclear(res);
	if (t->gitea == AGENT_GITEA_BLOCK && agent_release_claims(c, out,
	    released, e) == -1)
		goto fail;
	detail = json_object_new_object();
	json_object_object_add(detail, "from", json_object_new_string(from));
	json_object_object_add(detail, "to", json_object_new_string(t->to));
	json_object_object_add(detail, "name", json_object_new_string(out->name));
	if (made)
		json_object_object_add(detail, "gitea_user",
		    json_object_new_string(id.login));
	if (unblock)
		json_object_object_add(detail, "gitea",
		    json_object_new_string("login allowed, fresh token"));
	if (t->gitea == AGENT_GITEA_BLOCK)
		json_object_object_add(detail, "released",
		    json_object_get(released));
	if (audit_write(c, who, t->action, "agent", out->id, detail, e) == -1 ||
	    db_commit(c, e) == -1)
		goto fail;
	/* Before the admin hears of it: the listener may be a moment late. */
	keycache_forget(out->id);
	db_release(core->pool, c);
	identity_free(&id);
	free(fresh_token);
	change->released = (int)json_object_array_length(released);
	json_object_put(released);
	change->gitea = made || unblock ? "open" : "none";
	if (t->gitea == AGENT_GITEA_BLOCK && has_user) {
		struct err	ge;

		err_clear(&ge);
		if (agent_gitea_block(core, who, out->id, &change->gitea,
		    &ge) == -1)
			log_warn("agent %s is suspended; blocking its Gitea user"
			    " is retried in the background: %s", out->name,
			    ge.message);
		agent_refresh_reviewed(core, out->id);
	}
	log_info("%s: %s %s -> %s by %s", t->action, out->name, from, t->to,
	    who->id);
	return 0;
fail:
	db_release(core->pool, c);
	if (made)
		identity_remove(core->conf, core->pool, id.login);
	else if (unblock) {
		/* It may be half let in: block it again in the background. */
		const char	*p[1] = { out->id };
		struct err	 ue;
		PGresult	*r;

		err_clear(&ue);
		if ((r = db_exec(core->pool, &ue, "UPDATE agents SET gitea_state ="
		    " 'blocking' WHERE id = $1 AND status = 'suspended'", 1,
		    p)) != NULL)
			PQclear(r);
	}
	identity_free(&id);
	free(fresh_token);
	json_object_put(released);
	return -1;
}

int
agent_approve(const struct core *core, const struct actor *who,
    const char *ref, struct agent *out, struct agent_change *change,
    struct err *e)
{
	return agent_transition(core, who, ref, &agent_transitions[0], out,
	    change, e);
}

int
agent_suspend(const struct core *core, const struct actor *who,
    const char *ref, struct agent *out, struct agent_change *change,
    struct err *e)
{
	return agent_transition(core, who, ref, &agent_transitions[1], out,
	    change, e);
}

/* Suspended agents whose Gitea user is not blocked yet (Gitea was away):
 * tried again; *blocked says how many it took. */
int
agent_block_pending(const struct core *core, int *blocked, struct err *e)
{
	struct actor	 who = { ACTOR_SYSTEM, "suspension" };
	const char	*state;
	struct err	 one;
	PGresult	*res;
	int		 i;

	*blocked = 0;
	if ((res = db_exec(core->pool, e, "SELECT id, name FROM agents WHERE"
	    " gitea_state = 'blocking' AND status = 'suspended'"
	    " ORDER BY updated_at LIMIT 20", 0, NULL)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		err_clear(&one);
		if (agent_gitea_block(core, &who, PQgetvalue(res, i, 0), &state,
		    &one) == 0)
			(*blocked)++;
		else
			log_warn("blocking the Gitea user of suspended agent %s:"
			    " %s", PQgetvalue(res, i, 1), one.message);
	}
	PQclear(res);
	return 0;
}

json_object *
agent_list(struct db_pool *p, const char *status, struct err *e)
{
	const char	*params[1] = { status };
	PGresult	*res;
	json_object	*rows;

	if (status != NULL && strcmp(status, "pending") != 0 &&
	    strcmp(status, "active") != 0 && strcmp(status, "suspended") != 0) {
		err_set(e, ERR_INVALID_FIELD, "unknown status '%.32s'", status);
		err_hint(e, "status is one of pending, active, suspended");
		return NULL;
	}
	res = db_exec(p, e, "SELECT id, name, description, contact, status,"
	    " elo, ss_iso(created_at) AS created_at,"
	    " ss_iso(approved_at) AS approved_at FROM agents"
	    " WHERE $1::text IS NULL OR status = $1"
	    " ORDER BY created_at, name", 1, params);
	if (res == NULL)
		return NULL;
	rows = json_from_rows(res);
	PQclear(res);
	return rows;
}
