/*
 * server.c: libmicrohttpd set-up, body reading with a cap, routing,
 * authentication and the one place answers are written and logged.
 *
 * Threads: every connection has a thread of its own (libmicrohttpd's
 * thread per connection), so a request that waits on the database or on
 * Gitea holds up only itself; connections are bounded overall
 * (http.max_connections) and per address (http.per_ip_connections).
 * Clients that trickle a request in cannot hold a connection for ever:
 * a request must arrive whole within http.request_timeout of the
 * connection opening or of the previous answer, or a watchdog shuts the
 * socket down (libmicrohttpd's own timeout counts idle time only).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

#define SERVER_MAX_LISTEN	16
#define SERVER_MAX_PATH		2048
#define SERVER_MAX_BEARER	512
#define SERVER_MAX_ARGS		64	/* query parameters of a request */
#define SERVER_MAX_HEADERS	100	/* header lines of a request */
/* An oversized body is read and dropped up to this much past the cap, so
 * that a client still writing it reads the 413 instead of a broken pipe;
 * past it, or a body declared larger, the connection is closed. */
#define SERVER_DISCARD_MAX	(16L * 1024 * 1024)
#define SERVER_STACK_SIZE	(1024 * 1024)
#define WATCHDOG_TICK_MS	100

struct daemon_state daemon_state;

static struct listener {
	struct MHD_Daemon	*mhd;
	char			*unix_path;
} listeners[SERVER_MAX_LISTEN];
static int		 nlisteners;
static atomic_long	 inflight;
static atomic_bool	 draining;

/* Old configs stay allocated until exit: a request may still hold one. */
static pthread_mutex_t	 conf_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct conf	*conf_current;
static struct conf	*conf_retired[64];
static int		 nretired;

/* Per-request state, from the first call of the access handler to the
 * completion notice. */
struct upload {
	char	*buf;
	size_t	 len;
	size_t	 dropped;	/* body bytes read past the cap, dropped */
	bool	 too_many_args;	/* the query was cut: 414 */
	bool	 nul;		/* %00 in the target: 400 */
	bool	 too_large;
	bool	 answered;	/* an early answer (413) is queued */
	long	 start_ms;
	long	 cap;		/* the most body bytes taken */
};

/*
 * The watchdog's view of each connection: the deadline by which the
 * request being read must be whole (0 while it is being answered).  An
 * entry leaves the list (under the lock) before libmicrohttpd closes the
 * socket, so the watchdog never shuts down a socket number reused since.
 */
struct watch {
	struct watch	*prev, *next;
	int		 fd;
	long		 deadline;
};

static struct {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	pthread_t	 thread;
	struct watch	*head;
	bool		 running, stop;
	atomic_ulong	 cut;		/* connections shut down for it */
	atomic_long	 open;		/* connections open now */
} watchdog = { .mtx = PTHREAD_MUTEX_INITIALIZER,
    .cv = PTHREAD_COND_INITIALIZER };

const struct conf *
server_conf(void)
{
	const struct conf	*c;

	pthread_mutex_lock(&conf_mtx);
	c = conf_current;
	pthread_mutex_unlock(&conf_mtx);
	return c;
}

void
server_set_conf(struct conf *c)
{
	pthread_mutex_lock(&conf_mtx);
	if (conf_current != NULL) {
		if (nretired == (int)(sizeof(conf_retired) /
		    sizeof(conf_retired[0]))) {
			/* Very old configs are surely out of use. */
			conf_free(conf_retired[0]);
			memmove(conf_retired, conf_retired + 1,
			    (nretired - 1) * sizeof(conf_retired[0]));
			nretired--;
		}
		conf_retired[nretired++] = conf_current;
	}
	conf_current = c;
	daemon_state.conf = c;
	pthread_mutex_unlock(&conf_mtx);
}

void
reply_json(struct response *rs, int status, json_object *j)
{
	json_object_put(rs->json);
	rs->status = status;
	rs->json = j;
}

void
reply_error(struct response *rs, const struct err *e)
{
	int	status = err_status(e->code);

	if (status == 0 || e->code == ERR_NONE)
		status = 500;
	if (status == 500)
		log_error("internal error answered: %s%s%s", e->message,
		    e->detail[0] != '\0' ? ": " : "", e->detail);
	reply_json(rs, status, err_to_json(e));
	if (e->code == ERR_RATE_LIMITED)
		snprintf(rs->retry_after, sizeof(rs->retry_after), "%d",
		    e->retry_after > 0 ? e->retry_after : 1);
	if (e->code == ERR_UNAUTHORIZED)
		rs->www_authenticate = true;
}

void
reply_answer(struct response *rs, json_object *j, const struct err *e)
{
	if (j == NULL)
		reply_error(rs, e);
	else
		reply_json(rs, 200, j);
}

const char *
request_query(struct request *rq, const char *name)
{
	return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND,
	    name);
}

bool
content_type_json(const char *ct)
{
	size_t	n = strlen("application/json");

	return ct != NULL && strncasecmp(ct, "application/json", n) == 0 &&
	    (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

int
request_json(struct request *rq, struct response *rs, json_object **out)
{
	struct err	 e;
	const char	*ct;

	err_clear(&e);
	ct = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_TYPE);
	if (!content_type_json(ct)) {
		err_set(&e, ERR_UNSUPPORTED_MEDIA, "the body must be JSON, not"
		    " '%.64s'", ct != NULL ? ct : "(no Content-Type)");
		reply_error(rs, &e);
		return -1;
	}
	*out = json_parse_strict(rq->body != NULL ? rq->body : "",
	    rq->body_len, (int)rq->conf->http_max_json_depth, &e);
	if (*out == NULL) {
		reply_error(rs, &e);
		return -1;
	}
	if (!json_object_is_type(*out, json_type_object)) {
		json_object_put(*out);
		*out = NULL;
		err_set(&e, ERR_INVALID_FIELD, "the body must be a JSON object");
		reply_error(rs, &e);
		return -1;
	}
	return 0;
}

/* Match path segments; "{name}" takes any non-empty segment. */
static bool
route_match(const char *pattern, char *path, const char **params,
    int *nparams)
{
	const char	*p = pattern;
	char		*s = path;
	size_t		 plen, slen;

	*nparams = 0;
	while (*p == '/' && *s == '/') {
		p++;
		s++;
		plen = strcspn(p, "/");
		slen = strcspn(s, "/");
		if (*p == '{') {
			if (slen == 0 || *nparams == ROUTE_MAX_PARAMS)
				return false;
			params[(*nparams)++] = s;
		} else if (plen != slen || strncmp(p, s, plen) != 0)
			return false;
		p += plen;
		s += slen;
	}
	return *p == '\0' && *s == '\0';
}

/* Finds the route; on a path match with another method fills allow. */
static int
route_find(const char *method, const char *path, struct request *rq,
    char *pathbuf, char *allow, size_t allowsz)
{
	char	tmp[SERVER_MAX_PATH];
	size_t	i;
	int	n;

	allow[0] = '\0';
	for (i = 0; i < routes_n; i++) {
		strlcpy_ss(tmp, path, sizeof(tmp));
		if (!route_match(routes[i].pattern, tmp, rq->params, &n))
			continue;
		if (strcmp(routes[i].method, method) == 0) {
			strlcpy_ss(pathbuf, path, SERVER_MAX_PATH);
			route_match(routes[i].pattern, pathbuf, rq->params,
			    &rq->nparams);
			/* Cut each parameter at its segment's end. */
			for (n = 0; n < rq->nparams; n++) {
				char *end = strchr(rq->params[n], '/');
				if (end != NULL)
					*end = '\0';
			}
			return (int)i;
		}
		if (allow[0] != '\0')
			strncat(allow, ", ", allowsz - strlen(allow) - 1);
		strncat(allow, routes[i].method, allowsz - strlen(allow) - 1);
	}
	return -1;
}

static const char *
bearer_token(struct MHD_Connection *conn)
{
	const char	*h;

	h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_AUTHORIZATION);
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0 ||
	    strlen(h) > SERVER_MAX_BEARER)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	return h;
}

static void
client_address(struct MHD_Connection *conn, char *out, size_t size)
{
	const union MHD_ConnectionInfo	*ci;
	const struct sockaddr		*sa;

	strlcpy_ss(out, "unknown", size);
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr, out, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, size);
	else if (sa->sa_family == AF_UNIX)
		strlcpy_ss(out, "unix", size);
}

/*
 * A token that failed the route's credential: when it is another kind we
 * know (an agent's key, a sponsor's token), the answer is 403, not 401:
 * the caller is known, the route is not theirs.
 */
static void
known_elsewhere(struct request *rq, const char *token, const char *needs,
    struct err *e)
{
	struct agent	a;
	struct actor	who;
	struct err	sub;

	if (token == NULL)
		return;
	err_clear(&sub);
	if (key_well_formed(token)) {
		if (agent_authenticate(rq->pool, token, &a, &sub) == 0 ||
		    sub.code == ERR_WAITING_APPROVAL ||
		    sub.code == ERR_SUSPENDED)
			err_set(e, ERR_FORBIDDEN, "an agent key cannot use this"
			    " route: it needs %s", needs);
	} else if (token_well_formed(SPONSOR_TOKEN_PREFIX, token)) {
		if (sponsor_authenticate(rq->pool, token, NULL, NULL, &who,
		    &sub) == -1 && sub.code == ERR_FORBIDDEN)
			err_set(e, ERR_FORBIDDEN, "a sponsor token cannot use"
			    " this route: it needs %s", needs);
	}
}

static int
authenticate(struct request *rq, struct response *rs)
{
	struct err	 e;
	const char	*token;

	err_clear(&e);
	token = bearer_token(rq->conn);
	switch (rq->route->auth) {
	case AUTH_NONE:
		rq->actor.kind = ACTOR_SYSTEM;
		strlcpy_ss(rq->actor.id, rq->remote, sizeof(rq->actor.id));
		return 0;
	case AUTH_AGENT:
		if (agent_authenticate(rq->pool, token, &rq->agent, &e) == -1)
			break;
		rq->actor.kind = ACTOR_AGENT;
		strlcpy_ss(rq->actor.id, rq->agent.id, sizeof(rq->actor.id));
		return 0;
	case AUTH_ADMIN:
		if (admin_authenticate(rq->conf, token, &rq->actor, &e) == 0) {
			rq->admin = true;
			return 0;
		}
		known_elsewhere(rq, token, "an admin token", &e);
		break;
	case AUTH_SPONSOR:
		/* The route's first two parameters are {owner}/{repo}. */
		if (token_well_formed(SPONSOR_TOKEN_PREFIX, token)) {
			if (sponsor_authenticate(rq->pool, token,
			    rq->nparams >= 2 ? rq->params[0] : NULL,
			    rq->nparams >= 2 ? rq->params[1] : NULL, &rq->actor,
			    &e) == 0)
				return 0;
			break;
		}
		if (admin_authenticate(rq->conf, token, &rq->actor, &e) == 0) {
			rq->admin = true;
			return 0;
		}
		err_set(&e, ERR_UNAUTHORIZED, "missing or unknown token");
		err_hint(&e, "send Authorization: Bearer <admin token or this"
		    " project's sponsor token>");
		known_elsewhere(rq, token, "an admin token or this project's"
		    " sponsor token", &e);
		break;
	}
	reply_error(rs, &e);
	return -1;
}

static enum MHD_Result
send_response(struct MHD_Connection *conn, struct response *rs,
    size_t *bytes)
{
	struct MHD_Response	*r;
	const char		*body;
	enum MHD_Result		 ret;
	size_t			 len;

	if (rs->json != NULL) {
		body = json_object_to_json_string_ext(rs->json,
		    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
		if (rs->content_type == NULL)
			rs->content_type = "application/json";
	} else
		body = rs->text != NULL ? rs->text : "";
	len = strlen(body);
	*bytes = len;
	r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)body,
	    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
	    rs->content_type != NULL ? rs->content_type : "text/plain");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
	    rs->cache_control != NULL ? rs->cache_control : "no-store");
	if (rs->etag[0] != '\0')
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, rs->etag);
	if (rs->csp != NULL)
		MHD_add_response_header(r, "Content-Security-Policy", rs->csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (rs->retry_after[0] != '\0')
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
		    rs->retry_after);
	if (rs->allow != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, rs->allow);
	if (rs->www_authenticate)
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
		    "Bearer realm=\"synstack\"");
	if (atomic_load(&draining) || rs->close)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(conn, (unsigned)rs->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
dispatch(struct MHD_Connection *conn, const char *url, const char *method,
    struct upload *up)
{
	struct request	 rq;
	struct response	 rs;
	struct err	 e;
	char		 pathbuf[SERVER_MAX_PATH], allow[64], status[8], ms[24],
			 bytes_s[24], db[24];
	enum MHD_Result	 ret;
	unsigned long	 trips = db_thread_round_trips();
	size_t		 bytes = 0;
	long		 elapsed_us;
	int		 idx = -1;

	memset(&rq, 0, sizeof(rq));
	memset(&rs, 0, sizeof(rs));
	err_clear(&e);
	rq.conn = conn;
	rq.method = method;
	rq.path = url;
	rq.body = up->buf;
	rq.body_len = up->len;
	rq.conf = server_conf();
	rq.pool = daemon_state.pool;
	rq.core.pool = rq.pool;
	rq.core.conf = rq.conf;
	rq.core.vault = &daemon_state.vault;
	client_address(conn, rq.remote, sizeof(rq.remote));

	if (up->too_many_args) {
		err_set(&e, ERR_URI_TOO_LONG, "more than %d query parameters",
		    SERVER_MAX_ARGS);
		reply_error(&rs, &e);
	} else if (up->nul) {
		err_set(&e, ERR_BAD_REQUEST, "the request target holds a NUL"
		    " (%%00)");
		err_hint(&e, "no name here contains a NUL character");
		reply_error(&rs, &e);
	} else if (MHD_get_connection_values(conn, MHD_HEADER_KIND, NULL,
	    NULL) > SERVER_MAX_HEADERS) {
		err_set(&e, ERR_HEADERS_TOO_LARGE, "more than %d header lines",
		    SERVER_MAX_HEADERS);
		reply_error(&rs, &e);
	} else if (strlen(url) >= SERVER_MAX_PATH ||
	    (idx = route_find(method, url, &rq, pathbuf, allow,
	    sizeof(allow))) == -1) {
		if (allow[0] != '\0') {
			err_set(&e, ERR_METHOD_NOT_ALLOWED, "%.16s is not"
			    " allowed on %.200s", method, url);
			rs.allow = allow;
		} else
			err_set(&e, ERR_NOT_FOUND, "no route %.16s %.200s",
			    method, url);
		reply_error(&rs, &e);
	} else if (up->too_large) {
		err_set(&e, ERR_BODY_TOO_LARGE, "the body is larger than %ld"
		    " bytes", up->cap);
		reply_error(&rs, &e);
		/* What was not read of it cannot be the next request. */
		if (up->answered)
			rs.close = true;
	} else {
		rq.route = &routes[idx];
		rq.route_index = idx;
		if (authenticate(&rq, &rs) == 0)
			rq.route->handler(&rq, &rs);
		if (rs.status == 0 || (rs.json == NULL && rs.text == NULL)) {
			err_set(&e, ERR_INTERNAL, "handler gave no answer");
			reply_error(&rs, &e);
		}
	}
	ret = send_response(conn, &rs, &bytes);
	elapsed_us = (now_ms() - up->start_ms) * 1000;
	metrics_count(idx, method, rs.status, elapsed_us);
	if (rq.conf->log_requests) {
		snprintf(status, sizeof(status), "%d", rs.status);
		snprintf(ms, sizeof(ms), "%ld", elapsed_us / 1000);
		snprintf(bytes_s, sizeof(bytes_s), "%zu", bytes);
		snprintf(db, sizeof(db), "%lu", db_thread_round_trips() - trips);
		log_kv(LOG_INFO, "request", "method", method, "path", url,
		    "status", status, "ms", ms, "bytes", bytes_s, "db", db,
		    "remote", rq.remote, NULL);
	}
	json_object_put(rs.json);
	free(rs.text);
	return ret;
}

/* A route may take bodies larger than http.max_body (Gitea's webhooks). */
static long
body_cap(const char *method, const char *url, const struct conf *conf)
{
	const char	*params[ROUTE_MAX_PARAMS];
	char		 tmp[SERVER_MAX_PATH];
	size_t		 i;
	int		 n;

	for (i = 0; i < routes_n; i++) {
		if (routes[i].max_body == 0 || strcmp(routes[i].method, method) != 0)
			continue;
		strlcpy_ss(tmp, url, sizeof(tmp));
		if (route_match(routes[i].pattern, tmp, params, &n))
			return routes[i].max_body;
	}
	return conf->http_max_body;
}

/* -- the watchdog: whole requests within http.request_timeout ---------- */

static struct watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo	*ci;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* 0: the connection is being answered, no deadline; else the next request
 * must be whole within http.request_timeout from now. */
static void
watch_set(struct MHD_Connection *conn, bool reading)
{
	struct watch	*w = watch_of(conn);

	if (w == NULL)
		return;
	pthread_mutex_lock(&watchdog.mtx);
	w->deadline = reading ? now_ms() + server_conf()->http_request_timeout :
	    0;
	pthread_mutex_unlock(&watchdog.mtx);
}

static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode code)
{
	const union MHD_ConnectionInfo	*ci;
	struct watch			*w;

	(void)cls;
	pthread_mutex_lock(&watchdog.mtx);
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn,
		    MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci != NULL && (w = calloc(1, sizeof(*w))) != NULL) {
			w->fd = ci->connect_fd;
			w->deadline = now_ms() +
			    server_conf()->http_request_timeout;
			w->next = watchdog.head;
			if (w->next != NULL)
				w->next->prev = w;
			watchdog.head = w;
			*socket_ctx = w;
		}
		atomic_fetch_add(&watchdog.open, 1);
	} else if ((w = *socket_ctx) != NULL) {
		/* Before libmicrohttpd closes the socket. */
		if (w->prev != NULL)
			w->prev->next = w->next;
		else
			watchdog.head = w->next;
		if (w->next != NULL)
			w->next->prev = w->prev;
		free(w);
		*socket_ctx = NULL;
		atomic_fetch_sub(&watchdog.open, 1);
	} else
		atomic_fetch_sub(&watchdog.open, 1);
	pthread_mutex_unlock(&watchdog.mtx);
}

/* Shuts down the sockets of requests past their deadline: the connection's
 * thread then finds it closed and ends. */
static void *
watchdog_loop(void *arg)
{
	struct timespec	 ts;
	struct watch	*w;
	long		 now;

	(void)arg;
	pthread_mutex_lock(&watchdog.mtx);
	while (!watchdog.stop) {
		now = now_ms();
		for (w = watchdog.head; w != NULL; w = w->next)
			if (w->deadline != 0 && now > w->deadline) {
				shutdown(w->fd, SHUT_RDWR);
				w->deadline = 0;
				atomic_fetch_add(&watchdog.cut, 1);
			}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += WATCHDOG_TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&watchdog.cv, &watchdog.mtx, &ts);
	}
	pthread_mutex_unlock(&watchdog.mtx);
	return NULL;
}

void
server_connection_stats(long *open, unsigned long *cut)
{
	*open = atomic_load(&watchdog.open);
	*cut = atomic_load(&watchdog.cut);
}

/* -- requests ------------------------------------------------------------ */

/*
 * Called with the request line, before libmicrohttpd parses its query:
 * the per-request state starts here.  libmicrohttpd 0.9.75 does not
 * answer a query whose parameters overflow the connection's memory (the
 * connection hangs until its timeout), so a query of more parameters than
 * we ever take is cut here, in the buffer it is about to parse, and the
 * request answered 414.
 */
static void *
uri_logged(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct upload	*up;
	const char	*q;
	size_t		 args;

	(void)cls;
	(void)conn;
	if ((up = calloc(1, sizeof(*up))) == NULL)
		return NULL;
	up->start_ms = now_ms();
	/* libmicrohttpd decodes the path into a C string: a %00 would end
	 * a name early and the request would act on another (DELETE
	 * .../platforms/x%00y deleting x).  Query values are checked by
	 * what reads them. */
	q = strstr(uri, "%00");
	up->nul = q != NULL && (strchr(uri, '?') == NULL || q < strchr(uri,
	    '?'));
	if ((q = strchr(uri, '?')) != NULL) {
		for (args = 1; (q = strchr(q + 1, '&')) != NULL; args++)
			;
		if (args > SERVER_MAX_ARGS) {
			((char *)(uintptr_t)strchr(uri, '?'))[1] = '\0';
			up->too_many_args = true;
		}
	}
	atomic_fetch_add(&inflight, 1);
	return up;
}

static enum MHD_Result
answer_now(struct MHD_Connection *conn, const char *url, const char *method,
    struct upload *up)
{
	up->answered = true;
	watch_set(conn, false);
	return dispatch(conn, url, method, up);
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_size, void **con_cls)
{
	struct upload		*up = *con_cls;
	const struct conf	*conf = server_conf();
	const char		*cl, *expect;
	unsigned long long	 declared = 0;
	char			*p;

	(void)cls;
	(void)version;
	if (up == NULL)		/* out of memory in uri_logged */
		return MHD_NO;
	if (up->cap == 0) {
		/* The first call: the headers are in. */
		up->cap = body_cap(method, url, conf);
		if (up->too_many_args || up->nul ||
		    MHD_get_connection_values(conn,
		    MHD_HEADER_KIND, NULL, NULL) > SERVER_MAX_HEADERS)
			return answer_now(conn, url, method, up);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_EXPECT);
		if (cl != NULL)
			declared = strtoull(cl, NULL, 10);
		/* A declared oversize body is refused before it is read when
		 * the client waits to be told (Expect: 100-continue) or it is
		 * too large to read through. */
		if (declared > (unsigned long long)up->cap) {
			up->too_large = true;
			if (expect != NULL || declared > (unsigned long long)
			    up->cap + SERVER_DISCARD_MAX)
				return answer_now(conn, url, method, up);
		}
		return MHD_YES;
	}
	if (up->answered) {
		*upload_size = 0;
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (!up->too_large && up->len + *upload_size > (size_t)up->cap) {
			up->too_large = true;
			up->dropped = up->len;
			free(up->buf);
			up->buf = NULL;
			up->len = 0;
		}
		if (up->too_large) {
			/* Read and dropped, so the client reads our 413. */
			up->dropped += *upload_size;
			*upload_size = 0;
			if (up->dropped > (size_t)up->cap + SERVER_DISCARD_MAX)
				return answer_now(conn, url, method, up);
			return MHD_YES;
		}
		if ((p = realloc(up->buf, up->len + *upload_size + 1)) == NULL)
			return MHD_NO;
		up->buf = p;
		memcpy(up->buf + up->len, upload_data, *upload_size);
		up->len += *upload_size;
		up->buf[up->len] = '\0';
		*upload_size = 0;
		return MHD_YES;
	}
	/* The request is whole: answering it has no deadline. */
	watch_set(conn, false);
	return dispatch(conn, url, method, up);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct upload	*up = *con_cls;

	(void)cls;
	(void)toe;
	/* The next request on this connection has its own deadline. */
	watch_set(conn, true);
	if (up == NULL)
		return;
	free(up->buf);
	free(up);
	*con_cls = NULL;
	atomic_fetch_sub(&inflight, 1);
}

static void	mhd_log(void *, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char	msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", msg);
}

/* "host:port", "[v6]:port" or "unix:/path" -> a listening socket. */
static int
listen_on(const char *addr, struct listener *l)
{
	struct addrinfo		 hints, *res = NULL;
	struct sockaddr_un	 sun;
	struct stat		 st;
	char			 host[256], *port;
	int			 fd = -1, one = 1, rc;

	if (strncmp(addr, "unix:", 5) == 0) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlen(addr + 5) >= sizeof(sun.sun_path)) {
			log_error("listen %s: path too long", addr);
			return -1;
		}
		strlcpy_ss(sun.sun_path, addr + 5, sizeof(sun.sun_path));
		/* A stale socket of an earlier run is replaced. */
		if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(sun.sun_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
		    -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
		    chmod(sun.sun_path, 0660) == -1 || listen(fd, 128) == -1) {
			log_error("listen %s: %s", addr, strerror(errno));
			if (fd != -1)
				close(fd);
			return -1;
		}
		l->unix_path = strdup(sun.sun_path);
		return fd;
	}
	if (addr[0] == '[') {
		strlcpy_ss(host, addr + 1, sizeof(host));
		if ((port = strstr(host, "]:")) == NULL) {
			log_error("listen %s: expected [address]:port", addr);
			return -1;
		}
		*port = '\0';
		port += 2;
	} else {
		strlcpy_ss(host, addr, sizeof(host));
		if ((port = strrchr(host, ':')) == NULL) {
			log_error("listen %s: expected host:port", addr);
			return -1;
		}
		*port++ = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host[0] != '\0' ? host : NULL, port, &hints,
	    &res)) != 0) {
		log_error("listen %s: %s", addr, gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) ==
	    -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 || bind(fd, res->ai_addr, res->ai_addrlen) ==
	    -1 || listen(fd, 128) == -1) {
		log_error("listen %s: %s", addr, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* One libmicrohttpd daemon on the listening socket fd. */
static struct MHD_Daemon *
server_mhd(const struct conf *conf, MHD_socket fd, bool per_ip)
{
	struct MHD_OptionItem	 o[16];
	size_t			 n = 0;

#define OPT(opt, val, ptr) \
	o[n++] = (struct MHD_OptionItem){ (opt), (intptr_t)(val), (ptr) }
	OPT(MHD_OPTION_LISTEN_SOCKET, fd, NULL);
	OPT(MHD_OPTION_CONNECTION_LIMIT, conf->http_max_connections, NULL);
	OPT(MHD_OPTION_CONNECTION_TIMEOUT, conf->http_connection_timeout / 1000,
	    NULL);
	/* Room for SERVER_MAX_HEADERS header lines of ~500 bytes; no more:
	 * libmicrohttpd zeroes it for every request. */
	OPT(MHD_OPTION_CONNECTION_MEMORY_LIMIT, 64 * 1024, NULL);
	OPT(MHD_OPTION_THREAD_STACK_SIZE, SERVER_STACK_SIZE, NULL);
	/* HTTP/1.1 without Host is a 400. */
	OPT(MHD_OPTION_STRICT_FOR_CLIENT, 1, NULL);
	OPT(MHD_OPTION_URI_LOG_CALLBACK, uri_logged, NULL);
	OPT(MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL);
	OPT(MHD_OPTION_NOTIFY_CONNECTION, notify_connection, NULL);
	OPT(MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL);
	/* Per-address limits mean nothing on a unix socket. */
	if (per_ip)
		OPT(MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		    conf->http_per_ip_connections, NULL);
	OPT(MHD_OPTION_END, 0, NULL);
#undef OPT
	return MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD |
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, access_handler, NULL, MHD_OPTION_ARRAY, o,
	    MHD_OPTION_END);
}

static int
watchdog_start(void)
{
	if (pthread_create(&watchdog.thread, NULL, watchdog_loop, NULL) != 0) {
		log_error("cannot start the request watchdog");
		return -1;
	}
	watchdog.running = true;
	return 0;
}

int
server_start(const struct conf *conf)
{
	size_t	i;
	int	fd;

	for (i = 0; i < conf->http_listen.n && i < SERVER_MAX_LISTEN; i++) {
		struct listener *l = &listeners[nlisteners];

		if ((fd = listen_on(conf->http_listen.v[i], l)) == -1)
			return -1;
		if ((l->mhd = server_mhd(conf, fd, l->unix_path == NULL)) ==
		    NULL) {
			log_error("cannot start the HTTP server on %s",
			    conf->http_listen.v[i]);
			close(fd);
			return -1;
		}
		nlisteners++;
		log_info("listening on %s", conf->http_listen.v[i]);
	}
	return watchdog_start();
}

void
server_drain(long timeout_ms)
{
	long	deadline = now_ms() + timeout_ms;
	int	i;

	atomic_store(&draining, true);
	/* Stop accepting: new connections are refused from here on. */
	for (i = 0; i < nlisteners; i++) {
		MHD_socket fd = MHD_quiesce_daemon(listeners[i].mhd);
		if (fd != MHD_INVALID_SOCKET)
			close(fd);
	}
	while (atomic_load(&inflight) > 0 && now_ms() < deadline)
		usleep(10 * 1000);
	if (atomic_load(&inflight) > 0)
		log_warn("drain timeout: %ld requests still in flight",
		    atomic_load(&inflight));
}

void
server_stop(void)
{
	int	i;

	if (watchdog.running) {
		pthread_mutex_lock(&watchdog.mtx);
		watchdog.stop = true;
		pthread_cond_signal(&watchdog.cv);
		pthread_mutex_unlock(&watchdog.mtx);
		pthread_join(watchdog.thread, NULL);
		watchdog.running = false;
	}

	for (i = 0; i < nlisteners; i++) {
		MHD_stop_daemon(listeners[i].mhd);
		if (listeners[i].unix_path != NULL) {
			unlink(listeners[i].unix_path);
			free(listeners[i].unix_path);
		}
	}
	nlisteners = 0;
	pthread_mutex_lock(&conf_mtx);
	for (i = 0; i < nretired; i++)
		conf_free(conf_retired[i]);
	nretired = 0;
	pthread_mutex_unlock(&conf_mtx);
}
