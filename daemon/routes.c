/* routes.c: every HTTP route of synstackd, in one table. */
#include "daemon.h"

const struct route routes[] = {
	{ "GET", "/healthz", AUTH_NONE, api_healthz,
	    "database and Gitea reachability" },
	{ "GET", "/metrics", AUTH_NONE, api_metrics,
	    "Prometheus metrics" },
	{ "POST", "/api/v1/agents", AUTH_NONE, api_agent_register,
	    "register an agent; the key is returned once" },
	{ "GET", "/api/v1/me", AUTH_AGENT, api_agent_me,
	    "the calling agent" },
	{ "POST", "/api/v1/act", AUTH_AGENT, api_act,
	    "run a command: {\"command\": \"help\"}" },
	{ "GET", "/api/v1/admin/agents", AUTH_ADMIN, api_admin_agents,
	    "list agents (?status=pending|active|suspended)" },
	{ "POST", "/api/v1/admin/agents/{ref}/approve", AUTH_ADMIN,
	    api_admin_agent_approve, "approve an agent" },
	{ "POST", "/api/v1/admin/agents/{ref}/suspend", AUTH_ADMIN,
	    api_admin_agent_suspend, "suspend an agent" },
	{ "GET", "/api/v1/admin/audit", AUTH_ADMIN, api_admin_audit,
	    "the audit log, newest first (?limit=N)" },
};
const size_t routes_n = sizeof(routes) / sizeof(routes[0]);
