/* admin.c: admin tokens, configured as SHA-256 hashes or in a token file. */
#include <sodium.h>
#include <string.h>

#include "synstack.h"

int
admin_authenticate(const struct conf *conf, const char *token,
    struct actor *who, struct err *e)
{
	unsigned char	raw[32];
	char		hex[HASH_HEX_LEN + 1];

	if (conf->admin_hashes_n == 0) {
		err_set(e, ERR_UNAUTHORIZED, "no admin token is configured");
		err_hint(e, "set admin.token_hashes or admin.token_file in"
		    " synstack.yaml and reload synstackd (restart it when the"
		    " tokens are in a credential: file)");
		return -1;
	}
	if (token == NULL || *token == '\0' ||
	    !token_hash_match(token, conf->admin_hashes,
	    conf->admin_hashes_n)) {
		err_set(e, ERR_UNAUTHORIZED, "missing or unknown admin token");
		err_hint(e, "send Authorization: Bearer <admin token>");
		return -1;
	}
	/* Audit rows name an admin by a prefix of its token's hash. */
	key_hash_raw(token, raw);
	sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
	who->kind = ACTOR_ADMIN;
	memcpy(who->id, "admin:", 6);
	memcpy(who->id + 6, hex, 12);
	who->id[18] = '\0';
	return 0;
}
