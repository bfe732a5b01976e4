#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>

namespace hookflow::verify {

namespace {

constexpr std::string_view kSignatureHeader = "X-Twilio-Signature";
constexpr std::string_view kSettingsHeader = "X-Twilio-Webhooks-Signature-Settings";
constexpr std::string_view kIdempotencyHeader = "I-Twilio-Idempotency-Token";
constexpr std::string_view kBodyHashParam = "bodySHA256";
constexpr std::string_view kDefaultType = "twilio.request";

/// The query of a request target, `?` included; empty when there is none.
std::string_view query_of(std::string_view target) {
    auto question = target.find('?');
    return question == std::string_view::npos ? std::string_view{} : target.substr(question);
}

/// The URL with its default port added, or removed when present, as Twilio's libraries try
/// both forms; nullopt for a URL that is neither http nor https.
std::optional<std::string> other_port_form(const std::string& url) {
    auto scheme_end = url.find("://");
    if (scheme_end == std::string::npos) {
        return std::nullopt;
    }
    auto scheme = to_lower(std::string_view(url).substr(0, scheme_end));
    std::string port = scheme == "https" ? ":443" : scheme == "http" ? ":80" : "";
    if (port.empty()) {
        return std::nullopt;
    }
    auto host_end = std::min(url.find_first_of("/?", scheme_end + 3), url.size());
    auto host = std::string_view(url).substr(scheme_end + 3, host_end - scheme_end - 3);
    if (host.ends_with(port)) {
        return url.substr(0, host_end - port.size()) + url.substr(host_end);
    }
    if (host.find(':') != std::string_view::npos && !host.ends_with(']')) {
        return std::nullopt;  // another explicit port: only the URL as is
    }
    return url.substr(0, host_end) + port + url.substr(host_end);
}

/// The signed text: the URL, then each form parameter as name+value, sorted by name and then
/// value, repeated pairs once (as twilio-node does).
std::string signed_text(const std::string& url, std::string_view form_body) {
    auto params = parse_form(form_body);
    std::sort(params.begin(), params.end());
    params.erase(std::unique(params.begin(), params.end()), params.end());
    std::string text = url;
    for (const auto& [name, value] : params) {
        text += name;
        text += value;
    }
    return text;
}

/// `algorithm=` of the signature-settings header: HMAC-SHA1 without it.
std::optional<MacAlgorithm> algorithm_of(const Headers& headers) {
    auto settings = find_header(headers, kSettingsHeader);
    if (!settings) {
        return MacAlgorithm::sha1;
    }
    // `key=...,algorithm=HMAC_SHA256`: the form parser reads it once commas become `&`.
    std::string text(*settings);
    std::replace(text.begin(), text.end(), ',', '&');
    for (const auto& [name, value] : parse_form(text)) {
        if (to_lower(name) == "algorithm") {
            if (value == "HMAC_SHA256") {
                return MacAlgorithm::sha256;
            }
            return value == "HMAC_SHA1" ? std::optional(MacAlgorithm::sha1) : std::nullopt;
        }
    }
    return MacAlgorithm::sha1;
}

/// The `bodySHA256` query parameter of a JSON delivery; nullopt for a form delivery.
std::optional<std::string> body_hash_param(std::string_view query) {
    auto params = parse_form(query.empty() ? query : query.substr(1));
    for (const auto& [name, value] : params) {
        if (name == kBodyHashParam) {
            return value;
        }
    }
    return std::nullopt;
}

}  // namespace

namespace {

/// Twilio: `X-Twilio-Signature` = base64 HMAC-SHA1 (or SHA-256 when the settings header asks)
/// of the public URL plus the sorted form parameters; a JSON body is covered by the URL's
/// `bodySHA256` instead.
class TwilioVerifier final : public Verifier {
  public:
    TwilioVerifier(const config::SourceConfig& source)
        : secrets_(source.secrets),
          public_url_(source.public_url),
          event_type_(source.event_type.empty() ? kDefaultType : source.event_type) {}

    std::string_view provider() const override { return "twilio"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (secrets_.empty()) {
            return rejection("no secret configured");
        }
        // Without a configured URL, only a trusted proxy's word says which URL was signed; the
        // Host header of anyone else would let a delivery signed for another of the account's
        // URLs be replayed here.
        auto base = public_url_.empty() ? delivery.forwarded_url : std::string_view(public_url_);
        if (base.empty()) {
            return rejection(delivery.forwarded_error.empty() ? "no public url configured"
                                                              : delivery.forwarded_error);
        }
        auto signature = find_header(delivery.headers, kSignatureHeader);
        if (!signature) {
            return rejection("missing signature header");
        }
        auto algorithm = algorithm_of(delivery.headers);
        if (!algorithm || count_header(delivery.headers, kSignatureHeader) != 1) {
            return rejection("malformed signature header");
        }
        auto query = query_of(delivery.target);
        auto body_param = body_hash_param(query);
        auto url = std::string(base) + std::string(query);
        auto text = signed_text(url, body_param ? std::string_view{} : delivery.body);
        if (!matches(*algorithm, url, text, *signature)) {
            return rejection("no signature matched");
        }
        if (body_param && !constant_time_equal(body_hash(delivery.body), to_lower(*body_param))) {
            return rejection("body hash mismatch");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json&) const override {
        auto id = header_text(delivery.headers, kIdempotencyHeader);
        return Identity{id.value_or(body_hash(delivery.body)), event_type_};
    }

    /// Signs a form body posted to the public URL without a query.
    // Limitation: JSON bodies (bodySHA256 in the URL) are verified but cannot be signed here.
    Result<Headers> sign(std::string_view body, std::int64_t) const override {
        if (secrets_.empty() || public_url_.empty()) {
            return make_error(Errc::invalid_config, "no secret or public url configured");
        }
        MacFormat format{MacAlgorithm::sha1, MacEncoding::base64, ""};
        return Headers{{std::string(kSignatureHeader),
                        mac_text(format, secrets_.front(), signed_text(public_url_, body))}};
    }

  private:
    /// Every secret against the URL as given and with its default port toggled.
    bool matches(MacAlgorithm algorithm,
                 const std::string& url,
                 const std::string& text,
                 std::string_view signature) const {
        MacFormat format{algorithm, MacEncoding::base64, ""};
        std::vector<std::string> texts{text};
        if (auto other = other_port_form(url)) {
            texts.push_back(*other + text.substr(url.size()));
        }
        std::vector<std::string> expected;
        for (const auto& variant : texts) {
            for (const auto& secret : secrets_) {
                expected.push_back(mac_text(format, secret, variant));
            }
        }
        return any_equal(expected, {signature});
    }

    std::vector<std::string> secrets_;
    std::string public_url_;
    std::string event_type_;
};

}  // namespace

SchemeResult make_twilio_verifier(const config::SourceConfig& source) {
    return std::unique_ptr<Verifier>(std::make_unique<TwilioVerifier>(source));
}

}  // namespace hookflow::verify
