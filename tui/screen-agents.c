/*
 * screen-agents.c: the agents, those waiting for an admin first (then
 * active, then suspended), with approve and suspend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console.h"

static const struct column cols[] = {
	{ "NAME",	 "name",	18, COL_TEXT },
	{ "STATUS",	 "status",	10, COL_TEXT },
	{ "ELO",	 "elo",		 5, COL_NUMBER },
	{ "REGISTERED",	 "created_at",	11, COL_WHEN },
	{ "APPROVED",	 "approved_at",	11, COL_WHEN },
	{ "DESCRIPTION", "description",	 0, COL_TEXT }
};

static int	tone(json_object *);

static struct table t = {
	cols, sizeof(cols) / sizeof(cols[0]), "name", NULL, NULL, 0, 0, 0,
	"", false, tone
};

static int
rank(json_object *row)
{
	const char	*s = row_str(row, "status");

	return strcmp(s, "pending") == 0 ? 0 : strcmp(s, "active") == 0 ? 1 :
	    strcmp(s, "suspended") == 0 ? 2 : 3;
}

/* Pending first; in a status, the oldest first, as the daemon lists. */
static int
by_status(const void *a, const void *b)
{
	json_object	*x = *(json_object *const *)a;
	json_object	*y = *(json_object *const *)b;
	int		 d = rank(x) - rank(y);

	if (d != 0)
		return d;
	if ((d = strcmp(row_str(x, "created_at"), row_str(y,
	    "created_at"))) != 0)
		return d;
	return strcmp(row_str(x, "name"), row_str(y, "name"));
}

static int
tone(json_object *row)
{
	switch (rank(row)) {
	case 0:
		return TONE_WARN;
	case 2:
		return TONE_BAD;
	default:
		return TONE_NONE;
	}
}

static void
enter(struct ui *ui)
{
	struct api_result	 res;
	json_object		*rows;
	size_t			 i, pending = 0;

	if (ui_call(ui, "GET", "/api/v1/admin/agents", NULL, &res) == 0 &&
	    (rows = json_path(res.data, "agents")) != NULL &&
	    json_object_is_type(rows, json_type_array)) {
		json_object_array_sort(rows, by_status);
		for (i = 0; i < json_object_array_length(rows); i++)
			if (rank(json_object_array_get_idx(rows, i)) == 0)
				pending++;
		ui->pending = (long)pending;
		table_set(&t, json_object_get(rows));
	}
	api_result_free(&res);
}

static void
draw(struct ui *ui)
{
	char	title[128];
	size_t	n = t.rows != NULL ? json_object_array_length(t.rows) : 0;

	snprintf(title, sizeof(title), "Agents: %zu (%ld pending)", n,
	    ui->pending > 0 ? ui->pending : 0);
	table_draw(ui, &t, title, ui_read_only(ui) ? "No agents yet." :
	    "No agents yet: they register with POST /api/v1/agents, then"
	    " wait here for A.");
}

static void
open_agent(struct ui *ui, json_object *row)
{
	static const char *const fields[][2] = {
		{ "Name", "name" },
		{ "Status", "status" },
		{ "Elo", "elo" },
		{ "Description", "description" },
		{ "Contact", "contact" },
		{ "Registered", "created_at" },
		{ "Approved", "approved_at" },
		{ "Id", "id" },
		{ NULL, NULL }
	};
	struct sbuf	sb = { NULL, 0, 0 };
	char		title[160];

	sb_fields(&sb, row, fields, time(NULL));
	snprintf(title, sizeof(title), "Agent %s", row_str(row, "name"));
	ui_pager(ui, title, sb.p);
	sb_free(&sb);
}

static void
agent_do(struct ui *ui, json_object *row, const char *verb)
{
	char	path[512], *name;

	if ((name = client_escape(row_str(row, "name"))) == NULL)
		return;
	snprintf(path, sizeof(path), "/api/v1/admin/agents/%s/%s", name, verb);
	free(name);
	if (ui_act(ui, "POST", path, NULL) == 0) {
		enter(ui);
		ui_health(ui);
	}
}

static int
key(struct ui *ui, enum action a)
{
	json_object	*row = table_row(&t);
	const char	*name = row_str(row, "name");
	const char	*status = row_str(row, "status");

	switch (a) {
	case A_OPEN:
	case A_APPROVE:
	case A_SUSPEND:
		if (row == NULL) {
			ui_error(ui, "no agent here");
			return 1;
		}
		break;
	default:
		return 0;
	}
	if (a == A_OPEN)
		open_agent(ui, row);
	else if (a == A_APPROVE) {
		if (strcmp(status, "active") == 0)
			ui_error(ui, "agent '%s' is already active", name);
		else
			agent_do(ui, row, "approve");
	} else {
		if (strcmp(status, "suspended") == 0)
			ui_error(ui, "agent '%s' is already suspended", name);
		else if (ui_confirm(ui, "Suspend agent \"%s\"? [y/N]", name))
			agent_do(ui, row, "suspend");
	}
	return 1;
}

const struct screen_ops screen_agents = {
	SCR_AGENTS, "agents", "ag", "Agents", &t, enter, draw, key, NULL
};
