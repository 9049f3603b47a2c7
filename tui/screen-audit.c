/*
 * screen-audit.c: the audit log, newest first: every project's, or with
 * p the current project's only.  The OBJECT column is made here from
 * the entry's detail (project, name, then the rest as key=value), since
 * the target's id alone says nothing to a reader; / filters on it too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

#define AUDIT_LIMIT	200

static const struct column cols[] = {
	{ "WHEN",	"at",		 9, COL_WHEN },
	{ "ACTOR",	"actor",	18, COL_TEXT },
	{ "ACTION",	"action",	22, COL_TEXT },
	{ "OBJECT",	"object",	 0, COL_TEXT }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), NULL, NULL, NULL, 0, 0, 0, "",
	false, tone
};
static bool	only_project;

static int
tone(json_object *row)
{
	const char	*a = row_str(row, "action");

	if (strcmp(a, "secret.revealed") == 0)
		return TONE_WARN;
	return TONE_NONE;
}

/* "demo/app DATABASE_URL reason=rotating" from the detail. */
static void
add_object(json_object *row)
{
	json_object	*d = json_path(row, "detail");
	char		 obj[1024] = "", part[512];
	const char	*first[] = { "project", "name" }, *id;
	size_t		 i;

	/* Without a project or a name, the target says what it was. */
	if (json_path_str(d, "project") == NULL &&
	    json_path_str(d, "name") == NULL) {
		id = row_str(row, "target_id");
		/* A uuid's first 8 are enough to tell them apart. */
		snprintf(obj, sizeof(obj), "%s %.*s", row_str(row,
		    "target_kind"), strlen(id) == 36 && id[8] == '-' ? 8 :
		    (int)strlen(id), id);
	}
	for (i = 0; i < 2; i++)
		if (json_path_str(d, first[i]) != NULL) {
			if (obj[0] != '\0')
				str_append(obj, " ", sizeof(obj));
			str_append(obj, json_path_str(d, first[i]),
			    sizeof(obj));
		}
	if (d != NULL && json_object_is_type(d, json_type_object)) {
		json_object_object_foreach(d, k, v) {
			if (strcmp(k, "project") == 0 ||
			    (strcmp(k, "name") == 0 && v != NULL &&
			    json_object_is_type(v, json_type_string)))
				continue;
			snprintf(part, sizeof(part), "%s%s=%s", obj[0] != '\0' ?
			    " " : "", k, v == NULL ? "null" :
			    json_object_is_type(v, json_type_string) ?
			    json_object_get_string(v) :
			    json_object_to_json_string_ext(v,
			    JSON_C_TO_STRING_PLAIN |
			    JSON_C_TO_STRING_NOSLASHESCAPE));
			str_append(obj, part, sizeof(obj));
		}
	}
	if (obj[0] == '\0')
		snprintf(obj, sizeof(obj), "%s %s", row_str(row, "target_kind"),
		    row_str(row, "target_id"));
	json_object_object_add(row, "object", json_object_new_string(obj));
}

static void
enter(struct ui *ui)
{
	char	path[512], *p;
	size_t	i;

	if (only_project && ui->project[0] != '\0') {
		if ((p = client_escape(ui->project)) == NULL)
			return;
		snprintf(path, sizeof(path), "/api/v1/admin/audit?limit=%d"
		    "&project=%s", AUDIT_LIMIT, p);
		free(p);
	} else
		snprintf(path, sizeof(path), "/api/v1/admin/audit?limit=%d",
		    AUDIT_LIMIT);
	if (table_load(ui, &t, path, "entries") == 0)
		for (i = 0; i < json_object_array_length(t.rows); i++)
			add_object(json_object_array_get_idx(t.rows, i));
}

static void
draw(struct ui *ui)
{
	char	title[384];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	if (only_project && ui->project[0] != '\0')
		snprintf(title, sizeof(title), "Audit of %s: %zu entries"
		    " (p: every project)", ui->project, n);
	else
		snprintf(title, sizeof(title), "Audit: %zu entries, every"
		    " project%s", n, ui->project[0] != '\0' ? " (p: only the"
		    " current one)" : "");
	table_draw(ui, &t, title, "No entries.");
}

static void
open_entry(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "At", "at" },
		{ "Actor", "actor" },
		{ "Actor kind", "actor_kind" },
		{ "Action", "action" },
		{ "Target", "target_kind" },
		{ "Target id", "target_id" },
		{ NULL, NULL }
	};
	struct sbuf	 sb = { NULL, 0, 0 };
	json_object	*d = json_path(row, "detail");

	sb_fields(&sb, row, fields, time(NULL));
	sb_printf(&sb, "\nDetail:\n%s\n", d != NULL ?
	    json_object_to_json_string_ext(d, JSON_C_TO_STRING_PRETTY |
	    JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE) :
	    "-");
	ui_pager(ui, "Audit entry", sb.p);
	sb_free(&sb);
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);

	switch (a) {
	case A_OPEN:
		if (row == NULL)
			ui_error(ui, "no entry here");
		else
			open_entry(ui, row);
		return 1;
	case A_SCOPE:
		if (!only_project && !ui_need_project(ui))
			return 1;
		only_project = !only_project;
		table_clear(&t);
		enter(ui);
		if (only_project)
			ui_status(ui, "the audit log of %s", ui->project);
		else
			ui_status(ui, "the audit log of every project");
		return 1;
	default:
		return 0;
	}
}

const struct screen_ops screen_audit = {
	SCR_AUDIT, "audit", "au", "Audit", &t, enter, draw, key, NULL
};
