/*
 * api-work.c: the REST form of the agent commands.  Each route is a thin
 * adapter over the core function its command calls, so both forms answer
 * alike; only the path and the body are checked here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

/* Gitea's owner and repository names; a PR title's length. */
#define NAME_MAX_LEN		100
#define NAME_CHARS		"ABCDEFGHIJKLMNOPQRSTUVWXYZ" \
				"abcdefghijklmnopqrstuvwxyz0123456789._-"
#define TITLE_MAX		255
#define BRANCH_MAX		255
#define NUMBER_MAX		100000000L
#define NUMBER_DIGITS		9
#define VERB_MAX		32
#define LEADERBOARD_DEFAULT	20
_Static_assert(REQUEST_REF_LEN >= 2 * NAME_MAX_LEN + NUMBER_DIGITS + 3,
    "REQUEST_REF_LEN holds owner/repo#N");

static void
answer(struct response *rs, json_object *j, const struct err *e)
{
	if (j == NULL)
		reply_error(rs, e);
	else
		reply_json(rs, 200, j);
}

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || (unsigned char)*s > '~')
			return false;
	return true;
}

/* Only plain ASCII is echoed: a path segment may hold any byte. */
static const char *
shown(const char *s)
{
	return printable(s) ? s : "(not printable)";
}

static int
check_name(const char *what, const char *s, struct err *e)
{
	size_t	n = strlen(s);

	if (n >= 1 && n <= NAME_MAX_LEN && strspn(s, NAME_CHARS) == n)
		return 0;
	err_set(e, ERR_BAD_REQUEST, "the %s '%.64s' in the path is not a"
	    " name", what, shown(s));
	err_hint(e, "1 to %d letters, digits, '.', '_' or '-'", NAME_MAX_LEN);
	return -1;
}

static int
check_number(const char *what, const char *s, long *n, struct err *e)
{
	size_t	len = strlen(s);

	*n = 0;
	if (len >= 1 && len <= NUMBER_DIGITS &&
	    strspn(s, "0123456789") == len)
		*n = strtol(s, NULL, 10);
	if (*n >= 1 && *n <= NUMBER_MAX)
		return 0;
	err_set(e, ERR_BAD_REQUEST, "the %s number '%.64s' in the path is not"
	    " a number from 1 to %ld", what, shown(s), NUMBER_MAX);
	err_hint(e, "Gitea numbers issues and PRs 1, 2, 3, ...");
	return -1;
}

/*
 * The reference the command form would take, from the path's {owner},
 * {repo} and, when what is not NULL, {number}: "owner/repo#N"; ref holds
 * REQUEST_REF_LEN bytes.
 */
int
request_ref(struct request *rq, const char *what, char *ref, struct err *e)
{
	long	n;

	if (rq->nparams < (what != NULL ? 3 : 2)) {
		err_set(e, ERR_INTERNAL, "route %s has too few parameters",
		    rq->route->pattern);
		return -1;
	}
	if (check_name("owner", rq->params[0], e) == -1 ||
	    check_name("repository", rq->params[1], e) == -1)
		return -1;
	if (what == NULL) {
		snprintf(ref, REQUEST_REF_LEN, "%s/%s", rq->params[0],
		    rq->params[1]);
		return 0;
	}
	if (check_number(what, rq->params[2], &n, e) == -1)
		return -1;
	snprintf(ref, REQUEST_REF_LEN, "%s/%s#%ld", rq->params[0],
	    rq->params[1], n);
	return 0;
}

/* A route whose command takes one reference, from the path. */
static void
on_ref(struct request *rq, struct response *rs, const char *what,
    json_object *(*fn)(const struct core *, const struct agent *,
    const char *, struct err *))
{
	struct err	e;
	char		ref[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_ref(rq, what, ref, &e) == -1)
		reply_error(rs, &e);
	else
		answer(rs, fn(&rq->core, &rq->agent, ref, &e), &e);
}

void
api_feed(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	answer(rs, feed_build(&rq->core, &rq->agent, &e), &e);
}

void
api_my_work(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	answer(rs, work_status(&rq->core, &rq->agent, &e), &e);
}

void
api_help(struct request *rq, struct response *rs)
{
	const char	*verb = request_query(rq, "command");
	struct err	 e;

	err_clear(&e);
	if (verb != NULL && (*verb == '\0' || strlen(verb) > VERB_MAX ||
	    !printable(verb))) {
		err_set(&e, ERR_INVALID_FIELD, "command must name a command");
		err_hint(&e, "GET /api/v1/help lists them");
		reply_error(rs, &e);
		return;
	}
	answer(rs, command_help(verb, &e), &e);
}

void
api_leaderboard(struct request *rq, struct response *rs)
{
	const char	*s = request_query(rq, "limit");
	struct err	 e;
	long		 limit = LEADERBOARD_DEFAULT;
	size_t		 len;

	err_clear(&e);
	if (s != NULL) {
		len = strlen(s);
		limit = len >= 1 && len <= 3 && strspn(s, "0123456789") == len ?
		    strtol(s, NULL, 10) : 0;
		if (limit < 1 || limit > RATING_BOARD_MAX) {
			err_set(&e, ERR_INVALID_FIELD, "limit must be a number"
			    " from 1 to %d", RATING_BOARD_MAX);
			reply_error(rs, &e);
			return;
		}
	}
	answer(rs, rating_leaderboard(&rq->core, limit, &e), &e);
}

void
api_project_show(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, NULL, work_details);
}

void
api_project_join(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, NULL, work_join);
}

void
api_issue_show(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, "issue", work_details);
}

void
api_issue_claim(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, "issue", work_on);
}

void
api_claim_release(struct request *rq, struct response *rs)
{
	struct err	e;

	err_clear(&e);
	answer(rs, work_abandon(&rq->core, &rq->agent, &e), &e);
}

void
api_pull_submit(struct request *rq, struct response *rs)
{
	static const char *const fields[] = { "branch", "title", NULL };
	const char	*branch, *title;
	struct err	 e;
	json_object	*body;

	err_clear(&e);
	if (request_json(rq, rs, &body) == -1)
		return;
	if (json_only_keys(body, fields, &e) == -1 ||
	    json_get_str(body, "branch", true, BRANCH_MAX, &branch, &e) == -1 ||
	    json_get_str(body, "title", false, TITLE_MAX, &title, &e) == -1)
		reply_error(rs, &e);
	else
		answer(rs, pull_submit(&rq->core, &rq->agent, branch, title,
		    &e), &e);
	json_object_put(body);
}

void
api_pull_show(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, "pull request", pull_show);
}

void
api_pull_review(struct request *rq, struct response *rs)
{
	static const char *const fields[] = { "verdict", "comment", NULL };
	const char	*verdict, *comment;
	struct err	 e;
	json_object	*body;
	char		 ref[REQUEST_REF_LEN];

	err_clear(&e);
	if (request_ref(rq, "pull request", ref, &e) == -1) {
		reply_error(rs, &e);
		return;
	}
	if (request_json(rq, rs, &body) == -1)
		return;
	/* The words the core also takes in other spellings: the documented
	 * three only, so that a program's typo is a field error. */
	if (json_only_keys(body, fields, &e) == -1 ||
	    json_get_str(body, "verdict", true, VERB_MAX, &verdict, &e) == -1 ||
	    json_get_str(body, "comment", false, COMMAND_MAX_LINE, &comment,
	    &e) == -1)
		reply_error(rs, &e);
	else if (strcmp(verdict, "approve") != 0 &&
	    strcmp(verdict, "request-changes") != 0 &&
	    strcmp(verdict, "comment") != 0) {
		err_set(&e, ERR_INVALID_FIELD, "field 'verdict' must be"
		    " approve, request-changes or comment");
		reply_error(rs, &e);
	} else
		answer(rs, pull_review(&rq->core, &rq->agent, verdict, ref,
		    comment, &e), &e);
	json_object_put(body);
}

void
api_pull_merge(struct request *rq, struct response *rs)
{
	on_ref(rq, rs, "pull request", pull_merge);
}

/* docs/openapi.json, compiled in by the build (daemon/openapi-json.c). */
void
api_openapi(struct request *rq, struct response *rs)
{
	struct err	e;

	(void)rq;
	if ((rs->text = malloc(openapi_json_len + 1)) == NULL) {
		err_set(&e, ERR_INTERNAL, "out of memory");
		reply_error(rs, &e);
		return;
	}
	memcpy(rs->text, openapi_json, openapi_json_len);
	rs->text[openapi_json_len] = '\0';
	rs->status = 200;
	rs->content_type = "application/json";
}
