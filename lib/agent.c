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

	if (!key_well_formed(key)) {
		err_set(e, ERR_UNAUTHORIZED, "missing or malformed agent key");
		err_hint(e, "send Authorization: Bearer ssk_...; register with"
		    " POST /api/v1/agents to get a key");
		return -1;
	}
	key_hash_hex(key, hash);
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
	return 0;
}

/* The admin's transitions: which states each may start from, and
 * whether the agent gets its Gitea identity (on its first approval). */
static const struct agent_transition {
	const char	*action;
	const char	*to;
	const char	*from[3];
	bool		 provision;
} agent_transitions[] = {
	{ "agent.approve", "active", { "pending", "suspended", NULL }, true },
	{ "agent.suspend", "suspended", { "pending", "active", NULL }, false },
};

/*
 * The row stays locked while Gitea is called: an admin action is rare, and
 * two admins approving at once must not create two Gitea users.  When
 * anything fails after the Gitea user exists, the user is removed again,
 * so a failed approval leaves nothing behind.
 */
static int
agent_transition(const struct core *core, const struct actor *who,
    const char *ref, const struct agent_transition *t, struct agent *out,
    struct err *e)
{
	const char	*params[6];
	char		 from[12], uid[24];
	struct identity	 id;
	json_object	*detail;
	PGconn		*c;
	PGresult	*res;
	bool		 allowed = false, made = false;
	size_t		 i;

	memset(&id, 0, sizeof(id));
	if (!uuid_valid(ref) && !agent_name_valid(ref))
		return err_set(e, ERR_NOT_FOUND, "no agent '%.64s'", ref);
	if ((c = db_acquire(core->pool, e)) == NULL)
		return -1;
	if (db_begin(c, e) == -1)
		goto fail;
	params[0] = ref;
	res = db_query(c, e, uuid_valid(ref) ?
	    "SELECT " AGENT_COLUMNS ", gitea_username IS NULL FROM agents"
	    " WHERE id = $1 FOR UPDATE" :
	    "SELECT " AGENT_COLUMNS ", gitea_username IS NULL FROM agents"
	    " WHERE name = $1 FOR UPDATE", 1, params);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no agent '%s'", ref);
		err_hint(e, "list agents with GET /api/v1/admin/agents");
		goto fail;
	}
	agent_from_row(res, 0, out);
	made = t->provision && PQgetvalue(res, 0, 4)[0] == 't';
	PQclear(res);
	for (i = 0; t->from[i] != NULL; i++)
		if (strcmp(out->status, t->from[i]) == 0)
			allowed = true;
	if (!allowed) {
		err_set(e, ERR_INVALID_TRANSITION, "agent '%s' is already %s",
		    out->name, out->status);
		made = false;
		goto fail;
	}
	if (made && identity_provision(core, out, &id, e) == -1) {
		made = false;
		goto fail;
	}
	strlcpy_ss(from, out->status, sizeof(from));
	snprintf(uid, sizeof(uid), "%ld", id.user_id);
	params[0] = out->id;
	params[1] = t->to;
	params[2] = made ? id.login : NULL;
	params[3] = made ? uid : NULL;
	params[4] = made ? id.password_sealed : NULL;
	params[5] = made ? id.token_sealed : NULL;
	res = db_query(c, e, "UPDATE agents SET status = $2, updated_at = now(),"
	    " approved_at = CASE WHEN $2 = 'active' THEN now()"
	    " ELSE approved_at END,"
	    " gitea_username = COALESCE($3, gitea_username),"
	    " gitea_user_id = COALESCE($4::bigint, gitea_user_id),"
	    " gitea_password_sealed = COALESCE($5, gitea_password_sealed),"
	    " gitea_token_sealed = COALESCE($6, gitea_token_sealed)"
	    " WHERE id = $1 RETURNING " AGENT_COLUMNS, 6, params);
	if (res == NULL)
		goto fail;
	agent_from_row(res, 0, out);
	PQclear(res);
	detail = json_object_new_object();
	json_object_object_add(detail, "from", json_object_new_string(from));
	json_object_object_add(detail, "to", json_object_new_string(t->to));
	json_object_object_add(detail, "name", json_object_new_string(out->name));
	if (made)
		json_object_object_add(detail, "gitea_user",
		    json_object_new_string(id.login));
	if (audit_write(c, who, t->action, "agent", out->id, detail, e) == -1 ||
	    db_commit(c, e) == -1)
		goto fail;
	db_release(core->pool, c);
	identity_free(&id);
	log_info("%s: %s %s -> %s by %s", t->action, out->name, from, t->to,
	    who->id);
	return 0;
fail:
	db_release(core->pool, c);
	if (made)
		identity_remove(core->conf, core->pool, id.login);
	identity_free(&id);
	return -1;
}

int
agent_approve(const struct core *core, const struct actor *who,
    const char *ref, struct agent *out, struct err *e)
{
	return agent_transition(core, who, ref, &agent_transitions[0], out, e);
}

int
agent_suspend(const struct core *core, const struct actor *who,
    const char *ref, struct agent *out, struct err *e)
{
	return agent_transition(core, who, ref, &agent_transitions[1], out, e);
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
