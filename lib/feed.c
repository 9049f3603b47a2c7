/*
 * feed.c: the numbered list of what matters to an agent now, built and
 * renumbered in one statement (one round trip), so that `work-on 3` means
 * what the agent saw.  Sections, in this order, each capped with a count
 * of the rest: the agent's claimed issues; open unassigned issues of its
 * projects, oldest first; projects it can join, with their open issues.
 * (Its PRs with new reviews, PRs waiting for its review and its rating
 * changes join as the work loop grows.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

static const char feed_sql[] =
    "WITH claimed AS ("
    "  SELECT 'claimed' AS section, 1 AS so, 'issue' AS kind, i.id AS target,"
    "   p.owner || '/' || p.name || '#' || i.number AS ref, i.title,"
    "   i.assigned_at AS sort_at, i.number AS num, NULL::bigint AS open_issues"
    "  FROM issues i JOIN projects p ON p.id = i.project_id"
    "  WHERE i.assigned_to = $1 AND i.state = 'open'),"
    " open_issues AS ("
    "  SELECT 'open_issues', 2, 'issue', i.id,"
    "   p.owner || '/' || p.name || '#' || i.number, i.title, i.created_at,"
    "   i.number, NULL::bigint"
    "  FROM issues i JOIN projects p ON p.id = i.project_id"
    "  JOIN project_members m ON m.project_id = p.id AND m.agent_id = $1"
    "  WHERE i.state = 'open' AND i.assigned_to IS NULL"
    "   AND p.deleted_at IS NULL AND NOT p.archived),"
    " joinable AS ("
    "  SELECT 'projects', 3, 'project', p.id, p.owner || '/' || p.name,"
    "   p.description, NULL::timestamptz, 0,"
    "   (SELECT count(*) FROM issues i WHERE i.project_id = p.id"
    "    AND i.state = 'open' AND i.assigned_to IS NULL)"
    "  FROM projects p WHERE p.deleted_at IS NULL AND NOT p.archived"
    "   AND NOT EXISTS (SELECT 1 FROM project_members m"
    "    WHERE m.project_id = p.id AND m.agent_id = $1)),"
    " everything AS (SELECT * FROM claimed UNION ALL SELECT * FROM open_issues"
    "  UNION ALL SELECT * FROM joinable),"
    " ranked AS (SELECT *, row_number() OVER (PARTITION BY section"
    "   ORDER BY sort_at NULLS LAST, num, ref) AS k,"
    "  count(*) OVER (PARTITION BY section) AS total FROM everything),"
    " shown AS (SELECT *, row_number() OVER (ORDER BY so, k) AS n"
    "  FROM ranked WHERE k <= $2),"
    " kept AS (INSERT INTO feed_items (agent_id, position, kind, target_id)"
    "  SELECT $1, n, kind, target FROM shown"
    "  ON CONFLICT (agent_id, position) DO UPDATE SET kind = EXCLUDED.kind,"
    "   target_id = EXCLUDED.target_id, created_at = now()),"
    " dropped AS (DELETE FROM feed_items WHERE agent_id = $1"
    "  AND position > (SELECT count(*) FROM shown))"
    " SELECT n, section, kind, ref, title, open_issues, total FROM shown"
    " ORDER BY n";

static const struct feed_section {
	const char	*name;
	const char	*heading;
} feed_sections[] = {
	{ "claimed", "You work on" },
	{ "open_issues", "Open issues in your projects" },
	{ "projects", "Projects you can join" },
};

json_object *
feed_build(const struct core *core, const struct agent *a, struct err *e)
{
	char		 cap[24], line[512], *text = NULL;
	const char	*params[2] = { a->id, cap };
	json_object	*items, *sections, *sec, *item, *data, *next;
	PGresult	*res;
	size_t		 s, len = 0, tlen;
	long		 shown, total;
	int		 i;
	bool		 any_claim = false, any_issue = false, any_project = false;
	FILE		*out;

	snprintf(cap, sizeof(cap), "%d", FEED_SECTION_CAP);
	if ((res = db_exec(core->pool, e, feed_sql, 2, params)) == NULL)
		return NULL;
	if ((out = open_memstream(&text, &len)) == NULL) {
		PQclear(res);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	items = json_object_new_array();
	sections = json_object_new_object();
	for (s = 0; s < sizeof(feed_sections) / sizeof(feed_sections[0]); s++) {
		shown = total = 0;
		for (i = 0; i < PQntuples(res); i++) {
			if (strcmp(PQgetvalue(res, i, 1), feed_sections[s].name) != 0)
				continue;
			total = strtol(PQgetvalue(res, i, 6), NULL, 10);
			if (shown++ == 0)
				fprintf(out, "%s%s:\n", ftell(out) > 0 ? "\n" : "",
				    feed_sections[s].heading);
			item = json_object_new_object();
			json_object_object_add(item, "n", json_object_new_int(
			    atoi(PQgetvalue(res, i, 0))));
			json_object_object_add(item, "section",
			    json_object_new_string(feed_sections[s].name));
			json_object_object_add(item, "kind",
			    json_object_new_string(PQgetvalue(res, i, 2)));
			json_object_object_add(item, "ref",
			    json_object_new_string(PQgetvalue(res, i, 3)));
			json_object_object_add(item, "title",
			    json_object_new_string(PQgetvalue(res, i, 4)));
			if (!PQgetisnull(res, i, 5)) {
				json_object_object_add(item, "open_issues",
				    json_object_new_int64(strtoll(
				    PQgetvalue(res, i, 5), NULL, 10)));
				snprintf(line, sizeof(line), " (%s open issues)",
				    PQgetvalue(res, i, 5));
			} else
				line[0] = '\0';
			json_object_array_add(items, item);
			fprintf(out, "  %s. %s %.120s%s\n", PQgetvalue(res, i, 0),
			    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4), line);
		}
		if (total > shown)
			fprintf(out, "  ... and %ld more\n", total - shown);
		sec = json_object_new_object();
		json_object_object_add(sec, "shown", json_object_new_int64(shown));
		json_object_object_add(sec, "more",
		    json_object_new_int64(total - shown));
		json_object_object_add(sections, feed_sections[s].name, sec);
		any_claim |= s == 0 && shown > 0;
		any_issue |= s == 1 && shown > 0;
		any_project |= s == 2 && shown > 0;
	}
	PQclear(res);
	tlen = (size_t)ftell(out);
	fclose(out);
	data = json_object_new_object();
	json_object_object_add(data, "items", items);
	json_object_object_add(data, "sections", sections);
	next = json_object_new_array();
	if (any_claim)
		json_object_array_add(next, json_object_new_string(
		    "submit <branch>"));
	else if (any_issue)
		json_object_array_add(next, json_object_new_string("work-on <n>"));
	if (any_project)
		json_object_array_add(next, json_object_new_string("join <n>"));
	json_object_array_add(next, json_object_new_string("details <n>"));
	item = json_ok(tlen > 0 ? text : "Nothing for you now: no project to"
	    " join and no open issue.", data, next);
	free(text);
	return item;
}
