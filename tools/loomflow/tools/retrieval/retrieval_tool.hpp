// loomflow/tools/retrieval/retrieval_tool.hpp — `retrieval_tool`: the vector index as a tool an
// agent can call: top-k chunks of the calling user's partition for a query text.
//
// Arguments (JSON Schema given to the model): {"query": string (required, non-empty),
// "k": integer 1..max_k (optional, default default_k)}. The result is JSON text:
// [{"source": "...", "score": 0.83, "text": "..."}, ...], best first. Bad arguments are a tool
// error naming the field. The search runs in ToolContext::user_id's partition only. The tool is
// `blocking` (embedding and disk I/O), so the runtime runs each call on a detached actor.
// Thread-safety: the Tool is an immutable value; calls may run concurrently.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "loomflow/tool.hpp"
#include "loomflow/tools/retrieval/embedder.hpp"
#include "loomflow/tools/retrieval/vector_index.hpp"

namespace loomflow::retrieval {

struct RetrievalToolOptions {
  std::string name = "retrieve";  // the tool's name (default "retrieve")
  std::string description =       // what the model reads (default below)
      "Search the user's indexed documents; returns the most relevant passages with their source and score.";
  std::size_t default_k = 5;      // chunks when the call gives no k (default 5)
  std::size_t max_k = 50;         // the largest k a call may ask for (default 50)
  std::size_t max_text_chars = 2000;  // each hit's text is cut to this many bytes (UTF-8 safe); 0 = no cut
  std::chrono::milliseconds timeout{0};  // per call; 0 = no limit (default)
};

// Fails when the index or embedder is null, the embedder is not the index's, or the options are
// unusable (name, default_k outside 1..max_k).
Expected<Tool> retrieval_tool(std::shared_ptr<VectorIndex> index, std::shared_ptr<Embedder> embedder,
                              RetrievalToolOptions options = {});

}  // namespace loomflow::retrieval
