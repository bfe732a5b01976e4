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
#include <hookflow/common/metrics.hpp>
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
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// A waiter re-checks the pool at least this often (a wake-up lost between threads costs this).
constexpr std::chrono::milliseconds kWaitSlice{100};
// Interim `1xx` answers skipped before the final one; more means a broken or hostile server.
constexpr int kMaxInterimAnswers = 8;

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
    std::chrono::steady_clock::time_point idle_until;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
};

/// What one request/response exchange on a connection gave.
struct Exchange {
    error_code ec;
    std::string protocol_error;  // an answer that parsed but cannot be used; closes the connection
    bool got_response_bytes = false;
    http::response<http::string_body> response;
};

/// Why an interim answer ends the exchange: 101 (hookflow never asks to switch protocols) or
/// one interim answer too many; empty when it is skipped.
std::string interim_problem(unsigned status, int seen) {
    if (status == 101) {
        return "answered 101 Switching Protocols to a plain request";
    }
    if (seen >= kMaxInterimAnswers) {
        return "sent more than " + std::to_string(kMaxInterimAnswers) + " interim 1xx answers";
    }
    return {};
}

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

    // Read the answer, bounded in size, skipping interim 1xx answers (100 Continue, 103 Early
    // Hints): taking one as final would leave the real answer unread on the connection.
    // Limitation: bodies are held in memory whole (up to max_response_bytes); nothing streams.
    for (int interim = 0;; ++interim) {
        http::response_parser<http::string_body> parser;
        parser.header_limit(kHeaderLimit);
        parser.body_limit(max_bytes);
        conn.lowest().expires_at(deadline);
        auto [read_ec, read] = co_await http::async_read(stream, conn.buffer, parser, kTuple);
        out.got_response_bytes =
            out.got_response_bytes || read > 0 || parser.got_some() || conn.buffer.size() > 0;
        out.ec = read_ec;
        if (read_ec) {
            co_return out;
        }
        auto status = parser.get().result_int();
        if (status >= 200 || status < 100) {
            out.response = parser.release();
            co_return out;
        }
        out.protocol_error = interim_problem(status, interim);
        if (!out.protocol_error.empty()) {
            co_return out;
        }
    }
}

}  // namespace

/// One pool key's connections: those idle, how many are open in all, who waits for one.
struct HostPool {
    std::vector<std::unique_ptr<Connection>> idle;
    std::size_t open = 0;  // idle + in use
    std::vector<std::shared_ptr<asio::steady_timer>> waiters;
};

/// What a request got from the pool: an idle connection, or the right to open one.
struct Slot {
    std::unique_ptr<Connection> conn;  // null: open a new one (already counted as open)
    bool granted = false;              // false: the deadline passed while waiting
};

/// One try of a request: the answer or error, and whether a pooled connection proved stale.
struct Attempt {
    Result<HttpResponse> response = make_error(Errc::network, "not sent");
    bool stale = false;
    std::string stale_reason;
};

struct RestClient::Impl {
    explicit Impl(asio::any_io_executor ex) : executor(std::move(ex)) {}

    asio::any_io_executor executor;
    std::atomic<std::size_t> opened{0};

    std::mutex mutex;  // guards contexts and pools
    // Declared before `pools` so that pooled streams go first on destruction.
    std::map<std::string, std::shared_ptr<ssl::context>> contexts;
    std::map<std::string, HostPool> pools;

    Result<std::shared_ptr<ssl::context>> tls_context(const std::string& ca_file);
    asio::awaitable<Slot> acquire(const std::string& key,
                                  std::size_t max_connections,
                                  std::chrono::steady_clock::time_point deadline);
    std::optional<Slot> try_take(const std::string& key, std::size_t max_connections);
    void put_idle(const std::string& key,
                  std::unique_ptr<Connection> conn,
                  std::chrono::milliseconds idle_timeout);
    void release(const std::string& key);
    asio::awaitable<Attempt> attempt(const std::string& key,
                                     const Url& url,
                                     const http::request<http::string_body>& req,
                                     const HttpRequest& request,
                                     std::unique_ptr<Connection> conn,
                                     std::chrono::steady_clock::time_point deadline);
    void wake_one(HostPool& pool);
    void sweep();
    asio::awaitable<Result<std::unique_ptr<Connection>>> connect(const Url& url,
                                                                 const HttpRequest& request);
    asio::awaitable<Result<void>> open_tunnel(Connection& conn,
                                              const Url& url,
                                              const ProxyUrl& proxy,
                                              std::chrono::milliseconds limit);
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

std::optional<Slot> RestClient::Impl::try_take(const std::string& key,
                                               std::size_t max_connections) {
    sweep();
    std::lock_guard lock(mutex);
    auto& pool = pools[key];
    auto now = std::chrono::steady_clock::now();
    while (!pool.idle.empty()) {
        auto conn = std::move(pool.idle.back());
        pool.idle.pop_back();
        if (now < conn->idle_until) {
            return Slot{std::move(conn), true};
        }
        --pool.open;  // expired: closed as it goes out of scope
    }
    if (pool.open < std::max<std::size_t>(max_connections, 1)) {
        ++pool.open;
        return Slot{nullptr, true};
    }
    return std::nullopt;
}

asio::awaitable<Slot> RestClient::Impl::acquire(const std::string& key,
                                                std::size_t max_connections,
                                                std::chrono::steady_clock::time_point deadline) {
    for (;;) {
        if (auto slot = try_take(key, max_connections)) {
            co_return std::move(*slot);
        }
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline) {
            co_return Slot{};
        }
        // Waiting for a free connection: release() cancels this timer to wake us.
        auto timer = std::make_shared<asio::steady_timer>(executor);
        timer->expires_at(std::min(deadline, now + kWaitSlice));
        {
            std::lock_guard lock(mutex);
            pools[key].waiters.push_back(timer);
        }
        co_await timer->async_wait(kTuple);
        std::lock_guard lock(mutex);
        auto& waiters = pools[key].waiters;
        waiters.erase(std::remove(waiters.begin(), waiters.end(), timer), waiters.end());
    }
}

void RestClient::Impl::wake_one(HostPool& pool) {
    if (!pool.waiters.empty()) {
        pool.waiters.front()->cancel();
        pool.waiters.erase(pool.waiters.begin());
    }
}

void RestClient::Impl::release(const std::string& key) {
    std::lock_guard lock(mutex);
    auto& pool = pools[key];
    if (pool.open > 0) {
        --pool.open;
    }
    wake_one(pool);
}

void RestClient::Impl::put_idle(const std::string& key,
                                std::unique_ptr<Connection> conn,
                                std::chrono::milliseconds idle_timeout) {
    conn->idle_until = std::chrono::steady_clock::now() + idle_timeout;
    std::lock_guard lock(mutex);
    auto& pool = pools[key];
    pool.idle.push_back(std::move(conn));
    wake_one(pool);
}

// Closes idle connections past their idle time, so that servers do not see them linger.
// Limitation: this runs when the client is next used, not on a timer: a timer would keep a
// one-shot command's io_context running until the last connection expired.
void RestClient::Impl::sweep() {
    std::vector<std::unique_ptr<Connection>> expired;  // closed after the lock is released
    std::lock_guard lock(mutex);
    auto now = std::chrono::steady_clock::now();
    for (auto& [key, pool] : pools) {
        auto keep = std::stable_partition(
            pool.idle.begin(), pool.idle.end(), [&](const auto& c) { return now < c->idle_until; });
        for (auto it = keep; it != pool.idle.end(); ++it) {
            expired.push_back(std::move(*it));
            --pool.open;
            wake_one(pool);
        }
        pool.idle.erase(keep, pool.idle.end());
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

asio::awaitable<Result<void>> RestClient::Impl::open_tunnel(Connection& conn,
                                                            const Url& url,
                                                            const ProxyUrl& proxy,
                                                            std::chrono::milliseconds limit) {
    auto target = url.host.find(':') == std::string::npos ? url.host : "[" + url.host + "]";
    target += ":" + url.port;
    http::request<http::empty_body> req{http::verb::connect, target, 11};
    req.set(http::field::host, target);
    req.set(http::field::user_agent, "hookflow/0.1");
    if (!proxy.authorization.empty()) {
        req.set(http::field::proxy_authorization, proxy.authorization);
    }
    auto where = "proxy " + proxy.host + ":" + proxy.port;
    auto& stream = conn.lowest();
    stream.expires_after(limit);
    auto [write_ec, written] = co_await http::async_write(stream, req, kTuple);
    if (write_ec) {
        co_return make_error(Errc::network,
                             where + ": CONNECT " + target + ": " + describe(write_ec));
    }
    // A 2xx answer to CONNECT has no body whatever its headers say.
    http::response_parser<http::empty_body> parser;
    parser.skip(true);
    beast::flat_buffer buffer;
    auto [read_ec, read] = co_await http::async_read_header(stream, buffer, parser, kTuple);
    if (read_ec == beast::error::timeout) {
        co_return make_error(Errc::timeout,
                             where + ": no answer to CONNECT " + target + " within " +
                                 std::to_string(limit.count()) + " ms");
    }
    if (read_ec) {
        co_return make_error(Errc::network,
                             where + ": CONNECT " + target + ": " + describe(read_ec));
    }
    auto status = parser.get().result_int();
    if (status < 200 || status >= 300) {
        co_return make_error(Errc::network,
                             where + " refused CONNECT " + target + ": " + std::to_string(status) +
                                 " " + std::string(parser.get().reason()));
    }
    if (buffer.size() > 0) {
        co_return make_error(Errc::network, where + ": sent data before the tunnel was used");
    }
    co_return Result<void>{};
}

asio::awaitable<Result<std::unique_ptr<Connection>>> RestClient::Impl::connect(
    const Url& url, const HttpRequest& request) {
    auto limit = std::min(request.connect_timeout, request.timeout);

    // Through a proxy, the TCP connection goes to the proxy instead of the target.
    std::optional<ProxyUrl> proxy;
    if (!request.proxy.empty()) {
        auto parsed = parse_proxy_url(request.proxy);
        if (!parsed) {
            co_return make_error(Errc::network, parsed.error().log_text);
        }
        proxy = std::move(*parsed);
    }
    Url peer = proxy ? Url{false, proxy->host, proxy->port, "/"} : url;
    auto where = (proxy ? "proxy " : "") + peer.host + ":" + peer.port;

    // Resolve the host.
    auto endpoints = co_await resolve(peer, limit);
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
    metrics::record_connection_opened(url.host);

    // Secure it: TLS runs inside the proxy's tunnel, checked against the target's name.
    if (url.tls) {
        if (proxy) {
            auto tunnel = co_await open_tunnel(*conn, url, *proxy, limit);
            if (!tunnel) {
                co_return tunnel.error();
            }
        }
        auto done = co_await handshake(*conn, url, limit);
        if (!done) {
            co_return done.error();
        }
    }
    co_return std::move(conn);
}

namespace {

http::request<http::string_body> build_request(const HttpRequest& in,
                                               const Url& url,
                                               const std::optional<ProxyUrl>& proxy) {
    http::request<http::string_body> req;
    auto verb = http::string_to_verb(in.method);
    if (verb == http::verb::unknown) {
        req.method_string(in.method);
    } else {
        req.method(verb);
    }
    bool default_port = url.port == (url.tls ? "443" : "80");
    auto host = url.host.find(':') == std::string::npos ? url.host : "[" + url.host + "]";
    auto authority = default_port ? host : host + ":" + url.port;
    // Plain http through a proxy names the whole URL (absolute form); https tunnels instead.
    bool absolute = proxy && !url.tls;
    req.target(absolute ? "http://" + authority + url.target : url.target);
    req.version(11);
    req.set(http::field::host, authority);
    req.set(http::field::user_agent, "hookflow/0.1");
    req.set(http::field::accept_encoding, "gzip");
    for (const auto& [name, value] : in.headers) {
        req.set(name, value);
    }
    if (absolute && !proxy->authorization.empty()) {
        req.set(http::field::proxy_authorization, proxy->authorization);
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

asio::awaitable<Attempt> RestClient::Impl::attempt(const std::string& key,
                                                   const Url& url,
                                                   const http::request<http::string_body>& req,
                                                   const HttpRequest& request,
                                                   std::unique_ptr<Connection> conn,
                                                   std::chrono::steady_clock::time_point deadline) {
    Attempt out;
    if (!conn) {
        auto fresh = co_await connect(url, request);
        if (!fresh) {
            release(key);
            out.response = fresh.error();
            co_return out;
        }
        conn = std::move(fresh.value());
    }
    Exchange ex;
    if (conn->tls) {
        ex = co_await exchange(*conn->tls, *conn, req, deadline, request.max_response_bytes);
    } else {
        ex = co_await exchange(*conn->plain, *conn, req, deadline, request.max_response_bytes);
    }
    if (ex.ec || !ex.protocol_error.empty()) {
        // A connection that failed is closed, never pooled.
        conn.reset();
        release(key);
        out.stale = ex.protocol_error.empty() && stale_connection(ex);
        out.stale_reason = ex.ec ? describe(ex.ec) : ex.protocol_error;
        out.response =
            ex.ec ? exchange_error(ex.ec, url, request)
                  : make_error(Errc::network, url.host + ":" + url.port + " " + ex.protocol_error);
        co_return out;
    }
    // Bytes past the answer would be read as the next request's answer: pool only a clean
    // connection.
    if (ex.response.keep_alive() && conn->buffer.size() == 0) {
        put_idle(key, std::move(conn), request.idle_timeout);
    } else {
        conn.reset();
        release(key);
    }
    out.response = to_response(std::move(ex.response), request.max_response_bytes);
    co_return out;
}

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
    std::optional<ProxyUrl> proxy;
    if (!request.proxy.empty()) {
        auto parsed = parse_proxy_url(request.proxy);
        if (!parsed) {
            co_return make_error(Errc::network, parsed.error().log_text);
        }
        proxy = std::move(*parsed);
    }
    auto key = std::string(url->tls ? "https" : "http") + "|" + url->host + "|" + url->port + "|" +
               request.ca_file + "|" + request.proxy;
    auto req = build_request(request, *url, proxy);
    auto deadline = std::chrono::steady_clock::now() + request.timeout;

    // A reused connection may have been closed by the server while idle: one retry on a new one,
    // only when nothing of an answer came (the write failed or EOF before any byte).
    // Limitation: if the server acted on the request and then closed without answering, the
    // retry sends it again; only Stripe's Idempotency-Key makes that harmless.
    for (int round = 0; round < 2; ++round) {
        auto slot = co_await impl->acquire(key, request.max_connections, deadline);
        if (!slot.granted) {
            co_return make_error(Errc::timeout,
                                 "no free connection to " + url->host + ":" + url->port +
                                     " within " + std::to_string(request.timeout.count()) +
                                     " ms (max_connections " +
                                     std::to_string(request.max_connections) + ")");
        }
        auto conn = std::move(slot.conn);
        bool reused = conn != nullptr;
        if (round > 0 && reused) {
            // The retry must not land on another pooled connection that may be stale too.
            conn.reset();
            reused = false;
        }
        auto result = co_await impl->attempt(key, *url, req, request, std::move(conn), deadline);
        if (result.stale && reused) {
            spdlog::debug("idle connection closed by server, retrying {}",
                          logf::field(logf::kErr, result.stale_reason));
            continue;
        }
        co_return std::move(result.response);
    }
    co_return make_error(Errc::network, "exchange with " + url->host + ": connection closed");
}

}  // namespace hookflow::connectors
