// When provider calls are retried, and how long the runtime waits first.
#include <gtest/gtest.h>

#include <ctime>

#include "loomflow/providers/http/retry.hpp"

using namespace loomflow::providers::http;
using std::chrono::milliseconds;

namespace {

HttpResponse response(int status, Headers headers = {}) { return HttpResponse{status, std::move(headers), {}}; }

}  // namespace

TEST(RetryPolicy, TimeoutsConflictsRateLimitsAndServerErrorsAreRetried) {
  for (int status : {408, 409, 429, 500, 502, 503, 504, 529}) EXPECT_TRUE(is_retryable(response(status))) << status;
}

TEST(RetryPolicy, ClientErrorsAreNotRetried) {
  for (int status : {400, 401, 403, 404, 422}) EXPECT_FALSE(is_retryable(response(status))) << status;
}

TEST(RetryPolicy, XShouldRetryOverridesTheStatus) {
  EXPECT_TRUE(is_retryable(response(400, {{"x-should-retry", "true"}})));
  EXPECT_FALSE(is_retryable(response(503, {{"x-should-retry", "false"}})));
}

TEST(RetryPolicy, RetryAfterMsWinsOverRetryAfter) {
  auto r = response(429, {{"retry-after", "7"}, {"retry-after-ms", "250"}});
  EXPECT_EQ(retry_delay(&r, 1, RetryPolicy{}, 0.0), milliseconds(250));
}

TEST(RetryPolicy, RetryAfterInSecondsIsHonoured) {
  auto r = response(429, {{"retry-after", "2"}});
  EXPECT_EQ(retry_delay(&r, 1, RetryPolicy{}, 0.0), milliseconds(2000));
}

TEST(RetryPolicy, RetryAfterAsAnHttpDateIsHonoured) {
  std::time_t in_30s = std::time(nullptr) + 30;
  char date[64];
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", std::gmtime(&in_30s));
  auto r = response(503, {{"retry-after", date}});
  auto wait = retry_delay(&r, 1, RetryPolicy{}, 0.0);
  EXPECT_GE(wait, milliseconds(28'000));
  EXPECT_LE(wait, milliseconds(30'000));
}

TEST(RetryPolicy, WithoutServerAdviceTheBackOffDoublesUpToTheCap) {
  RetryPolicy policy;  // 0.5 s doubling, capped at 8 s
  EXPECT_EQ(retry_delay(nullptr, 1, policy, 0.0), milliseconds(500));
  EXPECT_EQ(retry_delay(nullptr, 2, policy, 0.0), milliseconds(1000));
  EXPECT_EQ(retry_delay(nullptr, 3, policy, 0.0), milliseconds(2000));
  EXPECT_EQ(retry_delay(nullptr, 10, policy, 0.0), milliseconds(8000));
}

TEST(RetryPolicy, JitterShortensTheBackOffByAtMostAQuarter) {
  EXPECT_EQ(retry_delay(nullptr, 1, RetryPolicy{}, 0.5), milliseconds(437));
  EXPECT_GE(retry_delay(nullptr, 1, RetryPolicy{}, 0.999), milliseconds(375));
}

TEST(RetryPolicy, AnAbsurdServerDelayFallsBackToTheBackOff) {
  auto r = response(429, {{"retry-after", "86400"}});  // a day: beyond max_server_delay
  EXPECT_EQ(retry_delay(&r, 1, RetryPolicy{}, 0.0), milliseconds(500));
}

TEST(RetryPolicy, AMalformedRetryAfterFallsBackToTheBackOff) {
  auto r = response(429, {{"retry-after", "soon"}, {"retry-after-ms", "-5"}});
  EXPECT_EQ(retry_delay(&r, 2, RetryPolicy{}, 0.0), milliseconds(1000));
}
