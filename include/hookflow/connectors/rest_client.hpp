#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <hookflow/common/headers.hpp>
#include <hookflow/common/result.hpp>

namespace hookflow::connectors {

struct HttpRequest {
    std::string method = "GET";
    std::string url;  // http://host[:port]/path?query or https://...
    Headers headers;
    std::string body;
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds timeout{30000};  // the whole exchange
    std::string ca_file;                       // empty: the system CA store
    std::size_t max_response_bytes = 16 * 1024 * 1024;
};

struct HttpResponse {
    int status = 0;
    Headers headers;
    std::string body;
};

/// The one HTTP client every connector uses: http and https (TLS with peer and host-name
/// verification, SNI), keep-alive connections reused per scheme, host and port.
/// Fails with Errc::network (with the cause) or Errc::timeout; an HTTP error status is not a
/// failure here.
class RestClient {
  public:
    explicit RestClient(boost::asio::any_io_executor executor);
    ~RestClient();

    boost::asio::awaitable<Result<HttpResponse>> send(HttpRequest request);

    /// Connections opened so far (for tests and metrics).
    std::size_t connections_opened() const;

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace hookflow::connectors
