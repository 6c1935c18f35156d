// decoder_fuzz.cpp — a seeded, dependency-free mutation fuzzer for Loomflow's wire decoders.
//
// Each iteration picks a recorded provider fixture (shared/fixtures/providers), applies 1-8 random
// mutations (byte flips, inserts, deletes, line duplication/removal, splices of two fixtures,
// truncation, SSE and JSON tokens, deep nesting, huge numbers, invalid UTF-8, type confusion of
// JSON values, renamed keys and event names, CRLF/CR line endings) and feeds the result to every
// decoder:
// - SseParser: the whole text at once and the same bytes split into random chunks; both must give
//   the same events and the same at_boundary();
// - openai::ChatStreamAccumulator and anthropic::MessagesStreamAccumulator: every event, then
//   finish(); once on_event() reported an error, every later call must report that same error;
// - parse_chat_response, parse_messages_response and both parse_error_body: the whole text and
//   some single event payloads;
// - validate_json: the text (when it is JSON) against a fixed schema.
// Every call must return normally; errors as values are fine. An escaping exception or a failed
// check prints the seed and iteration (each iteration has its own generator, so
// `--seed S --start I --iterations 1` replays it alone), writes the input to
// decoder_fuzz-failure-<S>-<I>.bin in the working directory and exits 1. A crash (signal) or a hang
// (an iteration over --hang-seconds) reports the same way before dying.
//
// Usage: loomflow_decoder_fuzz [--iterations N] [--seed S] [--seconds T] [--start I]
//                              [--max-depth D] [--hang-seconds H] [--verbose] [fixtures-dir]
// --iterations defaults to 20000, or to no limit when only --seconds is given; with both, the first
// limit reached ends the run. --max-depth caps the nesting the deep-nesting mutation generates
// (default 100000: deep enough to overflow an 8 MiB stack in any recursive JSON walk).
// --hang-seconds (default 60, 0 = off) is the watchdog's limit per iteration. The fixtures
// directory defaults to LOOMFLOW_SHARED_DIR/fixtures/providers.
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "loomflow/error.hpp"
#include "loomflow/json_schema.hpp"
#include "loomflow/providers/wire/anthropic_messages.hpp"
#include "loomflow/providers/wire/openai_chat.hpp"
#include "loomflow/providers/wire/sse.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define LOOMFLOW_FUZZ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOOMFLOW_FUZZ_ASAN 1
#endif
#endif
#ifdef LOOMFLOW_FUZZ_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

#ifndef LOOMFLOW_SHARED_DIR
#error "LOOMFLOW_SHARED_DIR must name the shared/ directory (set in tests/fuzz/CMakeLists.txt)"
#endif

namespace {

using namespace std::literals;
namespace wire = loomflow::providers::wire;
using Rng = std::mt19937_64;
using Clock = std::chrono::steady_clock;

// ---- Failure reporting --------------------------------------------------------------------------

// A failed harness check (as opposed to an exception escaping a decoder).
struct CheckFailure {
  std::string what;
};

// What is running now, for the crash and hang reports. Written by the fuzzing thread only; the
// signal handler and the watchdog read it.
struct Current {
  std::uint64_t seed = 0;
  std::atomic<std::uint64_t> iteration{0};
  std::atomic<const char*> decoder{"(setup)"};
  std::atomic<const char*> input{nullptr};  // set while the decoders run on a finished input
  std::atomic<std::size_t> input_size{0};
  std::atomic<std::int64_t> started_ns{0};  // when the current iteration began; 0 = idle
};
Current g_current;
constexpr std::size_t kDefaultMaxDepth = 100000;
std::size_t g_max_depth = kDefaultMaxDepth;  // --max-depth

void set_decoder(const char* name) { g_current.decoder.store(name, std::memory_order_relaxed); }

// Async-signal-safe helpers for the crash path.
void raw_write(const char* text) {
  std::size_t n = std::strlen(text);
  while (n > 0) {
    const ssize_t w = ::write(2, text, n);
    if (w <= 0) return;
    text += w;
    n -= static_cast<std::size_t>(w);
  }
}

void format_u64(std::uint64_t value, char* out) {  // out must hold 21 bytes
  char digits[21];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value != 0);
  for (int i = 0; i < n; ++i) out[i] = digits[n - 1 - i];
  out[n] = '\0';
}

// Writes the current input to decoder_fuzz-failure-<seed>-<iteration>.bin; async-signal-safe.
// `name` receives the file name (at least 96 bytes).
bool dump_current_input(char* name) {
  char seed[21], iteration[21];
  format_u64(g_current.seed, seed);
  format_u64(g_current.iteration.load(std::memory_order_relaxed), iteration);
  name[0] = '\0';
  std::strcat(name, "decoder_fuzz-failure-");
  std::strcat(name, seed);
  std::strcat(name, "-");
  std::strcat(name, iteration);
  std::strcat(name, ".bin");
  const char* data = g_current.input.load(std::memory_order_acquire);
  std::size_t size = g_current.input_size.load(std::memory_order_acquire);
  if (data == nullptr) return false;
  const int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return false;
  while (size > 0) {
    const ssize_t w = ::write(fd, data, size);
    if (w <= 0) break;
    data += w;
    size -= static_cast<std::size_t>(w);
  }
  ::close(fd);
  return true;
}

// The replay hint shared by every report; async-signal-safe.
void raw_report(const char* headline) {
  char seed[21], iteration[21], name[128];
  format_u64(g_current.seed, seed);
  format_u64(g_current.iteration.load(std::memory_order_relaxed), iteration);
  raw_write("\ndecoder_fuzz: ");
  raw_write(headline);
  raw_write(" in ");
  raw_write(g_current.decoder.load(std::memory_order_relaxed));
  raw_write(" at seed ");
  raw_write(seed);
  raw_write(" iteration ");
  raw_write(iteration);
  raw_write("\ndecoder_fuzz: replay with: loomflow_decoder_fuzz --seed ");
  raw_write(seed);
  raw_write(" --start ");
  raw_write(iteration);
  raw_write(" --iterations 1");
  if (g_max_depth != kDefaultMaxDepth) {
    char depth[21];
    format_u64(g_max_depth, depth);
    raw_write(" --max-depth ");
    raw_write(depth);
  }
  raw_write("\n");
  if (dump_current_input(name)) {
    raw_write("decoder_fuzz: the input was written to ");
    raw_write(name);
    raw_write("\n");
  }
}

extern "C" void on_fatal_signal(int sig) {
  raw_report(sig == SIGSEGV   ? "CRASH (SIGSEGV, maybe a stack overflow)"
             : sig == SIGBUS  ? "CRASH (SIGBUS)"
             : sig == SIGFPE  ? "CRASH (SIGFPE)"
             : sig == SIGILL  ? "CRASH (SIGILL)"
                              : "CRASH (SIGABRT)");
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

#ifdef LOOMFLOW_FUZZ_ASAN
extern "C" void on_sanitizer_death() { raw_report("SANITIZER ERROR (see the report above)"); }
#endif

void install_crash_handlers() {
#ifdef LOOMFLOW_FUZZ_ASAN
  // AddressSanitizer reports crashes (stack overflows included) itself; add the replay hint.
  __sanitizer_set_death_callback(on_sanitizer_death);
#else
  // An alternate stack, so that a stack overflow still gets its report.
  static std::vector<char> alt_stack(1 << 17);
  stack_t ss{};
  ss.ss_sp = alt_stack.data();
  ss.ss_size = alt_stack.size();
  ::sigaltstack(&ss, nullptr);
  struct sigaction action {};
  action.sa_handler = on_fatal_signal;
  action.sa_flags = SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT}) ::sigaction(sig, &action, nullptr);
#endif
}

// A C-string literal of `bytes` (at most `max` of them), for reports.
std::string c_string(std::string_view bytes, std::size_t max = 2000) {
  std::string out = "\"";
  const std::size_t n = std::min(bytes.size(), max);
  bool after_hex = false;  // a hex escape swallows following hex digits: break the literal
  for (std::size_t i = 0; i < n; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (after_hex && std::isxdigit(c)) out += "\"\"";
    after_hex = false;
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "\\x%02x", c);
          out += hex;
          after_hex = true;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  if (n < bytes.size()) out += " ... (" + std::to_string(bytes.size() - n) + " more bytes)";
  return out;
}

// ---- Hang watchdog ------------------------------------------------------------------------------

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

class Watchdog {
 public:
  explicit Watchdog(double limit_seconds) : limit_ns_(static_cast<std::int64_t>(limit_seconds * 1e9)) {
    if (limit_seconds > 0) thread_ = std::thread([this] { run(); });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, 250ms, [this] { return stop_; })) {
      const std::int64_t started = g_current.started_ns.load(std::memory_order_acquire);
      if (started != 0 && now_ns() - started > limit_ns_) {
        raw_report("HANG (an iteration ran longer than --hang-seconds)");
        std::_Exit(3);
      }
    }
  }

  std::int64_t limit_ns_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;
};

// ---- Randomness ---------------------------------------------------------------------------------

// Reproducible on every standard library (std::uniform_int_distribution is not).
std::uint64_t below(Rng& rng, std::uint64_t n) { return n == 0 ? 0 : rng() % n; }
bool chance(Rng& rng, std::uint64_t one_in) { return below(rng, one_in) == 0; }

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Every iteration has its own generator, derived from --seed and the iteration number.
Rng iteration_rng(std::uint64_t seed, std::uint64_t iteration) {
  return Rng(splitmix64(splitmix64(seed) ^ splitmix64(iteration + 0x5eed)));
}

template <class T, std::size_t N>
const T& pick(Rng& rng, const T (&items)[N]) {
  return items[below(rng, N)];
}

// ---- Seeds --------------------------------------------------------------------------------------

struct Seed {
  std::string name;  // relative to the fixtures directory
  std::string bytes;
};

std::vector<Seed> load_seeds(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<Seed> seeds;
  for (const char* dir : {"openai/chat", "anthropic/messages", "openai/errors", "anthropic/errors"}) {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(root / dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->is_regular_file()) continue;
      std::ifstream in(it->path(), std::ios::binary);
      std::ostringstream text;
      text << in.rdbuf();
      seeds.push_back(Seed{fs::relative(it->path(), root).generic_string(), text.str()});
    }
  }
  // Directory order is unspecified: sort so that a seed means the same inputs everywhere.
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  return seeds;
}

// ---- Mutations ----------------------------------------------------------------------------------

constexpr std::string_view kTokens[] = {
    "\r"sv, "\n"sv, "\r\n"sv, "\n\n"sv, "\r\r"sv, "\r\n\r\n"sv, "\n\r"sv,
    "data: "sv, "data:"sv, "data"sv, "data: [DONE]\n\n"sv, "[DONE]"sv, " [DONE] "sv,
    ":"sv, ": keep-alive\n\n"sv, "event: "sv, "event: error\n"sv, "event: message_stop\n"sv,
    "event:ping\n"sv, "id: "sv, "id: 7\0x\n"sv, "retry: 10\n"sv, "\0"sv, "\xef\xbb\xbf"sv,
    "\""sv, "\\"sv, "{"sv, "}"sv, "["sv, "]"sv, ","sv, " "sv, "\t"sv, "\\u0000"sv,
    "\"error\":"sv, "\"error\":null,"sv, "\"index\":"sv, "\"usage\":null,"sv,
    "{\"error\":{\"type\":\"overloaded_error\",\"message\":\"x\"}}"sv,
    "{\"error\":{\"code\":429,\"message\":\"slow down\"}}"sv,
    "{\"type\":\"error\",\"error\":{\"type\":\"api_error\"}}"sv,
    "data: {\"type\":\"message_stop\"}\n\n"sv,
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n"sv,
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":3}]}}]}\n\n"sv,
};

constexpr std::string_view kValues[] = {
    "null"sv, "true"sv, "false"sv, "0"sv, "-1"sv, "1.5"sv, "-0"sv, "1e309"sv, "-1e309"sv,
    "18446744073709551615"sv, "18446744073709551616"sv, "-9223372036854775808"sv,
    "-9223372036854775809"sv, "9223372036854775807"sv, "\"\""sv, "\"x\""sv, "\"[DONE]\""sv,
    "\"500\""sv, "\"abc\""sv, "[]"sv, "{}"sv, "[null]"sv, "{\"\":null}"sv, "\"\\ud800\""sv,
    "\"\\u0000\""sv, "\"stop\""sv, "\"tool_use\""sv, "\"tool_calls\""sv, "\"max_tokens\""sv,
    "\"refusal\""sv, "\"overloaded_error\""sv, "\"rate_limit_error\""sv, "\"server_error\""sv,
    "\"error\""sv, "\"text\""sv, "\"text_delta\""sv, "\"input_json_delta\""sv, "\"function\""sv,
    "\"structured_output\""sv, "\"{\\\"a\\\":\""sv, "[[[[]]]]"sv, "{\"type\":\"text\",\"text\":1}"sv,
    "[{\"type\":\"tool_use\",\"name\":\"structured_output\",\"input\":[1]}]"sv,
};

constexpr std::string_view kKeys[] = {
    "id"sv, "object"sv, "type"sv, "index"sv, "choices"sv, "message"sv, "delta"sv, "content"sv,
    "refusal"sv, "tool_calls"sv, "function"sv, "name"sv, "arguments"sv, "finish_reason"sv,
    "usage"sv, "prompt_tokens"sv, "completion_tokens"sv, "prompt_tokens_details"sv,
    "cached_tokens"sv, "error"sv, "code"sv, "param"sv, "detail"sv, "request_id"sv, "stop_reason"sv,
    "content_block"sv, "text"sv, "input"sv, "partial_json"sv, "input_tokens"sv, "output_tokens"sv,
    "cache_creation_input_tokens"sv, "cache_read_input_tokens"sv, ""sv, "\\u0000"sv,
};

constexpr std::string_view kEventNames[] = {
    "message_start"sv, "content_block_start"sv, "content_block_delta"sv, "content_block_stop"sv,
    "message_delta"sv, "message_stop"sv, "error"sv, "ping"sv, ""sv, "message"sv, "unknown_event"sv,
};

constexpr std::string_view kBadUtf8[] = {
    "\xff"sv, "\xfe"sv, "\xc0\x80"sv, "\xc1\xbf"sv, "\xe0\x80\x80"sv, "\xed\xa0\x80"sv,
    "\xf4\x90\x80\x80"sv, "\xf8\x88\x80\x80\x80"sv, "\x80"sv, "\xbf"sv, "\xe2\x82"sv,
    "\xf0\x9f\x98"sv, "\\ud800"sv, "\\udc00"sv, "\\ud800\\u0041"sv, "\\uD83D"sv, "\\u00"sv,
};

constexpr std::string_view kHugeNumbers[] = {
    "1e309"sv, "-1e309"sv, "1e-400"sv, "18446744073709551615"sv, "18446744073709551616"sv,
    "-9223372036854775808"sv, "-9223372036854775809"sv, "9223372036854775807"sv,
    "9223372036854775808"sv, "99999999999999999999999999999999"sv, "4294967296"sv, "-1"sv,
    "-0"sv, "1.8e19"sv, "1.7976931348623157e308"sv, "4.9e-324"sv, "0.1"sv, "1E+2"sv,
};

std::size_t position(Rng& rng, const std::string& s) { return below(rng, s.size() + 1); }

// [begin, end) of the line holding `at` (the end includes its '\n', if any).
std::pair<std::size_t, std::size_t> line_around(const std::string& s, std::size_t at) {
  std::size_t begin = 0;
  if (at > 0) {
    const std::size_t newline = s.rfind('\n', at - 1);
    begin = newline == std::string::npos ? 0 : newline + 1;
  }
  std::size_t end = s.find('\n', at);
  end = end == std::string::npos ? s.size() : end + 1;
  return {begin, end};
}

// The end of the JSON value starting at `begin` (naive: good enough to find one to replace).
std::size_t value_end(const std::string& s, std::size_t begin) {
  if (begin >= s.size()) return begin;
  const char c = s[begin];
  if (c == '"') {
    for (std::size_t i = begin + 1; i < s.size(); ++i) {
      if (s[i] == '\\') ++i;
      else if (s[i] == '"') return i + 1;
    }
    return s.size();
  }
  if (c == '{' || c == '[') {
    int depth = 0;
    bool in_string = false;
    for (std::size_t i = begin; i < s.size(); ++i) {
      const char d = s[i];
      if (in_string) {
        if (d == '\\') ++i;
        else if (d == '"') in_string = false;
      } else if (d == '"') {
        in_string = true;
      } else if (d == '{' || d == '[') {
        ++depth;
      } else if (d == '}' || d == ']') {
        if (--depth == 0) return i + 1;
      } else if (d == '\n') {
        return i;
      }
    }
    return s.size();
  }
  std::size_t i = begin;
  while (i < s.size() && std::string_view(",}]\r\n \t").find(s[i]) == std::string_view::npos) ++i;
  return i;
}

// A JSON value (after some `":`) chosen at random: [begin, end), or nullopt when there is none.
std::optional<std::pair<std::size_t, std::size_t>> random_value(Rng& rng, const std::string& s) {
  const std::size_t from = position(rng, s);
  std::size_t colon = s.find("\":", from);
  if (colon == std::string::npos) colon = s.find("\":");
  if (colon == std::string::npos) return std::nullopt;
  std::size_t begin = colon + 2;
  while (begin < s.size() && s[begin] == ' ') ++begin;
  return std::pair{begin, value_end(s, begin)};
}

std::string nesting(Rng& rng) {
  std::size_t depth;
  switch (below(rng, 8)) {
    case 6: depth = 1000 + below(rng, 4000); break;
    case 7: depth = 10000 + below(rng, 90001); break;  // deep enough to overflow recursive walks
    default: depth = 1 + below(rng, 600); break;      // around the decoders' 256-level limit
  }
  depth = std::min(depth, g_max_depth);
  static constexpr std::string_view kOpen[] = {"["sv, "{\"a\":"sv, "[{\"input\":"sv};
  static constexpr std::string_view kClose[] = {"]"sv, "}"sv, "}]"sv};
  const std::size_t kind = below(rng, 3);
  std::string out;
  out.reserve(depth * 12);
  for (std::size_t i = 0; i < depth; ++i) out += kOpen[kind];
  if (chance(rng, 2)) {  // balanced, so that the text may still be JSON
    out += "1";
    for (std::size_t i = 0; i < depth; ++i) out += kClose[kind];
  }
  return out;
}

// Applies one random mutation to `s`; returns its name.
const char* mutate(Rng& rng, std::string& s, const std::vector<Seed>& seeds) {
  switch (below(rng, 17)) {
    case 0: {
      if (s.empty()) break;
      s[below(rng, s.size())] ^= static_cast<char>(1u << below(rng, 8));
      return "flip-bit";
    }
    case 1: {
      if (s.empty()) break;
      static constexpr char kInteresting[] = {'\0', '\xff', '"', '\\', '{', '}', '[', ']', ':', ',', '\r', '\n', '0'};
      s[below(rng, s.size())] = chance(rng, 2) ? pick(rng, kInteresting) : static_cast<char>(rng());
      return "set-byte";
    }
    case 2: {
      std::string bytes(1 + below(rng, 16), '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      s.insert(position(rng, s), bytes);
      return "insert-bytes";
    }
    case 3: {
      if (s.empty()) break;
      const std::size_t at = below(rng, s.size());
      s.erase(at, 1 + below(rng, chance(rng, 4) ? 512 : 16));
      return "delete-bytes";
    }
    case 4: {
      const auto [begin, end] = line_around(s, position(rng, s));
      const std::string line = s.substr(begin, end - begin);
      const std::size_t copies = chance(rng, 8) ? 2 + below(rng, 50) : 1;
      for (std::size_t i = 0; i < copies; ++i) s.insert(begin, line);
      return "duplicate-line";
    }
    case 5: {
      const auto [begin, end] = line_around(s, position(rng, s));
      s.erase(begin, end - begin);
      return "drop-line";
    }
    case 6: {
      const std::string& other = seeds[below(rng, seeds.size())].bytes;
      const std::size_t from = position(rng, other);
      if (chance(rng, 2)) {  // this text's head, the other's tail
        s = s.substr(0, position(rng, s)) + other.substr(from);
      } else {  // a piece of the other text inserted
        s.insert(position(rng, s), other.substr(from, 1 + below(rng, 256)));
      }
      return "splice";
    }
    case 7: {
      s.resize(position(rng, s));
      return "truncate";
    }
    case 8: {
      s.insert(position(rng, s), pick(rng, kTokens));
      return "insert-token";
    }
    case 9: {
      std::string nest = nesting(rng);
      if (auto value = random_value(rng, s); value && chance(rng, 2)) {
        s.replace(value->first, value->second - value->first, nest);
      } else {
        s.insert(position(rng, s), nest);
      }
      return "deep-nesting";
    }
    case 10: {
      std::string number(pick(rng, kHugeNumbers));
      if (chance(rng, 8)) number = (chance(rng, 2) ? "-1" : "1") + std::string(300 + below(rng, 2000), '0');
      // Replace a number of the text when there is one after a random point, else insert.
      const std::size_t from = position(rng, s);
      const std::size_t digit = s.find_first_of("0123456789", from);
      if (digit != std::string::npos && !chance(rng, 4)) {
        std::size_t begin = digit, end = digit;
        if (begin > 0 && s[begin - 1] == '-') --begin;
        while (end < s.size() && std::string_view("0123456789.eE+-").find(s[end]) != std::string_view::npos) ++end;
        s.replace(begin, end - begin, number);
      } else {
        s.insert(position(rng, s), number);
      }
      return "huge-number";
    }
    case 11: {
      std::size_t at = position(rng, s);
      if (chance(rng, 2)) {  // inside a string, where decoders copy the bytes around
        const std::size_t quote = s.find('"', at);
        if (quote != std::string::npos) at = quote + 1;
      }
      s.insert(at, pick(rng, kBadUtf8));
      return "invalid-utf8";
    }
    case 12: {
      auto value = random_value(rng, s);
      if (!value) break;
      s.replace(value->first, value->second - value->first, pick(rng, kValues));
      return "replace-value";
    }
    case 13: {
      // A key: a string followed by ':'.
      const std::size_t colon = s.find("\":", position(rng, s));
      if (colon == std::string::npos) break;
      const std::size_t open = s.rfind('"', colon == 0 ? 0 : colon - 1);
      if (open == std::string::npos || open >= colon) break;
      s.replace(open + 1, colon - open - 1, pick(rng, kKeys));
      return "replace-key";
    }
    case 14: {
      std::size_t at = s.find("event:", position(rng, s));
      if (at == std::string::npos) at = s.find("event:");
      if (at == std::string::npos) break;
      const auto [begin, end] = line_around(s, at);
      const bool newline = end > begin && s[end - 1] == '\n';
      s.replace(at, (newline ? end - 1 : end) - at, "event: " + std::string(pick(rng, kEventNames)));
      return "replace-event";
    }
    case 15: {
      // Duplicate or drop a whole SSE event (a block up to a blank line).
      const std::size_t from = position(rng, s);
      std::size_t begin = s.rfind("\n\n", from);
      begin = begin == std::string::npos ? 0 : begin + 2;
      std::size_t end = s.find("\n\n", begin);
      end = end == std::string::npos ? s.size() : end + 2;
      if (begin >= end) break;
      if (chance(rng, 2)) {
        s.insert(end, s.substr(begin, end - begin));
        return "duplicate-event";
      }
      s.erase(begin, end - begin);
      return "drop-event";
    }
    case 16: {
      // Other line endings (servers differ): every LF, or those after a random point, becomes CRLF or CR.
      const std::string_view ending = chance(rng, 2) ? "\r\n"sv : "\r"sv;
      std::string out;
      out.reserve(s.size() + s.size() / 16);
      const std::size_t from = chance(rng, 2) ? 0 : position(rng, s);
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\n' && i >= from) out += ending;
        else out += s[i];
      }
      s = std::move(out);
      return "line-endings";
    }
  }
  // The chosen mutation did not apply: fall back to a random byte insert.
  s.insert(position(rng, s), 1, static_cast<char>(rng()));
  return "insert-byte";
}

// ---- Checks -------------------------------------------------------------------------------------

std::string describe_event(const wire::SseEvent& e) {
  return "{event=" + c_string(e.event, 200) + ", id=" + c_string(e.id, 200) + ", data=" + c_string(e.data, 400) + "}";
}

std::string describe_events_diff(const std::vector<wire::SseEvent>& a, const std::vector<wire::SseEvent>& b) {
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  std::string out = "whole gave " + std::to_string(a.size()) + " events, split gave " + std::to_string(b.size()) +
                    "; first difference at event " + std::to_string(i) + ": whole ";
  out += i < a.size() ? describe_event(a[i]) : "(none)";
  out += " vs split ";
  out += i < b.size() ? describe_event(b[i]) : "(none)";
  return out;
}

// Chunk boundaries for the split feed: sorted cut offsets in (0, size).
std::vector<std::size_t> random_cuts(Rng& rng, const std::string& s) {
  std::vector<std::size_t> cuts;
  if (s.empty()) return cuts;
  switch (below(rng, 4)) {
    case 0:  // a few random cuts
      for (std::size_t n = 1 + below(rng, 16); n > 0; --n) cuts.push_back(below(rng, s.size() + 1));
      break;
    case 1:  // byte by byte (bounded)
      if (s.size() <= 4096) {
        for (std::size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
        break;
      }
      [[fallthrough]];
    case 2: {  // small chunks
      for (std::size_t at = 1 + below(rng, 8); at < s.size(); at += 1 + below(rng, 8)) cuts.push_back(at);
      break;
    }
    default:  // right before or after line-end bytes, where CR/LF pairing state carries over
      for (std::size_t i = 0; i < s.size(); ++i) {
        if ((s[i] == '\r' || s[i] == '\n') && chance(rng, 2)) cuts.push_back(i + below(rng, 2));
      }
      break;
  }
  if (chance(rng, 4) && !cuts.empty()) cuts.push_back(cuts[below(rng, cuts.size())]);  // an empty chunk
  std::sort(cuts.begin(), cuts.end());
  return cuts;
}

void check_sse(Rng& rng, const std::string& input, std::vector<wire::SseEvent>& events) {
  set_decoder("SseParser::feed (whole)");
  wire::SseParser whole;
  whole.feed(input, events);
  const bool whole_boundary = whole.at_boundary();

  set_decoder("SseParser::feed (split)");
  const std::vector<std::size_t> cuts = random_cuts(rng, input);
  wire::SseParser split;
  std::vector<wire::SseEvent> split_events;
  std::size_t from = 0;
  for (std::size_t cut : cuts) {
    split.feed(std::string_view(input).substr(from, cut - from), split_events);
    from = cut;
  }
  split.feed(std::string_view(input).substr(from), split_events);
  const bool split_boundary = split.at_boundary();

  if (events != split_events || whole_boundary != split_boundary) {
    std::string cut_list;
    for (std::size_t i = 0; i < cuts.size() && i < 64; ++i) cut_list += (i ? "," : "") + std::to_string(cuts[i]);
    if (cuts.size() > 64) cut_list += ",...";
    throw CheckFailure{"SseParser: feeding the bytes whole and split at [" + cut_list + "] differ: " +
                       (events != split_events ? describe_events_diff(events, split_events)
                                               : "at_boundary() is " + std::string(whole_boundary ? "true" : "false") +
                                                     " whole but " + (split_boundary ? "true" : "false") + " split")};
  }
}

// Once an accumulator reported an error, every later call must report that same error.
struct StickyError {
  const char* who;
  std::optional<loomflow::Error> first;

  void observe(const loomflow::Expected<void>& result, std::size_t event_index) {
    if (first) {
      if (result || result.error().code != first->code || result.error().message != first->message) {
        throw CheckFailure{std::string(who) + ": event " + std::to_string(event_index) + " after the error " +
                           c_string(first->describe(), 300) + " returned " +
                           (result ? std::string("success") : c_string(result.error().describe(), 300))};
      }
    } else if (!result) {
      first = result.error();
    }
  }
  template <class T>
  void observe_finish(const loomflow::Expected<T>& result) {
    if (first && (result || result.error().code != first->code || result.error().message != first->message)) {
      throw CheckFailure{std::string(who) + ": finish() after the error " + c_string(first->describe(), 300) +
                         " returned " + (result ? std::string("success") : c_string(result.error().describe(), 300))};
    }
  }
};

std::size_t g_sink = 0;  // keeps results observable

void consume(const loomflow::Expected<loomflow::ModelResponse>& response) {
  if (!response) {
    g_sink += response.error().message.size();
    return;
  }
  g_sink += response->message.content.size() + response->refusal.size() + response->finish_reason.size() +
            response->usage.input_tokens + response->usage.output_tokens;
  for (const auto& call : response->message.tool_calls) {
    g_sink += call.id.size() + call.name.size() + call.arguments.size();
  }
}

void run_streams(Rng& rng, const std::vector<wire::SseEvent>& events) {
  {
    set_decoder("openai::ChatStreamAccumulator::on_event");
    wire::openai::ChatStreamAccumulator chat("fuzz openai");
    if (chance(rng, 2)) chat.on_text = [](std::string_view text) { g_sink += text.size(); };
    StickyError sticky{"openai::ChatStreamAccumulator", std::nullopt};
    for (std::size_t i = 0; i < events.size(); ++i) sticky.observe(chat.on_event(events[i]), i);
    g_sink += chat.done();
    set_decoder("openai::ChatStreamAccumulator::finish");
    auto response = chat.finish(chance(rng, 2));
    sticky.observe_finish(response);
    consume(response);
  }
  {
    set_decoder("anthropic::MessagesStreamAccumulator::on_event");
    wire::anthropic::MessagesStreamAccumulator messages("fuzz anthropic", chance(rng, 2));
    if (chance(rng, 2)) messages.on_text = [](std::string_view text) { g_sink += text.size(); };
    StickyError sticky{"anthropic::MessagesStreamAccumulator", std::nullopt};
    for (std::size_t i = 0; i < events.size(); ++i) sticky.observe(messages.on_event(events[i]), i);
    g_sink += messages.done();
    set_decoder("anthropic::MessagesStreamAccumulator::finish");
    auto response = messages.finish();
    sticky.observe_finish(response);
    consume(response);
  }
}

int random_status(Rng& rng) {
  static constexpr int kStatuses[] = {400, 401, 403, 404, 413, 429, 500, 502, 503, 529, 200, 0, -1};
  return pick(rng, kStatuses);
}

void run_bodies(Rng& rng, std::string_view body) {
  set_decoder("openai::parse_chat_response");
  consume(wire::openai::parse_chat_response(body, "fuzz openai"));
  set_decoder("anthropic::parse_messages_response");
  consume(wire::anthropic::parse_messages_response(body, "fuzz anthropic", chance(rng, 2)));
  set_decoder("openai::parse_error_body");
  const auto openai_error = wire::openai::parse_error_body(random_status(rng), body);
  g_sink += openai_error.type.size() + openai_error.code.size() + openai_error.message.size() +
            openai_error.param.size();
  set_decoder("anthropic::parse_error_body");
  const auto anthropic_error = wire::anthropic::parse_error_body(random_status(rng), body);
  g_sink += anthropic_error.type.size() + anthropic_error.message.size() + anthropic_error.request_id.size();
}

// A schema exercising most supported keywords; the instances are the (mutated) response bodies.
constexpr std::string_view kSchema = R"({
  "$defs": {
    "count": {"type": "integer", "minimum": 0, "maximum": 1e12, "multipleOf": 1},
    "usage": {
      "type": "object",
      "properties": {"prompt_tokens": {"$ref": "#/$defs/count"}, "completion_tokens": {"$ref": "#/$defs/count"},
                     "input_tokens": {"$ref": "#/$defs/count"}, "output_tokens": {"$ref": "#/$defs/count"}},
      "additionalProperties": {"type": ["integer", "object", "string", "null"]},
      "maxProperties": 12
    },
    "text": {"type": "string", "maxLength": 100000}
  },
  "type": "object",
  "properties": {
    "id": {"type": "string", "minLength": 1, "pattern": "^[A-Za-z0-9_-]*$"},
    "object": {"enum": ["chat.completion", "chat.completion.chunk"]},
    "created": {"type": "integer", "exclusiveMinimum": 0},
    "model": {"type": "string", "maxLength": 200},
    "choices": {
      "type": "array", "minItems": 1, "maxItems": 8,
      "items": {
        "type": "object", "required": ["index"],
        "properties": {
          "index": {"const": 0},
          "message": {"type": "object", "properties": {"role": {"enum": ["assistant"]},
                      "content": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/text"}]}}},
          "finish_reason": {"anyOf": [{"type": "null"}, {"enum": ["stop", "length", "tool_calls"]}]}
        }
      }
    },
    "usage": {"$ref": "#/$defs/usage"},
    "content": {
      "type": "array", "uniqueItems": true, "prefixItems": [{"type": "object"}],
      "items": {"oneOf": [
        {"type": "object", "properties": {"type": {"const": "text"}}, "required": ["type", "text"]},
        {"type": "object", "properties": {"type": {"const": "tool_use"}}, "required": ["type", "input"]}
      ]}
    },
    "error": {
      "type": "object", "minProperties": 1, "maxProperties": 6,
      "properties": {"type": {"type": "string"}, "message": {"$ref": "#/$defs/text"}},
      "patternProperties": {"^x-": {"type": "string"}},
      "propertyNames": {"maxLength": 64}
    },
    "stop_reason": {"not": {"const": "refusal"}},
    "temperature": {"type": "number", "exclusiveMaximum": 2, "multipleOf": 0.1}
  },
  "if": {"required": ["error"]},
  "then": {"not": {"required": ["choices"]}},
  "else": {"allOf": [{"type": "object"}, {"minProperties": 0}]}
})";

const nlohmann::json& schema() {
  static const nlohmann::json s = nlohmann::json::parse(kSchema);
  return s;
}

void run_schema(std::string_view text) {
  set_decoder("validate_json");
  const nlohmann::json instance = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (instance.is_discarded()) return;
  if (auto violation = loomflow::validate_json(schema(), instance)) g_sink += violation->path.size();
}

// Inputs are cut to this size: large enough for the deepest nesting, small enough to stay fast.
constexpr std::size_t kMaxInput = std::size_t{4} << 20;

// One iteration: mutate a seed and feed it everywhere.
void run_iteration(Rng& rng, const std::vector<Seed>& seeds, std::string& input, std::vector<const char*>& applied,
                   const Seed*& seed) {
  seed = &seeds[below(rng, seeds.size())];
  input = seed->bytes;
  applied.clear();
  for (std::size_t n = 1 + below(rng, 8); n > 0; --n) {
    applied.push_back(mutate(rng, input, seeds));
    if (input.size() > kMaxInput) input.resize(kMaxInput);  // repeated duplication can snowball
  }

  g_current.input_size.store(input.size(), std::memory_order_release);
  g_current.input.store(input.data(), std::memory_order_release);

  std::vector<wire::SseEvent> events;
  check_sse(rng, input, events);

  if (events.empty()) {
    // A plain JSON body: stream it as one event (of a random type) so the accumulators see it too.
    events.push_back(wire::SseEvent{std::string(pick(rng, kEventNames)), input, ""});
    if (chance(rng, 2)) events.push_back(wire::SseEvent{"message_stop", "{\"type\":\"message_stop\"}", ""});
    if (chance(rng, 2)) events.push_back(wire::SseEvent{"", "[DONE]", ""});
  }
  run_streams(rng, events);

  run_bodies(rng, input);
  // Single event payloads are bodies too (an "error" chunk, a message object).
  for (std::size_t i = 0, fed = 0; i < events.size() && fed < 8; ++i) {
    if (chance(rng, 4)) {
      run_bodies(rng, events[i].data);
      ++fed;
    }
  }

  run_schema(input);
  if (!events.empty()) run_schema(events[below(rng, events.size())].data);

  g_current.input.store(nullptr, std::memory_order_release);
  set_decoder("(harness)");
}

// ---- Main ---------------------------------------------------------------------------------------

struct Options {
  std::uint64_t iterations = 20000;
  bool iterations_given = false;
  std::uint64_t seed = 1;
  std::optional<double> seconds;
  std::uint64_t start = 0;
  double hang_seconds = 60;
  std::uint64_t max_depth = kDefaultMaxDepth;
  bool verbose = false;
  std::filesystem::path fixtures = LOOMFLOW_SHARED_DIR "/fixtures/providers";
};

[[noreturn]] void usage(const std::string& problem) {
  std::cerr << "decoder_fuzz: " << problem << "\n"
            << "usage: loomflow_decoder_fuzz [--iterations N] [--seed S] [--seconds T] [--start I]\n"
            << "                             [--max-depth D] [--hang-seconds H] [--verbose] [fixtures-dir]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options options;
  auto number = [&](int& i, const char* flag) -> std::string {
    if (i + 1 >= argc) usage(std::string(flag) + " needs a value");
    return argv[++i];
  };
  auto to_u64 = [](const std::string& text, const char* flag) {
    std::size_t used = 0;
    try {
      const auto value = std::stoull(text, &used, 0);
      if (used == text.size() && text.find('-') == std::string::npos) return static_cast<std::uint64_t>(value);
    } catch (const std::exception&) {
    }
    usage(std::string(flag) + ": not a non-negative integer: " + text);
  };
  auto to_seconds = [](const std::string& text, const char* flag) {
    std::size_t used = 0;
    try {
      const double value = std::stod(text, &used);
      if (used == text.size() && value >= 0) return value;
    } catch (const std::exception&) {
    }
    usage(std::string(flag) + ": not a number of seconds: " + text);
  };
  bool fixtures_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--iterations") {
      options.iterations = to_u64(number(i, "--iterations"), "--iterations");
      options.iterations_given = true;
    } else if (arg == "--seed") {
      options.seed = to_u64(number(i, "--seed"), "--seed");
    } else if (arg == "--seconds") {
      options.seconds = to_seconds(number(i, "--seconds"), "--seconds");
    } else if (arg == "--start") {
      options.start = to_u64(number(i, "--start"), "--start");
    } else if (arg == "--max-depth") {
      options.max_depth = to_u64(number(i, "--max-depth"), "--max-depth");
    } else if (arg == "--hang-seconds") {
      options.hang_seconds = to_seconds(number(i, "--hang-seconds"), "--hang-seconds");
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--help" || arg == "-h") {
      usage("a seeded mutation fuzzer for the provider wire decoders");
    } else if (!arg.empty() && arg[0] == '-') {
      usage("unknown option " + arg);
    } else if (!fixtures_given) {
      options.fixtures = arg;
      fixtures_given = true;
    } else {
      usage("more than one fixtures directory given");
    }
  }
  if (options.seconds && !options.iterations_given) options.iterations = UINT64_MAX;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse_options(argc, argv);
  const std::vector<Seed> seeds = load_seeds(options.fixtures);
  if (seeds.empty()) {
    std::cerr << "decoder_fuzz: no seed files under " << options.fixtures
              << " (expected openai/chat, anthropic/messages, openai/errors, anthropic/errors)\n";
    return 2;
  }
  if (auto problem = loomflow::check_schema(schema())) {
    std::cerr << "decoder_fuzz: the fixed schema is unusable: " << problem->to_string() << "\n";
    return 2;
  }
  if (options.verbose) std::cerr << "decoder_fuzz: " << seeds.size() << " seeds from " << options.fixtures << "\n";

  g_current.seed = options.seed;
  g_max_depth = static_cast<std::size_t>(options.max_depth);
  install_crash_handlers();
  Watchdog watchdog(options.hang_seconds);

  const auto began = Clock::now();
  const auto deadline = options.seconds ? began + std::chrono::duration_cast<Clock::duration>(
                                                      std::chrono::duration<double>(*options.seconds))
                                        : Clock::time_point::max();
  std::string input;
  std::vector<const char*> applied;
  const Seed* seed = nullptr;
  std::uint64_t done = 0;
  for (; done < options.iterations; ++done) {
    if (options.seconds && Clock::now() >= deadline) break;
    const std::uint64_t iteration = options.start + done;
    g_current.iteration.store(iteration, std::memory_order_relaxed);
    g_current.started_ns.store(now_ns(), std::memory_order_release);
    Rng rng = iteration_rng(options.seed, iteration);
    std::string failure;
    try {
      run_iteration(rng, seeds, input, applied, seed);
    } catch (const CheckFailure& f) {
      failure = "CHECK FAILED: " + f.what;
    } catch (const std::exception& e) {
      failure = std::string("EXCEPTION ESCAPED from ") + g_current.decoder.load() + ": " + e.what();
    } catch (...) {
      failure = std::string("NON-STANDARD EXCEPTION ESCAPED from ") + g_current.decoder.load();
    }
    g_current.started_ns.store(0, std::memory_order_release);
    if (options.verbose && done % 10000 == 0) {
      std::cerr << "decoder_fuzz: iteration " << iteration << " (" << (seed ? seed->name : "?") << ", "
                << input.size() << " bytes)\n";
    }
    if (!failure.empty()) {
      std::string mutations;
      for (const char* m : applied) mutations += (mutations.empty() ? "" : ",") + std::string(m);
      std::cerr << "decoder_fuzz: " << failure << "\n"
                << "decoder_fuzz: seed " << options.seed << ", iteration " << iteration << ", seed file "
                << (seed ? seed->name : "?") << ", mutations " << mutations << "\n"
                << "decoder_fuzz: replay with: loomflow_decoder_fuzz --seed " << options.seed << " --start "
                << iteration << " --iterations 1"
                << (g_max_depth != kDefaultMaxDepth ? " --max-depth " + std::to_string(g_max_depth) : std::string())
                << "\n"
                << "decoder_fuzz: input (" << input.size() << " bytes): " << c_string(input) << "\n";
      g_current.input_size.store(input.size(), std::memory_order_release);
      g_current.input.store(input.data(), std::memory_order_release);
      char name[128];
      if (dump_current_input(name)) std::cerr << "decoder_fuzz: the input was written to " << name << "\n";
      return 1;
    }
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - began).count();
  char seconds[32];
  std::snprintf(seconds, sizeof seconds, "%.1f", elapsed);
  if (options.verbose) std::cerr << "decoder_fuzz: sink " << g_sink << "\n";
  std::cout << "decoder_fuzz: " << done << " iterations, seed " << options.seed << ", " << seconds << " s, clean\n";
  return 0;
}
