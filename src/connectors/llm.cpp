#include "connector_base.hpp"
#include <hookflow/common/json_limits.hpp>

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

constexpr std::string_view kAnthropicVersion = "2023-06-01";
constexpr int kAnthropicMaxTokens = 1024;
constexpr std::string_view kJsonInstruction =
    "Answer with one JSON value only: no prose, no code fences.";

/// Anthropic errors: {"type": "error", "error": {"type", "message"}}.
std::string anthropic_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "llm " + std::to_string(status);
    if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) {
        return raw.empty() ? text : text + ": " + excerpt(raw);
    }
    auto type = string_field(body["error"], "type");
    if (!type.empty()) {
        text += " " + type;
    }
    auto message = string_field(body["error"], "message");
    return message.empty() ? text : text + ": " + message;
}

/// The text without a surrounding ```json ... ``` fence, which models add despite being told.
std::string strip_fence(std::string text) {
    auto first = text.find_first_not_of(" \t\r\n");
    if (first == std::string::npos || text.compare(first, 3, "```") != 0) {
        return text;
    }
    auto body = text.find('\n', first);
    auto close = text.rfind("```");
    if (body == std::string::npos || close <= body) {
        return text;
    }
    return text.substr(body + 1, close - body - 1);
}

/// A number from usage, or 0.
std::int64_t count(const nlohmann::json& usage, const char* field) {
    if (usage.is_object() && usage.contains(field) && usage[field].is_number_integer()) {
        return usage[field].get<std::int64_t>();
    }
    return 0;
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
        if (anthropic() && key.value.empty()) {
            co_return fail(key.error);
        }
        auto model = string_field(call.with, "model", setting("model"));
        if (model.empty()) {
            co_return fail(required_message("model"));
        }
        if (field_missing(call.with, "messages") && field_missing(call.with, "prompt")) {
            co_return fail(required_message("prompt"));
        }
        bool want_json = call.with.value("json", false);
        StepResult result;
        auto request = anthropic() ? build_anthropic(call.with, model, key.value, want_json)
                                   : build_openai(call.with, model, key.value, want_json);
        auto response = co_await send(std::move(request), result);
        if (response) {
            if (anthropic()) {
                read_anthropic(*response, result);
            } else {
                read_openai(*response, result);
            }
            if (result.ok && want_json) {
                parse_answer(result);
            }
        }
        co_return result;
    }

  private:
    bool anthropic() const { return setting("flavor") == "anthropic"; }

    static void copy_options(const nlohmann::json& with, nlohmann::ordered_json& body) {
        for (const char* option : {"temperature", "max_tokens"}) {
            if (with.contains(option) && !with[option].is_null()) {
                body[option] = with[option];
            }
        }
    }

    HttpRequest build_openai(const nlohmann::json& with,
                             const std::string& model,
                             const std::string& key,
                             bool want_json) const {
        nlohmann::ordered_json body;
        body["model"] = model;
        if (!field_missing(with, "messages")) {
            body["messages"] = with["messages"];
        } else {
            body["messages"] = nlohmann::ordered_json::array();
            if (!field_missing(with, "system")) {
                body["messages"].push_back({{"role", "system"}, {"content", with["system"]}});
            }
            body["messages"].push_back({{"role", "user"}, {"content", with["prompt"]}});
        }
        copy_options(with, body);
        if (want_json) {
            body["response_format"] = {{"type", "json_object"}};
        }
        auto request = make_request("POST", "/chat/completions");
        if (!key.empty()) {
            request.headers.emplace_back("Authorization", "Bearer " + key);
        }
        request.headers.emplace_back("Content-Type", "application/json");
        request.body = body.dump();
        return request;
    }

    /// Anthropic's Messages API: `system` is a top-level field, `max_tokens` is required.
    HttpRequest build_anthropic(const nlohmann::json& with,
                                const std::string& model,
                                const std::string& key,
                                bool want_json) const {
        std::string system = string_field(with, "system");
        auto messages = nlohmann::ordered_json::array();
        if (!field_missing(with, "messages")) {
            for (const auto& message : with["messages"]) {
                // System messages in an OpenAI-style list move to the top-level field.
                if (message.value("role", "") == "system") {
                    system += (system.empty() ? "" : "\n\n") + message.value("content", "");
                } else {
                    messages.push_back(nlohmann::ordered_json::parse(message.dump()));
                }
            }
        } else {
            messages.push_back({{"role", "user"}, {"content", with["prompt"]}});
        }
        if (want_json) {
            system += (system.empty() ? "" : "\n\n") + std::string(kJsonInstruction);
        }
        nlohmann::ordered_json body;
        body["model"] = model;
        body["max_tokens"] = kAnthropicMaxTokens;
        if (!system.empty()) {
            body["system"] = system;
        }
        body["messages"] = messages;
        copy_options(with, body);

        auto request = make_request("POST", "/v1/messages");
        request.headers.emplace_back("x-api-key", key);
        auto version = setting("anthropic_version");
        request.headers.emplace_back("anthropic-version",
                                     version.empty() ? std::string(kAnthropicVersion) : version);
        request.headers.emplace_back("content-type", "application/json");
        request.body = body.dump();
        return request;
    }

    static void read_openai(const HttpResponse& response, StepResult& result) {
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
        auto usage = body.value("usage", nlohmann::json());
        result.ok = true;
        result.output = {
            {"text", text},
            {"usage",
             {{"input_tokens", count(usage, "prompt_tokens")},
              {"output_tokens", count(usage, "completion_tokens")},
              {"total_tokens", count(usage, "prompt_tokens") + count(usage, "completion_tokens")}}},
            {"model", body.value("model", nlohmann::json())},
            {"stop_reason", choice->value("finish_reason", nlohmann::json())}};
    }

    static void read_anthropic(const HttpResponse& response, StepResult& result) {
        auto body = parse_json(response.body);
        if (!success_status(response.status)) {
            result.error = anthropic_error_text(response.status, body, response.body);
            // 529: Anthropic is overloaded, which passes.
            result.retryable = retryable_status(response.status);
            return;
        }
        if (!body.is_object() || !body.contains("content") || !body["content"].is_array()) {
            result.error = "llm " + std::to_string(response.status) + ": answer has no content";
            return;
        }
        std::string text;
        for (const auto& block : body["content"]) {
            if (block.value("type", "") == "text") {
                text += block.value("text", "");
            }
        }
        auto usage = body.value("usage", nlohmann::json());
        result.ok = true;
        result.output = {
            {"text", text},
            {"usage",
             {{"input_tokens", count(usage, "input_tokens")},
              {"output_tokens", count(usage, "output_tokens")},
              {"total_tokens", count(usage, "input_tokens") + count(usage, "output_tokens")}}},
            {"model", body.value("model", nlohmann::json())},
            {"stop_reason", body.value("stop_reason", nlohmann::json())}};
    }

    /// `json: true`: the answer's text must parse; its value goes to `output.json`.
    static void parse_answer(StepResult& result) {
        auto text = result.output["text"].is_string() ? result.output["text"].get<std::string>()
                                                      : std::string();
        auto answer = strip_fence(text);
        if (json_too_deep(answer)) {
            result.ok = false;
            result.error = "llm: json was requested but the answer is " + json_depth_message();
            return;
        }
        auto value = parse_json(answer);
        if (value.is_discarded()) {
            result.ok = false;
            result.error = "llm: json was requested but the answer is not JSON: " + excerpt(text);
            return;
        }
        result.output["json"] = std::move(value);
    }
};

}  // namespace

std::unique_ptr<Connector> make_llm(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<LlmConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
