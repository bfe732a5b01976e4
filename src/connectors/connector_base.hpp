#pragma once

// Plumbing shared by the connectors in this folder; not a public interface.

#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::connectors {

/// The transport settings every connector block may hold (see docs/connectors.md).
struct ConnectorSettings {
    std::chrono::milliseconds connect_timeout{10000};
    std::size_t max_connections = 8;
    std::chrono::milliseconds idle_timeout{50000};
    std::size_t max_response_bytes = 16 * 1024 * 1024;
    bool follow_redirects = false;
    double rate_per_second = 0;           // 0: no rate limit
    double rate_burst = 0;                // 0: same as rate_per_second (at least 1)
    std::optional<std::string> proxy;     // set: overrides the environment ("" or none: direct)
    std::optional<std::string> no_proxy;  // set: overrides NO_PROXY
};

/// Reads a block's transport settings; Errc::invalid_config names a bad value.
Result<ConnectorSettings> read_connector_settings(const config::ConnectorConfig& config);

/// Whether a config key names a credential (`api_key`, `token`, `bot_token`, `password`...):
/// one of its `_`-separated words is key, token, secret or password.
bool secret_key(std::string_view key);

/// A credential lookup: the value, or the step error that names what is missing.
struct Credential {
    std::string value;
    std::string error;  // non-empty: fail the step with this
    bool present = false;
};

/// What the connectors share: config, client, credentials, redaction and sending.
class ConnectorBase : public Connector {
  public:
    ConnectorBase(config::ConnectorConfig config,
                  RestClient& client,
                  std::chrono::seconds default_timeout);

    const std::string& name() const override { return config_.name; }

    /// Runs `run` for a known action and turns any stray exception into a failed step.
    boost::asio::awaitable<StepResult> call(const StepCall& call) final;

  protected:
    /// The action itself; may throw on malformed `with` values (caught by call()).
    virtual boost::asio::awaitable<StepResult> run(const StepCall& call) = 0;

    /// Whether `call` goes to `base_url` (so that an unset one fails the step).
    virtual bool needs_base_url(const StepCall& call) const;

    /// Looks up the credential setting `key`; an absent, empty or unset-`${VAR}` one is an error.
    Credential credential(const std::string& key) const;

    /// A plain setting's value; empty when absent or unset.
    std::string setting(const std::string& key) const;

    /// A request to `base_url` + `path` with this connector's timeouts, pool limits, CA file
    /// and proxy.
    HttpRequest make_request(std::string method, std::string_view path) const;

    /// `request` with this connector's transport settings (timeouts, pool, CA file, proxy) for
    /// its own URL.
    HttpRequest with_transport(HttpRequest request) const;

    /// Sends `request`, recording it (redacted) in `result`, after waiting for the rate-limit
    /// budget. A 3xx answer fails the step unless `follow_redirects` is set. On a transport
    /// failure `result` is filled as a retryable failure and nullopt comes back.
    boost::asio::awaitable<std::optional<HttpResponse>> send(HttpRequest request,
                                                             StepResult& result);

    /// A failed StepResult that sent nothing.
    static StepResult fail(std::string error, bool retryable = false);

    /// The failure for an action this connector lacks.
    StepResult unknown_action(std::string_view action) const;

    config::ConnectorConfig config_;
    RestClient& client_;
    std::chrono::seconds timeout_;
    std::vector<std::string> secrets_;  // credential values to scrub from recorded requests

  private:
    /// Waits for the rate-limit budget; returns the milliseconds waited.
    boost::asio::awaitable<std::int64_t> wait_for_budget();
    /// `response` unless its body is JSON nested deeper than kMaxJsonDepth; then `result` is
    /// filled as a non-retryable failure and nullopt comes back.
    std::optional<HttpResponse> refuse_too_deep(std::optional<HttpResponse> response,
                                                StepResult& result) const;
    /// Follows redirects (when allowed) or turns a 3xx answer into a failed step.
    boost::asio::awaitable<std::optional<HttpResponse>> handle_redirects(HttpRequest& request,
                                                                         HttpResponse& response,
                                                                         StepResult& result);

    ConnectorSettings settings_;
    ProxySettings proxy_;
    std::mutex bucket_mutex_;
    std::optional<TokenBucket> bucket_;
};

/// Whether `with.<field>` is missing, null, or an empty string, array or object.
bool field_missing(const nlohmann::json& with, std::string_view field);

/// An HTTP method in upper case.
std::string upper(std::string text);

/// "with.<field> is required".
std::string required_message(std::string_view field);

/// A string field of `with`, or `fallback` when absent or not a string.
std::string string_field(const nlohmann::json& with,
                         std::string_view field,
                         std::string_view fallback = {});

/// Parses JSON; a discarded value when `text` is not JSON or is nested deeper than
/// kMaxJsonDepth.
nlohmann::json parse_json(const std::string& text);

/// 429 and 5xx: the provider may answer differently later.
bool retryable_status(int status);

/// Whether an HTTP status is 2xx.
bool success_status(int status);

/// The recorded form of a request: method, url, headers, body, with credential headers and
/// every occurrence of a secret replaced by `***`.
nlohmann::json redact_request(const HttpRequest& request, const std::vector<std::string>& secrets);

/// Replaces every occurrence of each secret in `text` with `***`.
std::string scrub(std::string text, const std::vector<std::string>& secrets);

/// The first `limit` bytes of `text`, for error messages.
std::string excerpt(std::string_view text, std::size_t limit = 200);

/// Each connector kind's factory.
std::unique_ptr<Connector> make_stripe(config::ConnectorConfig config, RestClient& client);
std::unique_ptr<Connector> make_crm(config::ConnectorConfig config, RestClient& client);
std::unique_ptr<Connector> make_llm(config::ConnectorConfig config, RestClient& client);
std::unique_ptr<Connector> make_sendgrid(config::ConnectorConfig config, RestClient& client);
std::unique_ptr<Connector> make_slack(config::ConnectorConfig config, RestClient& client);
std::unique_ptr<Connector> make_http(config::ConnectorConfig config, RestClient& client);

}  // namespace hookflow::connectors
