/* api-sponsors.c: a project's sponsors and their tokens. */
#include <string.h>

#include "daemon.h"

void
api_sponsors_list(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, sponsor_list(&rq->core, project, rq->admin,
		    &e), &e);
}

void
api_sponsor_add(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, sponsor_add(&rq->core, &rq->actor, rq->admin, project,
	    body, &e), &e);
	json_object_put(body);
}

/* PUT replaces every field; PATCH changes those given. */
void
api_sponsor_change(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, sponsor_change(&rq->core, &rq->actor, project,
	    rq->params[2], strcmp(rq->method, "PUT") == 0, body, &e), &e);
	json_object_put(body);
}

void
api_sponsor_tokens(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, sponsor_tokens(&rq->core, project,
		    rq->params[2], &e), &e);
}

void
api_sponsor_token_issue(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, sponsor_token_issue(&rq->core, &rq->actor,
		    project, rq->params[2], &e), &e);
}

void
api_sponsor_token_revoke(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, sponsor_token_revoke(&rq->core, &rq->actor,
		    project, rq->params[2], rq->params[3], &e), &e);
}
