/*
 * format.c: the API's rows as text in fixed-width columns, for tables.
 *
 * Widths are display columns, counted here without the C library's
 * wcwidth(3): that one depends on the process locale, and these functions
 * must give the same answer in the unit tests as under curses.  Text is
 * decoded as UTF-8; a combining mark or other zero-width character counts
 * 0, an East Asian wide or fullwidth character or a pictographic emoji 2
 * (the blocks glibc's wcwidth also counts 2), everything else 1.  Control
 * characters (C0, DEL, C1, and the bidirectional and line controls that
 * could reorder or break a row) and malformed bytes show as '?'.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"

#define FMT_VALUE_MAX	1024	/* a composed value (a list, a number) */
#define FMT_NOW_S	5	/* closer than this to now is "now" */
#define FMT_DAYS_MAX	30	/* older than this shows its date */

struct range {
	uint32_t	lo, hi;
};

/* Zero width: combining marks of the common scripts, joiners, selectors. */
static const struct range zero_width[] = {
	{ 0x0300, 0x036f }, { 0x0483, 0x0489 }, { 0x0591, 0x05bd },
	{ 0x05bf, 0x05bf }, { 0x05c1, 0x05c2 }, { 0x05c4, 0x05c5 },
	{ 0x05c7, 0x05c7 }, { 0x0610, 0x061a }, { 0x064b, 0x065f },
	{ 0x0670, 0x0670 }, { 0x06d6, 0x06dc }, { 0x06df, 0x06e4 },
	{ 0x06e7, 0x06e8 }, { 0x06ea, 0x06ed }, { 0x0900, 0x0902 },
	{ 0x093a, 0x093a }, { 0x093c, 0x093c }, { 0x0941, 0x0948 },
	{ 0x094d, 0x094d }, { 0x0951, 0x0957 }, { 0x0962, 0x0963 },
	{ 0x0e31, 0x0e31 }, { 0x0e34, 0x0e3a }, { 0x0e47, 0x0e4e },
	{ 0x1ab0, 0x1aff }, { 0x1dc0, 0x1dff }, { 0x200b, 0x200d },
	{ 0x2060, 0x2064 }, { 0x20d0, 0x20ff }, { 0x302a, 0x302d },
	{ 0x3099, 0x309a }, { 0xfe00, 0xfe0f }, { 0xfe20, 0xfe2f },
	{ 0xfeff, 0xfeff }, { 0xe0100, 0xe01ef }
};

/* Two columns: East Asian Wide and Fullwidth, and emoji pictographs. */
static const struct range wide[] = {
	{ 0x1100, 0x115f }, { 0x231a, 0x231b }, { 0x2329, 0x232a },
	{ 0x23e9, 0x23ec }, { 0x23f0, 0x23f0 }, { 0x23f3, 0x23f3 },
	{ 0x25fd, 0x25fe }, { 0x2614, 0x2615 }, { 0x2648, 0x2653 },
	{ 0x267f, 0x267f }, { 0x2693, 0x2693 }, { 0x26a1, 0x26a1 },
	{ 0x26aa, 0x26ab }, { 0x26bd, 0x26be }, { 0x26c4, 0x26c5 },
	{ 0x26ce, 0x26ce }, { 0x26d4, 0x26d4 }, { 0x26ea, 0x26ea },
	{ 0x26f2, 0x26f3 }, { 0x26f5, 0x26f5 }, { 0x26fa, 0x26fa },
	{ 0x26fd, 0x26fd }, { 0x2705, 0x2705 }, { 0x270a, 0x270b },
	{ 0x2728, 0x2728 }, { 0x274c, 0x274c }, { 0x274e, 0x274e },
	{ 0x2753, 0x2755 }, { 0x2757, 0x2757 }, { 0x2795, 0x2797 },
	{ 0x27b0, 0x27b0 }, { 0x27bf, 0x27bf }, { 0x2b1b, 0x2b1c },
	{ 0x2b50, 0x2b50 }, { 0x2b55, 0x2b55 }, { 0x2e80, 0x303e },
	{ 0x3041, 0x3247 }, { 0x3250, 0x4dbf }, { 0x4e00, 0xa4cf },
	{ 0xa960, 0xa97f }, { 0xac00, 0xd7a3 }, { 0xf900, 0xfaff },
	{ 0xfe10, 0xfe19 }, { 0xfe30, 0xfe6f }, { 0xff00, 0xff60 },
	{ 0xffe0, 0xffe6 }, { 0x16fe0, 0x16fe4 }, { 0x17000, 0x18cff },
	{ 0x1b000, 0x1b2ff }, { 0x1f004, 0x1f004 }, { 0x1f0cf, 0x1f0cf },
	{ 0x1f18e, 0x1f18e }, { 0x1f191, 0x1f19a }, { 0x1f200, 0x1f202 },
	{ 0x1f210, 0x1f23b }, { 0x1f240, 0x1f248 }, { 0x1f250, 0x1f251 },
	{ 0x1f260, 0x1f265 }, { 0x1f300, 0x1f320 }, { 0x1f32d, 0x1f335 },
	{ 0x1f337, 0x1f37c }, { 0x1f37e, 0x1f393 }, { 0x1f3a0, 0x1f3ca },
	{ 0x1f3cf, 0x1f3d3 }, { 0x1f3e0, 0x1f3f0 }, { 0x1f3f4, 0x1f3f4 },
	{ 0x1f3f8, 0x1f43e }, { 0x1f440, 0x1f440 }, { 0x1f442, 0x1f4fc },
	{ 0x1f4ff, 0x1f53d }, { 0x1f54b, 0x1f54e }, { 0x1f550, 0x1f567 },
	{ 0x1f57a, 0x1f57a }, { 0x1f595, 0x1f596 }, { 0x1f5a4, 0x1f5a4 },
	{ 0x1f5fb, 0x1f64f }, { 0x1f680, 0x1f6c5 }, { 0x1f6cc, 0x1f6cc },
	{ 0x1f6d0, 0x1f6d2 }, { 0x1f6d5, 0x1f6d7 }, { 0x1f6dc, 0x1f6df },
	{ 0x1f6eb, 0x1f6ec }, { 0x1f6f4, 0x1f6fc }, { 0x1f7e0, 0x1f7eb },
	{ 0x1f7f0, 0x1f7f0 }, { 0x1f90c, 0x1f93a }, { 0x1f93c, 0x1f945 },
	{ 0x1f947, 0x1f9ff }, { 0x1fa70, 0x1faff }, { 0x20000, 0x2fffd },
	{ 0x30000, 0x3fffd }
};

/* Output into a fixed buffer that never holds half a character. */
struct out {
	char	*p;
	size_t	 sz, len;
	bool	 full;
};

static bool	 in_ranges(uint32_t, const struct range *, size_t);
static size_t	 decode(const unsigned char *, uint32_t *);
static bool	 is_control(uint32_t);
static int	 char_width(uint32_t);
static size_t	 next_char(const char *, const char **, size_t *, int *);
static int	 text_width(const char *);
static void	 put(struct out *, const char *, size_t);
static void	 pad(struct out *, int);
static void	 put_cut(struct out *, const char *, int);
static bool	 parse_iso(const char *, time_t *);
static const char *cell_text(json_object *, const struct column *, time_t,
		     char *, size_t);
static char	*fold(const char *);

static bool
in_ranges(uint32_t cp, const struct range *r, size_t n)
{
	size_t	lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cp < r[mid].lo)
			hi = mid;
		else if (cp > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/*
 * One code point at s: its length in bytes, or 0 when s does not start a
 * well-formed sequence (overlong forms and surrogates included).
 */
static size_t
decode(const unsigned char *s, uint32_t *cp)
{
	size_t		n, i;
	uint32_t	c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		c = s[0] & 0x1f;
		min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		c = s[0] & 0x0f;
		min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		c = s[0] & 0x07;
		min = 0x10000;
	} else
		return 0;
	/* The NUL ends the loop too: it is no continuation byte. */
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

static bool
is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||
	    (cp >= 0x200e && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069);
}

static int
char_width(uint32_t cp)
{
	if (in_ranges(cp, zero_width, sizeof(zero_width) /
	    sizeof(zero_width[0])))
		return 0;
	if (cp >= 0x1100 && in_ranges(cp, wide, sizeof(wide) /
	    sizeof(wide[0])))
		return 2;
	return 1;
}

/*
 * The next character of *s as it is shown: *show and *len the bytes to
 * write ("?" for a control or a malformed byte), *w its width.  Returns
 * the bytes consumed, 0 at the end.
 */
static size_t
next_char(const char *s, const char **show, size_t *len, int *w)
{
	uint32_t	cp;
	size_t		n;

	if (*s == '\0')
		return 0;
	if ((n = decode((const unsigned char *)s, &cp)) == 0 ||
	    is_control(cp)) {
		*show = "?";
		*len = 1;
		*w = 1;
		return n == 0 ? 1 : n;
	}
	*show = s;
	*len = n;
	*w = char_width(cp);
	return n;
}

static int
text_width(const char *s)
{
	const char	*show;
	size_t		 n, len;
	int		 w, total = 0;

	while ((n = next_char(s, &show, &len, &w)) > 0) {
		total += w;
		s += n;
	}
	return total;
}

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n >= o->sz) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

static void
pad(struct out *o, int n)
{
	while (n-- > 0)
		put(o, " ", 1);
}

/*
 * At most width columns of s.  A zero-width character goes with the one
 * before it, so an accent never lands on the "~" or on a space.
 */
static void
put_cut(struct out *o, const char *s, int width)
{
	const char	*show;
	size_t		 n, len;
	int		 w, used = 0;
	bool		 kept = true;

	while ((n = next_char(s, &show, &len, &w)) > 0) {
		if (w == 0 ? kept : used + w <= width) {
			put(o, show, len);
			used += w;
			kept = true;
		} else if (w > 0)
			break;
		s += n;
	}
	pad(o, width - used);
}

size_t
str_append(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(dst);

	if (len >= size)
		return len + strlen(src);
	return len + strlcpy_ss(dst + len, src, size - len);
}

char *
fmt_cell(char *buf, size_t bufsz, const char *text, int width, bool right)
{
	struct out	o = { buf, bufsz, 0, false };
	int		tw;

	if (bufsz == 0)
		return buf;
	buf[0] = '\0';
	if (width <= 0)
		return buf;
	if (text == NULL)
		text = "";
	tw = text_width(text);
	if (tw <= width) {
		if (right)
			pad(&o, width - tw);
		put_cut(&o, text, tw);
		if (!right)
			pad(&o, width - tw);
		return buf;
	}
	/* Cut: width - 1 columns (padded when a wide character did not
	 * fit), then the mark. */
	put_cut(&o, text, width - 1);
	put(&o, "~", 1);
	return buf;
}

/*
 * "2026-11-24T10:00:00Z", "2026-11-24 10:00:00.123456+00" (PostgreSQL's
 * text), with or without seconds, fraction and zone (none: UTC), or a
 * date alone.
 */
static bool
parse_iso(const char *s, time_t *out)
{
	struct tm	tm;
	int		v[6] = { 0, 0, 0, 0, 0, 0 }, i, digits, off = 0, sign;
	int		oh, om;
	time_t		t;

	/* Fields: year-mon-day, then hour:min[:sec]. */
	for (i = 0; i < 6; i++) {
		digits = 0;
		while (*s >= '0' && *s <= '9' && digits < (i == 0 ? 4 : 2)) {
			v[i] = v[i] * 10 + (*s++ - '0');
			digits++;
		}
		if (digits != (i == 0 ? 4 : 2))
			return false;
		if (i < 2) {
			if (*s++ != '-')
				return false;
		} else if (i == 2) {
			if (*s == '\0')
				break;
			if (*s != 'T' && *s != 't' && *s != ' ')
				return false;
			s++;
		} else if (i == 3) {
			if (*s++ != ':')
				return false;
		} else if (i == 4 && *s != ':')
			break;
		else if (i == 4)
			s++;
	}
	if (*s == '.' || *s == ',') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if (*s == ' ')
		s++;
	if (*s == 'Z' || *s == 'z')
		s++;
	else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		oh = om = 0;
		if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
			return false;
		oh = (s[0] - '0') * 10 + (s[1] - '0');
		s += 2;
		if (*s == ':')
			s++;
		if (s[0] >= '0' && s[0] <= '9') {
			if (s[1] < '0' || s[1] > '9')
				return false;
			om = (s[0] - '0') * 10 + (s[1] - '0');
			s += 2;
		}
		if (oh > 23 || om > 59)
			return false;
		off = sign * (oh * 3600 + om * 60);
	}
	if (*s != '\0' || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 ||
	    v[3] > 23 || v[4] > 59 || v[5] > 60)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = v[0] - 1900;
	tm.tm_mon = v[1] - 1;
	tm.tm_mday = v[2];
	tm.tm_hour = v[3];
	tm.tm_min = v[4];
	tm.tm_sec = v[5];
	if ((t = timegm(&tm)) == (time_t)-1 && v[0] != 1969)
		return false;
	*out = t - off;
	return true;
}

/*
 * Whole units, rounded down, so "59 min ago" turns into "1 h ago" only
 * when the hour is complete.  Dates are UTC, as the daemon's log is.
 */
char *
fmt_when(char *buf, size_t bufsz, const char *iso, time_t now)
{
	struct tm	 tm;
	time_t		 t;
	long long	 d, a;
	const char	*unit;
	long long	 n;

	if (bufsz == 0)
		return buf;
	if (iso == NULL) {
		snprintf(buf, bufsz, "never");
		return buf;
	}
	if (!parse_iso(iso, &t)) {
		/* Shown as it came rather than hidden. */
		snprintf(buf, bufsz, "%s", iso);
		return buf;
	}
	d = (long long)now - (long long)t;
	a = d < 0 ? -d : d;
	if (a < FMT_NOW_S) {
		snprintf(buf, bufsz, "now");
		return buf;
	}
	if (a > FMT_DAYS_MAX * 86400LL) {
		if (gmtime_r(&t, &tm) == NULL)
			snprintf(buf, bufsz, "%s", iso);
		else
			strftime(buf, bufsz, "%Y-%m-%d", &tm);
		return buf;
	}
	if (a < 60) {
		n = a;
		unit = "s";
	} else if (a < 3600) {
		n = a / 60;
		unit = "min";
	} else if (a < 86400) {
		n = a / 3600;
		unit = "h";
	} else {
		n = a / 86400;
		unit = "d";
	}
	if (d < 0)
		snprintf(buf, bufsz, "in %lld %s", n, unit);
	else
		snprintf(buf, bufsz, "%lld %s ago", n, unit);
	return buf;
}

/*
 * A cell's text, uncut: a string as it is, a list of scalars joined with
 * ", ", other values as compact JSON; "-" (COL_WHEN: "never", COL_BOOL:
 * "") for a missing or null field.  Returns buf or a string of row.
 */
static const char *
cell_text(json_object *row, const struct column *col, time_t now, char *buf,
    size_t bufsz)
{
	json_object	*v = json_path(row, col->key), *item;
	const char	*s;
	size_t		 i, n, len;

	buf[0] = '\0';
	if (v == NULL || json_object_is_type(v, json_type_null)) {
		switch (col->kind) {
		case COL_WHEN:
			return "never";
		case COL_BOOL:
			return "";
		default:
			return "-";
		}
	}
	switch (col->kind) {
	case COL_BOOL:
		if (json_object_is_type(v, json_type_boolean))
			return json_object_get_boolean(v) ? "yes" : "";
		break;
	case COL_WHEN:
		if (json_object_is_type(v, json_type_string))
			return fmt_when(buf, bufsz, json_object_get_string(v),
			    now);
		break;
	case COL_SHA:
		if (json_object_is_type(v, json_type_string)) {
			snprintf(buf, bufsz, "%.7s", json_object_get_string(v));
			return buf;
		}
		break;
	default:
		break;
	}
	switch (json_object_get_type(v)) {
	case json_type_string:
		return json_object_get_string(v);
	case json_type_boolean:
		return json_object_get_boolean(v) ? "true" : "false";
	case json_type_int:
		snprintf(buf, bufsz, "%lld",
		    (long long)json_object_get_int64(v));
		return buf;
	case json_type_double:
		snprintf(buf, bufsz, "%g", json_object_get_double(v));
		return buf;
	case json_type_array:
		n = json_object_array_length(v);
		for (i = 0; i < n; i++) {
			item = json_object_array_get_idx(v, i);
			if (json_object_is_type(item, json_type_object) ||
			    json_object_is_type(item, json_type_array))
				break;
		}
		if (i < n)
			break;
		for (i = 0; i < n; i++) {
			item = json_object_array_get_idx(v, i);
			s = item == NULL ? "null" :
			    json_object_get_string(item);
			len = strlen(buf);
			snprintf(buf + len, bufsz - len, "%s%s", i > 0 ?
			    ", " : "", s);
		}
		return buf;
	default:
		break;
	}
	snprintf(buf, bufsz, "%s", json_object_to_json_string_ext(v,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	return buf;
}

char *
fmt_row(char *buf, size_t bufsz, json_object *row, const struct column *cols,
    size_t ncols, int total, time_t now)
{
	struct out	 o = { buf, bufsz, 0, false };
	char		 value[FMT_VALUE_MAX];
	const char	*text;
	size_t		 i, nrest = 0, seen = 0;
	int		 fixed = 0, rest, w, left;

	if (bufsz == 0)
		return buf;
	buf[0] = '\0';
	if (total <= 0)
		return buf;
	for (i = 0; i < ncols; i++) {
		if (cols[i].width > 0)
			fixed += cols[i].width;
		else
			nrest++;
	}
	/* One space between columns; the rest shared by the 0-width ones,
	 * the first taking what does not divide. */
	rest = total - fixed - (ncols > 0 ? (int)ncols - 1 : 0);
	if (rest < 0)
		rest = 0;
	left = total;
	for (i = 0; i < ncols && left > 0; i++) {
		if (cols[i].width > 0)
			w = cols[i].width;
		else {
			w = rest / (int)nrest + (seen == 0 ?
			    rest % (int)nrest : 0);
			seen++;
		}
		if (w > left)
			w = left;
		if (row == NULL)
			text = cols[i].title;
		else
			text = cell_text(row, &cols[i], now, value,
			    sizeof(value));
		/* Into what is left of buf, then counted. */
		fmt_cell(o.p + o.len, o.sz - o.len, text, w,
		    cols[i].kind == COL_NUMBER);
		o.len += strlen(o.p + o.len);
		left -= w;
		if (i + 1 < ncols && left > 0) {
			put(&o, " ", 1);
			left--;
		}
	}
	pad(&o, left);
	return buf;
}

/*
 * A copy with letters in lower case: ASCII and the Latin-1 letters
 * (U+00C0-U+00DE but U+00D7), which cover the names admins type.
 */
static char *
fold(const char *s)
{
	unsigned char	*f, *p;

	if ((f = (unsigned char *)strdup(s)) == NULL)
		return NULL;
	for (p = f; *p != '\0'; p++) {
		if (*p < 0x80)
			*p = (unsigned char)tolower(*p);
		else if (*p == 0xc3 && p[1] >= 0x80 && p[1] <= 0x9e &&
		    p[1] != 0x97) {
			p[1] += 0x20;
			p++;
		}
	}
	return (char *)f;
}

bool
fmt_matches(json_object *row, const struct column *cols, size_t ncols,
    const char *filter, time_t now)
{
	json_object	*v;
	char		 value[FMT_VALUE_MAX], *want, *have;
	const char	*text, *raw;
	size_t		 i;
	bool		 invert = false, found = false;

	if (filter == NULL)
		return true;
	if (filter[0] == '!') {
		invert = true;
		filter++;
	}
	/* "!" alone, as typed on the way to "!x", hides nothing. */
	if (filter[0] == '\0')
		return true;
	if ((want = fold(filter)) == NULL)
		return true;
	for (i = 0; i < ncols && !found; i++) {
		text = cell_text(row, &cols[i], now, value, sizeof(value));
		if ((have = fold(text)) != NULL) {
			found = strstr(have, want) != NULL;
			free(have);
		}
		/* The whole value too: a full commit, an exact time. */
		v = json_path(row, cols[i].key);
		raw = v != NULL && json_object_is_type(v, json_type_string) ?
		    json_object_get_string(v) : NULL;
		if (!found && raw != NULL && (have = fold(raw)) != NULL) {
			found = strstr(have, want) != NULL;
			free(have);
		}
	}
	free(want);
	return found != invert;
}
