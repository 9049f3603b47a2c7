/*
 * console.h: synstack-console, the admin console (SPEC.md section 9); one
 * section per file.  The console is a client of the daemon's admin API
 * only: the master key and the database stay with the daemon.  The parts
 * without a screen (profiles.c, client.c, format.c) are plain C with unit
 * tests; the rest draws with ncursesw, form, menu and panel.
 */
#ifndef CONSOLE_H
#define CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <json-c/json.h>

#include "synstack.h"		/* struct err, strlcpy_ss, utf8 helpers */

/* -- profiles.c: which daemon, which token, read-only or not ----------- */
#define PROFILE_NAME_MAX	64
#define PROFILE_TOKEN_MAX	512

struct profile {
	char	name[PROFILE_NAME_MAX + 1];
	char	url[1024];		/* "http(s)://host:port", or "" */
	char	socket[512];		/* a unix socket path, or "" */
	char	token_file[1024];	/* "~/" expanded */
	char	token[PROFILE_TOKEN_MAX + 1];	/* its first line */
	bool	read_only;
	char	source[1024];		/* the file it came from */
};

/*
 * The profile named (NULL: the file's default) from the first profiles
 * file that exists: path when given, else $XDG_CONFIG_HOME (default
 * ~/.config)/synstack/profiles.yaml, then the system's profiles.yaml in
 * SYNSTACK_SYSCONFDIR (/etc/synstack with --sysconfdir=/etc, as packages
 * build it).  A profile's own read_only wins over the file's global one.
 * The token file is refused when group or others can read it.  Errors
 * name file:line:column where there is one.
 */
int		 profile_load(const char *, const char *, struct profile *,
		     struct err *);
/* The same from one file. */
int		 profile_load_file(const char *, const char *,
		     struct profile *, struct err *);
/* The file profile_load reads when given none, into the buffer; system
 * (NULL: the installed one) stands for the last candidate.  When none
 * exists, the error names every path tried. */
int		 profile_find(char *, size_t, const char *, struct err *);
void		 profile_wipe(struct profile *);

/* -- client.c: the daemon's API over HTTP(S) or a unix socket ------------ */
struct client;

struct api_result {
	long		 status;	/* HTTP status; 0: no answer came */
	json_object	*json;		/* the whole answer, or NULL */
	json_object	*data;		/* its "data" (borrowed), or NULL */
	char		 code[48];	/* the error's code; "" on success;
					 * "unreachable" when no answer */
	char		 message[512];	/* the answer's text, or the error's
					 * message */
	char		 hint[256];
};

struct client	*client_new(const struct profile *, struct err *);
void		 client_free(struct client *);
/* One call: method, path (segments already escaped), body (NULL for none;
 * not taken).  0 on a 2xx answer, -1 otherwise; res is filled either way
 * and freed with api_result_free. */
int		 client_call(struct client *, const char *, const char *,
		     json_object *, struct api_result *);
void		 api_result_free(struct api_result *);
/* "/api/v1/projects/<owner>/<repo>" from "owner/repo" (split at its
 * first '/') and a printf'd tail, owner and repo percent-encoded; the
 * tail's user strings are the caller's to escape.  A name without '/' or
 * a path too long for the buffer leaves it "", which client_call
 * refuses. */
void		 client_project_path(char *, size_t, const char *,
		     const char *, ...) SS_PRINTF(4, 5);
/* Percent-encodes one path segment or query value (malloc'd). */
char		*client_escape(const char *);
/* "422 invalid_transition: the deployment of demo/app is none; ..." (the
 * hint, when there is one, in parentheses after it), or "cannot reach the
 * daemon: ..."; control characters blanked. */
void		 api_result_line(const struct api_result *, char *, size_t);

/* -- format.c: rows as text in fixed-width columns ------------------------ */
enum col_kind {
	COL_TEXT,
	COL_NUMBER,	/* right-aligned */
	COL_WHEN,	/* an ISO time as "2 min ago", "never" for null */
	COL_BOOL,	/* "yes" / "" */
	COL_SHA		/* the first 7 characters */
};

struct column {
	const char	*title;		/* "NAME" */
	const char	*key;		/* the row's field; dotted paths go
					 * into objects ("platform.name") */
	int		 width;		/* display columns; 0: the rest */
	enum col_kind	 kind;
};

/* Appends to a string of size bytes, cut as strlcpy_ss cuts. */
size_t		 str_append(char *, const char *, size_t);
/* text cut or padded to width display columns (UTF-8 aware; a cut ends
 * with "~"); right: aligned right.  Returns out. */
char		*fmt_cell(char *, size_t, const char *, int, bool);
/* iso (NULL: "never") relative to now: "now", "42 s ago", "5 min ago",
 * "3 h ago", "2 d ago", or the date past 30 days; a future time: "in 5
 * min". */
char		*fmt_when(char *, size_t, const char *, time_t);
/* One row, or the header (row NULL), in total display columns. */
char		*fmt_row(char *, size_t, json_object *, const struct column *,
		     size_t, int, time_t);
/* Whether a row's cells contain filter (case-insensitive); a leading "!"
 * inverts; "" matches everything. */
bool		 fmt_matches(json_object *, const struct column *, size_t,
		     const char *, time_t);

/* -- the sections below belong to the screen side (keys.c, ui.c, form.c,
 * main.c, screen-*.c). -------------------------------------------------- */

/* -- keys.c: every key in one table; it makes the help and the key bar -- */
enum screen_id {
	SCR_AGENTS,
	SCR_PROJECTS,
	SCR_SPONSORS,
	SCR_PLATFORMS,
	SCR_SECRETS,
	SCR_DEPLOYMENTS,
	SCR_AUDIT,
	SCR__COUNT
};
#define SCR(s)		(1U << (s))
#define SCR_ALL		((1U << SCR__COUNT) - 1)
/* The screens that work on the current project. */
#define SCR_SCOPED	(SCR(SCR_SPONSORS) | SCR(SCR_SECRETS) | \
			 SCR(SCR_DEPLOYMENTS) | SCR(SCR_AUDIT))

/* A curses function key (KEY_UP, ...) as the tables hold it, apart from
 * the characters wget_wch gives. */
#define KEYF(k)		((int)(0x1000000 | (k)))
#define KEY_ESC		27
#define KEY_CTRL(c)	((c) & 0x1f)

enum action {
	A_NONE = 0,
	A_READONLY,		/* a key that changes things, read-only */
	A_UP, A_DOWN, A_PGUP, A_PGDN, A_HOME, A_END,
	A_OPEN, A_NEXT, A_PREV, A_JUMP, A_FILTER, A_CLEAR, A_REFRESH,
	A_BACK, A_HELP, A_PROJECT, A_REDRAW,
	A_ADD, A_EDIT, A_DELETE,
	A_APPROVE, A_SUSPEND,			/* agents */
	A_TRANSITION, A_READINESS, A_RULES,	/* projects */
	A_PAUSE, A_END_SPONSOR,			/* sponsors */
	A_RETIRE,				/* platforms */
	A_BYOK, A_CONFIRM, A_REVEAL,		/* secrets */
	A_MARK, A_DEPLOY,			/* deployments */
	A_SCOPE					/* audit */
};

#define KF_CHANGES	0x01	/* changes something: gone when read-only */
#define KF_BAR		0x02	/* in the key bar when there is room */
#define KF_BAR_FIRST	0x04	/* in the key bar before the others */
#define KF_BAR_MUST	0x08	/* always in the key bar */
#define KF_HIDDEN	0x10	/* another code of a key already listed */

struct key_def {
	int		 key;		/* a character, or KEYF(KEY_...) */
	const char	*name;		/* as the help and the bar show it */
	enum action	 action;
	const char	*label;		/* the key bar's word, or NULL */
	const char	*help;
	unsigned	 screens;	/* SCR() bits */
	unsigned	 flags;		/* KF_* */
};

extern const struct key_def	keys[];
extern const size_t		nkeys;

/* The action of a key on a screen: A_NONE when it has none, A_READONLY
 * when it would change something and the profile is read-only. */
enum action	 key_action(int, enum screen_id, bool);
/* A screen's key bar in at most width columns: "? help" and "q quit"
 * always, this screen's actions next, the rest while there is room. */
char		*key_bar(char *, size_t, enum screen_id, bool, int);
/* A screen's help, one line per action, for the pager (malloc'd). */
char		*key_help(enum screen_id, bool);

/* -- ui.c: the frame, the loop, prompts, menus and the pager ------------- */
struct ui;

struct table {
	const struct column	*cols;
	size_t			 ncols;
	const char		*idkey;		/* keeps the selection across
						 * reloads ("name", "id") */
	json_object		*rows;		/* a JSON array, owned */
	size_t			*shown;		/* the rows the filter keeps */
	size_t			 nshown;
	size_t			 sel, top;
	char			 filter[128];
	bool			 loaded;
	/* A row's colour, for what needs attention (htop's red). */
	int			(*tone)(json_object *);
};

enum tone {
	TONE_NONE,
	TONE_BAD,	/* red: needs attention */
	TONE_WARN,	/* yellow: waits for someone */
	TONE_GOOD	/* green */
};

struct screen_ops {
	enum screen_id	 id;
	const char	*name;		/* "agents": what ":" takes */
	const char	*alias;		/* "ag" */
	const char	*title;		/* "Agents": the tab */
	struct table	*table;		/* NULL: none */
	/* Loads what the screen shows (on entry and on r). */
	void		(*enter)(struct ui *);
	/* Draws the title line and the body (lines 2 to LINES - 3). */
	void		(*draw)(struct ui *);
	/* 1: the screen did the action; 0: the frame's default. */
	int		(*key)(struct ui *, enum action);
	void		(*leave)(struct ui *);	/* NULL: nothing to do */
};

extern const struct screen_ops	screen_agents, screen_projects,
		    screen_sponsors, screen_platforms, screen_secrets,
		    screen_deployments, screen_audit;
extern const struct screen_ops *const screens[SCR__COUNT];

#define UI_MIN_COLS	80
#define UI_MIN_LINES	24
#define UI_TOP		2		/* the title line of a screen */

struct ui {
	struct profile		*prof;
	struct client		*cl;
	const struct screen_ops	*cur;
	char			 project[256];	/* the current one, or "" */
	char			 owner[128], repo[128];
	char			 status[512];	/* the last action's result */
	bool			 status_error;
	bool			 lost;		/* the daemon did not answer */
	char			 health[64];	/* "db ok  gitea ok" */
	time_t			 health_at;
	long			 pending;	/* agents waiting; -1: unknown */
	bool			 color;
	bool			 quit;
	/* While a prompt, menu, form or pager is up. */
	const char		*bar;		/* its key bar */
	const char		*prompt;	/* its label on the status line */
	const char		*prompt_text;
};

/* Set by the signal handlers; every loop ends when it is set. */
extern volatile int	ui_signal;

int		 ui_init(struct ui *);
void		 ui_run(struct ui *);
void		 ui_end(void);
bool		 ui_read_only(const struct ui *);
/* The next key (a character or KEYF()), -1 after ms milliseconds
 * (ms < 0: wait), KEYF(KEY_RESIZE) after a resize (already redrawn
 * underneath), KEY_ESC when a signal asks to quit. */
int		 ui_getkey(struct ui *, int);
/* Draws the frame and the current screen; ui_flush shows them. */
void		 ui_draw(struct ui *);
void		 ui_flush(void);
void		 ui_status(struct ui *, const char *, ...) SS_PRINTF(2, 3);
void		 ui_error(struct ui *, const char *, ...) SS_PRINTF(2, 3);
/* One call to the daemon: an error (its code and text, or the daemon
 * lost) goes to the status line.  0 or -1, as client_call. */
int		 ui_call(struct ui *, const char *, const char *, json_object *,
		     struct api_result *);
/* A call whose success text goes to the status line; 0 or -1. */
int		 ui_act(struct ui *, const char *, const char *,
		     json_object *);
void		 ui_health(struct ui *);
void		 ui_set_project(struct ui *, const char *);
/* Asks for a current project when there is none; false: still none. */
bool		 ui_need_project(struct ui *);
/* GET /api/v1/admin/projects, every page (5000 rows at most) in one
 * array; NULL after an error, which the status line shows. */
json_object	*ui_projects(struct ui *);
/* The project menu (P); true when one was chosen. */
bool		 ui_choose_project(struct ui *);
/* "/api/v1/projects/<o>/<r><tail>" of the current project. */
void		 ui_project_path(struct ui *, char *, size_t, const char *, ...)
		     SS_PRINTF(4, 5);
void		 ui_switch(struct ui *, const struct screen_ops *);

/* A line typed on the status line: 1 on Enter, 0 on Esc.  changed, when
 * given, runs after each edit (the live filter). */
int		 ui_prompt(struct ui *, const char *, char *, size_t,
		     void (*)(struct ui *, const char *));
/* Backspace as prompts and forms take it: the key, ^H or DEL. */
bool		 ui_is_backspace(int);
/* Drops the last UTF-8 character of a string. */
void		 str_drop_last(char *);
/* "Delete sponsor "Acme"? [y/N]" on the status line; true on y. */
bool		 ui_confirm(struct ui *, const char *, ...) SS_PRINTF(2, 3);
/* A menu of n items: the index chosen, or -1. */
int		 ui_menu(struct ui *, const char *, const char *const *, size_t,
		     size_t);
/* A scrolling view of text (NULL: none), wrapped to the screen; q or Esc
 * closes it. */
void		 ui_pager(struct ui *, const char *, const char *);
/* Shows a secret's value masked, in the clear after a key, then clears
 * it from the screen; the caller wipes it from memory. */
void		 ui_reveal(struct ui *, const char *, const char *, int);

/* The table of a screen: its rows (the reference is taken), the filter,
 * the selection, drawing. */
void		 table_set(struct table *, json_object *);
void		 table_filter(struct table *, const char *);
void		 table_clear(struct table *);
json_object	*table_row(const struct table *);
/* Selects the row whose key has that value (a row just added). */
void		 table_select(struct table *, const char *, const char *);
bool		 table_move(struct table *, enum action, int);
/* The title line and the rows from line UI_TOP; empty: what the body
 * says without rows. */
void		 table_draw(struct ui *, struct table *, const char *,
		     const char *);
/* A screen of the current project's rows: forgets the rows of another
 * project (the string of size bytes remembers which); 0 when there is a
 * project to load them for, -1 (and an empty table) when none is chosen. */
int		 table_for_project(struct ui *, struct table *, char *, size_t);
/* The current screen's table without a current project: its title and
 * what to do; false, and nothing drawn, when there is a project. */
bool		 table_draw_no_project(struct ui *, struct table *);
/* A table screen's rows from GET path's data.<key>; 0 or -1. */
int		 table_load(struct ui *, struct table *, const char *,
		     const char *);
/* A row's field as text ("" when missing or null). */
const char	*row_str(json_object *, const char *);
/* Appends printf'd text to a growing buffer (the pagers' texts). */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};
void		 sb_printf(struct sbuf *, const char *, ...) SS_PRINTF(2, 3);
void		 sb_free(struct sbuf *);
/* Text, label: value lines of an object for a pager. */
void		 sb_fields(struct sbuf *, json_object *,
		     const char *const (*)[2], time_t);

/* -- form.c: libform forms that validate each field before submit -------- */
enum ff_kind {
	FF_TEXT,
	FF_SECRET,	/* echoes "*"; the value never reaches libform */
	FF_CHOICE,	/* one of choices: Left/Right, Space, or typed */
	FF_URL,		/* http:// or https:// */
	FF_INT
};

struct ff {
	const char		*label;
	enum ff_kind		 kind;
	bool			 required;
	size_t			 max;		/* characters; 0: 200 */
	const char *const	*choices;	/* FF_CHOICE, NULL-terminated */
	/* Another check: an error message, or NULL when v is fine. */
	const char		*(*check)(const char *);
	char			*value;		/* in: the initial value; out:
						 * the submitted one (malloc'd) */
};

/* Runs a form until submit (the callback's 0) or Esc.  A refused
 * submit's error (the status line) shows in the form, which stays.  1:
 * submitted, 0: canceled. */
int		 form_run(struct ui *, const char *, struct ff *, size_t,
		     int (*)(struct ui *, struct ff *, size_t, void *), void *);
void		 ff_set(struct ff *, const char *);
/* A field's value, "" when it has none. */
const char	*ff_value(const struct ff *);
/* Frees the values (secrets wiped first). */
void		 ff_free(struct ff *, size_t);
/* Checks for fields: an environment variable name, a platform slug, a
 * commit (7 to 64 hex digits). */
const char	*ff_check_env(const char *);
const char	*ff_check_slug(const char *);
const char	*ff_check_commit(const char *);
/* A field's value into a JSON body: "" as null (nullable) or left out;
 * "yes"/"no" as booleans; words (space or comma separated) as arrays. */
void		 ff_put_str(json_object *, const char *, const char *, bool);
void		 ff_put_bool(json_object *, const char *, const char *);
void		 ff_put_words(json_object *, const char *, const char *);

#endif /* CONSOLE_H */
