/*
 * fuzz_json.c: the strict JSON reader every body goes through, and the
 * accessors that read what it gave.
 */
#include <stdlib.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const keys[] = { "command", "branch", "title",
	    "verdict", "comment", NULL };
	struct err	 e;
	json_object	*j;
	const char	*s;
	char		*plucked;
	long		 n;

	err_clear(&e);
	if ((j = json_parse_strict((const char *)data, size, 32, &e)) == NULL) {
		if (e.code != ERR_MALFORMED_JSON && e.code != ERR_INVALID_FIELD)
			abort();
		return 0;
	}
	err_clear(&e);
	(void)json_only_keys(j, keys, &e);
	err_clear(&e);
	(void)json_get_str(j, "command", false, 4096, &s, &e);
	(void)json_path_str(j, "repository.owner.login");
	(void)json_path_long(j, "pull_request.number", &n);
	(void)json_path_bool(j, "pull_request.merged");
	if ((plucked = json_pluck(json_path(j, "labels"), "name")) != NULL)
		free(plucked);
	(void)json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN);
	json_object_put(j);
	return 0;
}
