/*
 * ui.c: the console's frame and its one loop.
 *
 * The frame is stdscr: the header (who and where, the daemon's health),
 * the screens' tabs, the current screen's title and table, the status line
 * and the key bar.  What comes up over it (a menu, a form, the pager, a
 * revealed value) is a panel, run by a loop of its own that ends with the
 * answer; every loop redraws the whole frame after a resize and gives up
 * when a signal asks to quit, so endwin() always runs.
 *
 * Nothing here writes to the terminal except through curses.
 */
#include <ctype.h>
#include <curses.h>
#include <menu.h>
#include <panel.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <wchar.h>

#include "console.h"

#define KEY_STEP_MS	200	/* how often a waiting loop looks at signals */
#define HEALTH_EVERY_S	30	/* the header's health, when idle */
#define ROW_MAX		2048	/* bytes of one drawn row */
#define PROJECTS_PAGE	200
#define PROJECTS_MAX	5000

enum {
	CP_BAD = 1,
	CP_WARN,
	CP_GOOD,
	CP_TITLE,
	CP_KEY
};

volatile int	ui_signal;

const struct screen_ops *const screens[SCR__COUNT] = {
	&screen_agents,
	&screen_projects,
	&screen_sponsors,
	&screen_platforms,
	&screen_secrets,
	&screen_deployments,
	&screen_audit
};

static int	prompt_x = -1;		/* the cursor on a prompt */
static bool	colors;

static void	 dispatch(struct ui *, int);
static void	 jump(struct ui *);
static void	 filter_prompt(struct ui *);

/* -- little things ------------------------------------------------------- */

const char *
row_str(json_object *row, const char *key)
{
	json_object	*v = row != NULL ? json_path(row, key) : NULL;
	const char	*s;

	if (v == NULL || (s = json_object_get_string(v)) == NULL)
		return "";
	return s;
}

void
sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list	 ap;
	char	*p;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (sb->len + (size_t)n + 1 > sb->cap) {
		size_t cap = (sb->cap + (size_t)n + 1) * 2;

		if ((p = realloc(sb->p, cap)) == NULL)
			return;
		sb->p = p;
		sb->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->len, sb->cap - sb->len, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void
sb_free(struct sbuf *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

/* A value for a pager: times with their age, lists joined, null as -. */
static void
sb_value(struct sbuf *sb, json_object *v, const char *key, time_t now)
{
	char	when[64];
	size_t	i, n;
	size_t	klen = strlen(key);

	if (v == NULL || json_object_is_type(v, json_type_null)) {
		sb_printf(sb, "-");
		return;
	}
	switch (json_object_get_type(v)) {
	case json_type_boolean:
		sb_printf(sb, "%s", json_object_get_boolean(v) ? "yes" : "no");
		break;
	case json_type_array:
		n = json_object_array_length(v);
		if (n == 0)
			sb_printf(sb, "-");
		for (i = 0; i < n; i++)
			sb_printf(sb, "%s%s", i > 0 ? ", " : "",
			    json_object_get_string(json_object_array_get_idx(v,
			    i)));
		break;
	case json_type_string:
		if (strcmp(key, "at") == 0 || (klen > 3 &&
		    strcmp(key + klen - 3, "_at") == 0)) {
			fmt_when(when, sizeof(when), json_object_get_string(v),
			    now);
			sb_printf(sb, "%s (%s)", when,
			    json_object_get_string(v));
		} else
			sb_printf(sb, "%s", json_object_get_string(v));
		break;
	default:
		sb_printf(sb, "%s", json_object_to_json_string_ext(v,
		    JSON_C_TO_STRING_PLAIN));
		break;
	}
}

void
sb_fields(struct sbuf *sb, json_object *o, const char *const (*f)[2],
    time_t now)
{
	for (; f[0][0] != NULL; f++) {
		sb_printf(sb, "%-16s ", f[0][0]);
		sb_value(sb, json_path(o, f[0][1]), f[0][1], now);
		sb_printf(sb, "\n");
	}
}

/* Display columns of UTF-8 text. */
static int
text_width(const char *s)
{
	wchar_t	*w;
	size_t	 n = strlen(s) + 1;
	int	 width;

	if ((w = calloc(n, sizeof(*w))) == NULL ||
	    mbstowcs(w, s, n) == (size_t)-1) {
		free(w);
		return (int)strlen(s);
	}
	width = wcswidth(w, n);
	free(w);
	return width < 0 ? (int)strlen(s) : width;
}

/* Text cut (never padded) to width columns, at the cursor. */
static void
put_cut(const char *s, int width)
{
	char	buf[ROW_MAX];
	size_t	n;

	if (width <= 0)
		return;
	fmt_cell(buf, sizeof(buf), s, width, false);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	addstr(buf);
}

static attr_t
tone_attr(int tone)
{
	if (!colors)
		return tone == TONE_BAD ? A_BOLD : A_NORMAL;
	switch (tone) {
	case TONE_BAD:
		return COLOR_PAIR(CP_BAD) | A_BOLD;
	case TONE_WARN:
		return COLOR_PAIR(CP_WARN);
	case TONE_GOOD:
		return COLOR_PAIR(CP_GOOD);
	default:
		return A_NORMAL;
	}
}

bool
ui_read_only(const struct ui *ui)
{
	return ui->prof->read_only;
}

/* -- curses in and out ------------------------------------------------- */

int
ui_init(struct ui *ui)
{
	/* newterm, not initscr: a bad TERM is an answer, not an exit. */
	if (newterm(NULL, stdout, stdin) == NULL)
		return -1;
	set_escdelay(25);
	cbreak();
	noecho();
	intrflush(stdscr, FALSE);
	keypad(stdscr, TRUE);
	curs_set(0);
	/* NO_COLOR (https://no-color.org): any value turns colours off. */
	colors = getenv("NO_COLOR") == NULL && has_colors();
	if (colors) {
		start_color();
		use_default_colors();
		init_pair(CP_BAD, COLOR_RED, -1);
		init_pair(CP_WARN, COLOR_YELLOW, -1);
		init_pair(CP_GOOD, COLOR_GREEN, -1);
		init_pair(CP_TITLE, COLOR_CYAN, -1);
		init_pair(CP_KEY, COLOR_BLACK, COLOR_CYAN);
	}
	ui->color = colors;
	return 0;
}

void
ui_end(void)
{
	if (stdscr != NULL && !isendwin()) {
		curs_set(1);
		endwin();
	}
}

void
ui_flush(void)
{
	update_panels();
	doupdate();
}

int
ui_getkey(struct ui *ui, int ms)
{
	wint_t	wc;
	int	r, waited = 0;

	for (;;) {
		if (ui_signal)
			return KEY_ESC;
		timeout(ms >= 0 && ms - waited < KEY_STEP_MS ? ms - waited :
		    KEY_STEP_MS);
		r = get_wch(&wc);
		if (r == KEY_CODE_YES) {
			if (wc == KEY_RESIZE) {
				ui_draw(ui);
				return KEYF(KEY_RESIZE);
			}
			return KEYF((int)wc);
		}
		if (r == OK)
			return (int)wc;
		waited += KEY_STEP_MS;
		if (ms >= 0 && waited >= ms)
			return -1;
	}
}

/* -- the frame ----------------------------------------------------------- */

static void
draw_header(struct ui *ui)
{
	char		 left[256];
	const char	*where = ui->prof->url[0] != '\0' ? ui->prof->url :
	    ui->prof->socket;
	const char	*health = ui->lost ? "daemon unreachable" :
	    ui->health[0] != '\0' ? ui->health : "health unknown";
	int		 room;

	snprintf(left, sizeof(left), " SynStack  profile: %s (%s)",
	    ui->prof->name, ui->prof->read_only ? "read-only" : "read-write");
	move(0, 0);
	attron(A_BOLD);
	put_cut(left, COLS - 2);
	attroff(A_BOLD);
	addstr("  ");
	room = COLS - text_width(left) - text_width(health) - 4;
	if (room > 8) {
		put_cut(where, room);
		addstr("  ");
	}
	attron(tone_attr(ui->lost || strstr(health, "down") != NULL ?
	    TONE_BAD : TONE_GOOD));
	put_cut(health, COLS - getcurx(stdscr));
	attroff(tone_attr(TONE_BAD) | tone_attr(TONE_GOOD));
}

/* " Agents  Projects ...": the current one as "[Agents]", also for
 * readers of the screen without attributes (tmux capture-pane). */
static void
draw_tabs(struct ui *ui)
{
	char	 pend[32];
	size_t	 i;
	int	 x;

	move(1, 0);
	for (i = 0; i < SCR__COUNT; i++) {
		bool cur = screens[i] == ui->cur;

		if (getcurx(stdscr) + (int)strlen(screens[i]->title) + 2 >
		    COLS)
			break;
		addch(cur ? '[' : ' ');
		if (cur)
			attron(A_REVERSE | A_BOLD);
		addstr(screens[i]->title);
		if (cur)
			attroff(A_REVERSE | A_BOLD);
		addch(cur ? ']' : ' ');
	}
	if (ui->pending < 0)
		return;
	snprintf(pend, sizeof(pend), "[%ld pending]", ui->pending);
	x = COLS - (int)strlen(pend);
	if (x > getcurx(stdscr)) {
		attron(tone_attr(ui->pending > 0 ? TONE_WARN : TONE_NONE));
		mvaddstr(1, x, pend);
		attroff(tone_attr(TONE_WARN));
	}
}

#define PROMPT_INPUT_MIN	32	/* columns left to type in */

static void
draw_status(struct ui *ui)
{
	int	y = LINES - 2, w;

	move(y, 0);
	prompt_x = -1;
	if (ui->prompt != NULL) {
		/* A long question goes on the line above, so what is typed
		 * (a project name to confirm a reveal) shows whole. */
		if (text_width(ui->prompt) + PROMPT_INPUT_MIN > COLS - 3 &&
		    y > 2) {
			move(y - 1, 0);
			clrtoeol();
			attron(A_BOLD);
			addch(' ');
			put_cut(ui->prompt, COLS - 2);
			attroff(A_BOLD);
			move(y, 0);
			clrtoeol();
			addch(' ');
		} else {
			attron(A_BOLD);
			addch(' ');
			put_cut(ui->prompt, COLS - 2);
			attroff(A_BOLD);
			/* "Reason:" and its answer, apart; ":" and "/"
			 * alone stay next to what is typed. */
			if (strlen(ui->prompt) > 1)
				addch(' ');
		}
		w = COLS - getcurx(stdscr) - 2;
		if (ui->prompt_text != NULL && w > 1) {
			const char	*t = ui->prompt_text;

			/* The end of a long line, where one types. */
			while (text_width(t) > w - 1 && *t != '\0') {
				t++;
				while ((*t & 0xc0) == 0x80)
					t++;
			}
			if (t != ui->prompt_text)
				addch('~');
			put_cut(t, w);
		}
		prompt_x = getcurx(stdscr);
		return;
	}
	attron(tone_attr(ui->status_error ? TONE_BAD : TONE_NONE));
	addch(' ');
	put_cut(ui->status, COLS - 2);
	attroff(tone_attr(TONE_BAD));
}

/* The bar's items are "key label", two spaces apart; keys stand out. */
static void
draw_bar(struct ui *ui)
{
	char		 bar[1024];
	const char	*p, *sp, *end;
	int		 y = LINES - 1;

	if (ui->bar != NULL)
		strlcpy_ss(bar, ui->bar, sizeof(bar));
	else
		key_bar(bar, sizeof(bar), ui->cur->id, ui_read_only(ui),
		    COLS - 2);
	move(y, 0);
	addch(' ');
	for (p = bar; *p != '\0'; p = end) {
		if ((end = strstr(p, "  ")) == NULL)
			end = p + strlen(p);
		if ((sp = memchr(p, ' ', (size_t)(end - p))) == NULL)
			sp = end;
		if (getcurx(stdscr) + (int)(end - p) >= COLS)
			break;
		attron(colors ? COLOR_PAIR(CP_KEY) : A_REVERSE);
		addnstr(p, (int)(sp - p));
		attroff(colors ? COLOR_PAIR(CP_KEY) : A_REVERSE);
		addnstr(sp, (int)(end - sp));
		while (*end == ' ')
			end++;
		if (*end != '\0')
			addstr("  ");
	}
}

void
ui_draw(struct ui *ui)
{
	char	msg[128];

	erase();
	if (COLS < UI_MIN_COLS || LINES < UI_MIN_LINES) {
		snprintf(msg, sizeof(msg), "synstack-console needs %dx%d;"
		    " this terminal is %dx%d", UI_MIN_COLS, UI_MIN_LINES, COLS,
		    LINES);
		mvaddnstr(LINES / 2, 0, msg, COLS);
		return;
	}
	draw_header(ui);
	draw_tabs(ui);
	ui->cur->draw(ui);
	draw_status(ui);
	draw_bar(ui);
	if (prompt_x >= 0)
		move(LINES - 2, prompt_x);
}

void
ui_status(struct ui *ui, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(ui->status, sizeof(ui->status), fmt, ap);
	va_end(ap);
	ui->status_error = false;
}

void
ui_error(struct ui *ui, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(ui->status, sizeof(ui->status), fmt, ap);
	va_end(ap);
	ui->status_error = true;
}

/* -- the daemon ---------------------------------------------------------- */

int
ui_call(struct ui *ui, const char *method, const char *path,
    json_object *body, struct api_result *res)
{
	char	line[768];
	bool	was_lost = ui->lost;
	int	rc;

	rc = client_call(ui->cl, method, path, body, res);
	ui->lost = res->status == 0;
	if (was_lost && !ui->lost)
		ui_health(ui);
	if (rc == -1) {
		api_result_line(res, line, sizeof(line));
		if (ui->lost)
			ui_error(ui, "cannot reach the daemon (r retries): %s",
			    res->message);
		else
			ui_error(ui, "%s", line);
	}
	return rc;
}

int
ui_act(struct ui *ui, const char *method, const char *path,
    json_object *body)
{
	struct api_result	res;
	int			rc;

	if ((rc = ui_call(ui, method, path, body, &res)) == 0)
		ui_status(ui, "%s", res.message[0] != '\0' ? res.message :
		    "done");
	api_result_free(&res);
	return rc;
}

/* The header's "db ok  gitea ok" (GET /healthz) and the pending count. */
void
ui_health(struct ui *ui)
{
	struct api_result	 res;
	json_object		*agents;
	int			 db, gitea;

	ui->health_at = time(NULL);
	client_call(ui->cl, "GET", "/healthz", NULL, &res);
	ui->lost = res.status == 0;
	if (ui->lost) {
		api_result_free(&res);
		return;
	}
	db = json_path_bool(res.json, "database.ok");
	gitea = json_path_bool(res.json, "gitea.ok");
	snprintf(ui->health, sizeof(ui->health), "db %s  gitea %s",
	    db == 1 ? "ok" : db == 0 ? "down" : "?",
	    gitea == 1 ? "ok" : gitea == 0 ? "down" : "?");
	api_result_free(&res);

	if (client_call(ui->cl, "GET", "/api/v1/admin/agents?status=pending",
	    NULL, &res) == 0 && (agents = json_path(res.data, "agents")) !=
	    NULL && json_object_is_type(agents, json_type_array))
		ui->pending = (long)json_object_array_length(agents);
	else
		ui->pending = -1;
	api_result_free(&res);
}

/* -- the current project ------------------------------------------------- */

void
ui_set_project(struct ui *ui, const char *project)
{
	const char	*slash = strchr(project, '/');

	strlcpy_ss(ui->project, project, sizeof(ui->project));
	ui->owner[0] = ui->repo[0] = '\0';
	if (slash != NULL) {
		snprintf(ui->owner, sizeof(ui->owner), "%.*s",
		    (int)(slash - project), project);
		strlcpy_ss(ui->repo, slash + 1, sizeof(ui->repo));
	}
}

bool
ui_need_project(struct ui *ui)
{
	if (ui->project[0] != '\0')
		return true;
	ui_error(ui, "no current project: P chooses one (or Enter on the"
	    " Projects screen)");
	return false;
}

void
ui_project_path(struct ui *ui, char *buf, size_t len, const char *fmt, ...)
{
	char	tail[1024];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(tail, sizeof(tail), fmt, ap);
	va_end(ap);
	client_project_path(buf, len, ui->project, "%s", tail);
}

/* Every page: one array, PROJECTS_MAX rows at most. */
json_object *
ui_projects(struct ui *ui)
{
	struct api_result	 res;
	json_object		*all, *rows, *next;
	char			 path[512], *after = NULL;
	size_t			 i;

	if ((all = json_object_new_array()) == NULL)
		return NULL;
	do {
		snprintf(path, sizeof(path), "/api/v1/admin/projects"
		    "?limit=%d%s%s", PROJECTS_PAGE, after != NULL ? "&after=" :
		    "", after != NULL ? after : "");
		free(after);
		after = NULL;
		if (ui_call(ui, "GET", path, NULL, &res) == -1) {
			api_result_free(&res);
			json_object_put(all);
			return NULL;
		}
		rows = json_path(res.data, "projects");
		for (i = 0; rows != NULL && i < json_object_array_length(rows);
		    i++)
			json_object_array_add(all, json_object_get(
			    json_object_array_get_idx(rows, i)));
		next = json_path(res.data, "next_after");
		if (next != NULL && json_object_is_type(next, json_type_string))
			after = client_escape(json_object_get_string(next));
		api_result_free(&res);
	} while (after != NULL && json_object_array_length(all) <
	    PROJECTS_MAX);
	free(after);
	return all;
}

bool
ui_choose_project(struct ui *ui)
{
	json_object	 *all;
	const char	**names = NULL;
	size_t		  n, i, cur = 0;
	int		  choice;
	bool		  chosen = false;

	/* The menu is the whole list; its names are the rows'. */
	if ((all = ui_projects(ui)) == NULL)
		return false;
	if ((n = json_object_array_length(all)) == 0) {
		ui_error(ui, "no projects yet: synstackd lists the projects of"
		    " its Gitea organisations");
		goto out;
	}
	if ((names = calloc(n, sizeof(*names))) == NULL)
		goto out;
	for (i = 0; i < n; i++) {
		names[i] = row_str(json_object_array_get_idx(all, i),
		    "project");
		if (strcmp(names[i], ui->project) == 0)
			cur = i;
	}
	if ((choice = ui_menu(ui, "Current project", names, n, cur)) < 0) {
		ui_status(ui, "canceled; the current project is %s",
		    ui->project[0] != '\0' ? ui->project : "none");
		goto out;
	}
	ui_set_project(ui, names[choice]);
	ui_status(ui, "current project: %s", ui->project);
	chosen = true;
out:
	free(names);
	json_object_put(all);
	return chosen;
}

void
ui_switch(struct ui *ui, const struct screen_ops *s)
{
	if (ui->cur != NULL && ui->cur->leave != NULL)
		ui->cur->leave(ui);
	ui->cur = s;
	if (s->enter != NULL)
		s->enter(ui);
}

/* -- the loop ------------------------------------------------------------ */

void
ui_run(struct ui *ui)
{
	int	k;

	ui_health(ui);
	ui_switch(ui, screens[SCR_AGENTS]);
	while (!ui_signal && !ui->quit) {
		ui_draw(ui);
		ui_flush();
		k = ui_getkey(ui, 1000);
		if (ui_signal)
			break;
		if (k == -1) {
			if (time(NULL) - ui->health_at >= HEALTH_EVERY_S)
				ui_health(ui);
			continue;
		}
		if (k == KEYF(KEY_RESIZE))
			continue;
		dispatch(ui, k);
	}
	if (ui->cur != NULL && ui->cur->leave != NULL)
		ui->cur->leave(ui);
}

static void
key_text(int k, char *buf, size_t len)
{
	const char	*kn;

	if (k >= 0x1000000)
		kn = keyname(k & 0xffffff);
	else if (k < 0x20 || k == 0x7f)
		kn = unctrl((chtype)k);
	else {
		mbstate_t	ps;
		size_t		n;

		memset(&ps, 0, sizeof(ps));
		if (len < MB_CUR_MAX + 1 ||
		    (n = wcrtomb(buf, (wchar_t)k, &ps)) == (size_t)-1)
			n = 0;
		buf[n] = '\0';
		return;
	}
	strlcpy_ss(buf, kn != NULL ? kn : "?", len);
}

static void
dispatch(struct ui *ui, int k)
{
	struct table	*t = ui->cur->table;
	enum action	 a;
	char		 kt[32], title[96];
	char		*help;
	size_t		 i;

	a = key_action(k, ui->cur->id, ui_read_only(ui));
	if (a == A_NONE) {
		key_text(k, kt, sizeof(kt));
		ui_error(ui, "%s: no such key here; ? shows the keys of this"
		    " screen", kt);
		return;
	}
	if (a == A_READONLY) {
		ui_error(ui, "profile %s is read-only: nothing here changes"
		    " things", ui->prof->name);
		return;
	}
	if (ui->cur->key != NULL && ui->cur->key(ui, a))
		return;
	if (t != NULL && table_move(t, a, LINES - 6))
		return;
	switch (a) {
	case A_NEXT:
	case A_PREV:
		for (i = 0; i < SCR__COUNT; i++)
			if (screens[i] == ui->cur)
				break;
		i = a == A_NEXT ? (i + 1) % SCR__COUNT :
		    (i + SCR__COUNT - 1) % SCR__COUNT;
		ui_status(ui, "%s", "");
		ui_switch(ui, screens[i]);
		break;
	case A_JUMP:
		jump(ui);
		break;
	case A_FILTER:
		if (t != NULL)
			filter_prompt(ui);
		break;
	case A_CLEAR:
		if (t != NULL && t->filter[0] != '\0') {
			table_filter(t, "");
			ui_status(ui, "filter cleared");
		}
		break;
	case A_REFRESH:
		ui_status(ui, "reloaded");
		ui_health(ui);
		if (ui->cur->enter != NULL)
			ui->cur->enter(ui);
		break;
	case A_BACK:
		ui->quit = true;
		break;
	case A_HELP:
		if ((help = key_help(ui->cur->id, ui_read_only(ui))) !=
		    NULL) {
			snprintf(title, sizeof(title), "Keys of %s (%s)",
			    ui->cur->title, ui_read_only(ui) ? "read-only" :
			    "read-write");
			ui_pager(ui, title, help);
			free(help);
		}
		break;
	case A_PROJECT:
		if (ui_choose_project(ui) && ui->cur->enter != NULL)
			ui->cur->enter(ui);
		break;
	case A_REDRAW:
		clearok(curscr, TRUE);
		break;
	default:
		break;
	}
}

/* ":sponsors", ":sp", a unique beginning, or ":q". */
static void
jump(struct ui *ui)
{
	char		 cmd[64] = "", known[256] = "";
	const char	*c;
	size_t		 i, found = SCR__COUNT, matches = 0;

	if (ui_prompt(ui, ":", cmd, sizeof(cmd), NULL) == 0 || cmd[0] == '\0')
		return;
	c = cmd[0] == ':' ? cmd + 1 : cmd;
	if (strcmp(c, "q") == 0 || strcmp(c, "quit") == 0) {
		ui->quit = true;
		return;
	}
	for (i = 0; i < SCR__COUNT; i++) {
		if (strcasecmp(c, screens[i]->name) == 0 ||
		    strcasecmp(c, screens[i]->alias) == 0) {
			found = i;
			matches = 1;
			break;
		}
		if (strncasecmp(c, screens[i]->name, strlen(c)) == 0) {
			found = i;
			matches++;
		}
	}
	if (matches != 1) {
		for (i = 0; i < SCR__COUNT; i++) {
			char item[48];

			snprintf(item, sizeof(item), "%s%s (%s)", i > 0 ?
			    ", " : "", screens[i]->name, screens[i]->alias);
			str_append(known, item, sizeof(known));
		}
		ui_error(ui, "unknown screen \"%s\": %s", c, known);
		return;
	}
	ui_status(ui, "%s", "");
	ui_switch(ui, screens[found]);
}

static void
filter_changed(struct ui *ui, const char *text)
{
	table_filter(ui->cur->table, text);
}

/* k9s's /: the table follows what is typed; Esc clears it. */
static void
filter_prompt(struct ui *ui)
{
	struct table	*t = ui->cur->table;
	char		 text[sizeof(t->filter)];

	strlcpy_ss(text, t->filter, sizeof(text));
	if (ui_prompt(ui, "/", text, sizeof(text), filter_changed) == 0) {
		table_filter(t, "");
		ui_status(ui, "filter cleared");
		return;
	}
	table_filter(t, text);
	if (text[0] != '\0')
		ui_status(ui, "filter: %s (%zu of %zu rows; Esc clears it)",
		    text, t->nshown, t->rows != NULL ?
		    json_object_array_length(t->rows) : 0);
}

/* -- prompts ------------------------------------------------------------- */

bool
ui_is_backspace(int k)
{
	return k == KEYF(KEY_BACKSPACE) || k == 0x7f || k == KEY_CTRL('h');
}

void
str_drop_last(char *buf)
{
	size_t	n = strlen(buf);

	while (n > 0) {
		n--;
		if ((buf[n] & 0xc0) != 0x80)
			break;
	}
	buf[n] = '\0';
}

int
ui_prompt(struct ui *ui, const char *label, char *buf, size_t len,
    void (*changed)(struct ui *, const char *))
{
	char		 mb[8];
	mbstate_t	 ps;
	size_t		 n;
	int		 k, r = -1;

	ui->prompt = label;
	ui->prompt_text = buf;
	ui->bar = "Enter accept  Esc cancel  ^U clear";
	curs_set(1);
	while (r == -1) {
		ui_draw(ui);
		ui_flush();
		k = ui_getkey(ui, -1);
		if (ui_signal || k == KEY_ESC) {
			r = 0;
			break;
		}
		if (k == '\n' || k == '\r' || k == KEYF(KEY_ENTER))
			r = 1;
		else if (ui_is_backspace(k))
			str_drop_last(buf);
		else if (k == KEY_CTRL('u'))
			buf[0] = '\0';
		else if (k == KEY_CTRL('w')) {
			n = strlen(buf);
			while (n > 0 && buf[n - 1] == ' ')
				n--;
			while (n > 0 && buf[n - 1] != ' ')
				n--;
			buf[n] = '\0';
		} else if (k >= 0x20 && k < 0x1000000 && k != 0x7f) {
			memset(&ps, 0, sizeof(ps));
			n = wcrtomb(mb, (wchar_t)k, &ps);
			if (n == (size_t)-1 || strlen(buf) + n >= len) {
				beep();
				continue;
			}
			mb[n] = '\0';
			str_append(buf, mb, len);
		} else
			continue;
		if (changed != NULL && r == -1)
			changed(ui, buf);
	}
	curs_set(0);
	ui->prompt = ui->prompt_text = NULL;
	ui->bar = NULL;
	return r;
}

bool
ui_confirm(struct ui *ui, const char *fmt, ...)
{
	char	q[512];
	va_list	ap;
	int	k;

	va_start(ap, fmt);
	vsnprintf(q, sizeof(q), fmt, ap);
	va_end(ap);
	ui->prompt = q;
	ui->prompt_text = "";
	ui->bar = "y yes  n no  Esc no";
	curs_set(1);
	do {
		ui_draw(ui);
		ui_flush();
		k = ui_getkey(ui, -1);
	} while (k == KEYF(KEY_RESIZE) && !ui_signal);
	curs_set(0);
	ui->prompt = ui->prompt_text = NULL;
	ui->bar = NULL;
	if (!ui_signal && (k == 'y' || k == 'Y'))
		return true;
	ui_status(ui, "canceled: nothing changed");
	return false;
}

/* -- the menu (libmenu in a panel) --------------------------------------- */

struct menu_ui {
	MENU		 *menu;
	ITEM		**items;
	WINDOW		 *win, *sub;
	PANEL		 *panel;
	const char	 *title;
	size_t		  n;
};

static void
menu_unplace(struct menu_ui *m)
{
	if (m->menu != NULL)
		unpost_menu(m->menu);
	if (m->panel != NULL)
		del_panel(m->panel);
	if (m->sub != NULL)
		delwin(m->sub);
	if (m->win != NULL)
		delwin(m->win);
	m->panel = NULL;
	m->sub = m->win = NULL;
}

/* In the middle of the body, as tall as the items or the screen allow. */
static int
menu_place(struct menu_ui *m)
{
	int	rows, width = (int)strlen(m->title) + 6, w;
	size_t	i;

	for (i = 0; i < m->n; i++)
		if ((w = text_width(item_name(m->items[i])) + 6) > width)
			width = w;
	if (width > COLS - 4)
		width = COLS - 4;
	rows = (int)m->n;
	if (rows > LINES - 8)
		rows = LINES - 8;
	if (rows < 1 || width < 10)
		return -1;
	if ((m->win = newwin(rows + 2, width, (LINES - rows - 2) / 2,
	    (COLS - width) / 2)) == NULL ||
	    (m->sub = derwin(m->win, rows, width - 2, 1, 1)) == NULL)
		return -1;
	keypad(m->win, TRUE);
	box(m->win, 0, 0);
	wattron(m->win, A_BOLD);
	mvwaddch(m->win, 0, 2, ' ');
	waddnstr(m->win, m->title, width - 6);
	waddch(m->win, ' ');
	wattroff(m->win, A_BOLD);
	set_menu_win(m->menu, m->win);
	set_menu_sub(m->menu, m->sub);
	set_menu_format(m->menu, rows, 1);
	if (post_menu(m->menu) != E_OK)
		return -1;
	m->panel = new_panel(m->win);
	return 0;
}

int
ui_menu(struct ui *ui, const char *title, const char *const *names,
    size_t n, size_t sel)
{
	struct menu_ui	m;
	size_t		i, j, cur;
	int		k, choice = -2;

	memset(&m, 0, sizeof(m));
	m.title = title;
	m.n = n;
	if (n == 0 || (m.items = calloc(n + 1, sizeof(*m.items))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if ((m.items[i] = new_item(names[i], "")) == NULL)
			goto out;
	if ((m.menu = new_menu(m.items)) == NULL)
		goto out;
	set_menu_mark(m.menu, "> ");
	menu_opts_off(m.menu, O_SHOWDESC);
	if (sel < n)
		set_current_item(m.menu, m.items[sel]);
	ui->bar = "Enter choose  Esc cancel  j/k move  a-z jump";
	ui_draw(ui);
	if (menu_place(&m) == -1)
		goto out;
	while (choice == -2) {
		ui_flush();
		k = ui_getkey(ui, -1);
		if (ui_signal || k == KEY_ESC || k == 'q') {
			choice = -1;
			break;
		}
		switch (k) {
		case 'j':
		case KEYF(KEY_DOWN):
			menu_driver(m.menu, REQ_DOWN_ITEM);
			break;
		case 'k':
		case KEYF(KEY_UP):
			menu_driver(m.menu, REQ_UP_ITEM);
			break;
		case KEYF(KEY_NPAGE):
			menu_driver(m.menu, REQ_SCR_DPAGE);
			break;
		case KEYF(KEY_PPAGE):
			menu_driver(m.menu, REQ_SCR_UPAGE);
			break;
		case 'g':
		case KEYF(KEY_HOME):
			menu_driver(m.menu, REQ_FIRST_ITEM);
			break;
		case 'G':
		case KEYF(KEY_END):
			menu_driver(m.menu, REQ_LAST_ITEM);
			break;
		case '\n':
		case '\r':
		case KEYF(KEY_ENTER):
			choice = item_index(current_item(m.menu));
			break;
		case KEYF(KEY_RESIZE):
			menu_unplace(&m);
			if (menu_place(&m) == -1)
				choice = -1;
			break;
		default:
			/* The next item that begins with the letter. */
			if (k < 0x20 || k >= 0x80)
				break;
			cur = (size_t)item_index(current_item(m.menu));
			for (j = 1; j <= n; j++) {
				i = (cur + j) % n;
				if (tolower((unsigned char)names[i][0]) ==
				    tolower(k)) {
					set_current_item(m.menu, m.items[i]);
					break;
				}
			}
			break;
		}
	}
out:
	menu_unplace(&m);
	if (m.menu != NULL)
		free_menu(m.menu);
	for (i = 0; i < n && m.items != NULL && m.items[i] != NULL; i++)
		free_item(m.items[i]);
	free(m.items);
	ui->bar = NULL;
	return choice < 0 ? -1 : choice;
}

/* -- the pager ----------------------------------------------------------- */

struct lines {
	wchar_t	**v;
	size_t	  n;
};

static void
lines_free(struct lines *l, bool wipe)
{
	size_t	i;

	for (i = 0; i < l->n; i++) {
		if (wipe)
			explicit_bzero(l->v[i], wcslen(l->v[i]) *
			    sizeof(wchar_t));
		free(l->v[i]);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static void
lines_add(struct lines *l, int hang, const wchar_t *s, size_t len)
{
	wchar_t	**v, *line;
	size_t	  h = hang > 0 ? (size_t)hang : 0;

	if ((v = reallocarray(l->v, l->n + 1, sizeof(*v))) == NULL)
		return;
	l->v = v;
	if ((line = calloc(h + len + 1, sizeof(*line))) == NULL)
		return;
	wmemset(line, L' ', h);
	wmemcpy(line + h, s, len);
	l->v[l->n++] = line;
}

/*
 * Where the continuation of a long line starts: under the text after
 * the first gap of two spaces ("  Name        value"), so the pagers'
 * label: value lines and the help read as columns; 0 without one.
 */
static int
hang_of(const wchar_t *p, int width)
{
	int	col = 0;

	while (*p == L' ') {
		p++;
		col++;
	}
	for (; *p != L'\0' && *p != L'\n' && col < width / 2; p++, col++)
		if (p[0] == L' ' && p[1] == L' ') {
			while (*p == L' ') {
				p++;
				col++;
			}
			return *p != L'\0' && *p != L'\n' && col < width / 2 ?
			    col : 0;
		}
	return 0;
}

/* UTF-8 text in lines of at most width columns, broken at spaces when
 * there is one; tabs and control characters become spaces. */
static void
wrap(struct lines *l, const char *text, int width)
{
	wchar_t	*w, *p, *start, *brk;
	size_t	 n = strlen(text) + 1, i;
	int	 col, cw, hang = 0, room;
	bool	 cont = false;

	if ((w = calloc(n, sizeof(*w))) == NULL)
		return;
	if (mbstowcs(w, text, n) == (size_t)-1) {
		/* Not UTF-8: byte by byte, the odd ones as '?'. */
		for (i = 0; text[i] != '\0'; i++)
			w[i] = (unsigned char)text[i] < 0x80 ?
			    (wchar_t)text[i] : L'?';
		w[i] = L'\0';
	}
	for (p = w; *p != L'\0'; p++)
		if (*p != L'\n' && (*p < 0x20 || *p == 0x7f))
			*p = L' ';
	start = w;
	for (;;) {
		if (!cont)
			hang = hang_of(start, width);
		room = cont ? width - hang : width;
		col = 0;
		brk = NULL;
		for (p = start; *p != L'\0' && *p != L'\n'; p++) {
			cw = wcwidth(*p);
			if (cw < 0)
				cw = 1;
			if (col + cw > room)
				break;
			col += cw;
			if (*p == L' ')
				brk = p;
		}
		if (*p == L'\0' || *p == L'\n') {
			lines_add(l, cont ? hang : 0, start,
			    (size_t)(p - start));
			cont = false;
			if (*p == L'\0')
				break;
			start = p + 1;
			if (*start == L'\0')
				break;
			continue;
		}
		if (brk != NULL && brk > start) {
			lines_add(l, cont ? hang : 0, start,
			    (size_t)(brk - start));
			start = brk + 1;
		} else {
			if (p == start)
				p++;
			lines_add(l, cont ? hang : 0, start,
			    (size_t)(p - start));
			start = p;
		}
		cont = true;
	}
	explicit_bzero(w, n * sizeof(*w));
	free(w);
}

struct pager {
	WINDOW		*win;
	PANEL		*panel;
	struct lines	 l;
	size_t		 top;
	int		 rows;		/* of text */
};

static int
pager_place(struct pager *pg, const char *text)
{
	int	h = LINES - 4;

	if (h < 3 || COLS < 10)
		return -1;
	if ((pg->win = newwin(h, COLS, UI_TOP, 0)) == NULL)
		return -1;
	pg->panel = new_panel(pg->win);
	pg->rows = h - 1;
	wrap(&pg->l, text, COLS - 2);
	if (pg->l.n > (size_t)pg->rows && pg->top > pg->l.n - (size_t)pg->rows)
		pg->top = pg->l.n - (size_t)pg->rows;
	return 0;
}

static void
pager_unplace(struct pager *pg)
{
	if (pg->panel != NULL)
		del_panel(pg->panel);
	if (pg->win != NULL)
		delwin(pg->win);
	pg->panel = NULL;
	pg->win = NULL;
	lines_free(&pg->l, false);
}

static void
pager_draw(struct pager *pg, const char *title)
{
	char	pos[48];
	int	i;

	werase(pg->win);
	wattron(pg->win, A_BOLD | (colors ? COLOR_PAIR(CP_TITLE) : 0));
	mvwaddch(pg->win, 0, 0, ' ');
	waddnstr(pg->win, title, COLS - 24);
	wattroff(pg->win, A_BOLD | (colors ? COLOR_PAIR(CP_TITLE) : 0));
	if (pg->l.n > (size_t)pg->rows) {
		snprintf(pos, sizeof(pos), "lines %zu-%zu of %zu", pg->top + 1,
		    pg->top + (size_t)pg->rows < pg->l.n ?
		    pg->top + (size_t)pg->rows : pg->l.n, pg->l.n);
		mvwaddstr(pg->win, 0, COLS - (int)strlen(pos) - 1, pos);
	}
	for (i = 0; i < pg->rows && pg->top + (size_t)i < pg->l.n; i++)
		mvwaddwstr(pg->win, i + 1, 1, pg->l.v[pg->top + (size_t)i]);
}

void
ui_pager(struct ui *ui, const char *title, const char *text)
{
	struct pager	pg;
	size_t		last;
	int		k;

	memset(&pg, 0, sizeof(pg));
	if (text == NULL)
		text = "";
	ui->bar = "q back  j/k scroll  PgUp/PgDn page  g/G top/end";
	ui_draw(ui);
	if (pager_place(&pg, text) == -1) {
		ui->bar = NULL;
		return;
	}
	for (;;) {
		last = pg.l.n > (size_t)pg.rows ? pg.l.n - (size_t)pg.rows : 0;
		pager_draw(&pg, title);
		ui_flush();
		k = ui_getkey(ui, -1);
		if (ui_signal || k == 'q' || k == KEY_ESC || k == '\n' ||
		    k == '\r')
			break;
		switch (k) {
		case 'j':
		case KEYF(KEY_DOWN):
			if (pg.top < last)
				pg.top++;
			break;
		case 'k':
		case KEYF(KEY_UP):
			if (pg.top > 0)
				pg.top--;
			break;
		case ' ':
		case KEY_CTRL('f'):
		case KEYF(KEY_NPAGE):
			pg.top = pg.top + (size_t)pg.rows < last ?
			    pg.top + (size_t)pg.rows : last;
			break;
		case KEY_CTRL('b'):
		case KEYF(KEY_PPAGE):
			pg.top = pg.top > (size_t)pg.rows ?
			    pg.top - (size_t)pg.rows : 0;
			break;
		case 'g':
		case KEYF(KEY_HOME):
			pg.top = 0;
			break;
		case 'G':
		case KEYF(KEY_END):
			pg.top = last;
			break;
		case KEYF(KEY_RESIZE):
			pager_unplace(&pg);
			if (pager_place(&pg, text) == -1)
				goto out;
			break;
		default:
			break;
		}
	}
out:
	pager_unplace(&pg);
	ui->bar = NULL;
}

/* -- a revealed value ---------------------------------------------------- */

/*
 * The one place a secret's value shows: masked until a key is pressed,
 * then in the clear until the time is up or another key; then the box
 * is cleared from the screen (its cells overwritten by the frame) and
 * the wrapped copies wiped.  The caller wipes its own.
 */
void
ui_reveal(struct ui *ui, const char *what, const char *value, int seconds)
{
	struct lines	 l = { NULL, 0 };
	WINDOW		*win = NULL;
	PANEL		*panel = NULL;
	time_t		 until;
	bool		 shown = false;
	int		 k, h = 1, w = 10, i, left;
	char		 note[128];

	ui->bar = "any key: show the value  q hide it now";
	ui_draw(ui);
	until = time(NULL) + seconds;
	for (;;) {
		if (win == NULL) {
			w = COLS - 4;
			lines_free(&l, true);
			wrap(&l, value, w - 4);
			h = (int)l.n;
			if (h > LINES - 10)
				h = LINES - 10;
			if (h < 1)
				h = 1;
			if ((win = newwin(h + 4, w, (LINES - h - 4) / 2, 2)) ==
			    NULL)
				break;
			panel = new_panel(win);
		}
		left = (int)(until - time(NULL));
		if (left <= 0)
			break;
		werase(win);
		box(win, 0, 0);
		wattron(win, A_BOLD);
		mvwaddch(win, 0, 2, ' ');
		waddnstr(win, what, COLS - 12);
		waddch(win, ' ');
		wattroff(win, A_BOLD);
		if (shown) {
			for (i = 0; i < getmaxy(win) - 4 &&
			    (size_t)i < l.n; i++)
				mvwaddwstr(win, i + 1, 2, l.v[i]);
			snprintf(note, sizeof(note), "hidden again in %d s; any"
			    " key hides it now", left);
		} else {
			mvwaddstr(win, 1, 2, "************");
			snprintf(note, sizeof(note), "masked: press a key to"
			    " show it; hidden again in %d s", left);
		}
		mvwaddnstr(win, getmaxy(win) - 2, 2, note, getmaxx(win) - 4);
		ui_flush();
		k = ui_getkey(ui, 500);
		if (ui_signal)
			break;
		if (k == KEYF(KEY_RESIZE)) {
			del_panel(panel);
			delwin(win);
			win = NULL;
			continue;
		}
		if (k == -1)
			continue;
		if (shown || k == 'q' || k == KEY_ESC)
			break;
		shown = true;
		until = time(NULL) + seconds;
		ui->bar = "any key: hide the value now";
		ui_draw(ui);
	}
	if (win != NULL) {
		werase(win);
		wnoutrefresh(win);
		del_panel(panel);
		delwin(win);
	}
	lines_free(&l, true);
	ui->bar = NULL;
	ui_draw(ui);
	ui_flush();
}

/* -- tables -------------------------------------------------------------- */

static void
table_refilter(struct table *t)
{
	size_t	i, n = t->rows != NULL ? json_object_array_length(t->rows) : 0;
	time_t	now = time(NULL);

	free(t->shown);
	t->shown = NULL;
	t->nshown = 0;
	if (n == 0 || (t->shown = calloc(n, sizeof(*t->shown))) == NULL)
		return;
	for (i = 0; i < n; i++)
		if (fmt_matches(json_object_array_get_idx(t->rows, i), t->cols,
		    t->ncols, t->filter, now))
			t->shown[t->nshown++] = i;
	if (t->sel >= t->nshown)
		t->sel = t->nshown > 0 ? t->nshown - 1 : 0;
}

void
table_set(struct table *t, json_object *rows)
{
	char	id[256] = "";
	size_t	i;

	if (t->idkey != NULL)
		strlcpy_ss(id, row_str(table_row(t), t->idkey), sizeof(id));
	if (t->rows != NULL)
		json_object_put(t->rows);
	t->rows = rows;
	t->loaded = true;
	table_refilter(t);
	/* The same row stays selected after a reload. */
	if (id[0] != '\0')
		for (i = 0; i < t->nshown; i++)
			if (strcmp(row_str(json_object_array_get_idx(t->rows,
			    t->shown[i]), t->idkey), id) == 0) {
				t->sel = i;
				break;
			}
}

void
table_filter(struct table *t, const char *text)
{
	strlcpy_ss(t->filter, text, sizeof(t->filter));
	table_refilter(t);
}

void
table_clear(struct table *t)
{
	if (t->rows != NULL)
		json_object_put(t->rows);
	free(t->shown);
	t->rows = NULL;
	t->shown = NULL;
	t->nshown = t->sel = t->top = 0;
	t->loaded = false;
}

int
table_for_project(struct ui *ui, struct table *t, char *loaded_for,
    size_t size)
{
	if (strcmp(loaded_for, ui->project) != 0) {
		table_clear(t);
		strlcpy_ss(loaded_for, ui->project, size);
	}
	if (ui->project[0] == '\0') {
		t->loaded = true;
		return -1;
	}
	return 0;
}

bool
table_draw_no_project(struct ui *ui, struct table *t)
{
	char	title[128];

	if (ui->project[0] != '\0')
		return false;
	snprintf(title, sizeof(title), "%s: no current project",
	    ui->cur->title);
	table_draw(ui, t, title, "No current project: P chooses one (or Enter"
	    " on the Projects screen).");
	return true;
}

json_object *
table_row(const struct table *t)
{
	if (t->rows == NULL || t->sel >= t->nshown)
		return NULL;
	return json_object_array_get_idx(t->rows, t->shown[t->sel]);
}

void
table_select(struct table *t, const char *key, const char *value)
{
	size_t	i;

	for (i = 0; t->rows != NULL && i < t->nshown; i++)
		if (strcmp(row_str(json_object_array_get_idx(t->rows,
		    t->shown[i]), key), value) == 0) {
			t->sel = i;
			return;
		}
}

bool
table_move(struct table *t, enum action a, int page)
{
	size_t	p = page > 1 ? (size_t)page : 1;

	switch (a) {
	case A_UP:
		if (t->sel > 0)
			t->sel--;
		break;
	case A_DOWN:
		if (t->sel + 1 < t->nshown)
			t->sel++;
		break;
	case A_PGUP:
		t->sel = t->sel > p ? t->sel - p : 0;
		break;
	case A_PGDN:
		t->sel = t->sel + p < t->nshown ? t->sel + p :
		    t->nshown > 0 ? t->nshown - 1 : 0;
		break;
	case A_HOME:
		t->sel = 0;
		break;
	case A_END:
		t->sel = t->nshown > 0 ? t->nshown - 1 : 0;
		break;
	default:
		return false;
	}
	return true;
}

void
table_draw(struct ui *ui, struct table *t, const char *title,
    const char *empty)
{
	char	 row[ROW_MAX], info[192];
	int	 y = UI_TOP, h = LINES - UI_TOP - 4, width = COLS - 1, i;
	size_t	 total = t->rows != NULL ? json_object_array_length(t->rows) :
	    0;
	time_t	 now = time(NULL);
	attr_t	 a;

	(void)ui;
	if (width > (int)sizeof(row) / 4)
		width = (int)sizeof(row) / 4;
	move(y, 0);
	attron(A_BOLD | (colors ? COLOR_PAIR(CP_TITLE) : 0));
	addch(' ');
	put_cut(title, COLS - 2);
	attroff(A_BOLD | (colors ? COLOR_PAIR(CP_TITLE) : 0));
	if (t->filter[0] != '\0') {
		snprintf(info, sizeof(info), "  /%s  %zu of %zu", t->filter,
		    t->nshown, total);
		put_cut(info, COLS - getcurx(stdscr) - 1);
	}
	move(y + 1, 0);
	attron(A_BOLD | A_UNDERLINE);
	addch(' ');
	addstr(fmt_row(row, sizeof(row), NULL, t->cols, t->ncols, width,
	    now));
	attroff(A_BOLD | A_UNDERLINE);
	if (t->nshown == 0) {
		if (t->rows != NULL && total > 0)
			snprintf(info, sizeof(info), "No row matches the filter"
			    " \"%s\"; Esc clears it.", t->filter);
		else
			strlcpy_ss(info, t->loaded ? empty : "Nothing loaded:"
			    " r retries.", sizeof(info));
		move(y + 2, 0);
		addch(' ');
		put_cut(info, COLS - 2);
		return;
	}
	if (t->sel < t->top)
		t->top = t->sel;
	if (h > 0 && t->sel >= t->top + (size_t)h)
		t->top = t->sel - (size_t)h + 1;
	if (t->top + (size_t)h > t->nshown)
		t->top = t->nshown > (size_t)h ? t->nshown - (size_t)h : 0;
	for (i = 0; i < h && t->top + (size_t)i < t->nshown; i++) {
		size_t		 r = t->top + (size_t)i;
		json_object	*o = json_object_array_get_idx(t->rows,
		    t->shown[r]);

		a = t->tone != NULL ? tone_attr(t->tone(o)) : A_NORMAL;
		if (r == t->sel)
			a |= A_REVERSE;
		move(y + 2 + i, 0);
		attron(a);
		addch(r == t->sel ? '>' : ' ');
		addstr(fmt_row(row, sizeof(row), o, t->cols, t->ncols, width,
		    now));
		attroff(a);
	}
}

int
table_load(struct ui *ui, struct table *t, const char *path,
    const char *key)
{
	struct api_result	 res;
	json_object		*rows;
	int			 rc = -1;

	if (ui_call(ui, "GET", path, NULL, &res) == 0) {
		rows = json_path(res.data, key);
		if (rows != NULL && json_object_is_type(rows,
		    json_type_array)) {
			table_set(t, json_object_get(rows));
			rc = 0;
		} else
			ui_error(ui, "the daemon's answer has no %s", key);
	}
	api_result_free(&res);
	return rc;
}
