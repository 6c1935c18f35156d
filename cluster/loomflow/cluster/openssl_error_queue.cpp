// Works around a CAF 0.17 bug that lets anyone who reaches a TLS cluster port disconnect every
// other TLS peer of that node (found while testing `cluster status` under TLS).
//
// caf::openssl::session calls SSL_get_error() without first emptying the thread's OpenSSL error
// queue (SSL_get_error(3) requires it empty), and Debian's CAF (log level quiet) never drains it.
// All TLS connections of a process share the multiplexer thread, so the error one connection leaves
// (an EOF without close_notify, an aborted handshake, a bad certificate) makes the next "no data
// yet" on ANY other connection read as SSL_ERROR_SSL — and CAF closes that connection.
//
// This file must be compiled into each executable that uses caf::openssl (not into a library):
// an executable's definitions of these four libssl entry points take precedence over libssl's for
// every library of the process (libcaf_openssl included). Each clears the queue, then calls
// libssl's own function. Other users (libcurl) clear the queue themselves, so this changes nothing
// for them.
#include <dlfcn.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class F>
F libssl(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buffer, int size) {
  static const auto real = libssl<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return real(ssl, buffer, size);
}

int SSL_write(SSL* ssl, const void* buffer, int size) {
  static const auto real = libssl<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return real(ssl, buffer, size);
}

int SSL_accept(SSL* ssl) {
  static const auto real = libssl<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return real(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto real = libssl<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return real(ssl);
}

}  // extern "C"
