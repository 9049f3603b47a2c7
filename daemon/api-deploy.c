/* api-deploy.c: a project's deployment (docs/deployment.md), and the
 * admin's list of projects by deployment. */
#include "daemon.h"

int
request_project(struct request *rq, struct response *rs, char *project)
{
	struct err	e;

	err_clear(&e);
	if (request_ref(rq, NULL, project, &e) == -1) {
		reply_error(rs, &e);
		return -1;
	}
	return 0;
}

void
api_deployment_show(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, deploy_show(&rq->core, project, &e), &e);
}

void
api_deployment_set(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, deploy_set(&rq->core, &rq->actor, project, body, &e),
	    &e);
	json_object_put(body);
}

void
api_deployment_readiness(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, deploy_readiness(&rq->core, project, &e), &e);
}

void
api_admin_projects(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	reply_answer(rs, deploy_admin_projects(&rq->core,
	    request_query(rq, "status"), request_query(rq, "platform"),
	    request_query(rq, "sponsor"), request_query(rq, "after"),
	    request_query(rq, "limit"), &e), &e);
}

void
api_deployment_deploy(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, deploy_request(&rq->core, &rq->actor, project,
		    &e), &e);
}

void
api_deployment_mark(struct request *rq, struct response *rs)
{
	struct err	 e;
	json_object	*body;
	char		 project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == -1 ||
	    request_json(rq, rs, &body) == -1)
		return;
	reply_answer(rs, deploy_mark(&rq->core, &rq->actor, project, body, &e),
	    &e);
	json_object_put(body);
}

void
api_deployments_list(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, deploy_list(&rq->core, project,
		    request_query(rq, "limit"), request_query(rq, "before"),
		    &e), &e);
}

void
api_deployment_get(struct request *rq, struct response *rs)
{
	struct err	e;
	char		project[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_project(rq, rs, project) == 0)
		reply_answer(rs, deploy_get(&rq->core, project, rq->params[2],
		    &e), &e);
}
