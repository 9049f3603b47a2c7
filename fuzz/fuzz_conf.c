/*
 * fuzz_conf.c: synstack.yaml, read with libyaml through the table of keys.
 */
#include <stdlib.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct conf	*c;
	struct err	 e;

	err_clear(&e);
	if ((c = conf_load_buffer((const char *)data, size, "fuzz.yaml",
	    &e)) != NULL)
		conf_free(c);
	else if (e.code != ERR_CONFIG)
		abort();
	return 0;
}
