#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <hookflow/common/headers.hpp>
#include <hookflow/common/result.hpp>

namespace hookflow::verify {

/// Checks a `Stripe-Signature` header: `t=` once, any `v1=` matching
/// HMAC-SHA256(secret, "t.body") for any secret, and `now - t <= tolerance` (future accepted;
/// tolerance 0 disables the age check). Errc::unauthorized with a short reason otherwise.
Result<void> verify_stripe(const Headers& headers,
                           std::string_view body,
                           const std::vector<std::string>& secrets,
                           int tolerance_seconds,
                           std::int64_t now_unix);

/// The `Stripe-Signature` value for `body` at `t` with `secret`.
std::string stripe_signature(std::string_view secret, std::string_view body, std::int64_t t);

}  // namespace hookflow::verify
