#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/json_limits.hpp>

namespace hookflow::verify {

namespace {

constexpr std::string_view kSignatureHeader = "X-Hub-Signature-256";
constexpr std::string_view kDeliveryHeader = "X-GitHub-Delivery";
constexpr std::string_view kEventHeader = "X-GitHub-Event";
constexpr std::string_view kPrefix = "sha256=";

const MacFormat kFormat{MacAlgorithm::sha256, MacEncoding::hex, std::string(kPrefix)};

/// `action` of the body; a form delivery carries the JSON in its `payload` field.
std::optional<std::string> action_of(const nlohmann::json& body) {
    if (auto action = body_string(body, "action")) {
        return action;
    }
    auto payload = body_string(body, "payload");
    if (!payload) {
        return std::nullopt;
    }
    auto value = parse_json_bounded(*payload);
    return value ? body_string(*value, "action") : std::nullopt;
}

/// GitHub: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`; the legacy SHA-1
/// header alone is not accepted.
class GithubVerifier final : public Verifier {
  public:
    explicit GithubVerifier(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

    std::string_view provider() const override { return "github"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (secrets_.empty()) {
            return rejection("no secret configured");
        }
        auto value = find_header(delivery.headers, kSignatureHeader);
        if (!value) {
            return rejection("missing signature header");
        }
        if (count_header(delivery.headers, kSignatureHeader) != 1 ||
            !to_lower(value->substr(0, kPrefix.size())).starts_with(kPrefix)) {
            return rejection("malformed signature header");
        }
        if (!mac_matches(kFormat, secrets_, delivery.body, {*value})) {
            return rejection("no signature matched");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json& body) const override {
        auto type = header_text(delivery.headers, kEventHeader);
        if (auto action = action_of(body); type && action) {
            *type += "." + *action;
        }
        return identity_of(header_text(delivery.headers, kDeliveryHeader), type);
    }

    Result<Headers> sign(std::string_view body, std::int64_t) const override {
        auto mac = signing_mac_text(kFormat, secrets_, body);
        if (!mac) {
            return mac.error();
        }
        return Headers{{std::string(kSignatureHeader), std::move(*mac)}};
    }

  private:
    std::vector<std::string> secrets_;
};

}  // namespace

SchemeResult make_github_verifier(const config::SourceConfig& source) {
    return std::unique_ptr<Verifier>(std::make_unique<GithubVerifier>(source.secrets));
}

}  // namespace hookflow::verify
