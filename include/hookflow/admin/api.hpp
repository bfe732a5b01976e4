#pragma once

#include <functional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include <hookflow/http/server.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::admin {

/// What the admin API needs from the rest of the server.
struct ApiOptions {
    /// The bearer token (`admin.token`); empty turns the API off (every /api/ path is 404).
    std::string token;
    /// The runs a replay of this event queues: the workflows as loaded now that match it.
    std::function<std::vector<store::NewRun>(const store::EventRow&)> match;
    /// Called after runs were queued or requeued, so that the engine looks at once.
    std::function<void()> wake;
};

/// The admin API under `/api/` (bearer token) and the Prometheus endpoint `/metrics`.
class Api {
  public:
    Api(store::Store& store, ApiOptions options);

    /// Whether a token is set (the API answers at all).
    bool enabled() const { return !options_.token.empty(); }

    /// Answers one request to /api/...: 404 when off, 401 without the right token, else the
    /// endpoint's JSON; errors are `{"error": "..."}`.
    boost::asio::awaitable<http::Response> handle(http::Exchange& exchange);

    /// Answers GET /metrics in Prometheus text format 0.0.4 (the run gauge read from the store).
    boost::asio::awaitable<http::Response> metrics(http::Exchange& exchange);

  private:
    boost::asio::awaitable<http::Response> route(http::Exchange& exchange,
                                                 const std::vector<std::string>& parts);
    http::Response list_events(http::Exchange& exchange);
    http::Response show_event(http::Exchange& exchange, const std::string& id);
    http::Response list_runs(http::Exchange& exchange);
    http::Response show_run(http::Exchange& exchange, const std::string& id);
    boost::asio::awaitable<http::Response> replay(http::Exchange& exchange, const std::string& id);
    boost::asio::awaitable<http::Response> retry(http::Exchange& exchange, const std::string& id);
    boost::asio::awaitable<http::Response> cancel(http::Exchange& exchange, const std::string& id);

    store::Store& store_;
    ApiOptions options_;
};

}  // namespace hookflow::admin
