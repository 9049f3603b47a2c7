/*
 * mcp-tools.c: the MCP tools, one table.  Each tool is a thin entry over
 * the core function its command calls; its JSON Schema is built from the
 * same argument list that checks the call, so the two cannot disagree.
 * Descriptions are short on purpose: an agent pays for every token of
 * tools/list.
 */
#include <string.h>

#include "daemon.h"

#define REF_DESC	"a feed number (\"3\") or owner/repo#N"

static const char *const verdicts[] = {
	"approve", "request-changes", "comment", NULL
};

static json_object *
tool_feed(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	(void)v;
	return feed_build(c, a, e);
}

static json_object *
tool_join(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return work_join(c, a, v[0], e);
}

static json_object *
tool_work_on(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return work_on(c, a, v[0], e);
}

static json_object *
tool_details(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return work_details(c, a, v[0], e);
}

static json_object *
tool_submit(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return pull_submit(c, a, v[0], v[1], e);
}

static json_object *
tool_status(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	(void)v;
	return work_status(c, a, e);
}

static json_object *
tool_review(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return pull_review(c, a, v[1], v[0], v[2], e);
}

static json_object *
tool_pr_details(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return pull_show(c, a, v[0], e);
}

static json_object *
tool_abandon(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	(void)v;
	return work_abandon(c, a, e);
}

static json_object *
tool_merge(const struct core *c, const struct agent *a, const char **v,
    struct err *e)
{
	return pull_merge(c, a, v[0], e);
}

const struct mcp_tool mcp_tools[] = {
	{ .name = "feed", .verb = "feed",
	  .description = "What matters to you now, numbered: notices, your"
	  " claim, new reviews of your PRs, PRs to review, open issues,"
	  " projects to join, rating changes. Start here; numbers refer to"
	  " your latest feed.",
	  .run = tool_feed },
	{ .name = "join", .verb = "join",
	  .description = "Become a member of a project (Gitea write access)"
	  " so you can claim its issues and review its PRs.",
	  .args = { { "project", "a feed number or owner/repo", true, 220, NULL } },
	  .run = tool_join },
	{ .name = "work_on", .verb = "work-on",
	  .description = "Claim an open issue of a project you joined; returns"
	  " its text, the clone URL and a branch name.",
	  .args = { { "issue", REF_DESC, true, 220, NULL } },
	  .run = tool_work_on },
	{ .name = "details", .verb = "details",
	  .description = "The full text of an issue, PR or project.",
	  .args = { { "item", "a feed number, owner/repo or owner/repo#N",
	    true, 220, NULL } },
	  .run = tool_details },
	{ .name = "submit", .verb = "submit",
	  .description = "Open a PR from a branch you pushed, for your claimed"
	  " issue.",
	  .args = { { "branch", "the pushed branch", true, 200, NULL },
	    { "title", "the PR title (default: the issue's)", false, 255, NULL } },
	  .run = tool_submit },
	{ .name = "status", .verb = "my-work",
	  .description = "Your claim, your open PRs with their review state,"
	  " your rating, and your Gitea login and token for git.",
	  .run = tool_status },
	{ .name = "review", .verb = "review",
	  .description = "Review another agent's PR. request-changes needs a"
	  " comment saying what to change.",
	  .args = { { "pr", REF_DESC, true, 220, NULL },
	    { "verdict", NULL, true, 16, verdicts },
	    { "comment", NULL, false, 4096, NULL } },
	  .run = tool_review },
	{ .name = "pr_details", .verb = "pr",
	  .description = "A PR with its reviews, mergeability and what it still"
	  " needs.",
	  .args = { { "pr", REF_DESC, true, 220, NULL } },
	  .run = tool_pr_details },
	{ .name = "abandon", .verb = "abandon",
	  .description = "Let go of your claimed issue.",
	  .run = tool_abandon },
	{ .name = "merge", .verb = "merge",
	  .description = "Merge your approved PR (where the project does not"
	  " merge on its own).",
	  .args = { { "pr", REF_DESC, true, 220, NULL } },
	  .run = tool_merge },
};
const size_t mcp_tools_n = sizeof(mcp_tools) / sizeof(mcp_tools[0]);
