#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <zlib.h>

#include <hookflow/common/log.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::connectors {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxIdlePerKey = 8;
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// Servers commonly drop idle keep-alive connections after 60 s or less; older ones are not
// worth trying.
constexpr std::chrono::seconds kMaxIdleAge{50};

struct Url {
    bool tls = false;
    std::string host;
    std::string port;
    std::string target;
};

Result<Url> parse_url(std::string_view url) {
    Url out;
    auto bad = [&](std::string_view why) {
        return make_error(Errc::network, "bad url '" + std::string(url) + "': " + std::string(why));
    };
    if (url.starts_with("https://")) {
        out.tls = true;
        url.remove_prefix(8);
    } else if (url.starts_with("http://")) {
        url.remove_prefix(7);
    } else {
        return bad("scheme must be http or https");
    }
    auto slash = url.find_first_of("/?");
    auto authority = url.substr(0, slash);
    out.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
    if (out.target.front() == '?') {
        out.target.insert(0, "/");
    }
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
        out.port = std::string(authority.substr(colon + 1));
        authority = authority.substr(0, colon);
        bool digits =
            !out.port.empty() && std::all_of(out.port.begin(), out.port.end(), [](char c) {
                return std::isdigit(static_cast<unsigned char>(c)) != 0;
            });
        if (!digits) {
            return bad("port must be a number");
        }
    } else {
        out.port = out.tls ? "443" : "80";
    }
    if (authority.size() > 2 && authority.front() == '[' && authority.back() == ']') {
        authority = authority.substr(1, authority.size() - 2);
    }
    if (authority.empty()) {
        return bad("no host");
    }
    out.host = std::string(authority);
    return out;
}

/// An error code's message in lower case, as it reads inside our sentences.
std::string describe(const error_code& ec) {
    auto text = ec.message();
    if (!text.empty()) {
        text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
    }
    return text;
}

/// Inflates a gzip body; nullopt when it is corrupt or inflates past `limit`.
std::optional<std::string> gunzip(const std::string& in, std::size_t limit) {
    z_stream zs{};
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return std::nullopt;
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    std::string out;
    char chunk[16384];
    int rc = Z_OK;
    while (rc == Z_OK) {
        zs.next_out = reinterpret_cast<Bytef*>(chunk);
        zs.avail_out = sizeof chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END) {
            break;
        }
        out.append(chunk, sizeof chunk - zs.avail_out);
        if (out.size() > limit) {
            rc = Z_MEM_ERROR;
        }
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        return std::nullopt;
    }
    return out;
}

/// One open connection, plain or TLS.
struct Connection {
    std::shared_ptr<ssl::context> tls_context;  // kept alive as long as the stream
    std::optional<beast::tcp_stream> plain;
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    beast::flat_buffer buffer;
    std::chrono::steady_clock::time_point idle_since;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

/// What one request/response exchange on a connection gave.
struct Exchange {
    error_code ec;
    bool got_response_bytes = false;
    http::response<http::string_body> response;
};

template <class Stream>
asio::awaitable<Exchange> exchange(Stream& stream,
                                   Connection& conn,
                                   const http::request<http::string_body>& request,
                                   std::chrono::steady_clock::time_point deadline,
                                   std::size_t max_bytes) {
    Exchange out;

    // Send the request.
    conn.lowest().expires_at(deadline);
    auto [write_ec, written] = co_await http::async_write(stream, request, kTuple);
    if (write_ec) {
        out.ec = write_ec;
        co_return out;
    }

    // Read the response, bounded in size.
    // Limitation: bodies are held in memory whole (up to max_response_bytes); nothing streams.
    http::response_parser<http::string_body> parser;
    parser.header_limit(kHeaderLimit);
    parser.body_limit(max_bytes);
    conn.lowest().expires_at(deadline);
    auto [read_ec, read] = co_await http::async_read(stream, conn.buffer, parser, kTuple);
    out.got_response_bytes = read > 0 || parser.got_some() || conn.buffer.size() > 0;
    out.ec = read_ec;
    if (!read_ec) {
        out.response = parser.release();
    }
    co_return out;
}

}  // namespace

struct RestClient::Impl {
    explicit Impl(asio::any_io_executor ex) : executor(std::move(ex)) {}

    asio::any_io_executor executor;
    std::atomic<std::size_t> opened{0};

    std::mutex mutex;  // guards contexts and idle
    // Declared before `idle` so that pooled streams go first on destruction.
    std::map<std::string, std::shared_ptr<ssl::context>> contexts;
    std::map<std::string, std::vector<std::unique_ptr<Connection>>> idle;

    Result<std::shared_ptr<ssl::context>> tls_context(const std::string& ca_file);
    std::unique_ptr<Connection> take_idle(const std::string& key);
    void put_idle(const std::string& key, std::unique_ptr<Connection> conn);
    asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Url& url,
                                                                 const HttpRequest& request);
    asio::awaitable<Result<tcp::resolver::results_type>> resolve(const Url& url,
                                                                 std::chrono::milliseconds limit);
    asio::awaitable<Result<void>> handshake(Connection& conn,
                                            const Url& url,
                                            std::chrono::milliseconds limit);
};

Result<std::shared_ptr<ssl::context>> RestClient::Impl::tls_context(const std::string& ca_file) {
    std::lock_guard lock(mutex);
    if (auto it = contexts.find(ca_file); it != contexts.end()) {
        return it->second;
    }
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(ssl::verify_peer);
    error_code ec;
    if (ca_file.empty()) {
        ctx->set_default_verify_paths(ec);
    } else {
        ctx->load_verify_file(ca_file, ec);
    }
    if (ec) {
        auto what = ca_file.empty() ? std::string("system CA store") : "ca_file " + ca_file;
        return make_error(Errc::network, "load " + what + ": " + describe(ec));
    }
    contexts.emplace(ca_file, ctx);
    return ctx;
}

std::unique_ptr<Connection> RestClient::Impl::take_idle(const std::string& key) {
    std::lock_guard lock(mutex);
    auto it = idle.find(key);
    if (it == idle.end()) {
        return nullptr;
    }
    auto now = std::chrono::steady_clock::now();
    while (!it->second.empty()) {
        auto conn = std::move(it->second.back());
        it->second.pop_back();
        if (now - conn->idle_since < kMaxIdleAge) {
            return conn;
        }
    }
    return nullptr;
}

void RestClient::Impl::put_idle(const std::string& key, std::unique_ptr<Connection> conn) {
    conn->idle_since = std::chrono::steady_clock::now();
    std::lock_guard lock(mutex);
    auto& list = idle[key];
    if (list.size() < kMaxIdlePerKey) {
        list.push_back(std::move(conn));
    }
}

asio::awaitable<Result<tcp::resolver::results_type>> RestClient::Impl::resolve(
    const Url& url, std::chrono::milliseconds limit) {
    // Limitation: a cancelled lookup only stops waiting; getaddrinfo keeps Asio's resolver
    // thread busy until the system gives up.
    // The resolver has no deadline of its own; a timer cancels it. Both live in shared_ptrs so
    // that a late timer handler never touches a destroyed resolver.
    auto resolver = std::make_shared<tcp::resolver>(executor);
    auto timer = std::make_shared<asio::steady_timer>(executor, limit);
    timer->async_wait([resolver](error_code ec) {
        if (!ec) {
            resolver->cancel();
        }
    });
    auto [ec, results] = co_await resolver->async_resolve(url.host, url.port, kTuple);
    timer->cancel();
    if (ec == asio::error::operation_aborted) {
        co_return make_error(
            Errc::timeout,
            "resolve " + url.host + ": no answer within " + std::to_string(limit.count()) + " ms");
    }
    if (ec) {
        co_return make_error(Errc::network, "resolve " + url.host + ": " + describe(ec));
    }
    co_return results;
}

asio::awaitable<Result<void>> RestClient::Impl::handshake(Connection& conn,
                                                          const Url& url,
                                                          std::chrono::milliseconds limit) {
    auto& stream = *conn.tls;
    stream.set_verify_callback(ssl::host_name_verification(url.host));
    // SNI: virtual hosts pick their certificate by name (RFC 6066 forbids IP literals there).
    error_code not_ip;
    asio::ip::make_address(url.host, not_ip);
    if (not_ip && !SSL_set_tlsext_host_name(stream.native_handle(), url.host.c_str())) {
        co_return make_error(Errc::network, "tls handshake with " + url.host + ": cannot set SNI");
    }
    conn.lowest().expires_after(limit);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::client, kTuple);
    if (ec == beast::error::timeout) {
        co_return make_error(Errc::timeout,
                             "tls handshake with " + url.host + ": no answer within " +
                                 std::to_string(limit.count()) + " ms");
    }
    if (ec) {
        co_return make_error(Errc::network, "tls handshake with " + url.host + ": " + describe(ec));
    }
    co_return Result<void>{};
}

asio::awaitable<Result<std::unique_ptr<Connection>>> RestClient::Impl::connect(
    const Url& url, const HttpRequest& request) {
    auto limit = std::min(request.connect_timeout, request.timeout);
    auto where = url.host + ":" + url.port;

    // Resolve the host.
    auto endpoints = co_await resolve(url, limit);
    if (!endpoints) {
        co_return endpoints.error();
    }

    // Open the TCP connection.
    auto conn = std::make_unique<Connection>();
    if (url.tls) {
        auto ctx = tls_context(request.ca_file);
        if (!ctx) {
            co_return ctx.error();
        }
        conn->tls_context = *ctx;
        conn->tls.emplace(executor, *conn->tls_context);
    } else {
        conn->plain.emplace(executor);
    }
    opened.fetch_add(1);
    conn->lowest().expires_after(limit);
    auto [ec, endpoint] = co_await conn->lowest().async_connect(*endpoints, kTuple);
    if (ec == beast::error::timeout) {
        co_return make_error(
            Errc::timeout,
            "connect to " + where + ": no answer within " + std::to_string(limit.count()) + " ms");
    }
    if (ec) {
        co_return make_error(Errc::network, "connect to " + where + ": " + describe(ec));
    }

    // Secure it.
    if (url.tls) {
        auto done = co_await handshake(*conn, url, limit);
        if (!done) {
            co_return done.error();
        }
    }
    co_return std::move(conn);
}

namespace {

http::request<http::string_body> build_request(const HttpRequest& in, const Url& url) {
    http::request<http::string_body> req;
    auto verb = http::string_to_verb(in.method);
    if (verb == http::verb::unknown) {
        req.method_string(in.method);
    } else {
        req.method(verb);
    }
    req.target(url.target);
    req.version(11);
    bool default_port = url.port == (url.tls ? "443" : "80");
    req.set(http::field::host, default_port ? url.host : url.host + ":" + url.port);
    req.set(http::field::user_agent, "hookflow/0.1");
    req.set(http::field::accept_encoding, "gzip");
    for (const auto& [name, value] : in.headers) {
        req.set(name, value);
    }
    req.body() = in.body;
    req.prepare_payload();
    return req;
}

/// Turns Beast's response into ours, inflating a gzip body.
Result<HttpResponse> to_response(http::response<http::string_body>&& res, std::size_t limit) {
    HttpResponse out;
    out.status = static_cast<int>(res.result_int());
    bool gzip = beast::iequals(res[http::field::content_encoding], "gzip");
    for (const auto& field : res) {
        auto name = field.name_string();
        if (gzip &&
            (beast::iequals(name, "content-encoding") || beast::iequals(name, "content-length"))) {
            continue;
        }
        out.headers.emplace_back(std::string(name), std::string(field.value()));
    }
    out.body = std::move(res.body());
    if (gzip) {
        auto plain = gunzip(out.body, limit);
        if (!plain) {
            return make_error(
                Errc::network,
                "gzip response body is corrupt or larger than " + std::to_string(limit) + " bytes");
        }
        out.body = std::move(*plain);
    }
    return out;
}

/// Whether a reused idle connection failed in a way that means the server had closed it.
bool stale_connection(const Exchange& ex) {
    return ex.ec && ex.ec != beast::error::timeout && ex.ec != http::error::body_limit &&
           !ex.got_response_bytes;
}

Error exchange_error(const error_code& ec, const Url& url, const HttpRequest& request) {
    if (ec == beast::error::timeout) {
        return make_error(Errc::timeout,
                          "no answer from " + url.host + " within " +
                              std::to_string(request.timeout.count()) + " ms");
    }
    if (ec == http::error::body_limit) {
        return make_error(
            Errc::network,
            "response larger than " + std::to_string(request.max_response_bytes) + " bytes");
    }
    return make_error(Errc::network,
                      "exchange with " + url.host + ":" + url.port + ": " + describe(ec));
}

}  // namespace

RestClient::RestClient(asio::any_io_executor executor)
    : impl_(std::make_shared<Impl>(std::move(executor))) {}

RestClient::~RestClient() = default;

std::size_t RestClient::connections_opened() const {
    return impl_->opened.load();
}

asio::awaitable<Result<HttpResponse>> RestClient::send(HttpRequest request) {
    auto impl = impl_;  // the pool outlives this call even if the client goes away
    auto url = parse_url(request.url);
    if (!url) {
        co_return url.error();
    }
    auto key = std::string(url->tls ? "https" : "http") + "|" + url->host + "|" + url->port + "|" +
               request.ca_file;
    auto req = build_request(request, *url);
    auto deadline = std::chrono::steady_clock::now() + request.timeout;

    // A reused connection may have been closed by the server while idle: one retry on a new one.
    // Limitation: if the server acted on the request and then closed without answering, the
    // retry sends it again; only Stripe's Idempotency-Key makes that harmless.
    // Limitation: no cap on concurrent connections per host and no HTTP(S)_PROXY support.
    for (int round = 0; round < 2; ++round) {
        auto conn = round == 0 ? impl->take_idle(key) : nullptr;
        bool reused = conn != nullptr;
        if (!conn) {
            auto fresh = co_await impl->connect(*url, request);
            if (!fresh) {
                co_return fresh.error();
            }
            conn = std::move(fresh.value());
        }

        Exchange ex;
        if (conn->tls) {
            ex = co_await exchange(*conn->tls, *conn, req, deadline, request.max_response_bytes);
        } else {
            ex = co_await exchange(*conn->plain, *conn, req, deadline, request.max_response_bytes);
        }
        if (ex.ec && reused && stale_connection(ex)) {
            spdlog::debug("idle connection closed by server, retrying {}",
                          logf::field(logf::kErr, describe(ex.ec)));
            continue;
        }
        if (ex.ec) {
            co_return exchange_error(ex.ec, *url, request);
        }
        if (ex.response.keep_alive()) {
            impl->put_idle(key, std::move(conn));
        }
        co_return to_response(std::move(ex.response), request.max_response_bytes);
    }
    co_return make_error(Errc::network, "exchange with " + url->host + ": connection closed");
}

}  // namespace hookflow::connectors
