/*
 * identity.c: an agent's Gitea user and access token.  Gitea refuses every
 * API call of a user who must change their password, so the user is made
 * with must_change_password false; and Gitea mints (and deletes) tokens
 * only under Basic auth, so synstackd sets the user's random password
 * itself and keeps it, sealed, beside the token.
 *
 * A suspended agent has no access in Gitea either: its token is deleted
 * and its login prohibited (which Gitea applies to tokens and git too).
 * Approved again, its login is allowed and it gets a fresh token.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "synstack.h"

/* What an agent's token may do: push branches, and read what it needs. */
static const char *const identity_scopes[] = {
	"write:repository", "write:issue", "read:user", "read:organization",
	NULL
};

#define IDENTITY_TOKEN_NAME	"synstack"

void
identity_free(struct identity *id)
{
	free(id->password_sealed);
	free(id->token_sealed);
	memset(id, 0, sizeof(*id));
}

void
identity_remove(const struct conf *conf, struct db_pool *pool,
    const char *login)
{
	struct gitea_req	 q = { .method = "DELETE" };
	struct gitea_resp	 r = { .total = -1 };
	struct err		 e;
	char			 path[128], *esc;

	err_clear(&e);
	if ((esc = gitea_escape(login)) == NULL)
		return;
	snprintf(path, sizeof(path), "/admin/users/%s", esc);
	free(esc);
	q.path = path;
	if (gitea_call(conf, &q, &r, &e) == -1 && r.status != 404) {
		log_warn("could not remove Gitea user %s after a failed"
		    " approval (%s); the outbox will", login, e.message);
		err_clear(&e);
		if (pool == NULL || outbox_add_now(pool, "identity.remove",
		    "DELETE", path, NULL, NULL, &e) == -1)
			log_error("Gitea user %s is left over: %s", login,
			    e.message);
	}
	gitea_resp_free(&r);
}

static int
identity_seal(const struct vault *v, const char *agent_id, const char *what,
    const char *plain, char **out, struct err *e)
{
	char	ad[96];

	snprintf(ad, sizeof(ad), "agent:%s:%s", agent_id, what);
	*out = vault_seal(v, ad, plain, e);
	return *out == NULL ? -1 : 0;
}

int
identity_provision(const struct core *core, const struct agent *a,
    struct identity *id, struct err *e)
{
	const struct conf	*conf = core->conf;
	const struct vault	*v = core->vault;
	struct gitea_req	 q = { .method = "POST" };
	struct gitea_resp	 r = { .total = -1 };
	unsigned char		 raw[24];
	char			 password[40], email[256], path[128], full[96];
	json_object		*body, *t;
	int			 ret = -1;

	memset(id, 0, sizeof(*id));
	/* Fail before Gitea is touched when nothing could be stored. */
	if (vault_require(v, e) == -1)
		return -1;
	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(password, sizeof(password), raw, sizeof(raw),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	sodium_memzero(raw, sizeof(raw));
	snprintf(email, sizeof(email), "%s@%s", a->name,
	    conf->gitea_agent_email_domain);
	snprintf(full, sizeof(full), "Agent %s", a->name);

	body = json_object_new_object();
	json_object_object_add(body, "username", json_object_new_string(a->name));
	json_object_object_add(body, "email", json_object_new_string(email));
	json_object_object_add(body, "full_name", json_object_new_string(full));
	json_object_object_add(body, "password", json_object_new_string(password));
	json_object_object_add(body, "must_change_password",
	    json_object_new_boolean(0));
	json_object_object_add(body, "send_notify", json_object_new_boolean(0));
	q.path = "/admin/users";
	q.body = body;
	if (gitea_call(conf, &q, &r, e) == -1) {
		if (r.status == 422 && strstr(r.message, "already") != NULL) {
			err_set(e, ERR_NAME_TAKEN, "Gitea already has a user"
			    " named '%s'", a->name);
			err_hint(e, "the agent cannot be approved under this name;"
			    " suspend it and ask it to register another");
		}
		json_object_put(body);
		goto out;
	}
	json_object_put(body);
	strlcpy_ss(id->login, a->name, sizeof(id->login));
	if (r.json != NULL && json_object_object_get_ex(r.json, "id", &t))
		id->user_id = json_object_get_int64(t);

	/* The token, minted under Basic auth with the new user's password. */
	body = json_object_new_object();
	json_object_object_add(body, "name",
	    json_object_new_string(IDENTITY_TOKEN_NAME));
	json_object_object_add(body, "scopes", json_strarray(identity_scopes));
	snprintf(path, sizeof(path), "/users/%s/tokens", a->name);
	q.path = path;
	q.body = body;
	q.basic_user = a->name;
	q.basic_password = password;
	if (gitea_call(conf, &q, &r, e) == -1 || r.json == NULL ||
	    !json_object_object_get_ex(r.json, "sha1", &t) ||
	    !json_object_is_type(t, json_type_string)) {
		if (e->code == ERR_NONE)
			err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea gave no token");
		json_object_put(body);
		identity_remove(conf, core->pool, a->name);
		goto out;
	}
	json_object_put(body);
	if (identity_seal(v, a->id, "gitea_password", password,
	    &id->password_sealed, e) == -1 ||
	    identity_seal(v, a->id, "gitea_token", json_object_get_string(t),
	    &id->token_sealed, e) == -1) {
		identity_remove(conf, core->pool, a->name);
		identity_free(id);
		goto out;
	}
	ret = 0;
out:
	sodium_memzero(password, sizeof(password));
	gitea_resp_free(&r);
	return ret;
}

json_object *
identity_credentials(struct db_pool *p, const struct conf *conf,
    const struct vault *v, const char *agent_id, long *elo, struct err *e)
{
	const char	*params[1] = { agent_id };
	char		 ad[96], *token;
	PGresult	*res;
	json_object	*o;

	res = db_exec(p, e, "SELECT gitea_username, gitea_token_sealed, elo"
	    " FROM agents WHERE id = $1", 1, params);
	if (res == NULL)
		return NULL;
	if (elo != NULL && PQntuples(res) > 0)
		*elo = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ||
	    PQgetisnull(res, 0, 1)) {
		PQclear(res);
		return json_object_new_object();	/* not provisioned */
	}
	snprintf(ad, sizeof(ad), "agent:%s:gitea_token", agent_id);
	if ((token = vault_open(v, ad, PQgetvalue(res, 0, 1), e)) == NULL) {
		log_error("the Gitea token of agent %s: %s", agent_id,
		    e->message);
		PQclear(res);
		return NULL;
	}
	o = json_object_new_object();
	json_object_object_add(o, "login",
	    json_object_new_string(PQgetvalue(res, 0, 0)));
	json_object_object_add(o, "token", json_object_new_string(token));
	json_object_object_add(o, "url", json_object_new_string(conf->gitea_url));
	vault_free(token);
	PQclear(res);
	return o;
}

/* The agent's Gitea login and its password, opened; 0, or -1 with e set
 * (1 when it has no Gitea user). */
static int
identity_secret(const struct core *core, const char *agent_id, char *login,
    size_t size, char **password, struct err *e)
{
	const char	*params[1] = { agent_id };
	char		 ad[96];
	PGresult	*res;

	*password = NULL;
	if ((res = db_exec(core->pool, e, "SELECT gitea_username,"
	    " gitea_password_sealed FROM agents WHERE id = $1", 1,
	    params)) == NULL)
		return -1;
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0) ||
	    PQgetisnull(res, 0, 1)) {
		PQclear(res);
		return 1;
	}
	strlcpy_ss(login, PQgetvalue(res, 0, 0), size);
	snprintf(ad, sizeof(ad), "agent:%s:gitea_password", agent_id);
	*password = vault_open(core->vault, ad, PQgetvalue(res, 0, 1), e);
	PQclear(res);
	return *password == NULL ? -1 : 0;
}

/* Its login prohibited or allowed again (EditUserOption: login_name is
 * required). */
static int
identity_prohibit(const struct conf *conf, const char *login, bool prohibit,
    struct err *e)
{
	struct gitea_req	 q = { .method = "PATCH" };
	struct gitea_resp	 r = { .total = -1 };
	json_object		*body;
	char			 path[128], *esc;
	int			 rc;

	if ((esc = gitea_escape(login)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	snprintf(path, sizeof(path), "/admin/users/%s", esc);
	free(esc);
	body = json_object_new_object();
	json_object_object_add(body, "login_name", json_object_new_string(login));
	json_object_object_add(body, "source_id", json_object_new_int(0));
	json_object_object_add(body, "prohibit_login",
	    json_object_new_boolean(prohibit));
	q.path = path;
	q.body = body;
	rc = gitea_call(conf, &q, &r, e);
	json_object_put(body);
	gitea_resp_free(&r);
	return rc;
}

/* Its token deleted (Basic auth as itself); 1 when there was none. */
static int
identity_revoke(const struct conf *conf, const char *login,
    const char *password, struct err *e)
{
	struct gitea_req	 q = { .method = "DELETE" };
	struct gitea_resp	 r = { .total = -1 };
	char			 path[160], *esc;
	int			 rc;

	if ((esc = gitea_escape(login)) == NULL)
		return err_set(e, ERR_INTERNAL, "out of memory");
	snprintf(path, sizeof(path), "/users/%s/tokens/%s", esc,
	    IDENTITY_TOKEN_NAME);
	free(esc);
	q.path = path;
	q.basic_user = login;
	q.basic_password = password;
	rc = gitea_call(conf, &q, &r, e);
	if (rc == -1 && r.status == 404) {
		err_clear(e);
		rc = 1;
	}
	gitea_resp_free(&r);
	return rc;
}

int
identity_block(const struct core *core, const char *agent_id,
    struct identity_block *done, struct err *e)
{
	char	login[64], *password;
	int	rc;

	memset(done, 0, sizeof(*done));
	if ((rc = identity_secret(core, agent_id, login, sizeof(login),
	    &password, e)) != 0)
		return rc == 1 ? 0 : -1;	/* no Gitea user: nothing to do */
	/* The token first: once the login is prohibited, Gitea takes no
	 * Basic auth of the user, and the token could not be deleted. */
	rc = identity_revoke(core->conf, login, password, e);
	vault_free(password);
	if (rc == -1) {
		/* Prohibited already (by an earlier attempt or a Gitea admin):
		 * the token is useless while it is; a re-approval deletes it. */
		log_warn("the Gitea token of %s was not revoked: %s", login,
		    e->message);
		err_clear(e);
	} else
		done->token_revoked = true;
	if (identity_prohibit(core->conf, login, true, e) == -1 &&
	    e->code != ERR_NOT_FOUND)
		return -1;
	err_clear(e);
	done->login_prohibited = true;
	return 0;
}

int
identity_unblock(const struct core *core, const struct agent *a,
    char **token_sealed, struct err *e)
{
	struct gitea_req	 q = { .method = "POST" };
	struct gitea_resp	 r = { .total = -1 };
	json_object		*body, *t;
	char			 login[64], path[160], *password, *esc;
	int			 rc;

	*token_sealed = NULL;
	if ((rc = identity_secret(core, a->id, login, sizeof(login), &password,
	    e)) != 0)
		return rc == 1 ? err_set(e, ERR_NOT_CONFIGURED, "agent '%s' has"
		    " no Gitea user", a->name) : -1;
	rc = -1;
	if (identity_prohibit(core->conf, login, false, e) == -1 ||
	    identity_revoke(core->conf, login, password, e) == -1)
		goto out;
	if ((esc = gitea_escape(login)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	snprintf(path, sizeof(path), "/users/%s/tokens", esc);
	free(esc);
	body = json_object_new_object();
	json_object_object_add(body, "name",
	    json_object_new_string(IDENTITY_TOKEN_NAME));
	json_object_object_add(body, "scopes", json_strarray(identity_scopes));
	q.path = path;
	q.body = body;
	q.basic_user = login;
	q.basic_password = password;
	if (gitea_call(core->conf, &q, &r, e) == 0 && r.json != NULL &&
	    json_object_object_get_ex(r.json, "sha1", &t) &&
	    json_object_is_type(t, json_type_string) &&
	    identity_seal(core->vault, a->id, "gitea_token",
	    json_object_get_string(t), token_sealed, e) == 0)
		rc = 0;
	else if (e->code == ERR_NONE)
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea gave no token");
	json_object_put(body);
	gitea_resp_free(&r);
out:
	vault_free(password);
	return rc;
}
