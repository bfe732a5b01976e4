#include <stdexcept>

#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

constexpr std::string_view kStripeVersion = "2026-11-18.endive";
// Auto-pagination bounds: a run must not page through a whole account by accident.
constexpr int kDefaultMaxPages = 10;
constexpr int kMaxPagesCap = 100;
constexpr std::size_t kDefaultMaxItems = 1000;
constexpr std::size_t kMaxItemsCap = 10000;

/// A positive integer `with` field, capped; `fallback` when absent.
std::size_t bounded(const nlohmann::json& with,
                    const char* field,
                    std::size_t fallback,
                    std::size_t cap) {
    if (!with.contains(field) || with[field].is_null()) {
        return fallback;
    }
    auto value = with[field].get<std::int64_t>();
    if (value < 1) {
        throw std::invalid_argument(std::string("with.") + field + " must be at least 1");
    }
    return std::min(static_cast<std::size_t>(value), cap);
}

/// `stripe 404 invalid_request_error resource_missing: No such customer: 'cus_x'`.
std::string stripe_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "stripe " + std::to_string(status);
    const auto* error = body.is_object() && body.contains("error") && body["error"].is_object()
                            ? &body["error"]
                            : nullptr;
    if (!error) {
        return raw.empty() ? text : text + ": " + excerpt(raw);
    }
    for (const char* part : {"type", "code"}) {
        auto value = string_field(*error, part);
        if (!value.empty()) {
            text += " " + value;
        }
    }
    auto message = string_field(*error, "message");
    return message.empty() ? text : text + ": " + message;
}

/// Stripe-Should-Retry, when present, overrides what the status suggests.
bool stripe_retryable(const HttpResponse& response) {
    if (auto hint = find_header(response.headers, "stripe-should-retry")) {
        return iequals(*hint, "true");
    }
    return response.status == 409 || response.status == 429 || response.status >= 500;
}

class StripeConnector final : public ConnectorBase {
  public:
    StripeConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override { return action == "request"; }

  protected:
    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        auto key = credential("api_key");
        if (!key.error.empty()) {
            co_return fail(key.error);
        }
        if (field_missing(call.with, "path")) {
            co_return fail(required_message("path"));
        }
        if (call.with.value("paginate", false)) {
            co_return co_await paginate(call, key.value);
        }
        StepResult result;
        auto response = co_await send(build(call, key.value), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

    /// GETs page after page (`starting_after` = the last item's id) while `has_more`, within
    /// `max_pages` and `max_items`; the output is one list holding every page's `data`.
    boost::asio::awaitable<StepResult> paginate(const StepCall& call, const std::string& key) {
        if (upper(string_field(call.with, "method", "GET")) != "GET") {
            co_return fail("stripe.request: paginate works with method GET only");
        }
        auto max_pages = bounded(call.with, "max_pages", kDefaultMaxPages, kMaxPagesCap);
        auto max_items = bounded(call.with, "max_items", kDefaultMaxItems, kMaxItemsCap);
        auto page_call = call;
        auto items = nlohmann::json::array();
        StepResult result;
        bool more = true;
        std::size_t pages = 0;
        while (more && pages < max_pages && items.size() < max_items) {
            auto response = co_await send(build(page_call, key), result);
            if (!response) {
                co_return result;
            }
            read_answer(*response, result);
            if (!result.ok) {
                co_return result;
            }
            ++pages;
            const auto& page = result.output;
            if (!page.is_object() || !page.contains("data") || !page["data"].is_array()) {
                co_return fail("stripe.request: paginate needs a list answer with `data`");
            }
            for (const auto& item : page["data"]) {
                if (items.size() < max_items) {
                    items.push_back(item);
                }
            }
            more = page.value("has_more", false) && !page["data"].empty();
            if (more) {
                page_call.with["query"]["starting_after"] = page["data"].back().value("id", "");
            }
        }
        result.output = {
            {"object", "list"}, {"data", std::move(items)}, {"has_more", more}, {"pages", pages}};
        co_return result;
    }

  private:
    HttpRequest build(const StepCall& call, const std::string& api_key) const {
        auto method = upper(string_field(call.with, "method", "GET"));
        auto path = call.with.at("path").get<std::string>();
        // GET and DELETE carry their parameters in the query string; the rest in the body.
        bool body_in_query = method == "GET" || method == "DELETE";
        auto query = call.with.value("query", nlohmann::json::object());
        if (!query.is_object()) {
            query = nlohmann::json::object();
        }
        auto body = call.with.value("body", nlohmann::json::object());
        if (body_in_query && body.is_object()) {
            query.update(body);
        }
        auto query_text = stripe_form_encode(query);
        if (!query_text.empty()) {
            path += (path.find('?') == std::string::npos ? "?" : "&") + query_text;
        }

        auto request = make_request(method, path);
        request.headers.emplace_back("Authorization", "Bearer " + api_key);
        // `api_version` (older configs: `stripe_version`) pins another API version.
        auto version = setting("api_version");
        if (version.empty()) {
            version = setting("stripe_version");
        }
        request.headers.emplace_back("Stripe-Version",
                                     version.empty() ? std::string(kStripeVersion) : version);
        // Stripe Connect: act on a connected account.
        auto account = string_field(call.with, "account");
        if (!account.empty()) {
            request.headers.emplace_back("Stripe-Account", account);
        }
        if (method == "POST") {
            // The same key on every attempt lets Stripe replay instead of acting twice.
            request.headers.emplace_back("Idempotency-Key", call.run_id + "-" + call.step_id);
        }
        if (!body_in_query) {
            request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
            request.body = stripe_form_encode(body);
        }
        return request;
    }

    static void read_answer(const HttpResponse& response, StepResult& result) {
        auto body = parse_json(response.body);
        if (success_status(response.status) && !body.is_discarded()) {
            result.ok = true;
            result.output = std::move(body);
            return;
        }
        result.ok = false;
        if (success_status(response.status)) {
            result.error = "stripe " + std::to_string(response.status) + ": answer is not JSON";
            return;
        }
        result.output = body.is_discarded() ? nlohmann::json() : body;
        result.error = stripe_error_text(response.status, body, response.body);
        result.retryable = stripe_retryable(response);
    }
};

}  // namespace

std::unique_ptr<Connector> make_stripe(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<StripeConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
