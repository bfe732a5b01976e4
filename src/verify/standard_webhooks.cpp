#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>

namespace hookflow::verify {

namespace {

/// The three header names of one spelling of the scheme.
struct HeaderNames {
    std::string_view id;
    std::string_view timestamp;
    std::string_view signature;
};

// Standard Webhooks' names, and Svix's for the same scheme.
constexpr std::array<HeaderNames, 2> kSpellings = {{
    {"webhook-id", "webhook-timestamp", "webhook-signature"},
    {"svix-id", "svix-timestamp", "svix-signature"},
}};

constexpr std::string_view kSecretPrefix = "whsec_";
// Limitation: whpk_/whsk_ are read as base64 of raw Ed25519 keys; the spec leaves the
// encoding open, so a sender using another form fails as "no signature matched".
constexpr std::string_view kPublicKeyPrefix = "whpk_";
constexpr std::string_view kPrivateKeyPrefix = "whsk_";

constexpr std::size_t kEd25519KeySize = 32;

const MacFormat kFormat{MacAlgorithm::sha256, MacEncoding::base64, ""};

/// The spelling whose signature header is present, else the standard one.
const HeaderNames& spelling_of(const Headers& headers) {
    for (const auto& names : kSpellings) {
        if (find_header(headers, names.signature)) {
            return names;
        }
    }
    return kSpellings.front();
}

/// The `v1` and `v1a` entries of a space-separated `version,base64` list; others ignored.
struct Signatures {
    std::vector<std::string_view> v1;
    std::vector<std::string_view> v1a;
};

Signatures parse_signatures(std::string_view value) {
    Signatures out;
    while (!value.empty()) {
        auto space = value.find(' ');
        auto entry = value.substr(0, space);
        value = space == std::string_view::npos ? std::string_view{} : value.substr(space + 1);
        auto comma = entry.find(',');
        if (comma == std::string_view::npos) {
            continue;
        }
        auto version = entry.substr(0, comma);
        if (version == "v1") {
            out.v1.push_back(entry.substr(comma + 1));
        } else if (version == "v1a") {
            out.v1a.push_back(entry.substr(comma + 1));
        }
    }
    return out;
}

/// The bytes of a `prefix<base64>` key; the prefix is optional, as in the reference library.
std::optional<std::string> decode_key(std::string_view key, std::string_view prefix) {
    if (key.starts_with(prefix)) {
        key.remove_prefix(prefix.size());
    }
    auto bytes = from_base64(key);
    if (!bytes || bytes->empty()) {
        return std::nullopt;
    }
    return bytes;
}

/// Decodes every key; `size` is the byte length each must have, 0 for any.
Result<std::vector<std::string>> decode_keys(const std::vector<std::string>& keys,
                                             std::string_view prefix,
                                             std::size_t size,
                                             const std::string& what) {
    std::vector<std::string> out;
    for (std::size_t i = 0; i < keys.size(); ++i) {
        auto bytes = decode_key(keys[i], prefix);
        if (!bytes || (size != 0 && bytes->size() != size)) {
            return make_error(Errc::invalid_config,
                              what + "[" + std::to_string(i) + "] is not " + std::string(prefix) +
                                  " followed by base64 of the right length");
        }
        out.push_back(std::move(*bytes));
    }
    return out;
}

}  // namespace

namespace {

constexpr std::size_t kIdHashChars = 24;

/// The decoded keys of a source: HMAC secrets, Ed25519 public keys and an optional seed.
struct Keys {
    std::vector<std::string> secrets;
    std::vector<std::string> public_keys;
    std::string signing_seed;
};

std::string signed_text(std::string_view id, std::string_view timestamp, std::string_view body) {
    std::string text(id);
    text += '.';
    text += timestamp;
    text += '.';
    text += body;
    return text;
}

/// Standard Webhooks (and Svix): `v1` = base64 HMAC-SHA256 of "id.timestamp.body" keyed with
/// the base64-decoded `whsec_` secret, `v1a` = Ed25519 under a configured `whpk_` key; the
/// timestamp within the tolerance in both directions.
class StandardVerifier final : public Verifier {
  public:
    StandardVerifier(Keys keys, int tolerance_seconds)
        : keys_(std::move(keys)), tolerance_seconds_(tolerance_seconds) {}

    std::string_view provider() const override { return "standard"; }

    Result<void> verify(const Delivery& delivery) const override {
        if (keys_.secrets.empty() && keys_.public_keys.empty()) {
            return rejection("no secret configured");
        }
        const auto& names = spelling_of(delivery.headers);
        auto signature = find_header(delivery.headers, names.signature);
        auto id = find_header(delivery.headers, names.id);
        auto timestamp = find_header(delivery.headers, names.timestamp);
        if (!signature) {
            return rejection("missing signature header");
        }
        if (!id || !timestamp) {
            return rejection(!id ? "missing id header" : "missing timestamp header");
        }
        auto t = parse_unix_seconds(*timestamp);
        if (!t) {
            return rejection("malformed timestamp header");
        }
        if (!matches(parse_signatures(*signature), signed_text(*id, *timestamp, delivery.body))) {
            return rejection("no signature matched");
        }
        if (!within_tolerance(*t, delivery.received_unix, tolerance_seconds_)) {
            return rejection("timestamp outside tolerance");
        }
        return {};
    }

    Result<Identity> identify(const Delivery& delivery, const nlohmann::json& body) const override {
        const auto& names = spelling_of(delivery.headers);
        return identity_of(header_text(delivery.headers, names.id), body_string(body, "type"));
    }

    Result<Headers> sign(std::string_view body, std::int64_t now_unix) const override {
        if (keys_.secrets.empty() && keys_.signing_seed.empty()) {
            return make_error(Errc::invalid_config, "no secret configured");
        }
        auto timestamp = std::to_string(now_unix);
        auto id = "msg_" + body_hash(timestamp + "." + std::string(body)).substr(0, kIdHashChars);
        auto text = signed_text(id, timestamp, body);
        std::string signatures;
        if (!keys_.secrets.empty()) {
            signatures = "v1," + mac_text(kFormat, keys_.secrets.front(), text);
        }
        if (auto signature = ed25519_sign(keys_.signing_seed, text)) {
            signatures += (signatures.empty() ? "v1a," : " v1a,") + to_base64(*signature);
        }
        return Headers{{"webhook-id", id},
                       {"webhook-timestamp", timestamp},
                       {"webhook-signature", signatures}};
    }

  private:
    /// Every v1 entry against every secret and every v1a entry against every public key.
    bool matches(const Signatures& signatures, std::string_view text) const {
        bool v1 = mac_matches(kFormat, keys_.secrets, text, signatures.v1);
        bool v1a = false;
        for (auto entry : signatures.v1a) {
            auto raw = from_base64(entry);
            for (const auto& key : keys_.public_keys) {
                v1a = (raw && ed25519_verify(key, text, *raw)) || v1a;
            }
        }
        return v1 || v1a;
    }

    Keys keys_;
    int tolerance_seconds_;
};

/// A `whsk_` key: a 32-byte seed, or libsodium's 64-byte seed followed by the public key.
Result<std::string> decode_signing_key(const std::string& key) {
    if (key.empty()) {
        return std::string();
    }
    auto bytes = decode_key(key, kPrivateKeyPrefix);
    if (!bytes || (bytes->size() != kEd25519KeySize && bytes->size() != 2 * kEd25519KeySize)) {
        return make_error(Errc::invalid_config,
                          "signing_key is not whsk_ followed by a base64 Ed25519 key");
    }
    return bytes->substr(0, kEd25519KeySize);
}

}  // namespace

SchemeResult make_standard_verifier(const config::SourceConfig& source) {
    auto prefix = "source " + source.name + ": ";
    auto secrets = decode_keys(source.secrets, kSecretPrefix, 0, prefix + "secrets");
    auto public_keys =
        decode_keys(source.public_keys, kPublicKeyPrefix, kEd25519KeySize, prefix + "public_keys");
    auto seed = decode_signing_key(source.signing_key);
    if (!secrets || !public_keys || !seed) {
        return !secrets ? secrets.error() : !public_keys ? public_keys.error() : seed.error();
    }
    Keys keys{std::move(*secrets), std::move(*public_keys), std::move(*seed)};
    return std::unique_ptr<Verifier>(
        std::make_unique<StandardVerifier>(std::move(keys), source.tolerance_seconds));
}

}  // namespace hookflow::verify
