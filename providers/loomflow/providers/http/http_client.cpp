#include "loomflow/providers/http/http_client.hpp"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace loomflow::providers::http {

std::string HttpResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return {};
}

namespace {

using Clock = std::chrono::steady_clock;

// Transfers whose gate reopened, for the I/O thread to resume. Shared with the resume functions
// handed to gates, which may run after the client is gone.
struct ResumeQueue {
  std::mutex mutex;
  std::vector<HttpClient::CallId> ids;
  CURLM* multi = nullptr;  // null once the client stopped

  void push(HttpClient::CallId id) {
    std::lock_guard<std::mutex> guard(mutex);
    if (multi == nullptr) return;
    ids.push_back(id);
    curl_multi_wakeup(multi);
  }
};

struct Transfer {
  HttpClient::CallId id = 0;
  std::shared_ptr<ResumeQueue> resumes;
  bool paused = false;
  HttpRequest request;
  HttpClient::OnHead on_head;
  HttpClient::OnData on_data;
  HttpClient::OnDone on_done;
  bool head_delivered = false;
  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  HttpResponse response;
  bool aborted_by_consumer = false;
  char error_text[CURL_ERROR_SIZE] = {0};

  ~Transfer() {
    if (header_list != nullptr) curl_slist_free_all(header_list);
    if (easy != nullptr) curl_easy_cleanup(easy);
  }
  bool streaming() const { return on_data && response.status >= 200 && response.status < 300; }
};

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new status line (also after a 100 Continue): only the last response counts.
    t->response.headers.clear();
    auto space = line.find(' ');
    if (space != std::string_view::npos) t->response.status = std::atoi(std::string(line.substr(space + 1, 3)).c_str());
  } else if (auto colon = line.find(':'); colon != std::string_view::npos) {
    t->response.headers.emplace_back(lower(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return size * count;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const std::string_view bytes(data, size * count);
  if (t->streaming()) {
    if (!t->head_delivered) {
      t->head_delivered = true;
      if (t->on_head) t->on_head(t->response);
    }
    if (t->request.gate && t->request.gate->closed()) {
      // libcurl hands these bytes over again once the transfer is resumed.
      t->paused = true;
      t->request.gate->when_open([resumes = t->resumes, id = t->id] { resumes->push(id); });
      return CURL_WRITEFUNC_PAUSE;
    }
    if (!t->on_data(bytes)) {
      t->aborted_by_consumer = true;
      return 0;  // makes libcurl end the transfer with CURLE_WRITE_ERROR
    }
  } else {
    t->response.body.append(bytes);
  }
  return bytes.size();
}

ErrorCode code_for(CURLcode result) {
  switch (result) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return ErrorCode::unavailable;  // transient: worth retrying
    default:
      return ErrorCode::model_error;  // TLS verification, bad URL, ...: retrying would not help
  }
}

}  // namespace

struct HttpClient::Impl {
  Impl() {
    static std::once_flag curl_ready;
    // libcurl requires one process-wide initialisation before any thread uses it.
    std::call_once(curl_ready, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    multi = curl_multi_init();
    resumes->multi = multi;
    io = std::thread([this] { loop(); });
  }

  ~Impl() {
    {
      std::lock_guard<std::mutex> guard(mutex);
      stopping = true;
    }
    curl_multi_wakeup(multi);
    if (io.joinable()) io.join();  // detached when the I/O thread frees the client itself
    {
      std::lock_guard<std::mutex> guard(resumes->mutex);
      resumes->multi = nullptr;
    }
    curl_multi_cleanup(multi);
  }

  void wake() { curl_multi_wakeup(multi); }

  void start_transfer(std::unique_ptr<Transfer> t) {
    t->easy = curl_easy_init();
    CURL* e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->request.url.c_str());
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, t->request.method.c_str());
    if (!t->request.body.empty() || t->request.method == "POST") {
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, static_cast<long>(t->request.body.size()));
      curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, t->request.body.c_str());
    }
    for (const auto& [name, value] : t->request.headers)
      t->header_list = curl_slist_append(t->header_list, (name + ": " + value).c_str());
    t->header_list = curl_slist_append(t->header_list, "Expect:");  // no 100-continue round trip
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->header_list);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
    curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error_text);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t->request.connect_timeout.count()));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t->request.total_timeout.count()));
    // Idle: fewer than 1 byte/s for the idle period (libcurl counts whole seconds).
    const long idle_s = std::max<long>(1, static_cast<long>((t->request.idle_timeout.count() + 999) / 1000));
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, idle_s);
    curl_multi_add_handle(multi, e);
    active.emplace(t->id, std::move(t));
  }

  void finish(CallId id, Expected<HttpResponse> outcome) {
    auto it = active.find(id);
    if (it == active.end()) return;
    std::unique_ptr<Transfer> t = std::move(it->second);
    active.erase(it);
    curl_multi_remove_handle(multi, t->easy);
    auto done = std::move(t->on_done);
    t.reset();
    if (done) done(std::move(outcome));
  }

  void complete(Transfer* t, CURLcode result) {
    const std::string what = t->request.method + " " + t->request.url;
    if (result == CURLE_OK) {
      finish(t->id, std::move(t->response));
    } else if (t->aborted_by_consumer) {
      finish(t->id, Error{ErrorCode::cancelled, what + ": aborted by its consumer"});
    } else {
      std::string detail = t->error_text[0] != '\0' ? std::string(t->error_text) : std::string(curl_easy_strerror(result));
      finish(t->id, Error{code_for(result), what + ": " + detail});
    }
  }

  // Transfers whose gate reopened go on. curl_easy_pause may hand the held bytes over at once, and
  // the gate may close again right away: the write callback then pauses the transfer anew.
  void resume_reopened() {
    std::vector<CallId> ids;
    {
      std::lock_guard<std::mutex> guard(resumes->mutex);
      ids.swap(resumes->ids);
    }
    for (auto id : ids) {
      auto it = active.find(id);
      if (it == active.end() || !it->second->paused) continue;
      it->second->paused = false;
      curl_easy_pause(it->second->easy, CURLPAUSE_CONT);
    }
  }

  void loop() {
    for (;;) {
      std::vector<std::unique_ptr<Transfer>> starting;
      std::vector<CallId> cancelling;
      std::vector<std::function<void()>> due;
      bool stop = false;
      auto now = Clock::now();
      {
        std::lock_guard<std::mutex> guard(mutex);
        starting.swap(incoming);
        cancelling.swap(cancels);
        while (!timers.empty() && timers.begin()->first <= now) {
          due.push_back(std::move(timers.begin()->second));
          timers.erase(timers.begin());
        }
        stop = stopping;
      }
      for (auto& t : starting) start_transfer(std::move(t));
      for (auto id : cancelling) finish(id, Error{ErrorCode::cancelled, "the call was cancelled"});
      resume_reopened();
      for (auto& fn : due) fn();
      if (stop) break;
      int running = 0;
      curl_multi_perform(multi, &running);
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg != CURLMSG_DONE) continue;
        Transfer* t = nullptr;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
        if (t != nullptr) complete(t, msg->data.result);
      }
      int wait_ms = 200;
      {
        std::lock_guard<std::mutex> guard(mutex);
        if (!incoming.empty() || !cancels.empty() || stopping) wait_ms = 0;
        if (!timers.empty()) {
          auto until = std::chrono::duration_cast<std::chrono::milliseconds>(timers.begin()->first - Clock::now());
          wait_ms = std::clamp<int>(static_cast<int>(until.count()), 0, wait_ms);
        }
      }
      curl_multi_poll(multi, nullptr, 0, wait_ms, nullptr);
    }
    // Stopping: every call still in flight ends as cancelled.
    std::vector<CallId> ids;
    for (auto& [id, t] : active) ids.push_back(id);
    for (auto id : ids) finish(id, Error{ErrorCode::cancelled, "the HTTP client was shut down"});
    std::vector<std::unique_ptr<Transfer>> never_started;
    {
      std::lock_guard<std::mutex> guard(mutex);
      never_started.swap(incoming);
    }
    for (auto& t : never_started)
      if (t->on_done) t->on_done(Error{ErrorCode::cancelled, "the HTTP client was shut down"});
    if (delete_when_stopped) delete this;  // the last thing this thread does with the client
  }

  CURLM* multi = nullptr;
  std::shared_ptr<ResumeQueue> resumes = std::make_shared<ResumeQueue>();
  std::thread io;
  std::atomic<CallId> next_id{1};
  std::mutex mutex;  // guards the four fields below
  std::vector<std::unique_ptr<Transfer>> incoming;
  std::vector<CallId> cancels;
  std::multimap<Clock::time_point, std::function<void()>> timers;
  bool stopping = false;
  std::unordered_map<CallId, std::unique_ptr<Transfer>> active;  // I/O thread only
  bool delete_when_stopped = false;                               // I/O thread only
};

HttpClient::HttpClient() : impl_(std::make_unique<Impl>()) {}

HttpClient::~HttpClient() {
  if (!impl_ || std::this_thread::get_id() != impl_->io.get_id()) return;  // ~Impl joins the I/O thread
  // The last owner let go inside one of the client's own callbacks, on the I/O thread, which cannot
  // join itself: the loop stops after that callback and frees the client on its way out.
  Impl* impl = impl_.release();
  impl->io.detach();
  impl->delete_when_stopped = true;
  std::lock_guard<std::mutex> guard(impl->mutex);
  impl->stopping = true;
}

HttpClient::CallId HttpClient::send(HttpRequest request, OnData on_data, OnDone on_done) {
  return send(std::move(request), OnHead{}, std::move(on_data), std::move(on_done));
}

HttpClient::CallId HttpClient::send(HttpRequest request, OnHead on_head, OnData on_data, OnDone on_done) {
  auto t = std::make_unique<Transfer>();
  t->id = impl_->next_id++;
  t->resumes = impl_->resumes;
  t->request = std::move(request);
  t->on_head = std::move(on_head);
  t->on_data = std::move(on_data);
  t->on_done = std::move(on_done);
  const CallId id = t->id;
  {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->incoming.push_back(std::move(t));
  }
  impl_->wake();
  return id;
}

void HttpClient::cancel(CallId id) {
  {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->cancels.push_back(id);
  }
  impl_->wake();
}

void HttpClient::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> guard(impl_->mutex);
    impl_->timers.emplace(Clock::now() + delay, std::move(fn));
  }
  impl_->wake();
}

}  // namespace loomflow::providers::http
