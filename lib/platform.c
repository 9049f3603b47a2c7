/*
 * platform.c: the catalog of deployment platforms (docs/deployment.md).
 *
 * One validator, platform_check(), serves the seed file and the admin
 * API: a platform is a JSON object of the fields in the table below,
 * checked whole (a PATCH is the stored row with the changes laid over
 * it), then written with one statement.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "synstack.h"

#define PLATFORM_DISPLAY_MAX	100
#define PLATFORM_SECRETS_MAX	32
#define PLATFORM_ARGV_MAX	32
#define PLATFORM_ARG_LEN	1024
#define PLATFORM_FILES_MAX	16
#define PLATFORM_FILE_LEN	255
#define PLATFORM_FILE_BYTES	(256 * 1024)

static const char *const platform_fields[] = {
	"name", "display_name", "secrets", "trigger", "hook_secret", "command",
	"config_files", "docs_url", "retired", NULL
};

static const char platform_select[] =
	"SELECT pl.name, pl.display_name, to_json(pl.secrets) AS secrets,"
	" pl.trigger, pl.hook_secret, to_json(pl.command) AS command,"
	" to_json(pl.config_files) AS config_files, pl.docs_url, pl.retired,"
	" (SELECT count(*) FROM projects p"
	"   WHERE p.deployment_platform = pl.name)::int AS projects"
	" FROM platforms pl";

bool
platform_name_valid(const char *s)
{
	size_t	i;

	if (s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (i >= 32 || !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return false;
	return true;
}

bool
secret_name_valid(const char *s)
{
	size_t	i;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	    s[0] == '_'))
		return false;
	for (i = 1; s[i] != '\0'; i++)
		if (i >= SECRET_NAME_MAX || !((s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' &&
		    s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* A file at the repository's root, or below it: no "..", no leading /. */
static bool
config_file_valid(const char *s)
{
	return s[0] != '/' && strstr(s, "..") == NULL;
}

bool
http_url_valid(const char *s)
{
	return (strncmp(s, "https://", 8) == 0 && s[8] != '\0') ||
	    (strncmp(s, "http://", 7) == 0 && s[7] != '\0');
}

/*
 * A whole platform, checked; fills params[0..8] (name, display_name,
 * secrets JSON, trigger, hook_secret, command JSON, config_files JSON,
 * docs_url, retired) pointing into p or into the lists kept in *keep.
 */
static int
platform_check(json_object *p, const char **params, json_object **keep,
    struct err *e)
{
	json_object	*secrets = NULL, *command = NULL, *files = NULL, *v;
	int		 retired;
	size_t		 i;

	keep[0] = keep[1] = keep[2] = NULL;
	if (!json_object_is_type(p, json_type_object))
		return err_set(e, ERR_INVALID_FIELD, "a platform is an object");
	if (json_only_keys(p, platform_fields, e) == -1 ||
	    json_get_str(p, "name", true, 32, &params[0], e) == -1)
		return -1;
	if (!platform_name_valid(params[0])) {
		err_set(e, ERR_INVALID_FIELD, "'%.40s' is not a platform name",
		    params[0]);
		err_hint(e, "lower-case letters, digits and -, 1 to 32,"
		    " starting with a letter");
		return -1;
	}
	if (json_get_str(p, "display_name", true, PLATFORM_DISPLAY_MAX,
	    &params[1], e) == -1)
		return -1;
	if (*params[1] == '\0')
		return err_set(e, ERR_INVALID_FIELD, "display_name is empty");
	if ((secrets = json_get_strarray(p, "secrets", PLATFORM_SECRETS_MAX,
	    SECRET_NAME_MAX, secret_name_valid, e)) == NULL)
		goto fail;
	if (json_get_str(p, "trigger", true, 16, &params[3], e) == -1)
		goto fail;
	if (strcmp(params[3], "hook") != 0 &&
	    strcmp(params[3], "command") != 0 &&
	    strcmp(params[3], "manual") != 0) {
		err_set(e, ERR_INVALID_FIELD, "trigger must be hook, command or"
		    " manual");
		goto fail;
	}
	if (json_get_str(p, "hook_secret", false, SECRET_NAME_MAX, &params[4],
	    e) == -1)
		goto fail;
	if ((strcmp(params[3], "hook") == 0) != (params[4] != NULL)) {
		err_set(e, ERR_INVALID_FIELD, "hook_secret goes with trigger"
		    " hook, and only with it");
		err_hint(e, "name the secret that holds the deploy hook's URL");
		goto fail;
	}
	if (params[4] != NULL) {
		for (i = 0; i < json_object_array_length(secrets); i++)
			if (strcmp(json_object_get_string(
			    json_object_array_get_idx(secrets, i)), params[4]) ==
			    0)
				break;
		if (i == json_object_array_length(secrets)) {
			err_set(e, ERR_INVALID_FIELD, "hook_secret '%s' is not"
			    " one of the platform's secrets", params[4]);
			goto fail;
		}
	}
	if (json_object_object_get_ex(p, "command", &v) &&
	    !json_object_is_type(v, json_type_null)) {
		if ((command = json_get_strarray(p, "command",
		    PLATFORM_ARGV_MAX, PLATFORM_ARG_LEN, NULL, e)) == NULL)
			goto fail;
		if (json_object_array_length(command) == 0) {
			err_set(e, ERR_INVALID_FIELD, "command needs at least"
			    " the program to run");
			goto fail;
		}
	}
	if ((strcmp(params[3], "command") == 0) != (command != NULL)) {
		err_set(e, ERR_INVALID_FIELD, "command goes with trigger"
		    " command, and only with it");
		err_hint(e, "an argv: [\"flyctl\", \"deploy\"]; secrets reach"
		    " it as environment variables");
		goto fail;
	}
	if ((files = json_get_strarray(p, "config_files", PLATFORM_FILES_MAX,
	    PLATFORM_FILE_LEN, config_file_valid, e)) == NULL)
		goto fail;
	if (json_get_str(p, "docs_url", false, 2048, &params[7], e) == -1)
		goto fail;
	if (params[7] != NULL && !http_url_valid(params[7])) {
		err_set(e, ERR_INVALID_FIELD, "docs_url must be an http(s)"
		    " URL");
		goto fail;
	}
	if (json_get_bool(p, "retired", &retired, e) == -1)
		goto fail;
	params[8] = retired == 1 ? "true" : "false";
	keep[0] = secrets;
	keep[1] = command;
	keep[2] = files;
	params[2] = json_object_to_json_string(secrets);
	params[5] = command != NULL ? json_object_to_json_string(command) :
	    NULL;
	params[6] = json_object_to_json_string(files);
	return 0;
fail:
	json_object_put(secrets);
	json_object_put(command);
	json_object_put(files);
	return -1;
}

static void
keep_free(json_object **keep)
{
	json_object_put(keep[0]);
	json_object_put(keep[1]);
	json_object_put(keep[2]);
}

static const char platform_insert[] =
	"INSERT INTO platforms (name, display_name, secrets, trigger,"
	" hook_secret, command, config_files, docs_url, retired)"
	" VALUES ($1, $2, ss_text_array($3::jsonb), $4, $5,"
	" ss_text_array($6::jsonb), ss_text_array($7::jsonb), $8, $9::boolean)";

/* -- the seed file ----------------------------------------------------- */

static json_object *
yaml_node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_object		*o;
	yaml_node_item_t	*it;
	yaml_node_pair_t	*pr;
	yaml_node_t		*k;

	if (n == NULL || depth > 8)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (strcmp((char *)n->data.scalar.value, "~") == 0 ||
		    strcmp((char *)n->data.scalar.value, "null") == 0 ||
		    n->data.scalar.length == 0))
			return NULL;
		if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
		    (strcmp((char *)n->data.scalar.value, "true") == 0 ||
		    strcmp((char *)n->data.scalar.value, "false") == 0))
			return json_object_new_boolean(
			    n->data.scalar.value[0] == 't');
		return json_object_new_string_len(
		    (const char *)n->data.scalar.value,
		    (int)n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		o = json_object_new_array();
		for (it = n->data.sequence.items.start;
		    it < n->data.sequence.items.top; it++)
			json_object_array_add(o, yaml_node_json(doc,
			    yaml_document_get_node(doc, *it), depth + 1));
		return o;
	case YAML_MAPPING_NODE:
		o = json_object_new_object();
		for (pr = n->data.mapping.pairs.start;
		    pr < n->data.mapping.pairs.top; pr++) {
			k = yaml_document_get_node(doc, pr->key);
			if (k == NULL || k->type != YAML_SCALAR_NODE)
				continue;
			json_object_object_add(o, (const char *)
			    k->data.scalar.value, yaml_node_json(doc,
			    yaml_document_get_node(doc, pr->value), depth + 1));
		}
		return o;
	default:
		return NULL;
	}
}

/*
 * The platforms of a seed file, each checked as the API would: a list
 * of {"line", "platform"} or NULL with an error naming file:line:column.
 */
json_object *
platform_file_load(const char *path, struct err *e)
{
	yaml_parser_t	 parser;
	yaml_document_t	 doc;
	yaml_node_t	*root, *k, *seq, *item;
	yaml_node_pair_t *pr;
	yaml_node_item_t *it;
	json_object	*list = NULL, *p, *keep[3], *entry;
	const char	*params[9];
	FILE		*f;
	struct err	 sub;

	if ((f = fopen(path, "r")) == NULL) {
		err_set(e, ERR_CONFIG, "%s: %s", path, strerror(errno));
		return NULL;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		err_set(e, ERR_CONFIG, "%s:%zu:%zu: %s", path,
		    parser.problem_mark.line + 1,
		    parser.problem_mark.column + 1,
		    parser.problem != NULL ? parser.problem : "not YAML");
		yaml_parser_delete(&parser);
		fclose(f);
		return NULL;
	}
	root = yaml_document_get_root_node(&doc);
	seq = NULL;
	if (root != NULL && root->type == YAML_MAPPING_NODE)
		for (pr = root->data.mapping.pairs.start;
		    pr < root->data.mapping.pairs.top; pr++) {
			k = yaml_document_get_node(&doc, pr->key);
			if (k != NULL && k->type == YAML_SCALAR_NODE &&
			    strcmp((char *)k->data.scalar.value,
			    "platforms") == 0)
				seq = yaml_document_get_node(&doc, pr->value);
			else if (k != NULL) {
				err_set(e, ERR_CONFIG, "%s:%zu:%zu: unknown key"
				    " '%.40s' (the file holds platforms:)",
				    path, k->start_mark.line + 1,
				    k->start_mark.column + 1,
				    (char *)k->data.scalar.value);
				goto out;
			}
		}
	if (seq == NULL || seq->type != YAML_SEQUENCE_NODE) {
		err_set(e, ERR_CONFIG, "%s:%zu:%zu: expected platforms: followed"
		    " by a list", path, root != NULL ? root->start_mark.line +
		    1 : 1, root != NULL ? root->start_mark.column + 1 : 1);
		goto out;
	}
	list = json_object_new_array();
	for (it = seq->data.sequence.items.start;
	    it < seq->data.sequence.items.top; it++) {
		item = yaml_document_get_node(&doc, *it);
		p = yaml_node_json(&doc, item, 0);
		err_clear(&sub);
		if (p == NULL || platform_check(p, params, keep, &sub) == -1) {
			err_set(e, ERR_CONFIG, "%s:%zu:%zu: %s", path,
			    item->start_mark.line + 1,
			    item->start_mark.column + 1, p == NULL ?
			    "a platform is a mapping" : sub.message);
			json_object_put(p);
			json_object_put(list);
			list = NULL;
			goto out;
		}
		keep_free(keep);
		entry = json_object_new_object();
		json_object_object_add(entry, "line",
		    json_object_new_int((int)item->start_mark.line + 1));
		json_object_object_add(entry, "platform", p);
		json_object_array_add(list, entry);
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return list;
}

/* Adds the file's platforms the database does not have; *added says how
 * many.  An admin's edits are never overwritten, and a platform an admin
 * deleted stays deleted. */
int
platform_seed(struct db_pool *pool, const char *path, int *added,
    struct err *e)
{
	json_object	*list, *keep[3];
	const char	*params[9];
	PGresult	*res;
	size_t		 i;
	int		 rc = 0;

	*added = 0;
	if ((list = platform_file_load(path, e)) == NULL)
		return -1;
	for (i = 0; i < json_object_array_length(list) && rc == 0; i++) {
		if (platform_check(json_object_object_get(
		    json_object_array_get_idx(list, i), "platform"), params,
		    keep, e) == -1) {
			rc = -1;
			break;
		}
		res = db_exec(pool, e, "INSERT INTO platforms (name,"
		    " display_name, secrets, trigger, hook_secret, command,"
		    " config_files, docs_url, retired) SELECT $1, $2,"
		    " ss_text_array($3::jsonb), $4, $5, ss_text_array($6::jsonb),"
		    " ss_text_array($7::jsonb), $8, $9::boolean"
		    " WHERE NOT EXISTS (SELECT 1 FROM platforms_deleted"
		    " WHERE name = $1)"
		    " ON CONFLICT (name) DO NOTHING RETURNING name", 9, params);
		keep_free(keep);
		if (res == NULL)
			rc = -1;
		else {
			*added += PQntuples(res);
			PQclear(res);
		}
	}
	json_object_put(list);
	return rc;
}

/* -- the admin API ----------------------------------------------------- */

static json_object *
platform_get(PGconn *c, const char *name, struct err *e)
{
	const char	*params[1] = { name };
	char		 sql[sizeof(platform_select) + 64];
	PGresult	*res;
	json_object	*row;

	/* A name that cannot be one (bytes PostgreSQL would refuse as text
	 * among them) names nothing. */
	if (!platform_name_valid(name)) {
		err_set(e, ERR_NOT_FOUND, "no platform '%.40s'", name);
		utf8_sanitize(e->message);
		return NULL;
	}
	snprintf(sql, sizeof(sql), "%s WHERE pl.name = $1", platform_select);
	if ((res = db_query(c, e, sql, 1, params)) == NULL)
		return NULL;
	if (PQntuples(res) == 0) {
		PQclear(res);
		err_set(e, ERR_NOT_FOUND, "no platform '%.40s'", name);
		err_hint(e, "GET /api/v1/admin/platforms lists them");
		return NULL;
	}
	row = json_from_row(res, 0);
	PQclear(res);
	return row;
}

json_object *
platform_list(const struct core *core, struct err *e)
{
	char		 sql[sizeof(platform_select) + 32];
	PGresult	*res;
	json_object	*rows, *data;
	char		 text[64];

	snprintf(sql, sizeof(sql), "%s ORDER BY pl.name", platform_select);
	if ((res = db_exec(core->pool, e, sql, 0, NULL)) == NULL)
		return NULL;
	rows = json_from_rows(res);
	PQclear(res);
	snprintf(text, sizeof(text), "%zu platforms",
	    json_object_array_length(rows));
	data = json_object_new_object();
	json_object_object_add(data, "platforms", rows);
	return json_ok(text, data, NULL);
}

json_object *
platform_show(const struct core *core, const char *name, struct err *e)
{
	PGconn		*c;
	json_object	*row;
	char		 text[96];

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	row = platform_get(c, name, e);
	db_release(core->pool, c);
	if (row == NULL)
		return NULL;
	snprintf(text, sizeof(text), "Platform %s.", name);
	return json_ok(text, row, NULL);
}

/* Writes p (checked whole) as a new platform, or over the one named. */
static json_object *
platform_write(const struct core *core, const struct actor *who,
    const char *name, json_object *p, json_object *changes, struct err *e)
{
	json_object	*keep[3], *row = NULL;
	const char	*params[10];
	PGconn		*c = NULL;
	char		 sql[512], text[128];

	if (platform_check(p, params, keep, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		goto out;
	if (name == NULL)
		strlcpy_ss(sql, platform_insert, sizeof(sql));
	else {
		params[9] = name;
		snprintf(sql, sizeof(sql), "UPDATE platforms SET name = $1,"
		    " display_name = $2, secrets = ss_text_array($3::jsonb),"
		    " trigger = $4, hook_secret = $5,"
		    " command = ss_text_array($6::jsonb),"
		    " config_files = ss_text_array($7::jsonb), docs_url = $8,"
		    " retired = $9::boolean, updated_at = now()"
		    " WHERE name = $10");
	}
	if (db_begin(c, e) == -1)
		goto out;
	if (db_run(c, e, sql, name == NULL ? 9 : 10, params) == -1 ||
	    db_run(c, e, "DELETE FROM platforms_deleted WHERE name = $1", 1,
	    params) == -1) {
		db_rollback(c);
		if (db_unique_violation(e)) {
			err_set(e, ERR_NAME_TAKEN, "a platform named '%s'"
			    " exists", params[0]);
			err_hint(e, "choose another name, or change that one");
		}
		goto out;
	}
	if (audit_write(c, who, name == NULL ? "platform.added" :
	    "platform.changed", "platform", params[0], json_object_get(
	    changes), e) == -1 || db_commit(c, e) == -1) {
		db_rollback(c);
		goto out;
	}
	if ((row = platform_get(c, params[0], e)) != NULL) {
		snprintf(text, sizeof(text), "Platform %s %s.", params[0],
		    name == NULL ? "added" : "changed");
		row = json_ok(text, row, NULL);
	}
out:
	keep_free(keep);
	if (c != NULL)
		db_release(core->pool, c);
	return row;
}

json_object *
platform_add(const struct core *core, const struct actor *who,
    json_object *body, struct err *e)
{
	if (!json_object_is_type(body, json_type_object)) {
		err_set(e, ERR_INVALID_FIELD, "a platform is an object");
		return NULL;
	}
	return platform_write(core, who, NULL, body, body, e);
}

json_object *
platform_change(const struct core *core, const struct actor *who,
    const char *name, json_object *changes, struct err *e)
{
	json_object	*cur, *merged, *answer;
	PGconn		*c;

	if (!json_object_is_type(changes, json_type_object) ||
	    json_object_object_length(changes) == 0) {
		err_set(e, ERR_INVALID_FIELD, "the body must name at least one"
		    " field");
		err_hint(e, "for example {\"retired\": true}");
		return NULL;
	}
	if (json_only_keys(changes, platform_fields, e) == -1)
		return NULL;
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	cur = platform_get(c, name, e);
	db_release(core->pool, c);
	if (cur == NULL)
		return NULL;
	/* The stored platform with the changes laid over it; a new trigger
	 * drops what belonged to the old one unless it is given. */
	merged = cur;
	json_object_object_del(merged, "projects");
	if (json_object_object_get_ex(changes, "trigger", NULL)) {
		if (!json_object_object_get_ex(changes, "hook_secret", NULL))
			json_object_object_del(merged, "hook_secret");
		if (!json_object_object_get_ex(changes, "command", NULL))
			json_object_object_del(merged, "command");
	}
	json_object_object_foreach(changes, key, val)
		json_object_object_add(merged, key, json_object_get(val));
	answer = platform_write(core, who, name, merged, changes, e);
	json_object_put(merged);
	return answer;
}

json_object *
platform_delete(const struct core *core, const struct actor *who,
    const char *name, struct err *e)
{
	const char	*params[1] = { name };
	PGconn		*c;
	PGresult	*res = NULL;
	json_object	*answer = NULL, *data;
	char		 text[96];

	if (!platform_name_valid(name)) {
		err_set(e, ERR_NOT_FOUND, "no such platform");
		return NULL;
	}
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (db_begin(c, e) == -1)
		goto out;
	/* The row lock keeps a project from choosing it meanwhile. */
	res = db_query(c, e, "SELECT (SELECT count(*) FROM projects p"
	    " WHERE p.deployment_platform = pl.name) FROM platforms pl"
	    " WHERE pl.name = $1 FOR UPDATE", 1, params);
	if (res == NULL)
		goto fail;
	if (PQntuples(res) == 0) {
		err_set(e, ERR_NOT_FOUND, "no platform '%.40s'", name);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0) {
		err_set(e, ERR_PLATFORM_IN_USE, "%s projects use platform %s",
		    PQgetvalue(res, 0, 0), name);
		goto fail;
	}
	if (db_run(c, e, "DELETE FROM platforms WHERE name = $1", 1,
	    params) == -1 || db_run(c, e, "INSERT INTO platforms_deleted"
	    " (name) VALUES ($1) ON CONFLICT (name) DO UPDATE SET deleted_at"
	    " = now()", 1, params) == -1 || audit_write(c, who, "platform.deleted",
	    "platform", name, NULL, e) == -1 || db_commit(c, e) == -1)
		goto fail;
	snprintf(text, sizeof(text), "Platform %s deleted.", name);
	data = json_object_new_object();
	json_object_object_add(data, "name", json_object_new_string(name));
	answer = json_ok(text, data, NULL);
	goto out;
fail:
	db_rollback(c);
out:
	PQclear(res);
	db_release(core->pool, c);
	return answer;
}
