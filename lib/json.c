/* json.c: strict, bounded JSON in; the uniform answer shapes out. */
#include <stdlib.h>
#include <string.h>

#include "synstack.h"

/* PostgreSQL type oids that map to JSON types other than strings. */
#define OID_BOOL	16
#define OID_INT8	20
#define OID_INT2	21
#define OID_INT4	23
#define OID_JSON	114
#define OID_JSONB	3802

/*
 * json-c 0.16's strict mode still accepts 'single-quoted' strings and the
 * bare words NaN and Infinity, which JSON does not: outside strings, allow
 * only double quotes and the words true, false and null.  Returns the
 * offset of the first offence, or (size_t)-1.
 */
static size_t
json_lexical_offence(const char *buf, size_t len)
{
	bool	in_string = false;
	size_t	i, start;

	for (i = 0; i < len; i++) {
		if (in_string) {
			if (buf[i] == '\\')
				i++;
			else if (buf[i] == '"')
				in_string = false;
			continue;
		}
		if (buf[i] == '"')
			in_string = true;
		else if (buf[i] == '\'')
			return i;
		else if (((buf[i] | 0x20) >= 'a' && (buf[i] | 0x20) <= 'z') &&
		    (i == 0 || !((buf[i - 1] >= '0' && buf[i - 1] <= '9') ||
		    buf[i - 1] == '.'))) {
			/* A word, not a number's exponent. */
			start = i;
			while (i + 1 < len && ((buf[i + 1] | 0x20) >= 'a' &&
			    (buf[i + 1] | 0x20) <= 'z'))
				i++;
			if (!((i - start == 3 && strncmp(buf + start, "true",
			    4) == 0) || (i - start == 4 && strncmp(buf + start,
			    "false", 5) == 0) || (i - start == 3 &&
			    strncmp(buf + start, "null", 4) == 0)))
				return start;
		}
	}
	return (size_t)-1;
}

json_object *
json_parse_strict(const char *buf, size_t len, int depth, struct err *e)
{
	struct json_tokener	*tok;
	json_object		*obj;
	enum json_tokener_error	 jerr;
	size_t			 end;

	if (len == 0) {
		err_set(e, ERR_MALFORMED_JSON, "the body is empty");
		return NULL;
	}
	if (memchr(buf, '\0', len) != NULL) {
		err_set(e, ERR_MALFORMED_JSON, "the body contains a NUL byte");
		return NULL;
	}
	if (!utf8_valid(buf, len)) {
		err_set(e, ERR_MALFORMED_JSON, "the body is not valid UTF-8");
		return NULL;
	}
	if ((end = json_lexical_offence(buf, len)) != (size_t)-1) {
		err_set(e, ERR_MALFORMED_JSON, "malformed JSON at byte %zu:"
		    " only \"strings\", numbers, true, false and null are"
		    " values", end);
		return NULL;
	}
	if ((tok = json_tokener_new_ex(depth)) == NULL) {
		err_set(e, ERR_INTERNAL, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT |
	    JSON_TOKENER_VALIDATE_UTF8);
	obj = json_tokener_parse_ex(tok, buf, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (obj == NULL && jerr == json_tokener_continue) {
		/* A number or literal at the top may still grow: the end of
		 * the input (its NUL) settles it; a cut body stays cut. */
		obj = json_tokener_parse_ex(tok, "", 1);
		if ((jerr = json_tokener_get_error(tok)) != json_tokener_success)
			jerr = json_tokener_continue;
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		err_set(e, ERR_MALFORMED_JSON,
		    "the JSON body ends before it is complete");
		return NULL;
	}
	if (obj == NULL && jerr == json_tokener_success) {
		err_set(e, ERR_INVALID_FIELD, "the body is null, not a JSON"
		    " object");
		return NULL;
	}
	if (obj == NULL || jerr != json_tokener_success) {
		if (jerr == json_tokener_error_depth)
			err_set(e, ERR_MALFORMED_JSON,
			    "the JSON body nests deeper than %d levels", depth);
		else
			err_set(e, ERR_MALFORMED_JSON,
			    "malformed JSON at byte %zu: %s", end,
			    json_tokener_error_desc(jerr));
		json_object_put(obj);
		return NULL;
	}
	/* Only white space may follow the value. */
	for (; end < len; end++) {
		if (strchr(" \t\r\n", buf[end]) == NULL) {
			err_set(e, ERR_MALFORMED_JSON,
			    "unexpected bytes after the JSON value at byte %zu",
			    end);
			json_object_put(obj);
			return NULL;
		}
	}
	return obj;
}

static void
json_hint_fields(struct err *e, const char *const *allowed)
{
	char	list[200] = "";
	size_t	i;

	for (i = 0; allowed[i] != NULL; i++) {
		if (i > 0)
			strncat(list, ", ", sizeof(list) - strlen(list) - 1);
		strncat(list, allowed[i], sizeof(list) - strlen(list) - 1);
	}
	err_hint(e, "the fields are: %s", list);
}

int
json_only_keys(json_object *obj, const char *const *allowed, struct err *e)
{
	size_t	i;
	bool	known;

	if (!json_object_is_type(obj, json_type_object))
		return err_set(e, ERR_INVALID_FIELD,
		    "the body must be a JSON object");
	json_object_object_foreach(obj, key, val) {
		(void)val;
		known = false;
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				known = true;
		if (!known) {
			err_set(e, ERR_INVALID_FIELD, "unknown field '%.64s'",
			    key);
			json_hint_fields(e, allowed);
			return -1;
		}
	}
	return 0;
}

/* Characters, not bytes: the input is already valid UTF-8. */
static size_t
utf8_len(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

int
json_get_str(json_object *obj, const char *key, bool required, size_t maxlen,
    const char **out, struct err *e)
{
	json_object		*v;
	const unsigned char	*p;

	*out = NULL;
	if (!json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null)) {
		if (required)
			return err_set(e, ERR_INVALID_FIELD,
			    "field '%s' is required", key);
		return 0;
	}
	if (!json_object_is_type(v, json_type_string))
		return err_set(e, ERR_INVALID_FIELD,
		    "field '%s' must be a string", key);
	*out = json_object_get_string(v);
	if ((size_t)json_object_get_string_len(v) != strlen(*out))
		return err_set(e, ERR_INVALID_FIELD,
		    "field '%s' contains a NUL character", key);
	/* Escapes such as a lone "\ud800" decode to invalid UTF-8. */
	if (!utf8_valid(*out, strlen(*out)))
		return err_set(e, ERR_INVALID_FIELD,
		    "field '%s' is not valid UTF-8", key);
	if (utf8_len(*out) > maxlen)
		return err_set(e, ERR_INVALID_FIELD,
		    "field '%s' is longer than %zu characters", key, maxlen);
	for (p = (const unsigned char *)*out; *p != '\0'; p++)
		if ((*p < ' ' && *p != '\n' && *p != '\t') || *p == 0x7f)
			return err_set(e, ERR_INVALID_FIELD,
			    "field '%s' contains a control character", key);
	return 0;
}

int
json_get_bool(json_object *obj, const char *key, int *out, struct err *e)
{
	json_object	*v;

	*out = -1;
	if (!json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return err_set(e, ERR_INVALID_FIELD,
		    "field '%s' must be true or false", key);
	*out = json_object_get_boolean(v);
	return 0;
}

json_object *
json_get_strarray(json_object *obj, const char *key, size_t maxn,
    size_t maxlen, bool (*valid)(const char *), struct err *e)
{
	json_object	*v, *out, *item;
	const char	*s;
	size_t		 i, j, n;
	int		 bad;

	if (!json_object_object_get_ex(obj, key, &v) ||
	    json_object_is_type(v, json_type_null))
		return json_object_new_array();
	if (!json_object_is_type(v, json_type_array)) {
		err_set(e, ERR_INVALID_FIELD, "field '%s' must be a list of"
		    " strings", key);
		return NULL;
	}
	if ((n = json_object_array_length(v)) > maxn) {
		err_set(e, ERR_INVALID_FIELD, "field '%s' has more than %zu"
		    " items", key, maxn);
		return NULL;
	}
	out = json_object_new_array();
	for (i = 0; i < n; i++) {
		item = json_object_new_object();
		json_object_object_add(item, key, json_object_get(
		    json_object_array_get_idx(v, i)));
		if ((bad = json_get_str(item, key, true, maxlen, &s, e)) == 0) {
			if (*s == '\0')
				bad = err_set(e, ERR_INVALID_FIELD, "item %zu"
				    " of '%s' is empty", i + 1, key);
			else if (valid != NULL && !valid(s))
				bad = err_set(e, ERR_INVALID_FIELD, "item %zu"
				    " of '%s' is not valid: '%.60s'", i + 1,
				    key, s);
		}
		if (bad != 0) {
			json_object_put(item);
			json_object_put(out);
			return NULL;
		}
		for (j = 0; j < json_object_array_length(out); j++)
			if (strcmp(json_object_get_string(
			    json_object_array_get_idx(out, j)), s) == 0)
				break;
		if (j == json_object_array_length(out))
			json_object_array_add(out, json_object_new_string(s));
		json_object_put(item);
	}
	return out;
}

json_object *
json_ok(const char *text, json_object *data, json_object *next)
{
	json_object	*root = json_object_new_object();
	char		*fixed = NULL;

	/* A text cut to fit ("%.120s") may end inside a character. */
	if (!utf8_valid(text, strlen(text)) && (fixed = strdup(text)) != NULL) {
		utf8_sanitize(fixed);
		text = fixed;
	}
	json_object_object_add(root, "ok", json_object_new_boolean(1));
	json_object_object_add(root, "text", json_object_new_string(text));
	free(fixed);
	json_object_object_add(root, "data",
	    data != NULL ? data : json_object_new_object());
	if (next != NULL)
		json_object_object_add(root, "next", next);
	return root;
}

json_object *
json_strarray(const char *const *v)
{
	json_object	*arr = json_object_new_array();

	for (; *v != NULL; v++)
		json_object_array_add(arr, json_object_new_string(*v));
	return arr;
}

json_object *
json_from_row(PGresult *res, int row)
{
	json_object	*obj = json_object_new_object(), *v;
	const char	*s;
	int		 col;

	for (col = 0; col < PQnfields(res); col++) {
		if (PQgetisnull(res, row, col)) {
			json_object_object_add(obj, PQfname(res, col), NULL);
			continue;
		}
		s = PQgetvalue(res, row, col);
		switch (PQftype(res, col)) {
		case OID_BOOL:
			v = json_object_new_boolean(s[0] == 't');
			break;
		case OID_INT2:
		case OID_INT4:
		case OID_INT8:
			v = json_object_new_int64(strtoll(s, NULL, 10));
			break;
		case OID_JSON:
		case OID_JSONB:
			/* Written by us; parsed back for nesting, not trust. */
			v = json_tokener_parse(s);
			break;
		default:
			v = json_object_new_string(s);
			break;
		}
		json_object_object_add(obj, PQfname(res, col), v);
	}
	return obj;
}

json_object *
json_from_rows(PGresult *res)
{
	json_object	*arr = json_object_new_array();
	int		 row;

	for (row = 0; row < PQntuples(res); row++)
		json_object_array_add(arr, json_from_row(res, row));
	return arr;
}

/* Gitea's objects, read by dotted path ("head.repo.id"). */
json_object *
json_path(json_object *o, const char *path)
{
	char		 key[64];
	const char	*dot;
	size_t		 n;

	while (o != NULL && *path != '\0') {
		dot = strchr(path, '.');
		n = dot != NULL ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(key) || !json_object_is_type(o, json_type_object))
			return NULL;
		memcpy(key, path, n);
		key[n] = '\0';
		if (!json_object_object_get_ex(o, key, &o))
			return NULL;
		path += n + (dot != NULL ? 1 : 0);
	}
	return o;
}

const char *
json_path_str(json_object *o, const char *path)
{
	o = json_path(o, path);
	return o != NULL && json_object_is_type(o, json_type_string) ?
	    json_object_get_string(o) : NULL;
}

bool
json_path_long(json_object *o, const char *path, long *out)
{
	o = json_path(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_int))
		return false;
	*out = (long)json_object_get_int64(o);
	return true;
}

int
json_path_bool(json_object *o, const char *path)
{
	o = json_path(o, path);
	if (o == NULL || !json_object_is_type(o, json_type_boolean))
		return -1;
	return json_object_get_boolean(o) ? 1 : 0;
}

/* ["a","b"] of the string field `key` of each object of an array, as
 * JSON text for a jsonb column; "[]" for null or missing. */
char *
json_pluck(json_object *arr, const char *key)
{
	json_object	*out = json_object_new_array();
	const char	*v;
	char		*text;
	size_t		 i, n;

	n = arr != NULL && json_object_is_type(arr, json_type_array) ?
	    json_object_array_length(arr) : 0;
	for (i = 0; i < n; i++)
		if ((v = json_path_str(json_object_array_get_idx(arr, i), key)) !=
		    NULL)
			json_object_array_add(out, json_object_new_string(v));
	text = strdup(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN));
	json_object_put(out);
	return text;
}
