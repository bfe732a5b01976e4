#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>

namespace hookflow::verify {

namespace {

constexpr std::string_view kSignatureHeader = "X-Twilio-Email-Event-Webhook-Signature";
constexpr std::string_view kTimestampHeader = "X-Twilio-Email-Event-Webhook-Timestamp";
constexpr std::string_view kBatchType = "sendgrid.batch";

/// A key as the SendGrid UI shows it (bare base64 DER) or as PEM, in DER form.
std::optional<std::string> key_der(const std::string& key) {
    if (key.starts_with("-----BEGIN")) {
        return ecdsa_p256_public_key_der(key);
    }
    auto der = from_base64(key);
    return der ? ecdsa_p256_public_key_der(*der) : std::nullopt;
}

Result<std::vector<std::string>> decode_public_keys(const config::SourceConfig& source) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < source.public_keys.size(); ++i) {
        auto der = key_der(source.public_keys[i]);
        if (!der) {
            return make_error(Errc::invalid_config,
                              "source " + source.name + ": public_keys[" + std::to_string(i) +
                                  "] is not an ECDSA P-256 public key (base64 DER or PEM)");
        }
        out.push_back(std::move(*der));
    }
    return out;
}

/// One event of a batch: its `sg_event_id` and `event`.
Result<Item> item_of(const nlohmann::json& event) {
    auto identity = identity_of(body_string(event, "sg_event_id"), body_string(event, "event"));
    if (!identity) {
        return identity.error();
    }
    return Item{identity->delivery_id, identity->type, event};
}

/// SendGrid's Event Webhook: base64 DER ECDSA P-256/SHA-256 signature of `timestamp + body`
/// under a configured public key. SendGrid documents no window; the source's tolerance
/// applies in both directions (0 disables it).
class SendgridVerifier final : public Verifier {
  public:
    SendgridVerifier(std::vector<std::string> keys, std::string signing_key, int tolerance)
        : keys_(std::move(keys)), signing_key_(std::move(signing_key)), tolerance_(tolerance) {}

    std::string_view provider() const override { return "sendgrid"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (keys_.empty()) {
            return rejection("no secret configured");
        }
        auto found = signed_headers(delivery.headers, kSignatureHeader, kTimestampHeader);
        if (!found) {
            return found.error();
        }
        auto [signature, timestamp] = *found;
        auto t = parse_unix_seconds(timestamp);
        auto der = from_base64(signature);
        if (!t || !der) {
            return rejection("malformed signature header");
        }
        std::string text(timestamp);
        text += delivery.body;
        bool matched = false;
        for (const auto& key : keys_) {
            matched = ecdsa_p256_verify(key, text, *der) || matched;
        }
        if (!matched) {
            return rejection("no signature matched");
        }
        if (!within_tolerance(*t, delivery.received_unix, tolerance_)) {
            return rejection("timestamp outside tolerance");
        }
        return {};
    }

    /// The batch as a whole: a hash of the body, type `sendgrid.batch`; split gives the events.
    Result<Identity> identify(const Delivery& delivery, const nlohmann::json&) const override {
        return Identity{body_hash(delivery.body), std::string(kBatchType)};
    }

    // Limitation: one event without sg_event_id or event refuses the whole batch (400), and
    // SendGrid retries it for up to a day.
    Result<std::vector<Item>> split(const Delivery&, const nlohmann::json& body) const override {
        if (!body.is_array()) {
            return make_error(Errc::bad_request, "body is not a JSON array of events");
        }
        std::vector<Item> items;
        for (const auto& event : body) {
            auto item = item_of(event);
            if (!item) {
                return item.error();
            }
            items.push_back(std::move(*item));
        }
        return items;
    }

    Result<Headers> sign(std::string_view body, std::int64_t now_unix) const override {
        auto timestamp = std::to_string(now_unix);
        auto signature = ecdsa_p256_sign(signing_key_, timestamp + std::string(body));
        if (!signature) {
            return make_error(Errc::invalid_config,
                              "provider sendgrid cannot sign without a private key");
        }
        return Headers{{std::string(kSignatureHeader), to_base64(*signature)},
                       {std::string(kTimestampHeader), timestamp}};
    }

  private:
    std::vector<std::string> keys_;
    std::string signing_key_;
    int tolerance_;
};

}  // namespace

SchemeResult make_sendgrid_verifier(const config::SourceConfig& source) {
    auto keys = decode_public_keys(source);
    if (!keys) {
        return keys.error();
    }
    return std::unique_ptr<Verifier>(std::make_unique<SendgridVerifier>(
        std::move(*keys), source.signing_key, source.tolerance_seconds));
}

}  // namespace hookflow::verify
