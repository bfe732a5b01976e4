#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

class SlackConnector final : public ConnectorBase {
  public:
    SlackConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override { return action == "post"; }

  protected:
    bool needs_base_url(const StepCall& call) const override {
        return string_field(call.with, "webhook_url", setting("webhook_url")).empty();
    }

    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        bool no_text = field_missing(call.with, "text") && field_missing(call.with, "blocks");
        // An incoming-webhook URL (in `with` or the block) replaces token and channel.
        auto webhook = string_field(call.with, "webhook_url", setting("webhook_url"));
        if (!webhook.empty()) {
            if (no_text) {
                co_return fail(required_message("text"));
            }
            StepResult result;
            auto response = co_await send(build_webhook(call.with, webhook), result);
            if (response) {
                read_webhook_answer(*response, result);
            }
            co_return result;
        }
        auto token = credential("token");
        if (!token.error.empty()) {
            co_return fail(token.error);
        }
        if (field_missing(call.with, "channel")) {
            co_return fail(required_message("channel"));
        }
        if (no_text) {
            co_return fail(required_message("text"));
        }
        StepResult result;
        auto response = co_await send(build(call.with, token.value), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

  private:
    HttpRequest build_webhook(const nlohmann::json& with, const std::string& url) const {
        nlohmann::ordered_json body;
        for (const char* field : {"text", "blocks"}) {
            if (!field_missing(with, field)) {
                body[field] = with[field];
            }
        }
        HttpRequest request;
        request.method = "POST";
        request.url = url;
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = body.dump();
        return with_transport(std::move(request));
    }

    /// Webhooks answer `ok` as plain text, or an error code (`invalid_payload`, `no_service`).
    static void read_webhook_answer(const HttpResponse& response, StepResult& result) {
        auto text = response.body;
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
            text.pop_back();
        }
        result.output = {{"ok", success_status(response.status)}, {"answer", excerpt(text)}};
        if (success_status(response.status)) {
            result.ok = true;
            return;
        }
        result.error = "slack webhook " + std::to_string(response.status) + ": " +
                       (text.empty() ? std::string("empty answer") : excerpt(text));
        result.retryable = retryable_status(response.status);
    }

    HttpRequest build(const nlohmann::json& with, const std::string& token) const {
        nlohmann::ordered_json body;
        body["channel"] = with["channel"];
        if (!field_missing(with, "text")) {
            body["text"] = with["text"];
        }
        if (!field_missing(with, "blocks")) {
            body["blocks"] = with["blocks"];
        }
        auto request = make_request("POST", "/chat.postMessage");
        // With a JSON body Slack reads the token only from this header.
        request.headers.emplace_back("Authorization", "Bearer " + token);
        request.headers.emplace_back("Content-Type", "application/json; charset=utf-8");
        request.body = body.dump();
        return request;
    }

    /// Slack answers most errors with HTTP 200 and `ok: false`; only 429 uses the status.
    static void read_answer(const HttpResponse& response, StepResult& result) {
        auto body = parse_json(response.body);
        if (!body.is_discarded()) {
            result.output = body;
        }
        if (response.status == 429 || response.status >= 500) {
            auto error = string_field(body, "error", "ratelimited");
            result.error = "slack " + std::to_string(response.status) + ": " +
                           (response.status == 429 ? error : excerpt(response.body));
            result.retryable = true;
            return;
        }
        if (!body.is_object() || !body.contains("ok")) {
            result.error = "slack " + std::to_string(response.status) + ": " +
                           excerpt(response.body.empty() ? "empty answer" : response.body);
            return;
        }
        if (body["ok"] != true) {
            auto error = string_field(body, "error", "unknown_error");
            result.error = "slack: " + error;
            result.retryable = error == "ratelimited";
            return;
        }
        result.ok = true;
    }
};

}  // namespace

std::unique_ptr<Connector> make_slack(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<SlackConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
