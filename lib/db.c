/*
 * db.c: a fixed-size pool of libpq connections shared by the daemon's
 * threads.  Connections open lazily; a broken one is reset (and its session
 * set up again) when it is next handed out, and a statement that finds its
 * connection dead outside a transaction (the server or a middlebox closed
 * it while it sat idle, unnoticed until written to) is sent again on a
 * fresh one.  A PostgreSQL restart thus costs no failed request once the
 * server is back, and no daemon restart.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-events.h>

#include "synstack.h"

struct db_pool {
	pthread_mutex_t	  mtx;
	pthread_cond_t	  cv;
	char		 *url;
	int		  size;
	long		  connect_timeout;	/* ms */
	long		  statement_timeout;	/* ms */
	long		  acquire_timeout;	/* ms */
	PGconn		**conns;
	bool		 *busy;
	int		  waits, reconnects;
	atomic_ulong	  round_trips;
};


static void
db_notice(void *arg, const char *msg)
{
	(void)arg;
	log_debug("postgresql notice: %s", msg);
}

/*
 * What each connection keeps (libpq's instance data): its pool, so that a
 * statement on a held connection can reopen it, and the statements it has
 * prepared.  Every statement is prepared once per connection and executed
 * by name from then on: PostgreSQL plans it once, not on every call.  A
 * reset or a closed connection forgets them (the server did).
 */
#define DB_STMTS_MAX	512

struct db_stmt {
	const char	*from;		/* the caller's text when prepared */
	uint64_t	 hash;
	size_t		 len;
	char		*sql;		/* a copy: callers' texts may move */
};

struct db_link {
	struct db_pool	*pool;
	size_t		 n;
	struct db_stmt	 stmts[DB_STMTS_MAX];
};

static void
db_link_forget(struct db_link *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->stmts[i].sql);
	l->n = 0;
}

static int
db_event(PGEventId id, void *info, void *pass)
{
	struct db_link	*l;

	(void)pass;
	switch (id) {
	case PGEVT_CONNRESET:
		if ((l = PQinstanceData(((PGEventConnReset *)info)->conn,
		    db_event)) != NULL)
			db_link_forget(l);
		break;
	case PGEVT_CONNDESTROY:
		if ((l = PQinstanceData(((PGEventConnDestroy *)info)->conn,
		    db_event)) != NULL) {
			db_link_forget(l);
			free(l);
		}
		break;
	default:
		break;
	}
	return 1;
}

static struct db_pool *
db_pool_of(PGconn *c)
{
	struct db_link	*l = PQinstanceData(c, db_event);

	return l != NULL ? l->pool : NULL;
}

/* This thread's round trips to the server: the request log's `db`. */
static _Thread_local unsigned long thread_round_trips;

static void
db_count_trip(PGconn *c)
{
	struct db_pool	*p = db_pool_of(c);

	thread_round_trips++;
	if (p != NULL)
		atomic_fetch_add(&p->round_trips, 1);
}

unsigned long
db_thread_round_trips(void)
{
	return thread_round_trips;
}

/* FNV-1a: the statement cache's key, with the length. */
static uint64_t
db_hash(const char *s, size_t *len)
{
	uint64_t	h = 1469598103934665603ULL;
	const char	*p;

	for (p = s; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ULL;
	*len = (size_t)(p - s);
	return h;
}

/* Session settings every connection needs; re-run after each reconnect. */
static int
db_session_setup(struct db_pool *p, PGconn *c, struct err *e)
{
	char		 timeout[32];
	const char	*params[1] = { timeout };
	PGresult	*res;

	PQsetNoticeProcessor(c, db_notice, NULL);
	snprintf(timeout, sizeof(timeout), "%ld", p->statement_timeout);
	/* No JIT: it compiled the feed anew on every call, for statements
	 * that each touch a few rows. */
	res = PQexecParams(c,
	    "SELECT set_config('statement_timeout', $1, false),"
	    " set_config('TimeZone', 'UTC', false),"
	    " set_config('application_name', 'synstackd', false),"
	    " set_config('jit', 'off', false)",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		err_set(e, ERR_DB_UNAVAILABLE, "database session setup failed");
		log_warn("database session setup failed: %s",
		    PQerrorMessage(c));
		PQclear(res);
		return -1;
	}
	PQclear(res);
	return 0;
}

static PGconn *
db_connect(struct db_pool *p, struct err *e)
{
	char		 timeout[24];
	const char	*keys[] = { "dbname", "connect_timeout", NULL };
	const char	*vals[] = { p->url, timeout, NULL };
	struct db_link	*link = NULL;
	PGconn		*c;

	/* libpq counts whole seconds and treats 1 as 2. */
	snprintf(timeout, sizeof(timeout), "%ld",
	    p->connect_timeout < 2000 ? 2 : p->connect_timeout / 1000);
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		err_set(e, ERR_DB_UNAVAILABLE, NULL);
		log_warn("cannot connect to the database: %s",
		    c != NULL ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		return NULL;
	}
	if ((link = calloc(1, sizeof(*link))) == NULL ||
	    !PQregisterEventProc(c, db_event, "synstack", NULL) ||
	    !PQsetInstanceData(c, db_event, link)) {
		err_set(e, ERR_INTERNAL, "cannot set up a database connection");
		free(link);
		PQfinish(c);
		return NULL;
	}
	link->pool = p;
	if (db_session_setup(p, c, e) == -1) {
		PQfinish(c);
		return NULL;
	}
	return c;
}

struct db_pool *
db_pool_new(const struct conf *conf, struct err *e)
{
	struct db_pool		*p;
	pthread_condattr_t	 attr;

	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->url = strdup(conf->db_url)) == NULL ||
	    (p->conns = calloc(conf->db_pool_size, sizeof(*p->conns))) ==
	    NULL || (p->busy = calloc(conf->db_pool_size, sizeof(bool))) ==
	    NULL) {
		if (p != NULL) {
			free(p->url);
			free(p->conns);
		}
		free(p);
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	p->size = (int)conf->db_pool_size;
	p->connect_timeout = conf->db_connect_timeout;
	p->statement_timeout = conf->db_statement_timeout;
	p->acquire_timeout = conf->db_acquire_timeout;
	pthread_mutex_init(&p->mtx, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &attr);
	pthread_condattr_destroy(&attr);
	return p;
}

void
db_pool_free(struct db_pool *p)
{
	int	i;

	if (p == NULL)
		return;
	for (i = 0; i < p->size; i++)
		PQfinish(p->conns[i]);
	pthread_mutex_destroy(&p->mtx);
	pthread_cond_destroy(&p->cv);
	free(p->conns);
	free(p->busy);
	free(p->url);
	free(p);
}

/* Waits up to database.acquire_timeout for a free slot. */
static int
db_take_slot(struct db_pool *p, struct err *e)
{
	struct timespec	deadline;
	int		i, rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += p->acquire_timeout / 1000;
	deadline.tv_nsec += (p->acquire_timeout % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mtx);
	for (;;) {
		/* Prefer a slot with an open connection. */
		for (i = 0; i < p->size; i++)
			if (!p->busy[i] && p->conns[i] != NULL)
				goto found;
		for (i = 0; i < p->size; i++)
			if (!p->busy[i])
				goto found;
		p->waits++;
		if (rc == ETIMEDOUT)
			break;
		rc = pthread_cond_timedwait(&p->cv, &p->mtx, &deadline);
	}
	pthread_mutex_unlock(&p->mtx);
	err_set(e, ERR_DB_UNAVAILABLE,
	    "all database connections are busy");
	return -1;
found:
	p->busy[i] = true;
	pthread_mutex_unlock(&p->mtx);
	return i;
}

static void
db_give_slot(struct db_pool *p, int i, PGconn *c)
{
	pthread_mutex_lock(&p->mtx);
	p->conns[i] = c;
	p->busy[i] = false;
	pthread_cond_signal(&p->cv);
	pthread_mutex_unlock(&p->mtx);
}

static int
db_slot_of(struct db_pool *p, PGconn *c)
{
	int	i;

	for (i = 0; i < p->size; i++)
		if (p->conns[i] == c)
			return i;
	return -1;
}

/* Reopen a broken connection in place (the PGconn pointer stays). */
static int
db_reset(struct db_pool *p, PGconn *c, struct err *e)
{
	PQreset(c);
	pthread_mutex_lock(&p->mtx);
	p->reconnects++;
	pthread_mutex_unlock(&p->mtx);
	if (PQstatus(c) != CONNECTION_OK) {
		log_warn("cannot reconnect to the database: %s",
		    PQerrorMessage(c));
		return err_set(e, ERR_DB_UNAVAILABLE, NULL);
	}
	log_info("reconnected to the database");
	return db_session_setup(p, c, e);
}

PGconn *
db_acquire(struct db_pool *p, struct err *e)
{
	PGconn	*c;
	int	 i;

	if ((i = db_take_slot(p, e)) == -1)
		return NULL;
	c = p->conns[i];
	if (c == NULL) {
		c = db_connect(p, e);
		if (c == NULL) {
			db_give_slot(p, i, NULL);
			return NULL;
		}
		pthread_mutex_lock(&p->mtx);
		p->conns[i] = c;
		pthread_mutex_unlock(&p->mtx);
		return c;
	}
	/* PQconsumeInput notices a connection the server closed while it
	 * sat idle (a restart) before a statement is lost on it. */
	if ((PQconsumeInput(c) == 0 || PQstatus(c) != CONNECTION_OK) &&
	    db_reset(p, c, e) == -1) {
		db_give_slot(p, i, c);
		return NULL;
	}
	return c;
}

void
db_release(struct db_pool *p, PGconn *c)
{
	int	i;

	if (c == NULL || (i = db_slot_of(p, c)) == -1)
		return;
	/* Never hand out a connection with a transaction left open. */
	if (PQstatus(c) == CONNECTION_OK &&
	    PQtransactionStatus(c) != PQTRANS_IDLE)
		db_rollback(c);
	db_give_slot(p, i, c);
}

static bool
db_connection_lost(PGconn *c)
{
	return PQstatus(c) != CONNECTION_OK;
}

/* The result, or NULL with e set from PostgreSQL's error. */
static PGresult *
db_check(PGconn *c, PGresult *res, struct err *e)
{
	const char	*state, *msg;

	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return res;
	default:
		break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (db_connection_lost(c) || state == NULL) {
		err_set(e, ERR_DB_UNAVAILABLE,
		    "the database connection was lost");
		log_warn("database connection lost: %s", PQerrorMessage(c));
	} else if (strcmp(state, "57014") == 0 || strncmp(state, "08", 2) == 0 ||
	    strncmp(state, "57P", 3) == 0) {
		/* timeout, connection or shutdown classes */
		err_set(e, ERR_DB_UNAVAILABLE, NULL);
		log_warn("database unavailable: sqlstate=%s %s", state,
		    msg != NULL ? msg : "");
	} else {
		err_set(e, ERR_INTERNAL, NULL);
		/* Callers turn expected states (unique_violation) into their
		 * own errors; the rest is a bug, logged with this detail when
		 * it reaches a client as a 500. */
		if (e != NULL)
			snprintf(e->detail, sizeof(e->detail), "sqlstate %s: %s",
			    state, msg != NULL ? msg : "");
	}
	if (e != NULL && state != NULL)
		strlcpy_ss(e->sqlstate, state, sizeof(e->sqlstate));
	PQclear(res);
	return NULL;
}

/* The statement run by the name it was prepared under on this
 * connection (prepared now if it was not): one round trip but the
 * first. */
static PGresult *
db_send(PGconn *c, struct err *e, const char *sql, int n,
    const char *const *params)
{
	struct db_link	*l = PQinstanceData(c, db_event);
	struct db_stmt	*st;
	PGresult	*res;
	uint64_t	 h = 0;
	size_t		 len = 0, i;
	char		 name[16];

	db_count_trip(c);
	if (l == NULL)
		return db_check(c, PQexecParams(c, sql, n, NULL, params, NULL,
		    NULL, 0), e);
	/* Statements are mostly constants: the same address, checked, saves
	 * hashing a text of kilobytes on every call. */
	for (i = 0; i < l->n; i++)
		if (l->stmts[i].from == sql && strcmp(l->stmts[i].sql, sql) == 0)
			break;
	if (i == l->n) {
		h = db_hash(sql, &len);
		for (i = 0; i < l->n; i++)
			if (l->stmts[i].hash == h && l->stmts[i].len == len &&
			    strcmp(l->stmts[i].sql, sql) == 0)
				break;
	}
	snprintf(name, sizeof(name), "ss%zu", i);
	if (i == l->n) {
		if (l->n == DB_STMTS_MAX)	/* never, but not a failure */
			return db_check(c, PQexecParams(c, sql, n, NULL, params,
			    NULL, NULL, 0), e);
		if ((res = db_check(c, PQprepare(c, name, sql, n, NULL),
		    e)) == NULL)
			return NULL;
		PQclear(res);
		db_count_trip(c);
		st = &l->stmts[l->n];
		if ((st->sql = strdup(sql)) == NULL) {
			err_set(e, ERR_INTERNAL, "out of memory");
			return NULL;
		}
		st->from = sql;
		st->hash = h;
		st->len = len;
		l->n++;
	}
	return db_check(c, PQexecPrepared(c, name, n, params, NULL, NULL, 0),
	    e);
}

PGresult *
db_query(PGconn *c, struct err *e, const char *sql, int n,
    const char *const *params)
{
	struct db_pool	*p = db_pool_of(c);
	PGresult	*res;
	bool		 idle = PQtransactionStatus(c) == PQTRANS_IDLE;

	res = db_send(c, e, sql, n, params);
	/*
	 * Outside a transaction, a connection found dead by this statement
	 * lost nothing of ours (a statement cut off runs in no transaction
	 * that could have committed): reopen it and send it once more.
	 * Inside one, the transaction is gone and the caller fails cleanly.
	 */
	if (res == NULL && idle && p != NULL && db_connection_lost(c) &&
	    db_reset(p, c, e) == 0) {
		err_clear(e);
		res = db_send(c, e, sql, n, params);
	}
	return res;
}

PGresult *
db_exec(struct db_pool *p, struct err *e, const char *sql, int n,
    const char *const *params)
{
	PGconn		*c;
	PGresult	*res;

	if ((c = db_acquire(p, e)) == NULL)
		return NULL;
	res = db_query(c, e, sql, n, params);
	db_release(p, c);
	return res;
}

int
db_run(PGconn *c, struct err *e, const char *sql, int n,
    const char *const *params)
{
	PGresult	*res = db_query(c, e, sql, n, params);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

static int
db_simple(PGconn *c, const char *sql, struct err *e)
{
	return db_run(c, e, sql, 0, NULL);
}

int
db_begin(PGconn *c, struct err *e)
{
	return db_simple(c, "BEGIN", e);
}

int
db_commit(PGconn *c, struct err *e)
{
	return db_simple(c, "COMMIT", e);
}

void
db_rollback(PGconn *c)
{
	PGresult	*res;

	db_count_trip(c);
	res = PQexec(c, "ROLLBACK");

	PQclear(res);
}

bool
db_unique_violation(const struct err *e)
{
	return strcmp(e->sqlstate, "23505") == 0;
}

/* Worth running the transaction again: a unique index another
 * transaction just filled, a serialization failure, a deadlock. */
bool
db_retryable(const struct err *e)
{
	return db_unique_violation(e) || strcmp(e->sqlstate, "40001") == 0 ||
	    strcmp(e->sqlstate, "40P01") == 0;
}

void
db_pool_stats(struct db_pool *p, struct db_pool_stats *st)
{
	int	i;

	memset(st, 0, sizeof(*st));
	pthread_mutex_lock(&p->mtx);
	st->size = p->size;
	for (i = 0; i < p->size; i++) {
		if (p->conns[i] != NULL && PQstatus(p->conns[i]) ==
		    CONNECTION_OK)
			st->open++;
		if (p->busy[i])
			st->in_use++;
	}
	st->waits = p->waits;
	st->reconnects = p->reconnects;
	st->round_trips = atomic_load(&p->round_trips);
	pthread_mutex_unlock(&p->mtx);
}

int
db_ping(struct db_pool *p, long *usec, struct err *e)
{
	struct timespec	 t0, t1;
	PGresult	*res;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if ((res = db_exec(p, e, "SELECT 1", 0, NULL)) == NULL)
		return -1;
	PQclear(res);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	*usec = (t1.tv_sec - t0.tv_sec) * 1000000L +
	    (t1.tv_nsec - t0.tv_nsec) / 1000;
	return 0;
}

/*
 * A connection of its own that LISTENs: PostgreSQL's notices of what
 * changed (agents, deliveries queued) reach every daemon at commit.
 * Lost, it is opened again a second later; the caller learns of both
 * from db_listener_wait's answer, since notices sent meanwhile are gone.
 */
struct db_listener {
	struct db_pool		*pool;
	const char *const	*channels;
	PGconn			*c;
	long			 retry_at;	/* now_ms() */
};

struct db_listener *
db_listener_new(struct db_pool *p, const char *const *channels)
{
	struct db_listener	*l;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->pool = p;
	l->channels = channels;
	return l;
}

void
db_listener_free(struct db_listener *l)
{
	if (l == NULL)
		return;
	PQfinish(l->c);
	free(l);
}

static void
db_listener_drop(struct db_listener *l, const char *why)
{
	log_warn("database listener lost (%s); notices resume when it is back",
	    why);
	PQfinish(l->c);
	l->c = NULL;
	l->retry_at = now_ms() + 1000;
}

static int
db_listener_open(struct db_listener *l)
{
	char		 timeout[24], sql[128], *id;
	/* Over TCP, a peer gone silent is found within a minute. */
	const char	*keys[] = { "dbname", "connect_timeout", "keepalives_idle",
			    "keepalives_interval", "keepalives_count", NULL };
	const char	*vals[] = { l->pool->url, timeout, "20", "10", "3",
			    NULL };
	PGresult	*res;
	size_t		 i;

	snprintf(timeout, sizeof(timeout), "%ld",
	    l->pool->connect_timeout < 2000 ? 2 :
	    l->pool->connect_timeout / 1000);
	l->c = PQconnectdbParams(keys, vals, 1);
	if (l->c == NULL || PQstatus(l->c) != CONNECTION_OK) {
		PQfinish(l->c);
		l->c = NULL;
		l->retry_at = now_ms() + 1000;
		return -1;
	}
	for (i = 0; l->channels[i] != NULL; i++) {
		if ((id = PQescapeIdentifier(l->c, l->channels[i],
		    strlen(l->channels[i]))) == NULL) {
			db_listener_drop(l, "out of memory");
			return -1;
		}
		snprintf(sql, sizeof(sql), "LISTEN %s", id);
		PQfreemem(id);
		res = PQexec(l->c, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			PQclear(res);
			db_listener_drop(l, PQerrorMessage(l->c));
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

int
db_listener_wait(struct db_listener *l, long ms,
    void (*fn)(const char *, const char *, void *), void *arg)
{
	struct pollfd	 pfd;
	struct timespec	 ts = { ms / 1000, (ms % 1000) * 1000000L };
	PGnotify	*n;

	if (l->c == NULL && (now_ms() < l->retry_at ||
	    db_listener_open(l) == -1)) {
		nanosleep(&ts, NULL);
		return 0;
	}
	pfd.fd = PQsocket(l->c);
	pfd.events = POLLIN;
	pfd.revents = 0;
	if (poll(&pfd, 1, (int)ms) == -1 && errno != EINTR) {
		db_listener_drop(l, strerror(errno));
		return 0;
	}
	if (pfd.revents != 0 && (PQconsumeInput(l->c) == 0 ||
	    PQstatus(l->c) != CONNECTION_OK)) {
		db_listener_drop(l, PQerrorMessage(l->c));
		return 0;
	}
	while ((n = PQnotifies(l->c)) != NULL) {
		fn(n->relname, n->extra, arg);
		PQfreemem(n);
	}
	return 1;
}
