#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <hookflow/common/result.hpp>
#include <hookflow/http/forwarded.hpp>

namespace hookflow::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

/// What a handler gets: the request (raw body untouched) and where it came from.
struct Exchange {
    Request& request;
    std::string peer;        // client address as seen on the socket
    std::string request_id;  // for log lines
    /// server.trusted_proxies (never null when the server made the exchange): whose
    /// X-Forwarded-* headers count (see forwarded.hpp).
    const TrustedProxies* trusted_proxies = nullptr;
};

using Handler = std::function<boost::asio::awaitable<Response>(Exchange&)>;

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 8080;
    std::size_t max_body_bytes = 1048576;
    std::chrono::seconds header_timeout{10};
    std::chrono::seconds idle_timeout{60};
    std::chrono::seconds body_timeout{30};
    /// Peers whose X-Forwarded-* headers are believed (server.trusted_proxies); none by default.
    TrustedProxies trusted_proxies;
    /// PEM certificate chain and key (server.tls); both set: the listener speaks HTTPS only
    /// (TLS 1.2 and later).
    std::string tls_cert;
    std::string tls_key;
    /// Told of each request the server refuses itself, before any handler sees it (413, 400),
    /// with the request target ("" when unknown), so the application can log it its way.
    std::function<void(std::string_view target, const Error& error)> on_refused;
};

/// A JSON answer `{"error": reason}` with the status for `code`.
Response error_response(const Error& error, unsigned version, bool keep_alive);

/// A JSON answer with `status` and a body already serialized.
Response json_response(unsigned status, std::string body, unsigned version, bool keep_alive);

/// Loads a PEM certificate chain and key as the listener would; Errc::invalid_config naming
/// the file that cannot be loaded, or saying that the key does not match the certificate.
Result<void> check_tls_files(const std::string& cert, const std::string& key);

/// The HTTP status for each error kind (one switch, compiled with -Wswitch-enum).
unsigned status_for(Errc code);

/// The listener: accepts connections and runs one coroutine session per connection with
/// keep-alive, a body limit (413 then close), header, body and idle deadlines.
class Server {
  public:
    Server(boost::asio::any_io_executor executor, ServerOptions options, Handler handler);
    ~Server();

    /// Binds and starts accepting. Errc::network when the address cannot be bound.
    Result<void> start();

    /// The port actually bound (useful with port 0).
    std::uint16_t port() const;

    /// Stops accepting new connections; sessions in flight finish their request.
    void stop();

  private:
    struct Impl;
    std::shared_ptr<Impl> impl_;
};

}  // namespace hookflow::http
