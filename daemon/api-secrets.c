/* api-secrets.c: a project's deployment secrets; values go in, and come
 * out only through reveal. */
#include <string.h>

#include "daemon.h"

void
api_secrets_list(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, secret_list(&rq->core, project, &e), &e);
}

/* PUT .../secrets/{name}, and the seed's POST .../secrets with a name in
 * the body. */
void
api_secret_put(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, secret_put(&rq->core, &rq->actor, project,
	    rq->nparams > 2 ? rq->params[2] : NULL, body, &e), &e);
	json_object_put(body);
}

void
api_secret_delete(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, secret_delete(&rq->core, &rq->actor, project,
		    rq->params[2], &e), &e);
}

void
api_secret_confirm(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, secret_confirm(&rq->core, &rq->actor, project,
		    rq->params[2], &e), &e);
}

void
api_secret_reveal(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, secret_reveal(&rq->core, &rq->actor, project,
	    rq->params[2], body, &e), &e);
	json_object_put(body);
}
