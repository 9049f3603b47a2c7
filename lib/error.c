/* error.c: the one table of error codes every front end answers with. */
#include <stdio.h>
#include <string.h>

#include "synstack.h"

const struct err_def err_table[ERR__COUNT] = {
	[ERR_NONE] = { ERR_NONE, "ok", 200, "no error", "" },
	[ERR_BAD_REQUEST] = { ERR_BAD_REQUEST, "bad_request", 400,
	    "the request is not valid",
	    "check the request against the API description at /api/v1/openapi.json" },
	[ERR_MALFORMED_JSON] = { ERR_MALFORMED_JSON, "malformed_json", 400,
	    "the body is not valid JSON",
	    "send one UTF-8 JSON object with Content-Type: application/json" },
	[ERR_INVALID_FIELD] = { ERR_INVALID_FIELD, "invalid_field", 400,
	    "a field of the request is not valid",
	    "fix the named field and send the request again" },
	[ERR_UNKNOWN_COMMAND] = { ERR_UNKNOWN_COMMAND, "unknown_command", 400,
	    "unknown command", "run `help` for the list of commands" },
	[ERR_UNAUTHORIZED] = { ERR_UNAUTHORIZED, "unauthorized", 401,
	    "missing or unknown credentials",
	    "send Authorization: Bearer <key>; agents get a key from POST /api/v1/agents" },
	[ERR_FORBIDDEN] = { ERR_FORBIDDEN, "forbidden", 403,
	    "this credential may not do that", "ask an admin" },
	[ERR_WAITING_APPROVAL] = { ERR_WAITING_APPROVAL, "waiting_for_approval",
	    403, "agent is waiting for approval",
	    "an admin must approve this agent first; try again later" },
	[ERR_SUSPENDED] = { ERR_SUSPENDED, "agent_suspended", 403,
	    "agent is suspended", "ask an admin of this SynStack instance" },
	[ERR_NOT_FOUND] = { ERR_NOT_FOUND, "not_found", 404,
	    "no such object", "check the name or id" },
	[ERR_METHOD_NOT_ALLOWED] = { ERR_METHOD_NOT_ALLOWED,
	    "method_not_allowed", 405, "method not allowed on this path",
	    "use one of the methods in the Allow header" },
	[ERR_NAME_TAKEN] = { ERR_NAME_TAKEN, "name_taken", 409,
	    "that name is taken", "choose another name" },
	[ERR_ISSUE_TAKEN] = { ERR_ISSUE_TAKEN, "issue_taken", 409,
	    "the issue is claimed by another agent",
	    "run `feed` for open issues" },
	[ERR_CLAIM_LIMIT] = { ERR_CLAIM_LIMIT, "claim_limit", 409,
	    "you hold as many issues as you may",
	    "finish with `submit`, or `abandon` one" },
	[ERR_CONFLICT] = { ERR_CONFLICT, "conflict", 409,
	    "the object changed meanwhile", "read it again and retry" },
	[ERR_BODY_TOO_LARGE] = { ERR_BODY_TOO_LARGE, "body_too_large", 413,
	    "the request body is too large", "send a smaller body" },
	[ERR_URI_TOO_LONG] = { ERR_URI_TOO_LONG, "uri_too_long", 414,
	    "the request's URI is too long", "send fewer query parameters" },
	[ERR_UNSUPPORTED_MEDIA] = { ERR_UNSUPPORTED_MEDIA,
	    "unsupported_media_type", 415, "the body must be JSON",
	    "send Content-Type: application/json" },
	[ERR_HEADERS_TOO_LARGE] = { ERR_HEADERS_TOO_LARGE,
	    "headers_too_large", 431, "the request has too many headers",
	    "send fewer or shorter header lines" },
	[ERR_NOT_ACCEPTABLE] = { ERR_NOT_ACCEPTABLE, "not_acceptable", 406,
	    "no answer of a type the client accepts",
	    "send Accept: application/json, text/event-stream" },
	[ERR_INVALID_TRANSITION] = { ERR_INVALID_TRANSITION,
	    "invalid_transition", 422, "that state change is not possible",
	    "read the object's current state first" },
	[ERR_NOT_MEMBER] = { ERR_NOT_MEMBER, "not_a_member", 422,
	    "you are not a member of the project", "run `join <project>` first" },
	[ERR_ISSUE_CLOSED] = { ERR_ISSUE_CLOSED, "issue_closed", 422,
	    "the issue is closed", "run `feed` for open issues" },
	[ERR_NOTHING_CLAIMED] = { ERR_NOTHING_CLAIMED, "nothing_claimed", 422,
	    "you hold no issue", "run `feed`, then `work-on <issue>`" },
	[ERR_PROJECT_CLOSED] = { ERR_PROJECT_CLOSED, "project_closed", 422,
	    "the project is archived or gone from Gitea",
	    "run `feed` for projects you can join" },
	[ERR_OWN_PR] = { ERR_OWN_PR, "own_pr", 422,
	    "you cannot review your own pull request",
	    "run `feed` for PRs waiting for your review" },
	[ERR_PR_CLOSED] = { ERR_PR_CLOSED, "pr_closed", 422,
	    "the pull request is closed", "run `feed` for open PRs" },
	[ERR_NOT_APPROVED] = { ERR_NOT_APPROVED, "not_approved", 422,
	    "the pull request lacks approvals on its current head",
	    "run `pr <pr>` to see what it still needs" },
	[ERR_CHECKS_PENDING] = { ERR_CHECKS_PENDING, "checks_pending", 422,
	    "the checks of the pull request's head have not all passed yet",
	    "wait for CI, then merge; `pr <pr>` shows each check" },
	[ERR_CHECKS_FAILED] = { ERR_CHECKS_FAILED, "checks_failed", 422,
	    "a check of the pull request's head failed",
	    "fix it and push: the checks run again on the new head" },
	[ERR_RATE_LIMITED] = { ERR_RATE_LIMITED, "rate_limited", 429,
	    "too many requests", "wait for the number of seconds in Retry-After" },
	[ERR_NOT_READY] = { ERR_NOT_READY, "not_ready", 422,
	    "the project is not ready to deploy",
	    "add what the message says is missing, then ask again" },
	[ERR_NEEDS_SPONSOR] = { ERR_NEEDS_SPONSOR, "needs_sponsor", 422,
	    "the project has no active sponsor covering hosting",
	    "add a sponsor with covers_hosting, or make one active again" },
	[ERR_NEEDS_PLATFORM] = { ERR_NEEDS_PLATFORM, "needs_platform", 422,
	    "the project has no deployment platform",
	    "set one first: {\"platform\": \"fly\"}" },
	[ERR_UNKNOWN_PLATFORM] = { ERR_UNKNOWN_PLATFORM, "unknown_platform",
	    422, "no such platform, or it is retired",
	    "GET /api/v1/admin/platforms lists the platforms" },
	[ERR_PLATFORM_IN_USE] = { ERR_PLATFORM_IN_USE, "platform_in_use", 409,
	    "projects still use that platform",
	    "retire it instead: {\"retired\": true}" },
	[ERR_SECRET_UNREADABLE] = { ERR_SECRET_UNREADABLE,
	    "secret_unreadable", 409, "a stored secret does not open",
	    "set the secret again, or restore the master key it was sealed"
	    " under" },
	[ERR_NO_VALUE] = { ERR_NO_VALUE, "no_value", 422,
	    "the secret is BYOK: no value is stored here",
	    "its owner sets it on the platform" },
	[ERR_GITEA_REFUSED] = { ERR_GITEA_REFUSED, "gitea_refused", 422,
	    "Gitea refused the change", "read Gitea's message; fix the request" },
	[ERR_GITEA_UNAVAILABLE] = { ERR_GITEA_UNAVAILABLE, "gitea_unavailable",
	    502, "Gitea did not answer", "try again in a minute" },
	[ERR_DB_UNAVAILABLE] = { ERR_DB_UNAVAILABLE, "database_unavailable",
	    503, "the database is unavailable", "try again in a few seconds" },
	[ERR_SHUTTING_DOWN] = { ERR_SHUTTING_DOWN, "shutting_down", 503,
	    "the daemon is shutting down", "try again in a few seconds" },
	[ERR_NOT_CONFIGURED] = { ERR_NOT_CONFIGURED, "not_configured", 503,
	    "synstackd is not configured for this",
	    "an administrator must complete synstack.yaml" },
	[ERR_CONFIG] = { ERR_CONFIG, "config_invalid", 0,
	    "the configuration is not valid", "see synstack.yaml(5)" },
	[ERR_INTERNAL] = { ERR_INTERNAL, "internal", 500,
	    "internal error", "this is a bug in synstackd; it has been logged" },
};

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return -1;
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	e->code = code;
	e->retry_after = 0;
	e->detail[0] = '\0';
	if (fmt == NULL)
		strlcpy_ss(e->message, err_table[code].message,
		    sizeof(e->message));
	else {
		va_start(ap, fmt);
		vsnprintf(e->message, sizeof(e->message), fmt, ap);
		va_end(ap);
		/* Messages quote input, and "%.64s" may cut a character. */
		utf8_sanitize(e->message);
	}
	strlcpy_ss(e->hint, err_table[code].hint, sizeof(e->hint));
	return -1;
}

void
err_hint(struct err *e, const char *fmt, ...)
{
	va_list	ap;

	if (e == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(e->hint, sizeof(e->hint), fmt, ap);
	va_end(ap);
	utf8_sanitize(e->hint);
}

void
err_clear(struct err *e)
{
	if (e != NULL)
		memset(e, 0, sizeof(*e));
}

const char *
err_name(enum err_code code)
{
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	return err_table[code].name;
}

int
err_status(enum err_code code)
{
	if ((unsigned)code >= ERR__COUNT)
		code = ERR_INTERNAL;
	return err_table[code].status;
}

json_object *
err_to_json(const struct err *e)
{
	json_object	*root, *obj;

	obj = json_object_new_object();
	json_object_object_add(obj, "code",
	    json_object_new_string(err_name(e->code)));
	json_object_object_add(obj, "message",
	    json_object_new_string(e->message[0] != '\0' ? e->message :
	    err_table[e->code < ERR__COUNT ? e->code : ERR_INTERNAL].message));
	json_object_object_add(obj, "hint", json_object_new_string(e->hint));
	root = json_object_new_object();
	json_object_object_add(root, "ok", json_object_new_boolean(0));
	json_object_object_add(root, "error", obj);
	return root;
}
