/* api-act.c: POST /api/v1/act, the command form agents type. */
#include "daemon.h"

void
api_act(struct request *rq, struct response *rs)
{
	static const char *const fields[] = { "command", NULL };
	struct command_ctx	 ctx = { &rq->core, &rq->agent };
	const char		*line;
	struct err		 e;
	json_object		*body, *answer;

	err_clear(&e);
	if (request_json(rq, rs, &body) == -1)
		return;
	if (json_only_keys(body, fields, &e) == -1 ||
	    json_get_str(body, "command", true, COMMAND_MAX_LINE, &line,
	    &e) == -1 || (answer = command_run(&ctx, line, &e)) == NULL)
		reply_error(rs, &e);
	else
		reply_json(rs, 200, answer);
	json_object_put(body);
}
