/*
 * screen-projects.c: the projects and their deployment.  Enter makes a
 * project the current one (the sponsors, secrets and deployments screens
 * work on it) and opens its deployment; t offers only the transitions
 * the daemon says are allowed from where it is, so the menu cannot offer
 * a move the table refuses.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

#define NO_PLATFORM	"(none)"
#define MAX_PLATFORMS	64

static const struct column cols[] = {
	{ "PROJECT",	"project",	24, COL_TEXT },
	{ "STATUS",	"status",	10, COL_TEXT },
	{ "PLATFORM",	"platform",	10, COL_TEXT },
	{ "BRANCH",	"branch",	10, COL_TEXT },
	{ "URL",	"url",		 0, COL_TEXT },
	{ "SPONSORS",	"sponsors",	 8, COL_NUMBER }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "project", NULL, NULL, 0, 0, 0,
	"", false, tone
};

static int
tone(json_object *row)
{
	const char	*s = row_str(row, "status");

	if (strcmp(s, "suspended") == 0)
		return TONE_BAD;
	if (strcmp(s, "live") == 0)
		return TONE_GOOD;
	return TONE_NONE;
}

static void
enter(struct ui *ui)
{
	json_object	*all;

	if ((all = ui_projects(ui)) != NULL)
		table_set(&t, all);
}

static void
draw(struct ui *ui)
{
	char	title[384];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	snprintf(title, sizeof(title), "Projects: %zu  current: %s", n,
	    ui->project[0] != '\0' ? ui->project : "none (Enter chooses)");
	table_draw(ui, &t, title, "No projects yet: synstackd lists the"
	    " repositories of its Gitea organisations.");
}

/* GET .../deployment of the current project; NULL after an error. */
static json_object *
deployment(struct ui *ui, struct api_result *res)
{
	char	path[1024];

	ui_project_path(ui, path, sizeof(path), "/deployment");
	if (ui_call(ui, "GET", path, NULL, res) == -1)
		return NULL;
	return res->data;
}

static void
admin_path(struct ui *ui, char *buf, size_t len, const char *tail)
{
	char	*o = client_escape(ui->owner), *r = client_escape(ui->repo);

	snprintf(buf, len, "/api/v1/admin/projects/%s/%s%s", o != NULL ? o :
	    "", r != NULL ? r : "", tail);
	free(o);
	free(r);
}

static void
policy_text(struct sbuf *sb, json_object *data)
{
	json_object	*own = json_path(data, "overrides"), *v;

	sb_printf(sb, "Work rules (* marks this project's own; the others are"
	    " the instance's)\n");
	json_object_object_foreach(json_path(data, "policy"), k, val) {
		sb_printf(sb, "  %-24s %s%s\n", k, val != NULL ?
		    json_object_to_json_string_ext(val,
		    JSON_C_TO_STRING_PLAIN) : "null", own != NULL &&
		    json_object_object_get_ex(own, k, &v) ? " *" : "");
	}
}

static void
open_project(struct ui *ui)
{
	struct api_result	 res, pres;
	json_object		*d, *a;
	struct sbuf		 sb = { NULL, 0, 0 };
	char			 path[1024], title[320], when[64];
	size_t			 i;
	int			 ready;

	if ((d = deployment(ui, &res)) == NULL) {
		api_result_free(&res);
		return;
	}
	sb_printf(&sb, "Deployment\n");
	sb_printf(&sb, "  %-12s %s", "Status", row_str(d, "status"));
	a = json_path(d, "allowed");
	for (i = 0; a != NULL && i < json_object_array_length(a); i++)
		sb_printf(&sb, "%s%s", i == 0 ? " (next: " : ", ",
		    json_object_get_string(json_object_array_get_idx(a, i)));
	sb_printf(&sb, "%s\n", a != NULL && json_object_array_length(a) > 0 ?
	    ")" : "");
	if (json_path(d, "platform") == NULL)
		sb_printf(&sb, "  %-12s none\n", "Platform");
	else {
		sb_printf(&sb, "  %-12s %s: %s", "Platform",
		    row_str(d, "platform.name"),
		    row_str(d, "platform.display_name"));
		a = json_path(d, "platform.secrets");
		for (i = 0; a != NULL && i < json_object_array_length(a); i++)
			sb_printf(&sb, "%s%s", i == 0 ? " (needs " : ", ",
			    json_object_get_string(json_object_array_get_idx(a,
			    i)));
		sb_printf(&sb, "%s\n", a != NULL && json_object_array_length(a)
		    > 0 ? ")" : "");
	}
	sb_printf(&sb, "  %-12s %s\n", "Branch", row_str(d, "branch"));
	sb_printf(&sb, "  %-12s %s\n", "URL", json_path(d, "url") != NULL ?
	    row_str(d, "url") : "-");
	fmt_when(when, sizeof(when), json_path_str(d, "deployed_at"),
	    time(NULL));
	sb_printf(&sb, "  %-12s %s\n", "Deployed", when);
	ready = json_path_bool(d, "readiness.ready");
	if (json_path(d, "readiness") == NULL)
		sb_printf(&sb, "  %-12s never checked (R checks it now)\n",
		    "Readiness");
	else {
		fmt_when(when, sizeof(when), json_path_str(d,
		    "readiness.checked_at"), time(NULL));
		sb_printf(&sb, "  %-12s %s, checked %s, head %.7s\n",
		    "Readiness", ready == 1 ? "ready" : "not ready", when,
		    json_path_str(d, "readiness.head") != NULL ?
		    json_path_str(d, "readiness.head") : "(no such branch)");
		a = json_path(d, "readiness.missing");
		for (i = 0; a != NULL && i < json_object_array_length(a); i++)
			sb_printf(&sb, "  %-12s %s\n", i == 0 ? "Missing" : "",
			    json_object_get_string(json_object_array_get_idx(a,
			    i)));
	}
	a = json_path(d, "sponsors");
	sb_printf(&sb, "  %-12s ", "Sponsors");
	for (i = 0; a != NULL && i < json_object_array_length(a); i++) {
		json_object *s = json_object_array_get_idx(a, i);

		sb_printf(&sb, "%s%s", i > 0 ? ", " : "", row_str(s, "name"));
		if (json_path_str(s, "tier") != NULL)
			sb_printf(&sb, " (%s)", row_str(s, "tier"));
	}
	sb_printf(&sb, "%s\n\n", a == NULL || json_object_array_length(a) ==
	    0 ? "no public active sponsor" : "");
	api_result_free(&res);

	admin_path(ui, path, sizeof(path), "/policy");
	if (ui_call(ui, "GET", path, NULL, &pres) == 0)
		policy_text(&sb, pres.data);
	api_result_free(&pres);
	snprintf(title, sizeof(title), "Project %s", ui->project);
	ui_pager(ui, title, sb.p);
	sb_free(&sb);
}

static void
rules(struct ui *ui)
{
	struct api_result	res;
	struct sbuf		sb = { NULL, 0, 0 };
	char			path[1024], title[320];

	admin_path(ui, path, sizeof(path), "/policy");
	if (ui_call(ui, "GET", path, NULL, &res) == 0) {
		policy_text(&sb, res.data);
		snprintf(title, sizeof(title), "Work rules of %s", ui->project);
		ui_pager(ui, title, sb.p);
	}
	api_result_free(&res);
	sb_free(&sb);
}

static void
transition(struct ui *ui)
{
	struct api_result	 res;
	json_object		*d, *a, *body;
	const char		*names[8];
	char			 title[384], path[1024];
	size_t			 i, n = 0;
	int			 choice;

	if ((d = deployment(ui, &res)) == NULL) {
		api_result_free(&res);
		return;
	}
	a = json_path(d, "allowed");
	for (i = 0; a != NULL && i < json_object_array_length(a) && n < 8; i++)
		names[n++] = json_object_get_string(json_object_array_get_idx(a,
		    i));
	if (n == 0) {
		ui_error(ui, "%s is %s: no transition is allowed from there",
		    ui->project, row_str(d, "status"));
		api_result_free(&res);
		return;
	}
	snprintf(title, sizeof(title), "Move %s from %s to", ui->project,
	    row_str(d, "status"));
	if ((choice = ui_menu(ui, title, names, n, 0)) >= 0) {
		body = json_object_new_object();
		json_object_object_add(body, "status",
		    json_object_new_string(names[choice]));
		ui_project_path(ui, path, sizeof(path), "/deployment");
		if (ui_act(ui, "POST", path, body) == 0)
			enter(ui);
		json_object_put(body);
	} else
		ui_status(ui, "canceled: %s stays %s", ui->project,
		    row_str(d, "status"));
	api_result_free(&res);
}

struct set_arg {
	char	platform[64], branch[256], url[2048];
};

/* Only what changed is sent: "" clears (null). */
static int
set_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	struct set_arg	*was = arg;
	json_object	*body = json_object_new_object();
	const char	*platform = ff_value(&f[0]), *branch = ff_value(&f[1]),
			*url = ff_value(&f[2]);
	char		 path[1024];
	int		 rc;

	(void)n;
	if (strcmp(platform, NO_PLATFORM) == 0)
		platform = "";
	if (strcmp(platform, was->platform) != 0)
		ff_put_str(body, "platform", platform, true);
	if (strcmp(branch, was->branch) != 0)
		ff_put_str(body, "branch", branch, true);
	if (strcmp(url, was->url) != 0)
		ff_put_str(body, "url", url, true);
	if (json_object_object_length(body) == 0) {
		json_object_put(body);
		ui_status(ui, "nothing changed");
		return 0;
	}
	ui_project_path(ui, path, sizeof(path), "/deployment");
	rc = ui_act(ui, "POST", path, body);
	json_object_put(body);
	return rc;
}

static void
set(struct ui *ui, json_object *row)
{
	struct api_result	 res;
	struct set_arg		 was;
	json_object		*rows, *p;
	const char		*choices[MAX_PLATFORMS + 2];
	char			 title[320];
	size_t			 i, n = 0;
	struct ff		 f[] = {
		{ "Platform", FF_CHOICE, false, 0, choices, NULL, NULL },
		{ "Deploy branch", FF_TEXT, false, 255, NULL, NULL, NULL },
		{ "URL", FF_URL, false, 2048, NULL, NULL, NULL }
	};

	/* The catalog: what can be chosen (not the retired ones). */
	if (ui_call(ui, "GET", "/api/v1/admin/platforms", NULL, &res) == -1) {
		api_result_free(&res);
		return;
	}
	strlcpy_ss(was.platform, row_str(row, "platform"),
	    sizeof(was.platform));
	strlcpy_ss(was.branch, row_str(row, "branch"), sizeof(was.branch));
	strlcpy_ss(was.url, row_str(row, "url"), sizeof(was.url));
	choices[n++] = NO_PLATFORM;
	rows = json_path(res.data, "platforms");
	for (i = 0; rows != NULL && i < json_object_array_length(rows) &&
	    n < MAX_PLATFORMS; i++) {
		p = json_object_array_get_idx(rows, i);
		if (json_path_bool(p, "retired") != 1 ||
		    strcmp(row_str(p, "name"), was.platform) == 0)
			choices[n++] = row_str(p, "name");
	}
	choices[n] = NULL;
	ff_set(&f[0], was.platform[0] != '\0' ? was.platform : NO_PLATFORM);
	ff_set(&f[1], was.branch);
	ff_set(&f[2], was.url);
	snprintf(title, sizeof(title), "Deployment of %s", ui->project);
	if (form_run(ui, title, f, 3, set_submit, &was))
		enter(ui);
	ff_free(f, 3);
	api_result_free(&res);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);
	char		 path[1024];

	switch (a) {
	case A_OPEN:
	case A_TRANSITION:
	case A_EDIT:
	case A_READINESS:
	case A_RULES:
		break;
	default:
		return 0;
	}
	if (row == NULL) {
		ui_error(ui, "no project here");
		return 1;
	}
	/* Acting on a project makes it the current one. */
	ui_set_project(ui, row_str(row, "project"));
	switch (a) {
	case A_OPEN:
		ui_status(ui, "current project: %s", ui->project);
		open_project(ui);
		break;
	case A_TRANSITION:
		transition(ui);
		break;
	case A_EDIT:
		set(ui, row);
		break;
	case A_READINESS:
		ui_project_path(ui, path, sizeof(path),
		    "/deployment/readiness");
		if (ui_act(ui, "POST", path, NULL) == 0)
			enter(ui);
		break;
	case A_RULES:
		rules(ui);
		break;
	default:
		break;
	}
	return 1;
}

const struct screen_ops screen_projects = {
	SCR_PROJECTS, "projects", "pr", "Projects", &t, enter, draw, key, NULL
};
