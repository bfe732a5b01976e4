#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

/// OpenAI-style errors: {"error": {"message", "type", "param", "code"}}.
std::string llm_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "llm " + std::to_string(status);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
        return raw.empty() ? text : text + ": " + excerpt(raw);
    }
    const auto& error = body["error"];
    auto code = string_field(error, "code");
    if (!code.empty()) {
        text += " " + code;
    }
    auto message = string_field(error, "message");
    return message.empty() ? text : text + ": " + message;
}

std::string error_code_of(const nlohmann::json& body) {
    if (body.is_object() && body.contains("error") && body["error"].is_object()) {
        return string_field(body["error"], "code");
    }
    return {};
}

class LlmConnector final : public ConnectorBase {
  public:
    LlmConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(120)) {}

    bool has_action(std::string_view action) const override { return action == "chat"; }

  protected:
    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        // Local servers (Ollama, vLLM) need no key: only an unset ${VAR} is an error.
        auto key = credential("api_key");
        auto key_setting = config_.settings.find("api_key");
        if (key_setting != config_.settings.end() && !key_setting->second.missing_var.empty()) {
            co_return fail(key.error);
        }
        auto model = string_field(call.with, "model", setting("model"));
        if (model.empty()) {
            co_return fail(required_message("model"));
        }
        if (field_missing(call.with, "messages") && field_missing(call.with, "prompt")) {
            co_return fail(required_message("prompt"));
        }
        StepResult result;
        auto response = co_await send(build(call, model, key.value), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

  private:
    HttpRequest build(const StepCall& call,
                      const std::string& model,
                      const std::string& key) const {
        nlohmann::ordered_json body;
        body["model"] = model;
        if (!field_missing(call.with, "messages")) {
            body["messages"] = call.with["messages"];
        } else {
            body["messages"] = nlohmann::ordered_json::array();
            if (!field_missing(call.with, "system")) {
                body["messages"].push_back({{"role", "system"}, {"content", call.with["system"]}});
            }
            body["messages"].push_back({{"role", "user"}, {"content", call.with["prompt"]}});
        }
        for (const char* option : {"temperature", "max_tokens"}) {
            if (call.with.contains(option) && !call.with[option].is_null()) {
                body[option] = call.with[option];
            }
        }

        auto request = make_request("POST", "/chat/completions");
        if (!key.empty()) {
            request.headers.emplace_back("Authorization", "Bearer " + key);
        }
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = body.dump();
        return request;
    }

    static void read_answer(const HttpResponse& response, StepResult& result) {
        auto body = parse_json(response.body);
        if (!success_status(response.status)) {
            result.error = llm_error_text(response.status, body, response.body);
            bool no_quota = error_code_of(body) == "insufficient_quota";
            result.retryable = retryable_status(response.status) && !no_quota;
            return;
        }
        const nlohmann::json* choice = nullptr;
        if (body.is_object() && body.contains("choices") && body["choices"].is_array() &&
            !body["choices"].empty()) {
            choice = &body["choices"][0];
        }
        if (!choice) {
            result.error = "llm " + std::to_string(response.status) + ": answer has no choices";
            return;
        }
        // content is null when the model answered with tool calls.
        auto text = choice->value("/message/content"_json_pointer, nlohmann::json());
        result.ok = true;
        result.output = {{"text", text},
                         {"usage", body.value("usage", nlohmann::json())},
                         {"model", body.value("model", nlohmann::json())}};
    }
};

}  // namespace

std::unique_ptr<Connector> make_llm(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<LlmConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
