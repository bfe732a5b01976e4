#include <array>
#include <atomic>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
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

std::string peer_of(const tcp::socket& socket) {
    boost::system::error_code ec;
    auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string("unknown") : endpoint.address().to_string();
}

}  // namespace

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
    std::atomic<bool> stopping{false};
    std::uint16_t bound_port = 0;

    asio::awaitable<void> accept_loop();
    asio::awaitable<void> run_session(tcp::socket socket);
    asio::awaitable<bool> serve_one(beast::tcp_stream& stream,
                                    beast::flat_buffer& buffer,
                                    const std::string& peer,
                                    bool first);
    asio::awaitable<void> refuse(beast::tcp_stream& stream,
                                 const Error& error,
                                 unsigned version,
                                 std::string_view target);
};

asio::awaitable<void> Server::Impl::accept_loop() {
    auto self = shared_from_this();
    while (!stopping) {
        auto [ec, socket] = co_await acceptor.async_accept(kTuple);
        if (ec) {
            if (stopping || ec == asio::error::operation_aborted) {
                break;
            }
            spdlog::warn("accept failed {}", logf::field(logf::kErr, ec.message()));
            continue;
        }
        auto strand = asio::make_strand(executor);
        asio::co_spawn(strand, run_session(std::move(socket)), asio::detached);
    }
}

asio::awaitable<void> Server::Impl::run_session(tcp::socket socket) {
    auto self = shared_from_this();
    auto peer = peer_of(socket);
    beast::tcp_stream stream(std::move(socket));
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
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
}

asio::awaitable<void> Server::Impl::refuse(beast::tcp_stream& stream,
                                           const Error& error,
                                           unsigned version,
                                           std::string_view target) {
    if (options.on_refused) {
        options.on_refused(target, error);
    }
    // Answer, stop sending, then drain what the client still sends so it reads our answer.
    auto res = error_response(error, version, false);
    stream.expires_after(options.header_timeout);
    co_await beast_http::async_write(stream, res, kTuple);
    boost::system::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream.expires_after(kLingerTime);
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
asio::awaitable<bool> Server::Impl::serve_one(beast::tcp_stream& stream,
                                              beast::flat_buffer& buffer,
                                              const std::string& peer,
                                              bool first) {
    beast_http::request_parser<beast_http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(options.max_body_bytes);

    // Wait for a request header: a new connection gets the header deadline, a kept-alive
    // one the idle deadline.
    stream.expires_after(first ? options.header_timeout : options.idle_timeout);
    auto [ec, n] = co_await beast_http::async_read_header(stream, buffer, parser, kTuple);
    auto target = std::string(parser.get().target());
    if (ec == beast_http::error::body_limit) {
        co_await refuse(stream, make_error(Errc::payload_too_large, "body too large"), 11, target);
        co_return false;
    }
    if (ec) {
        if (ec != beast_http::error::end_of_stream && ec != beast::error::timeout &&
            ec != asio::error::connection_reset && ec != asio::error::eof) {
            co_await refuse(stream, make_error(Errc::bad_request, "malformed request"), 11, target);
        }
        co_return false;
    }
    unsigned version = parser.get().version();

    // Tell a client that waits for it (curl with large bodies) to send the body.
    if (beast::iequals(parser.get()[beast_http::field::expect], "100-continue")) {
        beast_http::response<beast_http::empty_body> cont{beast_http::status::continue_, version};
        co_await beast_http::async_write(stream, cont, kTuple);
    }

    // Read the body under its own deadline; a body over the limit is refused as it arrives.
    stream.expires_after(options.body_timeout);
    std::tie(ec, n) = co_await beast_http::async_read(stream, buffer, parser, kTuple);
    if (ec == beast_http::error::body_limit) {
        co_await refuse(
            stream, make_error(Errc::payload_too_large, "body too large"), version, target);
        co_return false;
    }
    if (ec) {
        co_return false;
    }

    // Hand the request to the application and write its answer.
    // Limitation: HEAD gets the GET body; a client pipelining HEAD may misread the next answer.
    auto started = SystemClock::instance().now_ms();
    Exchange exchange{parser.get(), peer, new_id("req", started)};
    stream.expires_never();
    Response res = co_await handler(exchange);
    bool keep_alive = parser.get().keep_alive() && res.keep_alive() && !stopping;
    res.keep_alive(keep_alive);
    res.prepare_payload();
    stream.expires_after(options.header_timeout);
    auto [write_ec, written] = co_await beast_http::async_write(stream, res, kTuple);
    spdlog::debug("request handled {} {} {} {} {} {}",
                  logf::field(logf::kRequest, exchange.request_id),
                  logf::field("method", std::string(parser.get().method_string())),
                  logf::field("path", std::string(parser.get().target())),
                  logf::field(logf::kHttpStatus, res.result_int()),
                  logf::field("bytes", static_cast<long long>(written)),
                  logf::field(logf::kElapsedMs, SystemClock::instance().now_ms() - started));
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
