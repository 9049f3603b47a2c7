/*
 * policy.c: the work rules of one project (SPEC.md section 6).  Each rule
 * has an instance default in synstack.yaml (work.*) and may be overridden
 * per project by an admin; a NULL column in project_policies means "the
 * default", so a changed default reaches every project that kept it.
 * One table of rules serves loading, showing and changing them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

enum rule_type { RULE_INT, RULE_BOOL, RULE_STYLE, RULE_CHECKS };

static const struct rule {
	const char	*name;		/* in the API and the column */
	enum rule_type	 type;
	size_t		 offset;	/* in struct policy */
	long		 min, max;
} rules[] = {
	{ "max_claims", RULE_INT, offsetof(struct policy, max_claims), 1, 100 },
	{ "claim_ttl_seconds", RULE_INT, offsetof(struct policy, claim_ttl),
	  60, 31536000 },
	{ "required_approvals", RULE_INT,
	  offsetof(struct policy, required_approvals), 1, 20 },
	{ "dismiss_stale_approvals", RULE_BOOL,
	  offsetof(struct policy, dismiss_stale_approvals), 0, 0 },
	{ "review_rate", RULE_INT, offsetof(struct policy, review_rate), 1,
	  100000 },
	{ "auto_merge", RULE_BOOL, offsetof(struct policy, auto_merge), 0, 0 },
	{ "merge_style", RULE_STYLE, offsetof(struct policy, merge_style), 0, 0 },
	{ "required_checks", RULE_CHECKS,
	  offsetof(struct policy, required_checks), 0, 0 },
};
#define NRULES	(sizeof(rules) / sizeof(rules[0]))

static const char *const merge_styles[] = {
	"merge", "rebase", "rebase-merge", "squash", NULL
};

static void
policy_defaults(const struct conf *conf, struct policy *p)
{
	memset(p, 0, sizeof(*p));
	p->max_claims = conf->work_max_claims;
	p->claim_ttl = conf->work_claim_ttl / 1000;
	p->required_approvals = conf->work_required_approvals;
	p->dismiss_stale_approvals = conf->work_dismiss_stale_approvals;
	p->review_rate = conf->work_review_rate;
	p->auto_merge = conf->work_auto_merge;
	strlcpy_ss(p->merge_style, conf->work_merge_style,
	    sizeof(p->merge_style));
	strlcpy_ss(p->required_checks, conf->work_required_checks_json,
	    sizeof(p->required_checks));
}

int
policy_checks_rule(const char *const *names, size_t n, char *out,
    size_t size, struct err *e)
{
	json_object	*a;
	size_t		 i, j, len;

	if (n == 0 || n > 20)
		return err_set(e, ERR_INVALID_FIELD, "required_checks names"
		    " none, reported, or 1 to 20 check contexts");
	for (i = 0; i < n; i++) {
		if ((strcmp(names[i], "none") == 0 ||
		    strcmp(names[i], "reported") == 0) && n > 1)
			return err_set(e, ERR_INVALID_FIELD, "required_checks:"
			    " '%s' stands alone", names[i]);
		len = strlen(names[i]);
		if (len == 0 || len > CHECKS_CONTEXT_MAX ||
		    !utf8_valid(names[i], len))
			return err_set(e, ERR_INVALID_FIELD, "required_checks:"
			    " a check context has 1 to %d characters",
			    CHECKS_CONTEXT_MAX);
		for (j = 0; j < len; j++)
			if ((unsigned char)names[i][j] < ' ')
				return err_set(e, ERR_INVALID_FIELD,
				    "required_checks: '%.60s' holds a control"
				    " character", names[i]);
	}
	a = json_object_new_array();
	for (i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(names[i]));
	strlcpy_ss(out, json_object_to_json_string_ext(a,
	    JSON_C_TO_STRING_PLAIN), size);
	json_object_put(a);
	return 0;
}

/* One column of a project_policies row onto the policy; NULL keeps the
 * default. */
static void
rule_apply(const struct rule *r, const char *v, struct policy *p)
{
	char	*f = (char *)p + r->offset;

	if (v == NULL)
		return;
	switch (r->type) {
	case RULE_INT:
		*(long *)f = strtol(v, NULL, 10);
		break;
	case RULE_BOOL:
		*(bool *)f = v[0] == 't';
		break;
	case RULE_STYLE:
		strlcpy_ss(f, v, sizeof(p->merge_style));
		break;
	case RULE_CHECKS:
		strlcpy_ss(f, v, sizeof(p->required_checks));
		break;
	}
}

static const char policy_sql[] = "SELECT max_claims, claim_ttl_seconds,"
    " required_approvals, dismiss_stale_approvals, review_rate, auto_merge,"
    " merge_style, required_checks FROM project_policies WHERE project_id = $1";

int
policy_load(PGconn *c, const struct conf *conf, const char *project,
    struct policy *p, struct err *e)
{
	const char	*params[1] = { project };
	PGresult	*res;
	size_t		 i;

	policy_defaults(conf, p);
	if ((res = db_query(c, e, policy_sql, 1, params)) == NULL)
		return -1;
	for (i = 0; PQntuples(res) > 0 && i < NRULES; i++)
		rule_apply(&rules[i], PQgetisnull(res, 0, (int)i) ? NULL :
		    PQgetvalue(res, 0, (int)i), p);
	PQclear(res);
	return 0;
}

static json_object *
rule_json(const struct rule *r, const struct policy *p)
{
	const char	*f = (const char *)p + r->offset;

	json_object	*a, *one;

	switch (r->type) {
	case RULE_INT:
		return json_object_new_int64(*(const long *)f);
	case RULE_BOOL:
		return json_object_new_boolean(*(const bool *)f);
	case RULE_CHECKS:
		/* "none" and "reported" as words, contexts as a list. */
		if ((a = json_tokener_parse(f)) == NULL)
			return json_object_new_string("reported");
		one = json_object_array_get_idx(a, 0);
		if (json_object_array_length(a) == 1 && (strcmp(
		    json_object_get_string(one), "none") == 0 || strcmp(
		    json_object_get_string(one), "reported") == 0)) {
			one = json_object_get(one);
			json_object_put(a);
			return one;
		}
		return a;
	default:
		return json_object_new_string(f);
	}
}

/* {"project", "policy": effective rules, "overrides": the project's own} */
static json_object *
policy_answer(PGconn *c, const struct conf *conf, const struct ref *r,
    const char *name, const char *verb, struct err *e)
{
	struct policy	 p, def;
	const char	*params[1] = { r->project_id };
	json_object	*rules_j, *over, *data;
	PGresult	*res;
	char		 msg[1024];
	size_t		 i, off;

	if (policy_load(c, conf, r->project_id, &p, e) == -1 ||
	    (res = db_query(c, e, policy_sql, 1, params)) == NULL)
		return NULL;
	policy_defaults(conf, &def);
	rules_j = json_object_new_object();
	over = json_object_new_object();
	off = (size_t)snprintf(msg, sizeof(msg), "%s the rules of %s:", verb,
	    name);
	for (i = 0; i < NRULES; i++) {
		json_object_object_add(rules_j, rules[i].name,
		    rule_json(&rules[i], &p));
		if (PQntuples(res) > 0 && !PQgetisnull(res, 0, (int)i))
			json_object_object_add(over, rules[i].name,
			    rule_json(&rules[i], &p));
		if (off < sizeof(msg))
			off += (size_t)snprintf(msg + off, sizeof(msg) - off,
			    " %s=%s%s", rules[i].name, json_object_to_json_string(
			    json_object_object_get(rules_j, rules[i].name)),
			    PQntuples(res) > 0 && !PQgetisnull(res, 0, (int)i) ?
			    " (project)" : "");
	}
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "project", json_object_new_string(name));
	json_object_object_add(data, "policy", rules_j);
	json_object_object_add(data, "overrides", over);
	return json_ok(msg, data, NULL);
}

json_object *
policy_show(const struct core *core, const char *text, struct err *e)
{
	struct ref	 r;
	char		 name[256];
	json_object	*answer = NULL;
	PGconn		*c;

	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == 0)
		answer = policy_answer(c, core->conf, &r, name, "These are", e);
	db_release(core->pool, c);
	return answer;
}

/* required_checks from JSON: "none", "reported" or a list of contexts. */
static int
checks_value(json_object *v, char *buf, size_t size, const char **out,
    struct err *e)
{
	const char	*names[21];
	size_t		 i, n = 0;

	if (json_object_is_type(v, json_type_string) &&
	    (strcmp(json_object_get_string(v), "none") == 0 ||
	    strcmp(json_object_get_string(v), "reported") == 0))
		names[n++] = json_object_get_string(v);
	else if (json_object_is_type(v, json_type_array) &&
	    json_object_array_length(v) <= 20) {
		for (i = 0; i < json_object_array_length(v); i++) {
			json_object *x = json_object_array_get_idx(v, i);

			if (!json_object_is_type(x, json_type_string))
				return err_set(e, ERR_INVALID_FIELD,
				    "required_checks lists check contexts as"
				    " strings");
			names[n++] = json_object_get_string(x);
		}
	} else
		return err_set(e, ERR_INVALID_FIELD, "required_checks is"
		    " \"none\", \"reported\" or a list of up to 20 check"
		    " contexts");
	if (policy_checks_rule(names, n, buf, size, e) == -1)
		return -1;
	*out = buf;
	return 0;
}

/* A value for one rule from JSON, as text for SQL; NULL clears it. */
static int
rule_value(const struct rule *r, json_object *v, char *buf, size_t size,
    const char **out, struct err *e)
{
	size_t		 i;
	int64_t		 n;

	*out = NULL;
	if (v == NULL)
		return 0;
	switch (r->type) {
	case RULE_INT:
		if (!json_object_is_type(v, json_type_int))
			break;
		n = json_object_get_int64(v);
		if (n < r->min || n > r->max)
			return err_set(e, ERR_INVALID_FIELD, "'%s' must be %ld to"
			    " %ld", r->name, r->min, r->max);
		snprintf(buf, size, "%lld", (long long)n);
		*out = buf;
		return 0;
	case RULE_BOOL:
		if (!json_object_is_type(v, json_type_boolean))
			break;
		*out = json_object_get_boolean(v) ? "true" : "false";
		return 0;
	case RULE_STYLE:
		if (!json_object_is_type(v, json_type_string))
			break;
		for (i = 0; merge_styles[i] != NULL; i++)
			if (strcmp(merge_styles[i], json_object_get_string(v)) ==
			    0) {
				*out = merge_styles[i];
				return 0;
			}
		return err_set(e, ERR_INVALID_FIELD, "'%s' must be merge,"
		    " rebase, rebase-merge or squash", r->name);
	case RULE_CHECKS:
		return checks_value(v, buf, size, out, e);
	}
	return err_set(e, ERR_INVALID_FIELD, "'%s' must be %s or null", r->name,
	    r->type == RULE_INT ? "an integer" : r->type == RULE_BOOL ?
	    "true or false" : "a string");
}

/* The open PRs of the project under its new rules: an approval that no
 * longer suffices must not let a PR merge. */
static int
policy_reapply(PGconn *c, const struct conf *conf, const char *project,
    struct err *e)
{
	const char	*params[1] = { project };
	PGresult	*res;
	int		 i, rc = 0;

	if ((res = db_query(c, e, "SELECT id FROM pull_requests WHERE"
	    " project_id = $1 AND state = 'open' ORDER BY id", 1, params)) ==
	    NULL)
		return -1;
	for (i = 0; i < PQntuples(res) && rc == 0; i++)
		rc = pull_refresh(c, conf, PQgetvalue(res, i, 0), e);
	PQclear(res);
	return rc;
}

/*
 * Changes the rules named in the object: a value overrides, null returns
 * to the instance default; unnamed rules stay.  All or nothing.
 */
json_object *
policy_set(const struct core *core, const struct actor *who, const char *text,
    json_object *changes, struct err *e)
{
	struct ref	 r;
	json_object	*answer = NULL;
	const char	*params[1 + NRULES];
	char		 name[256], nums[NRULES][24], sql[2048],
			 checks[CHECKS_RULE_MAX];
	size_t		 i, n = 0, off, set_off;
	PGconn		*c;
	char		 set[1024];

	if (!json_object_is_type(changes, json_type_object) ||
	    json_object_object_length(changes) == 0) {
		err_set(e, ERR_INVALID_FIELD, "the body must name at least one"
		    " rule");
		err_hint(e, "for example {\"required_approvals\": 2}");
		return NULL;
	}
	json_object_object_foreach(changes, key, val) {
		(void)val;
		for (i = 0; i < NRULES; i++)
			if (strcmp(rules[i].name, key) == 0)
				break;
		if (i == NRULES) {
			err_set(e, ERR_INVALID_FIELD, "no rule '%.40s'", key);
			err_hint(e, "rules: max_claims, claim_ttl_seconds,"
			    " required_approvals, dismiss_stale_approvals,"
			    " review_rate, auto_merge, merge_style,"
			    " required_checks");
			return NULL;
		}
	}
	off = (size_t)snprintf(sql, sizeof(sql), "INSERT INTO project_policies"
	    " (project_id");
	set_off = (size_t)snprintf(set, sizeof(set), "updated_at = now()");
	for (i = 0; i < NRULES; i++) {
		json_object	*v;

		if (!json_object_object_get_ex(changes, rules[i].name, &v))
			continue;
		if (rules[i].type == RULE_CHECKS ? rule_value(&rules[i], v,
		    checks, sizeof(checks), &params[1 + n], e) == -1 :
		    rule_value(&rules[i], v, nums[n], sizeof(nums[n]),
		    &params[1 + n], e) == -1)
			return NULL;
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, ", %s",
		    rules[i].name);
		set_off += (size_t)snprintf(set + set_off, sizeof(set) - set_off,
		    ", %s = EXCLUDED.%s", rules[i].name, rules[i].name);
		n++;
	}
	off += (size_t)snprintf(sql + off, sizeof(sql) - off, ") VALUES ($1");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(sql + off, sizeof(sql) - off, ", $%zu",
		    i + 2);
	snprintf(sql + off, sizeof(sql) - off, ") ON CONFLICT (project_id) DO"
	    " UPDATE SET %s", set);
	if ((c = db_acquire(core->pool, e)) == NULL)
		return NULL;
	if (ref_named_project(c, text, &r, name, sizeof(name), e) == -1)
		goto out;
	params[0] = r.project_id;
	if (db_begin(c, e) == -1 || db_run(c, e, sql, (int)(1 + n), params) ==
	    -1 || policy_reapply(c, core->conf, r.project_id, e) == -1 ||
	    audit_write(c, who, "project.policy", "project", r.project_id,
	    json_object_get(changes), e) == -1 || db_commit(c, e) == -1)
		goto out;
	answer = policy_answer(c, core->conf, &r, name, "Changed", e);
out:
	db_release(core->pool, c);
	return answer;
}
