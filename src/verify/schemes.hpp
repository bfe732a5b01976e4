#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/form.hpp>
#include <hookflow/common/headers.hpp>
#include <hookflow/common/result.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/verify/verifier.hpp>

// The signature schemes, one per file; verifier.cpp picks one by provider name.
namespace hookflow::verify {

/// Lower-case hex HMAC-SHA256 of "t.body" keyed with the whole secret (`whsec_` included).
std::string stripe_signature_hex(std::string_view secret, std::string_view body, std::int64_t t);

/// A scheme's verifier for a source; Errc::invalid_config when its keys cannot be used.
using SchemeResult = Result<std::unique_ptr<Verifier>>;

/// Stripe's verifier for a source; it rejects everything when the source has no secret.
std::unique_ptr<Verifier> make_stripe_verifier(const config::SourceConfig& source);
SchemeResult make_github_verifier(const config::SourceConfig& source);
SchemeResult make_slack_verifier(const config::SourceConfig& source);
SchemeResult make_standard_verifier(const config::SourceConfig& source);
SchemeResult make_shopify_verifier(const config::SourceConfig& source);
SchemeResult make_sendgrid_verifier(const config::SourceConfig& source);
SchemeResult make_twilio_verifier(const config::SourceConfig& source);
SchemeResult make_hmac_verifier(const config::SourceConfig& source);
SchemeResult make_none_verifier(const config::SourceConfig& source);

/// The string at `key` of a JSON object; nullopt when absent, not a string, or empty.
std::optional<std::string> body_string(const nlohmann::json& body, const std::string& key);

/// The string (or integer, as text) at a dotted path such as `event.type`; nullopt when
/// absent, empty or of another kind.
std::optional<std::string> json_path_string(const nlohmann::json& body, std::string_view path);

/// A rejection: Errc::unauthorized with a short fixed reason.
Error rejection(std::string_view reason);

/// The signature and timestamp header values of a scheme that signs a timestamp.
struct SignedHeaders {
    std::string_view signature;
    std::string_view timestamp;
};

/// Both headers, or the rejection naming the one that is missing (the signature first).
Result<SignedHeaders> signed_headers(const Headers& headers,
                                     std::string_view signature_header,
                                     std::string_view timestamp_header);

/// Unix seconds written as 1 to 18 ASCII digits; nullopt for anything else.
std::optional<std::int64_t> parse_unix_seconds(std::string_view text);

/// Whether `t` is within `tolerance_seconds` of `now` in either direction; 0 disables.
bool within_tolerance(std::int64_t t, std::int64_t now, int tolerance_seconds);

/// Whether any candidate equals any expected value. Every pair is compared in constant time,
/// so the time taken does not say which secret or which entry matched.
bool any_equal(const std::vector<std::string>& expected,
               const std::vector<std::string_view>& candidates);

/// Lower-case hex SHA-256 of the body: the delivery id of providers that send none.
std::string body_hash(std::string_view body);

/// The first header present among `names` (case-insensitive), with the name that matched.
std::optional<std::pair<std::string_view, std::string_view>> first_header(
    const Headers& headers, std::initializer_list<std::string_view> names);

/// The first header with this name as a string; nullopt when absent or empty.
std::optional<std::string> header_text(const Headers& headers, std::string_view name);

/// ASCII lower case.
std::string to_lower(std::string_view text);

using hookflow::parse_form;

/// The hash function of an HMAC.
enum class MacAlgorithm { sha1, sha256, sha512 };

/// How a MAC is written in a header.
enum class MacEncoding { hex, base64 };

/// A MAC's algorithm, encoding and the fixed text before it (`sha256=`, `v0=`).
struct MacFormat {
    MacAlgorithm algorithm = MacAlgorithm::sha256;
    MacEncoding encoding = MacEncoding::hex;
    std::string prefix;
};

/// The header text of the MAC of `data` keyed with `key`: prefix, then the encoded MAC.
std::string mac_text(const MacFormat& format, std::string_view key, std::string_view data);

/// The MAC text `sign` sends: keyed with the first secret (the newest while rotating);
/// Errc::invalid_config when no secret is configured.
Result<std::string> signing_mac_text(const MacFormat& format,
                                     const std::vector<std::string>& secrets,
                                     std::string_view data);

/// Whether any candidate is the MAC text of `data` under any key (hex compared without
/// regard to case), comparing every pair in constant time.
bool mac_matches(const MacFormat& format,
                 const std::vector<std::string>& keys,
                 std::string_view data,
                 const std::vector<std::string_view>& candidates);

/// An identity whose parts must both be set; Errc::bad_request naming the missing one.
Result<Identity> identity_of(std::optional<std::string> delivery_id,
                             std::optional<std::string> type);

}  // namespace hookflow::verify
