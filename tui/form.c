/*
 * form.c: forms on libform, in a panel over the frame.
 *
 * Every field is checked before anything is sent (required, length,
 * choices, URLs, numbers, a screen's own rule), and the daemon's refusal
 * shows in the form, which stays open with what was typed: retyping a
 * whole form for one wrong field is what makes people hate forms.
 *
 * A secret field never reaches libform: its characters go to a buffer of
 * our own and the field shows one '*' for each, so the value is in one
 * place that is wiped when the form ends.
 */
#include <ctype.h>
#include <curses.h>
#include <form.h>
#include <panel.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <wchar.h>

#include "console.h"

#define FF_DEFAULT_MAX	200
#define FORM_WIDTH	76

struct form_ui {
	struct ff	 *ff;
	size_t		  n;
	const char	 *title;
	FORM		 *form;
	FIELD		**fields;
	WINDOW		 *win, *sub;
	PANEL		 *panel;
	char		**secret;	/* FF_SECRET: the typed value */
	size_t		 *choice;	/* FF_CHOICE: the index */
	char		  typed[32];	/* FF_CHOICE: what was typed */
	char		  err[512];
	int		  labelw;
	bool		  color;
};

void
ff_set(struct ff *f, const char *v)
{
	free(f->value);
	f->value = v != NULL ? strdup(v) : NULL;
}

const char *
ff_value(const struct ff *f)
{
	return f->value != NULL ? f->value : "";
}

void
ff_free(struct ff *f, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (f[i].value != NULL && f[i].kind == FF_SECRET)
			explicit_bzero(f[i].value, strlen(f[i].value));
		free(f[i].value);
		f[i].value = NULL;
	}
}

const char *
ff_check_env(const char *v)
{
	size_t	i;

	if (*v == '\0')
		return NULL;
	if (!(isalpha((unsigned char)*v) || *v == '_'))
		return "must begin with a letter or _";
	for (i = 0; v[i] != '\0'; i++)
		if (!(isalnum((unsigned char)v[i]) || v[i] == '_'))
			return "letters, digits and _ only";
	return i > 100 ? "at most 100 characters" : NULL;
}

const char *
ff_check_slug(const char *v)
{
	size_t	i;

	if (*v == '\0')
		return NULL;
	if (!(*v >= 'a' && *v <= 'z'))
		return "must begin with a lower-case letter";
	for (i = 0; v[i] != '\0'; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= '0' &&
		    v[i] <= '9') || v[i] == '-'))
			return "lower-case letters, digits and - only";
	return i > 32 ? "at most 32 characters" : NULL;
}

const char *
ff_check_commit(const char *v)
{
	size_t	i;

	if (*v == '\0')
		return NULL;
	for (i = 0; v[i] != '\0'; i++)
		if (!isxdigit((unsigned char)v[i]))
			return "a commit is hexadecimal";
	return i < 7 || i > 64 ? "a commit has 7 to 64 hex digits" : NULL;
}

void
ff_put_str(json_object *o, const char *key, const char *v, bool nullable)
{
	if (v == NULL || *v == '\0') {
		if (nullable)
			json_object_object_add(o, key, NULL);
		return;
	}
	json_object_object_add(o, key, json_object_new_string(v));
}

void
ff_put_bool(json_object *o, const char *key, const char *v)
{
	if (v != NULL && *v != '\0')
		json_object_object_add(o, key, json_object_new_boolean(
		    strcmp(v, "yes") == 0));
}

void
ff_put_words(json_object *o, const char *key, const char *v)
{
	json_object	*a = json_object_new_array();
	const char	*p = v != NULL ? v : "";
	size_t		 n;

	for (;;) {
		p += strspn(p, " ,\t");
		if ((n = strcspn(p, " ,\t")) == 0)
			break;
		json_object_array_add(a, json_object_new_string_len(p,
		    (int)n));
		p += n;
	}
	json_object_object_add(o, key, a);
}

/* -- checks -------------------------------------------------------------- */

static size_t
chars(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if ((*s & 0xc0) != 0x80)
			n++;
	return n;
}

/* What is wrong with a value, or NULL. */
static const char *
ff_check(const struct ff *f, const char *v, char *buf, size_t len)
{
	size_t		 max = f->max > 0 ? f->max : FF_DEFAULT_MAX;
	const char	*why;
	char		*end;

	if (*v == '\0')
		return f->required ? "is required" : NULL;
	if ((f->kind == FF_SECRET ? strlen(v) : chars(v)) > max) {
		snprintf(buf, len, "at most %zu %s", max, f->kind ==
		    FF_SECRET ? "bytes" : "characters");
		return buf;
	}
	switch (f->kind) {
	case FF_URL:
		if (strncmp(v, "http://", 7) != 0 &&
		    strncmp(v, "https://", 8) != 0)
			return "must be an http:// or https:// URL";
		if (v[strncmp(v, "https", 5) == 0 ? 8 : 7] == '\0' ||
		    strpbrk(v, " \t") != NULL)
			return "is not a URL";
		break;
	case FF_INT:
		(void)strtol(v, &end, 10);
		if (*end != '\0')
			return "must be a whole number";
		break;
	case FF_CHOICE:
		if (f->choices != NULL) {
			size_t	i;

			for (i = 0; f->choices[i] != NULL; i++)
				if (strcmp(f->choices[i], v) == 0)
					break;
			if (f->choices[i] == NULL)
				return "is not one of the choices";
		}
		break;
	default:
		break;
	}
	if (f->check != NULL && (why = f->check(v)) != NULL)
		return why;
	return NULL;
}

/* -- the window ---------------------------------------------------------- */

static void
secret_show(struct form_ui *fu, size_t i)
{
	char	stars[FORM_WIDTH + 1];
	size_t	n = chars(fu->secret[i]);

	if (n > FORM_WIDTH)
		n = FORM_WIDTH;
	memset(stars, '*', n);
	stars[n] = '\0';
	set_field_buffer(fu->fields[i], 0, stars);
}

static void
form_unplace(struct form_ui *fu)
{
	if (fu->form != NULL) {
		/* What is typed lives in the window until validated. */
		form_driver(fu->form, REQ_VALIDATION);
		unpost_form(fu->form);
	}
	if (fu->panel != NULL)
		del_panel(fu->panel);
	if (fu->sub != NULL)
		delwin(fu->sub);
	if (fu->win != NULL)
		delwin(fu->win);
	fu->panel = NULL;
	fu->sub = fu->win = NULL;
}

static int
form_width(void)
{
	return COLS - 4 < FORM_WIDTH ? COLS - 4 : FORM_WIDTH;
}

/* Centred; the fields one a line, their labels on the left, two lines
 * for errors and one for what the current field takes. */
static int
form_place(struct form_ui *fu)
{
	int	w = form_width(), h = (int)fu->n + 6;

	if (h > LINES - 2 || w < 40)
		return -1;
	if ((fu->win = newwin(h, w, (LINES - h) / 2, (COLS - w) / 2)) ==
	    NULL || (fu->sub = derwin(fu->win, (int)fu->n, w - fu->labelw - 6,
	    1, fu->labelw + 4)) == NULL)
		return -1;
	keypad(fu->win, TRUE);
	set_form_win(fu->form, fu->win);
	set_form_sub(fu->form, fu->sub);
	if (post_form(fu->form) != E_OK)
		return -1;
	fu->panel = new_panel(fu->win);
	/* Typing adds to what is there, from its end. */
	form_driver(fu->form, REQ_INS_MODE);
	form_driver(fu->form, REQ_END_FIELD);
	return 0;
}

static void
form_draw(struct form_ui *fu)
{
	FIELD		*cur = current_field(fu->form);
	const struct ff	*f;
	char		 hint[256];
	size_t		 i, j;
	int		 w = getmaxx(fu->win), h = getmaxy(fu->win), len;

	/* Blank inside, then the frame and its title. */
	for (j = 1; j < (size_t)h - 1; j++)
		if (j > fu->n)
			mvwprintw(fu->win, (int)j, 1, "%*s", w - 2, "");
	box(fu->win, 0, 0);
	wattron(fu->win, A_BOLD);
	mvwaddch(fu->win, 0, 2, ' ');
	waddnstr(fu->win, fu->title, w - 6);
	waddch(fu->win, ' ');
	wattroff(fu->win, A_BOLD);
	for (i = 0; i < fu->n; i++) {
		set_field_back(fu->fields[i], fu->fields[i] == cur ?
		    A_REVERSE : A_UNDERLINE);
		mvwprintw(fu->win, (int)i + 1, 2, "%-*s", fu->labelw,
		    fu->ff[i].label);
	}
	/* The error: up to two lines. */
	len = (int)strlen(fu->err);
	if (len > 0) {
		/* Pair 1 is ui.c's red. */
		wattron(fu->win, A_BOLD | (fu->color ? COLOR_PAIR(1) : 0));
		mvwaddnstr(fu->win, h - 4, 2, fu->err, w - 4);
		if (len > w - 4)
			mvwaddnstr(fu->win, h - 3, 2, fu->err + (w - 4) +
			    (fu->err[w - 4] == ' '), w - 4);
		wattroff(fu->win, A_BOLD | (fu->color ? COLOR_PAIR(1) : 0));
	}
	f = &fu->ff[field_index(cur)];
	hint[0] = '\0';
	switch (f->kind) {
	case FF_CHOICE:
		strlcpy_ss(hint, "Left/Right or Space: ", sizeof(hint));
		for (i = 0; f->choices != NULL && f->choices[i] != NULL; i++) {
			if (i > 0)
				str_append(hint, ", ", sizeof(hint));
			str_append(hint, f->choices[i], sizeof(hint));
		}
		break;
	case FF_SECRET:
		strlcpy_ss(hint, "not shown: one * for each character",
		    sizeof(hint));
		break;
	case FF_URL:
		strlcpy_ss(hint, "an http:// or https:// URL", sizeof(hint));
		break;
	case FF_INT:
		strlcpy_ss(hint, "a whole number", sizeof(hint));
		break;
	default:
		break;
	}
	if (!f->required && f->kind != FF_CHOICE)
		str_append(hint, hint[0] != '\0' ? "; may be empty" :
		    "may be empty", sizeof(hint));
	if ((size_t)field_index(cur) + 1 == fu->n)
		str_append(hint, hint[0] != '\0' ? "; Enter submits" :
		    "Enter submits", sizeof(hint));
	wattron(fu->win, A_DIM);
	mvwaddnstr(fu->win, h - 2, 2, hint, w - 4);
	wattroff(fu->win, A_DIM);
	/* libform puts the cursor back in the field. */
	pos_form_cursor(fu->form);
}

/* The values out of the form into ff[].value. */
static void
form_collect(struct form_ui *fu)
{
	size_t	 i, n;
	char	*v, *s;

	form_driver(fu->form, REQ_VALIDATION);
	for (i = 0; i < fu->n; i++) {
		if (fu->ff[i].kind == FF_SECRET) {
			/* A refused submit's copy goes wiped. */
			ff_free(&fu->ff[i], 1);
			fu->ff[i].value = strdup(fu->secret[i]);
			continue;
		}
		if (fu->ff[i].kind == FF_CHOICE) {
			ff_set(&fu->ff[i], fu->ff[i].choices[fu->choice[i]]);
			continue;
		}
		s = field_buffer(fu->fields[i], 0);
		if (s == NULL || (v = strdup(s)) == NULL)
			continue;
		n = strlen(v);
		while (n > 0 && v[n - 1] == ' ')
			v[--n] = '\0';
		s = v + strspn(v, " ");
		ff_set(&fu->ff[i], s);
		free(v);
	}
}

static int
form_check(struct form_ui *fu)
{
	const char	*why;
	char		 buf[64];
	size_t		 i;

	for (i = 0; i < fu->n; i++) {
		why = ff_check(&fu->ff[i], fu->ff[i].value != NULL ?
		    fu->ff[i].value : "", buf, sizeof(buf));
		if (why != NULL) {
			snprintf(fu->err, sizeof(fu->err), "%s %s",
			    fu->ff[i].label, why);
			set_current_field(fu->form, fu->fields[i]);
			return -1;
		}
	}
	return 0;
}

static void
choice_step(struct form_ui *fu, size_t i, int by)
{
	size_t	n = 0;

	while (fu->ff[i].choices[n] != NULL)
		n++;
	if (n == 0)
		return;
	fu->choice[i] = (fu->choice[i] + (by > 0 ? 1 : n - 1)) % n;
	set_field_buffer(fu->fields[i], 0, fu->ff[i].choices[fu->choice[i]]);
}

/* Typing picks the first choice that begins with what was typed. */
static void
choice_type(struct form_ui *fu, size_t i, int k)
{
	const char *const	*c = fu->ff[i].choices;
	size_t			 j, len = strlen(fu->typed);

	if (len + 1 < sizeof(fu->typed)) {
		fu->typed[len] = (char)k;
		fu->typed[len + 1] = '\0';
	}
	for (j = 0; c[j] != NULL; j++)
		if (strncasecmp(c[j], fu->typed, strlen(fu->typed)) == 0)
			break;
	if (c[j] == NULL) {
		fu->typed[0] = (char)k;
		fu->typed[1] = '\0';
		for (j = 0; c[j] != NULL; j++)
			if (strncasecmp(c[j], fu->typed, 1) == 0)
				break;
	}
	if (c[j] == NULL) {
		beep();
		return;
	}
	fu->choice[i] = j;
	set_field_buffer(fu->fields[i], 0, c[j]);
}

static void
secret_key(struct form_ui *fu, size_t i, int k)
{
	size_t		 max = fu->ff[i].max > 0 ? fu->ff[i].max : 4096;
	size_t		 len = strlen(fu->secret[i]), n;
	char		 mb[8];
	mbstate_t	 ps;

	if (ui_is_backspace(k))
		str_drop_last(fu->secret[i]);
	else if (k == KEY_CTRL('u'))
		explicit_bzero(fu->secret[i], len);
	else if (k >= 0x20 && k < 0x1000000 && k != 0x7f) {
		memset(&ps, 0, sizeof(ps));
		n = wcrtomb(mb, (wchar_t)k, &ps);
		if (n == (size_t)-1 || len + n > max) {
			beep();
			return;
		}
		memcpy(fu->secret[i] + len, mb, n);
		fu->secret[i][len + n] = '\0';
		explicit_bzero(mb, sizeof(mb));
	}
	secret_show(fu, i);
}

static void
form_free(struct form_ui *fu)
{
	size_t	i;

	form_unplace(fu);
	if (fu->form != NULL)
		free_form(fu->form);
	for (i = 0; i < fu->n; i++) {
		if (fu->fields != NULL && fu->fields[i] != NULL)
			free_field(fu->fields[i]);
		if (fu->secret != NULL && fu->secret[i] != NULL) {
			explicit_bzero(fu->secret[i], strlen(fu->secret[i]));
			free(fu->secret[i]);
		}
	}
	free(fu->fields);
	free(fu->secret);
	free(fu->choice);
}

static int
form_build(struct form_ui *fu)
{
	struct ff	*f;
	size_t		 i, j, max;
	int		 w;

	if ((fu->fields = calloc(fu->n + 1, sizeof(*fu->fields))) == NULL ||
	    (fu->secret = calloc(fu->n, sizeof(*fu->secret))) == NULL ||
	    (fu->choice = calloc(fu->n, sizeof(*fu->choice))) == NULL)
		return -1;
	for (i = 0; i < fu->n; i++)
		if ((int)strlen(fu->ff[i].label) > fu->labelw)
			fu->labelw = (int)strlen(fu->ff[i].label);
	if (fu->labelw > 24)
		fu->labelw = 24;
	w = form_width() - fu->labelw - 6;
	for (i = 0; i < fu->n; i++) {
		f = &fu->ff[i];
		max = f->max > 0 ? f->max : FF_DEFAULT_MAX;
		if ((fu->fields[i] = new_field(1, w, (int)i, 0, 0, 0)) == NULL)
			return -1;
		field_opts_off(fu->fields[i], O_AUTOSKIP);
		set_field_back(fu->fields[i], A_UNDERLINE);
		switch (f->kind) {
		case FF_SECRET:
			/* libform only ever holds the stars. */
			field_opts_off(fu->fields[i], O_EDIT);
			if ((fu->secret[i] = calloc(1, max + 1)) == NULL)
				return -1;
			if (f->value != NULL)
				strlcpy_ss(fu->secret[i], f->value, max + 1);
			secret_show(fu, i);
			break;
		case FF_CHOICE:
			field_opts_off(fu->fields[i], O_EDIT);
			for (j = 0; f->choices[j] != NULL; j++)
				if (f->value != NULL &&
				    strcmp(f->choices[j], f->value) == 0)
					fu->choice[i] = j;
			set_field_buffer(fu->fields[i], 0,
			    f->choices[fu->choice[i]]);
			break;
		default:
			/* Longer than the field: it scrolls. */
			field_opts_off(fu->fields[i], O_STATIC);
			set_max_field(fu->fields[i], (int)max);
			if (f->value != NULL)
				set_field_buffer(fu->fields[i], 0, f->value);
			break;
		}
	}
	if ((fu->form = new_form(fu->fields)) == NULL)
		return -1;
	return 0;
}

int
form_run(struct ui *ui, const char *title, struct ff *ff, size_t n,
    int (*submit)(struct ui *, struct ff *, size_t, void *), void *arg)
{
	struct form_ui	 fu;
	size_t		 i;
	int		 k, r = -1;
	bool		 last;

	memset(&fu, 0, sizeof(fu));
	fu.ff = ff;
	fu.n = n;
	fu.title = title;
	fu.color = ui->color;
	ui->bar = "Enter next/submit  Tab next  S-Tab back  Esc cancel"
	    "  ^U clear";
	ui_draw(ui);
	if (n == 0 || form_build(&fu) == -1 || form_place(&fu) == -1) {
		ui_error(ui, "the form does not fit: the console needs %dx%d",
		    UI_MIN_COLS, UI_MIN_LINES);
		r = -2;
		goto out;
	}
	curs_set(1);
	while (r == -1) {
		/* The frame too: the status line says what the daemon said. */
		ui_draw(ui);
		form_draw(&fu);
		ui_flush();
		k = ui_getkey(ui, -1);
		if (ui_signal || k == KEY_ESC) {
			r = 0;
			break;
		}
		i = (size_t)field_index(current_field(fu.form));
		last = i + 1 == n;
		if (k != KEYF(KEY_RESIZE))
			fu.err[0] = '\0';
		if (ff[i].kind != FF_CHOICE || (k < 0x20 || k >= 0x80))
			fu.typed[0] = '\0';
		switch (k) {
		case KEYF(KEY_RESIZE):
			form_unplace(&fu);
			if (form_place(&fu) == -1) {
				r = 0;
				ui_error(ui, "the form no longer fits:"
				    " canceled");
			}
			continue;
		case '\n':
		case '\r':
		case KEYF(KEY_ENTER):
			if (!last) {
				form_driver(fu.form, REQ_NEXT_FIELD);
				form_driver(fu.form, REQ_END_FIELD);
				continue;
			}
			form_collect(&fu);
			if (form_check(&fu) == -1)
				continue;
			if (submit(ui, ff, n, arg) == 0) {
				r = 1;
				break;
			}
			/* Refused: the daemon's words, in the form. */
			strlcpy_ss(fu.err, ui->status, sizeof(fu.err));
			continue;
		case '\t':
		case KEYF(KEY_DOWN):
			form_driver(fu.form, REQ_NEXT_FIELD);
			form_driver(fu.form, REQ_END_FIELD);
			continue;
		case KEYF(KEY_BTAB):
		case KEYF(KEY_UP):
			form_driver(fu.form, REQ_PREV_FIELD);
			form_driver(fu.form, REQ_END_FIELD);
			continue;
		default:
			break;
		}
		if (ff[i].kind == FF_SECRET) {
			secret_key(&fu, i, k);
			continue;
		}
		if (ff[i].kind == FF_CHOICE) {
			if (k == ' ' || k == KEYF(KEY_RIGHT))
				choice_step(&fu, i, 1);
			else if (k == KEYF(KEY_LEFT))
				choice_step(&fu, i, -1);
			else if (k > 0x20 && k < 0x7f)
				choice_type(&fu, i, k);
			continue;
		}
		switch (k) {
		case KEYF(KEY_LEFT):
			form_driver(fu.form, REQ_PREV_CHAR);
			break;
		case KEYF(KEY_RIGHT):
			form_driver(fu.form, REQ_NEXT_CHAR);
			break;
		case KEYF(KEY_HOME):
		case KEY_CTRL('a'):
			form_driver(fu.form, REQ_BEG_FIELD);
			break;
		case KEYF(KEY_END):
		case KEY_CTRL('e'):
			form_driver(fu.form, REQ_END_FIELD);
			break;
		case KEYF(KEY_DC):
			form_driver(fu.form, REQ_DEL_CHAR);
			break;
		case KEYF(KEY_BACKSPACE):
		case 0x7f:
		case KEY_CTRL('h'):
			form_driver(fu.form, REQ_DEL_PREV);
			break;
		case KEY_CTRL('u'):
			form_driver(fu.form, REQ_CLR_FIELD);
			break;
		default:
			if (k >= 0x20 && k < 0x1000000)
				form_driver_w(fu.form, OK, (wchar_t)k);
			break;
		}
	}
	curs_set(0);
out:
	form_free(&fu);
	ui->bar = NULL;
	if (r == 1)
		return 1;
	for (i = 0; i < n; i++)
		if (ff[i].kind == FF_SECRET && ff[i].value != NULL)
			explicit_bzero(ff[i].value, strlen(ff[i].value));
	if (r == 0)
		ui_status(ui, "canceled: nothing changed");
	return 0;
}
