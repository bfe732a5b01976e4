#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#include <hookflow/common/headers.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using hookflow::Errc;
using hookflow::connectors::HttpRequest;
using hookflow::connectors::HttpResponse;
using hookflow::connectors::RestClient;
using hookflow::connectors::StepCall;
using hookflow::connectors::StepResult;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

/// What the mock answers to one request.
struct Canned {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    bool announce_close = false;  // `Connection: close`, then close
    bool drop_after = false;      // close silently after answering
    bool silent = false;          // never answer
};

/// A loopback HTTP/1.1 server on its own thread that answers with canned responses and
/// records every raw request.
class MockServer {
  public:
    using Handler = std::function<Canned(const std::string& raw)>;

    explicit MockServer(Handler handler)
        : handler_(std::move(handler)), acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~MockServer() {
        ioc_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::size_t accepted() const { return accepted_.load(); }
    std::vector<std::string> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }

  private:
    asio::awaitable<void> accept_loop() {
        for (int i = 0; i < 1000; ++i) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) {
                co_return;
            }
            accepted_.fetch_add(1);
            asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
        }
    }

    static std::size_t content_length(const std::string& head) {
        auto lower = head;
        for (auto& c : lower) {
            c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        auto pos = lower.find("\r\ncontent-length:");
        return pos == std::string::npos ? 0 : std::stoul(lower.substr(pos + 17));
    }

    static std::string render(const Canned& canned) {
        auto out = "HTTP/1.1 " + std::to_string(canned.status) + " Canned\r\n";
        for (const auto& [name, value] : canned.headers) {
            out += name + ": " + value + "\r\n";
        }
        out += "Content-Length: " + std::to_string(canned.body.size()) + "\r\n";
        if (canned.announce_close) {
            out += "Connection: close\r\n";
        }
        return out + "\r\n" + canned.body;
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        std::string buffer;
        for (int i = 0; i < 100; ++i) {
            auto [ec, head_end] = co_await asio::async_read_until(
                socket, asio::dynamic_buffer(buffer), "\r\n\r\n", kTuple);
            if (ec) {
                co_return;
            }
            auto total = head_end + content_length(buffer.substr(0, head_end));
            if (buffer.size() < total) {
                auto [body_ec, n] =
                    co_await asio::async_read(socket,
                                              asio::dynamic_buffer(buffer),
                                              asio::transfer_exactly(total - buffer.size()),
                                              kTuple);
                if (body_ec) {
                    co_return;
                }
            }
            auto raw = buffer.substr(0, total);
            buffer.erase(0, total);
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(raw);
            }
            auto canned = handler_(raw);
            if (canned.silent) {
                asio::steady_timer wait(ioc_, std::chrono::seconds(30));
                co_await wait.async_wait(kTuple);
                co_return;
            }
            auto [write_ec, written] =
                co_await asio::async_write(socket, asio::buffer(render(canned)), kTuple);
            if (write_ec || canned.announce_close || canned.drop_after) {
                co_return;
            }
        }
    }

    Handler handler_;
    asio::io_context ioc_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<std::size_t> accepted_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> requests_;
};

/// Runs one awaitable to completion on `ioc`.
template <class T>
T run(asio::io_context& ioc, asio::awaitable<T> task) {
    std::optional<T> out;
    asio::co_spawn(
        ioc,
        [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(task)); },
        asio::detached);
    ioc.restart();
    ioc.run();
    return std::move(*out);
}

std::string header_of(const std::string& raw, std::string_view name) {
    auto head = raw.substr(0, raw.find("\r\n\r\n"));
    std::size_t pos = head.find("\r\n");
    while (pos != std::string::npos) {
        auto end = head.find("\r\n", pos + 2);
        auto line =
            head.substr(pos + 2, end == std::string::npos ? std::string::npos : end - pos - 2);
        auto colon = line.find(':');
        if (colon != std::string::npos && hookflow::iequals(line.substr(0, colon), name)) {
            return line.substr(colon + 2);
        }
        pos = end;
    }
    return {};
}

std::string body_of(const std::string& raw) {
    return raw.substr(raw.find("\r\n\r\n") + 4);
}

std::string request_line(const std::string& raw) {
    return raw.substr(0, raw.find("\r\n"));
}

std::string gzip(const std::string& text) {
    z_stream zs{};
    deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    std::string out(deflateBound(&zs, static_cast<uLong>(text.size())) + 32, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    zs.avail_in = static_cast<uInt>(text.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    deflate(&zs, Z_FINISH);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    return out;
}

Canned json_answer(int status, std::string body) {
    Canned canned;
    canned.status = status;
    canned.headers = {{"Content-Type", "application/json"}};
    canned.body = std::move(body);
    return canned;
}

HttpRequest get(const MockServer& server, const std::string& target) {
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(server.port()) + target;
    return request;
}

TEST(RestClient, Get_ExactRequestBytesAndResponse) {
    MockServer server([](const std::string&) { return json_answer(200, R"({"id":"x"})"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto request = get(server, "/v1/things?limit=3");
    request.headers = {{"X-Test", "yes"}};

    auto response = run(ioc, client.send(request));

    ASSERT_TRUE(response.ok()) << response.error().log_text;
    EXPECT_EQ(response->status, 200);
    EXPECT_EQ(response->body, R"({"id":"x"})");
    EXPECT_EQ(hookflow::find_header(response->headers, "content-type"), "application/json");
    auto host = "127.0.0.1:" + std::to_string(server.port());
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(server.requests()[0],
              "GET /v1/things?limit=3 HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: hookflow/0.1\r\nAccept-Encoding: gzip\r\nX-Test: yes\r\n\r\n");
}

TEST(RestClient, Post_ExactRequestBytesWithContentLength) {
    MockServer server([](const std::string&) { return json_answer(201, "{}"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto request = get(server, "/submit");
    request.method = "POST";
    request.headers = {{"Content-Type", "application/json"}};
    request.body = R"({"a":"hello"})";

    auto response = run(ioc, client.send(request));

    ASSERT_TRUE(response.ok()) << response.error().log_text;
    EXPECT_EQ(response->status, 201);
    auto host = "127.0.0.1:" + std::to_string(server.port());
    ASSERT_EQ(server.requests().size(), 1u);
    EXPECT_EQ(server.requests()[0],
              "POST /submit HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: hookflow/0.1\r\nAccept-Encoding: gzip\r\nContent-Type: "
                  "application/json\r\nContent-Length: 13\r\n\r\n{\"a\":\"hello\"}");
}

TEST(RestClient, SequentialCalls_ReuseOneConnection) {
    MockServer server([](const std::string&) { return json_answer(200, "{}"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    for (int i = 0; i < 4; ++i) {
        auto response = run(ioc, client.send(get(server, "/ping")));
        ASSERT_TRUE(response.ok()) << response.error().log_text;
        EXPECT_EQ(response->status, 200);
    }

    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_EQ(client.connections_opened(), 1u);
    EXPECT_EQ(server.requests().size(), 4u);
}

TEST(RestClient, ServerClosesAfterEachResponse_EachCallSucceeds) {
    MockServer server([](const std::string&) {
        auto canned = json_answer(200, R"({"n":1})");
        canned.announce_close = true;
        return canned;
    });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    for (int i = 0; i < 3; ++i) {
        auto response = run(ioc, client.send(get(server, "/close")));
        ASSERT_TRUE(response.ok()) << response.error().log_text;
        EXPECT_EQ(response->body, R"({"n":1})");
    }

    EXPECT_EQ(server.accepted(), 3u);
    EXPECT_EQ(client.connections_opened(), 3u);
}

TEST(RestClient, IdleConnectionDroppedSilently_RetriedOnFreshConnection) {
    MockServer server([](const std::string&) {
        auto canned = json_answer(200, "{}");
        canned.drop_after = true;
        return canned;
    });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    auto first = run(ioc, client.send(get(server, "/a")));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the server's close land
    auto second = run(ioc, client.send(get(server, "/b")));

    ASSERT_TRUE(first.ok()) << first.error().log_text;
    ASSERT_TRUE(second.ok()) << second.error().log_text;
    EXPECT_EQ(second->status, 200);
    EXPECT_EQ(server.accepted(), 2u);
    EXPECT_EQ(client.connections_opened(), 2u);
}

TEST(RestClient, ServerNeverAnswers_Timeout) {
    MockServer server([](const std::string&) {
        Canned canned;
        canned.silent = true;
        return canned;
    });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto request = get(server, "/slow");
    request.timeout = std::chrono::milliseconds(200);

    auto started = std::chrono::steady_clock::now();
    auto response = run(ioc, client.send(request));
    auto elapsed = std::chrono::steady_clock::now() - started;

    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, Errc::timeout);
    EXPECT_EQ(response.error().log_text, "no answer from 127.0.0.1 within 200 ms");
    EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST(RestClient, ResponseOverSizeCap_Error) {
    MockServer server([](const std::string&) { return json_answer(200, std::string(2000, 'x')); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto request = get(server, "/big");
    request.max_response_bytes = 1000;

    auto response = run(ioc, client.send(request));

    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, Errc::network);
    EXPECT_EQ(response.error().log_text, "response larger than 1000 bytes");
}

TEST(RestClient, GzipBody_Decoded) {
    const std::string plain = R"({"message":"hello hello hello hello"})";
    MockServer server([&](const std::string&) {
        auto canned = json_answer(200, gzip(plain));
        canned.headers.emplace_back("Content-Encoding", "gzip");
        return canned;
    });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    auto response = run(ioc, client.send(get(server, "/gz")));

    ASSERT_TRUE(response.ok()) << response.error().log_text;
    EXPECT_EQ(response->body, plain);
    EXPECT_FALSE(hookflow::find_header(response->headers, "content-encoding").has_value());
    EXPECT_EQ(header_of(server.requests().at(0), "accept-encoding"), "gzip");
}

TEST(RestClient, ConnectionRefused_NetworkErrorNamesTarget) {
    std::uint16_t port = 0;
    {
        asio::io_context probe;
        tcp::acceptor acceptor(probe, {asio::ip::make_address("127.0.0.1"), 0});
        port = acceptor.local_endpoint().port();
    }
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    HttpRequest request;
    request.url = "http://127.0.0.1:" + std::to_string(port) + "/";

    auto response = run(ioc, client.send(request));

    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, Errc::network);
    EXPECT_EQ(response.error().log_text,
              "connect to 127.0.0.1:" + std::to_string(port) + ": connection refused");
}

TEST(RestClient, UnknownScheme_NetworkError) {
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    HttpRequest request;
    request.url = "ftp://127.0.0.1/x";

    auto response = run(ioc, client.send(request));

    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, Errc::network);
    EXPECT_EQ(client.connections_opened(), 0u);
}

// ---- TLS ----

struct TestCert {
    std::string cert_pem;
    std::string key_pem;
};

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    auto size = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(size));
    BIO_free(bio);
    return out;
}

/// A self-signed certificate for IP 127.0.0.1, valid for an hour.
TestCert make_cert() {
    EVP_PKEY* key = EVP_EC_gen("P-256");
    X509* cert = X509_new();
    X509_set_version(cert, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert), -60);
    X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
    X509_set_pubkey(cert, key);
    X509_NAME* name = X509_get_subject_name(cert);
    X509_NAME_add_entry_by_txt(name,
                               "CN",
                               MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("hookflow test"),
                               -1,
                               -1,
                               0);
    X509_set_issuer_name(cert, name);
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* san = X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1");
    X509_add_ext(cert, san, -1);
    X509_EXTENSION_free(san);
    X509_sign(cert, key, EVP_sha256());

    BIO* cert_bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cert_bio, cert);
    BIO* key_bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(key_bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    X509_free(cert);
    EVP_PKEY_free(key);
    return {bio_text(cert_bio), bio_text(key_bio)};
}

/// A loopback HTTPS server answering every request with 200 "secure".
class TlsServer {
  public:
    explicit TlsServer(const TestCert& cert)
        : ctx_(asio::ssl::context::tls_server),
          acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
        ctx_.use_certificate_chain(asio::buffer(cert.cert_pem));
        ctx_.use_private_key(asio::buffer(cert.key_pem), asio::ssl::context::pem);
        asio::co_spawn(ioc_, accept_loop(), asio::detached);
        thread_ = std::thread([this] { ioc_.run(); });
    }

    ~TlsServer() {
        ioc_.stop();
        thread_.join();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::size_t accepted() const { return accepted_.load(); }

  private:
    asio::awaitable<void> accept_loop() {
        for (int i = 0; i < 100; ++i) {
            auto [ec, socket] = co_await acceptor_.async_accept(kTuple);
            if (ec) {
                co_return;
            }
            accepted_.fetch_add(1);
            asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
        }
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        namespace http = boost::beast::http;
        boost::beast::ssl_stream<boost::beast::tcp_stream> stream(std::move(socket), ctx_);
        auto [hs_ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kTuple);
        if (hs_ec) {
            co_return;
        }
        boost::beast::flat_buffer buffer;
        for (int i = 0; i < 100; ++i) {
            http::request<http::string_body> request;
            auto [read_ec, n] = co_await http::async_read(stream, buffer, request, kTuple);
            if (read_ec) {
                co_return;
            }
            http::response<http::string_body> response{http::status::ok, 11};
            response.body() = "secure";
            response.prepare_payload();
            auto [write_ec, w] = co_await http::async_write(stream, response, kTuple);
            if (write_ec) {
                co_return;
            }
        }
    }

    asio::io_context ioc_;
    asio::ssl::context ctx_;
    tcp::acceptor acceptor_;
    std::thread thread_;
    std::atomic<std::size_t> accepted_{0};
};

/// A fresh temp dir holding the certificate as a PEM file.
std::string write_ca_file(const TestCert& cert) {
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "hookflow-tls-XXXXXX").string();
    auto* dir = mkdtemp(dir_template.data());
    EXPECT_NE(dir, nullptr);
    auto path = std::string(dir) + "/ca.pem";
    std::ofstream(path) << cert.cert_pem;
    return path;
}

TEST(RestClient, HttpsWithCaFile_VerifiedAndReused) {
    auto cert = make_cert();
    TlsServer server(cert);
    auto ca_file = write_ca_file(cert);
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    HttpRequest request;
    request.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/secure";
    request.ca_file = ca_file;

    auto first = run(ioc, client.send(request));
    auto second = run(ioc, client.send(request));

    ASSERT_TRUE(first.ok()) << first.error().log_text;
    ASSERT_TRUE(second.ok()) << second.error().log_text;
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(second->body, "secure");
    EXPECT_EQ(server.accepted(), 1u);
    std::filesystem::remove_all(std::filesystem::path(ca_file).parent_path());
}

TEST(RestClient, HttpsUntrustedCertificate_VerifyFailed) {
    auto cert = make_cert();
    TlsServer server(cert);
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    HttpRequest request;
    request.url = "https://127.0.0.1:" + std::to_string(server.port()) + "/secure";

    auto response = run(ioc, client.send(request));

    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.error().code, Errc::network);
    EXPECT_TRUE(response.error().log_text.starts_with(
        "tls handshake with 127.0.0.1: certificate verify failed"))
        << response.error().log_text;
}

// ---- connectors against the same kind of mock ----

nlohmann::json fixture(const std::string& name) {
    std::ifstream in(std::string(HOOKFLOW_FIXTURES) + "/api/" + name);
    return nlohmann::json::parse(in);
}

Canned from_fixture(const std::string& name) {
    auto response = fixture(name).at("response");
    Canned canned;
    canned.status = response.at("status").get<int>();
    for (const auto& [key, value] : response.at("headers").items()) {
        if (!hookflow::iequals(key, "content-length")) {
            canned.headers.emplace_back(key, value.get<std::string>());
        }
    }
    const auto& body = response.at("body");
    canned.body = body.is_null() ? "" : body.is_string() ? body.get<std::string>() : body.dump();
    return canned;
}

hookflow::config::ConnectorConfig block(const std::string& name,
                                        const std::string& base_url,
                                        std::map<std::string, hookflow::config::Setting> settings) {
    hookflow::config::ConnectorConfig config;
    config.name = name;
    config.base_url = base_url;
    config.settings = std::move(settings);
    return config;
}

/// One mock that routes on the first path segment to a fixture, and a registry aimed at it.
class ConnectorFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        server_ = std::make_unique<MockServer>([this](const std::string& raw) {
            auto target = request_line(raw).substr(request_line(raw).find(' ') + 1);
            for (const auto& [prefix, file] : routes_) {
                if (target.starts_with(prefix)) {
                    return from_fixture(file);
                }
            }
            return json_answer(404, R"({"error":"no route"})");
        });
        auto base = "http://127.0.0.1:" + std::to_string(server_->port());
        hookflow::config::Config config;
        config.connectors["stripe"] =
            block("stripe", base + "/stripe", {{"api_key", {"sk_test_PLACEHOLDER", ""}}});
        config.connectors["slack"] =
            block("slack", base + "/slack/", {{"token", {"xoxb-PLACEHOLDER", ""}}});
        config.connectors["sendgrid"] =
            block("sendgrid", base + "/sendgrid", {{"api_key", {"SG.PLACEHOLDER", ""}}});
        config.connectors["llm"] =
            block("llm",
                  base + "/llm/v1",
                  {{"api_key", {"sk-PLACEHOLDER", ""}}, {"model", {"gpt-5.4", ""}}});
        config.connectors["crm"] = block("crm", base + "/crm", {{"token", {"", "CRM_TOKEN"}}});
        auto built = hookflow::connectors::Registry::build(config, client_);
        ASSERT_TRUE(built.ok()) << built.error().log_text;
        registry_ = std::move(built.value());
    }

    StepResult call(const std::string& connector, const std::string& action, nlohmann::json with) {
        StepCall step;
        step.run_id = "run_1";
        step.step_id = "step_a";
        step.action = action;
        step.with = std::move(with);
        auto* target = registry_->find(connector);
        EXPECT_NE(target, nullptr);
        return run(ioc_, target->call(step));
    }

    std::vector<std::pair<std::string, std::string>> routes_;
    asio::io_context ioc_;
    RestClient client_{ioc_.get_executor()};
    std::unique_ptr<MockServer> server_;
    std::unique_ptr<hookflow::connectors::Registry> registry_;
};

TEST_F(ConnectorFixture, StripePost_FormBodyIdempotencyKeyBearerVersion) {
    routes_ = {{"/stripe/", "stripe/customer_update_200.json"}};
    auto result = call("stripe",
                       "request",
                       {{"method", "post"},
                        {"path", "/v1/customers/cus_NffrFeUfNV2Hib"},
                        {"body",
                         {{"metadata", {{"order_id", "6735"}, {"source", "hookflow"}}},
                          {"expand", {"default_source"}}}}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.http_status, 200);
    EXPECT_EQ(result.output["email"], "jennyrosen@example.com");
    ASSERT_EQ(server_->requests().size(), 1u);
    auto raw = server_->requests()[0];
    EXPECT_EQ(request_line(raw), "POST /stripe/v1/customers/cus_NffrFeUfNV2Hib HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Authorization"), "Bearer sk_test_PLACEHOLDER");
    EXPECT_EQ(header_of(raw, "Stripe-Version"), "2026-11-18.endive");
    EXPECT_EQ(header_of(raw, "Idempotency-Key"), "run_1-step_a");
    EXPECT_EQ(header_of(raw, "Content-Type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(body_of(raw),
              "expand[0]=default_source&metadata[order_id]=6735&metadata[source]=hookflow");
    EXPECT_EQ(result.request["headers"]["Authorization"], "***");
    EXPECT_EQ(result.request["method"], "POST");
    EXPECT_EQ(result.request.dump().find("sk_test_PLACEHOLDER"), std::string::npos);
}

TEST_F(ConnectorFixture, StripeGet_QueryInUrlNoIdempotencyKey) {
    routes_ = {{"/stripe/", "stripe/customer_retrieve_200.json"}};
    auto result = call("stripe",
                       "request",
                       {{"path", "/v1/customers/cus_x"}, {"query", {{"expand", {"sources"}}}}});

    ASSERT_TRUE(result.ok) << result.error;
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "GET /stripe/v1/customers/cus_x?expand[0]=sources HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Idempotency-Key"), "");
    EXPECT_EQ(body_of(raw), "");
}

TEST_F(ConnectorFixture, StripeErrors_MessageAndRetryable) {
    struct Case {
        const char* file;
        int status;
        const char* error;
        bool retryable;
    };
    const Case cases[] = {
        {"stripe/error_404_resource_missing.json",
         404,
         "stripe 404 invalid_request_error resource_missing: No such customer: "
         "'cus_DoesNotExist0001'",
         false},
        {"stripe/error_409_idempotency_conflict.json", 409, nullptr, true},
        {"stripe/error_429_lock_timeout.json", 429, nullptr, true},
        {"stripe/error_400_idempotency_error.json", 400, nullptr, false},
    };
    for (const auto& c : cases) {
        routes_ = {{"/stripe/", c.file}};
        auto result = call("stripe", "request", {{"path", "/v1/customers/cus_DoesNotExist0001"}});
        EXPECT_FALSE(result.ok) << c.file;
        EXPECT_EQ(result.http_status, c.status) << c.file;
        EXPECT_EQ(result.retryable, c.retryable) << c.file;
        EXPECT_TRUE(result.error.starts_with("stripe " + std::to_string(c.status) + " "))
            << result.error;
        if (c.error) {
            EXPECT_EQ(result.error, c.error);
        }
    }
}

TEST_F(ConnectorFixture, SlackOkFalse_FailsWithSlackError) {
    routes_ = {{"/slack/", "slack/chat_postMessage_channel_not_found.json"}};
    auto result = call("slack", "post", {{"channel", "C1H9RESGL"}, {"text", "New order"}});

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "slack: channel_not_found");
    EXPECT_FALSE(result.retryable);
    EXPECT_EQ(result.http_status, 200);
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /slack/chat.postMessage HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Authorization"), "Bearer xoxb-PLACEHOLDER");
    EXPECT_EQ(header_of(raw, "Content-Type"), "application/json; charset=utf-8");
    EXPECT_EQ(body_of(raw), R"({"channel":"C1H9RESGL","text":"New order"})");
}

TEST_F(ConnectorFixture, SlackRateLimited429_Retryable) {
    routes_ = {{"/slack/", "slack/chat_postMessage_ratelimited_429.json"}};
    auto result = call("slack", "post", {{"channel", "C1"}, {"text", "x"}});

    EXPECT_FALSE(result.ok);
    EXPECT_TRUE(result.retryable);
    EXPECT_EQ(result.http_status, 429);
    EXPECT_EQ(result.error, "slack 429: ratelimited");
}

TEST_F(ConnectorFixture, Sendgrid202_MessageIdFromHeader) {
    routes_ = {{"/sendgrid/", "sendgrid/mail_send_plain_html_202.json"}};
    auto result = call("sendgrid",
                       "send",
                       {{"to", "john_doe@example.com"},
                        {"from", "orders@example.com"},
                        {"subject", "Shipped"},
                        {"html", "<p>Hi</p>"},
                        {"text", "Hi"}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["status"], 202);
    EXPECT_EQ(result.output["message_id"], "kA5kcHA8SVGtVh5S9rAUew");
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /sendgrid/v3/mail/send HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Authorization"), "Bearer SG.PLACEHOLDER");
    EXPECT_EQ(
        body_of(raw),
        R"({"personalizations":[{"to":[{"email":"john_doe@example.com"}]}],)"
        R"("from":{"email":"orders@example.com"},"subject":"Shipped",)"
        R"("content":[{"type":"text/plain","value":"Hi"},{"type":"text/html","value":"<p>Hi</p>"}]})");
}

TEST_F(ConnectorFixture, LlmChat_TextUsageModel) {
    routes_ = {{"/llm/", "openai/chat_completions_200.json"}};
    auto result =
        call("llm", "chat", {{"system", "You are a helpful assistant."}, {"prompt", "Hello!"}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["text"], "Hello! How can I assist you today?");
    EXPECT_EQ(result.output["usage"]["total_tokens"], 29);
    EXPECT_EQ(result.output["model"], "gpt-5.4");
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /llm/v1/chat/completions HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Authorization"), "Bearer sk-PLACEHOLDER");
    EXPECT_EQ(body_of(raw),
              R"({"model":"gpt-5.4","messages":[{"role":"system","content":"You are a helpful )"
              R"(assistant."},{"role":"user","content":"Hello!"}]})");
}

TEST_F(ConnectorFixture, LlmInsufficientQuota_NotRetryable) {
    routes_ = {{"/llm/", "openai/error_429_insufficient_quota.json"}};
    auto result = call("llm", "chat", {{"prompt", "Hello!"}});

    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.retryable);
    EXPECT_TRUE(
        result.error.starts_with("llm 429 insufficient_quota: You exceeded your current quota"))
        << result.error;
}

TEST_F(ConnectorFixture, MissingCredential_NoRequestAndVariableNamed) {
    auto result = call("crm", "request", {{"path", "/contacts/x"}});

    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.retryable);
    EXPECT_EQ(result.error, "connector crm: CRM_TOKEN is not set");
    EXPECT_EQ(server_->accepted(), 0u);
    EXPECT_TRUE(server_->requests().empty());
}

TEST_F(ConnectorFixture, MissingRequiredWith_NoRequest) {
    auto result = call("stripe", "request", {{"method", "GET"}, {"path", ""}});

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "with.path is required");
    EXPECT_EQ(server_->accepted(), 0u);
}

TEST_F(ConnectorFixture, HttpRequest_StatusHeadersParsedBody) {
    routes_ = {{"/anything", "stripe/customer_retrieve_200.json"}};
    auto url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/anything";
    auto result = call("http",
                       "request",
                       {{"method", "POST"},
                        {"url", url},
                        {"headers", {{"Authorization", "Bearer user-token"}}},
                        {"json", {{"a", 1}}}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["status"], 200);
    EXPECT_EQ(result.output["headers"]["Content-Type"], "application/json");
    EXPECT_EQ(result.output["body"]["object"], "customer");
    EXPECT_EQ(result.request["headers"]["Authorization"], "***");
    EXPECT_EQ(body_of(server_->requests().at(0)), R"({"a":1})");
}

// ---- pool limits, idle expiry, redirects, rate limits and the connectors' newer actions ----

/// Runs every task at once on `ioc` and returns their results in order.
std::vector<hookflow::Result<HttpResponse>> run_all(asio::io_context& ioc,
                                                    RestClient& client,
                                                    std::vector<HttpRequest> requests) {
    std::vector<hookflow::Result<HttpResponse>> out(
        requests.size(), hookflow::make_error(hookflow::Errc::network, "unset"));
    for (std::size_t i = 0; i < requests.size(); ++i) {
        asio::co_spawn(
            ioc,
            [&, i]() -> asio::awaitable<void> { out[i] = co_await client.send(requests[i]); },
            asio::detached);
    }
    ioc.restart();
    ioc.run();
    return out;
}

TEST(RestClient, MaxConnectionsOne_ConcurrentRequestsShareOneConnection) {
    MockServer server([](const std::string&) { return json_answer(200, R"({"ok":true})"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    std::vector<HttpRequest> requests;
    for (int i = 0; i < 4; ++i) {
        auto request = get(server, "/n" + std::to_string(i));
        request.max_connections = 1;
        requests.push_back(request);
    }

    auto results = run_all(ioc, client, requests);

    for (const auto& result : results) {
        ASSERT_TRUE(result.ok()) << result.error().log_text;
        EXPECT_EQ(result->status, 200);
    }
    EXPECT_EQ(server.accepted(), 1u);
    EXPECT_EQ(client.connections_opened(), 1u);
    EXPECT_EQ(server.requests().size(), 4u);
}

TEST(RestClient, MaxConnectionsTwo_AtMostTwoOpen) {
    MockServer server([](const std::string&) { return json_answer(200, "{}"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    std::vector<HttpRequest> requests(6, get(server, "/x"));
    for (auto& request : requests) {
        request.max_connections = 2;
    }

    auto results = run_all(ioc, client, requests);

    for (const auto& result : results) {
        ASSERT_TRUE(result.ok()) << result.error().log_text;
    }
    EXPECT_EQ(server.accepted(), 2u);
}

TEST(RestClient, IdleTimeoutPassed_NewConnection) {
    MockServer server([](const std::string&) { return json_answer(200, "{}"); });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());
    auto request = get(server, "/x");
    request.idle_timeout = std::chrono::milliseconds(100);

    ASSERT_TRUE(run(ioc, client.send(request)).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_TRUE(run(ioc, client.send(request)).ok());

    EXPECT_EQ(server.accepted(), 2u);
}

TEST(RestClient, CorruptGzip_StepErrorThenNextCallSucceeds) {
    int calls = 0;
    MockServer server([&](const std::string&) {
        ++calls;
        Canned canned = json_answer(200, "{}");
        if (calls == 1) {
            canned.body = "short";
            canned.headers.emplace_back("Content-Encoding", "gzip");  // corrupt gzip
        }
        return canned;
    });
    asio::io_context ioc;
    RestClient client(ioc.get_executor());

    auto first = run(ioc, client.send(get(server, "/a")));
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.error().log_text,
              "gzip response body is corrupt or larger than 16777216 bytes");
    auto second = run(ioc, client.send(get(server, "/b")));
    ASSERT_TRUE(second.ok()) << second.error().log_text;
    EXPECT_EQ(second->status, 200);
}

class ConnectorCase : public ::testing::Test {
  protected:
    /// Builds the one connector `name` of `type` against `server_` with extra settings.
    hookflow::connectors::Connector& connector(
        const std::string& name,
        const std::string& path,
        std::map<std::string, hookflow::config::Setting> settings) {
        hookflow::config::Config config;
        auto base = "http://127.0.0.1:" + std::to_string(server_->port()) + path;
        config.connectors[name] = block(name, base, std::move(settings));
        auto built = hookflow::connectors::Registry::build(config, client_);
        EXPECT_TRUE(built.ok()) << built.error().log_text;
        registry_ = std::move(built.value());
        return *registry_->find(name);
    }

    StepResult call(hookflow::connectors::Connector& target,
                    const std::string& action,
                    nlohmann::json with) {
        StepCall step;
        step.run_id = "run_1";
        step.step_id = "step_a";
        step.action = action;
        step.with = std::move(with);
        return run(ioc_, target.call(step));
    }

    void serve(MockServer::Handler handler) { server_ = std::make_unique<MockServer>(handler); }

    asio::io_context ioc_;
    RestClient client_{ioc_.get_executor()};
    std::unique_ptr<MockServer> server_;
    std::unique_ptr<hookflow::connectors::Registry> registry_;
};

TEST_F(ConnectorCase, StripePaginate_CollectsDataAcrossPagesWithAccountAndVersion) {
    serve([](const std::string& raw) {
        if (request_line(raw).find("starting_after=cus_2") != std::string::npos) {
            return json_answer(200,
                               R"({"object":"list","data":[{"id":"cus_3"}],"has_more":false})");
        }
        return json_answer(
            200, R"({"object":"list","data":[{"id":"cus_1"},{"id":"cus_2"}],"has_more":true})");
    });
    auto& stripe = connector(
        "stripe", "", {{"api_key", {"sk_test_X", ""}}, {"api_version", {"2024-06-20", ""}}});

    auto result = call(stripe,
                       "request",
                       {{"path", "/v1/customers"},
                        {"query", {{"limit", 2}}},
                        {"account", "acct_123"},
                        {"paginate", true}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output.dump(),
              R"({"data":[{"id":"cus_1"},{"id":"cus_2"},{"id":"cus_3"}],"has_more":false,)"
              R"("object":"list","pages":2})");
    auto requests = server_->requests();
    ASSERT_EQ(requests.size(), 2u);
    EXPECT_EQ(request_line(requests[0]), "GET /v1/customers?limit=2 HTTP/1.1");
    EXPECT_EQ(request_line(requests[1]), "GET /v1/customers?limit=2&starting_after=cus_2 HTTP/1.1");
    EXPECT_EQ(header_of(requests[1], "Stripe-Account"), "acct_123");
    EXPECT_EQ(header_of(requests[1], "Stripe-Version"), "2024-06-20");
}

TEST_F(ConnectorCase, StripePaginate_BoundedByMaxPages) {
    serve([](const std::string&) {
        return json_answer(200, R"({"object":"list","data":[{"id":"x"}],"has_more":true})");
    });
    auto& stripe = connector("stripe", "", {{"api_key", {"sk_test_X", ""}}});

    auto result =
        call(stripe, "request", {{"path", "/v1/charges"}, {"paginate", true}, {"max_pages", 3}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["pages"], 3);
    EXPECT_EQ(result.output["has_more"], true);
    EXPECT_EQ(result.output["data"].size(), 3u);
    EXPECT_EQ(server_->requests().size(), 3u);
}

TEST_F(ConnectorCase, HubspotFindContact_SearchBodyAndFirstResult) {
    serve([](const std::string&) {
        return from_fixture("hubspot/contacts_search_by_email_200.json");
    });
    auto& crm = connector("crm", "", {{"token", {"pat-na1-X", ""}}, {"flavor", {"hubspot", ""}}});

    auto result = call(crm, "find_contact", {{"email", "bryan.cooper@example.com"}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["id"], "512");
    EXPECT_EQ(result.output["properties"]["firstname"], "Bryan");
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /crm/v3/objects/contacts/search HTTP/1.1");
    EXPECT_EQ(header_of(raw, "Authorization"), "Bearer pat-na1-X");
    EXPECT_EQ(
        body_of(raw),
        fixture("hubspot/contacts_search_by_email_200.json")["request"]["body"].get<std::string>());
}

TEST_F(ConnectorCase, HubspotFindContact_NoResultIsNull) {
    serve([](const std::string&) { return json_answer(200, R"({"total":0,"results":[]})"); });
    auto& crm = connector("crm", "", {{"token", {"t", ""}}, {"flavor", {"hubspot", ""}}});

    auto result = call(crm, "find_contact", {{"email", "nobody@example.com"}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_TRUE(result.output.is_null());
}

TEST_F(ConnectorCase, HubspotUpdateContact_PatchWithCustomAuthHeader) {
    serve([](const std::string&) { return from_fixture("hubspot/contact_update_200.json"); });
    auto& crm = connector("crm",
                          "",
                          {{"token", {"tok_1", ""}},
                           {"flavor", {"hubspot", ""}},
                           {"auth_header", {"X-Api-Key", ""}}});

    auto result = call(crm, "update_contact", {{"id", "512"}, {"properties", {{"tier", "gold"}}}});

    ASSERT_TRUE(result.ok) << result.error;
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "PATCH /crm/v3/objects/contacts/512 HTTP/1.1");
    EXPECT_EQ(header_of(raw, "X-Api-Key"), "tok_1");
    EXPECT_EQ(header_of(raw, "Authorization"), "");
    EXPECT_EQ(body_of(raw), R"({"properties":{"tier":"gold"}})");
    EXPECT_EQ(result.request["headers"]["X-Api-Key"], "***");
}

TEST_F(ConnectorCase, CrmPlainFlavor_HasNoHubspotActions) {
    serve([](const std::string&) { return json_answer(200, "{}"); });
    auto& crm = connector("crm", "", {{"token", {"t", ""}}});
    EXPECT_FALSE(crm.has_action("find_contact"));
    EXPECT_TRUE(crm.has_action("request"));
}

TEST_F(ConnectorCase, AnthropicChat_RequestShapeHeadersAndJson) {
    serve([](const std::string&) {
        return json_answer(
            200,
            R"({"content":[{"type":"text","text":"```json\n{\"tier\":\"high\"}\n```"}],)"
            R"("model":"claude-x","stop_reason":"end_turn",)"
            R"("usage":{"input_tokens":12,"output_tokens":7}})");
    });
    auto& llm = connector("llm",
                          "",
                          {{"api_key", {"sk-ant-X", ""}},
                           {"flavor", {"anthropic", ""}},
                           {"model", {"claude-x", ""}}});

    auto result = call(llm,
                       "chat",
                       {{"system", "Classify."},
                        {"prompt", "Payment failed"},
                        {"json", true},
                        {"temperature", 0}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(result.output["json"], (nlohmann::json{{"tier", "high"}}));
    EXPECT_EQ(result.output["usage"]["input_tokens"], 12);
    EXPECT_EQ(result.output["usage"]["output_tokens"], 7);
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /v1/messages HTTP/1.1");
    EXPECT_EQ(header_of(raw, "x-api-key"), "sk-ant-X");
    EXPECT_EQ(header_of(raw, "anthropic-version"), "2023-06-01");
    EXPECT_EQ(header_of(raw, "Authorization"), "");
    EXPECT_EQ(body_of(raw),
              R"({"model":"claude-x","max_tokens":1024,"system":"Classify.\n\nAnswer with one )"
              R"(JSON value only: no prose, no code fences.","messages":[{"role":"user",)"
              R"("content":"Payment failed"}],"temperature":0})");
    EXPECT_EQ(result.request["headers"]["x-api-key"], "***");
}

TEST_F(ConnectorCase, OpenAiJson_ResponseFormatAndUnparseableAnswerFails) {
    serve([](const std::string&) {
        return json_answer(200, R"({"choices":[{"message":{"content":"not json"}}]})");
    });
    auto& llm = connector("llm", "/v1", {{"model", {"m", ""}}});

    auto result = call(llm, "chat", {{"prompt", "Hi"}, {"json", true}});

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "llm: json was requested but the answer is not JSON: not json");
    EXPECT_EQ(body_of(server_->requests().at(0)),
              R"({"model":"m","messages":[{"role":"user","content":"Hi"}],)"
              R"("response_format":{"type":"json_object"}})");
}

TEST_F(ConnectorCase, SendgridCcBccCategories_ExactBody) {
    serve([](const std::string&) { return json_answer(202, ""); });
    auto& sendgrid = connector("sendgrid", "", {{"api_key", {"SG.X", ""}}});

    auto result = call(sendgrid,
                       "send",
                       {{"to", "a@example.com"},
                        {"cc", {"b@example.com"}},
                        {"bcc", "c@example.com"},
                        {"from", "billing@example.com"},
                        {"template_id", "d-1"},
                        {"dynamic_template_data", {{"amount", 10}}},
                        {"categories", {"billing"}}});

    ASSERT_TRUE(result.ok) << result.error;
    EXPECT_EQ(body_of(server_->requests().at(0)),
              R"({"personalizations":[{"to":[{"email":"a@example.com"}],)"
              R"("cc":[{"email":"b@example.com"}],"bcc":[{"email":"c@example.com"}],)"
              R"("dynamic_template_data":{"amount":10}}],"from":{"email":"billing@example.com"},)"
              R"("template_id":"d-1","categories":["billing"]})");
}

TEST_F(ConnectorCase, SlackWebhook_PostsTextWithoutTokenOrChannel) {
    serve([](const std::string&) {
        Canned canned;
        canned.status = 400;
        canned.body = "invalid_payload";
        return canned;
    });
    auto url = "http://127.0.0.1:" + std::to_string(server_->port()) + "/services/T/B/XYZ";
    hookflow::config::Config config;
    hookflow::config::ConnectorConfig slack;
    slack.name = "slack";
    slack.settings["webhook_url"] = {url, ""};
    config.connectors["slack"] = slack;
    auto built = hookflow::connectors::Registry::build(config, client_);
    ASSERT_TRUE(built.ok());

    auto result = call(*built.value()->find("slack"), "post", {{"text", "hi"}});

    EXPECT_FALSE(result.ok);
    EXPECT_EQ(result.error, "slack webhook 400: invalid_payload");
    auto raw = server_->requests().at(0);
    EXPECT_EQ(request_line(raw), "POST /services/T/B/XYZ HTTP/1.1");
    EXPECT_EQ(body_of(raw), R"({"text":"hi"})");
    EXPECT_EQ(result.request["url"], "***");  // the webhook URL is the credential
}

TEST_F(ConnectorCase, HttpExpectStatus_ListDecides) {
    serve([](const std::string&) { return json_answer(404, R"({"gone":true})"); });
    auto& http = connector("http", "", {});
    auto base = "http://127.0.0.1:" + std::to_string(server_->port());

    auto allowed = call(http, "request", {{"url", base + "/a"}, {"expect_status", {200, 404}}});
    auto refused = call(http, "request", {{"url", base + "/a"}, {"expect_status", {200}}});

    EXPECT_TRUE(allowed.ok) << allowed.error;
    EXPECT_EQ(allowed.output["status"], 404);
    EXPECT_FALSE(refused.ok);
    EXPECT_EQ(refused.error, "http 404 from " + base + "/a (expected [200])");
}

TEST_F(ConnectorCase, Redirect_NotFollowedByDefaultNamesLocation) {
    serve([](const std::string& raw) {
        if (request_line(raw).starts_with("GET /new")) {
            return json_answer(200, R"({"moved":true})");
        }
        auto canned = json_answer(301, "");
        canned.headers.emplace_back("Location", "/new");
        return canned;
    });
    auto& http = connector("http", "", {});
    auto base = "http://127.0.0.1:" + std::to_string(server_->port());

    auto result = call(http, "request", {{"url", base + "/old"}});

    EXPECT_FALSE(result.ok);
    EXPECT_FALSE(result.retryable);
    EXPECT_EQ(result.error,
              "http: answer 301 redirects to /new; redirects are not followed (set "
              "follow_redirects: true on the connector, or fix its base_url)");
    EXPECT_EQ(server_->requests().size(), 1u);

    auto& following = connector("http", "", {{"follow_redirects", {"true", ""}}});
    auto followed = call(following, "request", {{"url", base + "/old"}});
    ASSERT_TRUE(followed.ok) << followed.error;
    EXPECT_EQ(followed.output["body"]["moved"], true);
}

TEST_F(ConnectorCase, RateLimit_WaitsForBudgetWithoutFailing) {
    serve([](const std::string&) { return json_answer(200, R"({"ok":true})"); });
    auto& slack = connector("slack",
                            "",
                            {{"token", {"xoxb-X", ""}},
                             {"rate_limit.per_second", {"5", ""}},
                             {"rate_limit.burst", {"1", ""}}});

    auto start = std::chrono::steady_clock::now();
    auto first = call(slack, "post", {{"channel", "C1"}, {"text", "a"}});
    auto second = call(slack, "post", {{"channel", "C1"}, {"text", "b"}});
    auto third = call(slack, "post", {{"channel", "C1"}, {"text", "c"}});
    auto elapsed = std::chrono::steady_clock::now() - start;

    EXPECT_TRUE(first.ok && second.ok && third.ok);
    EXPECT_EQ(first.rate_limit_wait_ms, 0);
    EXPECT_GT(second.rate_limit_wait_ms + third.rate_limit_wait_ms, 250);
    EXPECT_GE(elapsed, std::chrono::milliseconds(300));
    EXPECT_EQ(server_->requests().size(), 3u);
}

}  // namespace
