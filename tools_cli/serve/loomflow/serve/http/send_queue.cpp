#include "loomflow/serve/http/send_queue.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <array>
#include <cerrno>

namespace loomflow::serve::http {
namespace {
constexpr std::size_t kMaxIovecs = 64;
}  // namespace

void SendQueue::push(std::string bytes) {
  if (bytes.empty()) return;
  size_ += bytes.size();
  if (bytes.size() < kCoalesceBelow && !pieces_.empty() && pieces_.back().size() + bytes.size() <= kBlockBytes) {
    pieces_.back() += bytes;
    return;
  }
  pieces_.push_back(std::move(bytes));
}

void SendQueue::append(SendQueue&& other) {
  if (other.empty()) return;
  if (other.front_offset_ > 0) other.pieces_.front().erase(0, other.front_offset_);
  for (auto& piece : other.pieces_) push(std::move(piece));
  other.clear();
}

void SendQueue::clear() noexcept {
  pieces_.clear();
  front_offset_ = 0;
  size_ = 0;
}

void SendQueue::consume(std::size_t bytes) noexcept {
  size_ -= bytes;
  while (bytes > 0) {
    const std::size_t left_in_front = pieces_.front().size() - front_offset_;
    if (bytes < left_in_front) {
      front_offset_ += bytes;
      return;
    }
    bytes -= left_in_front;
    pieces_.pop_front();
    front_offset_ = 0;
  }
}

SendQueue::SendResult SendQueue::send_to(int fd, std::size_t max_bytes, int& error) {
  std::size_t sent_total = 0;
  while (!pieces_.empty()) {
    if (sent_total >= max_bytes) return SendResult::would_block;
    std::array<iovec, kMaxIovecs> iov{};
    std::size_t count = 0;
    std::size_t batch = 0;
    for (auto it = pieces_.begin(); it != pieces_.end() && count < kMaxIovecs && batch < max_bytes; ++it) {
      const std::size_t offset = count == 0 ? front_offset_ : 0;
      iov[count].iov_base = const_cast<char*>(it->data() + offset);
      iov[count].iov_len = it->size() - offset;
      batch += iov[count].iov_len;
      ++count;
    }
    msghdr message{};
    message.msg_iov = iov.data();
    message.msg_iovlen = count;
    // sendmsg rather than writev: only send*() take MSG_NOSIGNAL, and a vanished peer must give
    // EPIPE, not kill the process with SIGPIPE.
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return SendResult::would_block;
      error = errno;
      return SendResult::failed;
    }
    consume(static_cast<std::size_t>(sent));
    sent_total += static_cast<std::size_t>(sent);
    if (static_cast<std::size_t>(sent) < batch) return SendResult::would_block;  // the socket is full
  }
  return SendResult::all_sent;
}

}  // namespace loomflow::serve::http
