/* check_json.c: strict JSON input, field helpers, the command splitter. */
#include <string.h>

#include "check_synstack.h"
#include "synstack.h"

static json_object *
parse(const char *s, int depth, struct err *e)
{
	err_clear(e);
	return json_parse_strict(s, strlen(s), depth, e);
}

START_TEST(test_parse_ok)
{
	struct err	 e;
	json_object	*j = parse(" {\"a\": [1, 2, {\"b\": null}]}\n", 8, &e);

	ck_assert_ptr_nonnull(j);
	json_object_put(j);
	/* Exponents are numbers, and words inside strings are text. */
	j = parse("{\"n\": [1e5, 2.5E-3, -1e+2, true, false],"
	    " \"s\": \"NaN 'quoted' Infinity\"}", 8, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_is_type(j, json_type_object));
	json_object_put(j);
}
END_TEST

/* A scalar at the top is a value like any other; null is no object. */
START_TEST(test_parse_scalars)
{
	struct err	 e;
	json_object	*j;

	j = parse("5", 8, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_is_type(j, json_type_int));
	ck_assert_int_eq(json_object_get_int(j), 5);
	json_object_put(j);
	j = parse(" true\n", 8, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_is_type(j, json_type_boolean));
	json_object_put(j);
	j = parse("-12.5e1", 8, &e);
	ck_assert_ptr_nonnull(j);
	ck_assert(json_object_is_type(j, json_type_double));
	json_object_put(j);
	ck_assert_ptr_null(parse("null", 8, &e));
	ck_assert_int_eq(e.code, ERR_INVALID_FIELD);
	ck_assert_ptr_null(parse("tr", 8, &e));
	ck_assert_int_eq(e.code, ERR_MALFORMED_JSON);
	ck_assert_ptr_null(parse("\"open", 8, &e));
	ck_assert_int_eq(e.code, ERR_MALFORMED_JSON);
	ck_assert_str_eq(e.message, "the JSON body ends before it is complete");
}
END_TEST

START_TEST(test_parse_rejects)
{
	static const char *const bad[] = {
		"",				/* empty */
		"{\"a\": 1",			/* incomplete */
		"{\"a\": 1} x",			/* trailing bytes */
		"{\"a\": 1}{}",			/* two values */
		"{'a': 1}",			/* single quotes (strict) */
		"{\"a\": 1,}",			/* trailing comma (strict) */
		"{\"a\": \"\xff\xfe\"}",	/* invalid UTF-8 */
		"{\"a\": \"\xc0\xaf\"}",	/* overlong UTF-8 */
		"[[[[[[[[[[1]]]]]]]]]]",	/* deeper than 8 */
		"{\"a\": tru}",
		"{\"a\": NaN}",			/* json-c takes these */
		"{\"a\": -Infinity}",
		"{\"a\": nan}",
		"[1, Infinity]",
		NULL
	};
	struct err	 e;
	size_t		 i;

	for (i = 0; bad[i] != NULL; i++) {
		json_object *j = parse(bad[i], 8, &e);
		ck_assert_msg(j == NULL, "accepted: %s", bad[i]);
		ck_assert_int_eq(e.code, ERR_MALFORMED_JSON);
	}
}
END_TEST

START_TEST(test_parse_nul_and_depth_message)
{
	struct err	 e;
	const char	 withnul[] = "{\"a\":\"x\0y\"}";

	err_clear(&e);
	ck_assert_ptr_null(json_parse_strict(withnul, sizeof(withnul) - 1, 8,
	    &e));
	ck_assert_int_eq(e.code, ERR_MALFORMED_JSON);
	ck_assert_ptr_null(parse("[[[[1]]]]", 3, &e));
	ck_assert_ptr_nonnull(strstr(e.message, "deeper than 3"));
}
END_TEST

START_TEST(test_utf8)
{
	struct err	 e;
	const char	*v;
	json_object	*j;

	ck_assert(utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
	ck_assert(!utf8_valid("\xc3", 1));			/* truncated */
	ck_assert(!utf8_valid("\xe2\x82", 2));		/* truncated */
	ck_assert(!utf8_valid("\xc0\xaf", 2));		/* overlong '/' */
	ck_assert(!utf8_valid("\xe0\x80\xaf", 3));		/* overlong */
	ck_assert(!utf8_valid("\xed\xa0\x80", 3));		/* surrogate */
	ck_assert(!utf8_valid("\xf4\x90\x80\x80", 4));	/* > U+10FFFF */
	ck_assert(!utf8_valid("\x80", 1));
	ck_assert(!utf8_valid("\xff", 1));
	{
		char cut[] = "ab\xc3";		/* a character cut in two */
		char bad[] = "x\xff\xc0\xafy\xe2\x82\xac";

		utf8_sanitize(cut);
		ck_assert_str_eq(cut, "ab?");
		utf8_sanitize(bad);
		ck_assert_str_eq(bad, "x???y\xe2\x82\xac");
		err_set(&e, ERR_NOT_FOUND, "no agent '%s'", "\xff\xfe");
		ck_assert_str_eq(e.message, "no agent '\?\?'");
	}
	/* An escaped lone surrogate never yields invalid UTF-8 downstream. */
	j = parse("{\"s\":\"\\ud800\"}", 8, &e);
	if (j != NULL) {
		if (json_get_str(j, "s", true, 10, &v, &e) == 0)
			ck_assert(utf8_valid(v, strlen(v)));
		json_object_put(j);
	}
}
END_TEST

START_TEST(test_only_keys)
{
	static const char *const allowed[] = { "name", "contact", NULL };
	struct err	 e;
	json_object	*j = parse("{\"name\":\"a\",\"evil\":1}", 8, &e);

	ck_assert_int_eq(json_only_keys(j, allowed, &e), -1);
	ck_assert_int_eq(e.code, ERR_INVALID_FIELD);
	ck_assert_str_eq(e.message, "unknown field 'evil'");
	ck_assert_str_eq(e.hint, "the fields are: name, contact");
	json_object_put(j);
	j = parse("[1]", 8, &e);
	ck_assert_int_eq(json_only_keys(j, allowed, &e), -1);
	json_object_put(j);
}
END_TEST

START_TEST(test_get_str)
{
	struct err	 e;
	const char	*v;
	json_object	*j = parse("{\"s\":\"héllo\",\"n\":3,\"c\":\"a\\u0001b\","
	    "\"z\":null,\"d\":\"line\\nbreak\"}", 8, &e);

	ck_assert_int_eq(json_get_str(j, "s", true, 5, &v, &e), 0);
	ck_assert_str_eq(v, "héllo");
	ck_assert_int_eq(json_get_str(j, "s", true, 4, &v, &e), -1);
	ck_assert_str_eq(e.message, "field 's' is longer than 4 characters");
	ck_assert_int_eq(json_get_str(j, "n", true, 5, &v, &e), -1);
	ck_assert_str_eq(e.message, "field 'n' must be a string");
	ck_assert_int_eq(json_get_str(j, "c", true, 5, &v, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.message, "control character"));
	ck_assert_int_eq(json_get_str(j, "d", true, 50, &v, &e), 0);
	ck_assert_int_eq(json_get_str(j, "z", false, 5, &v, &e), 0);
	ck_assert_ptr_null(v);
	ck_assert_int_eq(json_get_str(j, "missing", true, 5, &v, &e), -1);
	ck_assert_str_eq(e.message, "field 'missing' is required");
	json_object_put(j);
}
END_TEST

START_TEST(test_ok_shape)
{
	static const char *const next[] = { "feed", NULL };
	json_object	*j = json_ok("hi", NULL, json_strarray(next)), *v;

	ck_assert_str_eq(json_object_to_json_string_ext(j,
	    JSON_C_TO_STRING_PLAIN),
	    "{\"ok\":true,\"text\":\"hi\",\"data\":{},\"next\":[\"feed\"]}");
	ck_assert(json_object_object_get_ex(j, "data", &v));
	json_object_put(j);
	/* A text cut inside a character ("caf\xc3" of "café") is mended. */
	j = json_ok("caf\xc3", NULL, NULL);
	ck_assert(json_object_object_get_ex(j, "text", &v));
	ck_assert_str_eq(json_object_get_string(v), "caf?");
	json_object_put(j);
}
END_TEST

START_TEST(test_command_help_and_errors)
{
	struct command_ctx	 ctx = { NULL, NULL };
	struct err		 e;
	json_object		*j;
	char			 longline[COMMAND_MAX_LINE + 2];

	err_clear(&e);
	j = command_run(&ctx, "  help  ", &e);
	ck_assert_ptr_nonnull(j);
	ck_assert_ptr_nonnull(strstr(json_object_to_json_string(j),
	    "help [command]"));
	json_object_put(j);
	j = command_run(&ctx, "help \"help\"", &e);
	ck_assert_ptr_nonnull(j);
	json_object_put(j);
	ck_assert_ptr_null(command_run(&ctx, "frobnicate 3", &e));
	ck_assert_int_eq(e.code, ERR_UNKNOWN_COMMAND);
	ck_assert_ptr_null(command_run(&ctx, "", &e));
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	ck_assert_ptr_null(command_run(&ctx, "help \"open", &e));
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	ck_assert_ptr_null(command_run(&ctx, "help\nhelp", &e));
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
	ck_assert_ptr_null(command_run(&ctx,
	    "a a a a a a a a a a a a a a a a a", &e));
	memset(longline, 'a', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	ck_assert_ptr_null(command_run(&ctx, longline, &e));
	ck_assert_int_eq(e.code, ERR_BAD_REQUEST);
}
END_TEST

Suite *
json_suite(void)
{
	Suite	*s = suite_create("json");
	TCase	*tc = tcase_create("strict");

	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_scalars);
	tcase_add_test(tc, test_parse_rejects);
	tcase_add_test(tc, test_parse_nul_and_depth_message);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_only_keys);
	tcase_add_test(tc, test_get_str);
	tcase_add_test(tc, test_ok_shape);
	tcase_add_test(tc, test_command_help_and_errors);
	suite_add_tcase(s, tc);
	return s;
}
