#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

/// An address as SendGrid wants it: `{"email": ...}`; objects pass through as written.
nlohmann::ordered_json address(const nlohmann::json& value) {
    if (value.is_object()) {
        return value;
    }
    return {{"email", value}};
}

nlohmann::ordered_json recipients(const nlohmann::json& to) {
    auto out = nlohmann::ordered_json::array();
    if (to.is_array()) {
        for (const auto& one : to) {
            out.push_back(address(one));
        }
    } else {
        out.push_back(address(to));
    }
    return out;
}

/// SendGrid errors: {"errors": [{"message", "field", "help"}]}; the messages joined.
std::string sendgrid_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "sendgrid " + std::to_string(status);
    std::string messages;
    if (body.is_object() && body.contains("errors") && body["errors"].is_array()) {
        for (const auto& error : body["errors"]) {
            auto message = string_field(error, "message");
            if (!message.empty()) {
                messages += (messages.empty() ? "" : "; ") + message;
            }
        }
    }
    if (messages.empty()) {
        messages = excerpt(raw);
    }
    return messages.empty() ? text : text + ": " + messages;
}

class SendgridConnector final : public ConnectorBase {
  public:
    SendgridConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override { return action == "send"; }

  protected:
    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        auto key = credential("api_key");
        if (!key.error.empty()) {
            co_return fail(key.error);
        }
        if (auto missing = missing_field(call.with); !missing.empty()) {
            co_return fail(required_message(missing));
        }
        StepResult result;
        auto response = co_await send(build(call.with, key.value), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

  private:
    /// The first required field that is missing; a template carries its own subject and body.
    static std::string missing_field(const nlohmann::json& with) {
        for (const char* field : {"to", "from"}) {
            if (field_missing(with, field)) {
                return field;
            }
        }
        if (!field_missing(with, "template_id")) {
            return {};
        }
        if (field_missing(with, "subject")) {
            return "subject";
        }
        if (field_missing(with, "text") && field_missing(with, "html")) {
            return "text";
        }
        return {};
    }

    HttpRequest build(const nlohmann::json& with, const std::string& key) const {
        nlohmann::ordered_json personalization;
        personalization["to"] = recipients(with["to"]);
        for (const char* field : {"cc", "bcc"}) {
            if (!field_missing(with, field)) {
                personalization[field] = recipients(with[field]);
            }
        }
        if (!field_missing(with, "dynamic_template_data")) {
            personalization["dynamic_template_data"] = with["dynamic_template_data"];
        }
        nlohmann::ordered_json body;
        body["personalizations"] = nlohmann::ordered_json::array({personalization});
        body["from"] = address(with["from"]);
        if (!field_missing(with, "reply_to")) {
            body["reply_to"] = address(with["reply_to"]);
        }
        if (!field_missing(with, "subject")) {
            body["subject"] = with["subject"];
        }
        // SendGrid rejects content whose text/plain part does not come first.
        auto content = nlohmann::ordered_json::array();
        for (auto [field, type] :
             {std::pair{"text", "text/plain"}, std::pair{"html", "text/html"}}) {
            if (!field_missing(with, field)) {
                content.push_back({{"type", type}, {"value", with[field]}});
            }
        }
        if (!content.empty()) {
            body["content"] = content;
        }
        if (!field_missing(with, "template_id")) {
            body["template_id"] = with["template_id"];
        }
        if (!field_missing(with, "categories")) {
            const auto& categories = with["categories"];
            body["categories"] =
                categories.is_array() ? categories : nlohmann::json::array({categories});
        }

        auto request = make_request("POST", "/v3/mail/send");
        request.headers.emplace_back("Authorization", "Bearer " + key);
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = body.dump();
        return request;
    }

    static void read_answer(const HttpResponse& response, StepResult& result) {
        if (!success_status(response.status)) {
            result.error =
                sendgrid_error_text(response.status, parse_json(response.body), response.body);
            result.retryable = retryable_status(response.status);
            return;
        }
        auto id = find_header(response.headers, "x-message-id");
        result.ok = true;
        result.output = {{"status", response.status},
                         {"message_id", id ? nlohmann::json(std::string(*id)) : nlohmann::json()}};
    }
};

}  // namespace

std::unique_ptr<Connector> make_sendgrid(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<SendgridConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
