#pragma once

// Plumbing shared by the connectors in this folder; not a public interface.

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <hookflow/config/config.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::connectors {

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

    /// Looks up the credential setting `key`; an absent, empty or unset-`${VAR}` one is an error.
    Credential credential(const std::string& key) const;

    /// A plain setting's value; empty when absent or unset.
    std::string setting(const std::string& key) const;

    /// A request to `base_url` + `path` with this connector's timeouts and CA file.
    HttpRequest make_request(std::string method, std::string_view path) const;

    /// Sends `request`, recording it (redacted) in `result`. On a transport failure `result`
    /// is filled as a retryable failure and nullopt comes back.
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

/// Parses JSON; a discarded value when `text` is not JSON.
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
