#include <nlohmann/json.hpp>

#include <hookflow/admin/health.hpp>

namespace hookflow::admin {

boost::asio::awaitable<http::Response> Health::healthz(http::Exchange& exchange) {
    co_return http::json_response(
        200, R"({"status":"ok"})", exchange.request.version(), exchange.request.keep_alive());
}

boost::asio::awaitable<http::Response> Health::readyz(http::Exchange& exchange) {
    bool store_ok = store_.writable();
    bool ready = store_ok && workflows_loaded_ && !stopping_;
    nlohmann::ordered_json body = {
        {"status", ready ? "ready" : "not ready"},
        {"store", store_ok ? "writable" : "not writable"},
        {"workflows", workflows_loaded_ ? "loaded" : "not loaded"},
    };
    if (stopping_) {
        body["stopping"] = true;
    }
    co_return http::json_response(
        ready ? 200 : 503, body.dump(), exchange.request.version(), exchange.request.keep_alive());
}

}  // namespace hookflow::admin
