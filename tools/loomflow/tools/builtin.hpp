// loomflow/tools/builtin.hpp — small deterministic functions and tools that specs can name without
// any C++: function nodes ("function": "uppercase") and agent tools ("tools": ["word_count"]).
// Thread-safety: every function and tool here is pure (wait only sleeps).
#pragma once

#include <map>
#include <string>

#include "loomflow/tool.hpp"
#include "loomflow/workflow.hpp"

namespace loomflow::tools {

// identity, uppercase, lowercase, trim, word_count (the input's word count as text).
std::map<std::string, NodeFn> builtin_functions();

// word_count {"text": string} -> number of words; add {"a": number, "b": number} -> the sum;
// wait {"ms": 0..60000} -> "waited N ms" after that long (blocking: a stand-in for an I/O-bound tool).
std::map<std::string, Tool> builtin_tools();

}  // namespace loomflow::tools
