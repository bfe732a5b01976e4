#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace hookflow {

/// HMAC-SHA256 of `data` keyed with `key`, raw 32 bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);

/// HMAC-SHA1 of `data` keyed with `key`, raw 20 bytes (empty on an OpenSSL failure).
std::string hmac_sha1(std::string_view key, std::string_view data);

/// HMAC-SHA512 of `data` keyed with `key`, raw 64 bytes (empty on an OpenSSL failure).
std::string hmac_sha512(std::string_view key, std::string_view data);

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

/// The DER (SubjectPublicKeyInfo) form of an ECDSA P-256 public key given as DER bytes or
/// PEM text; nullopt when it is not a P-256 public key.
std::optional<std::string> ecdsa_p256_public_key_der(std::string_view der_or_pem);

/// Whether `der_signature` is a valid ECDSA-with-SHA-256 signature of `message` under the
/// P-256 public key `public_key_der`; false for any malformed input.
bool ecdsa_p256_verify(std::string_view public_key_der,
                       std::string_view message,
                       std::string_view der_signature);

/// A DER ECDSA-with-SHA-256 signature of `message` with a PEM private key; nullopt when the
/// key is not a P-256 private key.
std::optional<std::string> ecdsa_p256_sign(std::string_view private_key_pem,
                                           std::string_view message);

/// Whether `signature` (64 bytes) is a valid Ed25519 signature of `message` under the raw
/// 32-byte `public_key`; false for any malformed input.
bool ed25519_verify(std::string_view public_key,
                    std::string_view message,
                    std::string_view signature);

/// The 64-byte Ed25519 signature of `message` with a raw 32-byte private key (seed);
/// nullopt when the key has the wrong size.
std::optional<std::string> ed25519_sign(std::string_view private_key, std::string_view message);

/// The raw 32-byte Ed25519 public key of a raw 32-byte private key; nullopt on a bad size.
std::optional<std::string> ed25519_public_key(std::string_view private_key);

}  // namespace hookflow
