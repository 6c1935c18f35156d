// LoopbackSocket: a blocking TCP client on 127.0.0.1 for tests that speak HTTP or WebSocket bytes
// themselves. Its send/receive timeouts are only a safety net for failing tests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace loomflow::testing {

class LoopbackSocket {
 public:
  // `receive_buffer` > 0 sets SO_RCVBUF (a small one makes the server's sends block sooner).
  explicit LoopbackSocket(std::uint16_t port, int receive_buffer = 0,
                          std::chrono::seconds safety = std::chrono::seconds(20)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (receive_buffer > 0) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    timeval timeout{static_cast<time_t>(safety.count()), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  }
  ~LoopbackSocket() { close(); }
  LoopbackSocket(const LoopbackSocket&) = delete;
  LoopbackSocket& operator=(const LoopbackSocket&) = delete;

  bool connected() const { return connected_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with a reset (SO_LINGER 0): an abrupt disconnect.
  void reset() {
    linger option{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &option, sizeof option);
    close();
  }

  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (sent <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(sent));
    }
    return true;
  }

  // Reads once into buffer(); false at EOF, on an error or at the safety timeout.
  bool read_more() {
    char chunk[65536];
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got > 0) {
      buffer_.append(chunk, static_cast<std::size_t>(got));
      return true;
    }
    eof_ = got == 0 || errno == ECONNRESET;
    return false;
  }

  // Reads until `text` is in the buffer.
  bool read_until(std::string_view text) {
    while (buffer_.find(text) == std::string::npos)
      if (!read_more()) return false;
    return true;
  }

  // Reads until `marker`, then removes and returns everything up to and including it (at EOF:
  // whatever was left).
  std::string take_until(std::string_view marker) {
    if (!read_until(marker)) return std::exchange(buffer_, {});
    const auto end = buffer_.find(marker) + marker.size();
    std::string out = buffer_.substr(0, end);
    buffer_.erase(0, end);
    return out;
  }

  std::string& buffer() { return buffer_; }
  int fd() const { return fd_; }
  bool eof() const { return eof_; }

 protected:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;
};

}  // namespace loomflow::testing
