/*
 * load.c: the benchmark's HTTP load driver.  Threads, each with one
 * keep-alive HTTP/1.1 connection over a plain socket, send requests read
 * from a file and time every one.
 *
 *   load -u HOST:PORT -f FILE [-c CLIENTS] [-d SECONDS] [-w SECONDS]
 *        [-g GROUP] [-r RATE] [-o LATENCIES]
 *
 * Closed loop (the default): client i sends the requests of list
 * i mod (lists in the file) in turn, one at a time, for -d seconds after
 * -w seconds of warm-up.  -g N makes N consecutive requests one unit (a
 * claim and its abandon): a unit's latency is the sum of its requests',
 * a unit under way at the end is finished but not counted, and the lists
 * should hold whole units.
 *
 * Open loop (-r RATE): the requests of every list, in file order, are sent
 * at RATE per second in all, request k at start + k / RATE, by whichever
 * client is free; a request's latency counts from when it was due, so a
 * server that falls behind is not excused by the driver waiting for it.
 * Requests due in the first -w seconds are not counted.  Each request is
 * sent once; the file must hold RATE x (warm-up + duration) of them.
 *
 * The file: "SYNLOAD 1\n", then for each list "L\n" followed by its
 * requests, each "R <bytes>\n" and that many bytes (the request exactly as
 * sent: request line, headers, blank line, body), then "\n".
 *
 * Output, one line of key=value: mode clients seconds units rate p50_ms
 * p90_ms p99_ms max_ms errors statuses (status:count,...; "conn" counts
 * requests whose connection failed).  -o writes every counted unit's
 * latency in microseconds, one a line.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS	256
#define STATUS_SLOTS	600	/* HTTP statuses; slot 0 counts failed connections */
#define RESP_BUF	(64 * 1024)
#define IO_TIMEOUT_S	30

struct req {
	char	*data;
	size_t	 len;
};

struct list {
	struct req	*v;
	size_t		 n, cap;
};

struct lat {
	uint64_t	*v;		/* microseconds */
	size_t		 n, cap;
};

struct client {
	pthread_t	 thread;
	int		 id;
	int		 fd;
	char		*buf;
	size_t		 have;		/* bytes of the next response read ahead */
	struct lat	 lat;
	unsigned long	 status[STATUS_SLOTS];
	unsigned long	 errors;
};

static struct {
	struct sockaddr_in	 addr;
	struct list		*lists;
	size_t			 nlists;
	struct req		*all;		/* open loop: every request */
	size_t			 nall;
	int			 clients;
	double			 duration, warmup, rate;
	int			 group;
	uint64_t		 t0, warm_end, deadline;	/* ns */
	atomic_size_t		 next;		/* open loop: next request */
} G;

static void die(const char *, ...) __attribute__((format(printf, 1, 2),
    noreturn));

static void
die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "load: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static uint64_t
now_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
sleep_until(uint64_t t)
{
	struct timespec	ts;

	ts.tv_sec = (time_t)(t / 1000000000ULL);
	ts.tv_nsec = (long)(t % 1000000000ULL);
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) ==
	    EINTR)
		;
}

static void *
xrealloc(void *p, size_t n)
{
	void	*q = realloc(p, n);

	if (q == NULL)
		die("%s", "out of memory");
	return q;
}

static void
lat_add(struct lat *l, uint64_t us)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 4096;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n++] = us;
}

/* -- the request file ------------------------------------------------- */

static void
load_file(const char *path)
{
	FILE		*f;
	char		 line[64];
	struct list	*cur = NULL;
	struct req	*r;
	size_t		 len;

	if ((f = fopen(path, "rb")) == NULL)
		die("cannot open %s", path);
	if (fgets(line, sizeof(line), f) == NULL ||
	    strcmp(line, "SYNLOAD 1\n") != 0)
		die("%s: not a request file (no SYNLOAD 1 line)", path);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strcmp(line, "L\n") == 0) {
			G.lists = xrealloc(G.lists, (G.nlists + 1) *
			    sizeof(*G.lists));
			cur = &G.lists[G.nlists++];
			memset(cur, 0, sizeof(*cur));
			continue;
		}
		if (line[0] != 'R' || line[1] != ' ' || cur == NULL)
			die("%s: bad line in the request file", path);
		len = strtoul(line + 2, NULL, 10);
		if (len == 0 || len > 64 * 1024 * 1024)
			die("%s: bad request length", path);
		if (cur->n == cur->cap) {
			cur->cap = cur->cap ? cur->cap * 2 : 16;
			cur->v = xrealloc(cur->v, cur->cap * sizeof(*cur->v));
		}
		r = &cur->v[cur->n++];
		r->len = len;
		r->data = xrealloc(NULL, len);
		if (fread(r->data, 1, len, f) != len || fgetc(f) != '\n')
			die("%s: truncated request", path);
	}
	fclose(f);
	if (G.nlists == 0)
		die("%s: no request list", path);
	for (len = 0; len < G.nlists; len++)
		if (G.lists[len].n == 0)
			die("%s: an empty request list", path);
}

/* -- HTTP ------------------------------------------------------------------ */

static int
conn_open(struct client *c)
{
	int	one = 1;
	struct timeval tv = { IO_TIMEOUT_S, 0 };

	c->have = 0;
	if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (struct sockaddr *)&G.addr, sizeof(G.addr)) == -1) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return 0;
}

static void
conn_close(struct client *c)
{
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->have = 0;
}

static int
write_all(int fd, const char *p, size_t n)
{
	ssize_t	w;

	while (n > 0) {
		if ((w = send(fd, p, n, MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* More bytes into c->buf; 0 at EOF, -1 on error. */
static ssize_t
fill(struct client *c)
{
	ssize_t	r;

	if (c->have == RESP_BUF)
		return -1;		/* a head larger than the buffer */
	do
		r = recv(c->fd, c->buf + c->have, RESP_BUF - c->have, 0);
	while (r == -1 && errno == EINTR);
	if (r > 0)
		c->have += (size_t)r;
	return r;
}

/* Drops n bytes of body, some of which may be in the buffer already. */
static int
skip_body(struct client *c, size_t off, size_t n)
{
	while (c->have - off < n) {
		n -= c->have - off;
		c->have = off = 0;
		if (fill(c) <= 0)
			return -1;
	}
	memmove(c->buf, c->buf + off + n, c->have - off - n);
	c->have -= off + n;
	return 0;
}

static const char *
find_header(const char *head, size_t len, const char *name)
{
	size_t		 n = strlen(name);
	const char	*p = head, *end = head + len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			break;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 &&
		    p[n] == ':') {
			p += n + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			return p;
		}
		p = eol + 1;
	}
	return NULL;
}

/* Chunked body: chunk sizes, data, the trailer. */
static int
skip_chunked(struct client *c, size_t off)
{
	char	*eol;
	size_t	 size;

	for (;;) {
		while ((eol = memchr(c->buf + off, '\n', c->have - off)) == NULL) {
			memmove(c->buf, c->buf + off, c->have - off);
			c->have -= off;
			off = 0;
			if (fill(c) <= 0)
				return -1;
		}
		size = strtoul(c->buf + off, NULL, 16);
		off = (size_t)(eol - c->buf) + 1;
		if (size == 0)
			break;
		if (skip_body(c, off, size + 2) == -1)
			return -1;
		off = 0;
	}
	/* The trailer ends at an empty line. */
	for (;;) {
		while ((eol = memchr(c->buf + off, '\n', c->have - off)) == NULL) {
			memmove(c->buf, c->buf + off, c->have - off);
			c->have -= off;
			off = 0;
			if (fill(c) <= 0)
				return -1;
		}
		if (eol == c->buf + off || (eol == c->buf + off + 1 &&
		    c->buf[off] == '\r')) {
			off = (size_t)(eol - c->buf) + 1;
			break;
		}
		off = (size_t)(eol - c->buf) + 1;
	}
	memmove(c->buf, c->buf + off, c->have - off);
	c->have -= off;
	return 0;
}

/* Sends one request and reads its response: the status, or -1. */
static int
exchange(struct client *c, const struct req *r)
{
	char		*end;
	const char	*v;
	size_t		 head;
	int		 status, tries;
	bool		 close_after;

	for (tries = 0; tries < 2; tries++) {
		if (c->fd == -1 && conn_open(c) == -1)
			return -1;
		if (write_all(c->fd, r->data, r->len) == 0)
			break;
		/* A keep-alive connection the server closed meanwhile. */
		conn_close(c);
	}
	if (c->fd == -1)
		return -1;
	for (;;) {
		if (c->have >= 4 && (end = memmem(c->buf, c->have, "\r\n\r\n",
		    4)) != NULL)
			break;
		if (fill(c) <= 0) {
			conn_close(c);
			return -1;
		}
	}
	head = (size_t)(end - c->buf) + 4;
	if (head < 12 || strncmp(c->buf, "HTTP/1.", 7) != 0) {
		conn_close(c);
		return -1;
	}
	status = atoi(c->buf + 9);
	v = find_header(c->buf, head, "Connection");
	close_after = v != NULL && strncasecmp(v, "close", 5) == 0;
	if ((v = find_header(c->buf, head, "Transfer-Encoding")) != NULL &&
	    strncasecmp(v, "chunked", 7) == 0) {
		if (skip_chunked(c, head) == -1) {
			conn_close(c);
			return -1;
		}
	} else if ((v = find_header(c->buf, head, "Content-Length")) != NULL) {
		if (skip_body(c, head, strtoul(v, NULL, 10)) == -1) {
			conn_close(c);
			return -1;
		}
	} else {
		/* No length: the body runs to the end of the connection. */
		while (fill(c) > 0)
			c->have = 0;
		close_after = true;
	}
	if (close_after)
		conn_close(c);
	return status;
}

static void
count(struct client *c, int status)
{
	if (status < 0 || status >= STATUS_SLOTS)
		status = 0;
	c->status[status]++;
	if (status < 200 || status > 299)
		c->errors++;
}

/* -- the loops ---------------------------------------------------------- */

static void *
closed_loop(void *arg)
{
	struct client	*c = arg;
	struct list	*l = &G.lists[(size_t)c->id % G.nlists];
	size_t		 i = 0, k;
	uint64_t	 start, t, sum;
	int		 st;

	for (;;) {
		start = now_ns();
		if (start >= G.deadline)
			break;
		sum = 0;
		for (k = 0; k < (size_t)G.group; k++) {
			t = now_ns();
			st = exchange(c, &l->v[i]);
			sum += now_ns() - t;
			i = (i + 1) % l->n;
			if (start >= G.warm_end)
				count(c, st);
		}
		if (start >= G.warm_end && now_ns() <= G.deadline)
			lat_add(&c->lat, sum / 1000);
	}
	return NULL;
}

static void *
open_loop(void *arg)
{
	struct client	*c = arg;
	uint64_t	 due;
	size_t		 k;
	int		 st;

	for (;;) {
		k = atomic_fetch_add(&G.next, 1);
		if (k >= G.nall)
			break;
		due = G.t0 + (uint64_t)((double)k * 1e9 / G.rate);
		if (due >= G.deadline)
			break;
		sleep_until(due);
		st = exchange(c, &G.all[k]);
		if (due >= G.warm_end) {
			count(c, st);
			lat_add(&c->lat, (now_ns() - due) / 1000);
		}
	}
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
pct(const uint64_t *v, size_t n, double q)
{
	size_t	i;

	if (n == 0)
		return 0;
	i = (size_t)(q * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1000.0;
}

static void
usage(void)
{
	fprintf(stderr, "usage: load -u HOST:PORT -f FILE [-c CLIENTS]"
	    " [-d SECONDS] [-w SECONDS] [-g GROUP] [-r RATE] [-o FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct client	*cl;
	struct lat	 all = { 0 };
	unsigned long	 status[STATUS_SLOTS] = { 0 }, errors = 0;
	const char	*url = NULL, *file = NULL, *out = NULL;
	char		 host[256], *colon;
	double		 secs;
	size_t		 i, j;
	int		 ch, n, first = 1;
	FILE		*f;

	G.clients = 1;
	G.duration = 10;
	G.group = 1;
	while ((ch = getopt(argc, argv, "u:f:c:d:w:g:r:o:")) != -1) {
		switch (ch) {
		case 'u': url = optarg; break;
		case 'f': file = optarg; break;
		case 'c': G.clients = atoi(optarg); break;
		case 'd': G.duration = atof(optarg); break;
		case 'w': G.warmup = atof(optarg); break;
		case 'g': G.group = atoi(optarg); break;
		case 'r': G.rate = atof(optarg); break;
		case 'o': out = optarg; break;
		default: usage();
		}
	}
	if (url == NULL || file == NULL || G.clients < 1 ||
	    G.clients > MAX_CLIENTS || G.duration <= 0 || G.warmup < 0 ||
	    G.group < 1 || G.rate < 0)
		usage();
	snprintf(host, sizeof(host), "%s", url);
	if ((colon = strrchr(host, ':')) == NULL)
		usage();
	*colon = '\0';
	memset(&G.addr, 0, sizeof(G.addr));
	G.addr.sin_family = AF_INET;
	G.addr.sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &G.addr.sin_addr) != 1)
		die("%s: give an IPv4 address and a port", url);
	load_file(file);
	if (G.rate > 0) {
		for (i = 0; i < G.nlists; i++)
			G.nall += G.lists[i].n;
		G.all = xrealloc(NULL, G.nall * sizeof(*G.all));
		for (G.nall = 0, i = 0; i < G.nlists; i++)
			for (j = 0; j < G.lists[i].n; j++)
				G.all[G.nall++] = G.lists[i].v[j];
		atomic_init(&G.next, 0);
	}

	cl = calloc((size_t)G.clients, sizeof(*cl));
	if (cl == NULL)
		die("%s", "out of memory");
	/* Connections first, so that connecting is not timed. */
	for (n = 0; n < G.clients; n++) {
		cl[n].id = n;
		cl[n].buf = xrealloc(NULL, RESP_BUF);
		if (conn_open(&cl[n]) == -1)
			die("cannot connect to %s", url);
	}
	G.t0 = now_ns() + 10000000ULL;	/* 10 ms for the threads to start */
	G.warm_end = G.t0 + (uint64_t)(G.warmup * 1e9);
	G.deadline = G.warm_end + (uint64_t)(G.duration * 1e9);
	for (n = 0; n < G.clients; n++)
		if (pthread_create(&cl[n].thread, NULL, G.rate > 0 ? open_loop :
		    closed_loop, &cl[n]) != 0)
			die("%s", "cannot start a thread");
	for (n = 0; n < G.clients; n++) {
		pthread_join(cl[n].thread, NULL);
		conn_close(&cl[n]);
		for (i = 0; i < cl[n].lat.n; i++)
			lat_add(&all, cl[n].lat.v[i]);
		for (i = 0; i < STATUS_SLOTS; i++)
			status[i] += cl[n].status[i];
		errors += cl[n].errors;
		free(cl[n].lat.v);
		free(cl[n].buf);
	}
	free(cl);
	qsort(all.v, all.n, sizeof(*all.v), cmp_u64);
	secs = G.duration;
	if (G.rate > 0 && G.nall < (size_t)(G.rate * (G.warmup + G.duration)))
		secs = (double)G.nall / G.rate - G.warmup;
	printf("mode=%s clients=%d seconds=%.2f units=%zu rate=%.1f"
	    " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%lu"
	    " statuses=", G.rate > 0 ? "open" : "closed", G.clients, secs,
	    all.n, secs > 0 ? (double)all.n / secs : 0.0,
	    pct(all.v, all.n, 0.50), pct(all.v, all.n, 0.90),
	    pct(all.v, all.n, 0.99), all.n ? (double)all.v[all.n - 1] / 1000.0 :
	    0.0, errors);
	for (i = 0; i < STATUS_SLOTS; i++)
		if (status[i] > 0) {
			if (i == 0)
				printf("%sconn:%lu", first ? "" : ",", status[i]);
			else
				printf("%s%zu:%lu", first ? "" : ",", i, status[i]);
			first = 0;
		}
	printf("%s\n", first ? "none" : "");
	if (out != NULL) {
		if ((f = fopen(out, "w")) == NULL)
			die("cannot write %s", out);
		for (i = 0; i < all.n; i++)
			fprintf(f, "%llu\n", (unsigned long long)all.v[i]);
		fclose(f);
	}
	free(all.v);
	return 0;
}
