/*
 * check_console.c: the parts of synstack-console without a screen:
 * profiles (tui/profiles.c), the API client (tui/client.c) against a tiny
 * HTTP server on a thread, and row formatting (tui/format.c).  A program
 * of its own, so the core's suites do not link curses.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console.h"

#define TOKEN	"tok-0123456789"

static char	dir[256];	/* this test's own folder */

static const char *
srcdir(void)
{
	const char	*d = getenv("SYNSTACK_SRCDIR");

	return d != NULL && *d != '\0' ? d : ".";
}

/* Each test runs in a process of its own: a folder, HOME and XDG in it. */
static void
setup(void)
{
	const char	*t = getenv("TMPDIR");
	char		 home[300];

	snprintf(dir, sizeof(dir), "%s/check_console.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(home, sizeof(home), "%s/home", dir);
	ck_assert_int_eq(mkdir(home, 0700), 0);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");
}

static void
teardown(void)
{
	remove_tree(dir);
}

/* dir/name holding text with mode; its path into path. */
static void
put_file(char *path, size_t pathsz, const char *name, const char *text,
    mode_t mode)
{
	int	fd;

	snprintf(path, pathsz, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void
mkdirs(const char *path)
{
	char	buf[512], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; *p != '\0'; p++)
		if (*p == '/') {
			*p = '\0';
			mkdir(buf, 0700);
			*p = '/';
		}
	mkdir(buf, 0700);
}

/*
 * A profiles file whose "@/" stand for the folder's, so token files can be
 * named; the usual token file is dir/t.token.
 */
static void
profiles_file(char *path, size_t pathsz, const char *yaml)
{
	char		 text[4096], tok[512];
	const char	*s;
	size_t		 n = 0;

	for (s = yaml; *s != '\0' && n + sizeof(dir) < sizeof(text); s++)
		if (s[0] == '@' && s[1] == '/')
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s",
			    dir);
		else
			text[n++] = *s;
	text[n] = '\0';
	put_file(tok, sizeof(tok), "t.token", TOKEN "\n", 0600);
	put_file(path, pathsz, "profiles.yaml", text, 0644);
}

static void
load_ok(const char *yaml, const char *name, struct profile *p)
{
	struct err	e;
	char		path[512];

	profiles_file(path, sizeof(path), yaml);
	err_clear(&e);
	ck_assert_msg(profile_load_file(path, name, p, &e) == 0, "%s",
	    e.message);
	ck_assert_str_eq(p->source, path);
}

/* The load fails with this message, "F" standing for the file's path. */
static void
load_fails(const char *yaml, const char *name, const char *want)
{
	struct profile	p;
	struct err	e;
	char		path[512], msg[1024];
	const char	*s;
	size_t		n = 0;

	profiles_file(path, sizeof(path), yaml);
	for (s = want; *s != '\0' && n + strlen(path) < sizeof(msg); s++)
		if (*s == 'F' && s == want)
			n += (size_t)snprintf(msg + n, sizeof(msg) - n, "%s",
			    path);
		else
			msg[n++] = *s;
	msg[n] = '\0';
	err_clear(&e);
	ck_assert_int_eq(profile_load_file(path, name, &p, &e), -1);
	ck_assert_int_eq(e.code, ERR_CONFIG);
	ck_assert_str_eq(e.message, msg);
	ck_assert(strstr(e.message, TOKEN) == NULL);
	ck_assert(strstr(e.hint, "synstack-console(1)") != NULL);
	ck_assert_str_eq(p.token, "");
}

#define TWO \
	"default: local\n" \
	"read_only: false\n" \
	"profiles:\n" \
	"  local:\n" \
	"    socket: /run/synstack/admin.sock\n" \
	"    token_file: @/t.token\n" \
	"  prod:\n" \
	"    url: https://synstack.example.org/\n" \
	"    token_file: @/t.token\n" \
	"    read_only: true\n"

START_TEST(test_profile_default)
{
	struct profile	p;
	char		tf[512];

	load_ok(TWO, NULL, &p);
	snprintf(tf, sizeof(tf), "%s/t.token", dir);
	ck_assert_str_eq(p.name, "local");
	ck_assert_str_eq(p.socket, "/run/synstack/admin.sock");
	ck_assert_str_eq(p.url, "");
	ck_assert_str_eq(p.token_file, tf);
	ck_assert_str_eq(p.token, TOKEN);
	ck_assert(!p.read_only);
	profile_wipe(&p);
	ck_assert_str_eq(p.token, "");
}
END_TEST

START_TEST(test_profile_named)
{
	struct profile	p;

	load_ok(TWO, "prod", &p);
	ck_assert_str_eq(p.name, "prod");
	/* Without its trailing '/', so paths append to it. */
	ck_assert_str_eq(p.url, "https://synstack.example.org");
	ck_assert_str_eq(p.socket, "");
	ck_assert(p.read_only);
	load_ok("profiles:\n  a:\n    url: http://127.0.0.1:8470\n"
	    "    token_file: @/t.token\n", "a", &p);
	ck_assert_str_eq(p.url, "http://127.0.0.1:8470");
	/* A prefix behind a proxy stays. */
	load_ok("profiles:\n  a:\n    url: HTTPS://h.example/synstack//\n"
	    "    token_file: '@/t.token'\n", "a", &p);
	ck_assert_str_eq(p.url, "HTTPS://h.example/synstack");
}
END_TEST

/* The more specific setting wins, both ways (k9s#2434 did the opposite). */
START_TEST(test_profile_read_only)
{
	static const struct {
		const char	*global, *own;
		bool		 want;
	} cases[] = {
		{ NULL, NULL, false },
		{ "true", NULL, true },
		{ "false", NULL, false },
		{ "true", "false", false },
		{ "false", "true", true },
		{ NULL, "true", true },
		{ "true", "true", true },
	};
	struct profile	p;
	char		y[1024];
	size_t		i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(y, sizeof(y), "%s%s%sprofiles:\n  x:\n"
		    "    url: http://h\n    token_file: @/t.token\n%s%s%s",
		    cases[i].global != NULL ? "read_only: " : "",
		    cases[i].global != NULL ? cases[i].global : "",
		    cases[i].global != NULL ? "\n" : "",
		    cases[i].own != NULL ? "    read_only: " : "",
		    cases[i].own != NULL ? cases[i].own : "",
		    cases[i].own != NULL ? "\n" : "");
		load_ok(y, "x", &p);
		ck_assert_msg(p.read_only == cases[i].want, "case %zu", i);
	}
}
END_TEST

static const struct {
	const char	*yaml, *name, *msg;
} bad_cases[] = {
	/* Unknown keys, at the key. */
	{ "defualt: a\nprofiles:\n  a: {url: http://h, token_file: /t}\n",
	  NULL, "F:1:1: unknown key 'defualt'; the top level has default, "
	  "read_only and profiles" },
	{ "profiles:\n  a:\n    url: http://h\n    urll: http://h\n"
	  "    token_file: @/t.token\n", "a",
	  "F:4:5: unknown key 'urll' of profile 'a'; a profile has url or "
	  "socket, token_file and read_only" },
	/* Wrong types, at the value. */
	{ "read_only: yes\nprofiles:\n  a: {url: http://h, token_file: /t}\n",
	  "a", "F:1:12: 'read_only' expects true or false, got 'yes'" },
	{ "profiles:\n  a:\n    url: [http://h]\n    token_file: /t\n", "a",
	  "F:3:10: 'url' of profile 'a' expects a string, got a list" },
	{ "profiles:\n  a:\n    socket:\n    token_file: /t\n", "a",
	  "F:3:12: 'socket' of profile 'a' expects a string, got nothing" },
	{ "profiles:\n  a:\n    url: http://h\n    token_file: /t\n"
	  "    read_only: 1\n", "a",
	  "F:5:16: 'read_only' of profile 'a' expects true or false, "
	  "got '1'" },
	{ "profiles: [a, b]\n", "a",
	  "F:1:11: 'profiles' expects a mapping of profile names, got a "
	  "list" },
	{ "- a\n", NULL, "F:1:1: the top level must be a mapping of default, "
	  "read_only and profiles, got a list" },
	{ "profiles:\n  a: http://h\n", "a", "F:2:6: profile 'a' expects a "
	  "mapping of url or socket, token_file and read_only, got a "
	  "scalar" },
	/* url and socket: exactly one. */
	{ "profiles:\n  a:\n    url: http://h\n    token_file: /t\n"
	  "    socket: /s\n", "a",
	  "F:5:5: profile 'a' has both url and socket; keep one" },
	{ "profiles:\n  a:\n    token_file: /t\n", "a",
	  "F:2:3: profile 'a' has neither url nor socket; add url: "
	  "https://host or socket: /path/to/admin.sock" },
	{ "profiles:\n  a:\n    url: http://h\n", "a",
	  "F:2:3: profile 'a' has no token_file; add the path of a file "
	  "holding its admin token" },
	{ "profiles:\n  a:\n    url: ftp://h\n    token_file: /t\n", "a",
	  "F:3:10: 'url' of profile 'a' must start with http:// or "
	  "https://" },
	{ "profiles:\n  a:\n    url: https://me:pw@h\n    token_file: /t\n",
	  "a", "F:3:10: 'url' of profile 'a' holds credentials; put the "
	  "token in token_file instead" },
	{ "profiles:\n  a:\n    url: http://h\n    token_file: t.token\n",
	  "a", "F:4:17: 'token_file' of profile 'a' must be an absolute path "
	  "or start with '~/', got 't.token'" },
	/* Which profile. */
	{ TWO, "staging", "F: no profile 'staging'; the file has local, prod" },
	{ "profiles:\n  a: {url: http://h, token_file: /t}\n"
	  "  b: {url: http://h, token_file: /t}\n", NULL,
	  "F: no profile chosen: add 'default: <name>' to the file or use "
	  "-p <name> (profiles: a, b)" },
	{ "default: c\nprofiles:\n  a: {url: http://h, token_file: /t}\n",
	  "a", "F:1:10: default profile 'c' is not in 'profiles' (a)" },
	{ "profiles:\n  a: {url: http://h, token_file: /t}\n"
	  "  a: {url: http://h, token_file: /t}\n", "a",
	  "F:3:3: duplicate profile 'a'" },
	{ "profiles:\n  'a b': {url: http://h, token_file: /t}\n", "a",
	  "F:2:3: profile name 'a b' must be 1 to 64 letters, digits, '-', "
	  "'_' or '.', starting with a letter or digit" },
	{ "default: a\n", NULL, "F: no 'profiles' mapping; add one with a "
	  "profile holding url or socket and token_file" },
	{ "profiles: {}\n", NULL, "F:1:11: 'profiles' is empty; add a "
	  "profile holding url or socket and token_file" },
	{ "", NULL, "F: the file is empty; it needs a 'profiles' mapping" },
	/* YAML itself. */
	{ "profiles:\n  a: &x {url: http://h, token_file: /t}\n  b: *x\n",
	  "a", "F:2:6: anchors and aliases are not supported" },
	{ "profiles:\n  a: {url: http://h\n", "a", "F:3:1: did not find "
	  "expected ',' or '}' (while parsing a flow mapping at 2:6)" },
	{ "profiles: {a: {url: http://h, token_file: /t}}\n---\n"
	  "profiles: {}\n", "a", "F:2:1: more than one document; the file "
	  "must hold exactly one" },
	/* The token file. */
	{ "profiles:\n  a:\n    url: http://h\n    token_file: @/none\n", "a",
	  "F:4:17: token_file of profile 'a': @/none: No such file or "
	  "directory; write the admin token there (mode 600) or fix "
	  "token_file" },
};

START_TEST(test_profile_bad)
{
	char		 want[1024];
	const char	*s;
	size_t		 n = 0;

	/* "@/" in the message stands for the folder's too. */
	for (s = bad_cases[_i].msg; *s != '\0' && n + sizeof(dir) <
	    sizeof(want); s++)
		if (s[0] == '@' && s[1] == '/')
			n += (size_t)snprintf(want + n, sizeof(want) - n,
			    "%s", dir);
		else
			want[n++] = *s;
	want[n] = '\0';
	load_fails(bad_cases[_i].yaml, bad_cases[_i].name, want);
}
END_TEST

/* Readable by others: refused, with the fix, and the token not shown. */
START_TEST(test_profile_token_mode)
{
	struct profile	p;
	struct err	e;
	char		path[512], tok[512];

	profiles_file(path, sizeof(path), "profiles:\n  a:\n"
	    "    url: http://h\n    token_file: @/t.token\n");
	put_file(tok, sizeof(tok), "t.token", TOKEN "\n", 0644);
	err_clear(&e);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert_msg(strstr(e.message, ":4:17: token_file of profile 'a': ")
	    != NULL, "%s", e.message);
	ck_assert(strstr(e.message, "accessible by group or others (mode 644)")
	    != NULL);
	ck_assert(strstr(e.message, "chmod 600") != NULL);
	ck_assert(strstr(e.message, TOKEN) == NULL);
	ck_assert_str_eq(p.token, "");
	put_file(tok, sizeof(tok), "t.token", TOKEN "\n", 0640);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert(strstr(e.message, "(mode 640)") != NULL);
	put_file(tok, sizeof(tok), "t.token", TOKEN "\n", 0400);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), 0);
	ck_assert_str_eq(p.token, TOKEN);
}
END_TEST

/* The first line, trimmed; empty, too long or two words: refused. */
START_TEST(test_profile_token_text)
{
	struct profile	p;
	struct err	e;
	char		path[512], tok[512], big[PROFILE_TOKEN_MAX + 8];

	profiles_file(path, sizeof(path), "profiles:\n  a:\n"
	    "    url: http://h\n    token_file: @/t.token\n");
	put_file(tok, sizeof(tok), "t.token", "  \t" TOKEN " \r\nsecond\n",
	    0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), 0);
	ck_assert_str_eq(p.token, TOKEN);
	put_file(tok, sizeof(tok), "t.token", TOKEN, 0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), 0);
	ck_assert_str_eq(p.token, TOKEN);

	put_file(tok, sizeof(tok), "t.token", "\n" TOKEN "\n", 0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert(strstr(e.message, "the first line of") != NULL);
	ck_assert(strstr(e.message, "is empty") != NULL);
	put_file(tok, sizeof(tok), "t.token", "two words\n", 0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert(strstr(e.message, "not one word of printable ASCII") !=
	    NULL);
	ck_assert(strstr(e.message, "two") == NULL);

	memset(big, 'x', PROFILE_TOKEN_MAX);
	big[PROFILE_TOKEN_MAX] = '\n';
	big[PROFILE_TOKEN_MAX + 1] = '\0';
	put_file(tok, sizeof(tok), "t.token", big, 0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), 0);
	ck_assert_uint_eq(strlen(p.token), PROFILE_TOKEN_MAX);
	big[PROFILE_TOKEN_MAX] = 'x';
	big[PROFILE_TOKEN_MAX + 1] = '\n';
	big[PROFILE_TOKEN_MAX + 2] = '\0';
	put_file(tok, sizeof(tok), "t.token", big, 0600);
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert(strstr(e.message, "is longer than 512 bytes") != NULL);
	ck_assert(strstr(e.message, "xxxx") == NULL);
}
END_TEST

/* "~/" is $HOME, for token_file and socket. */
START_TEST(test_profile_home)
{
	struct profile	p;
	struct err	e;
	char		path[512], want[512], tok[512];

	snprintf(want, sizeof(want), "%s/home/.config/synstack", dir);
	mkdirs(want);
	put_file(tok, sizeof(tok), "home/.config/synstack/a.token", TOKEN,
	    0600);
	profiles_file(path, sizeof(path), "profiles:\n  a:\n"
	    "    socket: ~/admin.sock\n"
	    "    token_file: ~/.config/synstack/a.token\n");
	err_clear(&e);
	ck_assert_msg(profile_load_file(path, "a", &p, &e) == 0, "%s",
	    e.message);
	ck_assert_str_eq(p.token_file, tok);
	snprintf(want, sizeof(want), "%s/home/admin.sock", dir);
	ck_assert_str_eq(p.socket, want);
	ck_assert_str_eq(p.token, TOKEN);
	/* "~user/" is not expanded. */
	profiles_file(path, sizeof(path), "profiles:\n  a:\n"
	    "    url: http://h\n    token_file: ~root/t\n");
	ck_assert_int_eq(profile_load_file(path, "a", &p, &e), -1);
	ck_assert(strstr(e.message, "must be an absolute path or start "
	    "with '~/'") != NULL);
}
END_TEST

/* $XDG_CONFIG_HOME, else ~/.config; then the system file. */
START_TEST(test_profile_search)
{
	struct profile	p;
	struct err	e;
	char		found[2048], xdg[512], sys[512], home[512], want[2048];
	char		tok[512];

	snprintf(xdg, sizeof(xdg), "%s/xdg/synstack", dir);
	snprintf(home, sizeof(home), "%s/home/.config/synstack", dir);
	mkdirs(xdg);
	mkdirs(home);
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	put_file(sys, sizeof(sys), "system.yaml", "profiles: {}\n", 0644);

	/* Nothing under XDG: the system file, ~/.config not looked at. */
	put_file(home, sizeof(home), "home/.config/synstack/profiles.yaml",
	    "x", 0644);
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), 0);
	ck_assert_str_eq(found, sys);
	put_file(want, sizeof(want), "xdg/synstack/profiles.yaml", "x", 0644);
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), 0);
	ck_assert_str_eq(found, want);

	/* Unset, or relative (invalid, so ignored): ~/.config. */
	unsetenv("XDG_CONFIG_HOME");
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), 0);
	ck_assert_str_eq(found, home);
	setenv("XDG_CONFIG_HOME", "relative", 1);
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), 0);
	ck_assert_str_eq(found, home);
	unlink(home);
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), 0);
	ck_assert_str_eq(found, sys);

	/* None: every path tried is named. */
	unlink(sys);
	err_clear(&e);
	ck_assert_int_eq(profile_find(found, sizeof(found), sys, &e), -1);
	snprintf(want, sizeof(want), "no profiles file: tried %s and %s; "
	    "create one or name one with -c", home, sys);
	ck_assert_str_eq(e.message, want);

	/* profile_load reads what it finds; a path given is the only one. */
	setenv("XDG_CONFIG_HOME", xdg, 1);
	put_file(tok, sizeof(tok), "t.token", TOKEN, 0600);
	snprintf(want, sizeof(want), "default: a\nprofiles:\n  a:\n"
	    "    url: http://h\n    token_file: %s\n", tok);
	put_file(found, sizeof(found), "xdg/synstack/profiles.yaml", want,
	    0644);
	ck_assert_msg(profile_load(NULL, NULL, &p, &e) == 0, "%s", e.message);
	ck_assert_str_eq(p.source, found);
	ck_assert_str_eq(p.name, "a");
	snprintf(sys, sizeof(sys), "%s/nowhere.yaml", dir);
	ck_assert_int_eq(profile_load(sys, NULL, &p, &e), -1);
	snprintf(found, sizeof(found), "%s: No such file or directory", sys);
	ck_assert_str_eq(e.message, found);
}
END_TEST

/* conf/profiles.yaml loads as it is, every profile of it. */
START_TEST(test_profile_sample)
{
	struct profile	p;
	struct err	e;
	char		path[1024], tok[512];

	snprintf(path, sizeof(path), "%s/home/.config/synstack", dir);
	mkdirs(path);
	put_file(tok, sizeof(tok), "home/.config/synstack/local.token",
	    "local-token\n", 0600);
	put_file(tok, sizeof(tok), "home/.config/synstack/prod.token",
	    "prod-token\n", 0600);
	snprintf(path, sizeof(path), "%s/conf/profiles.yaml", srcdir());
	err_clear(&e);
	ck_assert_msg(profile_load_file(path, NULL, &p, &e) == 0, "%s",
	    e.message);
	ck_assert_str_eq(p.name, "local");
	ck_assert_str_eq(p.socket, "/run/synstack/admin.sock");
	ck_assert_str_eq(p.token, "local-token");
	ck_assert(!p.read_only);
	ck_assert_msg(profile_load_file(path, "prod", &p, &e) == 0, "%s",
	    e.message);
	ck_assert_str_eq(p.url, "https://synstack.example.org");
	ck_assert_str_eq(p.token, "prod-token");
	ck_assert(p.read_only);
}
END_TEST

/* -- client ---------------------------------------------------------- */

/* One connection, answered with a canned answer; the request kept. */
struct server {
	int		 lfd;
	char		 url[64];
	char		 sock[108];
	const char	*answer;
	char		 req[16384];
	size_t		 reqlen;
	pthread_t	 thread;
};

static void *
serve(void *arg)
{
	struct server	*s = arg;
	const char	*end, *cl;
	size_t		 want;
	ssize_t		 r;
	int		 fd;

	if ((fd = accept(s->lfd, NULL, NULL)) == -1)
		return NULL;
	while (s->reqlen < sizeof(s->req) - 1) {
		r = read(fd, s->req + s->reqlen, sizeof(s->req) - 1 -
		    s->reqlen);
		if (r <= 0)
			break;
		s->reqlen += (size_t)r;
		s->req[s->reqlen] = '\0';
		if ((end = strstr(s->req, "\r\n\r\n")) == NULL)
			continue;
		cl = strcasestr(s->req, "\r\nContent-Length:");
		want = (size_t)(end + 4 - s->req) + (cl != NULL && cl < end ?
		    strtoul(cl + 17, NULL, 10) : 0);
		if (s->reqlen >= want)
			break;
	}
	if (write(fd, s->answer, strlen(s->answer)) < 0)
		s->reqlen = 0;
	close(fd);
	return NULL;
}

static void
server_start(struct server *s, bool unix_socket, const char *answer)
{
	struct sockaddr_in	sin;
	struct sockaddr_un	sun;
	socklen_t		len = sizeof(sin);

	memset(s, 0, sizeof(*s));
	s->answer = answer;
	if (unix_socket) {
		s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		ck_assert_int_lt(snprintf(s->sock, sizeof(s->sock),
		    "%s/admin.sock", dir), (int)sizeof(s->sock));
		memcpy(sun.sun_path, s->sock, strlen(s->sock) + 1);
		ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sun,
		    sizeof(sun)), 0);
	} else {
		s->lfd = socket(AF_INET, SOCK_STREAM, 0);
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
		ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&sin,
		    &len), 0);
		snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d",
		    ntohs(sin.sin_port));
	}
	ck_assert_int_eq(listen(s->lfd, 4), 0);
	ck_assert_int_eq(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void
server_wait(struct server *s)
{
	pthread_join(s->thread, NULL);
	close(s->lfd);
}

static struct client *
client_for(const struct server *s)
{
	struct profile	 p;
	struct client	*c;
	struct err	 e;

	memset(&p, 0, sizeof(p));
	strlcpy_ss(p.name, "t", sizeof(p.name));
	strlcpy_ss(p.url, s->url, sizeof(p.url));
	strlcpy_ss(p.socket, s->sock, sizeof(p.socket));
	strlcpy_ss(p.token, TOKEN, sizeof(p.token));
	c = client_new(&p, &e);
	ck_assert_msg(c != NULL, "%s", e.message);
	return c;
}

/* A whole HTTP answer, closing the connection. */
static const char *
answer(char *buf, size_t bufsz, const char *status, const char *ct,
    const char *body)
{
	snprintf(buf, bufsz, "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
	    "Connection: close\r\nContent-Length: %zu\r\n\r\n%s", status, ct,
	    strlen(body), body);
	return buf;
}

START_TEST(test_client_ok)
{
	struct server		 s;
	struct client		*c;
	struct api_result	 res;
	char			 a[512], line[256];
	static const char	 body[] =
	    "{\"ok\":true,\"text\":\"approved agent 'bob'\","
	    "\"data\":{\"name\":\"bob\"},\"next\":[]}\n";

	server_start(&s, false, answer(a, sizeof(a), "200 OK",
	    "application/json", body));
	c = client_for(&s);
	ck_assert_int_eq(client_call(c, "POST",
	    "/api/v1/admin/agents/bob/approve", NULL, &res), 0);
	server_wait(&s);
	ck_assert_int_eq(res.status, 200);
	ck_assert_str_eq(res.code, "");
	ck_assert_str_eq(res.message, "approved agent 'bob'");
	ck_assert_str_eq(json_path_str(res.data, "name"), "bob");
	api_result_line(&res, line, sizeof(line));
	ck_assert_str_eq(line, "approved agent 'bob'");
	ck_assert_msg(strncmp(s.req, "POST /api/v1/admin/agents/bob/approve "
	    "HTTP/1.1\r\n", 45) == 0, "%s", s.req);
	ck_assert(strstr(s.req, "\r\nAuthorization: Bearer " TOKEN "\r\n") !=
	    NULL);
	ck_assert(strstr(s.req, "\r\nAccept: application/json\r\n") != NULL);
	/* No body: no Content-Type for the daemon to refuse. */
	ck_assert(strcasestr(s.req, "Content-Type") == NULL);
	api_result_free(&res);
	ck_assert_ptr_null(res.json);
	client_free(c);
}
END_TEST

START_TEST(test_client_body)
{
	struct server		 s;
	struct client		*c;
	struct api_result	 res;
	json_object		*body;
	char			 a[512];

	server_start(&s, false, answer(a, sizeof(a), "200 OK",
	    "application/json", "{\"ok\":true}"));
	c = client_for(&s);
	body = json_object_new_object();
	json_object_object_add(body, "name", json_object_new_string("Acme/é"));
	ck_assert_int_eq(client_call(c, "PUT", "/api/v1/x", body, &res), 0);
	server_wait(&s);
	json_object_put(body);
	ck_assert_msg(strncmp(s.req, "PUT /api/v1/x HTTP/1.1\r\n", 24) == 0,
	    "%s", s.req);
	ck_assert(strstr(s.req, "\r\nContent-Type: application/json\r\n") !=
	    NULL);
	ck_assert(strstr(s.req, "\r\n\r\n{\"name\":\"Acme/é\"}") != NULL);
	ck_assert_ptr_null(res.data);
	ck_assert_str_eq(res.message, "");
	api_result_free(&res);
	client_free(c);
}
END_TEST

/* The daemon's error: its status, code, message and hint. */
START_TEST(test_client_error)
{
	struct server		 s;
	struct client		*c;
	struct api_result	 res;
	char			 a[1024], line[512];
	static const char	 body[] =
	    "{\"ok\":false,\"error\":{\"code\":\"invalid_transition\","
	    "\"message\":\"demo/app is none; allowed: ready\","
	    "\"hint\":\"read the object's current state first\"}}";

	server_start(&s, true, answer(a, sizeof(a),
	    "422 Unprocessable Entity", "application/json", body));
	c = client_for(&s);
	ck_assert_int_eq(client_call(c, "GET", "/api/v1/admin/agents", NULL,
	    &res), -1);
	server_wait(&s);
	/* Over the unix socket, with the host the daemon ignores. */
	ck_assert(strncmp(s.req, "GET /api/v1/admin/agents HTTP/1.1\r\n",
	    35) == 0);
	ck_assert(strstr(s.req, "\r\nHost: localhost\r\n") != NULL);
	ck_assert_int_eq(res.status, 422);
	ck_assert_str_eq(res.code, "invalid_transition");
	ck_assert_str_eq(res.message, "demo/app is none; allowed: ready");
	ck_assert_str_eq(res.hint, "read the object's current state first");
	ck_assert_ptr_nonnull(res.json);
	api_result_line(&res, line, sizeof(line));
	ck_assert_str_eq(line, "422 invalid_transition: demo/app is none; "
	    "allowed: ready (read the object's current state first)");
	api_result_free(&res);
	client_free(c);
}
END_TEST

/* Something else answered: "bad_answer", with what it was. */
START_TEST(test_client_bad_answer)
{
	static const struct {
		const char	*status, *ct, *body, *code, *msg;
		long		 n;
	} cases[] = {
		{ "502 Bad Gateway", "text/html", "<html>bad</html>",
		  "bad_answer",
		  "HTTP 502, not an answer of synstackd (text/html)", 502 },
		{ "200 OK", "application/json", "[1,2]", "bad_answer",
		  "HTTP 200, not an answer of synstackd (application/json)",
		  200 },
		{ "200 OK", "application/json", "{\"ok\":tru", "bad_answer",
		  "HTTP 200, not an answer of synstackd (application/json)",
		  200 },
		{ "200 OK", "application/json", "", "bad_answer",
		  "HTTP 200 with an empty body", 200 },
		{ "500 Internal Server Error", "application/json",
		  "{\"ok\":true}", "bad_answer",
		  "HTTP 500 with an answer that says ok", 500 },
		/* /healthz when the database is away. */
		{ "503 Service Unavailable", "application/json",
		  "{\"ok\":false,\"status\":\"unavailable\"}", "http_error",
		  "HTTP 503: unavailable", 503 },
	};
	struct server		 s;
	struct client		*c;
	struct api_result	 res;
	char			 a[512], line[512];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		server_start(&s, false, answer(a, sizeof(a), cases[i].status,
		    cases[i].ct, cases[i].body));
		c = client_for(&s);
		ck_assert_int_eq(client_call(c, "GET", "/healthz", NULL, &res),
		    -1);
		server_wait(&s);
		ck_assert_int_eq(res.status, cases[i].n);
		ck_assert_str_eq(res.code, cases[i].code);
		ck_assert_str_eq(res.message, cases[i].msg);
		api_result_line(&res, line, sizeof(line));
		ck_assert(strstr(line, res.code) != NULL);
		api_result_free(&res);
		client_free(c);
	}
}
END_TEST

/* Nothing listens: "unreachable", status 0, at once, no token shown. */
START_TEST(test_client_unreachable)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	struct server		 s;
	struct client		*c;
	struct api_result	 res;
	char			 line[1024];
	time_t			 t0;
	int			 fd;

	/* A port that was free a moment ago. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	memset(&s, 0, sizeof(s));
	snprintf(s.url, sizeof(s.url), "http://127.0.0.1:%d",
	    ntohs(sin.sin_port));
	c = client_for(&s);
	t0 = time(NULL);
	ck_assert_int_eq(client_call(c, "GET", "/healthz", NULL, &res), -1);
	ck_assert(time(NULL) - t0 < 5);
	ck_assert_int_eq(res.status, 0);
	ck_assert_str_eq(res.code, "unreachable");
	ck_assert_ptr_null(res.json);
	ck_assert_msg(strncmp(res.message, s.url, strlen(s.url)) == 0, "%s",
	    res.message);
	api_result_line(&res, line, sizeof(line));
	ck_assert_msg(strncmp(line, "cannot reach the daemon: http://", 32) ==
	    0, "%s", line);
	ck_assert(strstr(line, TOKEN) == NULL);
	api_result_free(&res);
	client_free(c);

	/* A socket nobody listens on. */
	memset(&s, 0, sizeof(s));
	ck_assert_int_lt(snprintf(s.sock, sizeof(s.sock), "%s/none.sock",
	    dir), (int)sizeof(s.sock));
	c = client_for(&s);
	ck_assert_int_eq(client_call(c, "GET", "/healthz", NULL, &res), -1);
	ck_assert_str_eq(res.code, "unreachable");
	ck_assert(strncmp(res.message, s.sock, strlen(s.sock)) == 0);
	/* A path that could not be built is refused, not sent. */
	ck_assert_int_eq(client_call(c, "GET", "", NULL, &res), -1);
	ck_assert_str_eq(res.code, "bad_request");
	ck_assert_int_eq(res.status, 0);
	api_result_free(&res);
	client_free(c);
}
END_TEST

START_TEST(test_client_paths)
{
	char	buf[128], *s;

	client_project_path(buf, sizeof(buf), "a b/c", "%s", "");
	ck_assert_str_eq(buf, "/api/v1/projects/a%20b/c");
	client_project_path(buf, sizeof(buf), "demo/app",
	    "/deployment/secrets/%s/reveal", "DB_URL");
	ck_assert_str_eq(buf,
	    "/api/v1/projects/demo/app/deployment/secrets/DB_URL/reveal");
	client_project_path(buf, sizeof(buf), "o/r/x?#%", "%s", "");
	ck_assert_str_eq(buf, "/api/v1/projects/o/r%2Fx%3F%23%25");
	/* Not owner/repo, or too long: "", which client_call refuses. */
	client_project_path(buf, sizeof(buf), "noslash", "%s", "");
	ck_assert_str_eq(buf, "");
	client_project_path(buf, sizeof(buf), "/r", "%s", "");
	ck_assert_str_eq(buf, "");
	client_project_path(buf, 30, "demo/app", "/deployment/%s", "x");
	ck_assert_str_eq(buf, "");
	ck_assert_ptr_nonnull(s = client_escape("é é/-._~"));
	ck_assert_str_eq(s, "%C3%A9%20%C3%A9%2F-._~");
	free(s);
}
END_TEST

/* The status line never carries the daemon's control characters. */
START_TEST(test_client_line)
{
	struct api_result	res;
	char			line[64];

	memset(&res, 0, sizeof(res));
	res.status = 409;
	strlcpy_ss(res.code, "conflict", sizeof(res.code));
	strlcpy_ss(res.message, "a\x1b[2Jb\nc", sizeof(res.message));
	api_result_line(&res, line, sizeof(line));
	ck_assert_str_eq(line, "409 conflict: a [2Jb c");
	memset(&res, 0, sizeof(res));
	res.status = 200;
	api_result_line(&res, line, sizeof(line));
	ck_assert_str_eq(line, "done");
	/* Cut inside "é": no half character left. */
	memset(&res, 0, sizeof(res));
	strlcpy_ss(res.message, "abcdé", sizeof(res.message));
	api_result_line(&res, line, 6);
	ck_assert(utf8_valid(line, strlen(line)));
}
END_TEST

/* -- format ---------------------------------------------------------- */

START_TEST(test_fmt_cell)
{
	char	b[64];

	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abc", 5, false), "abc  ");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abc", 5, true), "  abc");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abc", 3, false), "abc");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abcdef", 4, false), "abc~");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abcdef", 4, true), "abc~");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abcdef", 1, false), "~");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "abc", 0, false), "");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), NULL, 2, false), "  ");
	/* UTF-8: "été" is three columns, six bytes. */
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "été", 3, false), "été");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "été", 5, true), "  été");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "étés", 3, false), "ét~");
	/* A combining accent counts 0 and stays with its letter. */
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "e\xcc\x81t", 3, false),
	    "e\xcc\x81t ");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "e\xcc\x81tx", 2, false),
	    "e\xcc\x81~");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "xe\xcc\x81t", 2, false),
	    "x~");
	/* Wide characters: two columns; one that does not fit leaves a
	 * space before the mark. */
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "日本", 5, false), "日本 ");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "日本語", 4, false), "日 ~");
	/* Controls and malformed bytes show as '?'. */
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "a\nb\x1b", 5, false),
	    "a?b? ");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "a\xff\xc3", 4, false),
	    "a?? ");
	ck_assert_str_eq(fmt_cell(b, sizeof(b), "\xe2\x80\xae" "evil", 5,
	    false), "?evil");
	/* A buffer too small: cut at a character, still terminated. */
	ck_assert_str_eq(fmt_cell(b, 4, "ééé", 3, false), "é");
}
END_TEST

static time_t
at(int y, int mo, int d, int h, int mi, int s)
{
	struct tm	tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	return timegm(&tm);
}

START_TEST(test_fmt_when)
{
	static const struct {
		const char	*iso, *want;
	} cases[] = {
		{ NULL, "never" },
		{ "2026-11-24T12:00:00Z", "now" },
		{ "2026-11-24T11:59:58Z", "now" },
		{ "2026-11-24T11:59:18Z", "42 s ago" },
		{ "2026-11-24T11:55:00Z", "5 min ago" },
		{ "2026-11-24T11:00:01Z", "59 min ago" },
		{ "2026-11-24T09:00:00Z", "3 h ago" },
		{ "2026-11-22T12:00:00Z", "2 d ago" },
		{ "2026-10-25T12:00:00Z", "30 d ago" },
		{ "2026-10-15T08:00:00Z", "2026-10-15" },
		{ "2026-11-24T12:05:00Z", "in 5 min" },
		{ "2027-01-01T00:00:00Z", "2027-01-01" },
		/* PostgreSQL's text, offsets, no seconds, a date alone. */
		{ "2026-11-24 11:55:00.123456+00", "5 min ago" },
		{ "2026-11-24T13:55:00+02:00", "5 min ago" },
		{ "2026-11-24T06:55:00-0500", "5 min ago" },
		{ "2026-11-24T11:55", "5 min ago" },
		{ "2026-11-23", "1 d ago" },
		/* Not a time: shown as it came. */
		{ "soon", "soon" },
		{ "2026-13-01T00:00:00Z", "2026-13-01T00:00:00Z" },
	};
	time_t	now = at(2026, 11, 24, 12, 0, 0);
	char	b[64];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(strcmp(fmt_when(b, sizeof(b), cases[i].iso, now),
		    cases[i].want) == 0, "%s: got \"%s\", want \"%s\"",
		    cases[i].iso != NULL ? cases[i].iso : "NULL", b,
		    cases[i].want);
}
END_TEST

static const struct column cols[] = {
	{ "NAME", "name", 8, COL_TEXT },
	{ "ELO", "rating", 5, COL_NUMBER },
	{ "SEEN", "last_seen", 9, COL_WHEN },
	{ "ON", "active", 3, COL_BOOL },
	{ "SHA", "commit", 7, COL_SHA },
	{ "PLATFORM", "platform.name", 0, COL_TEXT },
};
#define NCOLS	(sizeof(cols) / sizeof(cols[0]))

START_TEST(test_fmt_row)
{
	static const struct column list[] = {
		{ "SECRETS", "secrets", 5, COL_TEXT },
		{ "N", "n", 0, COL_TEXT },
	};
	json_object	*row;
	time_t		 now = at(2026, 11, 24, 12, 0, 0);
	char		 b[512];

	ck_assert_str_eq(fmt_row(b, sizeof(b), NULL, cols, NCOLS, 50, now),
	    "NAME       ELO SEEN      ON  SHA     PLATFORM     ");
	ck_assert_uint_eq(strlen(b), 50);
	row = json_tokener_parse("{\"name\":\"ada-bot\",\"rating\":1212,"
	    "\"last_seen\":\"2026-11-24T11:58:00Z\",\"active\":true,"
	    "\"commit\":\"0123456789abcdef\","
	    "\"platform\":{\"name\":\"fly.io\"}}");
	ck_assert_str_eq(fmt_row(b, sizeof(b), row, cols, NCOLS, 50, now),
	    "ada-bot   1212 2 min ago yes 0123456 fly.io       ");
	json_object_put(row);
	/* Missing and null fields; a long name cut; a list joined. */
	row = json_tokener_parse("{\"name\":\"a-very-long-name\","
	    "\"rating\":null,\"active\":false,\"platform\":[\"a\",\"b\"]}");
	ck_assert_str_eq(fmt_row(b, sizeof(b), row, cols, NCOLS, 50, now),
	    "a-very-~     - never         -       -            ");
	/* Narrower than the fixed columns: cut at the total. */
	ck_assert_str_eq(fmt_row(b, sizeof(b), row, cols, NCOLS, 12, now),
	    "a-very-~   -");
	json_object_put(row);
	row = json_tokener_parse("{\"secrets\":[\"A\",\"B\"],"
	    "\"n\":{\"x\":[1]}}");
	ck_assert_str_eq(fmt_row(b, sizeof(b), row, list, 2, 16, now),
	    "A, B  {\"x\":[1]} ");
	ck_assert_str_eq(fmt_row(b, sizeof(b), row, cols, NCOLS, 0, now), "");
	json_object_put(row);
}
END_TEST

START_TEST(test_fmt_matches)
{
	json_object	*row;
	time_t		 now = at(2026, 11, 24, 12, 0, 0);

	row = json_tokener_parse("{\"name\":\"Été-bot\",\"rating\":1212,"
	    "\"commit\":\"0123456789abcdef\","
	    "\"platform\":{\"name\":\"fly.io\"}}");
	ck_assert(fmt_matches(row, cols, NCOLS, "", now));
	ck_assert(fmt_matches(row, cols, NCOLS, NULL, now));
	ck_assert(fmt_matches(row, cols, NCOLS, "été", now));
	ck_assert(fmt_matches(row, cols, NCOLS, "ÉTÉ-BOT", now));
	ck_assert(fmt_matches(row, cols, NCOLS, "FLY", now));
	ck_assert(fmt_matches(row, cols, NCOLS, "1212", now));
	ck_assert(fmt_matches(row, cols, NCOLS, "never", now));
	/* The whole commit, not only what the column shows. */
	ck_assert(fmt_matches(row, cols, NCOLS, "89abcdef", now));
	ck_assert(!fmt_matches(row, cols, NCOLS, "heroku", now));
	/* "!" inverts; "!" alone hides nothing. */
	ck_assert(fmt_matches(row, cols, NCOLS, "!heroku", now));
	ck_assert(!fmt_matches(row, cols, NCOLS, "!fly", now));
	ck_assert(fmt_matches(row, cols, NCOLS, "!", now));
	json_object_put(row);
}
END_TEST

static Suite *
console_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("console");
	tc = tcase_create("profiles");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_profile_default);
	tcase_add_test(tc, test_profile_named);
	tcase_add_test(tc, test_profile_read_only);
	tcase_add_loop_test(tc, test_profile_bad, 0,
	    (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
	tcase_add_test(tc, test_profile_token_mode);
	tcase_add_test(tc, test_profile_token_text);
	tcase_add_test(tc, test_profile_home);
	tcase_add_test(tc, test_profile_search);
	tcase_add_test(tc, test_profile_sample);
	suite_add_tcase(s, tc);

	tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_client_ok);
	tcase_add_test(tc, test_client_body);
	tcase_add_test(tc, test_client_error);
	tcase_add_test(tc, test_client_bad_answer);
	tcase_add_test(tc, test_client_unreachable);
	tcase_add_test(tc, test_client_paths);
	tcase_add_test(tc, test_client_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("format");
	tcase_add_test(tc, test_fmt_cell);
	tcase_add_test(tc, test_fmt_when);
	tcase_add_test(tc, test_fmt_row);
	tcase_add_test(tc, test_fmt_matches);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner		*sr;
	const char	*xml = getenv("CK_XML_LOG_FILE_NAME");
	char		 own[4096];
	size_t		 n;
	int		 failed;

	/* make check runs check_synstack too: with one XML file named for
	 * both, the second would overwrite the first's results.  This
	 * program's are "<name>-console.xml". */
	if (xml != NULL && (n = strlen(xml)) > 4 && n + 9 < sizeof(own) &&
	    strcmp(xml + n - 4, ".xml") == 0) {
		snprintf(own, sizeof(own), "%.*s-console.xml", (int)(n - 4),
		    xml);
		setenv("CK_XML_LOG_FILE_NAME", own, 1);
	}
	sr = srunner_create(console_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
