// commands.hpp — the subcommands of the `loomflow` program. Each returns the process exit status:
// 0 success, 1 the run failed, 2 bad usage or a bad spec.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "loomflow/journal.hpp"
#include "loomflow/providers/pricing.hpp"
#include "loomflow/providers/resolve.hpp"
#include "loomflow/spec.hpp"
#include "loomflow/usage_json.hpp"

namespace loomflow::cli {

struct RunArgs {
  std::string spec;
  std::string input;
  std::string user = "anonymous";
  std::string session;
  bool json = false;
  long timeout_ms = 0;
  std::size_t threads = 0;
  std::string prices;  // a JSON price table file overriding the defaults
  std::string journal;  // a journal URI; empty: $LOOMFLOW_JOURNAL, else no journal
  std::string agent;    // run this agent of the spec instead of its workflow (served agent runs)
  std::vector<Message> history;  // earlier chat turns of an agent run (RunOptions::history)
};

struct RunsArgs {
  std::string journal;  // empty: $LOOMFLOW_JOURNAL
  std::string user;     // runs list: only this user's sessions
  std::string session;  // runs show/resume, journal export/prune
  std::string older_than;  // journal prune: e.g. 7d, 12h, 30m, 90s
  bool json = false;
  std::size_t threads = 0;
};

struct AskArgs {
  std::string model;
  std::string prompt;
  std::string system;
  std::string schema;  // path of a JSON Schema file for the answer
  bool stream = false;
  bool json = false;
  std::string prices;
};

struct BenchArgs {
  std::string workload;  // empty: all
  bool json = false;
  std::size_t threads = 0;
  std::string journal;   // W4's journal URI; empty: a fresh RocksDB journal in a temporary directory
  // T3's MCP server (server-everything over stdio), a command line split on spaces.
  std::string mcp_command = "npx -y @modelcontextprotocol/server-everything@2026.8.31 stdio";
};

// `loomflow index add|query`: the persistent vector index of the retrieval tool (cmd_index.cpp).
struct IndexArgs {
  std::string index;            // --index PATH: the index directory (created by `add`)
  std::vector<std::string> paths;  // index add: files and directories to chunk, embed and store
  std::string text;             // index query: the query text
  std::size_t k = 5;            // index query: how many chunks to return
  std::string user = "anonymous";  // the UserId partition to add to or query
  std::string embedder;         // empty: the offline local embedder; else e.g. compat:MODEL, openai:MODEL
  bool json = false;
};

// `loomflow mcp tools|call`: talk to one MCP server (cmd_mcp.cpp).
struct McpArgs {
  std::vector<std::string> command;  // stdio: the server command and its arguments (after `--`)
  std::string url;                   // Streamable HTTP: the server's endpoint URL
  std::vector<std::string> headers;  // extra HTTP headers, "Name: value"
  std::string tool;                  // mcp call: the tool name
  std::string args = "{}";           // mcp call: the arguments, a JSON object
  long timeout_ms = 60000;           // per request
  bool json = false;
};

// `loomflow serve`: host specs over HTTP (cmd_serve.cpp).
struct ServeArgs {
  std::string spec;                     // a spec file or a directory of *.json specs
  std::string listen = "127.0.0.1:8080";
  std::string journal;                  // empty: $LOOMFLOW_JOURNAL, else none
  std::string keys;                     // a keys file; LOOMFLOW_API_KEYS adds to it
  bool no_auth = false;                 // every request is "anonymous" (local use only)
  std::size_t threads = 0;
  long grace_ms = 30000;                // SIGTERM: how long runs in flight may take to finish
  std::size_t max_body = 1024 * 1024;   // request body limit, bytes
  std::string prices;
};

// `loomflow node`, `loomflow worker`, `loomflow cluster status` (cmd_cluster.cpp).
struct ClusterArgs {
  std::string listen = "127.0.0.1:7100";  // node; workers default to 127.0.0.1:0
  std::vector<std::string> join;          // seeds (status: the members to ask, in order)
  std::string name;
  std::string secret_file;
  std::string tls_cert, tls_key, tls_ca;
  bool insecure = false;
  long heartbeat_ms = 100;
  long failure_timeout_ms = 1000;
  long join_timeout_ms = 10000;
  std::vector<std::string> tools;  // worker: tool names (comma-separated lists allowed)
  std::string workdir;             // worker: the working root of bash and the fs_* tools
  std::uint32_t capacity = 16;     // worker: calls served at once
  std::size_t threads = 0;
  std::size_t idle_polls = 50000;  // NodeConfig::idle_polls
  bool json = false;               // status, run
  // node: specs whose workflows (by spec name) and agents ("<spec>/<agent>") it hosts for others,
  // the tools the cluster's workers serve that those agents may call, and the journal of its runs.
  std::vector<std::string> specs;
  std::vector<std::string> remote_tools;
  std::string journal;
  // cluster run: what to run where.
  std::string target, input, on, session, user = "anonymous";
};

// What specs run by the CLI may name: the built-in models, functions and tools, and every model
// resolve_model knows (HTTP models share `providers`; default: a fresh environment).
SpecEnvironment cli_environment(std::shared_ptr<providers::ProviderEnvironment> providers = nullptr);

// The default price table with the entries of `file` (JSON, see pricing.hpp) laid over it.
Expected<std::shared_ptr<const providers::PriceTable>> price_table(const std::string& file);

// Usage as the CLI prints it in --json output: loomflow::usage_json (usage_json.hpp).
using loomflow::usage_json;

// Opens `uri`, or $LOOMFLOW_JOURNAL when it is empty; an error when neither is set.
Expected<std::shared_ptr<JournalStore>> open_cli_journal(std::string uri);

// What a journaled run keeps so `runs resume` can load its spec again: path and full text.
std::string spec_origin(const std::string& spec_path, const std::string& spec_text);

// Runs a loaded spec and prints the result like `loomflow run` (`command` prefixes errors).
int execute_run(const char* command, const LoadedSpec& spec, const std::string& input, const RunArgs& args,
                std::shared_ptr<JournalStore> journal, std::string origin);

// "7d", "12h", "30m", "90s", "500ms", "2w" → milliseconds.
Expected<std::int64_t> parse_duration_ms(std::string_view text);

int run_command(const RunArgs& args);
int runs_list_command(const RunsArgs& args);
int runs_show_command(const RunsArgs& args);
int runs_resume_command(const RunsArgs& args);
int journal_export_command(const RunsArgs& args);
int journal_prune_command(const RunsArgs& args);
int graph_command(const std::string& spec);
int ask_command(const AskArgs& args);
int bench_command(const BenchArgs& args);
int index_add_command(const IndexArgs& args);
int index_query_command(const IndexArgs& args);
int mcp_tools_command(const McpArgs& args);
int mcp_call_command(const McpArgs& args);
int serve_command(const ServeArgs& args);
int node_command(const ClusterArgs& args);
int worker_command(const ClusterArgs& args);
int cluster_status_command(const ClusterArgs& args);
int cluster_run_command(const ClusterArgs& args);

}  // namespace loomflow::cli
