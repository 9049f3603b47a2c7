/*
 * hookinstall.c: `synstackd install-hook`.  Registers, or brings up to
 * date, the Gitea system webhook that delivers to this daemon.  Gitea's
 * traps are avoided on purpose: a hook is created inactive unless told
 * `active: true`, and an admin hook without is_system_webhook is only a
 * template for repositories created later (tests/gitea_emulator/reference/README.md).
 */
#include <stdio.h>
#include <string.h>

#include "synstack.h"

static const char *const hook_events[] = {
	"repository", "push", "issues", "issue_comment", "pull_request",
	"pull_request_review", "status", NULL
};

struct hook_find {
	const char	*url;
	long		 id;
};

static int
find_hook(json_object *h, void *arg, struct err *e)
{
	struct hook_find	*f = arg;
	const char		*url = json_path_str(h, "config.url");

	(void)e;
	if (f->id == 0 && url != NULL && strcmp(url, f->url) == 0)
		json_path_long(h, "id", &f->id);
	return 0;
}

int
hook_install(const struct conf *conf, const char *url, long *id,
    bool *created, struct err *e)
{
	struct gitea_req	 q = { 0 };
	struct gitea_resp	 r = { .total = -1 };
	struct hook_find	 f = { url, 0 };
	json_object		*body, *config;
	char			 path[64];
	int			 rc;

	if (conf->gitea_webhook_secret == NULL)
		return err_set(e, ERR_NOT_CONFIGURED, "gitea.webhook_secret_file"
		    " is not set: Gitea would deliver unsigned");
	if (gitea_list(conf, "/admin/hooks", "type=system", NULL, false,
	    find_hook, &f, e) == -1)
		return -1;
	config = json_object_new_object();
	json_object_object_add(config, "url", json_object_new_string(url));
	json_object_object_add(config, "content_type",
	    json_object_new_string("json"));
	json_object_object_add(config, "secret",
	    json_object_new_string(conf->gitea_webhook_secret));
	json_object_object_add(config, "is_system_webhook",
	    json_object_new_string("true"));
	body = json_object_new_object();
	/* Only CreateHookOption has a type; EditHookOption has none. */
	if (f.id == 0)
		json_object_object_add(body, "type",
		    json_object_new_string("gitea"));
	json_object_object_add(body, "active", json_object_new_boolean(1));
	json_object_object_add(body, "events", json_strarray(hook_events));
	json_object_object_add(body, "branch_filter", json_object_new_string("*"));
	json_object_object_add(body, "config", config);
	if (f.id != 0) {
		snprintf(path, sizeof(path), "/admin/hooks/%ld", f.id);
		q.method = "PATCH";
		q.path = path;
	} else {
		q.method = "POST";
		q.path = "/admin/hooks";
	}
	q.body = body;
	rc = gitea_call(conf, &q, &r, e);
	if (rc == 0) {
		*created = f.id == 0;
		if (!json_path_long(r.json, "id", id))
			*id = f.id;
	}
	json_object_put(body);
	gitea_resp_free(&r);
	return rc;
}
