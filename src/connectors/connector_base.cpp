#include "connector_base.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <exception>
#include <functional>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/headers.hpp>
#include <hookflow/common/json_limits.hpp>
#include <hookflow/common/log.hpp>

namespace hookflow::connectors {

namespace {

// Whether an answer body is JSON (as connectors read it) nested too deeply to parse safely.
bool too_deep_answer(std::string_view body) {
    auto first = body.find_first_not_of(" \t\r\n");
    return first != std::string_view::npos && (body[first] == '[' || body[first] == '{') &&
           json_too_deep(body);
}

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

constexpr int kMaxRedirects = 5;

/// A positive number from a setting; nullopt when absent; an error text when malformed.
Result<std::optional<double>> number_setting(const config::ConnectorConfig& config,
                                             const std::string& key) {
    auto it = config.settings.find(key);
    if (it == config.settings.end() || it->second.value.empty()) {
        return std::optional<double>();
    }
    const auto& text = it->second.value;
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !(value > 0) || value > 1e9) {
        return make_error(Errc::invalid_config,
                          "connectors." + config.name + "." + key +
                              ": expected a positive number, got '" + text + "'");
    }
    return std::optional<double>(value);
}

std::chrono::milliseconds seconds_ms(double seconds) {
    return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0));
}

/// Whether a redirect to `next` leaves the origin (scheme, host and port) of `url`.
std::string origin_of(std::string_view url) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string_view::npos) {
        return {};
    }
    auto path = url.find_first_of("/?#", scheme_end + 3);
    return std::string(url.substr(0, path));
}

}  // namespace

bool secret_key(std::string_view key) {
    // An incoming-webhook URL is itself the credential.
    if (key == "webhook_url") {
        return true;
    }
    while (!key.empty()) {
        auto cut = key.find_first_of("_-.");
        auto word = key.substr(0, cut);
        for (std::string_view secret : {"key", "apikey", "token", "secret", "password"}) {
            if (iequals(word, secret)) {
                return true;
            }
        }
        if (cut == std::string_view::npos) {
            break;
        }
        key.remove_prefix(cut + 1);
    }
    return false;
}

Result<ConnectorSettings> read_connector_settings(const config::ConnectorConfig& config) {
    ConnectorSettings out;
    struct Numeric {
        const char* key;
        std::function<void(double)> apply;
    };
    const Numeric numerics[] = {
        {"connect_timeout", [&](double v) { out.connect_timeout = seconds_ms(v); }},
        {"idle_timeout", [&](double v) { out.idle_timeout = seconds_ms(v); }},
        {"max_connections", [&](double v) { out.max_connections = static_cast<std::size_t>(v); }},
        {"max_response_bytes",
         [&](double v) { out.max_response_bytes = static_cast<std::size_t>(v); }},
        {"rate_limit.per_second", [&](double v) { out.rate_per_second = v; }},
        {"rate_limit.burst", [&](double v) { out.rate_burst = v; }},
    };
    for (const auto& numeric : numerics) {
        auto value = number_setting(config, numeric.key);
        if (!value) {
            return value.error();
        }
        if (*value) {
            numeric.apply(**value);
        }
    }
    if (auto it = config.settings.find("follow_redirects"); it != config.settings.end()) {
        const auto& text = it->second.value;
        if (text != "true" && text != "false") {
            return make_error(
                Errc::invalid_config,
                "connectors." + config.name + ".follow_redirects: expected true or false");
        }
        out.follow_redirects = text == "true";
    }
    if (auto it = config.settings.find("proxy"); it != config.settings.end()) {
        out.proxy = it->second.value == "none" ? std::string() : it->second.value;
        if (!out.proxy->empty()) {
            if (auto parsed = parse_proxy_url(*out.proxy); !parsed) {
                return make_error(Errc::invalid_config,
                                  "connectors." + config.name + "." + parsed.error().log_text);
            }
        }
    }
    if (auto it = config.settings.find("no_proxy"); it != config.settings.end()) {
        out.no_proxy = it->second.value;
    }
    return out;
}

namespace {

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
                                           : default_timeout),
      proxy_(ProxySettings::from_env()) {
    // Registry::build has refused a block whose settings do not read.
    if (auto settings = read_connector_settings(config_)) {
        settings_ = std::move(*settings);
    }
    if (settings_.proxy) {
        proxy_.http_proxy = proxy_.https_proxy = *settings_.proxy;
    }
    if (settings_.no_proxy) {
        proxy_.no_proxy = *settings_.no_proxy;
    }
    if (settings_.rate_per_second > 0) {
        auto burst = settings_.rate_burst > 0 ? settings_.rate_burst : settings_.rate_per_second;
        bucket_.emplace(settings_.rate_per_second, burst);
    }
    for (const auto* proxy : {&proxy_.http_proxy, &proxy_.https_proxy}) {
        auto parsed = parse_proxy_url(*proxy);
        if (parsed && !parsed->password.empty()) {
            secrets_.push_back(parsed->password);
        }
    }
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
    if (config_.base_url.empty() && needs_base_url(call)) {
        auto missing = config_.base_url_missing_var.empty() ? std::string("base_url")
                                                            : config_.base_url_missing_var;
        co_return fail("connector " + name() + ": " + missing + " is not set");
    }
    if (auto settings = read_connector_settings(config_); !settings) {
        co_return fail(settings.error().log_text);
    }
    std::string failure;
    try {
        auto result = co_await run(call);
        // Answers may echo a credential back (an error quoting the key): scrub what is stored.
        result.error = scrub(std::move(result.error), secrets_);
        if (!result.output.is_null()) {
            auto text = result.output.dump();
            auto clean = scrub(text, secrets_);
            if (clean != text) {
                auto parsed = parse_json(clean);
                result.output = parsed.is_discarded() ? nlohmann::json(clean) : parsed;
            }
        }
        co_return result;
    } catch (const std::exception& e) {
        // Typically a `with` value of the wrong JSON type.
        failure = name() + "." + call.action + ": " + scrub(e.what(), secrets_);
    }
    co_return fail(failure);
}

bool ConnectorBase::needs_base_url(const StepCall& /*call*/) const {
    return true;
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
    return with_transport(std::move(request));
}

HttpRequest ConnectorBase::with_transport(HttpRequest request) const {
    request.timeout = timeout_;
    request.connect_timeout =
        std::min<std::chrono::milliseconds>(settings_.connect_timeout, timeout_);
    request.ca_file = config_.ca_file;
    request.max_connections = settings_.max_connections;
    request.idle_timeout = settings_.idle_timeout;
    request.max_response_bytes = settings_.max_response_bytes;
    request.proxy = proxy_for(request.url, proxy_);
    return request;
}

boost::asio::awaitable<std::int64_t> ConnectorBase::wait_for_budget() {
    if (!bucket_) {
        co_return 0;
    }
    std::chrono::milliseconds wait{0};
    {
        std::lock_guard lock(bucket_mutex_);
        wait = bucket_->reserve(std::chrono::steady_clock::now());
    }
    if (wait.count() > 0) {
        // Waiting is not an attempt: nothing was sent, so nothing can fail.
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, wait);
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
    }
    co_return wait.count();
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
    result.rate_limit_wait_ms = co_await wait_for_budget();
    if (result.rate_limit_wait_ms > 0) {
        spdlog::info("connector rate limit wait {}",
                     logf::fields({{logf::kAction, name()},
                                   {"wait_ms", std::to_string(result.rate_limit_wait_ms)}}));
    }
    auto response = co_await client_.send(request);
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
    if (response->status >= 300 && response->status < 400 && response->status != 304) {
        auto followed = co_await handle_redirects(request, *response, result);
        co_return refuse_too_deep(std::move(followed), result);
    }
    co_return refuse_too_deep(std::move(response.value()), result);
}

std::optional<HttpResponse> ConnectorBase::refuse_too_deep(std::optional<HttpResponse> response,
                                                           StepResult& result) const {
    if (!response || !too_deep_answer(response->body)) {
        return response;
    }
    // The same answer would come again: retrying cannot help. The body is neither parsed nor
    // stored; only its size goes into the error.
    result.ok = false;
    result.retryable = false;
    result.error = name() + ": answer is " + json_depth_message() + " (" +
                   std::to_string(response->body.size()) + " bytes, status " +
                   std::to_string(response->status) + ")";
    return std::nullopt;
}

boost::asio::awaitable<std::optional<HttpResponse>> ConnectorBase::handle_redirects(
    HttpRequest& request, HttpResponse& response, StepResult& result) {
    for (int hop = 0;; ++hop) {
        auto location = find_header(response.headers, "location");
        auto target = location ? scrub(std::string(*location), secrets_) : std::string("nowhere");
        result.http_status = response.status;
        if (!settings_.follow_redirects || !location || hop >= kMaxRedirects) {
            result.ok = false;
            result.error = name() + ": answer " + std::to_string(response.status) +
                           " redirects to " + target +
                           (settings_.follow_redirects
                                ? " (too many redirects or no Location)"
                                : "; redirects are not followed (set follow_redirects: true on "
                                  "the connector, or fix its base_url)");
            co_return std::nullopt;
        }
        auto next = std::string(*location);
        if (next.starts_with("/")) {
            next = origin_of(request.url) + next;
        }
        // Credentials stay with the origin they were meant for.
        if (origin_of(next) != origin_of(request.url)) {
            std::erase_if(request.headers, [](const auto& h) { return secret_header(h.first); });
        }
        bool to_get =
            response.status == 303 ||
            ((response.status == 301 || response.status == 302) && request.method == "POST");
        if (to_get) {
            request.method = "GET";
            request.body.clear();
            std::erase_if(request.headers,
                          [](const auto& h) { return iequals(h.first, "content-type"); });
        }
        request.url = next;
        request = with_transport(std::move(request));
        result.request = redact_request(request, secrets_);
        auto again = co_await client_.send(request);
        if (!again) {
            result.ok = false;
            result.retryable = true;
            result.error = scrub(name() + ": " + again.error().log_text, secrets_);
            co_return std::nullopt;
        }
        response = std::move(*again);
        result.http_status = response.status;
        if (response.status < 300 || response.status >= 400 || response.status == 304) {
            co_return response;
        }
    }
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
    auto value = parse_json_bounded(text);
    return value ? std::move(value.value()) : nlohmann::json(nlohmann::json::value_t::discarded);
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
