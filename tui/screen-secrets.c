/*
 * screen-secrets.c: the secrets of the current project: names, digests,
 * BYOK entries and their confirmation, who set them and when; never a
 * value.  A value is typed with echo off (form.c's secret field) and
 * shown only by reveal: after the project's name is typed and a reason
 * given (the daemon audits it), for a few seconds (ui_reveal), and then
 * wiped from memory here, in the answer and in the request.  The names
 * the platform needs but nobody set are rows too, marked "(missing)", so
 * e sets one where it shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

#define REVEAL_SECONDS	10
#define VALUE_MAX	4096
#define REASON_MAX	500

static const struct column cols[] = {
	{ "NAME",	"name",		18, COL_TEXT },
	{ "DIGEST",	"digest",	16, COL_TEXT },
	{ "BYOK",	"byok",		 4, COL_BOOL },
	{ "CONFIRMED",	"confirmed",	 9, COL_BOOL },
	{ "SET BY",	"set_by",	18, COL_TEXT },
	{ "WHEN",	"updated_at",	 0, COL_WHEN }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "name", NULL, NULL, 0, 0, 0,
	"", false, tone
};
static char	loaded_for[256];

static bool
missing(json_object *row)
{
	return json_path_bool(row, "missing") == 1;
}

static bool
byok(json_object *row)
{
	return json_path_bool(row, "byok") == 1;
}

static int
tone(json_object *row)
{
	if (missing(row))
		return TONE_BAD;
	if (byok(row) && json_path_bool(row, "confirmed") != 1)
		return TONE_WARN;
	return TONE_NONE;
}

static void
enter(struct ui *ui)
{
	struct api_result	 res;
	json_object		*rows, *miss, *o;
	char			 path[1024];
	size_t			 i;

	if (table_for_project(ui, &t, loaded_for, sizeof(loaded_for)) == -1)
		return;
	ui_project_path(ui, path, sizeof(path), "/deployment/secrets");
	if (ui_call(ui, "GET", path, NULL, &res) == 0 &&
	    (rows = json_path(res.data, "secrets")) != NULL &&
	    json_object_is_type(rows, json_type_array)) {
		json_object_get(rows);
		miss = json_path(res.data, "missing");
		for (i = 0; miss != NULL && i < json_object_array_length(miss);
		    i++) {
			o = json_object_new_object();
			json_object_object_add(o, "name", json_object_get(
			    json_object_array_get_idx(miss, i)));
			json_object_object_add(o, "digest",
			    json_object_new_string("(missing)"));
			json_object_object_add(o, "missing",
			    json_object_new_boolean(1));
			json_object_array_add(rows, o);
		}
		table_set(&t, rows);
	}
	api_result_free(&res);
}

static void
draw(struct ui *ui)
{
	char	title[384];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;
	size_t	i, nmissing = 0;

	if (table_draw_no_project(ui, &t))
		return;
	/* The names the platform needs, made rows by enter(). */
	for (i = 0; i < n; i++)
		if (missing(json_object_array_get_idx(t.rows, i)))
			nmissing++;
	snprintf(title, sizeof(title), "Secrets of %s: %zu set, %zu missing",
	    ui->project, n - nmissing, nmissing);
	table_draw(ui, &t, title, ui_read_only(ui) ? "No secrets." :
	    "No secrets: a sets one, b adds a BYOK entry.");
}

static void
secret_path(struct ui *ui, char *buf, size_t len, const char *name,
    const char *tail)
{
	char	*n = client_escape(name);

	if (n == NULL) {
		buf[0] = '\0';
		return;
	}
	ui_project_path(ui, buf, len, "/deployment/secrets/%s%s", n, tail);
	free(n);
}

/* Overwrites a body's value and its JSON text (what curl sent). */
static void
wipe_body(json_object *body)
{
	json_object	*v;
	const char	*text;

	text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE);
	if (text != NULL)
		explicit_bzero((char *)text, strlen(text));
	if (json_object_object_get_ex(body, "value", &v) && v != NULL)
		explicit_bzero((char *)json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
}

/* Form: [name,] value.  The name is the first field or the argument. */
static int
set_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	const char	*name = arg != NULL ? arg : ff_value(&f[0]);
	json_object	*body = json_object_new_object();
	char		 path[1024];
	int		 rc;

	json_object_object_add(body, "value",
	    json_object_new_string(ff_value(&f[n - 1])));
	secret_path(ui, path, sizeof(path), name, "");
	rc = ui_act(ui, "PUT", path, body);
	wipe_body(body);
	json_object_put(body);
	return rc;
}

static void
set_value(struct ui *ui, const char *name)
{
	struct ff	f[] = {
		{ "Name", FF_TEXT, true, 100, NULL, ff_check_env, NULL },
		{ "Value", FF_SECRET, true, VALUE_MAX, NULL, NULL, NULL }
	};
	char		title[1024];
	int		done;

	if (name != NULL) {
		snprintf(title, sizeof(title), "Set %s of %s", name,
		    ui->project);
		done = form_run(ui, title, f + 1, 1, set_submit, (void *)name);
	} else {
		snprintf(title, sizeof(title), "Set a secret of %s",
		    ui->project);
		done = form_run(ui, title, f, 2, set_submit, NULL);
	}
	if (done) {
		enter(ui);
		table_select(&t, "name", name != NULL ? name : ff_value(&f[0]));
	}
	ff_free(f, 2);
}

static int
byok_submit(struct ui *ui, struct ff *f, size_t n, void *arg)
{
	json_object	*body = json_object_new_object();
	char		 path[1024];
	int		 rc;

	(void)n;
	(void)arg;
	json_object_object_add(body, "byok", json_object_new_boolean(1));
	secret_path(ui, path, sizeof(path), ff_value(&f[0]), "");
	rc = ui_act(ui, "PUT", path, body);
	json_object_put(body);
	return rc;
}

static void
add_byok(struct ui *ui, json_object *row)
{
	struct ff	f[] = {
		{ "Name", FF_TEXT, true, 100, NULL, ff_check_env, NULL }
	};
	char		title[512];

	/* A missing one is what is wanted, most likely. */
	if (row != NULL && missing(row))
		ff_set(&f[0], row_str(row, "name"));
	snprintf(title, sizeof(title), "Add a BYOK entry to %s (the owner sets"
	    " the value on the platform)", ui->project);
	if (form_run(ui, title, f, 1, byok_submit, NULL)) {
		enter(ui);
		table_select(&t, "name", ff_value(&f[0]));
	}
	ff_free(f, 1);
}

/*
 * CONSOLE.md's flow: the project's name typed back (a reveal on the
 * wrong project is the mistake to prevent), a reason for the audit log,
 * then the value for REVEAL_SECONDS.
 */
static void
reveal(struct ui *ui, const char *name)
{
	struct api_result	 res;
	json_object		*body, *v;
	char			 label[1024], typed[256] = "",
				 reason[REASON_MAX * 4 + 1] = "", path[1024];
	char			*value;

	snprintf(label, sizeof(label), "Reveal %s of %s?  Type the project"
	    " name to confirm:", name, ui->project);
	if (ui_prompt(ui, label, typed, sizeof(typed), NULL) == 0) {
		ui_status(ui, "reveal canceled");
		return;
	}
	if (strcmp(typed, ui->project) != 0) {
		ui_error(ui, "reveal canceled: \"%s\" is not %s", typed,
		    ui->project);
		return;
	}
	if (ui_prompt(ui, "Reason (kept in the audit log):", reason,
	    sizeof(reason), NULL) == 0 || reason[strspn(reason, " ")] ==
	    '\0') {
		ui_error(ui, "reveal canceled: a reason is required");
		return;
	}
	body = json_object_new_object();
	json_object_object_add(body, "reason", json_object_new_string(reason));
	secret_path(ui, path, sizeof(path), name, "/reveal");
	if (ui_call(ui, "POST", path, body, &res) == 0 &&
	    (v = json_path(res.data, "value")) != NULL &&
	    json_object_is_type(v, json_type_string)) {
		value = strdup(json_object_get_string(v));
		explicit_bzero((char *)json_object_get_string(v),
		    (size_t)json_object_get_string_len(v));
		api_result_free(&res);
		ui_status(ui, "%s revealed for %d s; the reveal is in the"
		    " audit log", name, REVEAL_SECONDS);
		if (value != NULL) {
			snprintf(label, sizeof(label), "%s of %s", name,
			    ui->project);
			ui_reveal(ui, label, value, REVEAL_SECONDS);
			explicit_bzero(value, strlen(value));
			free(value);
		}
		ui_status(ui, "%s hidden again; the reveal is in the audit"
		    " log", name);
	} else
		api_result_free(&res);
	json_object_put(body);
}

static void
open_secret(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "Name", "name" },
		{ "Digest", "digest" },
		{ "BYOK", "byok" },
		{ "Confirmed", "confirmed" },
		{ "Confirmed by", "confirmed_by" },
		{ "Confirmed at", "confirmed_at" },
		{ "Set by", "set_by" },
		{ "Updated at", "updated_at" },
		{ "Platform needs", "required" },
		{ NULL, NULL }
	};
	struct sbuf	sb = { NULL, 0, 0 };
	char		title[512];

	if (missing(row))
		sb_printf(&sb, "%s is not set: the platform of %s needs it.\n"
		    "e sets a value, b adds a BYOK entry.\n",
		    row_str(row, "name"), ui->project);
	else {
		sb_fields(&sb, row, fields, time(NULL));
		sb_printf(&sb, "\nThe value is never shown here; v reveals it"
		    " (audited).\n");
	}
	snprintf(title, sizeof(title), "Secret %s of %s", row_str(row, "name"),
	    ui->project);
	ui_pager(ui, title, sb.p);
	sb_free(&sb);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);
	const char	*name = row_str(row, "name");
	char		 path[1024], copy[SECRET_NAME_MAX + 1];

	switch (a) {
	case A_ADD:
		if (ui_need_project(ui))
			set_value(ui, NULL);
		return 1;
	case A_BYOK:
		if (ui_need_project(ui))
			add_byok(ui, row);
		return 1;
	case A_OPEN:
	case A_EDIT:
	case A_CONFIRM:
	case A_DELETE:
	case A_REVEAL:
		break;
	default:
		return 0;
	}
	if (!ui_need_project(ui))
		return 1;
	if (row == NULL) {
		ui_error(ui, "no secret here");
		return 1;
	}
	if (missing(row) && a != A_OPEN && a != A_EDIT) {
		ui_error(ui, "%s is not set: e sets a value, b adds a BYOK"
		    " entry", name);
		return 1;
	}
	switch (a) {
	case A_OPEN:
		open_secret(ui, row);
		break;
	case A_EDIT:
		/* name is the row's: copied, since enter() replaces rows. */
		strlcpy_ss(copy, name, sizeof(copy));
		set_value(ui, copy);
		break;
	case A_CONFIRM:
		if (!byok(row))
			ui_error(ui, "%s has a value: only a BYOK entry is"
			    " confirmed", name);
		else if (json_path_bool(row, "confirmed") == 1)
			ui_error(ui, "%s is already confirmed", name);
		else {
			secret_path(ui, path, sizeof(path), name, "/confirm");
			if (ui_act(ui, "POST", path, NULL) == 0)
				enter(ui);
		}
		break;
	case A_DELETE:
		if (ui_confirm(ui, "Delete secret \"%s\" of %s? [y/N]", name,
		    ui->project)) {
			secret_path(ui, path, sizeof(path), name, "");
			if (ui_act(ui, "DELETE", path, NULL) == 0)
				enter(ui);
		}
		break;
	case A_REVEAL:
		if (byok(row))
			ui_error(ui, "%s is a BYOK entry: it has no value here",
			    name);
		else {
			strlcpy_ss(copy, name, sizeof(copy));
			reveal(ui, copy);
		}
		break;
	default:
		break;
	}
	return 1;
}

const struct screen_ops screen_secrets = {
	SCR_SECRETS, "secrets", "se", "Secrets", &t, enter, draw, key, NULL
};
