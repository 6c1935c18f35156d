// The `loomflow` program: run and draw declarative specs, and benchmark the runtime.
#include <iostream>

#include <CLI/CLI.hpp>

#include "commands.hpp"

int main(int argc, char** argv) {
  using namespace loomflow::cli;
  CLI::App app{"loomflow — LLM agents and workflows on the actor model"};
  app.set_version_flag("--version", std::string("loomflow ") + LOOMFLOW_VERSION);
  app.require_subcommand(1);

  RunArgs run;
  auto* run_cmd = app.add_subcommand("run", "Run the workflow of a JSON spec on an input");
  run_cmd->add_option("spec", run.spec, "Path of the JSON spec")->required();
  run_cmd->add_option("--input,-i", run.input, "The input text")->required();
  run_cmd->add_option("--user", run.user, "The user the run is for (default: anonymous)");
  run_cmd->add_option("--session", run.session, "The session id (default: a fresh one)");
  run_cmd->add_flag("--json", run.json, "Print one JSON object: output, visited, usage, user_id, session_id, trace");
  run_cmd->add_option("--timeout-ms", run.timeout_ms, "Fail the run after this many milliseconds (default: none)");
  run_cmd->add_option("--threads", run.threads, "Scheduler threads (default: one per core)");
  run_cmd->add_option("--prices", run.prices, "A JSON price table (USD per million tokens) over the defaults");
  run_cmd->add_option("--journal", run.journal,
                      "Journal the run durably (rocksdb:PATH, sqlite:PATH, postgres://...; default: $LOOMFLOW_JOURNAL); "
                      "with the --session of an earlier run, resumes it");

  RunsArgs runs;
  const char* journal_help = "The journal URI (default: $LOOMFLOW_JOURNAL)";
  auto* runs_cmd = app.add_subcommand("runs", "Journaled runs: list, show, resume");
  runs_cmd->require_subcommand(1);
  auto* runs_list = runs_cmd->add_subcommand("list", "List the journal's sessions, newest first");
  runs_list->add_option("--user", runs.user, "Only this user's sessions");
  auto* runs_show = runs_cmd->add_subcommand("show", "Show a session: status, input, output and its steps");
  runs_show->add_option("session", runs.session, "The session id")->required();
  auto* runs_resume = runs_cmd->add_subcommand("resume", "Resume a session started by `loomflow run --journal`");
  runs_resume->add_option("session", runs.session, "The session id")->required();
  runs_resume->add_option("--threads", runs.threads, "Scheduler threads (default: one per core)");
  for (auto* cmd : {runs_list, runs_show, runs_resume}) {
    cmd->add_option("--journal", runs.journal, journal_help);
    cmd->add_flag("--json", runs.json, "Print JSON");
  }

  auto* journal_cmd = app.add_subcommand("journal", "Operate a journal: export, prune");
  journal_cmd->require_subcommand(1);
  auto* journal_export = journal_cmd->add_subcommand("export", "Print a session and every journaled step as JSON");
  journal_export->add_option("session", runs.session, "The session id")->required();
  journal_export->add_flag("--json", runs.json, "One line of JSON (default: indented)");
  auto* journal_prune = journal_cmd->add_subcommand("prune", "Delete old sessions, or one session, with all their steps");
  journal_prune->add_option("--older-than", runs.older_than, "Sessions not updated for this long: 7d, 12h, 30m, 90s");
  journal_prune->add_option("--session", runs.session, "This session");
  journal_prune->add_flag("--json", runs.json, "Print JSON");
  for (auto* cmd : {journal_export, journal_prune}) cmd->add_option("--journal", runs.journal, journal_help);

  std::string graph_spec;
  auto* graph_cmd = app.add_subcommand("graph", "Print the workflow of a JSON spec as a Mermaid flowchart");
  graph_cmd->add_option("spec", graph_spec, "Path of the JSON spec")->required();

  AskArgs ask;
  auto* ask_cmd = app.add_subcommand("ask", "Ask one model one question (echo, openai:…, anthropic:…, compat:…, gpt-…, claude-…)");
  ask_cmd->add_option("model", ask.model, "The model, e.g. gpt-4.1-mini, claude-haiku-4-5, compat:llama3.1, echo")->required();
  ask_cmd->add_option("prompt", ask.prompt, "The question")->required();
  ask_cmd->add_option("--system", ask.system, "A system message");
  ask_cmd->add_flag("--stream", ask.stream, "Stream the answer and print it as it arrives");
  ask_cmd->add_flag("--json", ask.json, "Print one JSON object: output and usage");
  ask_cmd->add_option("--schema", ask.schema, "A JSON Schema file the answer must match (structured output)");
  ask_cmd->add_option("--prices", ask.prices, "A JSON price table (USD per million tokens) over the defaults");

  BenchArgs bench;
  auto* bench_cmd = app.add_subcommand("bench", "Run the benchmark workloads W1-W6, P1, T1-T4, S1-S3 and C1-C2 (one JSON line each)");
  bench_cmd->add_option("--workload,-w", bench.workload,
                        "Only these workloads, comma-separated (W1, W1-200nodes, W2, W3, W4, W5, W6, P1, T1, T2, T3, T4, S1, S2, S3, C1, C2)");
  bench_cmd->add_option("--mcp-command", bench.mcp_command,
                        "T3's MCP server command (default: npx -y @modelcontextprotocol/server-everything@2026.8.31 stdio)");
  bench_cmd->add_option("--journal", bench.journal,
                        "W4's journal (rocksdb:PATH, sqlite:PATH, postgres://...; default: a scratch RocksDB journal)");
  bench_cmd->add_flag("--json", bench.json, "Print JSON lines only (default: JSON lines and a summary)");
  bench_cmd->add_option("--threads", bench.threads, "Scheduler threads (default: one per core)");

  IndexArgs index;
  auto* index_cmd = app.add_subcommand("index", "The vector index of the retrieval tool: add documents, query it");
  index_cmd->require_subcommand(1);
  auto* index_add = index_cmd->add_subcommand("add", "Chunk, embed and store files (directories recursively)");
  index_add->add_option("paths", index.paths, "Files and directories")->required();
  auto* index_query = index_cmd->add_subcommand("query", "The k chunks nearest to a text");
  index_query->add_option("text", index.text, "The query text")->required();
  index_query->add_option("-k", index.k, "How many chunks (default 5)");
  for (auto* cmd : {index_add, index_query}) {
    cmd->add_option("--index", index.index, "The index directory")->required();
    cmd->add_option("--user", index.user, "The user whose partition to use (default: anonymous)");
    cmd->add_option("--embedder", index.embedder,
                    "local (default, offline), or an embeddings model: openai:MODEL, compat:MODEL");
    cmd->add_flag("--json", index.json, "Print JSON");
  }

  McpArgs mcp;
  auto* mcp_cmd = app.add_subcommand("mcp", "Talk to an MCP server: list its tools, call one");
  mcp_cmd->require_subcommand(1);
  auto* mcp_tools = mcp_cmd->add_subcommand("tools", "List the server's tools (mcp tools -- CMD ARGS... | --url URL)");
  auto* mcp_call = mcp_cmd->add_subcommand("call", "Call one tool (mcp call --tool NAME --args JSON -- CMD ... | --url URL)");
  mcp_call->add_option("--tool", mcp.tool, "The tool name")->required();
  mcp_call->add_option("--args", mcp.args, "The arguments, a JSON object (default {})");
  for (auto* cmd : {mcp_tools, mcp_call}) {
    cmd->add_option("--url", mcp.url, "A Streamable HTTP endpoint, e.g. http://127.0.0.1:3001/mcp");
    cmd->add_option("--header", mcp.headers, "An extra HTTP header, \"Name: value\" (repeatable)");
    cmd->add_option("--timeout-ms", mcp.timeout_ms, "Per-request timeout (default 60000)");
    cmd->add_flag("--json", mcp.json, "Print JSON");
    cmd->add_option("command", mcp.command, "The stdio server command and its arguments, after --");
  }

  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Host specs over HTTP: runs, SSE/WebSocket events, an OpenAI-compatible endpoint");
  serve_cmd->add_option("--spec", serve.spec, "A spec file, or a directory of *.json specs")->required();
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (default 127.0.0.1:8080; port 0 = any)");
  serve_cmd->add_option("--journal", serve.journal, "Journal URI: rocksdb:PATH, sqlite:PATH, postgres://... (default $LOOMFLOW_JOURNAL)");
  serve_cmd->add_option("--keys", serve.keys, "API keys file: one `KEY USER` per line (LOOMFLOW_API_KEYS=KEY=USER,... adds more)");
  serve_cmd->add_flag("--no-auth", serve.no_auth, "Accept requests without a key, all as user 'anonymous' (local use only)");
  serve_cmd->add_option("--threads", serve.threads, "Scheduler threads (default: one per core)");
  serve_cmd->add_option("--grace-ms", serve.grace_ms, "On SIGTERM, how long runs in flight may take to finish (default 30000)");
  serve_cmd->add_option("--max-body", serve.max_body, "Largest request body in bytes (default 1048576)");
  serve_cmd->add_option("--prices", serve.prices, "A JSON price table laid over the defaults");

  ClusterArgs node, worker, status;
  worker.listen = "127.0.0.1:0";
  auto* node_cmd = app.add_subcommand("node", "Run a cluster node: join through seeds, run agents' remote tool calls on workers");
  auto* worker_cmd = app.add_subcommand("worker", "Run a tool worker: join the cluster and serve the named tools");
  auto* cluster_cmd = app.add_subcommand("cluster", "Ask a running cluster");
  auto* status_cmd = cluster_cmd->add_subcommand("status", "Print the members as one member sees them");
  cluster_cmd->require_subcommand(1);
  ClusterArgs crun;
  auto* run_on_cmd = cluster_cmd->add_subcommand("run", "Run a hosted workflow or agent on a member and print its answer");
  for (auto [cmd, args] : {std::pair{node_cmd, &node}, std::pair{worker_cmd, &worker}, std::pair{status_cmd, &status},
                           std::pair{run_on_cmd, &crun}}) {
    cmd->add_option("--join", args->join, cmd == status_cmd ? "HOST:PORT of a member to ask (repeatable: tried in order)"
                                                             : "HOST:PORT of a seed member (repeatable)");
    cmd->add_option("--secret-file", args->secret_file, "A file holding the cluster secret (>= 16 bytes)");
    cmd->add_option("--tls-cert", args->tls_cert, "PEM certificate of this member (mutual TLS)");
    cmd->add_option("--tls-key", args->tls_key, "PEM private key of --tls-cert");
    cmd->add_option("--tls-ca", args->tls_ca, "PEM CA file that peers' certificates must chain to");
    cmd->add_flag("--insecure", args->insecure, "Neither secret nor TLS (trusted test networks only)");
    cmd->add_option("--join-timeout-ms", args->join_timeout_ms, "How long to try to reach a seed (default 10000)");
    if (cmd == status_cmd || cmd == run_on_cmd) continue;
    cmd->add_option("--listen", args->listen, std::string("HOST:PORT to listen on (default ") + args->listen + "; port 0 = any)");
    cmd->add_option("--name", args->name, "Unique member name (default: the listen address)");
    cmd->add_option("--heartbeat-ms", args->heartbeat_ms, "Heartbeat interval (default 100)");
    cmd->add_option("--failure-timeout-ms", args->failure_timeout_ms, "Silence after which a member is unreachable (default 1000)");
    cmd->add_option("--threads", args->threads, "Scheduler threads (default: one per core)");
    cmd->add_option("--idle-polls", args->idle_polls, "Polls of an idle scheduler thread before it parks (default 50000; 0: CAF's 100)");
  }
  worker_cmd->add_option("--tools", worker.tools, "Tools to serve: word_count, add, wait; with --workdir bash and fs_* (comma-separated)")->required();
  worker_cmd->add_option("--workdir", worker.workdir, "Working root of the bash and fs_* tools");
  worker_cmd->add_option("--capacity", worker.capacity, "Calls served at once (default 16)");
  status_cmd->add_flag("--json", status.json, "Print JSON");
  node_cmd->add_option("--spec", node.specs, "Host a spec's workflow (by its name) and agents (<spec>/<agent>) for others (file or dir; repeatable)");
  node_cmd->add_option("--remote-tools", node.remote_tools, "Tools served by the cluster's workers that hosted agents call (comma-separated)");
  node_cmd->add_option("--journal", node.journal, "Journal URI of hosted runs (share one postgres://... so another node can resume them)");
  run_on_cmd->add_option("target", crun.target, "A hosted workflow (spec name) or agent (<spec>/<agent>)")->required();
  run_on_cmd->add_option("input", crun.input, "The input")->required();
  run_on_cmd->add_option("--on", crun.on, "The member to run it on (default: the least loaded host)");
  run_on_cmd->add_option("--session", crun.session, "Session id (default: a fresh one)");
  run_on_cmd->add_option("--user", crun.user, "User id (default anonymous)");
  run_on_cmd->add_flag("--json", crun.json, "Print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;  // usage errors share the bad-input status
  }

  if (*run_cmd) return run_command(run);
  if (*graph_cmd) return graph_command(graph_spec);
  if (*ask_cmd) return ask_command(ask);
  if (*bench_cmd) return bench_command(bench);
  if (*runs_list) return runs_list_command(runs);
  if (*runs_show) return runs_show_command(runs);
  if (*runs_resume) return runs_resume_command(runs);
  if (*journal_export) return journal_export_command(runs);
  if (*journal_prune) return journal_prune_command(runs);
  if (*index_add) return index_add_command(index);
  if (*index_query) return index_query_command(index);
  if (*mcp_tools) return mcp_tools_command(mcp);
  if (*mcp_call) return mcp_call_command(mcp);
  if (*serve_cmd) return serve_command(serve);
  if (*node_cmd) return node_command(node);
  if (*worker_cmd) return worker_command(worker);
  if (*status_cmd) return cluster_status_command(status);
  if (*run_on_cmd) return cluster_run_command(crun);
  return 2;
}
