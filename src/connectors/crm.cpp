#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

/// A CRM's error body names the problem in `message` (HubSpot) or `error`; else the raw text.
std::string crm_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "crm " + std::to_string(status);
    auto message = string_field(body, "message");
    if (message.empty()) {
        message = string_field(body, "error");
    }
    if (message.empty()) {
        message = excerpt(raw);
    }
    return message.empty() ? text : text + ": " + message;
}

class CrmConnector final : public ConnectorBase {
  public:
    CrmConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override { return action == "request"; }

  protected:
    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        auto token = credential("token");
        if (!token.error.empty()) {
            co_return fail(token.error);
        }
        if (field_missing(call.with, "path")) {
            co_return fail(required_message("path"));
        }
        StepResult result;
        auto response = co_await send(build(call, token.value), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

  private:
    HttpRequest build(const StepCall& call, const std::string& token) const {
        auto method = upper(string_field(call.with, "method", "GET"));
        auto path = call.with.at("path").get<std::string>();
        auto query = stripe_form_encode(call.with.value("query", nlohmann::json::object()));
        if (!query.empty()) {
            path += (path.find('?') == std::string::npos ? "?" : "&") + query;
        }
        auto request = make_request(method, path);
        request.headers.emplace_back("Authorization", "Bearer " + token);
        request.headers.emplace_back("Accept", "application/json");
        if (call.with.contains("json") && !call.with["json"].is_null()) {
            request.headers.emplace_back("Content-Type", "application/json");
            request.body = call.with["json"].dump();
        }
        return request;
    }

    static void read_answer(const HttpResponse& response, StepResult& result) {
        auto body = response.body.empty() ? nlohmann::json::object() : parse_json(response.body);
        if (body.is_discarded()) {
            body = response.body;
        }
        result.output = body;
        result.ok = success_status(response.status);
        if (!result.ok) {
            result.error = crm_error_text(response.status, body, response.body);
            result.retryable = retryable_status(response.status);
        }
    }
};

}  // namespace

std::unique_ptr<Connector> make_crm(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<CrmConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
