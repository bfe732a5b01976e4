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

  private:
    std::unique_ptr<Verifier> scheme_;
};

std::unique_ptr<Verifier> make_scheme(const config::SourceConfig& source) {
    if (source.provider == "stripe") {
        return make_stripe_verifier(source);
    }
    return nullptr;
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

Result<std::unique_ptr<Verifier>> make_verifier(const config::SourceConfig& source) {
    auto scheme = make_scheme(source);
    if (!scheme) {
        return make_error(Errc::invalid_config,
                          "source " + source.name + ": unknown provider " + source.provider);
    }
    if (!source.secrets.empty()) {
        return scheme;
    }

    // Start-up goes on so the other sources keep working; this one answers 401 until fixed
    // (ingest::build_sources says so in the log).
    return std::unique_ptr<Verifier>(std::make_unique<UnconfiguredVerifier>(std::move(scheme)));
}

}  // namespace hookflow::verify
