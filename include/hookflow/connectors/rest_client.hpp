#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

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
    /// Open connections allowed to this scheme, host and port; more requests wait for one.
    std::size_t max_connections = 8;
    /// How long a kept-alive connection may sit unused before it is closed.
    std::chrono::milliseconds idle_timeout{50000};
    /// `http://[user:pass@]host:port` of an outbound proxy; empty: connect directly.
    std::string proxy;
};

struct HttpResponse {
    int status = 0;
    Headers headers;
    std::string body;
};

/// Outbound proxy settings: from the environment, overridden per connector by its config.
struct ProxySettings {
    std::string http_proxy;   // for http:// targets
    std::string https_proxy;  // for https:// targets (CONNECT tunnel)
    std::string no_proxy;     // comma-separated hosts, `.domain` suffixes, `*`

    /// HTTP_PROXY, HTTPS_PROXY and NO_PROXY (the lowercase form wins when both are set).
    static ProxySettings from_env();
};

/// The proxy to use for `url` under `settings`, or empty for a direct connection.
std::string proxy_for(std::string_view url, const ProxySettings& settings);

/// Whether `host` (and `port`) is listed in a NO_PROXY value: `*`, an exact host or IP,
/// `example.com` or `.example.com` (that domain and its subdomains), each optionally `:port`.
bool no_proxy_matches(std::string_view host, std::string_view port, std::string_view no_proxy);

/// A proxy URL's parts. `authorization` is the Proxy-Authorization value (`Basic ...`) when
/// the URL holds `user:pass@`; `password` is kept so that callers can redact it.
struct ProxyUrl {
    std::string host;
    std::string port;
    std::string authorization;
    std::string password;
};

/// Parses `http://[user[:pass]@]host[:port][/]` (port 80 by default; a bare `host:port` is
/// taken as http). Errc::invalid_config for another scheme or a malformed URL.
Result<ProxyUrl> parse_proxy_url(std::string_view url);

/// A token bucket: `per_second` tokens a second, at most `burst` saved up. Not thread-safe.
class TokenBucket {
  public:
    /// A bucket that starts full.
    TokenBucket(double per_second, double burst);

    /// Takes one token at `now`; returns how long the caller must wait before using it
    /// (zero when one was available). Waiting callers queue: each reservation is honoured.
    std::chrono::milliseconds reserve(std::chrono::steady_clock::time_point now);

  private:
    double per_second_;
    double burst_;
    double tokens_;
    std::chrono::steady_clock::time_point last_;
};

/// The one HTTP client every connector uses: http and https (TLS with peer and host-name
/// verification, SNI), keep-alive connections reused per scheme, host and port (at most
/// `max_connections` open, idle ones closed after `idle_timeout`), optionally via a proxy.
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
