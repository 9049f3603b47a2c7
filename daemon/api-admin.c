/* api-admin.c: /api/v1/admin: agents, the audit log, the reconciliation,
 * project rules and merges. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define AUDIT_DEFAULT_LIMIT	100
#define AUDIT_MAX_LIMIT		1000

void
api_admin_agents(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*rows, *data;
	char		 text[64];

	err_clear(&e);
	if ((rows = agent_list(rq->pool, request_query(rq, "status"), &e)) ==
	    NULL) {
		reply_error(rs, &e);
		return;
	}
	snprintf(text, sizeof(text), "%zu agents",
	    json_object_array_length(rows));
	data = json_object_new_object();
	json_object_object_add(data, "agents", rows);
	reply_json(rs, 200, json_ok(text, data, NULL));
}

static void
admin_transition(struct request *rq, struct response *rs,
    int (*fn)(const struct core *, const struct actor *, const char *,
    struct agent *, struct agent_change *, struct err *), const char *verb)
{
	struct agent_change	 change;
	struct agent		 a;
	struct err		 e;
	json_object		*data;
	char			 text[256];

	err_clear(&e);
	if (fn(&rq->core, &rq->actor, rq->params[0], &a, &change, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	snprintf(text, sizeof(text), "Agent '%s' %s; it is now %s.%s%s", a.name,
	    verb, a.status,
	    strcmp(change.gitea, "blocked") == 0 ? " Its Gitea user is blocked"
	    " (token revoked, login prohibited)." :
	    strcmp(change.gitea, "blocking") == 0 ? " Gitea could not be told"
	    " yet: its Gitea user will be blocked as soon as Gitea answers." :
	    strcmp(change.gitea, "open") == 0 ? " Its Gitea user may log in,"
	    " with a fresh token." : "",
	    change.released > 0 ? " Its claims were released." : "");
	data = agent_to_json(&a);
	json_object_object_add(data, "gitea", json_object_new_string(
	    change.gitea));
	json_object_object_add(data, "released",
	    json_object_new_int(change.released));
	reply_json(rs, 200, json_ok(text, data, NULL));
}

void
api_admin_agent_approve(struct request *rq, struct response *rs)
{
	admin_transition(rq, rs, agent_approve, "approved");
}

void
api_admin_agent_suspend(struct request *rq, struct response *rs)
{
	admin_transition(rq, rs, agent_suspend, "suspended");
}

void
api_admin_audit(struct request *rq, struct response *rs)
{
	const char	*s = request_query(rq, "limit");
	struct err	 e;
	json_object	*rows, *data;
	char		*end;
	long		 limit = AUDIT_DEFAULT_LIMIT;

	err_clear(&e);
	if (s != NULL) {
		limit = strtol(s, &end, 10);
		if (*s == '\0' || *end != '\0' || limit < 1 ||
		    limit > AUDIT_MAX_LIMIT) {
			err_set(&e, ERR_INVALID_FIELD, "limit must be a number"
			    " from 1 to %d", AUDIT_MAX_LIMIT);
			reply_error(rs, &e);
			return;
		}
	}
	if ((rows = audit_list(rq->pool, limit, request_query(rq, "project"),
	    &e)) == NULL) {
		reply_error(rs, &e);
		return;
	}
	data = json_object_new_object();
	json_object_object_add(data, "entries", rows);
	reply_json(rs, 200, json_ok("audit log, newest first", data, NULL));
}

/* Reconcile with Gitea now, and say what it did. */
void
api_admin_sync(struct request *rq, struct response *rs)
{
	struct mirror_report	 rep;
	struct err		 e;
	json_object		*data;
	char			 text[160];

	err_clear(&e);
	if (mirror_run(&rq->core, &rep, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	if (rep.ran)
		snprintf(text, sizeof(text), "Reconciled %ld projects: %ld"
		    " changed items, %ld Gitea calls.", rep.projects, rep.items,
		    rep.gitea_calls);
	else
		snprintf(text, sizeof(text), "Another synstackd is reconciling"
		    " now; nothing done.");
	data = json_object_new_object();
	json_object_object_add(data, "ran", json_object_new_boolean(rep.ran));
	json_object_object_add(data, "projects",
	    json_object_new_int64(rep.projects));
	json_object_object_add(data, "items", json_object_new_int64(rep.items));
	json_object_object_add(data, "gitea_calls",
	    json_object_new_int64(rep.gitea_calls));
	reply_json(rs, 200, json_ok(text, data, NULL));
}

/* The rules of one project: GET shows them, PUT changes some. */
void
api_admin_policy(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body = NULL, *answer;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_ref(rq, NULL, project, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	if (strcmp(rq->method, "PUT") == 0) {
		if (request_json(rq, rs, &body) == -1)
			return;
		answer = policy_set(&rq->core, &rq->actor, project, body, &e);
		json_object_put(body);
	} else
		answer = policy_show(&rq->core, project, &e);
	if (answer == NULL)
		reply_error(rs, &e);
	else
		reply_json(rs, 200, answer);
}

/* An admin merges a PR whose rule holds (SPEC.md section 6). */
void
api_admin_merge(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*answer;
	char		 pull[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_ref(rq, "pull request", pull, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	if ((answer = pull_merge_admin(&rq->core, &rq->actor, pull, &e)) ==
	    NULL)
		reply_error(rs, &e);
	else
		reply_json(rs, 200, answer);
}
