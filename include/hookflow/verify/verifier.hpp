#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/form.hpp>
#include <hookflow/common/headers.hpp>
#include <hookflow/common/result.hpp>
#include <hookflow/config/config.hpp>

namespace hookflow::verify {

/// What a verifier sees of a delivery: the raw body exactly as received.
struct Delivery {
    const Headers& headers;
    std::string_view body;
    std::string_view target;  // path and query as received
    std::int64_t received_unix = 0;
    /// The URL the client called (no query), rebuilt from a trusted proxy's X-Forwarded-*
    /// headers; empty when the peer is not a trusted proxy (then `forwarded_error` says why).
    std::string_view forwarded_url = {};
    std::string_view forwarded_error = {};
};

/// Why a delivery was refused; `reason` is a short fixed phrase for logs, metrics and the
/// HTTP body ("missing signature header", "timestamp outside tolerance", ...).
struct Rejection {
    std::string reason;
};

/// The identity of a verified delivery, taken from the provider's fields.
struct Identity {
    std::string delivery_id;
    std::string type;
};

/// One event of a verified delivery; a SendGrid batch holds several.
struct Item {
    std::string delivery_id;
    std::string type;
    nlohmann::json body;
};

/// One provider's signature scheme and its rules for delivery id and event type.
class Verifier {
  public:
    virtual ~Verifier() = default;

    /// The provider name (`stripe`, ...).
    virtual std::string_view provider() const = 0;

    /// Checks the signature over the raw body; a Rejection when it does not hold.
    virtual Result<void> verify(const Delivery& delivery) const = 0;

    /// Delivery id and event type of a verified delivery whose body parsed to `body`.
    /// Fails with Errc::bad_request when the provider's fields are missing.
    virtual Result<Identity> identify(const Delivery& delivery,
                                      const nlohmann::json& body) const = 0;

    /// Headers that make `body` a valid delivery signed at `now_unix` with the first secret.
    virtual Result<Headers> sign(std::string_view body, std::int64_t now_unix) const = 0;

    /// The events a verified delivery holds, each to be stored and deduplicated on its own:
    /// one per array element for batch providers (SendGrid), otherwise one item with
    /// identify's ids and the whole body. Fails like identify.
    virtual Result<std::vector<Item>> split(const Delivery& delivery,
                                            const nlohmann::json& body) const;
};

using hookflow::form_to_json;

/// Whether a source has what its provider verifies with: secrets, public keys (SendGrid,
/// Standard Webhooks v1a), or nothing at all for `none`.
bool has_credentials(const config::SourceConfig& source);

/// The verifier for a source's provider. Fails with Errc::invalid_config for an unknown
/// provider. A source with no secret gets a verifier that rejects everything.
Result<std::unique_ptr<Verifier>> make_verifier(const config::SourceConfig& source);

}  // namespace hookflow::verify
