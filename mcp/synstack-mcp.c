/*
 * synstack-mcp: MCP over stdio for clients that spawn a process.  Each
 * line on standard input is one JSON-RPC message; it is relayed to
 * synstackd's /mcp with the agent's key, and the answer is written as one
 * line on standard output.  Nothing else ever goes to standard output;
 * logs go to standard error.  End of input ends the program (exit 0).
 *
 * When synstackd cannot answer in JSON-RPC (unreachable, a refused key,
 * a body too large), a request still gets exactly one answer: a JSON-RPC
 * error with its id.  A notification gets none.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#define LINE_MAX_BYTES	(4 * 1024 * 1024)	/* one message */
#define ANSWER_MAX	(16 * 1024 * 1024)
#define KEY_MAX		256
#define TIMEOUT_S	120L
#define RPC_SERVER_ERROR	-32000	/* synstackd unreachable or refusing */

struct buf {
	char	*p;
	size_t	 len;
	bool	 too_big;
};

static struct {
	const char	*url;		/* .../mcp */
	char		 key[KEY_MAX + 1];
	char		 version[32];	/* negotiated, sent on every request */
	CURL		*curl;
} relay;

static void	logx(const char *, ...) __attribute__((format(printf, 1, 2)));

static void
logx(const char *fmt, ...)
{
	va_list	ap;

	fputs("synstack-mcp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
usage(void)
{
	fprintf(stderr, "usage: synstack-mcp [-u url] [-k key | -K keyfile]\n"
	    "  url: synstackd's address (SYNSTACK_URL; default"
	    " http://127.0.0.1:8470)\n"
	    "  key: the agent's API key (SYNSTACK_KEY), or a file holding it"
	    " (SYNSTACK_KEY_FILE)\n");
	exit(2);
}

static int
read_key_file(const char *path)
{
	FILE	*f;
	size_t	 n;

	if ((f = fopen(path, "r")) == NULL) {
		logx("%s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(relay.key, 1, KEY_MAX, f);
	fclose(f);
	relay.key[n] = '\0';
	relay.key[strcspn(relay.key, "\r\n")] = '\0';
	return 0;
}

static size_t
on_body(char *data, size_t size, size_t n, void *arg)
{
	struct buf	*b = arg;
	size_t		 len = size * n;
	char		*p;

	if (b->len + len > ANSWER_MAX) {
		b->too_big = true;
		return 0;
	}
	if ((p = realloc(b->p, b->len + len + 1)) == NULL)
		return 0;
	memcpy(p + b->len, data, len);
	b->p = p;
	b->len += len;
	b->p[b->len] = '\0';
	return len;
}

/* One line on standard output, at once. */
static void
emit(json_object *m)
{
	const char	*s = json_object_to_json_string_ext(m,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);

	if (printf("%s\n", s) < 0 || fflush(stdout) == EOF) {
		logx("standard output: %s", strerror(errno));
		exit(1);
	}
}

static void
emit_error(json_object *id, int code, const char *message, json_object *data)
{
	json_object	*m = json_object_new_object(), *err;

	json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(m, "id", id != NULL ? json_object_get(id) : NULL);
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(message));
	if (data != NULL)
		json_object_object_add(err, "data", data);
	json_object_object_add(m, "error", err);
	emit(m);
	json_object_put(m);
}

/* The negotiated version, from an initialize result. */
static void
note_version(json_object *answer)
{
	json_object	*r, *v;

	if (json_object_object_get_ex(answer, "result", &r) &&
	    json_object_object_get_ex(r, "protocolVersion", &v) &&
	    json_object_is_type(v, json_type_string) &&
	    json_object_get_string_len(v) < (int)sizeof(relay.version))
		snprintf(relay.version, sizeof(relay.version), "%s",
		    json_object_get_string(v));
}

static void
relay_line(const char *line, size_t len)
{
	struct curl_slist	*h = NULL;
	struct buf		 b = { 0 };
	json_object		*msg, *id = NULL, *method = NULL, *answer = NULL,
				*e, *data;
	char			 hdr[KEY_MAX + 64], text[640];
	long			 status = 0;
	CURLcode		 rc;
	bool			 request, initialize;

	/* The id, to answer a request when synstackd cannot. */
	msg = json_tokener_parse(line);
	if (msg != NULL && json_object_is_type(msg, json_type_object)) {
		json_object_object_get_ex(msg, "id", &id);
		json_object_object_get_ex(msg, "method", &method);
	}
	request = method != NULL && id != NULL;
	initialize = request && json_object_is_type(method, json_type_string) &&
	    strcmp(json_object_get_string(method), "initialize") == 0;

	h = curl_slist_append(h, "Content-Type: application/json");
	h = curl_slist_append(h, "Accept: application/json, text/event-stream");
	snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", relay.key);
	h = curl_slist_append(h, hdr);
	if (relay.version[0] != '\0' && !initialize) {
		snprintf(hdr, sizeof(hdr), "MCP-Protocol-Version: %s",
		    relay.version);
		h = curl_slist_append(h, hdr);
	}
	curl_easy_setopt(relay.curl, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(relay.curl, CURLOPT_POSTFIELDS, line);
	curl_easy_setopt(relay.curl, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(relay.curl, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(relay.curl);
	curl_slist_free_all(h);
	if (rc == CURLE_OK)
		curl_easy_getinfo(relay.curl, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK) {
		snprintf(text, sizeof(text), "cannot reach synstackd at %s: %s",
		    relay.url, b.too_big ? "answer too large" :
		    curl_easy_strerror(rc));
		logx("%s", text);
		if (request)
			emit_error(id, RPC_SERVER_ERROR, text, NULL);
		else if (msg == NULL)	/* what synstackd would have said */
			emit_error(NULL, -32700, "malformed JSON", NULL);
		goto out;
	}
	if (status == 202)
		goto out;		/* a notification or a response: no answer */
	if (b.p != NULL)
		answer = json_tokener_parse(b.p);
	if (answer != NULL && json_object_object_get_ex(answer, "jsonrpc",
	    NULL)) {
		if (initialize)
			note_version(answer);
		emit(answer);
		goto out;
	}
	/* synstackd's own error ({"ok":false,"error":{...}}): a refused
	 * key, a suspended agent, a body too large. */
	if (answer != NULL && json_object_object_get_ex(answer, "error", &e)) {
		snprintf(text, sizeof(text), "synstackd refused the request (HTTP"
		    " %ld): %s: %s", status, json_object_get_string(
		    json_object_object_get(e, "code")), json_object_get_string(
		    json_object_object_get(e, "message")));
		data = json_object_get(e);
	} else {
		snprintf(text, sizeof(text), "synstackd answered HTTP %ld without"
		    " a JSON-RPC message", status);
		data = NULL;
	}
	logx("%s", text);
	if (request)
		emit_error(id, RPC_SERVER_ERROR, text, data);
	else
		json_object_put(data);
out:
	json_object_put(answer);
	json_object_put(msg);
	free(b.p);
}

int
main(int argc, char *argv[])
{
	const char	*url, *key, *keyfile;
	char		*line = NULL, *mcp_url;
	size_t		 cap = 0, n;
	ssize_t		 len;
	int		 ch;

	url = getenv("SYNSTACK_URL");
	key = getenv("SYNSTACK_KEY");
	keyfile = getenv("SYNSTACK_KEY_FILE");
	while ((ch = getopt(argc, argv, "hk:K:u:V")) != -1) {
		switch (ch) {
		case 'k':
			key = optarg;
			break;
		case 'K':
			keyfile = optarg;
			break;
		case 'u':
			url = optarg;
			break;
		case 'V':
			fprintf(stderr, "synstack-mcp %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	if (key != NULL && *key != '\0') {
		if (strlen(key) > KEY_MAX) {
			logx("the key is longer than %d bytes", KEY_MAX);
			return 2;
		}
		snprintf(relay.key, sizeof(relay.key), "%s", key);
	} else if (keyfile != NULL && *keyfile != '\0') {
		if (read_key_file(keyfile) == -1)
			return 2;
	}
	if (relay.key[0] == '\0') {
		logx("no agent key: give -k, -K, SYNSTACK_KEY or"
		    " SYNSTACK_KEY_FILE");
		return 2;
	}
	if (url == NULL || *url == '\0')
		url = "http://127.0.0.1:8470";
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((mcp_url = malloc(n + 5)) == NULL)
		return 1;
	snprintf(mcp_url, n + 5, "%.*s/mcp", (int)n, url);
	relay.url = mcp_url;

	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (relay.curl = curl_easy_init()) == NULL) {
		logx("cannot start libcurl");
		return 1;
	}
	curl_easy_setopt(relay.curl, CURLOPT_URL, relay.url);
	curl_easy_setopt(relay.curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(relay.curl, CURLOPT_TIMEOUT, TIMEOUT_S);
	curl_easy_setopt(relay.curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(relay.curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(relay.curl, CURLOPT_PROTOCOLS_STR, "http,https");

	while ((len = getline(&line, &cap, stdin)) != -1) {
		while (len > 0 && (line[len - 1] == '\n' ||
		    line[len - 1] == '\r'))
			line[--len] = '\0';
		if (strspn(line, " \t") == (size_t)len)
			continue;	/* blank: no message */
		if ((size_t)len > LINE_MAX_BYTES) {
			logx("a message of %zd bytes: longer than %d", len,
			    LINE_MAX_BYTES);
			emit_error(NULL, -32600, "the message is too large",
			    NULL);
			continue;
		}
		relay_line(line, (size_t)len);
	}
	free(line);
	free(mcp_url);
	curl_easy_cleanup(relay.curl);
	curl_global_cleanup();
	return ferror(stdin) ? 1 : 0;
}
