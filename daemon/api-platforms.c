/* api-platforms.c: the platform catalog, for admins. */
#include "daemon.h"

void
api_platforms_list(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	reply_answer(rs, platform_list(&rq->core, &e), &e);
}

void
api_platform_add(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;

	err_clear(&e);
	if (request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, platform_add(&rq->core, &rq->actor, body, &e), &e);
	json_object_put(body);
}

void
api_platform_show(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	reply_answer(rs, platform_show(&rq->core, rq->params[0], &e), &e);
}

void
api_platform_change(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;

	err_clear(&e);
	if (request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, platform_change(&rq->core, &rq->actor, rq->params[0],
	    body, &e), &e);
	json_object_put(body);
}

void
api_platform_delete(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	reply_answer(rs, platform_delete(&rq->core, &rq->actor, rq->params[0],
	    &e), &e);
}
