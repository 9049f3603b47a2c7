/*
 * client.c: the daemon's admin API, over HTTP(S) or a unix socket, with
 * libcurl.  One easy handle per client, so calls reuse the connection.
 *
 * The token goes only into the Authorization header: never into a URL, a
 * log line or a message, and redirects are not followed, so it is never
 * sent anywhere but to the daemon of the profile.  Every answer is read
 * into struct api_result whatever happened, so the screens have one thing
 * to show: the daemon's own error, "bad_answer" when something else
 * answered (a proxy's HTML page), or "unreachable" when nothing did.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "console.h"

#define CLIENT_TIMEOUT_S	10L
#define CLIENT_CONNECT_S	5L
#define CLIENT_ANSWER_MAX	(8L * 1024 * 1024)
#define CLIENT_JSON_DEPTH	64
#define CLIENT_URL_MAX		2048

struct client {
	CURL	*curl;
	char	 base[1024];		/* what paths are appended to */
	char	 shown[1024];		/* where, for messages */
	char	 socket[512];
	char	*auth;			/* "Authorization: Bearer ..." */
	size_t	 authlen;
	char	 errbuf[CURL_ERROR_SIZE];
};

struct answer {
	char	*p;
	size_t	 len;
	bool	 too_big;
};

static size_t	 on_body(char *, size_t, size_t, void *);
static void	 set_code(struct api_result *, const char *, const char *,
		     ...) SS_PRINTF(3, 4);
static void	 copy_field(json_object *, const char *, char *, size_t);
static int	 parse(struct api_result *, const char *, size_t,
		     const char *);

struct client *
client_new(const struct profile *p, struct err *e)
{
	static bool	 inited;
	struct client	*c;
	int		 n;

	if (!inited) {
		/* Once: it is not safe while other threads use curl. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			err_set(e, ERR_INTERNAL, "cannot initialise libcurl");
			return NULL;
		}
		inited = true;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	if (p->socket[0] != '\0') {
		/* The host part only fills the Host header. */
		strlcpy_ss(c->base, "http://localhost", sizeof(c->base));
		strlcpy_ss(c->socket, p->socket, sizeof(c->socket));
		snprintf(c->shown, sizeof(c->shown), "%s", p->socket);
	} else {
		strlcpy_ss(c->base, p->url, sizeof(c->base));
		strlcpy_ss(c->shown, p->url, sizeof(c->shown));
	}
	c->authlen = strlen("Authorization: Bearer ") + strlen(p->token) + 1;
	if ((c->auth = malloc(c->authlen)) == NULL ||
	    (c->curl = curl_easy_init()) == NULL) {
		client_free(c);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	n = snprintf(c->auth, c->authlen, "Authorization: Bearer %s",
	    p->token);
	if (n < 0 || (size_t)n >= c->authlen) {
		client_free(c);
		err_set(e, ERR_INTERNAL, "cannot build the request header");
		return NULL;
	}
	return c;
}

void
client_free(struct client *c)
{
	if (c == NULL)
		return;
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	if (c->auth != NULL) {
		explicit_bzero(c->auth, c->authlen);
		free(c->auth);
	}
	explicit_bzero(c, sizeof(*c));
	free(c);
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct answer	*a = arg;
	size_t		 len = size * n;
	char		*p;

	if (a->len + len > CLIENT_ANSWER_MAX) {
		a->too_big = true;
		return 0;
	}
	if ((p = realloc(a->p, a->len + len + 1)) == NULL)
		return 0;
	memcpy(p + a->len, data, len);
	a->p = p;
	a->len += len;
	a->p[a->len] = '\0';
	return len;
}

static void
set_code(struct api_result *res, const char *code, const char *fmt, ...)
{
	va_list	ap;

	strlcpy_ss(res->code, code, sizeof(res->code));
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
}

/* A string field of o, or "" when it is missing or not a string. */
static void
copy_field(json_object *o, const char *key, char *buf, size_t bufsz)
{
	const char	*s = json_path_str(o, key);

	strlcpy_ss(buf, s != NULL ? s : "", bufsz);
}

/*
 * An answer in the API's envelope: {"ok":true,"text","data"} or
 * {"ok":false,"error":{"code","message","hint"}}.  Anything else is
 * "bad_answer", with what answered when it says (its Content-Type).
 */
static int
parse(struct api_result *res, const char *body, size_t len, const char *ct)
{
	struct err	 pe;
	json_object	*ok, *error;

	err_clear(&pe);
	if (len == 0) {
		set_code(res, "bad_answer", "HTTP %ld with an empty body",
		    res->status);
		return -1;
	}
	res->json = json_parse_strict(body, len, CLIENT_JSON_DEPTH, &pe);
	if (res->json == NULL ||
	    !json_object_is_type(res->json, json_type_object) ||
	    !json_object_object_get_ex(res->json, "ok", &ok) ||
	    !json_object_is_type(ok, json_type_boolean)) {
		set_code(res, "bad_answer", "HTTP %ld, not an answer of "
		    "synstackd (%.64s)", res->status, ct != NULL ? ct :
		    "no Content-Type");
		return -1;
	}
	if (json_object_get_boolean(ok)) {
		json_object_object_get_ex(res->json, "data", &res->data);
		copy_field(res->json, "text", res->message,
		    sizeof(res->message));
		if (res->status >= 200 && res->status < 300)
			return 0;
		set_code(res, "bad_answer", "HTTP %ld with an answer that "
		    "says ok", res->status);
		return -1;
	}
	if (json_object_object_get_ex(res->json, "error", &error) &&
	    json_object_is_type(error, json_type_object) &&
	    json_path_str(error, "code") != NULL) {
		copy_field(error, "code", res->code, sizeof(res->code));
		copy_field(error, "message", res->message,
		    sizeof(res->message));
		copy_field(error, "hint", res->hint, sizeof(res->hint));
		return -1;
	}
	/* /healthz says ok:false without an error when it is unwell. */
	set_code(res, "http_error", "HTTP %ld%s%s", res->status,
	    json_path_str(res->json, "status") != NULL ? ": " : "",
	    json_path_str(res->json, "status") != NULL ?
	    json_path_str(res->json, "status") : "");
	return -1;
}

int
client_call(struct client *c, const char *method, const char *path,
    json_object *body, struct api_result *res)
{
	struct curl_slist	*h = NULL, *h2;
	struct answer		 a = { NULL, 0, false };
	const char		*text = NULL, *ct = NULL;
	char			 url[CLIENT_URL_MAX];
	CURLcode		 rc;
	long			 sent = 0;
	int			 n, ret = -1;

	memset(res, 0, sizeof(*res));
	if (path == NULL || path[0] != '/') {
		set_code(res, "bad_request", "the path is not a path (a path "
		    "too long to build?)");
		return -1;
	}
	n = snprintf(url, sizeof(url), "%s%s", c->base, path);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		set_code(res, "bad_request", "the URL is longer than %zu "
		    "bytes", sizeof(url) - 1);
		return -1;
	}
	if (body != NULL)
		text = json_object_to_json_string_ext(body,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	/* Every option each time: the handle keeps the last call's. */
	curl_easy_reset(c->curl);
	h = curl_slist_append(h, c->auth);
	if (h != NULL && (h2 = curl_slist_append(h, "Accept: "
	    "application/json")) != NULL)
		h = h2;
	/* No body, no Content-Type: curl would say form-urlencoded. */
	if (h != NULL && (h2 = curl_slist_append(h, body != NULL ?
	    "Content-Type: application/json" : "Content-Type:")) != NULL)
		h = h2;
	if (h == NULL) {
		set_code(res, "internal", "out of memory");
		return -1;
	}
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	if (c->socket[0] != '\0')
		curl_easy_setopt(c->curl, CURLOPT_UNIX_SOCKET_PATH, c->socket);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->curl, CURLOPT_FOLLOWLOCATION, 0L);
	/* Signals are the console's: curl must not install a handler. */
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, CLIENT_TIMEOUT_S);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, CLIENT_CONNECT_S);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT,
	    "synstack-console/" PACKAGE_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &a);
	if (strcmp(method, "GET") == 0)
		curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
	else if (strcmp(method, "DELETE") == 0 && text == NULL)
		curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method);
	else {
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS,
		    text != NULL ? text : "");
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE,
		    text != NULL ? (long)strlen(text) : 0L);
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST,
			    method);
	}
	c->errbuf[0] = '\0';
	rc = curl_easy_perform(c->curl);
	curl_slist_free_all(h);
	if (rc == CURLE_OK) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &res->status);
		curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
		ret = parse(res, a.p != NULL ? a.p : "", a.len, ct);
	} else if (a.too_big) {
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE,
		    &res->status);
		set_code(res, "bad_answer", "the answer is larger than %ld "
		    "bytes", CLIENT_ANSWER_MAX);
	} else if (rc == CURLE_OPERATION_TIMEDOUT &&
	    curl_easy_getinfo(c->curl, CURLINFO_REQUEST_SIZE, &sent) ==
	    CURLE_OK && sent > 0) {
		/* It got the request: a change may yet be made. */
		res->status = 0;
		set_code(res, "unreachable", "%s: no answer within %ld s; "
		    "the daemon may still complete the request (r shows)",
		    c->shown, CLIENT_TIMEOUT_S);
	} else {
		/* An answer cut short counts as none. */
		res->status = 0;
		set_code(res, "unreachable", "%s: %s", c->shown,
		    c->errbuf[0] != '\0' ? c->errbuf :
		    curl_easy_strerror(rc));
	}
	/* A reveal's value passed through it. */
	if (a.p != NULL)
		explicit_bzero(a.p, a.len);
	free(a.p);
	return ret;
}

void
api_result_free(struct api_result *res)
{
	if (res == NULL)
		return;
	if (res->json != NULL)
		json_object_put(res->json);
	memset(res, 0, sizeof(*res));
}

/* Unreserved characters (RFC 3986) stay; every other byte is %XX. */
char *
client_escape(const char *s)
{
	static const char	 hex[] = "0123456789ABCDEF";
	const unsigned char	*p;
	char			*out, *o;

	if ((out = malloc(strlen(s) * 3 + 1)) == NULL)
		return NULL;
	for (p = (const unsigned char *)s, o = out; *p != '\0'; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~')
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 0x0f];
		}
	}
	*o = '\0';
	return out;
}

/*
 * A path cut short would name another object, so a path that does not
 * fit is left empty instead, and client_call refuses it.
 */
void
client_project_path(char *buf, size_t bufsz, const char *project,
    const char *fmt, ...)
{
	va_list		 ap;
	const char	*slash;
	char		*owner, *o = NULL, *r = NULL;
	size_t		 len;
	int		 n = -1;

	if (bufsz == 0)
		return;
	buf[0] = '\0';
	if ((slash = strchr(project, '/')) == NULL || slash == project ||
	    slash[1] == '\0')
		return;
	if ((owner = strndup(project, (size_t)(slash - project))) != NULL &&
	    (o = client_escape(owner)) != NULL &&
	    (r = client_escape(slash + 1)) != NULL)
		n = snprintf(buf, bufsz, "/api/v1/projects/%s/%s", o, r);
	free(owner);
	free(o);
	free(r);
	if (n < 0 || (size_t)n >= bufsz) {
		buf[0] = '\0';
		return;
	}
	len = (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, bufsz - len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= bufsz - len)
		buf[0] = '\0';
}

/*
 * One line for the status bar.  The daemon's text goes to a terminal, so
 * control characters become spaces and bad UTF-8 '?'.
 */
void
api_result_line(const struct api_result *res, char *buf, size_t bufsz)
{
	char	*p;

	if (bufsz == 0)
		return;
	if (res->code[0] == '\0')
		snprintf(buf, bufsz, "%s", res->message[0] != '\0' ?
		    res->message : "done");
	else if (strcmp(res->code, "unreachable") == 0)
		snprintf(buf, bufsz, "cannot reach the daemon: %s",
		    res->message);
	else if (res->status == 0)
		snprintf(buf, bufsz, "%s: %s", res->code, res->message);
	else if (res->hint[0] != '\0')
		snprintf(buf, bufsz, "%ld %s: %s (%s)", res->status,
		    res->code, res->message, res->hint);
	else
		snprintf(buf, bufsz, "%ld %s: %s", res->status, res->code,
		    res->message);
	for (p = buf; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	/* A cut by snprintf may have split a UTF-8 sequence. */
	utf8_sanitize(buf);
}
