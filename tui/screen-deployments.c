/*
 * screen-deployments.c: the deployments of the current project, newest
 * first; Enter shows one with its log excerpt (the daemon masks every
 * secret in it before it is stored); m marks a commit deployed (the
 * project goes live), D deploys the deploy branch's head now.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

#define LIST_LIMIT	100

static const struct column cols[] = {
	{ "COMMIT",	"commit",	 7, COL_SHA },
	{ "STATUS",	"status",	11, COL_TEXT },
	{ "TRIGGER",	"trigger",	14, COL_TEXT },
	{ "CREATED",	"created_at",	10, COL_WHEN },
	{ "FINISHED",	"finished_at",	10, COL_WHEN },
	{ "REASON",	"reason",	 0, COL_TEXT }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "id", NULL, NULL, 0, 0, 0, "",
	false, tone
};
static char	loaded_for[256];

static int
tone(json_object *row)
{
	const char	*s = row_str(row, "status");

	if (strcmp(s, "failure") == 0 || strcmp(s, "error") == 0)
		return TONE_BAD;
	if (strcmp(s, "queued") == 0 || strcmp(s, "in_progress") == 0)
		return TONE_WARN;
	if (strcmp(s, "success") == 0)
		return TONE_GOOD;
	return TONE_NONE;
}

static void
enter(struct ui *ui)
{
	char	path[1024];

	if (table_for_project(ui, &t, loaded_for, sizeof(loaded_for)) == -1)
		return;
	ui_project_path(ui, path, sizeof(path), "/deployments?limit=%d",
	    LIST_LIMIT);
	table_load(ui, &t, path, "deployments");
}

static void
draw(struct ui *ui)
{
	char	title[384];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	if (table_draw_no_project(ui, &t))
		return;
	snprintf(title, sizeof(title), "Deployments of %s: %zu%s", ui->project,
	    n, n == LIST_LIMIT ? " (the newest)" : "");
	table_draw(ui, &t, title, "No deployments yet: a push to the deploy"
	    " branch of a sponsored or live project starts one.");
}

static void
open_deployment(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "Commit", "commit" },
		{ "Status", "status" },
		{ "Reason", "reason" },
		{ "Branch", "branch" },
		{ "Trigger", "trigger" },
		{ "Platform", "platform" },
		{ "Method", "method" },
		{ "Actor", "actor" },
		{ "URL", "url" },
		{ "Created", "created_at" },
		{ "Started", "started_at" },
		{ "Finished", "finished_at" },
		{ "Id", "id" },
		{ NULL, NULL }
	};
	struct api_result	 res;
	struct sbuf		 sb = { NULL, 0, 0 };
	const char		*log;
	char			 path[1024], title[512], *id;

	if ((id = client_escape(row_str(row, "id"))) == NULL)
		return;
	ui_project_path(ui, path, sizeof(path), "/deployments/%s", id);
	free(id);
	if (ui_call(ui, "GET", path, NULL, &res) == 0) {
		sb_fields(&sb, res.data, fields, time(NULL));
		log = json_path_str(res.data, "log_excerpt");
		sb_printf(&sb, "\nLog excerpt (secrets masked):\n%s\n",
		    log != NULL && *log != '\0' ? log : "(no output)");
		snprintf(title, sizeof(title), "Deployment %.7s of %s",
		    row_str(row, "commit"), ui->project);
		ui_pager(ui, title, sb.p);
	}
	api_result_free(&res);
	sb_free(&sb);
}

static int
mark_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	json_object	*body = json_object_new_object();
	char		 path[1024];
	int		 rc;

	(void)n;
	(void)arg;
	ff_put_str(body, "url", ff_value(&f[0]), false);
	ff_put_str(body, "commit", ff_value(&f[1]), false);
	ui_project_path(ui, path, sizeof(path), "/deployment/mark-deployed");
	rc = ui_act(ui, "POST", path, body);
	json_object_put(body);
	return rc;
}

static void
mark(struct ui *ui)
{
	struct ff	f[] = {
		{ "URL", FF_URL, true, 2048, NULL, NULL, NULL },
		{ "Commit", FF_TEXT, false, 64, NULL, ff_check_commit, NULL }
	};
	char		title[320];

	snprintf(title, sizeof(title), "Mark %s deployed (empty commit: the"
	    " newest waiting)", ui->project);
	if (form_run(ui, title, f, 2, mark_submit, NULL))
		enter(ui);
	ff_free(f, 2);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);
	char		 path[1024];

	switch (a) {
	case A_OPEN:
	case A_MARK:
	case A_DEPLOY:
		break;
	default:
		return 0;
	}
	if (!ui_need_project(ui))
		return 1;
	switch (a) {
	case A_OPEN:
		if (row == NULL)
			ui_error(ui, "no deployment here");
		else
			open_deployment(ui, row);
		break;
	case A_MARK:
		mark(ui);
		break;
	case A_DEPLOY:
		if (!ui_confirm(ui, "Deploy %s now (the head of its deploy"
		    " branch)? [y/N]", ui->project))
			break;
		ui_project_path(ui, path, sizeof(path), "/deployment/deploy");
		if (ui_act(ui, "POST", path, NULL) == 0)
			enter(ui);
		break;
	default:
		break;
	}
	return 1;
}

const struct screen_ops screen_deployments = {
	SCR_DEPLOYMENTS, "deployments", "de", "Deployments", &t, enter, draw,
	key, NULL
};
