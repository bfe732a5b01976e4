// `hookflow trigger`: the delivery a provider would send, signed now with the source's
// secret, posted to a running server.

#include <exception>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "app/commands.hpp"
#include "app/tools.hpp"
#include <hookflow/common/json_limits.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::app {

namespace asio = boost::asio;

namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

// The server's own address for its hooks: a wildcard listen address is reached on loopback.
std::string default_url(const config::ServerConfig& server, const std::string& source) {
    std::string host = server.host;
    if (host.empty() || host == "0.0.0.0") {
        host = "127.0.0.1";
    } else if (host == "::") {
        host = "[::1]";
    } else if (host.find(':') != std::string::npos && host.front() != '[') {
        host = "[" + host + "]";
    }
    return "http://" + host + ":" + std::to_string(server.port) + "/hooks/" + source;
}

// JSON bodies are sent as JSON; anything else as a form, the only other body providers sign.
std::string content_type(const std::string& body) {
    // An over-deep JSON body is still JSON: send it as such and let the server refuse it.
    bool is_json =
        json_too_deep(body) || !nlohmann::json::parse(body, nullptr, false).is_discarded();
    return is_json ? "application/json" : "application/x-www-form-urlencoded";
}

Result<connectors::HttpResponse> post(connectors::HttpRequest request) {
    asio::io_context io;
    connectors::RestClient client(io.get_executor());
    std::optional<Result<connectors::HttpResponse>> answer;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> { answer = co_await client.send(std::move(request)); },
        [&](const std::exception_ptr& error) {
            if (error) {
                answer = make_error(Errc::internal, "the request failed unexpectedly");
            }
            // The client keeps the connection for reuse; nothing more is sent on it.
            io.stop();
        });
    io.run();
    if (!answer) {
        return make_error(Errc::internal, "no answer");
    }
    return std::move(*answer);
}

}  // namespace

int trigger(const std::string& config_path,
            const std::string& source,
            const std::string& file,
            const std::string& url) {
    auto signed_file = sign_file(config_path, source, file);
    if (!signed_file) {
        return 1;
    }
    connectors::HttpRequest request;
    request.method = "POST";
    if (url.empty() && signed_file->config.server.port == 0) {
        // Port 0 means "any free port": only the running server knows which one it got.
        std::cerr << "server.listen has port 0; pass --url with the server's address\n";
        return 1;
    }
    request.url = url.empty() ? default_url(signed_file->config.server, source) : url;
    request.body = std::move(signed_file->body);
    request.timeout = kTimeout;
    request.headers = std::move(signed_file->headers);
    if (!find_header(request.headers, "Content-Type")) {
        request.headers.emplace_back("Content-Type", content_type(request.body));
    }

    auto answer = post(request);
    if (!answer) {
        std::cerr << "POST " << request.url << ": " << answer.error().log_text << "\n";
        return 1;
    }
    std::cout << "HTTP " << answer->status << "\n" << answer->body;
    if (!answer->body.empty() && answer->body.back() != '\n') {
        std::cout << "\n";
    }
    return answer->status >= 200 && answer->status < 300 ? 0 : 1;
}

}  // namespace hookflow::app
