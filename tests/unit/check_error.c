/* check_error.c: the error table and the uniform error shape. */
#include <string.h>

#include "check_synstack.h"
#include "synstack.h"

START_TEST(test_table_complete)
{
	size_t	i, j;

	/* Every code has a unique name, a message, a hint and its slot. */
	for (i = 0; i < ERR__COUNT; i++) {
		ck_assert_int_eq(err_table[i].code, (int)i);
		ck_assert_ptr_nonnull(err_table[i].name);
		ck_assert_ptr_nonnull(err_table[i].message);
		ck_assert_ptr_nonnull(err_table[i].hint);
		for (j = i + 1; j < ERR__COUNT; j++)
			ck_assert_str_ne(err_table[i].name, err_table[j].name);
	}
}
END_TEST

START_TEST(test_statuses)
{
	ck_assert_int_eq(err_status(ERR_MALFORMED_JSON), 400);
	ck_assert_int_eq(err_status(ERR_UNAUTHORIZED), 401);
	ck_assert_int_eq(err_status(ERR_WAITING_APPROVAL), 403);
	ck_assert_int_eq(err_status(ERR_NOT_FOUND), 404);
	ck_assert_int_eq(err_status(ERR_NAME_TAKEN), 409);
	ck_assert_int_eq(err_status(ERR_BODY_TOO_LARGE), 413);
	ck_assert_int_eq(err_status(ERR_INVALID_TRANSITION), 422);
	ck_assert_int_eq(err_status(ERR_RATE_LIMITED), 429);
	ck_assert_int_eq(err_status(ERR_GITEA_UNAVAILABLE), 502);
	ck_assert_int_eq(err_status(ERR_DB_UNAVAILABLE), 503);
	ck_assert_int_eq(err_status((enum err_code)9999), 500);
}
END_TEST

START_TEST(test_shape)
{
	struct err	 e;
	json_object	*j, *error, *v;

	err_clear(&e);
	ck_assert_int_eq(err_set(&e, ERR_NAME_TAKEN, "agent name '%s' is taken",
	    "bob"), -1);
	err_hint(&e, "choose %s", "another");
	j = err_to_json(&e);
	ck_assert(json_object_object_get_ex(j, "ok", &v));
	ck_assert(!json_object_get_boolean(v));
	ck_assert(json_object_object_get_ex(j, "error", &error));
	ck_assert_int_eq(json_object_object_length(error), 3);
	json_object_object_get_ex(error, "code", &v);
	ck_assert_str_eq(json_object_get_string(v), "name_taken");
	json_object_object_get_ex(error, "message", &v);
	ck_assert_str_eq(json_object_get_string(v), "agent name 'bob' is taken");
	json_object_object_get_ex(error, "hint", &v);
	ck_assert_str_eq(json_object_get_string(v), "choose another");
	json_object_put(j);
}
END_TEST

START_TEST(test_default_message)
{
	struct err	e;

	err_clear(&e);
	err_set(&e, ERR_DB_UNAVAILABLE, NULL);
	ck_assert_str_eq(e.message, "the database is unavailable");
	ck_assert_str_eq(e.hint, "try again in a few seconds");
}
END_TEST

Suite *
error_suite(void)
{
	Suite	*s = suite_create("error");
	TCase	*tc = tcase_create("table");

	tcase_add_test(tc, test_table_complete);
	tcase_add_test(tc, test_statuses);
	tcase_add_test(tc, test_shape);
	tcase_add_test(tc, test_default_message);
	suite_add_tcase(s, tc);
	return s;
}
