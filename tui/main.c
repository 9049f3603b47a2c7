/*
 * synstack-console: the admin console of synstackd (SPEC.md section 9).
 *
 * Everything that can fail for a reason the admin must fix (the profile,
 * its token file, a daemon that does not answer, a token it refuses) is
 * found before curses starts, and said in one line on standard error
 * with the terminal untouched.  Once curses runs, nothing else writes to
 * the terminal: standard error goes to /dev/null until endwin(), and
 * every way out (q, SIGINT, SIGTERM, SIGHUP, exit()) passes endwin().
 * A signal only sets a flag: the loops see it, return, and the ordinary
 * path restores the terminal; the exit status is then 128 + the signal.
 */
#include "config.h"

#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console.h"

static void
usage(void)
{
	fprintf(stderr, "usage: synstack-console [-V] [-c profiles-file]"
	    " [-p profile]\n");
	exit(2);
}

static void
on_signal(int sig)
{
	ui_signal = sig;
}

static void
restore_terminal(void)
{
	ui_end();
}

static void
catch_signals(void)
{
	struct sigaction	sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: a read in progress returns, and the loop ends. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
fail(struct client *cl, struct profile *p, const char *fmt, ...)
    SS_PRINTF(3, 4);

static void
fail(struct client *cl, struct profile *p, const char *fmt, ...)
{
	va_list	ap;

	fputs("synstack-console: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	client_free(cl);
	profile_wipe(p);
	exit(1);
}

int
main(int argc, char **argv)
{
	struct profile		 prof;
	struct client		*cl;
	struct api_result	 res;
	struct err		 e;
	struct ui		 ui;
	const char		*file = NULL, *name = NULL, *where;
	char			 line[768];
	int			 ch, saved, null;

	setlocale(LC_ALL, "");
	while ((ch = getopt(argc, argv, "Vc:p:")) != -1)
		switch (ch) {
		case 'V':
			printf("synstack-console %s\n", PACKAGE_VERSION);
			return 0;
		case 'c':
			file = optarg;
			break;
		case 'p':
			name = optarg;
			break;
		default:
			usage();
		}
	if (optind != argc)
		usage();

	err_clear(&e);
	memset(&prof, 0, sizeof(prof));
	if (profile_load(file, name, &prof, &e) == -1)
		fail(NULL, &prof, "%s%s%s%s", e.message, e.hint[0] != '\0' ?
		    " (" : "", e.hint, e.hint[0] != '\0' ? ")" : "");
	if ((cl = client_new(&prof, &e)) == NULL)
		fail(NULL, &prof, "%s", e.message);
	where = prof.url[0] != '\0' ? prof.url : prof.socket;

	/* The daemon, then the token: both before the screen changes. */
	if (client_call(cl, "GET", "/healthz", NULL, &res) == -1 &&
	    res.status == 0) {
		snprintf(line, sizeof(line), "%s", res.message);
		api_result_free(&res);
		fail(cl, &prof, "cannot reach synstackd (profile %s): %s",
		    prof.name, line);
	}
	api_result_free(&res);
	if (client_call(cl, "GET", "/api/v1/admin/agents?status=pending",
	    NULL, &res) == -1 && (res.status == 401 || res.status == 403)) {
		api_result_line(&res, line, sizeof(line));
		api_result_free(&res);
		fail(cl, &prof, "synstackd at %s refused the admin token of"
		    " profile %s (%s): %s", where, prof.name, prof.token_file,
		    line);
	}
	api_result_free(&res);
	if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
		fail(cl, &prof, "standard input and output must be a"
		    " terminal");

	catch_signals();
	atexit(restore_terminal);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	if ((null = open("/dev/null", O_WRONLY)) != -1) {
		dup2(null, STDERR_FILENO);
		close(null);
	}
	memset(&ui, 0, sizeof(ui));
	ui.prof = &prof;
	ui.cl = cl;
	ui.pending = -1;
	if (ui_init(&ui) == -1) {
		if (saved != -1) {
			dup2(saved, STDERR_FILENO);
			close(saved);
		}
		fail(cl, &prof, "cannot start curses (TERM=%s)",
		    getenv("TERM") != NULL ? getenv("TERM") : "unset");
	}
	ui_run(&ui);
	ui_end();
	if (saved != -1) {
		dup2(saved, STDERR_FILENO);
		close(saved);
	}
	client_free(cl);
	profile_wipe(&prof);
	/* 128 + the signal, as a shell reports it; an exit rather than
	 * the signal again, so a script around the console (a test's
	 * tmux pane) goes on to look at the terminal. */
	return ui_signal ? 128 + ui_signal : 0;
}
