#include <nlohmann/json.hpp>

#include <hookflow/http/server.hpp>

namespace hookflow::http {

namespace beast_http = boost::beast::http;

unsigned status_for(Errc code) {
    switch (code) {
        case Errc::bad_request:
        case Errc::expression:
        case Errc::invalid_workflow:
            return 400;
        case Errc::unauthorized:
            return 401;
        case Errc::not_found:
            return 404;
        case Errc::method_not_allowed:
            return 405;
        case Errc::payload_too_large:
            return 413;
        case Errc::store_unavailable:
            return 503;
        case Errc::timeout:
            return 504;
        case Errc::network:
        case Errc::connector:
            return 502;
        case Errc::invalid_config:
        case Errc::internal:
            return 500;
    }
    return 500;
}

Response json_response(unsigned status, std::string body, unsigned version, bool keep_alive) {
    Response res{static_cast<beast_http::status>(status), version};
    res.set(beast_http::field::server, "hookflow");
    res.set(beast_http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = std::move(body);
    res.prepare_payload();
    return res;
}

Response error_response(const Error& error, unsigned version, bool keep_alive) {
    nlohmann::json body = {{"error", error.public_text}};
    auto res = json_response(status_for(error.code),
                             body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                             version,
                             keep_alive);
    if (error.code == Errc::store_unavailable) {
        res.set(beast_http::field::retry_after, "5");
    }
    if (error.code == Errc::method_not_allowed) {
        res.set(beast_http::field::allow, "POST");
    }
    return res;
}

}  // namespace hookflow::http
