// loomflow/providers/http/retry.hpp — when and how long to wait before retrying a provider call.
//
// The providers' shared conventions (OpenAI and Anthropic document the same ones): 408, 409, 429
// and every 5xx (529 "overloaded" included) are retried, and so is any response carrying
// `x-should-retry: true`; `x-should-retry: false` forbids a retry. The wait is `retry-after-ms`,
// else `retry-after` (seconds, or an HTTP date), else exponential back-off with jitter, capped.
// Thread-safety: pure functions.
#pragma once

#include <chrono>
#include <string_view>

#include "loomflow/providers/http/http_client.hpp"

namespace loomflow::providers::http {

struct RetryPolicy {
  int max_attempts = 3;                                // calls in all, >= 1 (default 3: two retries)
  std::chrono::milliseconds initial_backoff{500};      // first back-off (default 0.5 s), doubled per retry
  std::chrono::milliseconds max_backoff{8'000};        // back-off cap (default 8 s)
  std::chrono::milliseconds max_server_delay{60'000};  // longest retry-after honoured (default 60 s)
};

bool is_retryable(const HttpResponse& response);

// The wait before retry number `retry` (1 = the first retry). `jitter` in [0, 1) scales the
// back-off down by up to 25 % (injected so tests are deterministic). `response` may be null
// (a transport failure): then only the back-off applies.
std::chrono::milliseconds retry_delay(const HttpResponse* response, int retry, const RetryPolicy& policy, double jitter);

}  // namespace loomflow::providers::http
