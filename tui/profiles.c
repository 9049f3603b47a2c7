/*
 * profiles.c: which daemon the console talks to, with which token, and
 * whether it may change things, from profiles.yaml (conf/profiles.yaml is
 * the commented sample; synstack-console(1) describes it).
 *
 * The file is read whole, checked as YAML first (one document, no anchors
 * or aliases, bounded nesting, as lib/conf.c does) and then loaded as
 * libyaml's node tree, whose nodes keep their positions for the messages.
 * Every profile of the file is checked, not only the one asked for, so a
 * mistake shows the first time the file is used rather than on the day
 * someone picks the broken profile.  Only the chosen profile's token file
 * is read.
 */
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "console.h"

#define PROFILE_MAX_DEPTH	8	/* the format needs 3 */
#define PROFILE_SHOW_MAX	48	/* bytes of file text quoted back */
#define PROFILE_SYSTEM_FILE	SYNSTACK_SYSCONFDIR "/profiles.yaml"
#define PROFILE_HINT		"see synstack-console(1) and the sample " \
				"profiles.yaml"

/* One profile as written: its nodes, NULL when a key is absent. */
struct raw_profile {
	const char	*name;
	yaml_node_t	*key;		/* the name's node */
	yaml_node_t	*url, *socket, *token_file, *read_only;
};

struct loader {
	const char		*file;
	struct err		*e;
	yaml_document_t		 doc;
	yaml_node_t		*def;		/* "default:" */
	yaml_node_t		*read_only;	/* the global one */
	yaml_node_t		*profiles;
	struct raw_profile	*raw;
	size_t			 nraw;
};

static int	 failv(struct loader *, const yaml_mark_t *, const char *,
		     va_list) SS_PRINTF(3, 0);
static int	 fail(struct loader *, const yaml_mark_t *, const char *, ...)
		     SS_PRINTF(3, 4);
static int	 fail_file(struct loader *, const char *, ...)
		     SS_PRINTF(2, 3);
static const char *show(const char *, size_t, char *, size_t);
static const char *node_kind(const yaml_node_t *);
static bool	 is_null(const yaml_node_t *);
static const char *home_dir(void);
static int	 expand(struct loader *, yaml_node_t *, const char *,
		     const char *, char *, size_t);
static int	 slurp(const char *, char **, size_t *);
static int	 lint(struct loader *, const char *, size_t);
static int	 yaml_fail(struct loader *, const yaml_parser_t *);
static int	 get_string(struct loader *, yaml_node_t *, const char *,
		     const char *, const char **);
static int	 get_bool(struct loader *, yaml_node_t *, const char *,
		     const char *, bool *);
static bool	 key_is(const yaml_node_t *, const char *);
static bool	 name_valid(const char *, size_t);
static int	 read_top(struct loader *, yaml_node_t *);
static int	 read_profiles(struct loader *);
static int	 read_profile(struct loader *, yaml_node_t *, yaml_node_t *,
		     struct raw_profile *);
static int	 check_url(struct loader *, yaml_node_t *,
		     const struct raw_profile *, struct profile *);
static void	 known_names(const struct loader *, char *, size_t);
static const struct raw_profile *choose(struct loader *, const char *);
static int	 fill(struct loader *, const struct raw_profile *,
		     struct profile *);
static int	 read_token(struct loader *, const struct raw_profile *,
		     struct profile *);

static int
failv(struct loader *ld, const yaml_mark_t *m, const char *fmt, va_list ap)
{
	char	msg[400];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* libyaml counts from 0; editors and compilers from 1. */
	if (m == NULL)
		err_set(ld->e, ERR_CONFIG, "%s: %s", ld->file, msg);
	else
		err_set(ld->e, ERR_CONFIG, "%s:%lu:%lu: %s", ld->file,
		    (unsigned long)m->line + 1, (unsigned long)m->column + 1,
		    msg);
	/* The table's hint is synstackd's; this file is the console's. */
	err_hint(ld->e, PROFILE_HINT);
	return -1;
}

static int
fail(struct loader *ld, const yaml_mark_t *m, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = failv(ld, m, fmt, ap);
	va_end(ap);
	return rc;
}

/* An error about the file as a whole, with no place in it. */
static int
fail_file(struct loader *ld, const char *fmt, ...)
{
	va_list	ap;
	int	rc;

	va_start(ap, fmt);
	rc = failv(ld, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * A bounded, printable copy of file text for a message: control bytes
 * become '?', and a cut never splits a UTF-8 sequence.
 */
static const char *
show(const char *s, size_t len, char *buf, size_t bufsz)
{
	size_t	i, n;

	n = len < bufsz - 4 ? len : bufsz - 4;
	if (n < len)
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ?
		    '?' : s[i];
	if (n < len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

static const char *
node_kind(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_MAPPING_NODE:
		return "a mapping";
	case YAML_SEQUENCE_NODE:
		return "a list";
	default:
		return is_null(n) ? "nothing" : "a scalar";
	}
}

/* A plain empty, "~" or "null": YAML's null, not a quoted string. */
static bool
is_null(const yaml_node_t *n)
{
	const char	*v;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	return n->data.scalar.length == 0 || strcmp(v, "~") == 0 ||
	    strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
	    strcmp(v, "NULL") == 0;
}

/* $HOME when it is an absolute path, else the password database's. */
static const char *
home_dir(void)
{
	const char	*h = getenv("HOME");
	struct passwd	*pw;

	if (h != NULL && h[0] == '/')
		return h;
	if ((pw = getpwuid(getuid())) != NULL && pw->pw_dir != NULL &&
	    pw->pw_dir[0] == '/')
		return pw->pw_dir;
	return NULL;
}

/*
 * A path of the file: absolute, or "~/..." under the home directory.  A
 * relative path would depend on where the console happens to start.
 */
static int
expand(struct loader *ld, yaml_node_t *n, const char *what,
    const char *profile, char *out, size_t outsz)
{
	const char	*v = (const char *)n->data.scalar.value, *home;
	char		 shown[PROFILE_SHOW_MAX];
	int		 len;

	if (v[0] == '~' && v[1] == '/') {
		if ((home = home_dir()) == NULL)
			return fail(ld, &n->start_mark, "'%s' of profile '%s': "
			    "cannot expand '~/' without HOME; write an "
			    "absolute path", what, profile);
		len = snprintf(out, outsz, "%s%s", home, v + 1);
	} else if (v[0] == '/')
		len = snprintf(out, outsz, "%s", v);
	else
		return fail(ld, &n->start_mark, "'%s' of profile '%s' must "
		    "be an absolute path or start with '~/', got '%s'", what,
		    profile, show(v, strlen(v), shown, sizeof(shown)));
	if (len < 0 || (size_t)len >= outsz)
		return fail(ld, &n->start_mark, "'%s' of profile '%s' is "
		    "longer than %zu bytes", what, profile, outsz - 1);
	return 0;
}

/* The whole file, at most CONF_MAX_FILE bytes, NUL-terminated. */
static int
slurp(const char *path, char **out, size_t *outlen)
{
	char	*buf;
	size_t	 len = 0;
	ssize_t	 r;
	int	 fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	/* Room for one byte too many, to tell "full" from "too large". */
	if ((buf = malloc(CONF_MAX_FILE + 2)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	for (;;) {
		r = read(fd, buf + len, CONF_MAX_FILE + 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			goto bad;
		if (r == 0)
			break;
		len += (size_t)r;
		if (len > CONF_MAX_FILE) {
			errno = EFBIG;
			goto bad;
		}
	}
	close(fd);
	buf[len] = '\0';
	*out = buf;
	*outlen = len;
	return 0;
bad:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return -1;
}

static int
yaml_fail(struct loader *ld, const yaml_parser_t *p)
{
	const char	*problem;

	if (p->error == YAML_MEMORY_ERROR)
		return err_set(ld->e, ERR_INTERNAL, "%s: out of memory",
		    ld->file);
	problem = p->problem != NULL ? p->problem : "invalid YAML";
	if (p->error == YAML_READER_ERROR)
		return fail_file(ld, "%s at byte %zu", problem,
		    p->problem_offset);
	if (p->context != NULL)
		return fail(ld, &p->problem_mark, "%s (%s at %lu:%lu)",
		    problem, p->context,
		    (unsigned long)p->context_mark.line + 1,
		    (unsigned long)p->context_mark.column + 1);
	return fail(ld, &p->problem_mark, "%s", problem);
}

/*
 * YAML itself, before any key is looked at: the node tree libyaml builds
 * would resolve aliases silently, and the answer must not depend on where
 * a mistake sits.
 */
static int
lint(struct loader *ld, const char *buf, size_t len)
{
	yaml_parser_t		 parser;
	yaml_event_t		 ev;
	const yaml_char_t	*anchor;
	bool			 done = false;
	int			 rc = 0, nest = 0, docs = 0;

	if (!yaml_parser_initialize(&parser))
		return err_set(ld->e, ERR_INTERNAL, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf,
	    len);
	while (rc == 0 && !done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_fail(ld, &parser);
			break;
		}
		done = ev.type == YAML_STREAM_END_EVENT;
		anchor = NULL;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail(ld, &ev.start_mark, "more than one "
				    "document; the file must hold exactly "
				    "one");
			break;
		case YAML_ALIAS_EVENT:
			rc = fail(ld, &ev.start_mark, "aliases are not "
			    "supported");
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			anchor = ev.type == YAML_SEQUENCE_START_EVENT ?
			    ev.data.sequence_start.anchor :
			    ev.data.mapping_start.anchor;
			if (++nest > PROFILE_MAX_DEPTH)
				rc = fail(ld, &ev.start_mark, "nesting deeper "
				    "than %d levels", PROFILE_MAX_DEPTH);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			nest--;
			break;
		default:
			break;
		}
		if (rc == 0 && anchor != NULL)
			rc = fail(ld, &ev.start_mark, "anchors and aliases "
			    "are not supported");
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	return rc;
}

/* A non-empty string without NUL or control bytes. */
static int
get_string(struct loader *ld, yaml_node_t *n, const char *key,
    const char *owner, const char **out)
{
	const char	*v;
	size_t		 i, len;

	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(ld, &n->start_mark, "'%s'%s expects a string, got "
		    "%s", key, owner, node_kind(n));
	v = (const char *)n->data.scalar.value;
	len = n->data.scalar.length;
	if (len == 0)
		return fail(ld, &n->start_mark, "'%s'%s is empty", key, owner);
	for (i = 0; i < len; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return fail(ld, &n->start_mark, "'%s'%s contains a "
			    "control character", key, owner);
	if (!utf8_valid(v, len))
		return fail(ld, &n->start_mark, "'%s'%s is not valid UTF-8",
		    key, owner);
	*out = v;
	return 0;
}

static int
get_bool(struct loader *ld, yaml_node_t *n, const char *key,
    const char *owner, bool *out)
{
	const char	*v;
	char		 shown[PROFILE_SHOW_MAX];

	if (n->type != YAML_SCALAR_NODE || is_null(n))
		return fail(ld, &n->start_mark, "'%s'%s expects true or "
		    "false, got %s", key, owner, node_kind(n));
	v = (const char *)n->data.scalar.value;
	/* As synstack.yaml: no "yes", "on" or "1" to wonder about. */
	if (strcmp(v, "true") == 0)
		*out = true;
	else if (strcmp(v, "false") == 0)
		*out = false;
	else
		return fail(ld, &n->start_mark, "'%s'%s expects true or "
		    "false, got '%s'", key, owner,
		    show(v, n->data.scalar.length, shown, sizeof(shown)));
	return 0;
}

/* By length too: a quoted "url\0x" is not url. */
static bool
key_is(const yaml_node_t *k, const char *want)
{
	return k->data.scalar.length == strlen(want) &&
	    memcmp(k->data.scalar.value, want, k->data.scalar.length) == 0;
}

/* Names are typed after -p and ':', so nothing a shell would mangle. */
static bool
name_valid(const char *s, size_t len)
{
	size_t	i;

	if (len == 0 || len > PROFILE_NAME_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    (i > 0 && (s[i] == '-' || s[i] == '_' || s[i] == '.'))))
			return false;
	return true;
}

/* The top level: default, read_only, profiles. */
static int
read_top(struct loader *ld, yaml_node_t *root)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v, **slot;
	const char		*name;
	char			 shown[PROFILE_SHOW_MAX];
	bool			 b;

	if (root == NULL)
		return fail_file(ld, "the file is empty; it needs a "
		    "'profiles' mapping");
	if (root->type != YAML_MAPPING_NODE)
		return fail(ld, &root->start_mark, "the top level must be a "
		    "mapping of default, read_only and profiles, got %s",
		    node_kind(root));
	for (pair = root->data.mapping.pairs.start;
	    pair < root->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&ld->doc, pair->key);
		v = yaml_document_get_node(&ld->doc, pair->value);
		if (k->type != YAML_SCALAR_NODE)
			return fail(ld, &k->start_mark, "keys must be "
			    "scalars");
		name = (const char *)k->data.scalar.value;
		if (key_is(k, "default"))
			slot = &ld->def;
		else if (key_is(k, "read_only"))
			slot = &ld->read_only;
		else if (key_is(k, "profiles"))
			slot = &ld->profiles;
		else
			return fail(ld, &k->start_mark, "unknown key '%s'; "
			    "the top level has default, read_only and "
			    "profiles", show(name, k->data.scalar.length,
			    shown, sizeof(shown)));
		if (*slot != NULL)
			return fail(ld, &k->start_mark, "duplicate key '%s'",
			    name);
		*slot = v;
	}
	/* Checked here even when every profile sets its own. */
	if (ld->read_only != NULL &&
	    get_bool(ld, ld->read_only, "read_only", "", &b) == -1)
		return -1;
	return 0;
}

static int
read_profiles(struct loader *ld)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v, *n = ld->profiles;
	const char		*name;
	char			 shown[PROFILE_SHOW_MAX];
	size_t			 i, count;

	if (n == NULL)
		return fail_file(ld, "no 'profiles' mapping; add one with a "
		    "profile holding url or socket and token_file");
	if (n->type != YAML_MAPPING_NODE || is_null(n))
		return fail(ld, &n->start_mark, "'profiles' expects a mapping "
		    "of profile names, got %s", node_kind(n));
	count = (size_t)(n->data.mapping.pairs.top -
	    n->data.mapping.pairs.start);
	if (count == 0)
		return fail(ld, &n->start_mark, "'profiles' is empty; add a "
		    "profile holding url or socket and token_file");
	if ((ld->raw = calloc(count, sizeof(*ld->raw))) == NULL)
		return err_set(ld->e, ERR_INTERNAL, "out of memory");
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&ld->doc, pair->key);
		v = yaml_document_get_node(&ld->doc, pair->value);
		if (k->type != YAML_SCALAR_NODE)
			return fail(ld, &k->start_mark, "profile names must "
			    "be scalars");
		name = (const char *)k->data.scalar.value;
		if (!name_valid(name, k->data.scalar.length))
			return fail(ld, &k->start_mark, "profile name '%s' "
			    "must be 1 to %d letters, digits, '-', '_' or "
			    "'.', starting with a letter or digit",
			    show(name, k->data.scalar.length, shown,
			    sizeof(shown)), PROFILE_NAME_MAX);
		for (i = 0; i < ld->nraw; i++)
			if (strcmp(ld->raw[i].name, name) == 0)
				return fail(ld, &k->start_mark, "duplicate "
				    "profile '%s'", name);
		if (read_profile(ld, k, v, &ld->raw[ld->nraw]) == -1)
			return -1;
		ld->nraw++;
	}
	return 0;
}

static int
read_profile(struct loader *ld, yaml_node_t *key, yaml_node_t *n,
    struct raw_profile *rp)
{
	yaml_node_pair_t	*pair;
	yaml_node_t		*k, *v, **slot;
	const char		*name, *s;
	char			 owner[PROFILE_NAME_MAX + 16];
	char			 shown[PROFILE_SHOW_MAX];
	bool			 b;

	rp->name = (const char *)key->data.scalar.value;
	rp->key = key;
	snprintf(owner, sizeof(owner), " of profile '%s'", rp->name);
	if (n->type != YAML_MAPPING_NODE)
		return fail(ld, &n->start_mark, "profile '%s' expects a "
		    "mapping of url or socket, token_file and read_only, "
		    "got %s", rp->name, node_kind(n));
	for (pair = n->data.mapping.pairs.start;
	    pair < n->data.mapping.pairs.top; pair++) {
		k = yaml_document_get_node(&ld->doc, pair->key);
		v = yaml_document_get_node(&ld->doc, pair->value);
		if (k->type != YAML_SCALAR_NODE)
			return fail(ld, &k->start_mark, "keys must be "
			    "scalars");
		name = (const char *)k->data.scalar.value;
		if (key_is(k, "url"))
			slot = &rp->url;
		else if (key_is(k, "socket"))
			slot = &rp->socket;
		else if (key_is(k, "token_file"))
			slot = &rp->token_file;
		else if (key_is(k, "read_only"))
			slot = &rp->read_only;
		else
			return fail(ld, &k->start_mark, "unknown key '%s'%s; "
			    "a profile has url or socket, token_file and "
			    "read_only", show(name, k->data.scalar.length,
			    shown, sizeof(shown)), owner);
		if (*slot != NULL)
			return fail(ld, &k->start_mark, "duplicate key "
			    "'%s'%s", name, owner);
		*slot = v;
		/* Each value's type, at the value. */
		if (slot == &rp->read_only) {
			if (get_bool(ld, v, name, owner, &b) == -1)
				return -1;
		} else if (get_string(ld, v, name, owner, &s) == -1)
			return -1;
		/* Both: the second one is the mistake. */
		if (rp->url != NULL && rp->socket != NULL)
			return fail(ld, &k->start_mark, "profile '%s' has "
			    "both url and socket; keep one", rp->name);
	}
	if (rp->url == NULL && rp->socket == NULL)
		return fail(ld, &key->start_mark, "profile '%s' has neither "
		    "url nor socket; add url: https://host or socket: "
		    "/path/to/admin.sock", rp->name);
	if (rp->token_file == NULL)
		return fail(ld, &key->start_mark, "profile '%s' has no "
		    "token_file; add the path of a file holding its admin "
		    "token", rp->name);
	return 0;
}

/*
 * http(s)://host[:port][/prefix], kept without its trailing '/' so the
 * API's paths append to it.  Credentials stay in the token file: a URL
 * ends up in headers of the screen and in messages.
 */
static int
check_url(struct loader *ld, yaml_node_t *n, const struct raw_profile *rp,
    struct profile *p)
{
	const char	*v = (const char *)n->data.scalar.value, *host;
	size_t		 len, hostlen;

	if (strncasecmp(v, "https://", 8) == 0)
		host = v + 8;
	else if (strncasecmp(v, "http://", 7) == 0)
		host = v + 7;
	else
		return fail(ld, &n->start_mark, "'url' of profile '%s' must "
		    "start with http:// or https://", rp->name);
	hostlen = strcspn(host, "/?#");
	if (hostlen == 0)
		return fail(ld, &n->start_mark, "'url' of profile '%s' has no "
		    "host", rp->name);
	if (memchr(host, '@', hostlen) != NULL)
		return fail(ld, &n->start_mark, "'url' of profile '%s' holds "
		    "credentials; put the token in token_file instead",
		    rp->name);
	if (strpbrk(v, " ?#") != NULL)
		return fail(ld, &n->start_mark, "'url' of profile '%s' must "
		    "not hold spaces, a query or a fragment", rp->name);
	len = strlen(v);
	while (len > (size_t)(host - v) + hostlen && v[len - 1] == '/')
		len--;
	if (len >= sizeof(p->url))
		return fail(ld, &n->start_mark, "'url' of profile '%s' is "
		    "longer than %zu bytes", rp->name, sizeof(p->url) - 1);
	memcpy(p->url, v, len);
	p->url[len] = '\0';
	return 0;
}

/* "local, prod" for messages. */
static void
known_names(const struct loader *ld, char *buf, size_t bufsz)
{
	size_t	i;

	buf[0] = '\0';
	for (i = 0; i < ld->nraw; i++) {
		if (i > 0)
			str_append(buf, ", ", bufsz);
		str_append(buf, ld->raw[i].name, bufsz);
	}
}

static const struct raw_profile *
choose(struct loader *ld, const char *name)
{
	yaml_node_t	*d = ld->def;
	const char	*want = NULL;
	char		 names[512], shown[PROFILE_SHOW_MAX];
	size_t		 i;

	known_names(ld, names, sizeof(names));
	/* The default must name a profile even when -p overrides it. */
	if (d != NULL) {
		if (get_string(ld, d, "default", "", &want) == -1)
			return NULL;
		for (i = 0; i < ld->nraw; i++)
			if (strcmp(ld->raw[i].name, want) == 0)
				break;
		if (i == ld->nraw) {
			fail(ld, &d->start_mark, "default profile '%s' is not "
			    "in 'profiles' (%s)", show(want, strlen(want),
			    shown, sizeof(shown)), names);
			return NULL;
		}
	}
	if (name == NULL && want == NULL) {
		fail_file(ld, "no profile chosen: add 'default: <name>' to "
		    "the file or use -p <name> (profiles: %s)", names);
		return NULL;
	}
	if (name == NULL)
		name = want;
	for (i = 0; i < ld->nraw; i++)
		if (strcmp(ld->raw[i].name, name) == 0)
			return &ld->raw[i];
	fail_file(ld, "no profile '%s'; the file has %s",
	    show(name, strlen(name), shown, sizeof(shown)), names);
	return NULL;
}

static int
fill(struct loader *ld, const struct raw_profile *rp, struct profile *p)
{
	size_t	len;
	bool	b = false;

	strlcpy_ss(p->name, rp->name, sizeof(p->name));
	strlcpy_ss(p->source, ld->file, sizeof(p->source));
	if (rp->url != NULL && check_url(ld, rp->url, rp, p) == -1)
		return -1;
	if (rp->socket != NULL) {
		if (expand(ld, rp->socket, "socket", rp->name, p->socket,
		    sizeof(p->socket)) == -1)
			return -1;
		/* What connect(2) can take, not what the struct can. */
		len = strlen(p->socket);
		if (len >= sizeof(((struct sockaddr_un *)NULL)->sun_path))
			return fail(ld, &rp->socket->start_mark, "'socket' of "
			    "profile '%s' is longer than %zu bytes, the "
			    "most a unix socket path may be", rp->name,
			    sizeof(((struct sockaddr_un *)NULL)->sun_path) -
			    1);
	}
	if (expand(ld, rp->token_file, "token_file", rp->name,
	    p->token_file, sizeof(p->token_file)) == -1)
		return -1;
	/* The more specific setting wins, whichever way it goes. */
	if (rp->read_only != NULL) {
		if (get_bool(ld, rp->read_only, "read_only", "", &b) == -1)
			return -1;
	} else if (ld->read_only != NULL) {
		if (get_bool(ld, ld->read_only, "read_only", "", &b) == -1)
			return -1;
	}
	p->read_only = b;
	return 0;
}

/*
 * The token: the first line of a file only its owner can read, trimmed.
 * It goes into an HTTP header, so it must be one word of printable ASCII.
 * No message quotes it, not even in part.
 */
static int
read_token(struct loader *ld, const struct raw_profile *rp,
    struct profile *p)
{
	const yaml_mark_t	*m = &rp->token_file->start_mark;
	struct err		 ce;
	struct stat		 st;
	char			 buf[PROFILE_TOKEN_MAX + 3], *s, *end;
	size_t			 len = 0;
	ssize_t			 r = 0;
	int			 fd, saved;

	err_clear(&ce);
	if (secret_file_check(p->token_file, &ce) == -1)
		return fail(ld, m, "token_file of profile '%s': %s%s",
		    rp->name, ce.message, access(p->token_file, F_OK) == 0 ?
		    "" : "; write the admin token there (mode 600) or fix "
		    "token_file");
	if ((fd = open(p->token_file, O_RDONLY | O_CLOEXEC | O_NOCTTY)) ==
	    -1 || fstat(fd, &st) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		return fail(ld, m, "token_file of profile '%s': %s: %s",
		    rp->name, p->token_file, strerror(saved));
	}
	/* It may have been swapped since the check: look at what is open. */
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return fail(ld, m, "token_file of profile '%s': %s changed "
		    "while it was read; run chmod 600 %s", rp->name,
		    p->token_file, p->token_file);
	}
	/* One byte more than a token and its line end, to see "too long". */
	while (len < sizeof(buf) - 1) {
		r = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '\n', len) != NULL)
			break;
	}
	saved = errno;
	close(fd);
	if (r == -1) {
		explicit_bzero(buf, sizeof(buf));
		return fail(ld, m, "token_file of profile '%s': %s: %s",
		    rp->name, p->token_file, strerror(saved));
	}
	buf[len] = '\0';
	s = buf;
	if ((end = memchr(buf, '\n', len)) != NULL)
		*end = '\0';
	else if (len == sizeof(buf) - 1)
		goto too_long;
	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' ||
	    end[-1] == '\r'))
		*--end = '\0';
	if (*s == '\0') {
		explicit_bzero(buf, sizeof(buf));
		return fail(ld, m, "token_file of profile '%s': the first "
		    "line of %s is empty; write the admin token there",
		    rp->name, p->token_file);
	}
	if ((size_t)(end - s) > PROFILE_TOKEN_MAX)
		goto too_long;
	for (end = s; *end != '\0'; end++)
		if ((unsigned char)*end <= 0x20 ||
		    (unsigned char)*end >= 0x7f) {
			explicit_bzero(buf, sizeof(buf));
			return fail(ld, m, "token_file of profile '%s': the "
			    "first line of %s is not one word of printable "
			    "ASCII", rp->name, p->token_file);
		}
	strlcpy_ss(p->token, s, sizeof(p->token));
	explicit_bzero(buf, sizeof(buf));
	return 0;
too_long:
	explicit_bzero(buf, sizeof(buf));
	return fail(ld, m, "token_file of profile '%s': the first line of %s "
	    "is longer than %d bytes", rp->name, p->token_file,
	    PROFILE_TOKEN_MAX);
}

int
profile_load_file(const char *path, const char *name, struct profile *p,
    struct err *e)
{
	struct loader		 ld;
	yaml_parser_t		 parser;
	const struct raw_profile *rp;
	char			*buf = NULL;
	size_t			 len, i;
	int			 rc = -1;
	bool			 loaded = false;

	memset(p, 0, sizeof(*p));
	memset(&ld, 0, sizeof(ld));
	ld.file = path;
	ld.e = e;
	if (slurp(path, &buf, &len) == -1) {
		if (errno == EFBIG)
			return fail_file(&ld, "larger than %d bytes",
			    CONF_MAX_FILE);
		return fail_file(&ld, "%s", strerror(errno));
	}
	if (lint(&ld, buf, len) == -1)
		goto out;
	if (!yaml_parser_initialize(&parser)) {
		err_set(e, ERR_INTERNAL, "out of memory");
		goto out;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &ld.doc)) {
		yaml_fail(&ld, &parser);
		yaml_parser_delete(&parser);
		goto out;
	}
	yaml_parser_delete(&parser);
	loaded = true;
	if (read_top(&ld, yaml_document_get_root_node(&ld.doc)) == -1 ||
	    read_profiles(&ld) == -1)
		goto out;
	/* Every profile's values, in the order of the file. */
	for (i = 0; i < ld.nraw; i++)
		if (fill(&ld, &ld.raw[i], p) == -1)
			goto out;
	memset(p, 0, sizeof(*p));
	if ((rp = choose(&ld, name)) == NULL || fill(&ld, rp, p) == -1 ||
	    read_token(&ld, rp, p) == -1)
		goto out;
	rc = 0;
out:
	if (loaded)
		yaml_document_delete(&ld.doc);
	free(ld.raw);
	free(buf);
	if (rc == -1)
		profile_wipe(p);
	return rc;
}

int
profile_find(char *out, size_t outsz, const char *system, struct err *e)
{
	const char	*xdg = getenv("XDG_CONFIG_HOME"), *home;
	char		 tried[3][1024], list[3200];
	struct stat	 st;
	size_t		 n = 0, i;

	if (system == NULL)
		system = PROFILE_SYSTEM_FILE;
	/* A relative XDG_CONFIG_HOME is invalid and ignored (XDG spec). */
	if (xdg != NULL && xdg[0] == '/')
		snprintf(tried[n++], sizeof(tried[0]),
		    "%s/synstack/profiles.yaml", xdg);
	else if ((home = home_dir()) != NULL)
		snprintf(tried[n++], sizeof(tried[0]),
		    "%s/.config/synstack/profiles.yaml", home);
	snprintf(tried[n++], sizeof(tried[0]), "%s", system);
	list[0] = '\0';
	for (i = 0; i < n; i++) {
		/* A file that exists but cannot be read is not skipped. */
		if (stat(tried[i], &st) == 0 || (errno != ENOENT &&
		    errno != ENOTDIR)) {
			if (strlcpy_ss(out, tried[i], outsz) >= outsz)
				return err_set(e, ERR_CONFIG, "%s: the path is "
				    "too long", tried[i]);
			return 0;
		}
		if (i > 0)
			str_append(list, i + 1 == n ? " and " : ", ",
			    sizeof(list));
		str_append(list, tried[i], sizeof(list));
	}
	err_set(e, ERR_CONFIG, "no profiles file: tried %s; create one "
	    "or name one with -c", list);
	err_hint(e, PROFILE_HINT);
	return -1;
}

int
profile_load(const char *path, const char *name, struct profile *p,
    struct err *e)
{
	char	found[1024];

	if (path == NULL) {
		memset(p, 0, sizeof(*p));
		if (profile_find(found, sizeof(found), NULL, e) == -1)
			return -1;
		path = found;
	}
	return profile_load_file(path, name, p, e);
}

void
profile_wipe(struct profile *p)
{
	explicit_bzero(p, sizeof(*p));
}
