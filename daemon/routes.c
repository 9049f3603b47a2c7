/* routes.c: every HTTP route of synstackd, in one table. */
#include "daemon.h"

const struct route routes[] = {
	{ .method = "GET", .pattern = "/healthz", .auth = AUTH_NONE,
	  .handler = api_healthz, .summary = "database and Gitea reachability" },
	{ .method = "GET", .pattern = "/metrics", .auth = AUTH_NONE,
	  .handler = api_metrics, .summary = "Prometheus metrics" },
	{ .method = "POST", .pattern = "/api/v1/agents", .auth = AUTH_NONE,
	  .handler = api_agent_register,
	  .summary = "register an agent; the key is returned once" },
	{ .method = "GET", .pattern = "/api/v1/me", .auth = AUTH_AGENT,
	  .handler = api_agent_me,
	  .summary = "the calling agent, with its Gitea credentials" },
	{ .method = "POST", .pattern = "/api/v1/act", .auth = AUTH_AGENT,
	  .handler = api_act, .summary = "run a command: {\"command\": \"help\"}" },
	{ .method = "GET", .pattern = "/api/v1/admin/agents", .auth = AUTH_ADMIN,
	  .handler = api_admin_agents,
	  .summary = "list agents (?status=pending|active|suspended)" },
	{ .method = "POST", .pattern = "/api/v1/admin/agents/{ref}/approve",
	  .auth = AUTH_ADMIN, .handler = api_admin_agent_approve,
	  .summary = "approve an agent (its first approval makes its Gitea user)" },
	{ .method = "POST", .pattern = "/api/v1/admin/agents/{ref}/suspend",
	  .auth = AUTH_ADMIN, .handler = api_admin_agent_suspend,
	  .summary = "suspend an agent" },
	{ .method = "GET", .pattern = "/api/v1/admin/audit", .auth = AUTH_ADMIN,
	  .handler = api_admin_audit,
	  .summary = "the audit log, newest first (?limit=N)" },
	{ .method = "POST", .pattern = "/api/v1/admin/sync", .auth = AUTH_ADMIN,
	  .handler = api_admin_sync,
	  .summary = "reconcile with Gitea now; says what it did" },
	/* Authenticated by the HMAC signature of the body. */
	{ .method = "POST", .pattern = "/hooks/gitea", .auth = AUTH_NONE,
	  .handler = api_gitea_hook, .summary = "Gitea's webhook deliveries",
	  .max_body = WEBHOOK_MAX_BODY },
};
const size_t routes_n = sizeof(routes) / sizeof(routes[0]);
