#include <string>
#include <string_view>

#include "schemes.hpp"

namespace hookflow::verify {

namespace {

constexpr std::string_view kDefaultType = "none.request";

/// No verification at all: only for a source that sets `provider: none` explicitly (ingest
/// warns about it at start-up). The delivery id is a hash of the body.
class NoneVerifier final : public Verifier {
  public:
    explicit NoneVerifier(std::string event_type)
        : event_type_(event_type.empty() ? std::string(kDefaultType) : std::move(event_type)) {}

    std::string_view provider() const override { return "none"; }

    Result<void> verify(const Delivery&) const override { return {}; }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json&) const override {
        return Identity{body_hash(delivery.body), event_type_};
    }

    Result<Headers> sign(std::string_view, std::int64_t) const override { return Headers{}; }

  private:
    std::string event_type_;
};

}  // namespace

SchemeResult make_none_verifier(const config::SourceConfig& source) {
    return std::unique_ptr<Verifier>(std::make_unique<NoneVerifier>(source.event_type));
}

}  // namespace hookflow::verify
