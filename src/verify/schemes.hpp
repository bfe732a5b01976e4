#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <hookflow/config/config.hpp>
#include <hookflow/verify/verifier.hpp>

// The signature schemes, one per file; verifier.cpp picks one by provider name.
namespace hookflow::verify {

/// Lower-case hex HMAC-SHA256 of "t.body" keyed with the whole secret (`whsec_` included).
std::string stripe_signature_hex(std::string_view secret, std::string_view body, std::int64_t t);

/// Stripe's verifier for a source; it rejects everything when the source has no secret.
std::unique_ptr<Verifier> make_stripe_verifier(const config::SourceConfig& source);

/// The string at `key` of a JSON object; nullopt when absent, not a string, or empty.
std::optional<std::string> body_string(const nlohmann::json& body, const std::string& key);

}  // namespace hookflow::verify
