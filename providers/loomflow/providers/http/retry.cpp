#include "loomflow/providers/http/retry.hpp"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <optional>
#include <string>

namespace loomflow::providers::http {

bool is_retryable(const HttpResponse& response) {
  const std::string should = response.header("x-should-retry");
  if (should == "true") return true;
  if (should == "false") return false;
  const int s = response.status;
  return s == 408 || s == 409 || s == 429 || s >= 500;
}

namespace {

std::optional<double> number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str() || *end != '\0' || !std::isfinite(value) || value < 0) return std::nullopt;
  return value;
}

// An HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT") as milliseconds from now.
std::optional<double> http_date_ms(const std::string& text) {
  std::tm tm{};
  if (strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  const std::time_t when = timegm(&tm);
  const double ms = std::difftime(when, std::time(nullptr)) * 1000.0;
  return std::max(0.0, ms);
}

}  // namespace

std::chrono::milliseconds retry_delay(const HttpResponse* response, int retry, const RetryPolicy& policy, double jitter) {
  if (response != nullptr) {
    std::optional<double> server_ms;
    if (auto ms = number(response->header("retry-after-ms"))) {
      server_ms = *ms;
    } else if (const auto after = response->header("retry-after"); !after.empty()) {
      if (auto seconds = number(after))
        server_ms = *seconds * 1000.0;
      else
        server_ms = http_date_ms(after);
    }
    if (server_ms && *server_ms <= static_cast<double>(policy.max_server_delay.count()))
      return std::chrono::milliseconds(static_cast<long long>(std::ceil(*server_ms)));
  }
  const double base = static_cast<double>(policy.initial_backoff.count()) * std::pow(2.0, std::max(0, retry - 1));
  const double capped = std::min(base, static_cast<double>(policy.max_backoff.count()));
  return std::chrono::milliseconds(static_cast<long long>(capped * (1.0 - 0.25 * std::clamp(jitter, 0.0, 0.999))));
}

}  // namespace loomflow::providers::http
