#include "connector_base.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <optional>

#include <spdlog/spdlog.h>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/headers.hpp>
#include <hookflow/common/log.hpp>

namespace hookflow::connectors {

namespace {

bool has_control(std::string_view text) {
    for (char c : text) {
        if (c == '\r' || c == '\n' || c == '\0') {
            return true;
        }
    }
    return false;
}

std::optional<std::string> control_character_in(const HttpRequest& request) {
    if (has_control(request.url) || has_control(request.method)) {
        return std::string("URL");
    }
    for (const auto& [header, value] : request.headers) {
        if (has_control(header) || has_control(value)) {
            return "header " + (has_control(header) ? std::string("name") : header);
        }
    }
    return std::nullopt;
}

constexpr std::chrono::seconds kMaxConnectTimeout{10};

/// Whether a config key names a credential whose value must never be recorded.
bool secret_key(std::string_view key) {
    for (std::string_view word : {"key", "token", "secret", "password"}) {
        if (key.find(word) != std::string_view::npos) {
            return true;
        }
    }
    return false;
}

/// Whether a header carries a credential by its name alone.
bool secret_header(std::string_view name) {
    static constexpr std::array<std::string_view, 6> kNames = {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "x-auth-token"};
    return std::any_of(
        kNames.begin(), kNames.end(), [&](std::string_view n) { return iequals(n, name); });
}

}  // namespace

ConnectorBase::ConnectorBase(config::ConnectorConfig config,
                             RestClient& client,
                             std::chrono::seconds default_timeout)
    : config_(std::move(config)),
      client_(client),
      timeout_(config_.timeout_seconds > 0 ? std::chrono::seconds(config_.timeout_seconds)
                                           : default_timeout) {
    for (const auto& [key, setting] : config_.settings) {
        if (secret_key(key) && !setting.value.empty()) {
            secrets_.push_back(setting.value);
            // Also the form-encoded spelling, as it would appear in a URL or form body.
            auto encoded = stripe_form_encode({{"k", setting.value}}).substr(2);
            if (encoded != setting.value) {
                secrets_.push_back(encoded);
            }
        }
    }
}

boost::asio::awaitable<StepResult> ConnectorBase::call(const StepCall& call) {
    if (!has_action(call.action)) {
        co_return unknown_action(call.action);
    }
    // Only `http` may go without a base_url (its steps give whole URLs).
    if (config_.base_url.empty() && config_.type != "http") {
        auto missing = config_.base_url_missing_var.empty() ? std::string("base_url")
                                                            : config_.base_url_missing_var;
        co_return fail("connector " + name() + ": " + missing + " is not set");
    }
    std::string failure;
    try {
        co_return co_await run(call);
    } catch (const std::exception& e) {
        // Typically a `with` value of the wrong JSON type.
        failure = name() + "." + call.action + ": " + scrub(e.what(), secrets_);
    }
    co_return fail(failure);
}

Credential ConnectorBase::credential(const std::string& key) const {
    Credential out;
    auto it = config_.settings.find(key);
    if (it == config_.settings.end()) {
        out.error = "connector " + name() + ": " + key + " is not set";
        return out;
    }
    out.present = true;
    if (!it->second.missing_var.empty()) {
        out.error = "connector " + name() + ": " + it->second.missing_var + " is not set";
    } else if (it->second.value.empty()) {
        out.error = "connector " + name() + ": " + key + " is not set";
    } else {
        out.value = it->second.value;
    }
    return out;
}

std::string ConnectorBase::setting(const std::string& key) const {
    auto it = config_.settings.find(key);
    return it == config_.settings.end() ? std::string() : it->second.value;
}

HttpRequest ConnectorBase::make_request(std::string method, std::string_view path) const {
    HttpRequest request;
    request.method = std::move(method);
    std::string base = config_.base_url;
    while (!base.empty() && base.back() == '/') {
        base.pop_back();
    }
    request.url = base;
    if (!path.empty() && path.front() != '/' && path.front() != '?') {
        request.url += '/';
    }
    request.url += path;
    request.timeout = timeout_;
    request.connect_timeout = std::min<std::chrono::milliseconds>(kMaxConnectTimeout, timeout_);
    request.ca_file = config_.ca_file;
    return request;
}

boost::asio::awaitable<std::optional<HttpResponse>> ConnectorBase::send(HttpRequest request,
                                                                        StepResult& result) {
    result.request = redact_request(request, secrets_);
    // Limitation: rendered paths are not percent-encoded; only CR, LF and NUL are refused.
    // Event data rendered into a path or header must not split the request (CR/LF
    // injection would smuggle a second request beside the credential).
    if (auto where = control_character_in(request)) {
        result.ok = false;
        result.retryable = false;
        result.error = name() + ": the request " + *where +
                       " holds a control character (CR, LF or NUL); refusing to send it";
        co_return std::nullopt;
    }
    auto response = co_await client_.send(std::move(request));
    if (!response) {
        result.ok = false;
        result.retryable = true;
        result.error = scrub(name() + ": " + response.error().log_text, secrets_);
        co_return std::nullopt;
    }
    result.http_status = response->status;
    if (response->status == 429 || response->status == 503) {
        if (auto after = find_header(response->headers, "retry-after")) {
            result.retry_after_ms = parse_retry_after_ms(*after, SystemClock::instance().now_ms());
        }
    }
    spdlog::debug("connector answer {}",
                  logf::fields({{logf::kAction, name()},
                                {logf::kHttpStatus, std::to_string(response->status)}}));
    co_return std::move(response.value());
}

StepResult ConnectorBase::fail(std::string error, bool retryable) {
    StepResult result;
    result.ok = false;
    result.error = std::move(error);
    result.retryable = retryable;
    return result;
}

StepResult ConnectorBase::unknown_action(std::string_view action) const {
    return fail("connector " + name() + " has no action '" + std::string(action) + "'");
}

bool field_missing(const nlohmann::json& with, std::string_view field) {
    if (!with.is_object()) {
        return true;
    }
    auto it = with.find(std::string(field));
    if (it == with.end() || it->is_null()) {
        return true;
    }
    if (it->is_string() || it->is_array() || it->is_object()) {
        return it->empty() || (it->is_string() && it->get_ref<const std::string&>().empty());
    }
    return false;
}

std::string upper(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) {
        return static_cast<char>(std::toupper(c));
    });
    return text;
}

std::string required_message(std::string_view field) {
    return "with." + std::string(field) + " is required";
}

std::string string_field(const nlohmann::json& with,
                         std::string_view field,
                         std::string_view fallback) {
    if (with.is_object()) {
        auto it = with.find(std::string(field));
        if (it != with.end() && it->is_string()) {
            return it->get<std::string>();
        }
    }
    return std::string(fallback);
}

nlohmann::json parse_json(const std::string& text) {
    return nlohmann::json::parse(text, nullptr, false);
}

bool retryable_status(int status) {
    return status == 429 || status >= 500;
}

bool success_status(int status) {
    return status >= 200 && status < 300;
}

std::string scrub(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        if (secret.empty()) {
            continue;
        }
        for (auto pos = text.find(secret); pos != std::string::npos;
             pos = text.find(secret, pos + 3)) {
            text.replace(pos, secret.size(), "***");
        }
    }
    return text;
}

nlohmann::json redact_request(const HttpRequest& request, const std::vector<std::string>& secrets) {
    nlohmann::json headers = nlohmann::json::object();
    for (const auto& [name, value] : request.headers) {
        headers[name] = secret_header(name) ? std::string("***") : scrub(value, secrets);
    }
    nlohmann::json body;  // null when nothing is sent
    if (!request.body.empty()) {
        auto text = scrub(request.body, secrets);
        auto type = find_header(request.headers, "content-type");
        bool is_json = type && type->find("json") != std::string_view::npos;
        auto parsed =
            is_json ? parse_json(text) : nlohmann::json(nlohmann::json::value_t::discarded);
        body = parsed.is_discarded() ? nlohmann::json(text) : parsed;
    }
    return {{"method", request.method},
            {"url", scrub(request.url, secrets)},
            {"headers", headers},
            {"body", body}};
}

std::string excerpt(std::string_view text, std::size_t limit) {
    if (text.size() <= limit) {
        return std::string(text);
    }
    return std::string(text.substr(0, limit)) + "...";
}

}  // namespace hookflow::connectors
