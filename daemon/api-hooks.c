/* api-hooks.c: POST /hooks/gitea, where Gitea delivers its webhooks. */
#include "daemon.h"

static const char *
header(struct request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

void
api_gitea_hook(struct request *rq, struct response *rs)
{
	struct webhook		 w;
	enum webhook_outcome	 outcome;
	struct err		 e;
	json_object		*data;

	err_clear(&e);
	w.delivery = header(rq, "X-Gitea-Delivery");
	w.event = header(rq, "X-Gitea-Event");
	w.event_type = header(rq, "X-Gitea-Event-Type");
	w.signature = header(rq, "X-Gitea-Signature");
	w.body = rq->body != NULL ? rq->body : "";
	w.len = rq->body_len;
	if (webhook_receive(rq->pool, rq->conf, &w, &outcome, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	data = json_object_new_object();
	json_object_object_add(data, "outcome",
	    json_object_new_string(webhook_outcome_name(outcome)));
	reply_json(rs, 200, json_ok(webhook_outcome_name(outcome), data, NULL));
}
