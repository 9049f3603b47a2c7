/* check_platform.c: the platform seed file, checked as the API checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_synstack.h"
#include "synstack.h"

static char *
seed_file(const char *text)
{
	static char	path[64];
	FILE		*f;
	int		 fd;

	strcpy(path, "/tmp/check-platform-XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* The sample in conf/ is what a fresh install seeds: it must load. */
START_TEST(test_sample_loads)
{
	struct err	 e;
	json_object	*list;
	char		 path[1024];
	const char	*names[] = { "railway", "fly", "render", "docker", "k8s" };
	size_t		 i;

	snprintf(path, sizeof(path), "%s/conf/platforms.yaml", test_srcdir());
	err_clear(&e);
	list = platform_file_load(path, &e);
	ck_assert_msg(list != NULL, "%s", e.message);
	ck_assert_uint_eq(json_object_array_length(list), 5);
	for (i = 0; i < 5; i++)
		ck_assert_str_eq(json_path_str(json_object_array_get_idx(list,
		    i), "platform.name"), names[i]);
	json_object_put(list);
}
END_TEST

static void
refused(const char *text, const char *where, const char *why)
{
	struct err	 e;
	char		*p = seed_file(text);

	err_clear(&e);
	ck_assert_ptr_null(platform_file_load(p, &e));
	ck_assert_msg(strstr(e.message, where) != NULL, "%s", e.message);
	ck_assert_msg(strstr(e.message, why) != NULL, "%s", e.message);
	unlink(p);
}

START_TEST(test_bad_files)
{
	refused("platforms:\n  - name: ok\n    display_name: OK\n"
	    "    trigger: hook\n", ":2:5:", "hook_secret");
	refused("platforms:\n  - name: Bad_Name\n    display_name: X\n"
	    "    trigger: manual\n", ":2:5:", "not a platform name");
	refused("platforms:\n  - name: x\n    display_name: X\n"
	    "    trigger: manual\n    colour: red\n", ":2:5:", "colour");
	refused("platforms:\n  - name: x\n    display_name: X\n"
	    "    trigger: command\n    command: []\n", ":2:5:", "command");
	refused("platforms:\n  - name: x\n    display_name: X\n"
	    "    trigger: hook\n    hook_secret: URL\n    secrets: [OTHER]\n",
	    ":2:5:", "not one of the platform's secrets");
	refused("platforms:\n  - name: x\n    display_name: X\n"
	    "    trigger: manual\n    secrets: [\"1BAD\"]\n", ":2:5:",
	    "not valid");
	refused("platform:\n  - name: x\n", ":1:1:", "unknown key");
	refused("platforms: fly\n", ":1:1:", "a list");
	refused("platforms: [\n", ":", "");
}
END_TEST

Suite *
platform_suite(void)
{
	Suite	*s = suite_create("platform");
	TCase	*tc = tcase_create("seed");

	tcase_add_test(tc, test_sample_loads);
	tcase_add_test(tc, test_bad_files);
	suite_add_tcase(s, tc);
	return s;
}
