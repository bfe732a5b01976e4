#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/ids.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/http/server.hpp>

namespace hookflow::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace beast_http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
// After refusing a body, the rest of it is read and dropped for a moment so that the client
// sees the answer instead of a reset; bounded so a sender cannot hold the connection.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 16 * 1024 * 1024;
// Accept errors (EMFILE above all) repeat at once while they last: wait between tries, and
// log one line per interval with the count of the ones held back.
constexpr auto kAcceptBackoffMin = std::chrono::milliseconds(50);
constexpr auto kAcceptBackoffMax = std::chrono::milliseconds(1000);
constexpr auto kAcceptLogInterval = std::chrono::seconds(5);

using TlsStream = beast::ssl_stream<beast::tcp_stream>;

std::string peer_of(const tcp::socket& socket) {
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("unknown") : endpoint.address().to_string();
}

beast::tcp_stream& tcp_of(beast::tcp_stream& stream) {
    return stream;
}

beast::tcp_stream& tcp_of(TlsStream& stream) {
    return stream.next_layer();
}

/// All X-Forwarded-For headers of a request joined with `,` (a proxy may add its own).
std::string forwarded_for(const Request& request) {
    std::string joined;
    for (auto [it, end] = request.equal_range("X-Forwarded-For"); it != end; ++it) {
        joined += (joined.empty() ? "" : ",") + std::string(it->value());
    }
    return joined;
}

/// The request target without its query string, which may carry tokens.
std::string_view path_of(std::string_view target) {
    return target.substr(0, target.find('?'));
}

/// What one access line says.
struct Access {
    std::string_view method;
    std::string_view target;
    unsigned status = 0;
    std::size_t bytes = 0;  // body bytes of the answer
    std::int64_t started_ms = 0;
    std::string client;
    std::string_view request_id;
};

// Probes that run every few seconds would drown the log at info.
void log_access(const Access& a) {
    auto path = path_of(a.target);
    bool probe = path == "/healthz" || path == "/readyz" || path == "/metrics";
    spdlog::log(probe ? spdlog::level::debug : spdlog::level::info,
                "http request {} {} {} {} {} {} {}",
                logf::field("method", a.method.empty() ? std::string_view("-") : a.method),
                logf::field("path", path.empty() ? std::string_view("-") : path),
                logf::field(logf::kHttpStatus, a.status),
                logf::field("bytes", static_cast<long long>(a.bytes)),
                logf::field(logf::kElapsedMs, SystemClock::instance().now_ms() - a.started_ms),
                logf::field("client", a.client),
                logf::field(logf::kRequest, a.request_id.empty() ? "-" : a.request_id));
}

/// Logs accept failures at most once per kAcceptLogInterval, counting the ones held back.
class AcceptFailureLog {
  public:
    void note(const boost::system::error_code& ec) {
        auto now = std::chrono::steady_clock::now();
        if (logged_ && now - last_ < kAcceptLogInterval) {
            ++suppressed_;
            return;
        }
        spdlog::warn("accept failed {} {}",
                     logf::field(logf::kErr, ec.message()),
                     logf::field("suppressed", static_cast<long long>(suppressed_)));
        logged_ = true;
        last_ = now;
        suppressed_ = 0;
    }

  private:
    bool logged_ = false;
    std::chrono::steady_clock::time_point last_{};
    std::size_t suppressed_ = 0;
};

/// Why the request's framing is refused before its body is read (RFC 9112 6.3), or "".
// Beast treats a Transfer-Encoding whose last coding is not chunked as no body at all, so the
// body would be read as the next request: only a single `chunked` is accepted.
std::string_view framing_problem(const Request& request) {
    auto [it, end] = request.equal_range(beast_http::field::transfer_encoding);
    if (it == end) {
        return {};
    }
    if (std::next(it) != end) {
        return "unsupported transfer encoding";
    }
    if (request.count(beast_http::field::content_length) != 0) {
        return "both content-length and transfer-encoding";
    }
    auto value = it->value();
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value.remove_suffix(1);
    }
    return beast::iequals(value, "chunked") ? std::string_view{}
                                            : std::string_view("unsupported transfer encoding");
}

/// The number of fields in a request: more after the body than before it means trailers.
std::size_t field_count(const Request& request) {
    return static_cast<std::size_t>(std::distance(request.begin(), request.end()));
}

/// Whether a read error means the bytes were not HTTP (answered 400), not a gone client.
bool is_malformed(const boost::system::error_code& ec) {
    return ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message &&
           ec != beast::error::timeout && ec != asio::error::connection_reset &&
           ec != asio::error::eof && ec != asio::error::operation_aborted &&
           ec != asio::ssl::error::stream_truncated;
}

/// A TLS context for the listener from PEM files; TLS 1.2 and later only.
// Limitation: the files are read once at start-up; a renewed certificate needs a restart.
Result<std::shared_ptr<asio::ssl::context>> make_tls_context(const std::string& cert,
                                                             const std::string& key) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    boost::system::error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                         asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use,
                     ec);
    if (ctx->use_certificate_chain_file(cert, ec); ec) {
        return make_error(Errc::invalid_config,
                          "server.tls.cert: cannot load " + cert + ": " + ec.message());
    }
    if (ctx->use_private_key_file(key, asio::ssl::context::pem, ec); ec) {
        if (ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
            return make_error(
                Errc::invalid_config,
                "server.tls: the key " + key + " does not match the certificate " + cert);
        }
        return make_error(Errc::invalid_config,
                          "server.tls.key: cannot load " + key + ": " + ec.message());
    }
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
        ERR_clear_error();
        return make_error(Errc::invalid_config,
                          "server.tls: the key " + key + " does not match the certificate " + cert);
    }
    return ctx;
}

}  // namespace

Result<void> check_tls_files(const std::string& cert, const std::string& key) {
    auto ctx = make_tls_context(cert, key);
    if (!ctx) {
        return ctx.error();
    }
    return {};
}

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
    Impl(asio::any_io_executor ex, ServerOptions opts, Handler h)
        : executor(std::move(ex)),
          options(std::move(opts)),
          handler(std::move(h)),
          acceptor(executor) {}

    asio::any_io_executor executor;
    ServerOptions options;
    Handler handler;
    tcp::acceptor acceptor;
    std::shared_ptr<asio::ssl::context> tls;  // null: plain HTTP
    std::atomic<bool> stopping{false};
    std::uint16_t bound_port = 0;

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> run_session(tcp::socket socket);
    asio::awaitable<void> run_tls_session(beast::tcp_stream plain, std::string peer);
    template <class Stream>
    asio::awaitable<void> serve_all(Stream& stream, const std::string& peer);
    template <class Stream>
    asio::awaitable<bool> serve_one(Stream& stream,
                                    beast::flat_buffer& buffer,
                                    const std::string& peer,
                                    bool first);
    template <class Stream>
    asio::awaitable<void> refuse(Stream& stream,
                                 const Error& error,
                                 unsigned version,
                                 const Access& access);
};

asio::awaitable<void> Server::Impl::accept_loop() {
    auto self = shared_from_this();
    AcceptFailureLog failures;
    asio::steady_timer backoff_timer(executor);
    auto backoff = kAcceptBackoffMin;
    while (!stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(kTuple);
        if (ec) {
            if (stopping || ec == asio::error::operation_aborted) {
                break;
            }
            failures.note(ec);
            backoff_timer.expires_after(backoff);
            co_await backoff_timer.async_wait(kTuple);
            backoff = std::min(backoff * 2, kAcceptBackoffMax);
            continue;
        }
        backoff = kAcceptBackoffMin;
        auto strand = asio::make_strand(executor);
        asio::co_spawn(strand, run_session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> Server::Impl::run_session(tcp::socket socket) {
    auto self = shared_from_this();
    auto peer = peer_of(socket);
    beast::tcp_stream stream(std::move(socket));
    if (tls) {
        co_await run_tls_session(std::move(stream), peer);
        co_return;
    }
    co_await serve_all(stream, peer);
}

// The same session as plain HTTP, after a TLS handshake under the header deadline. A client
// speaking plain HTTP to this port gets a plain 400 and the connection is closed.
asio::awaitable<void> Server::Impl::run_tls_session(beast::tcp_stream plain, std::string peer) {
    TlsStream stream(std::move(plain), *tls);
    stream.next_layer().expires_after(options.header_timeout);
    auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
    if (ec) {
        spdlog::debug("tls handshake failed {} {}",
                      logf::field("client", peer),
                      logf::field(logf::kErr, ec.message()));
        if (ec.category() == asio::error::get_ssl_category() &&
            ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST) {
            static constexpr std::string_view kPlainAnswer =
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                "Content-Length: 49\r\nConnection: close\r\n\r\n"
                "{\"error\":\"plain HTTP sent to the HTTPS listener\"}";
            co_await asio::async_write(stream.next_layer(), asio::buffer(kPlainAnswer), kTuple);
        }
        boost::system::error_code ignored;
        stream.next_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.next_layer().socket().close(ignored);
        co_return;
    }
    co_await serve_all(stream, peer);
}

template <class Stream>
asio::awaitable<void> Server::Impl::serve_all(Stream& stream, const std::string& peer) {
    beast::flat_buffer buffer;
    bool first = true;
    try {
        while (co_await serve_one(stream, buffer, peer, first)) {
            first = false;
        }
    } catch (const std::exception& e) {
        spdlog::error("session failed {}", logf::field(logf::kErr, e.what()));
    }
    boost::system::error_code ignored;
    tcp_of(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
    tcp_of(stream).socket().close(ignored);
}

template <class Stream>
asio::awaitable<void> Server::Impl::refuse(Stream& stream,
                                           const Error& error,
                                           unsigned version,
                                           const Access& access) {
    if (options.on_refused) {
        options.on_refused(access.target, error);
    }
    // Answer, stop sending, then drain what the client still sends so it reads our answer.
    auto res = error_response(error, version, false);
    tcp_of(stream).expires_after(options.header_timeout);
    co_await beast_http::async_write(stream, res, kTuple);
    log_access(Access{access.method,
                      access.target,
                      res.result_int(),
                      res.body().size(),
                      access.started_ms,
                      access.client,
                      access.request_id});
    boost::system::error_code ec;
    tcp_of(stream).socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_of(stream).expires_after(kLingerTime);
    std::array<char, 16 * 1024> sink{};
    std::size_t drained = 0;
    while (drained < kLingerBytes) {
        auto [read_ec, n] = co_await stream.async_read_some(asio::buffer(sink), kTuple);
        if (read_ec) {
            break;
        }
        drained += n;
    }
}

// Reads one request, answers it; returns whether the connection stays open.
template <class Stream>
asio::awaitable<bool> Server::Impl::serve_one(Stream& stream,
                                              beast::flat_buffer& buffer,
                                              const std::string& peer,
                                              bool first) {
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(options.max_body_bytes);

    // Wait for a request header: a new connection gets the header deadline, a kept-alive
    // one the idle deadline.
    tcp_of(stream).expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [ec, n] = co_await beast_http::async_read_header(stream, buffer, parser, kTuple);
    auto target = std::string(parser.get().target());
    auto started = SystemClock::instance().now_ms();
    auto request_id = new_id("req", started);
    // Only believed from a trusted proxy (server.trusted_proxies); else the socket's peer.
    Access access{parser.get().method_string(),
                  target,
                  0,
                  0,
                  started,
                  client_address(peer, forwarded_for(parser.get()), options.trusted_proxies),
                  request_id};
    if (ec == beast_http::error::body_limit) {
        co_await refuse(stream, make_error(Errc::payload_too_large, "body too large"), 11, access);
        co_return false;
    }
    if (ec) {
        if (is_malformed(ec)) {
            co_await refuse(stream, make_error(Errc::bad_request, "malformed request"), 11, access);
        }
        co_return false;
    }
    unsigned version = parser.get().version();
    if (auto problem = framing_problem(parser.get()); !problem.empty()) {
        co_await refuse(
            stream, make_error(Errc::bad_request, std::string(problem)), version, access);
        co_return false;
    }
    auto header_fields = field_count(parser.get());

    // Tell a client that waits for it (curl with large bodies) to send the body.
    if (beast::iequals(parser.get()[beast_http::field::expect], "100-continue")) {
        beast_http::response<beast_http::empty_body> cont{beast_http::status::continue_, version};
        co_await beast_http::async_write(stream, cont, kTuple);
    }

    // Read the body under its own deadline; a body over the limit is refused as it arrives.
    tcp_of(stream).expires_after(options.body_timeout);
    std::tie(ec, n) = co_await beast_http::async_read(stream, buffer, parser, kTuple);
    if (ec == beast_http::error::body_limit) {
        co_await refuse(
            stream, make_error(Errc::payload_too_large, "body too large"), version, access);
        co_return false;
    }
    if (ec) {
        if (is_malformed(ec)) {
            co_await refuse(
                stream, make_error(Errc::bad_request, "malformed request"), version, access);
        }
        co_return false;
    }
    // Webhook providers send no trailers; merged into the header they would bypass its limit.
    if (field_count(parser.get()) != header_fields) {
        co_await refuse(
            stream, make_error(Errc::bad_request, "trailers are not accepted"), version, access);
        co_return false;
    }

    // Hand the request to the application and write its answer.
    // Limitation: HEAD gets the GET body; a client pipelining HEAD may misread the next answer.
    Exchange exchange{parser.get(), peer, request_id, &options.trusted_proxies};
    tcp_of(stream).expires_never();
    Response res = co_await handler(exchange);
    bool keep_alive = parser.get().keep_alive() && res.keep_alive() && !stopping;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    tcp_of(stream).expires_after(options.header_timeout);
    auto [write_ec, written] = co_await beast_http::async_write(stream, res, kTuple);
    access.status = res.result_int();
    access.bytes = res.body().size();
    log_access(access);
    co_return !write_ec && keep_alive;
}

Server::Server(asio::any_io_executor executor, ServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options), std::move(handler))) {}

Server::~Server() {
    stop();
}

Result<void> Server::start() {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(impl_->options.host, ec);
    if (ec) {
        return make_error(Errc::invalid_config,
                          "server.listen: bad address " + impl_->options.host);
    }
    tcp::endpoint endpoint(address, impl_->options.port);
    auto& acceptor = impl_->acceptor;
    if (acceptor.open(endpoint.protocol(), ec); !ec) {
        acceptor.set_option(asio::socket_base::reuse_address(true), ec);
        acceptor.bind(endpoint, ec);
    }
    if (!ec) {
        acceptor.listen(asio::socket_base::max_listen_connections, ec);
    }
    if (ec) {
        return make_error(Errc::network,
                          "cannot listen on " + impl_->options.host + ":" +
                              std::to_string(impl_->options.port) + ": " + ec.message());
    }
    if (!impl_->options.tls_cert.empty()) {
        auto ctx = make_tls_context(impl_->options.tls_cert, impl_->options.tls_key);
        if (!ctx) {
            acceptor.close(ec);
            return ctx.error();
        }
        impl_->tls = std::move(ctx).value();
    }
    impl_->bound_port = acceptor.local_endpoint().port();
    asio::co_spawn(acceptor.get_executor(), impl_->accept_loop(), asio::detached);
    return {};
}

std::uint16_t Server::port() const {
    return impl_->bound_port;
}

void Server::stop() {
    if (impl_->stopping.exchange(true)) {
        return;
    }
    // Closing the acceptor makes new connections be refused at once.
    asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
        boost::system::error_code ignored;
        impl->acceptor.close(ignored);
    });
}

}  // namespace hookflow::http
