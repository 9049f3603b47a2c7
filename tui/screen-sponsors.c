/*
 * screen-sponsors.c: the sponsors of the current project: add, edit,
 * pause or resume, end.  Pausing or ending the last sponsor covering
 * hosting suspends a sponsored or live project (docs/deployment.md), so
 * both ask first and name the sponsor.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

static const struct column cols[] = {
	{ "NAME",	"name",			20, COL_TEXT },
	{ "STATUS",	"status",		 7, COL_TEXT },
	{ "TIER",	"tier",			10, COL_TEXT },
	{ "PLAN",	"recurrence",		 8, COL_TEXT },
	{ "HOSTING",	"covers_hosting",	 7, COL_BOOL },
	{ "PUBLIC",	"public",		 6, COL_BOOL },
	{ "BUDGET",	"monthly_budget",	 0, COL_TEXT }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "id", NULL, NULL, 0, 0, 0, "",
	false, tone
};
static char	loaded_for[256];	/* the project the rows are of */
static char	added[64];		/* the id of the sponsor just added */

static const char *const yes_no[] = { "yes", "no", NULL };
static const char *const plans[] = { "monthly", "one_time", NULL };

enum {
	F_NAME, F_EMAIL, F_GITHUB, F_TIER, F_BUDGET, F_PLAN, F_HOSTING,
	F_DOMAIN, F_PUBLIC, F_NOTES, F__COUNT
};

/* The form's fields and the sponsor's keys, in the same order. */
static const char *const fkeys[F__COUNT] = {
	"name", "email", "github_username", "tier", "monthly_budget",
	"recurrence", "covers_hosting", "covers_domain", "public", "notes"
};

static int
tone(json_object *row)
{
	const char	*s = row_str(row, "status");

	if (strcmp(s, "paused") == 0)
		return TONE_WARN;
	if (strcmp(s, "ended") == 0)
		return TONE_BAD;
	return TONE_NONE;
}

static void
enter(struct ui *ui)
{
	char	path[1024];

	if (table_for_project(ui, &t, loaded_for, sizeof(loaded_for)) == -1)
		return;
	ui_project_path(ui, path, sizeof(path), "/sponsors");
	table_load(ui, &t, path, "sponsors");
}

static void
draw(struct ui *ui)
{
	char	title[384];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	if (table_draw_no_project(ui, &t))
		return;
	snprintf(title, sizeof(title), "Sponsors of %s: %zu", ui->project, n);
	table_draw(ui, &t, title, ui_read_only(ui) ? "No sponsors yet." :
	    "No sponsors yet: a adds one.");
}

static void
fields_init(struct ff *f)
{
	static const struct ff proto[F__COUNT] = {
		{ "Name", FF_TEXT, true, 200, NULL, NULL, NULL },
		{ "Email", FF_TEXT, false, 254, NULL, NULL, NULL },
		{ "GitHub user", FF_TEXT, false, 39, NULL, NULL, NULL },
		{ "Tier", FF_TEXT, false, 50, NULL, NULL, NULL },
		{ "Monthly budget", FF_TEXT, false, 50, NULL, NULL, NULL },
		{ "Recurrence", FF_CHOICE, false, 0, plans, NULL, NULL },
		{ "Covers hosting", FF_CHOICE, false, 0, yes_no, NULL, NULL },
		{ "Covers domain", FF_CHOICE, false, 0, yes_no, NULL, NULL },
		{ "Public credit", FF_CHOICE, false, 0, yes_no, NULL, NULL },
		{ "Notes", FF_TEXT, false, 2000, NULL, NULL, NULL }
	};

	memcpy(f, proto, sizeof(proto));
}

static bool
is_bool(size_t i)
{
	return i == F_HOSTING || i == F_DOMAIN || i == F_PUBLIC;
}

/* The field's text of a sponsor's value ("yes" for true). */
static const char *
field_text(json_object *row, size_t i)
{
	int	b;

	if (is_bool(i)) {
		b = json_path_bool(row, fkeys[i]);
		return b == 1 ? "yes" : "no";
	}
	return row_str(row, fkeys[i]);
}

static void
put_field(json_object *body, struct ff *f, size_t i, bool nullable)
{
	if (is_bool(i))
		ff_put_bool(body, fkeys[i], ff_value(&f[i]));
	else
		ff_put_str(body, fkeys[i], ff_value(&f[i]), nullable &&
		    i != F_NAME && i != F_PLAN);
}

static int
add_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	struct api_result	 res;
	json_object		*body = json_object_new_object();
	char			 path[1024];
	size_t			 i;
	int			 rc;

	(void)arg;
	for (i = 0; i < n; i++)
		put_field(body, f, i, false);
	ui_project_path(ui, path, sizeof(path), "/sponsors");
	if ((rc = ui_call(ui, "POST", path, body, &res)) == 0) {
		ui_status(ui, "%s", res.message);
		strlcpy_ss(added, row_str(res.data, "id"), sizeof(added));
	}
	api_result_free(&res);
	json_object_put(body);
	return rc;
}

static void
add(struct ui *ui)
{
	struct ff	f[F__COUNT];
	char		title[320];

	fields_init(f);
	ff_set(&f[F_PLAN], "monthly");
	ff_set(&f[F_HOSTING], "yes");
	ff_set(&f[F_DOMAIN], "no");
	ff_set(&f[F_PUBLIC], "no");
	snprintf(title, sizeof(title), "Add a sponsor to %s", ui->project);
	if (form_run(ui, title, f, F__COUNT, add_submit, NULL)) {
		enter(ui);
		table_select(&t, "id", added);
	}
	ff_free(f, F__COUNT);
}

/* PATCH: only what changed. */
static int
edit_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	json_object	*row = arg, *body = json_object_new_object();
	char		 path[1024], *id;
	size_t		 i;
	int		 rc;

	for (i = 0; i < n; i++)
		if (strcmp(ff_value(&f[i]), field_text(row, i)) != 0)
			put_field(body, f, i, true);
	if (json_object_object_length(body) == 0) {
		json_object_put(body);
		ui_status(ui, "nothing changed");
		return 0;
	}
	if ((id = client_escape(row_str(row, "id"))) == NULL) {
		json_object_put(body);
		return -1;
	}
	ui_project_path(ui, path, sizeof(path), "/sponsors/%s", id);
	free(id);
	rc = ui_act(ui, "PATCH", path, body);
	json_object_put(body);
	return rc;
}

static void
edit(struct ui *ui, json_object *row)
{
	struct ff	f[F__COUNT];
	char		title[512];
	size_t		i;

	fields_init(f);
	for (i = 0; i < F__COUNT; i++)
		ff_set(&f[i], field_text(row, i));
	snprintf(title, sizeof(title), "Sponsor \"%s\" of %s",
	    row_str(row, "name"), ui->project);
	/* The row outlives the form: the table is not reloaded under it. */
	json_object_get(row);
	if (form_run(ui, title, f, F__COUNT, edit_submit, row))
		enter(ui);
	json_object_put(row);
	ff_free(f, F__COUNT);
}

static void
set_status(struct ui *ui, json_object *row, const char *status)
{
	json_object	*body = json_object_new_object();
	char		 path[1024], *id;

	if ((id = client_escape(row_str(row, "id"))) == NULL) {
		json_object_put(body);
		return;
	}
	json_object_object_add(body, "status", json_object_new_string(status));
	ui_project_path(ui, path, sizeof(path), "/sponsors/%s", id);
	free(id);
	if (ui_act(ui, "PATCH", path, body) == 0)
		enter(ui);
	json_object_put(body);
}

static void
open_sponsor(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "Name", "name" },
		{ "Status", "status" },
		{ "Tier", "tier" },
		{ "Recurrence", "recurrence" },
		{ "Monthly budget", "monthly_budget" },
		{ "Covers hosting", "covers_hosting" },
		{ "Covers domain", "covers_domain" },
		{ "Public credit", "public" },
		{ "Email", "email" },
		{ "GitHub user", "github_username" },
		{ "Started", "started_at" },
		{ "Ended", "ended_at" },
		{ "Notes", "notes" },
		{ "Deployment", "deployment" },
		{ "Id", "id" },
		{ NULL, NULL }
	};
	struct sbuf	sb = { NULL, 0, 0 };
	char		title[512];

	sb_fields(&sb, row, fields, time(NULL));
	snprintf(title, sizeof(title), "Sponsor %s of %s",
	    row_str(row, "name"), ui->project);
	ui_pager(ui, title, sb.p);
	sb_free(&sb);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);
	const char	*name = row_str(row, "name");
	const char	*status = row_str(row, "status");

	switch (a) {
	case A_ADD:
		if (ui_need_project(ui))
			add(ui);
		return 1;
	case A_OPEN:
	case A_EDIT:
	case A_PAUSE:
	case A_END_SPONSOR:
		break;
	default:
		return 0;
	}
	if (!ui_need_project(ui))
		return 1;
	if (row == NULL) {
		ui_error(ui, "no sponsor here");
		return 1;
	}
	switch (a) {
	case A_OPEN:
		open_sponsor(ui, row);
		break;
	case A_EDIT:
		edit(ui, row);
		break;
	case A_PAUSE:
		if (strcmp(status, "ended") == 0)
			ui_error(ui, "sponsor \"%s\" has ended; an ended"
			    " sponsor stays ended", name);
		else if (strcmp(status, "paused") == 0)
			set_status(ui, row, "active");
		else if (ui_confirm(ui, "Pause sponsor \"%s\" of %s? [y/N]",
		    name, ui->project))
			set_status(ui, row, "paused");
		break;
	case A_END_SPONSOR:
		if (strcmp(status, "ended") == 0)
			ui_error(ui, "sponsor \"%s\" has already ended", name);
		else if (ui_confirm(ui, "End sponsor \"%s\" of %s? It stays"
		    " ended. [y/N]", name, ui->project))
			set_status(ui, row, "ended");
		break;
	default:
		break;
	}
	return 1;
}

const struct screen_ops screen_sponsors = {
	SCR_SPONSORS, "sponsors", "sp", "Sponsors", &t, enter, draw, key, NULL
};
