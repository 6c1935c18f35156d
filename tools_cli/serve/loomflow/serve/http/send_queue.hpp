// loomflow/serve/http/send_queue.hpp — bytes waiting for a non-blocking socket, sent with one
// sendmsg() per batch of pieces. Small pieces are coalesced into blocks so a burst of tiny SSE
// events costs one syscall, and large pieces are kept as moved-in strings (never copied).
// Thread-safety: none; its owner guards it.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

namespace loomflow::serve::http {

// What one flush of one connection sends at most, so a fast reader cannot keep the I/O thread
// from the other connections (the rest goes out on the next EPOLLOUT).
inline constexpr std::size_t kMaxBytesPerFlush = 1024 * 1024;

class SendQueue {
 public:
  enum class SendResult { all_sent, would_block, failed };

  SendQueue() = default;
  SendQueue(SendQueue&& other) noexcept
      : pieces_(std::move(other.pieces_)), front_offset_(other.front_offset_), size_(other.size_) {
    other.clear();
  }
  SendQueue& operator=(SendQueue&& other) noexcept {
    if (this != &other) {
      pieces_ = std::move(other.pieces_);
      front_offset_ = other.front_offset_;
      size_ = other.size_;
      other.clear();
    }
    return *this;
  }

  void push(std::string bytes);
  void push(std::string_view bytes) { push(std::string(bytes)); }
  void push(const char* bytes) { push(std::string(bytes)); }
  // Moves every byte of `other` to the end of this queue.
  void append(SendQueue&& other);

  // Bytes queued and not yet taken by the socket.
  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  void clear() noexcept;

  // Sends until the queue is empty, the socket is full (EAGAIN), `max_bytes` went out (fairness
  // between connections) or the socket failed (then `error` holds errno). Never raises SIGPIPE.
  SendResult send_to(int fd, std::size_t max_bytes, int& error);

 private:
  static constexpr std::size_t kCoalesceBelow = 4096;   // pieces smaller than this are copied into a block
  static constexpr std::size_t kBlockBytes = 64 * 1024;  // a block's size limit

  void consume(std::size_t bytes) noexcept;

  std::deque<std::string> pieces_;
  std::size_t front_offset_ = 0;  // bytes of pieces_.front() already sent
  std::size_t size_ = 0;
};

}  // namespace loomflow::serve::http
