#include <hookflow/http/router.hpp>

namespace hookflow::http {

std::string_view path_of(std::string_view target) {
    auto query = target.find('?');
    return query == std::string_view::npos ? target : target.substr(0, query);
}

void Router::exact(std::string path, Handler handler) {
    routes_.push_back(Route{std::move(path), false, std::move(handler)});
}

void Router::prefix(std::string prefix, Handler handler) {
    routes_.push_back(Route{std::move(prefix), true, std::move(handler)});
}

boost::asio::awaitable<Response> Router::dispatch(Exchange& exchange) const {
    auto path = path_of(
        std::string_view(exchange.request.target().data(), exchange.request.target().size()));
    for (const auto& route : routes_) {
        bool match = route.is_prefix ? path.starts_with(route.path) : path == route.path;
        if (match) {
            co_return co_await route.handler(exchange);
        }
    }
    co_return error_response(make_error(Errc::not_found, "no such path", "not found"),
                             exchange.request.version(),
                             exchange.request.keep_alive());
}

}  // namespace hookflow::http
