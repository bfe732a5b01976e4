#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"

namespace hookflow::verify {

namespace {

constexpr std::string_view kSignatureHeader = "X-Slack-Signature";
constexpr std::string_view kTimestampHeader = "X-Slack-Request-Timestamp";
constexpr std::string_view kVersion = "v0";

const MacFormat kFormat{MacAlgorithm::sha256, MacEncoding::hex, std::string(kVersion) + "="};

std::string signed_text(std::string_view timestamp, std::string_view body) {
    std::string text(kVersion);
    text += ':';
    text += timestamp;
    text += ':';
    text += body;
    return text;
}

/// The event type: the Events API's `event.type`, else the top-level `type`
/// (`url_verification`, interactivity), else `slash_command` for a command form.
std::optional<std::string> type_of(const nlohmann::json& body) {
    if (auto type = json_path_string(body, "event.type")) {
        return type;
    }
    if (auto type = body_string(body, "type")) {
        return type;
    }
    if (body_string(body, "command")) {
        return "slash_command";
    }
    return std::nullopt;
}

/// Slack: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:{timestamp}:{body}")>`, with
/// the timestamp within the tolerance in both directions.
class SlackVerifier final : public Verifier {
  public:
    SlackVerifier(std::vector<std::string> secrets, int tolerance_seconds)
        : secrets_(std::move(secrets)), tolerance_seconds_(tolerance_seconds) {}

    std::string_view provider() const override { return "slack"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (secrets_.empty()) {
            return rejection("no secret configured");
        }
        auto found = signed_headers(delivery.headers, kSignatureHeader, kTimestampHeader);
        if (!found) {
            return found.error();
        }
        auto [signature, timestamp] = *found;
        auto t = parse_unix_seconds(timestamp);
        if (!t || !to_lower(signature).starts_with(kFormat.prefix)) {
            return rejection("malformed signature header");
        }
        if (!mac_matches(kFormat, secrets_, signed_text(timestamp, delivery.body), {signature})) {
            return rejection("no signature matched");
        }
        if (!within_tolerance(*t, delivery.received_unix, tolerance_seconds_)) {
            return rejection("timestamp outside tolerance");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json& body) const override {
        // Slash commands and interactivity carry no event id; retries of those are rare.
        auto id = body_string(body, "event_id");
        return identity_of(id.value_or(body_hash(delivery.body)), type_of(body));
    }

    Result<Headers> sign(std::string_view body, std::int64_t now_unix) const override {
        auto timestamp = std::to_string(now_unix);
        auto mac = signing_mac_text(kFormat, secrets_, signed_text(timestamp, body));
        if (!mac) {
            return mac.error();
        }
        return Headers{{std::string(kTimestampHeader), timestamp},
                       {std::string(kSignatureHeader), std::move(*mac)}};
    }

  private:
    std::vector<std::string> secrets_;
    int tolerance_seconds_;
};

}  // namespace

SchemeResult make_slack_verifier(const config::SourceConfig& source) {
    return std::unique_ptr<Verifier>(
        std::make_unique<SlackVerifier>(source.secrets, source.tolerance_seconds));
}

}  // namespace hookflow::verify
