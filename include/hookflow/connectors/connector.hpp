#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/connectors/rest_client.hpp>

namespace hookflow::connectors {

/// One step's call of a connector action, `with` already rendered.
struct StepCall {
    std::string run_id;
    std::string step_id;
    std::string action;  // after the dot: `request`, `chat`, `send`, `post`
    int attempt = 1;
    nlohmann::json with = nlohmann::json::object();
};

/// What a call did. `request` is what was sent, with credentials replaced by `***`.
struct StepResult {
    bool ok = false;
    nlohmann::json output;                // the action's output (see docs/connectors.md)
    nlohmann::json request;               // method, url, headers, body; redacted
    int http_status = 0;                  // 0 when no answer came
    std::string error;                    // for the operator; never holds a credential
    bool retryable = false;               // network errors, timeouts, 429, 5xx
    std::int64_t retry_after_ms = -1;     // from `Retry-After` on 429/503; -1 when absent
    std::int64_t rate_limit_wait_ms = 0;  // time spent waiting for the connector's rate budget
};

/// Reads a `Retry-After` value: delay-seconds (`120`) or an HTTP-date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`, also the RFC 850 and asctime forms), as milliseconds
/// from `now_ms` (0 for a date already past). -1 when the value is neither.
std::int64_t parse_retry_after_ms(std::string_view value, std::int64_t now_ms);

/// A kind of API: builds requests for its actions and reads the provider's answers.
class Connector {
  public:
    virtual ~Connector() = default;
    /// The connector's name in `uses:` (the config block's key).
    virtual const std::string& name() const = 0;
    /// Whether `action` exists for this connector.
    virtual bool has_action(std::string_view action) const = 0;
    /// Performs one call. Never throws; every failure is a StepResult with ok=false.
    virtual boost::asio::awaitable<StepResult> call(const StepCall& call) = 0;
};

/// Every configured connector, plus `http` which needs no config.
class Registry {
  public:
    /// Builds connectors from `config.connectors`. Errc::invalid_config for an unknown
    /// connector type. A missing credential is not an error here: the steps fail.
    static Result<std::unique_ptr<Registry>> build(const config::Config& config,
                                                   RestClient& client);

    /// The connector named `name`, or null.
    Connector* find(std::string_view name) const;

    /// Connector names, sorted.
    std::vector<std::string> names() const;

    /// Adds a connector under its name(), replacing one of the same name (tests, composition).
    void add(std::unique_ptr<Connector> connector) {
        auto name = connector->name();
        connectors_[name] = std::move(connector);
    }

  private:
    std::map<std::string, std::unique_ptr<Connector>, std::less<>> connectors_;
};

/// Encodes a JSON object in Stripe's bracket form: `a[b]=1&c[0]=x`, keys in object order,
/// RFC 3986 percent-encoding with brackets kept. Null values are sent as empty strings.
std::string stripe_form_encode(const nlohmann::json& object);

}  // namespace hookflow::connectors
