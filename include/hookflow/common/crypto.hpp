#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookflow {

/// HMAC-SHA256 of `data` keyed with `key`, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// SHA-256 of `data`, raw 32 bytes.
std::string sha256(std::string_view data);

/// Lower-case hex of raw bytes.
std::string to_hex(std::string_view bytes);

/// Raw bytes from hex (either case); nullopt when not valid hex.
std::optional<std::string> from_hex(std::string_view hex);

/// Standard base64 with padding.
std::string to_base64(std::string_view bytes);

/// Raw bytes from standard base64; nullopt when malformed.
std::optional<std::string> from_base64(std::string_view text);

/// Compares in time that depends only on the lengths, never on where the bytes differ.
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace hookflow
