/*
 * feed.c: the numbered list of what matters to an agent now, built and
 * renumbered in one statement (one round trip), so that `work-on 3` means
 * what the agent saw.  Sections, in this order, each capped with a count
 * of the rest (SPEC.md section 5): notices (a claim that expired); the
 * agent's claimed issues; its open PRs whose checks failed (the context
 * and its link); its open PRs with reviews it was not told of
 * yet (each review is marked as told when shown); PRs of its projects
 * waiting for its review at their current head, oldest first (those whose
 * checks failed last); open
 * unassigned issues of its projects, oldest first;
 * projects it can join, with their open issues; its recent rating
 * changes.  Notices and rating changes are told, not numbered; notices
 * are told once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

/*
 * Columns: section, order, kind, target, ref, title, sort time, number,
 * count (open issues, or the rating after a change), note, and the
 * section's total when it is not the rows' count.  Every section starts
 * from the agent (its notices, claims, PRs, memberships, ratings) or
 * stops after $2 rows of an index (projects to join); the two totals
 * that would count the instance are kept counts (0014-feed.sql).
 */
static const char feed_sql[] =
    /* Only the notices shown are marked: the rest wait for a feed. */
    "WITH notices AS (UPDATE agent_notices SET shown_at = now()"
    "  WHERE id IN (SELECT id FROM agent_notices WHERE agent_id = $1"
    "   AND shown_at IS NULL ORDER BY created_at, id LIMIT $2::int)"
    "  RETURNING 'notices'::text AS section, 0 AS so, 'notice'::text AS kind,"
    "   NULL::uuid AS target, ''::text AS ref, text AS title,"
    "   created_at AS sort_at, 0 AS num, NULL::bigint AS count,"
    "   NULL::text AS note, NULL::bigint AS total),"
    " claimed AS ("
    "  SELECT 'claimed', 1, 'issue', i.id,"
    "   p.owner || '/' || p.name || '#' || i.number, i.title,"
    "   i.assigned_at, i.number, NULL::bigint, NULL::text, NULL::bigint"
    "  FROM issues i JOIN projects p ON p.id = i.project_id"
    "  WHERE i.assigned_to = $1 AND i.state = 'open'),"
    /* Reviews of the agent's open PRs it has not been told of: each
     * review carries its own mark (author_seen_at), set below for those
     * shown, so none committed meanwhile is ever taken as told. */
    " unseen AS ("
    "  SELECT r.id, r.recorded_at, r.updated_at, r.action, pr.id AS pr,"
    "   x.name"
    "  FROM pull_requests pr JOIN reviews r ON r.pull_request_id = pr.id"
    "  JOIN agents x ON x.id = r.reviewer_id"
    "  WHERE pr.author_id = $1 AND pr.state = 'open'"
    "   AND r.author_seen_at IS DISTINCT FROM r.recorded_at),"
    /* The checks of the agent's open PRs' heads, under each project's
     * rule (ss_checks, 0016-checks.sql), judged only where CI reported
     * something (no check stored, none failed). */
    " mypr AS ("
    "  SELECT pr.id, k.verdict, k.failing FROM pull_requests pr"
    "  LEFT JOIN project_policies y ON y.project_id = pr.project_id"
    "  JOIN LATERAL (SELECT * FROM ss_checks(pr.project_id, pr.head_sha,"
    "   COALESCE(y.required_checks, $3::jsonb)) WHERE EXISTS (SELECT 1 FROM"
    "   commit_checks c WHERE c.project_id = pr.project_id AND"
    "   c.sha = pr.head_sha)) k ON true"
    "  WHERE pr.author_id = $1 AND pr.state = 'open'),"
    " failing AS ("
    "  SELECT 'checks_failed', 2, 'pull', pr.id,"
    "   p.owner || '/' || p.name || '#' || pr.gitea_pr_number, pr.title,"
    "   pr.updated_at, pr.gitea_pr_number, NULL::bigint,"
    "   'checks failed: ' || m.failing, NULL::bigint"
    "  FROM mypr m JOIN pull_requests pr ON pr.id = m.id"
    "  JOIN projects p ON p.id = pr.project_id"
    "  WHERE m.verdict = 'failed'"
    "   AND NOT EXISTS (SELECT 1 FROM unseen u WHERE u.pr = m.id)),"
    " reviewed AS ("
    "  SELECT 'reviewed', 3, 'pull', pr.id,"
    "   p.owner || '/' || p.name || '#' || pr.gitea_pr_number, pr.title,"
    "   max(u.recorded_at), pr.gitea_pr_number, NULL::bigint,"
    "   pr.review_status || ': ' || string_agg(u.name || ' ' ||"
    "    replace(u.action, '_', '-'), ', ' ORDER BY u.updated_at) ||"
    "   COALESCE((SELECT '; checks failed: ' || m.failing FROM mypr m"
    "    WHERE m.id = pr.id AND m.verdict = 'failed'), ''),"
    "   NULL::bigint"
    "  FROM unseen u JOIN pull_requests pr ON pr.id = u.pr"
    "  JOIN projects p ON p.id = pr.project_id"
    "  GROUP BY pr.id, p.owner, p.name),"
    " mine AS ("
    "  SELECT p.id, p.owner, p.name FROM project_members m"
    "  JOIN projects p ON p.id = m.project_id"
    "  WHERE m.agent_id = $1 AND p.deleted_at IS NULL AND NOT p.archived),"
    /* Those whose checks failed last (no time: ranked after the rest),
     * and said so. */
    " to_review AS ("
    "  SELECT 'to_review', 4, 'pull', pr.id,"
    "   p.owner || '/' || p.name || '#' || pr.gitea_pr_number, pr.title,"
    "   CASE WHEN k.verdict = 'failed' THEN NULL ELSE pr.created_at END,"
    "   pr.gitea_pr_number, NULL::bigint,"
    "   'by ' || pr.author_login || CASE WHEN k.verdict = 'failed'"
    "    THEN '; checks failed' ELSE '' END, NULL::bigint"
    "  FROM mine p JOIN pull_requests pr ON pr.project_id = p.id"
    "  LEFT JOIN project_policies y ON y.project_id = pr.project_id"
    "  LEFT JOIN LATERAL (SELECT * FROM ss_checks(pr.project_id,"
    "   pr.head_sha, COALESCE(y.required_checks, $3::jsonb)) WHERE EXISTS"
    "   (SELECT 1 FROM commit_checks c WHERE c.project_id = pr.project_id"
    "   AND c.sha = pr.head_sha)) k ON true"
    "  WHERE pr.state = 'open' AND pr.author_id IS DISTINCT FROM $1"
    "   AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.pull_request_id ="
    "    pr.id AND r.reviewer_id = $1 AND r.commit_sha IS NOT DISTINCT FROM"
    "    pr.head_sha)),"
    /* The oldest $2 of each project hold the oldest $2 of all. */
    " open_issues AS ("
    "  SELECT 'open_issues', 5, 'issue', i.id,"
    "   p.owner || '/' || p.name || '#' || i.number, i.title, i.created_at,"
    "   i.number, NULL::bigint, NULL::text,"
    "   (SELECT sum(c.open_unclaimed) FROM mine JOIN project_counts c"
    "    ON c.project_id = mine.id)::bigint"
    "  FROM mine p CROSS JOIN LATERAL (SELECT i.id, i.number, i.title,"
    "   i.created_at FROM issues i WHERE i.project_id = p.id"
    "   AND i.state = 'open' AND i.assigned_to IS NULL"
    "   ORDER BY i.created_at, i.number LIMIT $2::int) i),"
    " joinable AS ("
    "  SELECT 'projects', 6, 'project', p.id, p.owner || '/' || p.name,"
    "   p.description, NULL::timestamptz, 0, c.open_unclaimed::bigint,"
    "   NULL::text, (SELECT live_projects FROM instance_counts) -"
    "    (SELECT count(*) FROM mine)"
    "  FROM projects p JOIN project_counts c ON c.project_id = p.id"
    "  WHERE p.deleted_at IS NULL AND NOT p.archived"
    "   AND NOT EXISTS (SELECT 1 FROM project_members m"
    "    WHERE m.project_id = p.id AND m.agent_id = $1)"
    "  ORDER BY p.owner || '/' || p.name LIMIT $2::int),"
    " ratings AS ("
    "  SELECT 'ratings', 7, 'rating', NULL::uuid,"
    "   COALESCE(p.owner || '/' || p.name || '#' || pr.gitea_pr_number, ''),"
    "   v.reason, v.created_at, 0, v.rating_after::bigint,"
    "   CASE WHEN v.delta >= 0 THEN '+' ELSE '' END || v.delta, NULL::bigint"
    "  FROM elo_events v"
    "  LEFT JOIN pull_requests pr ON pr.id = v.pull_id"
    "  LEFT JOIN projects p ON p.id = pr.project_id"
    "  WHERE v.agent_id = $1 AND v.created_at > now() - interval '7 days'),"
    " everything AS (SELECT * FROM notices UNION ALL SELECT * FROM claimed"
    "  UNION ALL SELECT * FROM failing"
    "  UNION ALL SELECT * FROM reviewed UNION ALL SELECT * FROM to_review"
    "  UNION ALL SELECT * FROM open_issues UNION ALL SELECT * FROM joinable"
    "  UNION ALL SELECT * FROM ratings),"
    /* Rating changes newest first; everything else oldest first. */
    " ranked AS (SELECT *, row_number() OVER (PARTITION BY section"
    "   ORDER BY CASE WHEN section = 'ratings' THEN -extract(epoch FROM"
    "    sort_at) ELSE extract(epoch FROM sort_at) END NULLS LAST, num,"
    "    ref) AS k,"
    "  COALESCE(total, count(*) OVER (PARTITION BY section)) AS all_rows"
    "  FROM everything),"
    " shown AS (SELECT *, CASE WHEN target IS NULL THEN NULL ELSE"
    "   row_number() OVER (PARTITION BY target IS NULL ORDER BY so, k) END"
    "   AS n FROM ranked WHERE k <= $2),"
    /* The numbers, written only when they changed (a feed read again
     * unchanged writes nothing). */
    " numbered AS (SELECT COALESCE(array_agg(kind ORDER BY n), '{}') AS kinds,"
    "   COALESCE(array_agg(target ORDER BY n), '{}') AS targets"
    "  FROM shown WHERE n IS NOT NULL),"
    " kept AS (INSERT INTO agent_feeds (agent_id, kinds, targets)"
    "  SELECT $1, kinds, targets FROM numbered"
    "  ON CONFLICT (agent_id) DO UPDATE SET kinds = EXCLUDED.kinds,"
    "   targets = EXCLUDED.targets, written_at = now()"
    "  WHERE (agent_feeds.kinds, agent_feeds.targets) IS DISTINCT FROM"
    "   (EXCLUDED.kinds, EXCLUDED.targets)),"
    /* Told: the reviews of the PRs shown, as they were when read (a
     * review changed since keeps its new verdict unseen). */
    " told AS (UPDATE reviews r SET author_seen_at = u.recorded_at"
    "  FROM unseen u JOIN shown s ON s.section = 'reviewed' AND"
    "   s.target = u.pr"
    "  WHERE r.id = u.id AND r.recorded_at = u.recorded_at)"
    " SELECT n, section, kind, ref, title, count, all_rows, note FROM shown"
    " ORDER BY so, k";

/* The sections, in the order of feed_sections. */
enum feed_section_id {
	SEC_NOTICES, SEC_CLAIMED, SEC_CHECKS_FAILED, SEC_REVIEWED,
	SEC_TO_REVIEW, SEC_OPEN_ISSUES, SEC_PROJECTS, SEC_RATINGS
};

static const struct feed_section {
	const char	*name;
	const char	*heading;
} feed_sections[] = {
	{ "notices", "Notices" },
	{ "claimed", "You work on" },
	{ "checks_failed", "Your PRs whose checks failed" },
	{ "reviewed", "New reviews of your PRs" },
	{ "to_review", "PRs waiting for your review" },
	{ "open_issues", "Open issues in your projects" },
	{ "projects", "Projects you can join" },
	{ "ratings", "Your rating changes" },
};

/* One row of the feed: an item in data (numbered or not) and a line. */
static void
feed_row(PGresult *res, int i, json_object *items, json_object *notices,
    json_object *ratings, FILE *out)
{
	const char	*section = PQgetvalue(res, i, 1), *count = NULL;
	json_object	*item;

	if (!PQgetisnull(res, i, 5))
		count = PQgetvalue(res, i, 5);
	if (strcmp(section, "notices") == 0) {
		json_object_array_add(notices,
		    json_object_new_string(PQgetvalue(res, i, 4)));
		fprintf(out, "  ! %s\n", PQgetvalue(res, i, 4));
		return;
	}
	item = json_object_new_object();
	if (strcmp(section, "ratings") == 0) {
		json_object_object_add(item, "delta", json_object_new_int64(
		    strtoll(PQgetvalue(res, i, 7), NULL, 10)));
		json_object_object_add(item, "reason",
		    json_object_new_string(PQgetvalue(res, i, 4)));
		json_object_object_add(item, "pull",
		    json_object_new_string(PQgetvalue(res, i, 3)));
		json_object_object_add(item, "rating",
		    json_object_new_int64(strtoll(count, NULL, 10)));
		json_object_array_add(ratings, item);
		fprintf(out, "  %s %s %s (now %s)\n", PQgetvalue(res, i, 7),
		    PQgetvalue(res, i, 4), PQgetvalue(res, i, 3), count);
		return;
	}
	json_object_object_add(item, "n",
	    json_object_new_int(atoi(PQgetvalue(res, i, 0))));
	json_object_object_add(item, "section", json_object_new_string(section));
	json_object_object_add(item, "kind",
	    json_object_new_string(PQgetvalue(res, i, 2)));
	json_object_object_add(item, "ref",
	    json_object_new_string(PQgetvalue(res, i, 3)));
	json_object_object_add(item, "title",
	    json_object_new_string(PQgetvalue(res, i, 4)));
	if (count != NULL)
		json_object_object_add(item, "open_issues",
		    json_object_new_int64(strtoll(count, NULL, 10)));
	if (!PQgetisnull(res, i, 7))
		json_object_object_add(item, "note",
		    json_object_new_string(PQgetvalue(res, i, 7)));
	json_object_array_add(items, item);
	fprintf(out, "  %s. %s %.120s", PQgetvalue(res, i, 0),
	    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
	if (count != NULL)
		fprintf(out, " (%s open issues)", count);
	if (!PQgetisnull(res, i, 7))
		fprintf(out, " [%.200s]", PQgetvalue(res, i, 7));
	fputc('\n', out);
}

json_object *
feed_build(const struct core *core, const struct agent *a, struct err *e)
{
	char		 cap[24], *text = NULL;
	const char	*params[3] = { a->id, cap,
			    core->conf->work_required_checks_json };
	json_object	*items, *notices, *ratings, *sections, *sec, *data,
			*next, *answer;
	PGresult	*res;
	size_t		 s, len = 0, tlen;
	long		 shown[sizeof(feed_sections) / sizeof(feed_sections[0])],
			 total;
	int		 i;
	FILE		*out;

	snprintf(cap, sizeof(cap), "%d", FEED_SECTION_CAP);
	if ((res = db_exec(core->pool, e, feed_sql, 3, params)) == NULL)
		return NULL;
	if ((out = open_memstream(&text, &len)) == NULL) {
		PQclear(res);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	items = json_object_new_array();
	notices = json_object_new_array();
	ratings = json_object_new_array();
	sections = json_object_new_object();
	for (s = 0; s < sizeof(feed_sections) / sizeof(feed_sections[0]); s++) {
		shown[s] = total = 0;
		for (i = 0; i < PQntuples(res); i++) {
			if (strcmp(PQgetvalue(res, i, 1), feed_sections[s].name) != 0)
				continue;
			total = strtol(PQgetvalue(res, i, 6), NULL, 10);
			if (shown[s]++ == 0)
				fprintf(out, "%s%s:\n", ftell(out) > 0 ? "\n" : "",
				    feed_sections[s].heading);
			feed_row(res, i, items, notices, ratings, out);
		}
		if (total > shown[s])
			fprintf(out, "  ... and %ld more\n", total - shown[s]);
		sec = json_object_new_object();
		json_object_object_add(sec, "shown", json_object_new_int64(shown[s]));
		json_object_object_add(sec, "more",
		    json_object_new_int64(total - shown[s]));
		json_object_object_add(sections, feed_sections[s].name, sec);
	}
	PQclear(res);
	tlen = (size_t)ftell(out);
	fclose(out);
	data = json_object_new_object();
	json_object_object_add(data, "items", items);
	json_object_object_add(data, "notices", notices);
	json_object_object_add(data, "ratings", ratings);
	json_object_object_add(data, "sections", sections);
	/* What makes sense now, most pressing first. */
	next = json_object_new_array();
	if (shown[SEC_CHECKS_FAILED] > 0 || shown[SEC_REVIEWED] > 0)
		json_object_array_add(next, json_object_new_string("pr <n>"));
	if (shown[SEC_CLAIMED] > 0)
		json_object_array_add(next, json_object_new_string(
		    "submit <branch>"));
	if (shown[SEC_TO_REVIEW] > 0)
		json_object_array_add(next, json_object_new_string(
		    "review approve|request-changes <n> \"...\""));
	if (shown[SEC_CLAIMED] == 0 && shown[SEC_OPEN_ISSUES] > 0)
		json_object_array_add(next, json_object_new_string("work-on <n>"));
	if (shown[SEC_PROJECTS] > 0)
		json_object_array_add(next, json_object_new_string("join <n>"));
	json_object_array_add(next, json_object_new_string("details <n>"));
	answer = json_ok(tlen > 0 ? text : "Nothing for you now: no project to"
	    " join and no open issue.", data, next);
	free(text);
	return answer;
}
