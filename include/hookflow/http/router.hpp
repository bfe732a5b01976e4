#pragma once

#include <string>
#include <utility>
#include <vector>

#include <hookflow/http/server.hpp>

namespace hookflow::http {

/// Sends each request to the handler of the first route whose path matches: an exact path,
/// or a prefix ending in `/`. Anything else gets 404.
class Router {
  public:
    /// Routes exactly `path` (query ignored).
    void exact(std::string path, Handler handler);

    /// Routes every path starting with `prefix`.
    void prefix(std::string prefix, Handler handler);

    /// The handler for the server: dispatches one exchange.
    boost::asio::awaitable<Response> dispatch(Exchange& exchange) const;

  private:
    struct Route {
        std::string path;
        bool is_prefix = false;
        Handler handler;
    };
    std::vector<Route> routes_;
};

/// The path of a request target without its query string.
std::string_view path_of(std::string_view target);

}  // namespace hookflow::http
