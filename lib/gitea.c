/*
 * gitea.c: the Gitea client on libcurl.  Every call is bounded (connect
 * and total timeouts, a cap on the answer's size, http and https only, no
 * redirects), speaks Gitea's pagination, and maps Gitea's answers to our
 * error codes.  The admin token goes in a header and nowhere else.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "synstack.h"

#define GITEA_MAX_ANSWER	(16 * 1024 * 1024)
#define GITEA_MAX_DEPTH		64
#define GITEA_READ_TRIES	3
#ifdef SYNSTACK_FUZZING
#define GITEA_BACKOFF_MS	0	/* nothing worth waiting for */
#else
#define GITEA_BACKOFF_MS	250
#endif

static atomic_ulong	stat_calls, stat_failures, stat_retries;

/* Whether Gitea answered the last call: every call says, so /healthz
 * knows of an outage as soon as a call fails, not at the next probe.
 * And whether it takes the admin token: gitea_check_token() asks, and any
 * call refused with 401 says no. */
static struct {
	pthread_mutex_t	mtx;
	bool		known, up;
	char		error[256];
	enum gitea_token token;
	unsigned long	refusals;	/* so a check's yes never hides a later no */
	char		token_error[800];
} health = { .mtx = PTHREAD_MUTEX_INITIALIZER };

static unsigned long
gitea_token_refusals(void)
{
	unsigned long	n;

	pthread_mutex_lock(&health.mtx);
	n = health.refusals;
	pthread_mutex_unlock(&health.mtx);
	return n;
}

/* Taken, by a check that started when refusals were at since. */
static void
gitea_token_taken(unsigned long since)
{
	pthread_mutex_lock(&health.mtx);
	if (health.refusals == since) {
		if (health.token == GITEA_TOKEN_REFUSED)
			log_info("Gitea takes gitea.admin_token again");
		health.token = GITEA_TOKEN_OK;
		health.token_error[0] = '\0';
	}
	pthread_mutex_unlock(&health.mtx);
}

/* Refused: why, with the hint that says what to do; logged once. */
static void
gitea_token_refused(const struct err *e)
{
	char	why[800];	/* message, ": ", hint */

	snprintf(why, sizeof(why), "%s%s%s", e->message,
	    e->hint[0] != '\0' ? ": " : "", e->hint);
	pthread_mutex_lock(&health.mtx);
	if (health.token != GITEA_TOKEN_REFUSED)
		log_warn("Gitea refuses gitea.admin_token: %s", why);
	health.token = GITEA_TOKEN_REFUSED;
	health.refusals++;
	strlcpy_ss(health.token_error, why, sizeof(health.token_error));
	pthread_mutex_unlock(&health.mtx);
}

enum gitea_token
gitea_token_state(char *error, size_t size)
{
	enum gitea_token	token;

	pthread_mutex_lock(&health.mtx);
	token = health.token;
	if (error != NULL)
		strlcpy_ss(error, health.token_error, size);
	pthread_mutex_unlock(&health.mtx);
	return token;
}

static void
gitea_note(bool up, const char *error)
{
	pthread_mutex_lock(&health.mtx);
	if (!up && (!health.known || health.up))
		log_warn("Gitea is unreachable: %s", error);
	else if (health.known && !health.up && up)
		log_info("Gitea is reachable again");
	health.known = true;
	health.up = up;
	strlcpy_ss(health.error, up ? "" : error, sizeof(health.error));
	pthread_mutex_unlock(&health.mtx);
}

bool
gitea_health(char *error, size_t size)
{
	bool	up;

	pthread_mutex_lock(&health.mtx);
	up = health.up;
	if (error != NULL)
		strlcpy_ss(error, health.error, size);
	pthread_mutex_unlock(&health.mtx);
	return up;
}

struct gitea_buf {
	char	*data;
	size_t	 len;
	bool	 too_large;
};

void
gitea_global_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
gitea_stats_get(struct gitea_stats *st)
{
	st->calls = atomic_load(&stat_calls);
	st->failures = atomic_load(&stat_failures);
	st->retries = atomic_load(&stat_retries);
}

void
gitea_resp_free(struct gitea_resp *r)
{
	json_object_put(r->json);
	free(r->next);
	memset(r, 0, sizeof(*r));
	r->total = -1;
	r->date = -1;
}

char *
gitea_escape(const char *s)
{
	char	*e = curl_easy_escape(NULL, s, 0), *out;

	if (e == NULL)
		return NULL;
	out = strdup(e);
	curl_free(e);
	return out;
}

void
gitea_repo_path(char *buf, size_t size, const char *owner, const char *name,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*o = gitea_escape(owner), *n = gitea_escape(name);
	int	 len;

	len = snprintf(buf, size, "/repos/%s/%s", o != NULL ? o : "",
	    n != NULL ? n : "");
	free(o);
	free(n);
	if (len < 0 || (size_t)len >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + len, size - (size_t)len, fmt, ap);
	va_end(ap);
}

static size_t
gitea_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct gitea_buf	*b = arg;
	size_t			 n = size * nmemb;
	char			*p;

	if (b->len + n > GITEA_MAX_ANSWER) {
		b->too_large = true;
		return 0;
	}
	if ((p = realloc(b->data, b->len + n + 1)) == NULL)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/*
 * Link: <ROOT_URL/api/v1/...?page=2>; rel="next",<...>; rel="last"
 * Keep the part after /api/v1 of the next link: ROOT_URL may name a public
 * address while we talk to Gitea through another.
 */
static char *
link_next(const char *v)
{
	const char	*rel, *lt, *gt, *api;

	for (rel = strstr(v, "rel=\"next\""); rel != NULL; rel = NULL) {
		for (lt = rel; lt > v && *lt != '<'; lt--)
			;
		if (*lt != '<' || (gt = strchr(lt, '>')) == NULL || gt > rel)
			return NULL;
		if ((api = strstr(lt, "/api/v1/")) == NULL || api > gt)
			return NULL;
		api += strlen("/api/v1");
		return strndup(api, (size_t)(gt - api));
	}
	return NULL;
}

static size_t
gitea_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct gitea_resp	*r = arg;
	size_t			 n = size * nitems;
	char			 line[4096];

	if (n >= sizeof(line))
		return n;
	memcpy(line, buf, n);
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncasecmp(line, "X-Total-Count:", 14) == 0)
		r->total = strtol(line + 14, NULL, 10);
	else if (strncasecmp(line, "Link:", 5) == 0) {
		free(r->next);
		r->next = link_next(line + 5);
	} else if (strncasecmp(line, "Date:", 5) == 0)
		r->date = curl_getdate(line + 5, NULL);
	return n;
}

static void
gitea_message(struct gitea_resp *r)
{
	json_object	*m;

	if (r->json != NULL && json_object_object_get_ex(r->json, "message",
	    &m) && json_object_is_type(m, json_type_string))
		strlcpy_ss(r->message, json_object_get_string(m),
		    sizeof(r->message));
}

/* Our error for a Gitea answer that was not a success. */
static int
gitea_fail(const struct gitea_req *q, struct gitea_resp *r, CURLcode rc,
    bool too_large, struct err *e)
{
	const char	*what = q->path;

	if (rc != CURLE_OK) {
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea did not answer %s %.200s:"
		    " %s", q->method, what, too_large ? "answer too large" :
		    curl_easy_strerror(rc));
		return -1;
	}
	gitea_message(r);
	switch (r->status) {
	case 401:
	case 403:
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea refused our credentials"
		    " for %s %.200s (HTTP %ld): %.200s", q->method, what,
		    r->status, r->message);
		err_hint(e, "check gitea.admin_token and that its user is a site"
		    " admin");
		break;
	case 404:
		err_set(e, ERR_NOT_FOUND, "Gitea has no %.200s", what);
		break;
	case 409:
		err_set(e, ERR_CONFLICT, "Gitea: %.200s", r->message);
		break;
	case 400:
	case 405:
	case 412:
	case 422:
		err_set(e, ERR_GITEA_REFUSED, "Gitea refused %s %.200s (HTTP"
		    " %ld): %.200s", q->method, what, r->status, r->message);
		break;
	default:
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea answered HTTP %ld to %s"
		    " %.200s", r->status, q->method, what);
		break;
	}
	return -1;
}

static int
gitea_once(const struct conf *conf, const struct gitea_req *q,
    struct gitea_resp *r, struct err *e)
{
	CURL			*curl;
	CURLcode		 rc;
	struct curl_slist	*hdrs = NULL;
	struct gitea_buf	 b = { NULL, 0, false };
	char			*url, line[512];
	const char		*body = NULL;
	size_t			 ulen, base;
	int			 ret = -1;

	gitea_resp_free(r);
	ulen = strlen(conf->gitea_url) + strlen(q->path) +
	    (q->query != NULL ? strlen(q->query) : 0) + 16;
	if ((url = malloc(ulen)) == NULL || (curl = curl_easy_init()) == NULL) {
		free(url);
		return err_set(e, ERR_INTERNAL, "out of memory");
	}
	/* gitea.url may end in '/'; the path always starts with one. */
	base = strlen(conf->gitea_url);
	if (base > 0 && conf->gitea_url[base - 1] == '/')
		base--;
	snprintf(url, ulen, "%.*s/api/v1%s%s%s", (int)base, conf->gitea_url,
	    q->path, q->query != NULL ? "?" : "",
	    q->query != NULL ? q->query : "");
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (q->basic_user != NULL) {
		curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
		curl_easy_setopt(curl, CURLOPT_USERNAME, q->basic_user);
		curl_easy_setopt(curl, CURLOPT_PASSWORD, q->basic_password);
	} else if (conf->gitea_admin_token[0] != '\0') {
		snprintf(line, sizeof(line), "Authorization: token %s",
		    conf->gitea_admin_token);
		hdrs = curl_slist_append(hdrs, line);
		sodium_memzero(line, sizeof(line));
	}
	if (q->sudo != NULL) {
		snprintf(line, sizeof(line), "Sudo: %s", q->sudo);
		hdrs = curl_slist_append(hdrs, line);
	}
	if (q->body != NULL) {
		body = json_object_to_json_string_ext(q->body,
		    JSON_C_TO_STRING_PLAIN);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
	}
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, q->method);
	if (strcmp(q->method, "GET") == 0)
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, conf->gitea_timeout);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, conf->gitea_timeout);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, gitea_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, gitea_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, r);
	atomic_fetch_add(&stat_calls, 1);
	rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_cleanup(curl);
	curl_slist_free_all(hdrs);
	free(url);
	if (rc == CURLE_OK && b.len > 0 &&
	    (r->json = json_parse_strict(b.data, b.len, GITEA_MAX_DEPTH, e)) ==
	    NULL && r->status >= 200 && r->status < 300) {
		err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea's answer to %s %.200s"
		    " is not JSON", q->method, q->path);
		goto out;
	}
	if (rc == CURLE_OK && r->status >= 200 && r->status < 300)
		ret = 0;
	else
		gitea_fail(q, r, rc, b.too_large, e);
out:
	/* 401 is Gitea's answer to a token it does not know; 403 to the
	 * site admin API, a token without its scope or of a user no longer
	 * an admin.  (Elsewhere, and under Sudo, 403 may be a user's
	 * missing right.) */
	if (rc == CURLE_OK && q->basic_user == NULL && e != NULL &&
	    (r->status == 401 || (r->status == 403 && q->sudo == NULL &&
	    strncmp(q->path, "/admin/", 7) == 0)))
		gitea_token_refused(e);
	if (ret == -1 && (rc != CURLE_OK || r->status >= 500)) {
		atomic_fetch_add(&stat_failures, 1);
		gitea_note(false, e != NULL ? e->message : "no answer");
	} else
		gitea_note(true, NULL);
	free(b.data);
	return ret;
}

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int
gitea_call(const struct conf *conf, const struct gitea_req *q0,
    struct gitea_resp *r, struct err *e)
{
	struct gitea_req	q = *q0;
	int			try, rc;
	bool			read;

	if (q.method == NULL)
		q.method = "GET";
	read = strcmp(q.method, "GET") == 0;
	for (try = 1; ; try++) {
		rc = gitea_once(conf, &q, r, e);
		/* Only reads are retried: a write may have happened. */
		if (rc == 0 || !read || try == GITEA_READ_TRIES ||
		    (r->status != 0 && r->status < 500 && r->status != 429))
			return rc;
		atomic_fetch_add(&stat_retries, 1);
		sleep_ms(GITEA_BACKOFF_MS << (try - 1));
	}
}

static json_object *
gitea_items(json_object *page, bool wrapped)
{
	json_object	*data;

	if (wrapped && page != NULL &&
	    json_object_object_get_ex(page, "data", &data))
		page = data;
	return page != NULL && json_object_is_type(page, json_type_array) ?
	    page : NULL;
}

int
gitea_list(const struct conf *conf, const char *path, const char *query,
    const char *sudo, bool wrapped, gitea_item_fn fn, void *arg,
    struct err *e)
{
	return gitea_list_dated(conf, path, query, sudo, wrapped, fn, arg, NULL,
	    e);
}

int
gitea_list_dated(const struct conf *conf, const char *path,
    const char *query, const char *sudo, bool wrapped, gitea_item_fn fn,
    void *arg, time_t *date, struct err *e)
{
	struct gitea_req	 q = { .method = "GET", .sudo = sudo };
	struct gitea_resp	 r = { .total = -1 };
	json_object		*items;
	char			*cur = NULL, *qs;
	size_t			 i, n, seen = 0;
	long			 page;
	int			 rc = -1;

	if (date != NULL)
		*date = -1;
	for (page = 1; page <= GITEA_MAX_PAGES; page++) {
		if (cur == NULL) {
			if (asprintf(&qs, "%s%slimit=%d&page=%ld",
			    query != NULL ? query : "",
			    query != NULL && *query != '\0' ? "&" : "",
			    GITEA_PAGE_LIMIT, page) == -1)
				break;
			q.path = path;
			q.query = qs;
		} else {
			/* Follow Gitea's own link: path?query. */
			qs = cur;
			cur = NULL;
			q.query = NULL;
			q.path = qs;
		}
		rc = gitea_call(conf, &q, &r, e);
		free(qs);
		if (rc == -1)
			break;
		if (date != NULL && r.date != -1)
			*date = r.date;
		if ((items = gitea_items(r.json, wrapped)) == NULL) {
			rc = err_set(e, ERR_GITEA_UNAVAILABLE, "Gitea's answer to"
			    " GET %.200s is not a list", path);
			break;
		}
		n = json_object_array_length(items);
		for (i = 0; i < n && rc == 0; i++)
			rc = fn(json_object_array_get_idx(items, i), arg, e);
		seen += n;
		if (rc == -1 || n == 0)
			break;
		if (r.next != NULL) {
			cur = r.next;
			r.next = NULL;
		} else if (r.total < 0 || seen >= (size_t)r.total)
			break;		/* no Link and nothing more counted */
	}
	free(cur);
	gitea_resp_free(&r);
	return rc;
}

/*
 * A call every admin token of ours must be allowed: the system webhooks
 * (read:admin, which write:admin includes, and a site administrator).
 * 401 or 403 is a refused token; another failure says nothing of it.
 */
int
gitea_check_token(const struct conf *conf, struct err *e)
{
	struct gitea_req	 q = { .method = "GET", .path = "/admin/hooks",
				       .query = "limit=1" };
	struct gitea_resp	 r = { .total = -1 };
	unsigned long		 since = gitea_token_refusals();
	int			 ret;

	if ((ret = gitea_call(conf, &q, &r, e)) == 0)
		gitea_token_taken(since);
	else if (r.status == 401 || r.status == 403)
		gitea_token_refused(e);
	gitea_resp_free(&r);
	return ret;
}

int
gitea_probe(const struct conf *conf, char *version, size_t size,
    struct err *e)
{
	struct gitea_req	 q = { .method = "GET", .path = "/version" };
	struct gitea_resp	 r = { .total = -1 };
	json_object		*v;
	int			 ret = -1;

	if (gitea_call(conf, &q, &r, e) == 0) {
		if (r.json != NULL && json_object_object_get_ex(r.json,
		    "version", &v) && json_object_is_type(v, json_type_string)) {
			strlcpy_ss(version, json_object_get_string(v), size);
			ret = 0;
		} else
			err_set(e, ERR_GITEA_UNAVAILABLE,
			    "Gitea's answer has no version");
	}
	gitea_resp_free(&r);
	return ret;
}
