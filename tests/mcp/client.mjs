// client.mjs: the official MCP TypeScript SDK's client, driven by a plan
// (tests/integration/test_mcp.py writes it).  Reads one JSON document on
// standard input:
//
//   {"transport": "http" | "stdio",
//    "url": "http://127.0.0.1:8470",   // synstackd (http: <url>/mcp)
//    "key": "ssk_...",                 // the agent's key
//    "bin": ".../synstack-mcp",        // stdio: the program to spawn
//    "calls": [{"tool": "feed", "args": {}}, {"list": true}, {"ping": true}]}
//
// and prints one JSON document on standard output:
//
//   {"initialize": {"protocolVersion", "serverInfo", "capabilities",
//                   "instructions"},     // the server's answer, as received
//    "negotiated": "2025-11-25",         // the version the transport sends
//    "server": {...}, "instructions": "...",   // as the Client saw them
//    "results": [{"ok": true, "result": {...}} |
//                {"ok": false, "error": {"code", "message", "data"}}],
//    "stderr": "..."}                    // stdio: the server's standard error
//
// A failure to connect is {"connect_error": {...}} with what was learnt.
// The exit status is 0 whenever the document could be printed.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

async function readStdin() {
	const chunks = [];
	for await (const c of process.stdin)
		chunks.push(c);
	return Buffer.concat(chunks).toString("utf8");
}

function errorOf(e) {
	const out = { message: e?.message ?? String(e) };
	if (e?.code !== undefined)
		out.code = e.code;
	if (e?.data !== undefined)
		out.data = e.data;
	out.name = e?.name ?? typeof e;
	return out;
}

// Every message the server sends, seen before the Client handles it (the
// initialize result is kept whole: the SDK does not expose the version).
function watch(transport, received) {
	let handler;
	Object.defineProperty(transport, "onmessage", {
		configurable: true,
		get() { return handler; },
		set(h) {
			handler = h && ((m, extra) => {
				received.push(m);
				return h(m, extra);
			});
		},
	});
}

async function main() {
	const plan = JSON.parse(await readStdin());
	const out = { transport: plan.transport, results: [] };
	const received = [];
	let transport, stderr = "";

	if (plan.transport === "stdio") {
		const env = { SYNSTACK_URL: plan.url, SYNSTACK_KEY: plan.key };
		if (plan.env)
			Object.assign(env, plan.env);
		transport = new StdioClientTransport({
			command: plan.bin, args: plan.args ?? [], env, stderr: "pipe",
		});
		transport.stderr?.on("data", (d) => { stderr += d.toString("utf8"); });
	} else if (plan.transport === "http") {
		const url = new URL(plan.url.replace(/\/+$/, "") + "/mcp");
		const headers = {};
		if (plan.key !== undefined && plan.key !== null)
			headers.Authorization = `Bearer ${plan.key}`;
		transport = new StreamableHTTPClientTransport(url,
		    { requestInit: { headers } });
	} else
		throw new Error(`unknown transport ${plan.transport}`);
	watch(transport, received);

	const client = new Client({ name: "synstack-tests", version: "1.0.0" },
	    { capabilities: {} });
	const timeout = plan.timeout_ms ?? 30000;
	try {
		await client.connect(transport, { timeout });
	} catch (e) {
		out.connect_error = errorOf(e);
	}
	const init = received.find((m) => m && m.id !== undefined &&
	    m.result && m.result.protocolVersion !== undefined);
	out.initialize = init ? init.result : null;
	out.negotiated = transport.protocolVersion ?? init?.result?.protocolVersion ?? null;
	if (!out.connect_error) {
		out.server = client.getServerVersion() ?? null;
		out.capabilities = client.getServerCapabilities() ?? null;
		out.instructions = client.getInstructions() ?? null;
		for (const call of plan.calls ?? []) {
			try {
				let result;
				if (call.list)
					result = await client.listTools({}, { timeout });
				else if (call.ping)
					result = await client.ping({ timeout });
				else if (call.tool !== undefined)
					result = await client.callTool({ name: call.tool,
					    arguments: call.args ?? {} }, undefined, { timeout });
				else
					throw new Error(`a call with nothing to do: ${JSON.stringify(call)}`);
				out.results.push({ ok: true, result });
			} catch (e) {
				out.results.push({ ok: false, error: errorOf(e) });
			}
		}
	}
	try {
		await client.close();
	} catch (e) {
		out.close_error = errorOf(e);
	}
	if (plan.transport === "stdio")
		out.stderr = stderr;
	process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(() => process.exit(0), (e) => {
	process.stderr.write(`client.mjs: ${e?.stack ?? e}\n`);
	process.exit(1);
});
