#include <cctype>
#include <map>
#include <set>

#include <boost/beast/http/field.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/admin/api.hpp>
#include <hookflow/admin/listing.hpp>
#include <hookflow/common/crypto.hpp>
#include <hookflow/common/form.hpp>
#include <hookflow/common/log.hpp>
#include <hookflow/common/metrics.hpp>
#include <hookflow/http/router.hpp>
#include <hookflow/store/awaitable.hpp>

namespace hookflow::admin {

namespace asio = boost::asio;
namespace beast_http = boost::beast::http;
using nlohmann::ordered_json;

namespace {

constexpr std::string_view kPrefix = "/api/";

http::Response reply(const http::Exchange& exchange, unsigned status, const ordered_json& body) {
    return http::json_response(status,
                               body.dump(-1, ' ', false, ordered_json::error_handler_t::replace),
                               exchange.request.version(),
                               exchange.request.keep_alive());
}

http::Response fail(const http::Exchange& exchange, unsigned status, const std::string& reason) {
    return reply(exchange, status, ordered_json{{"error", reason}});
}

http::Response fail(const http::Exchange& exchange, const Error& error) {
    return http::error_response(error, exchange.request.version(), exchange.request.keep_alive());
}

http::Response not_allowed(const http::Exchange& exchange, const char* allow) {
    auto res = fail(exchange, 405, "method not allowed");
    res.set(beast_http::field::allow, allow);
    return res;
}

std::string_view target_of(const http::Exchange& exchange) {
    const auto& target = exchange.request.target();
    return {target.data(), target.size()};
}

// The path after /api/, split at '/'; empty parts (a trailing slash) are dropped.
std::vector<std::string> path_parts(std::string_view target) {
    auto path = http::path_of(target).substr(kPrefix.size());
    std::vector<std::string> parts;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto part = path.substr(0, slash);
        if (!part.empty()) {
            parts.emplace_back(part);
        }
        path = slash == std::string_view::npos ? std::string_view{} : path.substr(slash + 1);
    }
    return parts;
}

// The query parameters; Errc::bad_request for one the endpoint does not know, one without a
// value, or one given twice.
Result<std::map<std::string, std::string>> query_params(std::string_view target,
                                                        const std::set<std::string>& known) {
    std::map<std::string, std::string> params;
    auto mark = target.find('?');
    if (mark == std::string_view::npos) {
        return params;
    }
    for (auto& [name, value] : parse_form(target.substr(mark + 1))) {
        if (!known.contains(name)) {
            return make_error(Errc::bad_request,
                              "unknown query parameter '" + name.substr(0, 40) + "'");
        }
        if (value.empty()) {
            return make_error(Errc::bad_request, "query parameter '" + name + "' has no value");
        }
        if (params.contains(name)) {
            return make_error(Errc::bad_request, "query parameter '" + name + "' is repeated");
        }
        params[name] = std::move(value);
    }
    return params;
}

std::string param(const std::map<std::string, std::string>& params, const std::string& name) {
    auto found = params.find(name);
    return found == params.end() ? std::string() : found->second;
}

// Limit and cursor of a listing request.
Result<store::PageRequest> page_of(const std::map<std::string, std::string>& params) {
    store::PageRequest page{"", kDefaultLimit};
    if (auto limit = param(params, "limit"); !limit.empty()) {
        auto parsed = parse_limit(limit);
        if (!parsed) {
            return parsed.error();
        }
        page.limit = *parsed;
    }
    if (auto cursor = param(params, "cursor"); !cursor.empty()) {
        auto id = decode_cursor(cursor);
        if (!id) {
            return id.error();
        }
        page.before_id = *id;
    }
    return page;
}

template <class Row, class ToJson>
ordered_json page_json(const store::Page<Row>& page, ToJson to_json) {
    ordered_json items = ordered_json::array();
    for (const auto& row : page.items) {
        items.push_back(to_json(row));
    }
    ordered_json next = nullptr;
    if (page.more && !page.items.empty()) {
        next = encode_cursor(page.items.back().id);
    }
    return {{"items", items}, {"next_cursor", next}};
}

// Two Authorization headers are refused whatever their order: which one a proxy or a
// client library acts on differs, so neither is trusted.
constexpr std::string_view kAmbiguousToken = "\n";

// The bearer token of the request, empty when none, kAmbiguousToken when repeated.
std::string_view bearer_of(const http::Request& request) {
    if (request.count(beast_http::field::authorization) > 1) {
        return kAmbiguousToken;
    }
    auto header = request[beast_http::field::authorization];
    std::string_view value(header.data(), header.size());
    constexpr std::string_view kScheme = "bearer ";
    if (value.size() <= kScheme.size()) {
        return {};
    }
    for (std::size_t i = 0; i < kScheme.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) {
            return {};
        }
    }
    auto token = value.substr(kScheme.size());
    while (!token.empty() && token.front() == ' ') {
        token.remove_prefix(1);
    }
    return token;
}

http::Response unauthorized(const http::Exchange& exchange, bool had_token) {
    spdlog::warn("admin request refused {} {} {}",
                 logf::field(logf::kRequest, exchange.request_id),
                 logf::field("path", http::path_of(target_of(exchange)).substr(0, 80)),
                 logf::field(logf::kReason, had_token ? "wrong token" : "no token"));
    auto res = fail(exchange, 401, had_token ? "invalid token" : "missing bearer token");
    res.set(beast_http::field::www_authenticate,
            had_token ? R"(Bearer realm="hookflow", error="invalid_token")"
                      : R"(Bearer realm="hookflow")");
    return res;
}

void log_action(const char* message,
                const http::Exchange& exchange,
                std::string_view key,
                const std::string& id) {
    spdlog::info("{} {} {}",
                 message,
                 logf::field(logf::kRequest, exchange.request_id),
                 logf::field(key, id));
}

}  // namespace

Api::Api(store::Store& store, ApiOptions options) : store_(store), options_(std::move(options)) {}

asio::awaitable<http::Response> Api::handle(http::Exchange& exchange) {
    if (!enabled()) {
        co_return fail(exchange, 404, "not found");
    }
    auto token = bearer_of(exchange.request);
    // Compared in constant time: the answer's timing must not reveal how much of it matched.
    if (token.empty() || token == kAmbiguousToken || !constant_time_equal(token, options_.token)) {
        co_return unauthorized(exchange, !token.empty());
    }
    // Named, not a temporary inside the co_await: GCC 12 can destroy such temporaries twice.
    const auto parts = path_parts(target_of(exchange));
    co_return co_await route(exchange, parts);
}

asio::awaitable<http::Response> Api::route(http::Exchange& exchange,
                                           const std::vector<std::string>& parts) {
    const auto method = exchange.request.method();
    const bool get = method == beast_http::verb::get || method == beast_http::verb::head;
    const bool post = method == beast_http::verb::post;
    const auto size = parts.size();
    const std::string noun = size > 0 ? parts[0] : "";
    if ((noun != "events" && noun != "runs") || size > 3) {
        co_return fail(exchange, 404, "not found");
    }
    if (size <= 2) {
        if (!get) {
            co_return not_allowed(exchange, "GET, HEAD");
        }
        if (size == 1) {
            co_return noun == "events" ? list_events(exchange) : list_runs(exchange);
        }
        co_return noun == "events" ? show_event(exchange, parts[1]) : show_run(exchange, parts[1]);
    }
    const auto& action = parts[2];
    bool known = (noun == "events" && action == "replay") ||
                 (noun == "runs" && (action == "retry" || action == "cancel"));
    if (!known) {
        co_return fail(exchange, 404, "not found");
    }
    if (!post) {
        co_return not_allowed(exchange, "POST");
    }
    // One co_await per branch: GCC 12 frees the frame of a co_await on `a ? f() : g()` twice.
    if (action == "replay") {
        co_return co_await replay(exchange, parts[1]);
    }
    if (action == "retry") {
        co_return co_await retry(exchange, parts[1]);
    }
    co_return co_await cancel(exchange, parts[1]);
}

http::Response Api::list_events(http::Exchange& exchange) {
    auto params =
        query_params(target_of(exchange), {"source", "type", "since", "until", "limit", "cursor"});
    if (!params) {
        return fail(exchange, params.error());
    }
    auto filter = event_filter(param(*params, "source"),
                               param(*params, "type"),
                               param(*params, "since"),
                               param(*params, "until"));
    if (!filter) {
        return fail(exchange, filter.error());
    }
    auto page = page_of(*params);
    if (!page) {
        return fail(exchange, page.error());
    }
    auto found = store_.find_events(*filter, *page);
    if (!found) {
        return fail(exchange, found.error());
    }
    return reply(exchange, 200, page_json(*found, event_json));
}

http::Response Api::show_event(http::Exchange& exchange, const std::string& id) {
    auto event = store_.get_event(id);
    if (!event) {
        return fail(exchange, 404, "no such event");
    }
    return reply(exchange, 200, event_detail_json(*event, store_.runs_for_event(id)));
}

http::Response Api::list_runs(http::Exchange& exchange) {
    auto params =
        query_params(target_of(exchange), {"workflow", "status", "event", "limit", "cursor"});
    if (!params) {
        return fail(exchange, params.error());
    }
    auto filter =
        run_filter(param(*params, "workflow"), param(*params, "status"), param(*params, "event"));
    if (!filter) {
        return fail(exchange, filter.error());
    }
    auto page = page_of(*params);
    if (!page) {
        return fail(exchange, page.error());
    }
    auto found = store_.find_runs(*filter, *page);
    if (!found) {
        return fail(exchange, found.error());
    }
    return reply(exchange, 200, page_json(*found, run_json));
}

http::Response Api::show_run(http::Exchange& exchange, const std::string& id) {
    auto run = store_.get_run(id);
    if (!run) {
        return fail(exchange, 404, "no such run");
    }
    return reply(exchange, 200, run_detail_json(*run, store_.steps_for_run(id)));
}

asio::awaitable<http::Response> Api::replay(http::Exchange& exchange, const std::string& id) {
    auto event = store_.get_event(id);
    if (!event) {
        co_return fail(exchange, 404, "no such event");
    }
    auto runs = options_.match ? options_.match(*event) : std::vector<store::NewRun>{};
    if (runs.empty()) {
        co_return fail(exchange, 409, "no workflow matches this event");
    }
    auto ids = co_await store::async_call<std::vector<std::string>>(
        [&](auto done) { store_.add_runs(id, std::move(runs), std::move(done)); });
    if (!ids) {
        co_return fail(exchange, ids.error());
    }
    if (options_.wake) {
        options_.wake();
    }
    log_action("event replayed by admin", exchange, logf::kEvent, id);
    co_return reply(exchange, 202, ordered_json{{"event_id", id}, {"runs", *ids}});
}

asio::awaitable<http::Response> Api::retry(http::Exchange& exchange, const std::string& id) {
    auto run = store_.get_run(id);
    if (!run) {
        co_return fail(exchange, 404, "no such run");
    }
    auto queued =
        co_await store::async_call<bool>([&](auto done) { store_.retry_run(id, std::move(done)); });
    if (!queued) {
        co_return fail(exchange, queued.error());
    }
    if (!*queued) {
        co_return fail(exchange, 409, "run is " + run->status + "; only dead or failed runs retry");
    }
    if (options_.wake) {
        options_.wake();
    }
    log_action("run retried by admin", exchange, logf::kRun, id);
    auto now = store_.get_run(id);
    co_return reply(exchange, 200, run_json(now.value_or(*run)));
}

asio::awaitable<http::Response> Api::cancel(http::Exchange& exchange, const std::string& id) {
    auto result = co_await store::async_call<store::CancelResult>(
        [&](auto done) { store_.cancel_run(id, std::move(done)); });
    if (!result) {
        co_return fail(exchange, result.error());
    }
    if (result->previous_status.empty()) {
        co_return fail(exchange, 404, "no such run");
    }
    if (!result->cancelled) {
        co_return fail(exchange,
                       409,
                       "run is " + result->previous_status +
                           "; only queued, failed or running runs can be cancelled");
    }
    log_action("run cancelled by admin", exchange, logf::kRun, id);
    auto run = store_.get_run(id);
    auto body = run ? run_json(*run) : ordered_json{{"id", id}, {"status", "cancelled"}};
    body["previous_status"] = result->previous_status;
    co_return reply(exchange, 200, body);
}

// Limitation: /metrics takes no token; keep it private with admin.listen or the proxy.
asio::awaitable<http::Response> Api::metrics(http::Exchange& exchange) {
    const auto method = exchange.request.method();
    if (method != beast_http::verb::get && method != beast_http::verb::head) {
        co_return not_allowed(exchange, "GET, HEAD");
    }
    // The queue gauge is read from the store at each scrape, so it is right across restarts
    // and for runs changed by the CLI.
    auto& runs = metrics::instruments().runs;
    if (auto counts = store_.count_runs_by_status(); counts) {
        for (const auto& status : run_statuses()) {
            runs.set({status}, 0);
        }
        for (const auto& [status, count] : *counts) {
            runs.set({status}, static_cast<double>(count));
        }
    }
    auto res = http::json_response(200,
                                   metrics::registry().expose(),
                                   exchange.request.version(),
                                   exchange.request.keep_alive());
    res.set(beast_http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    co_return res;
}

}  // namespace hookflow::admin
