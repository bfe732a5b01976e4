#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>
#include <hookflow/verify/stripe.hpp>

namespace hookflow::verify {

namespace {

constexpr std::string_view kHeader = "Stripe-Signature";
constexpr std::size_t kHexMacLength = 64;

/// The parts of a `Stripe-Signature` value that count.
struct SignatureHeader {
    std::int64_t t = 0;
    std::vector<std::string_view> v1;
};

/// Splits on `,` then on the first `=`, as Stripe's libraries do (no trimming). Keys other
/// than `t` and `v1` (v0, diagnostics, future schemes) are ignored.
std::optional<SignatureHeader> parse_header(std::string_view value) {
    SignatureHeader out;
    bool has_t = false;
    while (!value.empty()) {
        auto comma = value.find(',');
        auto item = value.substr(0, comma);
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
        auto equals = item.find('=');
        if (equals == std::string_view::npos) {
            continue;
        }
        auto key = item.substr(0, equals);
        auto text = item.substr(equals + 1);
        if (key == "t") {
            // stripe-node keeps the last t and stripe-python the first; refuse to guess.
            auto t = parse_unix_seconds(text);
            if (has_t || !t) {
                return std::nullopt;
            }
            has_t = true;
            out.t = *t;
        } else if (key == "v1") {
            out.v1.push_back(text);
        }
    }
    if (!has_t) {
        return std::nullopt;
    }
    return out;
}

/// Whether any v1 matches any secret. Every pair is compared, so the time taken does not
/// say which secret or which entry matched.
bool any_match(const SignatureHeader& header,
               std::string_view body,
               const std::vector<std::string>& secrets) {
    unsigned matches = 0;
    for (const auto& secret : secrets) {
        auto expected = stripe_signature_hex(secret, body, header.t);
        for (auto candidate : header.v1) {
            bool well_formed = candidate.size() == kHexMacLength;
            matches |=
                static_cast<unsigned>(well_formed && constant_time_equal(expected, candidate));
        }
    }
    return matches != 0;
}

}  // namespace

std::string stripe_signature_hex(std::string_view secret, std::string_view body, std::int64_t t) {
    std::string signed_payload = std::to_string(t);
    signed_payload += '.';
    signed_payload += body;
    return to_hex(hmac_sha256(secret, signed_payload));
}

Result<void> verify_stripe(const Headers& headers,
                           std::string_view body,
                           const std::vector<std::string>& secrets,
                           int tolerance_seconds,
                           std::int64_t now_unix) {
    if (secrets.empty()) {
        return rejection("no secret configured");
    }
    auto value = find_header(headers, kHeader);
    if (!value) {
        return rejection("missing signature header");
    }
    auto header = parse_header(*value);
    if (count_header(headers, kHeader) != 1 || !header) {
        return rejection("malformed signature header");
    }

    // The signature is checked before the age, so an old but authentic delivery is reported
    // as a replay and a forged one as a forgery.
    if (!any_match(*header, body, secrets)) {
        return rejection("no signature matched");
    }
    if (tolerance_seconds > 0 && now_unix - header->t > tolerance_seconds) {
        return rejection("timestamp outside tolerance");
    }
    return {};
}

std::string stripe_signature(std::string_view secret, std::string_view body, std::int64_t t) {
    return "t=" + std::to_string(t) + ",v1=" + stripe_signature_hex(secret, body, t);
}

namespace {

/// Stripe's scheme: `Stripe-Signature`, event id and type from the JSON body.
class StripeVerifier final : public Verifier {
  public:
    StripeVerifier(std::vector<std::string> secrets, int tolerance_seconds)
        : secrets_(std::move(secrets)), tolerance_seconds_(tolerance_seconds) {}

    std::string_view provider() const override { return "stripe"; }

    Result<void> verify(const Delivery& delivery) const override {
        return verify_stripe(
            delivery.headers, delivery.body, secrets_, tolerance_seconds_, delivery.received_unix);
    }

    Result<Identity> identify(const Delivery&, const nlohmann::json& body) const override {
        auto id = body_string(body, "id");
        if (!id) {
            return make_error(Errc::bad_request, "body has no event id");
        }
        auto type = body_string(body, "type");
        if (!type) {
            return make_error(Errc::bad_request, "body has no event type");
        }
        return Identity{*id, *type};
    }

    Result<Headers> sign(std::string_view body, std::int64_t now_unix) const override {
        if (secrets_.empty()) {
            return make_error(Errc::invalid_config, "no secret configured");
        }
        return Headers{{std::string(kHeader), stripe_signature(secrets_.front(), body, now_unix)}};
    }

  private:
    std::vector<std::string> secrets_;
    int tolerance_seconds_;
};

}  // namespace

std::unique_ptr<Verifier> make_stripe_verifier(const config::SourceConfig& source) {
    return std::make_unique<StripeVerifier>(source.secrets, source.tolerance_seconds);
}

}  // namespace hookflow::verify
