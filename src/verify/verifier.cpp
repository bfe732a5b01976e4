#include <array>
#include <string>
#include <utility>

#include "schemes.hpp"
#include <hookflow/common/log.hpp>
#include <hookflow/verify/verifier.hpp>

namespace hookflow::verify {

namespace {

/// Stands in for a source whose secrets are all unset: the provider's rules for identity,
/// but no delivery passes and nothing can be signed.
class UnconfiguredVerifier final : public Verifier {
  public:
    explicit UnconfiguredVerifier(std::unique_ptr<Verifier> scheme) : scheme_(std::move(scheme)) {}

    std::string_view provider() const override { return scheme_->provider(); }

    Result<void> verify(const Delivery&) const override {
        return make_error(Errc::unauthorized, "no secret configured");
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json& body) const override {
        return scheme_->identify(delivery, body);
    }

    Result<Headers> sign(std::string_view, std::int64_t) const override {
        return make_error(Errc::invalid_config, "no secret configured");
    }

    Result<std::vector<Item>> split(const Delivery& delivery,
                                    const nlohmann::json& body) const override {
        return scheme_->split(delivery, body);
    }

  private:
    std::unique_ptr<Verifier> scheme_;
};

SchemeResult make_stripe_scheme(const config::SourceConfig& source) {
    return make_stripe_verifier(source);
}

/// The providers by name, each with its scheme's factory.
struct SchemeEntry {
    std::string_view provider;
    SchemeResult (*make)(const config::SourceConfig&);
};

constexpr std::array<SchemeEntry, 9> kSchemes = {{
    {"stripe", make_stripe_scheme},
    {"github", make_github_verifier},
    {"slack", make_slack_verifier},
    {"standard", make_standard_verifier},
    {"shopify", make_shopify_verifier},
    {"sendgrid", make_sendgrid_verifier},
    {"twilio", make_twilio_verifier},
    {"hmac", make_hmac_verifier},
    {"none", make_none_verifier},
}};

SchemeResult make_scheme(const config::SourceConfig& source) {
    for (const auto& entry : kSchemes) {
        if (entry.provider == source.provider) {
            return entry.make(source);
        }
    }
    return make_error(Errc::invalid_config,
                      "source " + source.name + ": unknown provider " + source.provider);
}

}  // namespace

std::optional<std::string> body_string(const nlohmann::json& body, const std::string& key) {
    if (!body.is_object()) {
        return std::nullopt;
    }
    auto it = body.find(key);
    if (it == body.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
        return std::nullopt;
    }
    return it->get<std::string>();
}

Result<std::vector<Item>> Verifier::split(const Delivery& delivery,
                                          const nlohmann::json& body) const {
    auto identity = identify(delivery, body);
    if (!identity) {
        return identity.error();
    }
    return std::vector<Item>{Item{identity->delivery_id, identity->type, body}};
}

bool has_credentials(const config::SourceConfig& source) {
    if (source.provider == "none") {
        return true;
    }
    if (source.provider == "sendgrid") {
        return !source.public_keys.empty();
    }
    if (source.provider == "standard") {
        return !source.secrets.empty() || !source.public_keys.empty();
    }
    return !source.secrets.empty();
}

Result<std::unique_ptr<Verifier>> make_verifier(const config::SourceConfig& source) {
    auto scheme = make_scheme(source);
    if (!scheme) {
        return scheme.error();
    }
    if (has_credentials(source)) {
        return scheme;
    }

    // Start-up goes on so the other sources keep working; this one answers 401 until fixed
    // (ingest::build_sources says so in the log).
    return std::unique_ptr<Verifier>(
        std::make_unique<UnconfiguredVerifier>(std::move(scheme).value()));
}

}  // namespace hookflow::verify
