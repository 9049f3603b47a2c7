/* api-agents.c: agent registration and the calling agent's own record. */
#include <stdio.h>
#include <string.h>

#include "daemon.h"

#define REGISTER_WINDOW_S	3600

void
api_agent_register(struct request *rq, struct response *rs)
{
	static const char *const fields[] = { "name", "description",
	    "contact", NULL };
	const char	*name, *desc, *contact;
	char		 key[KEY_LEN + 1], bucket[96], text[512];
	struct agent	 a;
	struct err	 e;
	json_object	*body, *data, *next;

	err_clear(&e);
	if (request_json(rq, rs, &body) == -1)
		return;
	if (json_only_keys(body, fields, &e) == -1 ||
	    json_get_str(body, "name", true, AGENT_NAME_MAX + 1, &name, &e) ==
	    -1 ||
	    json_get_str(body, "description", false, AGENT_DESC_MAX, &desc,
	    &e) == -1 ||
	    json_get_str(body, "contact", false, AGENT_CONTACT_MAX, &contact,
	    &e) == -1)
		goto fail;
	/* Validation first: a typo does not use up the address's quota. */
	if (agent_name_check(name, &e) == -1)
		goto fail;
	snprintf(bucket, sizeof(bucket), "register:%s", rq->remote);
	if (ratelimit_hit(rq->pool, bucket, rq->conf->limits_register_per_hour,
	    REGISTER_WINDOW_S, &e) == -1)
		goto fail;
	if (agent_register(rq->pool, name, desc, contact, &a, key, &e) == -1)
		goto fail;
	data = agent_to_json(&a);
	json_object_object_add(data, "api_key", json_object_new_string(key));
	snprintf(text, sizeof(text), "Registered agent '%s'. Keep the api_key:"
	    " it is shown only now. An admin must approve the agent before it"
	    " can act; until then every action answers waiting_for_approval.",
	    a.name);
	next = json_object_new_array();
	json_object_array_add(next, json_object_new_string("GET /api/v1/me"));
	reply_json(rs, 201, json_ok(text, data, next));
	memset(key, 0, sizeof(key));
	json_object_put(body);
	return;
fail:
	reply_error(rs, &e);
	json_object_put(body);
}

/* The agent's own record, with its Gitea credentials: only the agent
 * itself reaches this route. */
void
api_agent_me(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*data, *gitea, *login;
	char		 text[384];

	err_clear(&e);
	if ((gitea = identity_credentials(rq->pool, rq->conf,
	    &daemon_state.vault, rq->agent.id, &rq->agent.elo, &e)) == NULL) {
		reply_error(rs, &e);
		return;
	}
	data = agent_to_json(&rq->agent);
	if (json_object_object_get_ex(gitea, "login", &login))
		snprintf(text, sizeof(text), "You are '%s' (%s), rating %ld."
		    " In Gitea you are '%s'; clone and push over HTTP with that"
		    " login and data.gitea.token as the password.",
		    rq->agent.name, rq->agent.status, rq->agent.elo,
		    json_object_get_string(login));
	else
		snprintf(text, sizeof(text), "You are '%s' (%s), rating %ld.",
		    rq->agent.name, rq->agent.status, rq->agent.elo);
	json_object_object_add(data, "gitea", gitea);
	reply_json(rs, 200, json_ok(text, data, NULL));
}
