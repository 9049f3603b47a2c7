/*
 * keys.c: every key of the console in one table (tig's way): what it
 * does, on which screens, whether it changes something.  The same table
 * answers a key press, prints the ? help and makes the key bar, so the
 * three never disagree; a read-only profile loses the rows that change
 * things everywhere at once.
 */
#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

/* Rows of the table the bar and the help can mark (it has about 55). */
#define KEYS_MAX	128

#define AG	SCR(SCR_AGENTS)
#define PR	SCR(SCR_PROJECTS)
#define SP	SCR(SCR_SPONSORS)
#define PL	SCR(SCR_PLATFORMS)
#define SE	SCR(SCR_SECRETS)
#define DE	SCR(SCR_DEPLOYMENTS)
#define AU	SCR(SCR_AUDIT)
#define ALL	SCR_ALL

#define CH	KF_CHANGES
#define BAR	KF_BAR
#define FIRST	(KF_BAR | KF_BAR_FIRST)
#define MUST	(KF_BAR | KF_BAR_MUST)
#define HID	KF_HIDDEN

const struct key_def keys[] = {
	/* Moving: no bar, everybody knows them. */
	{ 'k', "k", A_UP, NULL, "move up", ALL, 0 },
	{ KEYF(KEY_UP), "Up", A_UP, NULL, "move up", ALL, 0 },
	{ 'j', "j", A_DOWN, NULL, "move down", ALL, 0 },
	{ KEYF(KEY_DOWN), "Down", A_DOWN, NULL, "move down", ALL, 0 },
	{ KEYF(KEY_PPAGE), "PgUp", A_PGUP, NULL, "page up", ALL, 0 },
	{ KEY_CTRL('b'), "^B", A_PGUP, NULL, "page up", ALL, 0 },
	{ KEYF(KEY_NPAGE), "PgDn", A_PGDN, NULL, "page down", ALL, 0 },
	{ KEY_CTRL('f'), "^F", A_PGDN, NULL, "page down", ALL, 0 },
	{ 'g', "g", A_HOME, NULL, "first row", ALL, 0 },
	{ KEYF(KEY_HOME), "Home", A_HOME, NULL, "first row", ALL, 0 },
	{ 'G', "G", A_END, NULL, "last row", ALL, 0 },
	{ KEYF(KEY_END), "End", A_END, NULL, "last row", ALL, 0 },

	/* Enter opens what the row is, per screen. */
	{ '\n', "Enter", A_OPEN, "open", "open the agent's details", AG, BAR },
	{ '\n', "Enter", A_OPEN, "open", "make it the current project and"
	  " open its deployment, readiness, sponsors and work rules", PR,
	  BAR },
	{ '\n', "Enter", A_OPEN, "open", "open the sponsor's details", SP,
	  BAR },
	{ '\n', "Enter", A_OPEN, "open", "open the platform's details", PL,
	  BAR },
	{ '\n', "Enter", A_OPEN, "open", "open the secret's details (never"
	  " its value)", SE, BAR },
	{ '\n', "Enter", A_OPEN, "log", "open the deployment and its log"
	  " excerpt", DE, FIRST },
	{ '\n', "Enter", A_OPEN, "open", "open the entry and its detail", AU,
	  BAR },
	{ '\r', "Enter", A_OPEN, NULL, NULL, ALL, HID },
	{ KEYF(KEY_ENTER), "Enter", A_OPEN, NULL, NULL, ALL, HID },

	/* Agents. */
	{ 'A', "A", A_APPROVE, "approve", "approve: pending or suspended"
	  " becomes active (the first approval creates its Gitea user)", AG,
	  CH | FIRST },
	{ 's', "s", A_SUSPEND, "suspend", "suspend, after confirmation: no"
	  " access, its claims released, its Gitea user blocked", AG,
	  CH | FIRST },

	/* Projects. */
	{ 't', "t", A_TRANSITION, "transition", "change the deployment"
	  " status; only the allowed next ones are offered", PR, CH | FIRST },
	{ 'e', "e", A_EDIT, "set", "set the platform, deploy branch and URL",
	  PR, CH | FIRST },
	{ 'R', "R", A_READINESS, "readiness", "check readiness against Gitea"
	  " now", PR, CH | FIRST },
	{ 'w', "w", A_RULES, "rules", "show the project's work rules", PR,
	  FIRST },

	/* Sponsors. */
	{ 'a', "a", A_ADD, "add", "add a sponsor to the current project", SP,
	  CH | FIRST },
	{ 'e', "e", A_EDIT, "edit", "edit the sponsor", SP, CH | FIRST },
	{ 'p', "p", A_PAUSE, "pause", "pause an active sponsor (after"
	  " confirmation), or resume a paused one", SP, CH | FIRST },
	{ 'x', "x", A_END_SPONSOR, "end", "end the sponsor, after"
	  " confirmation; an ended sponsor stays ended", SP, CH | FIRST },

	/* Platforms. */
	{ 'a', "a", A_ADD, "add", "add a platform to the catalog", PL,
	  CH | FIRST },
	{ 'e', "e", A_EDIT, "edit", "edit the platform", PL, CH | FIRST },
	{ 'x', "x", A_RETIRE, "retire", "retire the platform, after"
	  " confirmation (or bring a retired one back)", PL, CH | FIRST },
	{ 'd', "d", A_DELETE, "delete", "delete the platform, after"
	  " confirmation (only one no project uses)", PL, CH | FIRST },

	/* Secrets. */
	{ 'a', "a", A_ADD, "add", "set a new secret: its name, then its value"
	  " (echo off)", SE, CH | FIRST },
	{ 'e', "e", A_EDIT, "set", "set the secret's value (echo off)", SE,
	  CH | FIRST },
	{ 'b', "b", A_BYOK, "byok", "add a BYOK entry: the owner sets the"
	  " value on the platform", SE, CH | FIRST },
	{ 'c', "c", A_CONFIRM, "confirm", "confirm that a BYOK entry is set"
	  " on the platform", SE, CH | FIRST },
	{ 'd', "d", A_DELETE, "delete", "delete the secret, after"
	  " confirmation", SE, CH | FIRST },
	{ 'v', "v", A_REVEAL, "reveal", "reveal the value: type the project"
	  " name and a reason (audited); shown for 10 s", SE, CH | FIRST },

	/* Deployments. */
	{ 'm', "m", A_MARK, "mark deployed", "mark deployed: the URL it runs"
	  " at and the commit (empty: the newest waiting); the project goes"
	  " live", DE, CH | FIRST },
	{ 'D', "D", A_DEPLOY, "deploy", "deploy the deploy branch's head now,"
	  " after confirmation", DE, CH | FIRST },

	/* Audit. */
	{ 'p', "p", A_SCOPE, "this project", "toggle: every entry, or only"
	  " the current project's", AU, FIRST },

	/* Everywhere. */
	{ 'P', "P", A_PROJECT, "project", "choose the current project", SP |
	  SE | DE | AU, FIRST },
	{ '/', "/", A_FILTER, "filter", "filter the rows as you type (!text:"
	  " the rows without text); Esc clears", ALL, BAR },
	{ KEY_ESC, "Esc", A_CLEAR, NULL, "clear the filter", ALL, 0 },
	{ ':', ":", A_JUMP, "jump", "jump to a screen: :agents :projects"
	  " :sponsors :platforms :secrets :deployments :audit, or :ag :pr :sp"
	  " :pl :se :de :au", ALL, BAR },
	{ '\t', "Tab", A_NEXT, NULL, "next screen", ALL, 0 },
	{ KEYF(KEY_BTAB), "S-Tab", A_PREV, NULL, "previous screen", ALL, 0 },
	{ 'r', "r", A_REFRESH, "refresh", "reload from the daemon (and retry"
	  " a lost one)", ALL, BAR },
	{ KEY_CTRL('l'), "^L", A_REDRAW, NULL, "redraw the screen", ALL, 0 },
	{ '?', "?", A_HELP, "help", "these keys", ALL, MUST },
	{ 'q', "q", A_BACK, "quit", "quit (in a pager, menu or form: back)",
	  ALL, MUST },
};
const size_t nkeys = sizeof(keys) / sizeof(keys[0]);

static bool
key_shown(const struct key_def *k, enum screen_id s, bool ro)
{
	return (k->screens & SCR(s)) != 0 && !(ro && (k->flags & KF_CHANGES));
}

enum action
key_action(int key, enum screen_id s, bool ro)
{
	size_t	i;

	for (i = 0; i < nkeys; i++) {
		if (keys[i].key != key || (keys[i].screens & SCR(s)) == 0)
			continue;
		if (ro && (keys[i].flags & KF_CHANGES))
			return A_READONLY;
		return keys[i].action;
	}
	return A_NONE;
}

/*
 * htop's bar: "? help" and "q quit" always, then this screen's own
 * actions, then the common ones while they fit; shown in the table's
 * order, so a key keeps its place from screen to screen.
 */
char *
key_bar(char *out, size_t len, enum screen_id s, bool ro, int width)
{
	bool	 take[KEYS_MAX];
	size_t	 i, n = nkeys < KEYS_MAX ? nkeys : KEYS_MAX;
	int	 used = 0, pass, w;

	memset(take, 0, sizeof(take));
	for (pass = 0; pass < 3; pass++)
		for (i = 0; i < n; i++) {
			const struct key_def *k = &keys[i];

			if (take[i] || k->label == NULL ||
			    !(k->flags & KF_BAR) || !key_shown(k, s, ro))
				continue;
			if ((pass == 0 && !(k->flags & KF_BAR_MUST)) ||
			    (pass == 1 && !(k->flags & KF_BAR_FIRST)))
				continue;
			w = (int)(strlen(k->name) + 1 + strlen(k->label) + 2);
			if (used + w > width && pass > 0)
				continue;
			take[i] = true;
			used += w;
		}
	*out = '\0';
	for (i = 0; i < n; i++) {
		if (!take[i])
			continue;
		if (*out != '\0')
			str_append(out, "  ", len);
		str_append(out, keys[i].name, len);
		str_append(out, " ", len);
		str_append(out, keys[i].label, len);
	}
	return out;
}

/* The help: one line per action, its keys together ("j Down"). */
char *
key_help(enum screen_id s, bool ro)
{
	struct sbuf	 sb = { NULL, 0, 0 };
	bool		 done[KEYS_MAX];
	char		 names[64];
	size_t		 i, j, n = nkeys < KEYS_MAX ? nkeys : KEYS_MAX;

	memset(done, 0, sizeof(done));
	for (i = 0; i < n; i++) {
		if (done[i] || (keys[i].flags & KF_HIDDEN) ||
		    !key_shown(&keys[i], s, ro))
			continue;
		names[0] = '\0';
		for (j = i; j < n; j++) {
			if (done[j] || keys[j].action != keys[i].action ||
			    (keys[j].flags & KF_HIDDEN) ||
			    !key_shown(&keys[j], s, ro))
				continue;
			done[j] = true;
			if (names[0] != '\0')
				str_append(names, " ", sizeof(names));
			str_append(names, keys[j].name, sizeof(names));
		}
		sb_printf(&sb, "  %-12s %s\n", names, keys[i].help);
	}
	sb_printf(&sb, "\nPrompts (: / and the questions): Enter accepts, Esc"
	    " cancels.\nForms: Tab or Enter goes to the next field, Enter on"
	    " the last one submits, Esc cancels; Left/Right or Space changes a"
	    " choice.\nIn a pager: j k PgUp PgDn g G move, q or Esc closes"
	    " it.\n");
	if (ro)
		sb_printf(&sb, "\nThis profile is read-only: the keys that"
		    " change things are not offered.\n");
	return sb.p;
}
