#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"

namespace hookflow::verify {

namespace {

constexpr std::string_view kHeaderRef = "header:";
constexpr std::string_view kDefaultType = "hmac.request";

MacFormat format_of(const config::HmacSettings& settings) {
    MacFormat format;
    format.algorithm = settings.algorithm == "sha1"     ? MacAlgorithm::sha1
                       : settings.algorithm == "sha512" ? MacAlgorithm::sha512
                                                        : MacAlgorithm::sha256;
    format.encoding = settings.encoding == "base64" ? MacEncoding::base64 : MacEncoding::hex;
    format.prefix = settings.prefix;
    return format;
}

/// A value named by `header:Name` or by a JSON path into the body.
std::optional<std::string> lookup(const std::string& spec,
                                  const Delivery& delivery,
                                  const nlohmann::json& body) {
    if (spec.starts_with(kHeaderRef)) {
        return header_text(delivery.headers, std::string_view(spec).substr(kHeaderRef.size()));
    }
    return json_path_string(body, spec);
}

/// Whether the header value starts with the configured prefix (any case for hex).
bool has_prefix(const MacFormat& format, std::string_view value) {
    auto head = value.substr(0, format.prefix.size());
    if (format.encoding == MacEncoding::hex) {
        return to_lower(head) == to_lower(format.prefix);
    }
    return head == format.prefix;
}

/// A generic HMAC scheme described by the source's keys: the MAC of the body, or of
/// `{timestamp}.{body}` when a timestamp header is configured, in one header.
class HmacVerifier final : public Verifier {
  public:
    explicit HmacVerifier(const config::SourceConfig& source)
        : secrets_(source.secrets),
          settings_(source.hmac),
          format_(format_of(source.hmac)),
          event_type_(source.event_type),
          tolerance_seconds_(source.tolerance_seconds) {}

    std::string_view provider() const override { return "hmac"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (secrets_.empty()) {
            return rejection("no secret configured");
        }
        auto signature = find_header(delivery.headers, settings_.header);
        if (!signature) {
            return rejection("missing signature header");
        }
        if (count_header(delivery.headers, settings_.header) != 1 ||
            !has_prefix(format_, *signature)) {
            return rejection("malformed signature header");
        }
        auto text = signed_text(delivery);
        if (!text) {
            return text.error();
        }
        if (!mac_matches(format_, secrets_, text->text, {*signature})) {
            return rejection("no signature matched");
        }
        if (text->t && !within_tolerance(*text->t, delivery.received_unix, tolerance_seconds_)) {
            return rejection("timestamp outside tolerance");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json& body) const override {
        auto id = settings_.delivery_id.empty()
                      ? std::optional<std::string>(body_hash(delivery.body))
                      : lookup(settings_.delivery_id, delivery, body);
        auto type = event_type_.empty() ? std::optional<std::string>(kDefaultType)
                                        : lookup(event_type_, delivery, body);
        return identity_of(std::move(id), std::move(type));
    }

    Result<Headers> sign(std::string_view body, std::int64_t now_unix) const override {
        Headers headers;
        std::string text(body);
        if (!settings_.timestamp_header.empty()) {
            auto timestamp = std::to_string(now_unix);
            text = timestamp + "." + text;
            headers.emplace_back(settings_.timestamp_header, timestamp);
        }
        auto mac = signing_mac_text(format_, secrets_, text);
        if (!mac) {
            return mac.error();
        }
        headers.emplace_back(settings_.header, std::move(*mac));
        return headers;
    }

  private:
    /// The text the MAC covers, with its timestamp when the scheme has one.
    struct SignedText {
        std::string text;
        std::optional<std::int64_t> t;
    };

    Result<SignedText> signed_text(const Delivery& delivery) const {
        if (settings_.timestamp_header.empty()) {
            return SignedText{std::string(delivery.body), std::nullopt};
        }
        auto timestamp = find_header(delivery.headers, settings_.timestamp_header);
        if (!timestamp) {
            return rejection("missing timestamp header");
        }
        auto t = parse_unix_seconds(*timestamp);
        if (!t) {
            return rejection("malformed timestamp header");
        }
        return SignedText{std::string(*timestamp) + "." + std::string(delivery.body), t};
    }

    std::vector<std::string> secrets_;
    config::HmacSettings settings_;
    MacFormat format_;
    std::string event_type_;
    int tolerance_seconds_;
};

}  // namespace

SchemeResult make_hmac_verifier(const config::SourceConfig& source) {
    if (source.hmac.header.empty()) {
        return make_error(Errc::invalid_config,
                          "source " + source.name + ": provider hmac needs key 'header'");
    }
    return std::unique_ptr<Verifier>(std::make_unique<HmacVerifier>(source));
}

}  // namespace hookflow::verify
