#include "loomflow/tools/retrieval/retrieval_tool.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

namespace loomflow::retrieval {

using nlohmann::json;

namespace {

// The first `max` bytes of `text`, never ending inside a UTF-8 character.
std::string cut_utf8(const std::string& text, std::size_t max) {
  if (max == 0 || text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end);
}

Error bad_args(const std::string& tool, const std::string& what) {
  return Error{ErrorCode::invalid_argument, "tool '" + tool + "': " + what};
}

}  // namespace

Expected<Tool> retrieval_tool(std::shared_ptr<VectorIndex> index, std::shared_ptr<Embedder> embedder,
                              RetrievalToolOptions options) {
  if (!index || !embedder) return Error{ErrorCode::invalid_argument, "retrieval_tool: needs an index and an embedder"};
  if (embedder->name() != index->info().embedder)
    return Error{ErrorCode::invalid_argument, "retrieval_tool: index " + index->directory() + " holds vectors of embedder '" +
                                                  index->info().embedder + "', not '" + embedder->name() + "'"};
  if (options.max_k == 0 || options.default_k == 0 || options.default_k > options.max_k)
    return Error{ErrorCode::invalid_argument, "retrieval_tool: default_k must be within 1..max_k"};
  const json schema = {
      {"type", "object"},
      {"properties",
       {{"query", {{"type", "string"}, {"description", "What to look for, in natural language."}}},
        {"k",
         {{"type", "integer"},
          {"minimum", 1},
          {"maximum", options.max_k},
          {"description", "How many passages to return (default " + std::to_string(options.default_k) + ")."}}}}},
      {"required", {"query"}},
      {"additionalProperties", false}};
  const std::string name = options.name;
  auto fn = [index, embedder, options](const ToolContext& ctx, std::string_view arguments) -> Expected<std::string> {
    json args;
    try {
      args = json::parse(arguments.empty() ? std::string_view("{}") : arguments);
    } catch (const json::exception& e) {
      return bad_args(options.name, std::string("arguments are not JSON: ") + e.what());
    }
    if (!args.is_object()) return bad_args(options.name, "arguments must be a JSON object");
    if (!args.contains("query") || !args["query"].is_string())
      return bad_args(options.name, "field 'query' is required and must be a string");
    const auto query = args["query"].get<std::string>();
    if (query.find_first_not_of(" \t\r\n") == std::string::npos)
      return bad_args(options.name, "field 'query' is empty");
    std::size_t k = options.default_k;
    if (args.contains("k")) {
      const auto& jk = args["k"];
      const bool integral = jk.is_number_integer() || (jk.is_number_float() && std::floor(jk.get<double>()) == jk.get<double>());
      if (!integral) return bad_args(options.name, "field 'k' must be an integer");
      const double v = jk.get<double>();
      if (v < 1 || v > static_cast<double>(options.max_k))
        return bad_args(options.name, "field 'k' must be between 1 and " + std::to_string(options.max_k));
      k = static_cast<std::size_t>(v);
    }
    auto hits = index->query(ctx.user_id, *embedder, query, k);
    if (!hits) return Error{ErrorCode::tool_error, "tool '" + options.name + "': " + hits.error().message};
    json out = json::array();
    for (const auto& h : *hits)
      out.push_back({{"source", h.source},
                     {"score", std::round(static_cast<double>(h.score) * 10000.0) / 10000.0},
                     {"text", cut_utf8(h.text, options.max_text_chars)}});
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
  };
  return Tool::function(name, options.description, schema.dump(), std::move(fn),
                        ToolOptions{.blocking = true, .timeout = options.timeout, .idempotent = true});
}

}  // namespace loomflow::retrieval
