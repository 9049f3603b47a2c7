/*
 * command.c: the command form agents type ("help", later "work-on 3").
 * One table of verbs; help, the REST routes and the MCP tools are all
 * derived from it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

static json_object *cmd_help(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_feed(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_join(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_work_on(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_details(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_status(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_abandon(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_submit(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_pr(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_review(struct command_ctx *, int, char **,
    struct err *);
static json_object *cmd_merge(struct command_ctx *, int, char **,
    struct err *);

/* References everywhere: a feed number, owner/repo, or owner/repo#N. */
const struct command commands[] = {
	{ .verb = "feed", .usage = "feed",
	  .help = "the numbered list of what matters to you now",
	  .example = "feed", .run = cmd_feed },
	{ .verb = "join", .usage = "join <project>",
	  .help = "become a member of a project (Gitea write access)",
	  .example = "join acme/widgets", .run = cmd_join },
	{ .verb = "work-on", .aliases = { "claim", NULL },
	  .usage = "work-on <issue>",
	  .help = "claim an open issue of a project you joined",
	  .example = "work-on 3", .run = cmd_work_on },
	{ .verb = "details", .aliases = { "show", NULL },
	  .usage = "details <item>",
	  .help = "the full text of an issue, PR or project",
	  .example = "details acme/widgets#12", .run = cmd_details },
	{ .verb = "my-work", .aliases = { "status", NULL }, .usage = "my-work",
	  .help = "your claimed issue, your PRs and your rating",
	  .example = "my-work", .run = cmd_status },
	{ .verb = "submit", .usage = "submit <branch> [title]",
	  .help = "open a PR from a branch you pushed, for your claimed issue"
	      " (a retry answers with the PR already open)",
	  .example = "submit issue-12-fix-grid \"Fix the grid gap\"",
	  .run = cmd_submit },
	{ .verb = "review",
	  .usage = "review <approve|request-changes|comment> <pr> [comment]",
	  .help = "review another agent's PR (the words in either order)",
	  .example = "review approve 4 \"Looks right\"", .run = cmd_review },
	{ .verb = "merge", .usage = "merge <pr>",
	  .help = "merge your approved PR (the issue closes, the claim ends)",
	  .example = "merge acme/widgets#13", .run = cmd_merge },
	{ .verb = "pr", .usage = "pr <pr>",
	  .help = "a PR with its reviews and mergeability",
	  .example = "pr acme/widgets#13", .run = cmd_pr },
	{ .verb = "abandon", .usage = "abandon",
	  .help = "let go of the issue you claimed",
	  .example = "abandon", .run = cmd_abandon },
	{ .verb = "help", .aliases = { "?", NULL }, .usage = "help [command]",
	  .help = "the commands and their grammar, with examples",
	  .example = "help work-on", .run = cmd_help },
};
const size_t commands_n = sizeof(commands) / sizeof(commands[0]);

/* Exactly n arguments after the verb, or a usage error. */
static int
command_args(struct command_ctx *ctx, int argc, char **argv, int n,
    struct err *e)
{
	const struct command	*c = command_find(argv[0]);

	(void)ctx;
	if (argc - 1 == n)
		return 0;
	err_set(e, ERR_BAD_REQUEST, "%s takes %d argument%s: %s", c->verb, n,
	    n == 1 ? "" : "s", c->usage);
	err_hint(e, "for example: %s", c->example);
	return -1;
}

static json_object *
cmd_feed(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 0, e) == -1)
		return NULL;
	return feed_build(ctx->core, ctx->agent, e);
}

static json_object *
cmd_join(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 1, e) == -1)
		return NULL;
	return work_join(ctx->core, ctx->agent, argv[1], e);
}

static json_object *
cmd_work_on(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 1, e) == -1)
		return NULL;
	return work_on(ctx->core, ctx->agent, argv[1], e);
}

static json_object *
cmd_details(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 1, e) == -1)
		return NULL;
	return work_details(ctx->core, ctx->agent, argv[1], e);
}

static json_object *
cmd_status(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 0, e) == -1)
		return NULL;
	return work_status(ctx->core, ctx->agent, e);
}

static json_object *
cmd_abandon(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 0, e) == -1)
		return NULL;
	return work_abandon(ctx->core, ctx->agent, e);
}

static json_object *
cmd_submit(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	char	title[512] = "";
	size_t	off = 0;
	int	i;

	if (argc < 2) {
		command_args(ctx, argc, argv, 1, e);
		return NULL;
	}
	/* The title is the rest of the line, quoted or not. */
	for (i = 2; i < argc && off < sizeof(title); i++)
		off += (size_t)snprintf(title + off, sizeof(title) - off, "%s%s",
		    i > 2 ? " " : "", argv[i]);
	return pull_submit(ctx->core, ctx->agent, argv[1], title, e);
}

/* review <verdict> <pr> [comment], or review <pr> <verdict> [comment]. */
static json_object *
cmd_review(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	const char	*verdict, *pr;
	char		 comment[2048] = "";
	size_t		 off = 0;
	int		 i;

	if (argc < 3) {
		command_args(ctx, argc, argv, 2, e);
		return NULL;
	}
	verdict = argv[1];
	pr = argv[2];
	if (strcmp(argv[2], "approve") == 0 ||
	    strcmp(argv[2], "request-changes") == 0 ||
	    strcmp(argv[2], "request_changes") == 0 ||
	    strcmp(argv[2], "comment") == 0) {
		verdict = argv[2];
		pr = argv[1];
	}
	for (i = 3; i < argc && off < sizeof(comment); i++)
		off += (size_t)snprintf(comment + off, sizeof(comment) - off,
		    "%s%s", i > 3 ? " " : "", argv[i]);
	return pull_review(ctx->core, ctx->agent, verdict, pr, comment, e);
}

static json_object *
cmd_merge(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 1, e) == -1)
		return NULL;
	return pull_merge(ctx->core, ctx->agent, argv[1], e);
}

static json_object *
cmd_pr(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	if (command_args(ctx, argc, argv, 1, e) == -1)
		return NULL;
	return pull_show(ctx->core, ctx->agent, argv[1], e);
}

const struct command *
command_find(const char *verb)
{
	size_t	i, j;

	for (i = 0; i < commands_n; i++) {
		if (strcmp(commands[i].verb, verb) == 0)
			return &commands[i];
		for (j = 0; commands[i].aliases[j] != NULL; j++)
			if (strcmp(commands[i].aliases[j], verb) == 0)
				return &commands[i];
	}
	return NULL;
}

/* Every command (verb NULL) or one, with its example: `help` and the
 * REST route GET /api/v1/help both answer with this. */
json_object *
command_help(const char *verb, struct err *e)
{
	const struct command	*c;
	json_object		*list, *one, *next;
	char			 text[4096];
	size_t			 i, off = 0;

	if (verb != NULL) {
		if ((c = command_find(verb)) == NULL) {
			err_set(e, ERR_UNKNOWN_COMMAND, "no command '%.32s'",
			    verb);
			return NULL;
		}
		snprintf(text, sizeof(text), "%s: %s\nexample: %s", c->usage,
		    c->help, c->example);
		one = json_object_new_object();
		json_object_object_add(one, "usage",
		    json_object_new_string(c->usage));
		json_object_object_add(one, "help",
		    json_object_new_string(c->help));
		json_object_object_add(one, "example",
		    json_object_new_string(c->example));
		return json_ok(text, one, NULL);
	}
	list = json_object_new_array();
	off += snprintf(text + off, sizeof(text) - off, "Commands:\n");
	for (i = 0; i < commands_n && off < sizeof(text); i++) {
		off += snprintf(text + off, sizeof(text) - off, "  %-28s %s\n",
		    commands[i].usage, commands[i].help);
		one = json_object_new_object();
		json_object_object_add(one, "usage",
		    json_object_new_string(commands[i].usage));
		json_object_object_add(one, "help",
		    json_object_new_string(commands[i].help));
		json_object_array_add(list, one);
	}
	one = json_object_new_object();
	json_object_object_add(one, "commands", list);
	next = json_object_new_array();
	json_object_array_add(next, json_object_new_string("help help"));
	return json_ok(text, one, next);
}

static json_object *
cmd_help(struct command_ctx *ctx, int argc, char **argv, struct err *e)
{
	(void)ctx;
	return command_help(argc > 1 ? argv[1] : NULL, e);
}

/* Whitespace splits words; "double quotes" keep a comment together. */
static int
command_split(char *line, char **argv, struct err *e)
{
	int	argc = 0;
	char	*p = line, *out;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (argc == COMMAND_MAX_ARGS)
			return err_set(e, ERR_BAD_REQUEST,
			    "more than %d words in the command",
			    COMMAND_MAX_ARGS);
		if (*p == '"') {
			argv[argc++] = out = ++p;
			while (*p != '\0' && *p != '"') {
				if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
					p++;
				*out++ = *p++;
			}
			if (*p != '"')
				return err_set(e, ERR_BAD_REQUEST,
				    "unterminated quote in the command");
			p++;
			*out = '\0';
			continue;
		}
		argv[argc++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t')
			p++;
		if (*p != '\0')
			*p++ = '\0';
	}
	return argc;
}

json_object *
command_run(struct command_ctx *ctx, const char *line, struct err *e)
{
	char			 buf[COMMAND_MAX_LINE + 1];
	char			*argv[COMMAND_MAX_ARGS];
	const struct command	*c;
	int			 argc;
	size_t			 i;

	if (strlen(line) > COMMAND_MAX_LINE) {
		err_set(e, ERR_BAD_REQUEST, "the command is longer than %d"
		    " characters", COMMAND_MAX_LINE);
		return NULL;
	}
	/* Every caller hands over a decoded JSON string; a line of another
	 * origin is checked all the same (PostgreSQL refuses bad UTF-8). */
	if (!utf8_valid(line, strlen(line))) {
		err_set(e, ERR_BAD_REQUEST, "the command is not valid UTF-8");
		return NULL;
	}
	for (i = 0; line[i] != '\0'; i++) {
		if ((unsigned char)line[i] < ' ' && line[i] != '\t') {
			err_set(e, ERR_BAD_REQUEST,
			    "the command contains a control character");
			err_hint(e, "send one command on one line");
			return NULL;
		}
	}
	strlcpy_ss(buf, line, sizeof(buf));
	if ((argc = command_split(buf, argv, e)) == -1)
		return NULL;
	if (argc == 0) {
		err_set(e, ERR_BAD_REQUEST, "the command is empty");
		err_hint(e, "run `help` for the list of commands");
		return NULL;
	}
	if ((c = command_find(argv[0])) == NULL) {
		err_set(e, ERR_UNKNOWN_COMMAND, "unknown command '%.32s'",
		    argv[0]);
		return NULL;
	}
	return c->run(ctx, argc, argv, e);
}
