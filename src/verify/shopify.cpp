#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"

namespace hookflow::verify {

namespace {

// Classic webhooks use the X- names; Shopify's newer "Events" deliveries drop the prefix.
constexpr std::string_view kSignatureHeader = "X-Shopify-Hmac-Sha256";
constexpr std::string_view kEventsSignatureHeader = "Shopify-Hmac-Sha256";
constexpr std::string_view kTopicHeader = "X-Shopify-Topic";
constexpr std::string_view kEventsTopicHeader = "Shopify-Topic";
constexpr std::string_view kIdHeader = "X-Shopify-Webhook-Id";
constexpr std::string_view kEventsIdHeader = "Shopify-Webhook-Id";

const MacFormat kFormat{MacAlgorithm::sha256, MacEncoding::base64, ""};

std::optional<std::string> either_header(const Headers& headers,
                                         std::string_view classic,
                                         std::string_view events) {
    auto value = header_text(headers, classic);
    return value ? value : header_text(headers, events);
}

/// Shopify: `X-Shopify-Hmac-Sha256` = base64 HMAC-SHA256 of the body; the topic header is
/// required as Shopify's own library requires it.
class ShopifyVerifier final : public Verifier {
  public:
    explicit ShopifyVerifier(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {}

    std::string_view provider() const override { return "shopify"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (secrets_.empty()) {
            return rejection("no secret configured");
        }
        auto found = first_header(delivery.headers, {kSignatureHeader, kEventsSignatureHeader});
        if (!found) {
            return rejection("missing signature header");
        }
        if (count_header(delivery.headers, found->first) != 1) {
            return rejection("malformed signature header");
        }
        if (!mac_matches(kFormat, secrets_, delivery.body, {found->second})) {
            return rejection("no signature matched");
        }
        if (!either_header(delivery.headers, kTopicHeader, kEventsTopicHeader)) {
            return rejection("missing topic header");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json&) const override {
        return identity_of(either_header(delivery.headers, kIdHeader, kEventsIdHeader),
                           either_header(delivery.headers, kTopicHeader, kEventsTopicHeader));
    }

    /// Signs only; the caller adds the topic and webhook id headers it wants to send.
    // Limitation: a signed delivery still needs X-Shopify-Topic added before it verifies.
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

SchemeResult make_shopify_verifier(const config::SourceConfig& source) {
    return std::unique_ptr<Verifier>(std::make_unique<ShopifyVerifier>(source.secrets));
}

}  // namespace hookflow::verify
