/*
 * secret.c: a project's deployment secrets (docs/deployment.md).
 *
 * Values are sealed by the vault, bound to "project:<id>:secret:<name>";
 * what leaves here is a name, a keyed digest and who set it when.  The
 * one way back to a value is secret_reveal(): an admin, a reason, an
 * audit row.  secret_rotate() re-seals every sealed value of the database
 * under a new master key in one transaction.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "synstack.h"

#define REVEAL_REASON_MAX	500
#define SECRETS_PER_PROJECT	500	/* a platform needs a handful */

static const char secret_cols[] =
	"s.key_name AS name, s.digest, s.is_byok AS byok,"
	" s.confirmed_at IS NOT NULL AS confirmed, s.confirmed_by,"
	" ss_iso(s.confirmed_at) AS confirmed_at, s.set_by,"
	" ss_iso(s.updated_at) AS updated_at,"
	" COALESCE(s.key_name = ANY (pl.secrets), false) AS required";

static void
secret_ad(char *ad, size_t size, const char *project_id, const char *name)
{
	snprintf(ad, size, "project:%s:secret:%s", project_id, name);
}

/*
 * Names a deploy command's environment cannot take from a secret: they
 * would change how the command or the programs it starts run (a loader
 * preload, a search path, a shell's start-up file), not what it deploys.
 */
static const char *const reserved_prefixes[] = {
	"LD_", "SYNSTACK_", "GIT_", "LC_", NULL
};
static const char *const reserved_names[] = {
	"PATH", "HOME", "LANG", "IFS", "ENV", "BASH_ENV", "SHELLOPTS",
	"BASHOPTS", "PS4", "NODE_OPTIONS", "NODE_PATH", "PYTHONPATH",
	"PYTHONSTARTUP", "PYTHONHOME", "PERL5LIB", "PERL5OPT", "RUBYOPT",
	"RUBYLIB", "TMPDIR", NULL
};

bool
secret_name_reserved(const char *name)
{
	size_t	i;

	for (i = 0; reserved_prefixes[i] != NULL; i++)
		if (strncmp(name, reserved_prefixes[i],
		    strlen(reserved_prefixes[i])) == 0)
			return true;
	for (i = 0; reserved_names[i] != NULL; i++)
		if (strcmp(name, reserved_names[i]) == 0)
			return true;
	return false;
}

static int
name_check(const char *name, struct err *e)
{
	if (name == NULL || !secret_name_valid(name)) {
		err_set(e, ERR_INVALID_FIELD, "'%.40s' is not a secret name",
		    name != NULL ? name : "");
		err_hint(e, "an environment variable name: a letter or _, then"
		    " letters, digits or _, at most %d", SECRET_NAME_MAX);
		return -1;
	}
	return 0;
}

static json_object *
secret_get(PGconn *c, const char *project_id, const char *name,
    struct err *e)
{
	const char	*params[2] = { project_id, name };
	char		 sql[1024];
	PGresult	*res;
	json_object	*o;

	snprintf(sql, sizeof(sql), "SELECT %s FROM deployment_secrets s"
	    " JOIN projects p ON p.id = s.project_id LEFT JOIN platforms pl"
	    " ON pl.name = p.deployment_platform"
	    " WHERE s.project_id = $1 AND s.key_name = $2", secret_cols);
	if ((res = db_query(c, e, sql, 2, params)) == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no secret %s", name);
		err_hint(e, "GET .../deployment/secrets lists them");
		return NULL;
	}
	o = json_from_row(res, 0);
	PQclear(res);
	return o;
}

json_object *
secret_list(const struct core *core, const char *text, struct err *e)
{
	struct ref	 r;
	const char	*params[1];
	PGconn		*c;
	PGresult	*res = NULL, *miss = NULL;
	json_object	*data, *answer = NULL, *missing;
	char		 name[256], sql[1024], msg[320];
	int		 i;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	params[0] = r.project_id;
	snprintf(sql, sizeof(sql), "SELECT %s FROM deployment_secrets s"
	    " JOIN projects p ON p.id = s.project_id LEFT JOIN platforms pl"
	    " ON pl.name = p.deployment_platform WHERE s.project_id = $1"
	    " ORDER BY s.key_name", secret_cols);
	if ((res = db_query(c, e, sql, 1, params)) == NULL ||
	    (miss = db_query(c, e, "SELECT n FROM projects p JOIN platforms pl"
	    " ON pl.name = p.deployment_platform, unnest(pl.secrets) n"
	    " WHERE p.id = $1 AND NOT EXISTS (SELECT 1 FROM"
	    " deployment_secrets s WHERE s.project_id = p.id AND"
	    " s.key_name = n) ORDER BY n", 1, params)) == NULL)
		goto out;
	missing = json_object_new_array();
	for (i = 0; i < PQntuples(miss); i++)
		json_object_array_add(missing,
		    json_object_new_string(PQgetvalue(miss, i, 0)));
	snprintf(msg, sizeof(msg), "%d secrets of %s; %d the platform needs"
	    " are not set", PQntuples(res), name, PQntuples(miss));
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "secrets", json_from_rows(res));
	json_object_object_add(data, "missing", missing);
	answer = json_ok(msg, data, NULL);
out:
	PQclear(res);
	PQclear(miss);
	db_release(core->pool, c);
	return answer;
}

/*
 * Sets a secret: body {"value"} or {"byok": true}; with name NULL the
 * body also holds "name" (the seed's POST form).
 */
json_object *
secret_put(const struct core *core, const struct actor *who, const char *text,
    const char *name, json_object *body, struct err *e)
{
	static const char *const with_name[] = { "name", "value", "byok",
						 NULL };
	static const char *const fields[] = { "value", "byok", NULL };
	struct ref	 r;
	const char	*value = NULL, *params[6];
	char		 pname[256], ad[256], digest[VAULT_DIGEST_HEX + 1],
			 msg[400];
	char		*sealed = NULL;
	int		 byok;
	PGconn		*c = NULL;
	PGresult	*res = NULL;
	json_object	*o = NULL, *detail;

	if (!json_object_is_type(body, json_type_object)) {
		err_set(e, ERR_INVALID_FIELD, "the body must be an object");
		return NULL;
	}
	if (json_only_keys(body, name == NULL ? with_name : fields, e) == -1 ||
	    (name == NULL && json_get_str(body, "name", true, SECRET_NAME_MAX,
	    &name, e) == -1) || name_check(name, e) == -1 ||
	    json_get_str(body, "value", false, VAULT_MAX_PLAIN, &value, e) ==
	    -1 || json_get_bool(body, "byok", &byok, e) == -1)
		return NULL;
	if (secret_name_reserved(name)) {
		err_set(e, ERR_INVALID_FIELD, "%s is reserved: as an environment"
		    " variable it would change how the deploy command runs",
		    name);
		err_hint(e, "choose another name (LD_*, GIT_*, SYNSTACK_*, LC_*,"
		    " PATH, HOME and the like are reserved)");
		return NULL;
	}
	if ((value != NULL) == (byok == 1) || byok == 0) {
		err_set(e, ERR_INVALID_FIELD, "give either a value or"
		    " \"byok\": true");
		err_hint(e, "{\"value\": \"...\"}, or {\"byok\": true} when the"
		    " owner sets it on the platform");
		return NULL;
	}
	if (value != NULL && (*value == '\0' || strlen(value) >
	    VAULT_MAX_PLAIN)) {
		err_set(e, ERR_INVALID_FIELD, "a value is 1 to %d bytes",
		    VAULT_MAX_PLAIN);
		return NULL;
	}
	if (value != NULL && vault_require(core->vault, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, pname, sizeof(pname), e) == -1)
		goto out;
	if (value != NULL) {
		secret_ad(ad, sizeof(ad), r.project_id, name);
		if ((sealed = vault_seal(core->vault, ad, value, e)) == NULL)
			goto out;
		vault_digest(core->vault, value, digest);
	}
	params[0] = r.project_id;
	params[1] = name;
	params[2] = sealed;
	params[3] = value != NULL ? digest : NULL;
	params[4] = value == NULL ? "true" : "false";
	params[5] = who->id;
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(pname));
	json_object_object_add(detail, "name", json_object_new_string(name));
	json_object_object_add(detail, "byok",
	    json_object_new_boolean(value == NULL));
	if (value != NULL)
		json_object_object_add(detail, "digest",
		    json_object_new_string(digest));
	if (db_begin(c, e) == -1) {
		json_object_put(detail);
		goto out;
	}
	/* Bounded, like every input; the row lock orders concurrent sets. */
	if ((res = db_query(c, e, "SELECT (SELECT count(*) FROM"
	    " deployment_secrets s WHERE s.project_id = p.id AND s.key_name <>"
	    " $2) FROM projects p WHERE p.id = $1 FOR UPDATE", 2, params)) ==
	    NULL || atol(PQgetvalue(res, 0, 0)) >= SECRETS_PER_PROJECT) {
		if (res != NULL)
			err_set(e, ERR_INVALID_FIELD, "%s has %d secrets, the"
			    " most a project may have", pname,
			    SECRETS_PER_PROJECT);
		json_object_put(detail);
		db_rollback(c);
		goto out;
	}
	if (db_run(c, e, "INSERT INTO"
	    " deployment_secrets (project_id, key_name, encrypted_value, digest,"
	    " is_byok, set_by) VALUES ($1, $2, $3, $4, $5::boolean, $6)"
	    " ON CONFLICT (project_id, key_name) DO UPDATE SET"
	    " encrypted_value = EXCLUDED.encrypted_value,"
	    " digest = EXCLUDED.digest, is_byok = EXCLUDED.is_byok,"
	    " confirmed_at = NULL, confirmed_by = NULL,"
	    " set_by = EXCLUDED.set_by, updated_at = now()", 6, params) == -1 ||
	    audit_write(c, who, "secret.set", "project", r.project_id, detail,
	    e) == -1 || db_commit(c, e) == -1) {
		db_rollback(c);
		goto out;
	}
	if ((o = secret_get(c, r.project_id, name, e)) != NULL) {
		snprintf(msg, sizeof(msg), value != NULL ? "Secret %s of %s is"
		    " set (digest %s); its value is not shown again." :
		    "Secret %s of %s is BYOK: the owner sets it on the"
		    " platform, and an admin confirms it.", name, pname,
		    digest);
		o = json_ok(msg, o, NULL);
	}
out:
	PQclear(res);
	free(sealed);
	db_release(core->pool, c);
	return o;
}

json_object *
secret_delete(const struct core *core, const struct actor *who,
    const char *text, const char *name, struct err *e)
{
	struct ref	 r;
	const char	*params[2];
	char		 pname[256], msg[320];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*o = NULL, *detail, *data;

	if (name_check(name, e) == -1 ||
	    (c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, pname, sizeof(pname), e) == -1 ||
	    db_begin(c, e) == -1)
		goto out;
	params[0] = r.project_id;
	params[1] = name;
	if ((res = db_query(c, e, "DELETE FROM deployment_secrets WHERE"
	    " project_id = $1 AND key_name = $2 RETURNING id", 2, params)) ==
	    NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no secret %s in %s", name, pname);
		goto fail;
	}
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(pname));
	json_object_object_add(detail, "name", json_object_new_string(name));
	if (audit_write(c, who, "secret.deleted", "project", r.project_id,
	    detail, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	data = json_object_new_object();
	json_object_object_add(data, "name", json_object_new_string(name));
	snprintf(msg, sizeof(msg), "Secret %s of %s deleted.", name, pname);
	o = json_ok(msg, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return o;
}

json_object *
secret_confirm(const struct core *core, const struct actor *who,
    const char *text, const char *name, struct err *e)
{
	struct ref	 r;
	const char	*params[3];
	char		 pname[256], msg[320];
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*o = NULL, *detail;

	if (name_check(name, e) == -1 ||
	    (c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, pname, sizeof(pname), e) == -1 ||
	    db_begin(c, e) == -1)
		goto out;
	params[0] = r.project_id;
	params[1] = name;
	params[2] = who->id;
	if ((res = db_query(c, e, "UPDATE deployment_secrets SET"
	    " confirmed_at = COALESCE(confirmed_at, now()),"
	    " confirmed_by = COALESCE(confirmed_by, $3)"
	    " WHERE project_id = $1 AND key_name = $2"
	    " RETURNING is_byok", 3, params)) == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no secret %s in %s", name, pname);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		err_set(e, ERR_INVALID_TRANSITION, "%s has a value: only BYOK"
		    " entries are confirmed", name);
		goto fail;
	}
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(pname));
	json_object_object_add(detail, "name", json_object_new_string(name));
	if (audit_write(c, who, "secret.confirmed", "project", r.project_id,
	    detail, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	if ((o = secret_get(c, r.project_id, name, e)) != NULL) {
		snprintf(msg, sizeof(msg), "BYOK secret %s of %s is confirmed"
		    " set on the platform.", name, pname);
		o = json_ok(msg, o, NULL);
	}
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return o;
}

/* The value, to an admin who gives a reason; the audit row commits
 * before the value is answered. */
json_object *
secret_reveal(const struct core *core, const struct actor *who,
    const char *text, const char *name, json_object *body, struct err *e)
{
	static const char *const fields[] = { "reason", NULL };
	struct ref	 r;
	const char	*reason, *params[2];
	char		 pname[256], ad[256], msg[320], *value = NULL;
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*o = NULL, *detail, *data;

	if (name_check(name, e) == -1 || !json_object_is_type(body,
	    json_type_object) || json_only_keys(body, fields, e) == -1 ||
	    json_get_str(body, "reason", true, REVEAL_REASON_MAX, &reason, e) ==
	    -1) {
		if (e->code == ERR_NONE)
			err_set(e, ERR_INVALID_FIELD, "the body must be an"
			    " object");
		return NULL;
	}
	if (strspn(reason, " \t\n") == strlen(reason)) {
		err_set(e, ERR_INVALID_FIELD, "a reveal needs a reason");
		err_hint(e, "{\"reason\": \"why the value is needed\"}");
		return NULL;
	}
	if (vault_require(core->vault, e) == -1 ||
	    (c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, pname, sizeof(pname), e) == -1)
		goto out;
	params[0] = r.project_id;
	params[1] = name;
	if ((res = db_query(c, e, "SELECT encrypted_value FROM"
	    " deployment_secrets WHERE project_id = $1 AND key_name = $2", 2,
	    params)) == NULL)
		goto out;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no secret %s in %s", name, pname);
		goto out;
	}
	if (PQgetisnull(res, 0, 0)) {
		err_set(e, ERR_NO_VALUE, "%s is BYOK: it has no value here",
		    name);
		err_hint(e, "its owner set it on the platform");
		goto out;
	}
	secret_ad(ad, sizeof(ad), r.project_id, name);
	if ((value = vault_open(core->vault, ad, PQgetvalue(res, 0, 0), e)) ==
	    NULL) {
		char	why[sizeof(e->message)];

		strlcpy_ss(why, e->message, sizeof(why));
		err_set(e, e->code, "secret %s of %s: %s", name, pname, why);
		log_kv(LOG_WARN, "a secret does not open", "project", pname,
		    "name", name, "why", why, NULL);
		goto out;
	}
	detail = json_object_new_object();
	json_object_object_add(detail, "project", json_object_new_string(pname));
	json_object_object_add(detail, "name", json_object_new_string(name));
	json_object_object_add(detail, "reason", json_object_new_string(reason));
	if (db_begin(c, e) == -1 || audit_write(c, who, "secret.revealed",
	    "project", r.project_id, detail, e) == -1 || db_commit(c, e) ==
	    -1) {
		db_rollback(c);
		goto out;
	}
	data = json_object_new_object();
	json_object_object_add(data, "name", json_object_new_string(name));
	json_object_object_add(data, "value", json_object_new_string(value));
	snprintf(msg, sizeof(msg), "The value of %s of %s; this reveal is in"
	    " the audit log.", name, pname);
	o = json_ok(msg, data, NULL);
out:
	vault_free(value);
	PQclear(res);
	db_release(core->pool, c);
	return o;
}

/* -- rotation ----------------------------------------------------------- */

/* One sealed column of one table: how to find its rows and their ad. */
static const struct sealed_column {
	const char	*what;
	const char	*select;	/* id, ad, sealed; rows locked */
	const char	*update;	/* $1 id, $2 sealed, $3 digest */
	bool		 digest;
} sealed_columns[] = {
	{ "deployment secrets",
	  "SELECT id, 'project:' || project_id || ':secret:' || key_name,"
	  " encrypted_value FROM deployment_secrets"
	  " WHERE encrypted_value IS NOT NULL ORDER BY id",
	  "UPDATE deployment_secrets SET encrypted_value = $2, digest = $3"
	  " WHERE id = $1", true },
	{ "agents' Gitea tokens",
	  "SELECT id, 'agent:' || id || ':gitea_token', gitea_token_sealed"
	  " FROM agents WHERE gitea_token_sealed IS NOT NULL ORDER BY id"
	  " FOR UPDATE",
	  "UPDATE agents SET gitea_token_sealed = $2 WHERE id = $1", false },
	{ "agents' Gitea passwords",
	  "SELECT id, 'agent:' || id || ':gitea_password',"
	  " gitea_password_sealed FROM agents"
	  " WHERE gitea_password_sealed IS NOT NULL ORDER BY id FOR UPDATE",
	  "UPDATE agents SET gitea_password_sealed = $2 WHERE id = $1", false },
};

/*
 * Re-seals every sealed value from old to new in one transaction: it all
 * happens, or nothing does.  A value already under the new key (a run
 * that committed before the config moved on) is left as it is.
 */
int
secret_rotate(PGconn *c, const struct vault *old, const struct vault *new,
    struct rotate_report *rep, struct err *e)
{
	const struct sealed_column	*sc;
	const char			*params[3];
	PGresult			*res = NULL;
	char				*plain, *sealed, digest[VAULT_DIGEST_HEX
					    + 1], id[VAULT_ID_LEN * 2 + 1];
	size_t				 k;
	int				 i;

	memset(rep, 0, sizeof(*rep));
	if (db_begin(c, e) == -1)
		return -1;
	/* No secret is written meanwhile; reading them is fine. */
	if (db_run(c, e, "LOCK TABLE deployment_secrets IN SHARE ROW EXCLUSIVE"
	    " MODE", 0, NULL) == -1)
		goto fail;
	for (k = 0; k < sizeof(sealed_columns) / sizeof(sealed_columns[0]);
	    k++) {
		sc = &sealed_columns[k];
		if ((res = db_query(c, e, sc->select, 0, NULL)) == NULL)
			goto fail;
		for (i = 0; i < PQntuples(res); i++) {
			vault_sealed_id(PQgetvalue(res, i, 2), id);
			if (strcmp(id, new->id_hex) == 0) {
				rep->already++;
				continue;
			}
			if ((plain = vault_open(old, PQgetvalue(res, i, 1),
			    PQgetvalue(res, i, 2), e)) == NULL) {
				char	why[sizeof(e->message)];

				strlcpy_ss(why, e->message, sizeof(why));
				err_set(e, e->code, "%s (%s): %s", sc->what,
				    PQgetvalue(res, i, 1), why);
				goto fail;
			}
			sealed = vault_seal(new, PQgetvalue(res, i, 1), plain,
			    e);
			if (sc->digest)
				vault_digest(new, plain, digest);
			vault_free(plain);
			if (sealed == NULL)
				goto fail;
			params[0] = PQgetvalue(res, i, 0);
			params[1] = sealed;
			params[2] = sc->digest ? digest : NULL;
			if (db_run(c, e, sc->update, sc->digest ? 3 : 2,
			    params) == -1) {
				free(sealed);
				goto fail;
			}
			free(sealed);
			rep->resealed++;
		}
		PQclear(res);
		res = NULL;
	}
	if (db_commit(c, e) == -1)
		goto fail;
	return 0;
fail:
	PQclear(res);
	db_rollback(c);
	return -1;
}
