#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

/// Response headers as a JSON object; repeated names are joined with ", ".
nlohmann::json headers_object(const Headers& headers) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& [name, value] : headers) {
        auto& slot = out[name];
        slot = slot.is_string() ? nlohmann::json(slot.get<std::string>() + ", " + value)
                                : nlohmann::json(value);
    }
    return out;
}

/// The URL up to its query string, which may hold tokens that must not reach error texts.
std::string without_query(const std::string& url) {
    return url.substr(0, url.find('?'));
}

class HttpConnector final : public ConnectorBase {
  public:
    HttpConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override { return action == "request"; }

  protected:
    // Steps give whole URLs; base_url only serves relative ones.
    bool needs_base_url(const StepCall& /*call*/) const override { return false; }

    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        if (field_missing(call.with, "url")) {
            co_return fail(required_message("url"));
        }
        StepResult result;
        auto request = build(call.with);
        auto url = request.url;
        auto response = co_await send(std::move(request), result);
        if (response) {
            read_answer(call.with, *response, url, result);
        }
        co_return result;
    }

  private:
    // Limitation: a token the workflow puts in the URL's query string is recorded as is; only
    // headers named like credentials are masked for this connector.
    HttpRequest build(const nlohmann::json& with) const {
        auto url = with["url"].get<std::string>();
        auto query = stripe_form_encode(with.value("query", nlohmann::json::object()));
        if (!query.empty()) {
            url += (url.find('?') == std::string::npos ? "?" : "&") + query;
        }
        // A relative URL is taken against the block's base_url, when one is configured.
        bool absolute = url.starts_with("http://") || url.starts_with("https://");
        auto request =
            make_request(upper(string_field(with, "method", "GET")), absolute ? "" : url);
        if (absolute) {
            request.url = url;
            request = with_transport(std::move(request));  // the proxy depends on the host
        }
        auto headers = with.value("headers", nlohmann::json::object());
        for (const auto& [name, value] : headers.items()) {
            request.headers.emplace_back(
                name, value.is_string() ? value.get<std::string>() : value.dump());
        }
        if (!field_missing(with, "json")) {
            request.headers.emplace_back("Content-Type", "application/json");
            request.body = with["json"].dump();
        } else if (!field_missing(with, "form")) {
            request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
            request.body = stripe_form_encode(with["form"]);
        }
        return request;
    }

    /// `expect_status`: a status or list of statuses; default any 2xx.
    static bool expected(const nlohmann::json& with, int status) {
        if (!with.contains("expect_status") || with["expect_status"].is_null()) {
            return success_status(status);
        }
        auto list = with["expect_status"].is_array()
                        ? with["expect_status"]
                        : nlohmann::json::array({with["expect_status"]});
        for (const auto& one : list) {
            if (one.get<int>() == status) {
                return true;
            }
        }
        return false;
    }

    static void read_answer(const nlohmann::json& with,
                            const HttpResponse& response,
                            const std::string& url,
                            StepResult& result) {
        auto body = parse_json(response.body);
        if (body.is_discarded()) {
            body = response.body;
        }
        result.output = {{"status", response.status},
                         {"headers", headers_object(response.headers)},
                         {"body", body}};
        result.ok = expected(with, response.status);
        if (!result.ok) {
            result.error =
                "http " + std::to_string(response.status) + " from " + without_query(url);
            if (with.contains("expect_status")) {
                result.error += " (expected " + with["expect_status"].dump() + ")";
            }
            result.retryable = retryable_status(response.status);
        }
    }
};

}  // namespace

std::unique_ptr<Connector> make_http(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<HttpConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
