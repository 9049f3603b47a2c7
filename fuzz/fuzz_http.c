/*
 * fuzz_http.c: the whole HTTP request path (libmicrohttpd's parser, our
 * limits, routing, authentication, bodies, every handler): the input is
 * what a client sends on one connection.  A 500 or a hang is a finding.
 */
#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_setup(true);
	fuzz_exchange(data, size);
	return 0;
}
