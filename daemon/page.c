/*
 * page.c: the public project page and its badges (/p/{owner}/{repo}).
 *
 * The page is HTML rendered here, for people: it reads without
 * JavaScript and on a phone, loads nothing from elsewhere, and every
 * string from the data is escaped, since names, descriptions and tiers
 * are typed by people we do not vouch for.  Its only style is one inline
 * block, allowed by its hash, so the policy allows nothing else.  The
 * badges are a shields-style SVG and the JSON of shields.io's endpoint
 * badge; both carry an ETag of their bytes, so a README's badge is
 * revalidated cheaply on every view.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "daemon.h"

#define BADGE_LABEL		"deploy"
#define BADGE_CHAR_PX		7	/* a character of Verdana 11px */
#define BADGE_PAD_PX		10	/* around each text */
#define BADGE_CACHE_SECONDS	300	/* shields.io's cacheSeconds */
#define PAGE_DEPLOYMENTS	5

/* -- a growing buffer --------------------------------------------------- */

/* Every write grows the buffer: nothing is cut short.  Out of memory, the
 * writes stop and the answer is a 500. */
struct buf {
	char	*s;
	size_t	 len, cap;
	bool	 failed;
};

static void
buf_add(struct buf *b, const char *s, size_t n)
{
	char	*p;
	size_t	 cap;

	if (b->failed)
		return;
	if (b->len + n + 1 > b->cap) {
		for (cap = b->cap > 0 ? b->cap : 4096; cap < b->len + n + 1;
		    cap *= 2)
			;
		if ((p = realloc(b->s, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->s = p;
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

static void
buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void __attribute__((format(printf, 2, 3)))
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	 small[256], *big;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
		return;
	}
	if ((big = malloc((size_t)n + 1)) == NULL) {
		b->failed = true;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf_add(b, big, (size_t)n);
	free(big);
}

/* Text for HTML and XML, in element content and in quoted attributes
 * alike: the five characters that could end either. */
static void
buf_esc(struct buf *b, const char *s)
{
	const char	*rep;
	size_t		 n;

	while (s != NULL && *s != '\0') {
		n = strcspn(s, "&<>\"'");
		buf_add(b, s, n);
		s += n;
		switch (*s) {
		case '&':
			rep = "&amp;";
			break;
		case '<':
			rep = "&lt;";
			break;
		case '>':
			rep = "&gt;";
			break;
		case '"':
			rep = "&quot;";
			break;
		case '\'':
			rep = "&#39;";
			break;
		default:
			return;
		}
		buf_str(b, rep);
		s++;
	}
}

/* The buffer becomes the answer's body. */
static void
buf_reply(struct response *rs, struct buf *b, int status,
    const char *content_type)
{
	struct err	e;

	if (b->failed || b->s == NULL) {
		free(b->s);
		err_clear(&e);
		err_set(&e, ERR_INTERNAL, "out of memory rendering %s",
		    content_type);
		reply_error(rs, &e);
		return;
	}
	json_object_put(rs->json);
	rs->json = NULL;
	free(rs->text);
	rs->text = b->s;
	rs->status = status;
	rs->content_type = content_type;
}

/* -- reading the data ---------------------------------------------------- */

/* A string member, or NULL when it is null, absent or not a string. */
static const char *
str_of(json_object *o, const char *key)
{
	json_object	*v;

	if (o == NULL || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* Only these become links: anything else (javascript:, data:, a relative
 * path) is shown as text.  No blank or control byte either, so the value
 * is one URL. */
static bool
url_linkable(const char *url, bool mailto)
{
	const char	*p;
	size_t		 n;

	if (url == NULL)
		return false;
	if (strncasecmp(url, "https://", 8) == 0)
		n = 8;
	else if (strncasecmp(url, "http://", 7) == 0 ||
	    (mailto && strncasecmp(url, "mailto:", 7) == 0))
		n = 7;
	else
		return false;
	if (url[n] == '\0')
		return false;
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* user@host.domain, and nothing that would need quoting in a mailto:. */
static bool
looks_like_email(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 i;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    strchr(at + 1, '.') == NULL || at[1] == '.' ||
	    s[strlen(s) - 1] == '.')
		return false;
	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f ||
		    strchr("<>\"'(),;:[]\\/?#&%", s[i]) != NULL)
			return false;
	return true;
}

/* A link when the URL may be one, else the text alone. */
static void
put_link(struct buf *b, const char *url, const char *text)
{
	if (!url_linkable(url, true)) {
		buf_esc(b, text);
		return;
	}
	buf_str(b, "<a href=\"");
	buf_esc(b, url);
	buf_str(b, "\" rel=\"nofollow noopener\">");
	buf_esc(b, text);
	buf_str(b, "</a>");
}

/* "2025-01-31T12:00:00.000Z" (ss_iso) as "2025-01-31 12:00 UTC". */
static void
when(struct buf *b, const char *iso)
{
	if (iso == NULL) {
		buf_str(b, "&#8212;");
		return;
	}
	buf_str(b, "<time datetime=\"");
	buf_esc(b, iso);
	buf_str(b, "\">");
	if (strlen(iso) >= 16 && iso[10] == 'T')
		buf_printf(b, "%.10s %.5s UTC", iso, iso + 11);
	else
		buf_esc(b, iso);
	buf_str(b, "</time>");
}

/* -- the badge ---------------------------------------------------------- */

/* shields.io's colours, by name for the endpoint badge and by value for
 * ours; an unknown status is shown grey, as none. */
static const struct status_look {
	const char	*status;
	const char	*colour;	/* shields.io's name */
	const char	*hex;
	const char	*words;		/* for people, on the page */
} looks[] = {
	{ "live", "brightgreen", "#4c1", "deployed and running" },
	{ "sponsored", "blue", "#007ec6",
	  "sponsored: its deployment is on the way" },
	{ "ready", "yellowgreen", "#a4a61d",
	  "ready to deploy, waiting for a sponsor to cover hosting" },
	{ "suspended", "red", "#e05d44", "suspended: not running for now" },
	{ "none", "lightgrey", "#9f9f9f", "not deployed" },
};

static const struct status_look *
look_of(const char *status)
{
	size_t	i, n = sizeof(looks) / sizeof(looks[0]);

	for (i = 0; status != NULL && i < n; i++)
		if (strcmp(looks[i].status, status) == 0)
			return &looks[i];
	return &looks[n - 1];
}

/* Characters, not bytes: a UTF-8 continuation byte adds no width. */
static int
text_px(const char *s)
{
	int	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n * BADGE_CHAR_PX + BADGE_PAD_PX;
}

/* A flat badge, as shields.io draws it: the label on grey, the message on
 * the status's colour, a shadow under each text. */
static void
badge_svg(struct buf *b, const char *message, const char *hex)
{
	int	lw = text_px(BADGE_LABEL), mw = text_px(message);
	int	w = lw + mw;

	buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\""
	    " height=\"20\" role=\"img\" aria-label=\"" BADGE_LABEL ": ", w);
	buf_esc(b, message);
	buf_str(b, "\"><title>" BADGE_LABEL ": ");
	buf_esc(b, message);
	buf_str(b, "</title><linearGradient id=\"s\" x2=\"0\" y2=\"100%\">"
	    "<stop offset=\"0\" stop-color=\"#bbb\" stop-opacity=\".1\"/>"
	    "<stop offset=\"1\" stop-opacity=\".1\"/></linearGradient>");
	buf_printf(b, "<clipPath id=\"r\"><rect width=\"%d\" height=\"20\""
	    " rx=\"3\" fill=\"#fff\"/></clipPath><g clip-path=\"url(#r)\">"
	    "<rect width=\"%d\" height=\"20\" fill=\"#555\"/>"
	    "<rect x=\"%d\" width=\"%d\" height=\"20\" fill=\"", w, lw, lw, mw);
	buf_esc(b, hex);
	buf_printf(b, "\"/><rect width=\"%d\" height=\"20\" fill=\"url(#s)\"/>"
	    "</g><g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,"
	    "Geneva,DejaVu Sans,sans-serif\" font-size=\"11\">"
	    "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">"
	    BADGE_LABEL "</text><text x=\"%d\" y=\"14\">" BADGE_LABEL "</text>"
	    "<text x=\"%d\" y=\"15\" fill=\"#010101\" fill-opacity=\".3\">",
	    w, lw / 2, lw / 2, lw + mw / 2);
	buf_esc(b, message);
	buf_printf(b, "</text><text x=\"%d\" y=\"14\">", lw + mw / 2);
	buf_esc(b, message);
	buf_str(b, "</text></g></svg>");
}

/* A strong ETag of the body: BLAKE2b-128 of its bytes, in hex. */
static void
etag_of(const char *body, size_t len, char *out, size_t size)
{
	unsigned char	h[16];
	char		hex[2 * sizeof(h) + 1];

	crypto_generichash(h, sizeof(h), (const unsigned char *)body, len,
	    NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, size, "\"%s\"", hex);
}

/* Whether If-None-Match names the tag: a list of entity tags, each maybe
 * W/ (the comparison is the weak one, RFC 9110 13.1.2), or "*". */
static bool
etag_matches(const char *header, const char *tag)
{
	size_t	n = strlen(tag);

	while (header != NULL && *header != '\0') {
		header += strspn(header, " \t,");
		if (*header == '*')
			return true;
		if (strncmp(header, "W/", 2) == 0)
			header += 2;
		if (strncmp(header, tag, n) == 0 && (header[n] == '\0' ||
		    header[n] == ',' || header[n] == ' ' || header[n] == '\t'))
			return true;
		header += strcspn(header, ",");
	}
	return false;
}

/* The body with its ETag, or 304 without it when the client has it. */
static void
reply_tagged(struct request *rq, struct response *rs, struct buf *b,
    const char *content_type)
{
	if (b->failed) {
		buf_reply(rs, b, 500, content_type);
		return;
	}
	etag_of(b->s, b->len, rs->etag, sizeof(rs->etag));
	rs->cache_control = "no-cache";
	if (etag_matches(MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_IF_NONE_MATCH), rs->etag)) {
		b->len = 0;
		b->s[0] = '\0';
		buf_reply(rs, b, MHD_HTTP_NOT_MODIFIED, content_type);
		return;
	}
	buf_reply(rs, b, 200, content_type);
}

/* The project's status, or an error answered. */
static json_object *
page_data(struct request *rq, struct response *rs, struct err *e)
{
	json_object	*data;
	char		 project[REQUEST_REF_LEN];

	if (request_project(rq, rs, project) == -1)
		return NULL;
	if ((data = deploy_page_data(&rq->core, project, e)) == NULL)
		reply_error(rs, e);
	return data;
}

void
api_page_badge_svg(struct request *rq, struct response *rs)
{
	struct err	 e;
	struct buf	 b = { 0 };
	json_object	*data;
	const char	*status;

	err_clear(&e);
	if ((data = page_data(rq, rs, &e)) == NULL) {
		/* An image where an image was asked for: a README shows
		 * "unknown" rather than a broken picture. */
		if (e.code == ERR_NOT_FOUND) {
			badge_svg(&b, "unknown", look_of(NULL)->hex);
			buf_reply(rs, &b, 404, "image/svg+xml");
			rs->cache_control = "no-cache";
		}
		return;
	}
	status = str_of(data, "status");
	badge_svg(&b, status != NULL ? status : "unknown",
	    look_of(status)->hex);
	json_object_put(data);
	reply_tagged(rq, rs, &b, "image/svg+xml");
}

/* shields.io's endpoint badge: https://shields.io/badges/endpoint-badge */
void
api_page_badge_json(struct request *rq, struct response *rs)
{
	struct err	 e;
	struct buf	 b = { 0 };
	json_object	*data, *j;
	const char	*status;

	err_clear(&e);
	if ((data = page_data(rq, rs, &e)) == NULL)
		return;
	status = str_of(data, "status");
	j = json_object_new_object();
	json_object_object_add(j, "schemaVersion", json_object_new_int(1));
	json_object_object_add(j, "label", json_object_new_string(
	    BADGE_LABEL));
	json_object_object_add(j, "message", json_object_new_string(
	    status != NULL ? status : "unknown"));
	json_object_object_add(j, "color", json_object_new_string(
	    look_of(status)->colour));
	json_object_object_add(j, "cacheSeconds", json_object_new_int(
	    BADGE_CACHE_SECONDS));
	/* Serialised here, as send_response would, so the ETag is of the
	 * bytes sent. */
	buf_str(&b, json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN |
	    JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(j);
	json_object_put(data);
	reply_tagged(rq, rs, &b, "application/json");
}

/* -- the page ------------------------------------------------------------ */

static const char page_css[] =
	":root{color-scheme:light dark;font:16px/1.5 system-ui,-apple-system,"
	"\"Segoe UI\",Roboto,sans-serif}"
	"body{margin:0 auto;max-width:46rem;padding:1rem}"
	"h1{font-size:1.6rem;margin:.5rem 0;overflow-wrap:anywhere}"
	"h2{font-size:1.15rem;margin:1.75rem 0 .5rem;"
	"border-bottom:1px solid #8884}"
	"a{color:#0969da}"
	"dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}"
	"dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}"
	"table{border-collapse:collapse;width:100%;font-size:.9rem}"
	"th,td{text-align:left;padding:.3rem .5rem .3rem 0;"
	"border-bottom:1px solid #8883}"
	".scroll{overflow-x:auto}"
	"code{font-size:.9em;overflow-wrap:anywhere}"
	".muted{opacity:.75}"
	"footer{margin-top:2.5rem;font-size:.85rem;opacity:.75}"
	"@media (prefers-color-scheme:dark){a{color:#58a6ff}}";

/* The policy: nothing but the style above, by its hash, and the inline
 * SVG (markup, not a load).  Made once; it outlives every answer. */
static char		page_csp[256];
static pthread_once_t	page_csp_once = PTHREAD_ONCE_INIT;

static void
page_csp_make(void)
{
	unsigned char	h[crypto_hash_sha256_BYTES];
	char		b64[sodium_base64_ENCODED_LEN(sizeof(h),
			    sodium_base64_VARIANT_ORIGINAL)];

	crypto_hash_sha256(h, (const unsigned char *)page_css,
	    sizeof(page_css) - 1);
	sodium_bin2base64(b64, sizeof(b64), h, sizeof(h),
	    sodium_base64_VARIANT_ORIGINAL);
	snprintf(page_csp, sizeof(page_csp), "default-src 'none'; style-src"
	    " 'sha256-%s'; base-uri 'none'; form-action 'none';"
	    " frame-ancestors 'none'", b64);
}

static void
page_head(struct buf *b, const char *title)
{
	buf_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width,"
	    " initial-scale=1\">"
	    "<meta name=\"referrer\" content=\"no-referrer\"><title>");
	buf_esc(b, title);
	buf_str(b, " &#183; SynStack</title><style>");
	buf_str(b, page_css);
	buf_str(b, "</style></head>\n<body>\n");
}

static void
page_foot(struct buf *b)
{
	buf_str(b, "<footer>Served by SynStack, beside this project's"
	    " Gitea.</footer>\n</body></html>\n");
}

static void
page_header(struct buf *b, json_object *data)
{
	const char	*name = str_of(data, "project"),
			*desc = str_of(data, "description"),
			*status = str_of(data, "status");

	buf_str(b, "<header><h1>");
	put_link(b, str_of(data, "html_url"), name);
	buf_str(b, "</h1>\n");
	if (desc != NULL && *desc != '\0') {
		buf_str(b, "<p class=\"description\">");
		buf_esc(b, desc);
		buf_str(b, "</p>\n");
	}
	buf_str(b, "<p class=\"badge\">");
	badge_svg(b, status != NULL ? status : "unknown",
	    look_of(status)->hex);
	buf_str(b, "</p></header>\n");
}

static void
page_deployment(struct buf *b, json_object *data)
{
	json_object	*platform = json_object_object_get(data, "platform");
	const char	*status = str_of(data, "status"),
			*url = str_of(data, "url"),
			*shown = str_of(platform, "display_name");

	buf_str(b, "<section id=\"deployment\"><h2>Deployment</h2><dl>"
	    "<dt>Status</dt><dd><strong class=\"status\">");
	buf_esc(b, status != NULL ? status : "unknown");
	buf_str(b, "</strong> <span class=\"muted\">(");
	buf_esc(b, look_of(status)->words);
	buf_str(b, ")</span></dd>\n<dt>Platform</dt><dd class=\"platform\">");
	if (shown != NULL)
		buf_esc(b, shown);
	else
		buf_str(b, "<span class=\"muted\">none chosen yet</span>");
	buf_str(b, "</dd>\n<dt>Branch</dt><dd><code>");
	buf_esc(b, str_of(data, "branch"));
	buf_str(b, "</code></dd>\n");
	if (url != NULL && *url != '\0') {
		/* Only http(s): a live URL is a place to visit. */
		buf_str(b, "<dt>Live at</dt><dd class=\"url\">");
		if (url_linkable(url, false))
			put_link(b, url, url);
		else
			buf_esc(b, url);
		buf_str(b, "</dd>\n");
	}
	if (str_of(data, "deployed_at") != NULL) {
		buf_str(b, "<dt>Deployed</dt><dd>");
		when(b, str_of(data, "deployed_at"));
		buf_str(b, "</dd>\n");
	}
	buf_str(b, "</dl></section>\n");
}

/* The last deployments: their commit, status, cause and time.  Their
 * reason and actor stay off the page: they are the admins' and sponsors'
 * to read (GET .../deployments), not a visitor's. */
static void
page_history(struct buf *b, json_object *data)
{
	json_object	*deps = json_object_object_get(data, "deployments"),
			*d;
	const char	*home = str_of(data, "html_url"), *sha;
	size_t		 i, n;

	buf_str(b, "<section id=\"deployments\"><h2>Recent deployments</h2>\n");
	n = json_object_is_type(deps, json_type_array) ?
	    json_object_array_length(deps) : 0;
	if (n == 0) {
		buf_str(b, "<p class=\"muted\">None yet.</p></section>\n");
		return;
	}
	buf_str(b, "<div class=\"scroll\"><table><thead><tr><th>Commit</th>"
	    "<th>Status</th><th>Trigger</th><th>When</th></tr></thead>"
	    "<tbody>\n");
	for (i = 0; i < n && i < PAGE_DEPLOYMENTS; i++) {
		d = json_object_array_get_idx(deps, i);
		sha = str_of(d, "commit");
		buf_str(b, "<tr><td><code>");
		if (sha != NULL && url_linkable(home, false)) {
			buf_str(b, "<a href=\"");
			buf_esc(b, home);
			buf_str(b, "/commit/");
			buf_esc(b, sha);
			buf_str(b, "\" rel=\"nofollow noopener\">");
			buf_printf(b, "%.7s", sha);
			buf_str(b, "</a>");
		} else if (sha != NULL)
			buf_printf(b, "%.7s", sha);
		buf_str(b, "</code></td><td>");
		buf_esc(b, str_of(d, "status"));
		buf_str(b, "</td><td>");
		buf_esc(b, str_of(d, "trigger"));
		buf_str(b, "</td><td>");
		when(b, str_of(d, "created_at"));
		buf_str(b, "</td></tr>\n");
	}
	buf_str(b, "</tbody></table></div></section>\n");
}

static void
page_sponsors(struct buf *b, json_object *data)
{
	json_object	*list = json_object_object_get(data, "sponsors"), *s;
	const char	*tier;
	size_t		 i, n;

	buf_str(b, "<section id=\"sponsors\"><h2>Sponsors</h2>\n");
	n = json_object_is_type(list, json_type_array) ?
	    json_object_array_length(list) : 0;
	if (n == 0) {
		buf_str(b, "<p class=\"muted\">No public sponsors yet.</p>"
		    "</section>\n");
		return;
	}
	buf_str(b, "<ul>\n");
	for (i = 0; i < n; i++) {
		s = json_object_array_get_idx(list, i);
		buf_str(b, "<li><span class=\"sponsor\">");
		buf_esc(b, str_of(s, "name"));
		buf_str(b, "</span>");
		if ((tier = str_of(s, "tier")) != NULL && *tier != '\0') {
			buf_str(b, " <span class=\"tier muted\">(");
			buf_esc(b, tier);
			buf_str(b, ")</span>");
		}
		buf_str(b, "</li>\n");
	}
	buf_str(b, "</ul></section>\n");
}

/* For a project nobody hosts: how to run it on one's own account.  The
 * secrets' names only; their values are never the page's. */
static void
page_yourself(struct buf *b, json_object *data)
{
	json_object	*platform = json_object_object_get(data, "platform"),
			*names, *rd = json_object_object_get(data, "readiness"),
			*missing;
	const char	*shown = str_of(platform, "display_name"),
			*docs = str_of(platform, "docs_url");
	size_t		 i, n;

	buf_str(b, "<section id=\"deploy-yourself\"><h2>Deploy it yourself"
	    "</h2>\n<p>The source is in ");
	put_link(b, str_of(data, "html_url"), "its repository");
	buf_str(b, ", branch <code>");
	buf_esc(b, str_of(data, "branch"));
	buf_str(b, "</code>.</p>\n");
	if (platform == NULL) {
		buf_str(b, "<p>No platform is chosen for it yet: choose one"
		    " that builds a Dockerfile, and follow its guide.</p>\n");
	} else {
		buf_str(b, "<p>It deploys on <strong>");
		buf_esc(b, shown);
		buf_str(b, "</strong>");
		if (url_linkable(docs, false)) {
			buf_str(b, ": follow ");
			put_link(b, docs, "its guide");
		}
		names = json_object_object_get(platform, "secrets");
		n = json_object_is_type(names, json_type_array) ?
		    json_object_array_length(names) : 0;
		if (n == 0) {
			buf_str(b, ". It needs no secrets.</p>\n");
		} else {
			buf_str(b, ", and set these secrets on your own"
			    " account:</p>\n<ul class=\"secrets\">\n");
			for (i = 0; i < n; i++) {
				buf_str(b, "<li><code>");
				buf_esc(b, json_object_get_string(
				    json_object_array_get_idx(names, i)));
				buf_str(b, "</code></li>\n");
			}
			buf_str(b, "</ul>\n");
		}
	}
	missing = json_object_object_get(rd, "missing");
	n = json_object_is_type(missing, json_type_array) ?
	    json_object_array_length(missing) : 0;
	if (n > 0) {
		buf_str(b, "<p>Still missing, when last checked (");
		when(b, str_of(rd, "checked_at"));
		buf_str(b, "):</p>\n<ul class=\"missing\">\n");
		for (i = 0; i < n; i++) {
			buf_str(b, "<li>");
			buf_esc(b, json_object_get_string(
			    json_object_array_get_idx(missing, i)));
			buf_str(b, "</li>\n");
		}
		buf_str(b, "</ul>\n");
	}
	buf_str(b, "</section>\n");
}

static void
page_sponsor_us(struct buf *b, json_object *data)
{
	const char	*contact = str_of(data, "sponsor_contact");

	buf_str(b, "<section id=\"become-a-sponsor\"><h2>Become a sponsor</h2>"
	    "\n<p>Sponsors pay for the hosting that keeps this project live"
	    " for everyone. To sponsor it, ");
	if (contact == NULL || *contact == '\0')
		buf_str(b, "ask the admins of this SynStack instance.");
	else if (url_linkable(contact, true)) {
		buf_str(b, "write to ");
		put_link(b, contact, strncasecmp(contact, "mailto:", 7) == 0 ?
		    contact + 7 : contact);
		buf_str(b, ".");
	} else if (looks_like_email(contact)) {
		buf_str(b, "write to <a href=\"mailto:");
		buf_esc(b, contact);
		buf_str(b, "\">");
		buf_esc(b, contact);
		buf_str(b, "</a>.");
	} else {
		buf_str(b, "contact ");
		buf_esc(b, contact);
		buf_str(b, ".");
	}
	buf_str(b, "</p></section>\n");
}

/* How to show the badge in a README, when we know our public address. */
static void
page_embed(struct buf *b, const struct conf *conf, const char *name)
{
	const char	*pub = conf->http_public_url;
	size_t		 n;

	if (!url_linkable(pub, false))
		return;
	n = strlen(pub);
	if (pub[n - 1] == '/')
		n--;
	buf_str(b, "<section id=\"badge\"><h2>The badge</h2>\n<p>In a README:"
	    "</p>\n<p><code>[![deploy](");
	buf_printf(b, "%.*s/p/", (int)n, pub);
	buf_esc(b, name);
	buf_printf(b, "/badge.svg)](%.*s/p/", (int)n, pub);
	buf_esc(b, name);
	buf_str(b, ")</code></p></section>\n");
}

/*
 * An error as a small page (a visitor reads it, not a program): the
 * status and headers reply_error chose, its message escaped.
 */
static void
page_error(struct response *rs)
{
	struct buf	 b = { 0 };
	json_object	*err;
	const char	*msg;
	int		 status = rs->status;

	err = json_object_object_get(rs->json, "error");
	msg = str_of(err, "message");
	page_head(&b, status == 404 ? "Not found" : "Error");
	buf_str(&b, status == 404 ? "<h1>Not found</h1>\n" :
	    "<h1>Something went wrong</h1>\n");
	buf_str(&b, "<p>");
	buf_esc(&b, msg != NULL ? msg : "no such page");
	buf_str(&b, ".</p>\n");
	page_foot(&b);
	if (b.failed) {
		free(b.s);
		return;		/* the JSON error stays */
	}
	buf_reply(rs, &b, status, "text/html; charset=utf-8");
}

void
api_page(struct request *rq, struct response *rs)
{
	struct err	 e;
	struct buf	 b = { 0 };
	json_object	*data;
	const char	*status, *name;

	pthread_once(&page_csp_once, page_csp_make);
	rs->csp = page_csp;
	err_clear(&e);
	if ((data = page_data(rq, rs, &e)) == NULL) {
		page_error(rs);
		return;
	}
	status = str_of(data, "status");
	name = str_of(data, "project");
	page_head(&b, name);
	buf_str(&b, "<main>\n");
	page_header(&b, data);
	page_deployment(&b, data);
	page_history(&b, data);
	page_sponsors(&b, data);
	if (status == NULL || (strcmp(status, "sponsored") != 0 &&
	    strcmp(status, "live") != 0))
		page_yourself(&b, data);
	page_sponsor_us(&b, data);
	page_embed(&b, rq->conf, name);
	buf_str(&b, "</main>\n");
	page_foot(&b);
	json_object_put(data);
	buf_reply(rs, &b, 200, "text/html; charset=utf-8");
	rs->cache_control = "no-cache";
}
