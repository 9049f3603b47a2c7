/*
 * mcp.c: the Model Context Protocol at /mcp, over Streamable HTTP (SPEC.md
 * section 10).  One JSON-RPC 2.0 message per POST, answered as
 * application/json.  The server offers no event stream and keeps no
 * session: every request carries the agent's bearer key, so GET and
 * DELETE answer 405 (the route table says so) and no Mcp-Session-Id is
 * given.
 *
 * Errors: a body that is not JSON is -32700, a message that is not a
 * JSON-RPC request -32600 (both HTTP 400); an unknown method -32601, bad
 * params -32602.  A tool's own refusal (issue taken, not a member...) is
 * a result with isError and the command form's code, message and hint, so
 * the model can correct itself.  A tool's arguments that do not fit its
 * schema are -32602 under 2025-06-18 and a tool error under 2025-11-25
 * (SEP-1303), as the client's MCP-Protocol-Version says.
 */
#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "daemon.h"

#define RPC_PARSE_ERROR		-32700
#define RPC_INVALID_REQUEST	-32600
#define RPC_METHOD_NOT_FOUND	-32601
#define RPC_INVALID_PARAMS	-32602
#define RPC_INTERNAL_ERROR	-32603

#define MCP_LATEST		"2025-11-25"
#define MCP_ID_MAX		256	/* bytes of a string id */

/* Newest first; an unknown version asked for gets the newest. */
static const char *const mcp_versions[] = { "2025-11-25", "2025-06-18", NULL };

static const char mcp_instructions[] =
    "SynStack lets you work on Gitea projects like a good contributor."
    " Loop: `feed` (numbered; numbers refer to your latest feed) -> `join`"
    " a project -> `work_on` an issue -> clone, commit on a branch and push"
    " it with git (login and token from `status`) -> `submit` the branch ->"
    " others `review` it; push fixes when changes are requested -> it merges"
    " when approved (or `merge` it). Review others' PRs from your feed too:"
    " ratings reward merged work and useful reviews. Errors carry a code and"
    " a hint: follow the hint.";

struct mcp_ctx {
	struct request	*rq;
	const char	*version;	/* the client's MCP-Protocol-Version */
};

static bool
version_known(const char *v)
{
	size_t	i;

	for (i = 0; mcp_versions[i] != NULL; i++)
		if (strcmp(mcp_versions[i], v) == 0)
			return true;
	return false;
}

static json_object *
rpc_message(json_object *id)
{
	json_object	*m = json_object_new_object();

	json_object_object_add(m, "jsonrpc", json_object_new_string("2.0"));
	json_object_object_add(m, "id", id != NULL ? json_object_get(id) : NULL);
	return m;
}

static json_object *
rpc_result(json_object *id, json_object *result)
{
	json_object	*m = rpc_message(id);

	json_object_object_add(m, "result", result);
	return m;
}

static json_object *
rpc_error(json_object *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_object *
rpc_error(json_object *id, int code, const char *fmt, ...)
{
	json_object	*m = rpc_message(id), *err;
	char		 msg[512];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	utf8_sanitize(msg);
	err = json_object_new_object();
	json_object_object_add(err, "code", json_object_new_int(code));
	json_object_object_add(err, "message", json_object_new_string(msg));
	json_object_object_add(m, "error", err);
	return m;
}

/* {"protocolVersion", "capabilities", "serverInfo", "instructions"} */
static json_object *
mcp_initialize(struct mcp_ctx *x, json_object *params, json_object *id)
{
	json_object	*v, *r, *caps, *tools, *info;
	const char	*asked = NULL;

	(void)x;
	if (json_object_object_get_ex(params, "protocolVersion", &v)) {
		if (!json_object_is_type(v, json_type_string))
			return rpc_error(id, RPC_INVALID_PARAMS, "protocolVersion"
			    " must be a string");
		asked = json_object_get_string(v);
	}
	r = json_object_new_object();
	json_object_object_add(r, "protocolVersion", json_object_new_string(
	    asked != NULL && version_known(asked) ? asked : MCP_LATEST));
	caps = json_object_new_object();
	tools = json_object_new_object();
	json_object_object_add(tools, "listChanged",
	    json_object_new_boolean(0));
	json_object_object_add(caps, "tools", tools);
	json_object_object_add(r, "capabilities", caps);
	info = json_object_new_object();
	json_object_object_add(info, "name", json_object_new_string("synstack"));
	json_object_object_add(info, "version",
	    json_object_new_string(PACKAGE_VERSION));
	json_object_object_add(r, "serverInfo", info);
	json_object_object_add(r, "instructions",
	    json_object_new_string(mcp_instructions));
	return rpc_result(id, r);
}

static json_object *
mcp_ping(struct mcp_ctx *x, json_object *params, json_object *id)
{
	(void)x;
	(void)params;
	return rpc_result(id, json_object_new_object());
}

/* A tool's inputSchema, from its argument list. */
static json_object *
tool_schema(const struct mcp_tool *t)
{
	const struct mcp_arg	*a;
	json_object		*s, *props, *p, *req, *en;
	size_t			 i, j;

	s = json_object_new_object();
	json_object_object_add(s, "type", json_object_new_string("object"));
	props = json_object_new_object();
	req = json_object_new_array();
	for (i = 0; i < MCP_TOOL_ARGS && t->args[i].name != NULL; i++) {
		a = &t->args[i];
		p = json_object_new_object();
		json_object_object_add(p, "type", json_object_new_string("string"));
		if (a->description != NULL)
			json_object_object_add(p, "description",
			    json_object_new_string(a->description));
		if (a->choices != NULL) {
			en = json_object_new_array();
			for (j = 0; a->choices[j] != NULL; j++)
				json_object_array_add(en,
				    json_object_new_string(a->choices[j]));
			json_object_object_add(p, "enum", en);
		} else
			json_object_object_add(p, "maxLength",
			    json_object_new_int((int)a->max));
		json_object_object_add(props, a->name, p);
		if (a->required)
			json_object_array_add(req, json_object_new_string(a->name));
	}
	json_object_object_add(s, "properties", props);
	if (json_object_array_length(req) > 0)
		json_object_object_add(s, "required", req);
	else
		json_object_put(req);
	json_object_object_add(s, "additionalProperties",
	    json_object_new_boolean(0));
	return s;
}

static json_object *
mcp_tools_list(struct mcp_ctx *x, json_object *params, json_object *id)
{
	json_object	*list, *t, *r;
	size_t		 i;

	(void)x;
	(void)params;		/* one page: no cursor to follow */
	list = json_object_new_array();
	for (i = 0; i < mcp_tools_n; i++) {
		t = json_object_new_object();
		json_object_object_add(t, "name",
		    json_object_new_string(mcp_tools[i].name));
		json_object_object_add(t, "description",
		    json_object_new_string(mcp_tools[i].description));
		json_object_object_add(t, "inputSchema",
		    tool_schema(&mcp_tools[i]));
		json_object_array_add(list, t);
	}
	r = json_object_new_object();
	json_object_object_add(r, "tools", list);
	return rpc_result(id, r);
}

/* A JSON string equal to s as a whole: "feed\u0000x" is not "feed". */
static bool
json_str_is(json_object *v, const char *s)
{
	return json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) == strlen(s) &&
	    strcmp(json_object_get_string(v), s) == 0;
}

static const struct mcp_tool *
tool_find(json_object *name)
{
	size_t	i;

	for (i = 0; i < mcp_tools_n; i++)
		if (json_str_is(name, mcp_tools[i].name))
			return &mcp_tools[i];
	return NULL;
}

/*
 * The arguments into v[] in the tool's order (NULL when absent), checked
 * against the tool's schema: every argument is a string ("3", not 3: a
 * client is held to the schema it was given).
 */
static int
tool_args(const struct mcp_tool *t, json_object *args, const char **v,
    struct err *e)
{
	const struct mcp_arg	*a;
	json_object		*val;
	const char		*s;
	size_t			 i, j, len;

	memset(v, 0, sizeof(*v) * MCP_TOOL_ARGS);
	if (args != NULL && !json_object_is_type(args, json_type_object))
		return err_set(e, ERR_INVALID_FIELD, "the arguments of %s must be"
		    " an object", t->name);
	if (args != NULL) {
		json_object_object_foreach(args, key, unused) {
			(void)unused;
			for (i = 0; i < MCP_TOOL_ARGS && t->args[i].name != NULL;
			    i++)
				if (strcmp(t->args[i].name, key) == 0)
					break;
			if (i == MCP_TOOL_ARGS || t->args[i].name == NULL)
				return err_set(e, ERR_INVALID_FIELD, "%s takes no"
				    " argument '%.40s'", t->name, key);
		}
	}
	for (i = 0; i < MCP_TOOL_ARGS && t->args[i].name != NULL; i++) {
		a = &t->args[i];
		if (args == NULL || !json_object_object_get_ex(args, a->name,
		    &val) || json_object_is_type(val, json_type_null)) {
			if (a->required)
				return err_set(e, ERR_INVALID_FIELD, "%s needs"
				    " '%s'", t->name, a->name);
			continue;
		}
		if (!json_object_is_type(val, json_type_string))
			return err_set(e, ERR_INVALID_FIELD, "'%s' of %s must be"
			    " a string (its schema says so), not %s", a->name,
			    t->name, json_type_to_name(json_object_get_type(val)));
		s = json_object_get_string(val);
		len = (size_t)json_object_get_string_len(val);
		if (len > a->max || strlen(s) != len)
			return err_set(e, ERR_INVALID_FIELD, "'%s' of %s is longer"
			    " than %zu bytes or holds a NUL", a->name, t->name,
			    a->max);
		if (a->choices != NULL) {
			for (j = 0; a->choices[j] != NULL; j++)
				if (strcmp(a->choices[j], s) == 0)
					break;
			if (a->choices[j] == NULL)
				return err_set(e, ERR_INVALID_FIELD, "'%s' of %s"
				    " must be one of approve, request-changes,"
				    " comment", a->name, t->name);
		}
		v[i] = s;
	}
	return 0;
}

/* A next step the core words as a command ("work-on <n>"), in the
 * words of the tools ("work_on <n>"). */
static void
next_step(FILE *out, const char *sep, const char *step)
{
	size_t	i, n = strcspn(step, " ");

	for (i = 0; i < mcp_tools_n; i++)
		if (strlen(mcp_tools[i].verb) == n &&
		    strncmp(mcp_tools[i].verb, step, n) == 0) {
			fprintf(out, "%s%s%s", sep, mcp_tools[i].name, step + n);
			return;
		}
	fprintf(out, "%s%s", sep, step);
}

/* A tool's answer as a CallToolResult: the text for the model, the data
 * as structuredContent; an error with its code, message and hint. */
static json_object *
tool_result(json_object *answer, const struct err *e)
{
	json_object	*r, *content, *text, *v, *structured;
	char		*s = NULL;
	size_t		 i, len = 0;
	FILE		*out;

	r = json_object_new_object();
	content = json_object_new_array();
	text = json_object_new_object();
	json_object_object_add(text, "type", json_object_new_string("text"));
	if (answer != NULL) {
		/* The answer's text, and what makes sense next. */
		if ((out = open_memstream(&s, &len)) != NULL) {
			fputs(json_object_object_get_ex(answer, "text", &v) ?
			    json_object_get_string(v) : "", out);
			if (json_object_object_get_ex(answer, "next", &v))
				for (i = 0; i < json_object_array_length(v); i++)
					next_step(out, i == 0 ? "\nNext: " : ", ",
					    json_object_get_string(
					    json_object_array_get_idx(v, i)));
			fclose(out);
		}
		json_object_object_add(text, "text",
		    json_object_new_string(s != NULL ? s : ""));
		free(s);
		structured = json_object_object_get_ex(answer, "data", &v) &&
		    json_object_is_type(v, json_type_object) ?
		    json_object_get(v) : json_object_new_object();
		json_object_object_add(r, "structuredContent", structured);
		json_object_object_add(r, "isError", json_object_new_boolean(0));
	} else {
		json_object	*full = err_to_json(e), *eo;
		char		 msg[1024];

		json_object_object_get_ex(full, "error", &eo);
		structured = json_object_get(eo);
		json_object_put(full);
		if (e->code == ERR_RATE_LIMITED)
			json_object_object_add(structured, "retry_after",
			    json_object_new_int(e->retry_after > 0 ?
			    e->retry_after : 1));
		snprintf(msg, sizeof(msg), "%s: %s%s%s", json_object_get_string(
		    json_object_object_get(structured, "code")),
		    json_object_get_string(json_object_object_get(structured,
		    "message")), e->hint[0] != '\0' ? "\nHint: " : "", e->hint);
		json_object_object_add(text, "text", json_object_new_string(msg));
		json_object_object_add(r, "structuredContent", structured);
		json_object_object_add(r, "isError", json_object_new_boolean(1));
	}
	json_object_array_add(content, text);
	json_object_object_add(r, "content", content);
	return r;
}

static json_object *
mcp_tools_call(struct mcp_ctx *x, json_object *params, json_object *id)
{
	const struct mcp_tool	*t;
	json_object		*name, *args = NULL, *answer, *result;
	const char		*v[MCP_TOOL_ARGS];
	struct err		 e;

	err_clear(&e);
	if (!json_object_object_get_ex(params, "name", &name) ||
	    !json_object_is_type(name, json_type_string))
		return rpc_error(id, RPC_INVALID_PARAMS, "tools/call needs the"
		    " tool's name");
	if ((t = tool_find(name)) == NULL)
		return rpc_error(id, RPC_INVALID_PARAMS, "no tool '%.64s';"
		    " tools/list names them", json_object_get_string(name));
	json_object_object_get_ex(params, "arguments", &args);
	if (tool_args(t, args, v, &e) == -1) {
		/* 2025-11-25 (SEP-1303): the model sees it and corrects. */
		if (strcmp(x->version, "2025-11-25") == 0)
			return rpc_result(id, tool_result(NULL, &e));
		return rpc_error(id, RPC_INVALID_PARAMS, "%s", e.message);
	}
	answer = t->run(&x->rq->core, &x->rq->agent, v, &e);
	/* What the HTTP front end would answer 500, logged the same way. */
	if (answer == NULL && (err_status(e.code) == 500 ||
	    err_status(e.code) == 0))
		log_error("mcp %s: internal error: %s%s%s", t->name, e.message,
		    e.detail[0] != '\0' ? ": " : "", e.detail);
	result = rpc_result(id, tool_result(answer, &e));
	json_object_put(answer);
	return result;
}

static const struct mcp_method {
	const char	*name;
	json_object	*(*run)(struct mcp_ctx *, json_object *, json_object *);
} mcp_methods[] = {
	{ "initialize", mcp_initialize },
	{ "ping", mcp_ping },
	{ "tools/list", mcp_tools_list },
	{ "tools/call", mcp_tools_call },
};

/*
 * Requests that a browser page on another site could send are refused
 * (DNS rebinding): an Origin, when sent, must be the origin of
 * http.public_url (scheme://host[:port], compared whole).
 */
static bool
origin_ok(struct request *rq)
{
	const char	*o, *pub = rq->conf->http_public_url, *host;
	size_t		 n;

	o = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, "Origin");
	if (o == NULL)
		return true;
	if (pub == NULL || (host = strstr(pub, "://")) == NULL)
		return false;
	n = (size_t)(host + 3 - pub) + strcspn(host + 3, "/");
	return strlen(o) == n && strncasecmp(o, pub, n) == 0;
}

/* "host[:port]" of a URL, or NULL. */
static bool
url_authority(const char *url, const char **start, size_t *len)
{
	const char	*h;

	if (url == NULL || (h = strstr(url, "://")) == NULL)
		return false;
	*start = h + 3;
	*len = strcspn(*start, "/?#");
	return *len > 0;
}

static bool
same_text(const char *a, size_t alen, const char *b)
{
	return strlen(b) == alen && strncasecmp(a, b, alen) == 0;
}

/*
 * DNS rebinding, the other half: a browser tricked into sending to us
 * under another name sends that name as Host.  Host must be
 * http.public_url's authority, a listen address as configured, or that
 * address's port on this machine (localhost, 127.0.0.1, [::1]; any IP
 * address when listening on all of them).  Requests on a unix socket
 * come from this machine and are not checked.
 */
static bool
host_ok(struct request *rq)
{
	const char	*h, *a, *port;
	char		 local[64];
	size_t		 i, n, hlen;
	bool		 any;

	if (strcmp(rq->remote, "unix") == 0)
		return true;
	h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_HOST);
	if (h == NULL || (hlen = strlen(h)) == 0)
		return false;
	if (url_authority(rq->conf->http_public_url, &a, &n) &&
	    same_text(a, n, h))
		return true;
	for (i = 0; i < rq->conf->http_listen.n; i++) {
		a = rq->conf->http_listen.v[i];
		if (strncmp(a, "unix:", 5) == 0 ||
		    (port = strrchr(a, ':')) == NULL)
			continue;
		if (strcasecmp(a, h) == 0)
			return true;
		any = strncmp(a, "0.0.0.0:", 8) == 0 ||
		    strncmp(a, "[::]:", 5) == 0 || a[0] == ':';
		n = strlen(port);
		if (hlen <= n || strcmp(h + hlen - n, port) != 0)
			continue;
		snprintf(local, sizeof(local), "%.*s", (int)(hlen - n), h);
		if (strcasecmp(local, "localhost") == 0 ||
		    strcmp(local, "127.0.0.1") == 0 || strcmp(local, "[::1]") == 0)
			return true;
		if (any && strspn(local, "0123456789.[]:abcdefABCDEF") ==
		    strlen(local) && strchr(local, '.') != NULL) {
			struct in6_addr	 v6;
			struct in_addr	 v4;

			if (inet_pton(AF_INET, local, &v4) == 1)
				return true;
			if (local[0] == '[' && local[strlen(local) - 1] == ']') {
				local[strlen(local) - 1] = '\0';
				if (inet_pton(AF_INET6, local + 1, &v6) == 1)
					return true;
			}
		}
	}
	return false;
}

/* The transport: a POST's Accept lists application/json (and the event
 * stream, which we never use); a range that covers JSON will do. */
static bool
accept_ok(struct request *rq)
{
	static const char *const covers[] = { "application/json",
	    "application/*", "*/*", NULL };
	const char	*h, *p;
	size_t		 n, t, i;

	h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT);
	for (p = h; p != NULL && *p != '\0'; p += n + (p[n] == ',')) {
		p += strspn(p, " \t");
		n = strcspn(p, ",");
		/* The media range without its parameters and spaces. */
		t = strcspn(p, ",; \t");
		for (i = 0; covers[i] != NULL; i++)
			if (same_text(p, t, covers[i]))
				return true;
	}
	return false;
}

static void
reply_rpc(struct response *rs, int status, json_object *m)
{
	rs->status = status;
	rs->json = m;
}

/* One JSON-RPC message, checked against the spec's shape. */
static void
mcp_message(struct mcp_ctx *x, json_object *m, struct response *rs)
{
	json_object	*v, *id = NULL, *params = NULL;
	const char	*method;
	size_t		 i;

	if (!json_object_object_get_ex(m, "jsonrpc", &v) ||
	    !json_object_is_type(v, json_type_string) ||
	    strcmp(json_object_get_string(v), "2.0") != 0) {
		reply_rpc(rs, 400, rpc_error(NULL, RPC_INVALID_REQUEST,
		    "not JSON-RPC 2.0: \"jsonrpc\": \"2.0\" is missing"));
		return;
	}
	if (json_object_object_get_ex(m, "id", &id) &&
	    !json_object_is_type(id, json_type_int) &&
	    !(json_object_is_type(id, json_type_string) &&
	    json_object_get_string_len(id) <= MCP_ID_MAX)) {
		reply_rpc(rs, 400, rpc_error(NULL, RPC_INVALID_REQUEST,
		    "the id must be a string or an integer"));
		return;
	}
	if (!json_object_object_get_ex(m, "method", &v)) {
		/* A response to us: we send no requests, so nothing waits
		 * for it; accepted as the transport says. */
		if (id != NULL && (json_object_object_get_ex(m, "result", NULL) ||
		    json_object_object_get_ex(m, "error", NULL))) {
			rs->status = 202;
			rs->text = strdup("");
			return;
		}
		reply_rpc(rs, 400, rpc_error(id, RPC_INVALID_REQUEST,
		    "a request needs a method"));
		return;
	}
	if (!json_object_is_type(v, json_type_string)) {
		reply_rpc(rs, 400, rpc_error(id, RPC_INVALID_REQUEST,
		    "the method must be a string"));
		return;
	}
	method = json_object_get_string(v);
	if (json_object_object_get_ex(m, "params", &params) &&
	    !json_object_is_type(params, json_type_object)) {
		reply_rpc(rs, 400, rpc_error(id, RPC_INVALID_REQUEST,
		    "params must be an object"));
		return;
	}
	if (id == NULL) {
		/* A notification (notifications/initialized, cancelled...):
		 * nothing to answer. */
		rs->status = 202;
		rs->text = strdup("");
		return;
	}
	for (i = 0; i < sizeof(mcp_methods) / sizeof(mcp_methods[0]); i++)
		if (json_str_is(v, mcp_methods[i].name)) {
			reply_rpc(rs, 200, mcp_methods[i].run(x, params, id));
			return;
		}
	reply_rpc(rs, 200, rpc_error(id, RPC_METHOD_NOT_FOUND, "no method"
	    " '%.64s'", method));
}

void
api_mcp(struct request *rq, struct response *rs)
{
	struct mcp_ctx	 x = { rq, "2025-06-18" };
	struct err	 e;
	json_object	*m;
	const char	*h;

	err_clear(&e);
	if (!origin_ok(rq)) {
		err_set(&e, ERR_FORBIDDEN, "requests from this Origin are not"
		    " accepted");
		reply_error(rs, &e);
		return;
	}
	if (!host_ok(rq)) {
		err_set(&e, ERR_FORBIDDEN, "requests for this Host are not"
		    " accepted");
		err_hint(&e, "address synstackd by http.public_url or a listen"
		    " address");
		reply_error(rs, &e);
		return;
	}
	if (!accept_ok(rq)) {
		err_set(&e, ERR_NOT_ACCEPTABLE, "MCP answers are"
		    " application/json; the request's Accept does not list it");
		reply_error(rs, &e);
		return;
	}
	/* A client names the version it negotiated on every request. */
	h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    "MCP-Protocol-Version");
	if (h != NULL) {
		if (!version_known(h)) {
			reply_rpc(rs, 400, rpc_error(NULL, RPC_INVALID_REQUEST,
			    "unsupported MCP-Protocol-Version '%.32s'; supported:"
			    " 2025-11-25, 2025-06-18", h));
			return;
		}
		x.version = h;
	}
	h = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!content_type_json(h)) {
		err_set(&e, ERR_UNSUPPORTED_MEDIA, "MCP messages are JSON: send"
		    " Content-Type: application/json");
		reply_error(rs, &e);
		return;
	}
	m = json_parse_strict(rq->body != NULL ? rq->body : "", rq->body_len,
	    (int)rq->conf->http_max_json_depth, &e);
	if (m == NULL) {
		/* JSON, but null: a message that is no request. */
		reply_rpc(rs, 400, rpc_error(NULL, e.code == ERR_INVALID_FIELD ?
		    RPC_INVALID_REQUEST : RPC_PARSE_ERROR, "%s", e.message));
		return;
	}
	if (json_object_is_type(m, json_type_array))
		reply_rpc(rs, 400, rpc_error(NULL, RPC_INVALID_REQUEST,
		    "batches are not part of MCP since 2025-06-18: send one"
		    " message per request"));
	else if (!json_object_is_type(m, json_type_object))
		reply_rpc(rs, 400, rpc_error(NULL, RPC_INVALID_REQUEST,
		    "a JSON-RPC message is an object"));
	else
		mcp_message(&x, m, rs);
	json_object_put(m);
}
