/*
 * fuzz_mcp.c: the MCP message reader at /mcp: the input is the body of a
 * POST the fuzz agent sends with every header right, so it reaches the
 * JSON-RPC checks, the methods and the tools (and, with a database, the
 * core behind them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	head[512];
	uint8_t	*req;
	int	n;

	fuzz_setup(true);
	n = snprintf(head, sizeof(head), "POST /mcp HTTP/1.1\r\n"
	    "Host: 127.0.0.1:8470\r\nAuthorization: Bearer %s\r\n"
	    "Content-Type: application/json\r\n"
	    "Accept: application/json, text/event-stream\r\n"
	    "MCP-Protocol-Version: %s\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", FUZZ_AGENT_KEY,
	    size > 0 && (data[0] & 1) ? "2025-11-25" : "2025-06-18", size);
	if ((req = malloc((size_t)n + size)) == NULL)
		return 0;
	memcpy(req, head, (size_t)n);
	if (size > 0)
		memcpy(req + n, data, size);
	fuzz_exchange(req, (size_t)n + size);
	free(req);
	return 0;
}
