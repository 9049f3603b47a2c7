/*
 * rating.c: Elo ratings from outcomes (SPEC.md section 7).  A change is
 * K * (score - expected), expected = 1 / (1 + 10^((opponent - own) / 400)),
 * K and the opponents from synstack.yaml (elo.*):
 *
 *   pr_merged        the author beats the issue (rated elo.difficulty);
 *   pr_closed        the author of a reviewed PR closed unmerged loses to it;
 *   caught_issues    a reviewer asked for changes, the author pushed, the
 *                    PR merged: the reviewer beats the author;
 *   approval_merged  a reviewer approved a PR that merged: it beats the
 *                    author, with the small elo.k_approval.
 *
 * A reviewer's reward keeps elo.pair_decay percent of itself for every
 * earlier reward between the same two agents (either way round) from
 * another PR, so a pair trading approvals gains less each time.  All of a
 * PR's changes are computed from the ratings before it settled.  Every change is an elo_events
 * row unique per agent, reason and PR: settling a PR twice (a replayed
 * webhook, the reconciliation, the merge command) changes nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

/*
 * One change, computed from the ratings as they were before the outcome
 * ($7 own, $8 the opponent's, as Elo wants) and applied in one statement;
 * nothing happens when the row exists already.
 */
static const char event_sql[] =
    "WITH prior AS (SELECT count(*) AS n FROM elo_events WHERE $4::uuid IS"
    "  NOT NULL AND reason IN ('caught_issues', 'approval_merged') AND"
    "  source <> $3 AND ((agent_id = $1 AND counterpart_id = $4)"
    "   OR (agent_id = $4 AND counterpart_id = $1))),"
    " d AS (SELECT round($5::int * ($6::float8 - 1 / (1 +"
    "  power(10, ($8::int - $7::int) / 400.0))) * power($9::float8 / 100,"
    "  prior.n))::int AS delta FROM prior),"
    " ins AS (INSERT INTO elo_events (agent_id, reason, source,"
    "  counterpart_id, delta, rating_after)"
    "  SELECT $1, $2, $3, $4, d.delta, a.elo + d.delta FROM d, agents a"
    "  WHERE a.id = $1"
    "  ON CONFLICT (agent_id, reason, source) DO NOTHING"
    "  RETURNING agent_id, delta)"
    " UPDATE agents a SET elo = a.elo + ins.delta, updated_at = now()"
    " FROM ins WHERE a.id = ins.agent_id";

/* The ratings of everyone a settlement touches, before it. */
static const char *
elo_before(PGresult *who, const char *id)
{
	int	i;

	for (i = 0; i < PQntuples(who); i++)
		if (strcmp(PQgetvalue(who, i, 0), id) == 0)
			return PQgetvalue(who, i, 1);
	return "1200";
}

static int
rating_event(PGconn *c, const struct conf *conf, PGresult *who,
    const char *agent, const char *reason, const char *source,
    const char *counterpart, long k, int score, struct err *e)
{
	const char	*params[9];
	char		 ks[24], diff[24], decay[24];

	snprintf(ks, sizeof(ks), "%ld", k);
	snprintf(diff, sizeof(diff), "%ld", conf->elo_difficulty);
	snprintf(decay, sizeof(decay), "%ld", conf->elo_pair_decay);
	params[0] = agent;
	params[1] = reason;
	params[2] = source;
	params[3] = counterpart;
	params[4] = ks;
	params[5] = score ? "1" : "0";
	params[6] = elo_before(who, agent);
	/* An author plays the issue; a reviewer plays the author. */
	params[7] = counterpart != NULL ? elo_before(who, counterpart) : diff;
	params[8] = decay;
	return db_run(c, e, event_sql, 9, params);
}

/*
 * The rating changes of a PR that merged or closed; a PR still open has
 * none.  Called in the transaction that recorded the outcome, by every
 * path that may learn it (merge, auto-merge, webhook, reconciliation).
 */
int
rating_settle(PGconn *c, const struct conf *conf, const char *pr,
    struct err *e)
{
	const char	*params[1] = { pr };
	char		 source[48], author[37];
	PGresult	*res, *who;
	bool		 merged, reviewed;
	int		 i, rc = 0;

	if ((res = db_query(c, e, "SELECT pr.review_status,"
	    " COALESCE(pr.author_id::text, ''), EXISTS (SELECT 1 FROM"
	    " review_events v WHERE v.pull_request_id = pr.id)"
	    " FROM pull_requests pr WHERE pr.id = $1 AND pr.state = 'closed'",
	    1, params)) == NULL)
		return -1;
	if (PQntuples(res) == 0 || PQgetvalue(res, 0, 1)[0] == '\0') {
		PQclear(res);
		return 0;		/* open, or not an agent's */
	}
	merged = strcmp(PQgetvalue(res, 0, 0), "merged") == 0;
	reviewed = PQgetvalue(res, 0, 2)[0] == 't';
	strlcpy_ss(author, PQgetvalue(res, 0, 1), sizeof(author));
	PQclear(res);
	snprintf(source, sizeof(source), "pull:%s", pr);
	/* Everyone whose rating may change, locked in one order (two PRs
	 * settled at once cannot deadlock), with the ratings before. */
	if ((who = db_query(c, e, "SELECT id::text, elo FROM agents WHERE id ="
	    " (SELECT author_id FROM pull_requests WHERE id = $1) OR id IN"
	    " (SELECT reviewer_id FROM review_events WHERE pull_request_id = $1)"
	    " ORDER BY id FOR UPDATE", 1, params)) == NULL)
		return -1;
	if (!merged) {
		rc = reviewed ? rating_event(c, conf, who, author, "pr_closed",
		    source, NULL, conf->elo_k_closed, 0, e) : 0;
		PQclear(who);
		return rc;
	}
	if (rating_event(c, conf, who, author, "pr_merged", source, NULL,
	    conf->elo_k_factor, 1, e) == -1) {
		PQclear(who);
		return -1;
	}
	/* Reviewers: who asked for changes on an older head than the one
	 * that merged, and who approves now. */
	if ((res = db_query(c, e, "SELECT v.reviewer_id, bool_or(v.action ="
	    "  'request_changes' AND v.commit_sha IS DISTINCT FROM pr.head_sha),"
	    "  bool_or(r.action = 'approve')"
	    " FROM review_events v JOIN pull_requests pr ON"
	    "  pr.id = v.pull_request_id"
	    " LEFT JOIN reviews r ON r.pull_request_id = pr.id AND"
	    "  r.reviewer_id = v.reviewer_id"
	    " WHERE pr.id = $1 AND v.reviewer_id IS DISTINCT FROM pr.author_id"
	    " GROUP BY v.reviewer_id ORDER BY min(v.created_at)", 1,
	    params)) == NULL) {
		PQclear(who);
		return -1;
	}
	for (i = 0; i < PQntuples(res) && rc == 0; i++) {
		if (PQgetvalue(res, i, 1)[0] == 't')
			rc = rating_event(c, conf, who, PQgetvalue(res, i, 0),
			    "caught_issues", source, author, conf->elo_k_caught,
			    1, e);
		if (rc == 0 && PQgetvalue(res, i, 2)[0] == 't')
			rc = rating_event(c, conf, who, PQgetvalue(res, i, 0),
			    "approval_merged", source, author,
			    conf->elo_k_approval, 1, e);
	}
	PQclear(res);
	PQclear(who);
	return rc;
}

/* Recent changes of one agent, newest first, as the feed and my-work
 * show them: [{"delta", "reason", "pull", "rating", "at"}]. */
const char rating_recent_sql[] =
    "SELECT v.delta, v.reason, p.owner || '/' || p.name || '#' ||"
    "  pr.gitea_pr_number AS pull, v.rating_after AS rating,"
    "  ss_iso(v.created_at) AS at"
    " FROM elo_events v"
    " LEFT JOIN pull_requests pr ON pr.id = v.pull_id"
    " LEFT JOIN projects p ON p.id = pr.project_id"
    " WHERE v.agent_id = $1 ORDER BY v.created_at DESC, v.id LIMIT 5";

json_object *
rating_leaderboard(const struct core *core, long limit, struct err *e)
{
	char		 lim[24], line[160];
	const char	*params[1] = { lim };
	json_object	*rows, *data;
	PGresult	*res;
	FILE		*out;
	char		*text = NULL;
	size_t		 len = 0;
	int		 i;

	if (limit < 1 || limit > RATING_BOARD_MAX) {
		err_set(e, ERR_INVALID_FIELD, "limit must be 1 to %d",
		    RATING_BOARD_MAX);
		return NULL;
	}
	snprintf(lim, sizeof(lim), "%ld", limit);
	if ((res = db_exec(core->pool, e, "SELECT rank() OVER (ORDER BY"
	    " a.elo DESC)::int AS rank, a.name, a.elo,"
	    " (SELECT count(*) FROM pull_requests pr WHERE pr.author_id = a.id"
	    "  AND pr.review_status = 'merged')::int AS merged_prs,"
	    " (SELECT count(*) FROM review_events v WHERE v.reviewer_id ="
	    "  a.id)::int AS reviews"
	    " FROM agents a WHERE a.status = 'active'"
	    " ORDER BY a.elo DESC, a.name LIMIT $1::int", 1, params)) == NULL)
		return NULL;
	if ((out = open_memstream(&text, &len)) == NULL) {
		PQclear(res);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	fprintf(out, "Leaderboard:");
	for (i = 0; i < PQntuples(res); i++) {
		snprintf(line, sizeof(line), "\n  %s. %s %s (PRs merged: %s,"
		    " reviews: %s)", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 4));
		fputs(line, out);
	}
	if (PQntuples(res) == 0)
		fprintf(out, " no active agent yet.");
	fclose(out);
	rows = json_from_rows(res);
	PQclear(res);
	data = json_object_new_object();
	json_object_object_add(data, "agents", rows);
	rows = json_ok(text, data, NULL);
	free(text);
	return rows;
}
