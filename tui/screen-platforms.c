/*
 * screen-platforms.c: the platform catalog: add, edit, retire (or bring
 * back), delete one no project uses.  Lists (secrets, command, config
 * files) are typed as words, space or comma separated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

static const struct column cols[] = {
	{ "NAME",	  "name",	  12, COL_TEXT },
	{ "DISPLAY NAME", "display_name", 18, COL_TEXT },
	{ "TRIGGER",	  "trigger",	   8, COL_TEXT },
	{ "RETIRED",	  "retired",	   7, COL_BOOL },
	{ "PROJECTS",	  "projects",	   8, COL_NUMBER },
	{ "SECRETS",	  "secrets",	   0, COL_TEXT }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "name", NULL, NULL, 0, 0, 0,
	"", false, tone
};

static const char *const triggers[] = { "hook", "command", "manual", NULL };

enum {
	F_NAME, F_DISPLAY, F_TRIGGER, F_SECRETS, F_HOOK, F_COMMAND, F_FILES,
	F_DOCS, F__COUNT
};

static const char *const fkeys[F__COUNT] = {
	"name", "display_name", "trigger", "secrets", "hook_secret",
	"command", "config_files", "docs_url"
};

static int
tone(json_object *row)
{
	return json_path_bool(row, "retired") == 1 ? TONE_WARN : TONE_NONE;
}

static void
enter(struct ui *ui)
{
	table_load(ui, &t, "/api/v1/admin/platforms", "platforms");
}

static void
draw(struct ui *ui)
{
	char	title[128];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	snprintf(title, sizeof(title), "Platforms: %zu", n);
	table_draw(ui, &t, title, ui_read_only(ui) ? "No platforms." :
	    "No platforms: a adds one (the catalog is seeded from"
	    " platforms.yaml).");
}

static bool
is_list(size_t i)
{
	return i == F_SECRETS || i == F_COMMAND || i == F_FILES;
}

/* A platform's value as the form shows it: lists as words. */
static char *
field_text(json_object *row, size_t i, char *buf, size_t len)
{
	json_object	*a;
	size_t		 j;

	buf[0] = '\0';
	if (!is_list(i)) {
		strlcpy_ss(buf, row_str(row, fkeys[i]), len);
		return buf;
	}
	a = json_path(row, fkeys[i]);
	for (j = 0; a != NULL && json_object_is_type(a, json_type_array) &&
	    j < json_object_array_length(a); j++) {
		if (j > 0)
			str_append(buf, " ", len);
		str_append(buf, json_object_get_string(
		    json_object_array_get_idx(a, j)), len);
	}
	return buf;
}

static void
fields_init(struct ff *f)
{
	static const struct ff proto[F__COUNT] = {
		{ "Name", FF_TEXT, true, 32, NULL, ff_check_slug, NULL },
		{ "Display name", FF_TEXT, true, 100, NULL, NULL, NULL },
		{ "Trigger", FF_CHOICE, false, 0, triggers, NULL, NULL },
		{ "Secrets", FF_TEXT, false, 3300, NULL, NULL, NULL },
		{ "Hook secret", FF_TEXT, false, 100, NULL, ff_check_env,
		  NULL },
		{ "Command", FF_TEXT, false, 4000, NULL, NULL, NULL },
		{ "Config files", FF_TEXT, false, 2000, NULL, NULL, NULL },
		{ "Docs URL", FF_URL, false, 2048, NULL, NULL, NULL }
	};

	memcpy(f, proto, sizeof(proto));
}

/* One field into a body; i is the field's F_ index, f the field. */
static void
put_field(json_object *body, size_t i, struct ff *f, bool change)
{
	const char	*v = ff_value(f);

	switch (i) {
	case F_SECRETS:
	case F_FILES:
		ff_put_words(body, fkeys[i], v);
		break;
	case F_COMMAND:
		if (*v != '\0')
			ff_put_words(body, fkeys[i], v);
		else if (change)
			json_object_object_add(body, fkeys[i], NULL);
		break;
	default:
		ff_put_str(body, fkeys[i], v, change && i != F_DISPLAY &&
		    i != F_TRIGGER);
		break;
	}
}

static int
add_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	json_object	*body = json_object_new_object();
	size_t		 i;
	int		 rc;

	(void)arg;
	for (i = 0; i < n; i++)
		put_field(body, i, &f[i], false);
	rc = ui_act(ui, "POST", "/api/v1/admin/platforms", body);
	json_object_put(body);
	return rc;
}

static int
edit_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	json_object	*row = arg, *body = json_object_new_object();
	char		 was[4096], path[512], *name;
	size_t		 i;
	int		 rc;

	/* f is the form without its name: field i is F_ index i + 1. */
	for (i = 0; i < n; i++)
		if (strcmp(ff_value(&f[i]), field_text(row, i + 1, was,
		    sizeof(was))) != 0)
			put_field(body, i + 1, &f[i], true);
	if (json_object_object_length(body) == 0) {
		json_object_put(body);
		ui_status(ui, "nothing changed");
		return 0;
	}
	if ((name = client_escape(row_str(row, "name"))) == NULL) {
		json_object_put(body);
		return -1;
	}
	snprintf(path, sizeof(path), "/api/v1/admin/platforms/%s", name);
	free(name);
	rc = ui_act(ui, "PATCH", path, body);
	json_object_put(body);
	return rc;
}

static void
add(struct ui *ui)
{
	struct ff	f[F__COUNT];

	fields_init(f);
	ff_set(&f[F_TRIGGER], "manual");
	if (form_run(ui, "Add a platform", f, F__COUNT, add_submit, NULL)) {
		enter(ui);
		table_select(&t, "name", ff_value(&f[F_NAME]));
	}
	ff_free(f, F__COUNT);
}

static void
edit(struct ui *ui, json_object *row)
{
	struct ff	f[F__COUNT];
	char		title[256], buf[4096];
	size_t		i;

	fields_init(f);
	for (i = 1; i < F__COUNT; i++)
		ff_set(&f[i], field_text(row, i, buf, sizeof(buf)));
	snprintf(title, sizeof(title), "Platform \"%s\"", row_str(row, "name"));
	json_object_get(row);
	if (form_run(ui, title, f + 1, F__COUNT - 1, edit_submit, row))
		enter(ui);
	json_object_put(row);
	ff_free(f, F__COUNT);
}

static void
platform_call(struct ui *ui, json_object *row, const char *method,
    json_object *body)
{
	char	path[512], *name;

	if ((name = client_escape(row_str(row, "name"))) == NULL)
		return;
	snprintf(path, sizeof(path), "/api/v1/admin/platforms/%s", name);
	free(name);
	if (ui_act(ui, method, path, body) == 0)
		enter(ui);
}

static void
open_platform(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "Name", "name" },
		{ "Display name", "display_name" },
		{ "Trigger", "trigger" },
		{ "Secrets", "secrets" },
		{ "Hook secret", "hook_secret" },
		{ "Command", "command" },
		{ "Config files", "config_files" },
		{ "Docs", "docs_url" },
		{ "Retired", "retired" },
		{ "Projects", "projects" },
		{ NULL, NULL }
	};
	struct sbuf	sb = { NULL, 0, 0 };
	char		title[256];

	sb_fields(&sb, row, fields, time(NULL));
	snprintf(title, sizeof(title), "Platform %s", row_str(row, "name"));
	ui_pager(ui, title, sb.p);
	sb_free(&sb);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t), *body;
	const char	*name = row_str(row, "name");

	switch (a) {
	case A_ADD:
		add(ui);
		return 1;
	case A_OPEN:
	case A_EDIT:
	case A_RETIRE:
	case A_DELETE:
		break;
	default:
		return 0;
	}
	if (row == NULL) {
		ui_error(ui, "no platform here");
		return 1;
	}
	switch (a) {
	case A_OPEN:
		open_platform(ui, row);
		break;
	case A_EDIT:
		edit(ui, row);
		break;
	case A_RETIRE:
		if (json_path_bool(row, "retired") != 1 &&
		    !ui_confirm(ui, "Retire platform \"%s\"? Projects can no"
		    " longer choose it. [y/N]", name))
			break;
		body = json_object_new_object();
		json_object_object_add(body, "retired",
		    json_object_new_boolean(json_path_bool(row, "retired") !=
		    1));
		platform_call(ui, row, "PATCH", body);
		json_object_put(body);
		break;
	case A_DELETE:
		if (ui_confirm(ui, "Delete platform \"%s\"? [y/N]", name))
			platform_call(ui, row, "DELETE", NULL);
		break;
	default:
		break;
	}
	return 1;
}

const struct screen_ops screen_platforms = {
	SCR_PLATFORMS, "platforms", "pl", "Platforms", &t, enter, draw, key,
	NULL
};
