#include "loomflow/serve/http/io_channel.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace loomflow::serve::http {

Expected<std::shared_ptr<IoChannel>> IoChannel::create() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return Error{ErrorCode::internal, std::string("eventfd failed: ") + std::strerror(errno)};
  return std::shared_ptr<IoChannel>(new IoChannel(fd));
}

IoChannel::~IoChannel() { close(); }

void IoChannel::wake_locked() {
  // The I/O thread drains the queue before it sleeps, so it needs no wakeup from itself; others
  // write the eventfd once per batch.
  if (wake_pending_ || on_io_thread()) return;
  wake_pending_ = true;
  const std::uint64_t one = 1;
  [[maybe_unused]] const ssize_t written = ::write(event_fd_, &one, sizeof one);
}

bool IoChannel::post(std::function<void()> task) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  tasks_.push_back(std::move(task));
  wake_locked();
  return true;
}

bool IoChannel::request_service(std::uint64_t connection_id) {
  std::lock_guard lock(mutex_);
  if (closed_) return false;
  services_.push_back(connection_id);
  wake_locked();
  return true;
}

void IoChannel::clear_wakeup() noexcept {
  std::uint64_t value = 0;
  [[maybe_unused]] const ssize_t got = ::read(event_fd_, &value, sizeof value);
}

bool IoChannel::has_pending() const {
  std::lock_guard lock(mutex_);
  return !tasks_.empty() || !services_.empty();
}

void IoChannel::take(std::vector<std::function<void()>>& tasks, std::vector<std::uint64_t>& services) {
  std::lock_guard lock(mutex_);
  tasks.swap(tasks_);
  services.swap(services_);
  wake_pending_ = false;
}

void IoChannel::close() {
  std::vector<std::function<void()>> dropped;  // destroyed after unlocking: tasks own user callbacks
  {
    std::lock_guard lock(mutex_);
    if (closed_) return;
    closed_ = true;
    ::close(event_fd_);
    dropped.swap(tasks_);
    services_.clear();
  }
}

}  // namespace loomflow::serve::http
