#include <array>
#include <climits>
#include <cstddef>
#include <cstring>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include <hookflow/common/crypto.hpp>

namespace hookflow {

namespace {

// EVP_EncodeBlock/DecodeBlock take int lengths; larger inputs go through in pieces whose sizes
// keep base64 groups whole (3 raw bytes <-> 4 characters).
constexpr std::size_t kEncodeChunk = 3 * (1u << 20);
constexpr std::size_t kDecodeChunk = 4 * (1u << 20);

const unsigned char* bytes_of(std::string_view text) {
    // OpenSSL rejects a null key pointer even with length 0; an empty view may hold one.
    static const unsigned char kEmpty = 0;
    return text.empty() ? &kEmpty : reinterpret_cast<const unsigned char*>(text.data());
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/// How many `=` end `text`, or nullopt when the text is not canonical padded base64.
std::optional<std::size_t> base64_padding(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
        ++padding;
    }
    for (std::size_t i = 0; i + padding < text.size(); ++i) {
        if (!is_base64_char(text[i])) {
            return std::nullopt;
        }
    }
    return padding;
}

std::string hmac_with(const EVP_MD* md, std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int out_len = 0;
    if (key.size() > INT_MAX || HMAC(md,
                                     bytes_of(key),
                                     static_cast<int>(key.size()),
                                     bytes_of(data),
                                     data.size(),
                                     out.data(),
                                     &out_len) == nullptr) {
        // An empty MAC never equals a real one, so a failure can only reject.
        return {};
    }
    return std::string(reinterpret_cast<const char*>(out.data()), out_len);
}

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
    return hmac_with(EVP_sha256(), key, data);
}

std::string hmac_sha1(std::string_view key, std::string_view data) {
    return hmac_with(EVP_sha1(), key, data);
}

std::string hmac_sha512(std::string_view key, std::string_view data) {
    return hmac_with(EVP_sha512(), key, data);
}

std::string sha256(std::string_view data) {
    std::array<unsigned char, SHA256_DIGEST_LENGTH> out{};
    SHA256(bytes_of(data), data.size(), out.data());
    return std::string(reinterpret_cast<const char*>(out.data()), out.size());
}

std::string to_hex(std::string_view bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) {
        auto byte = static_cast<unsigned char>(c);
        out += kDigits[byte >> 4];
        out += kDigits[byte & 0x0f];
    }
    return out;
}

std::optional<std::string> from_hex(std::string_view hex) {
    if (hex.size() % 2 != 0) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(hex.size() / 2);
    for (std::size_t i = 0; i < hex.size(); i += 2) {
        int high = hex_value(hex[i]);
        int low = hex_value(hex[i + 1]);
        if (high < 0 || low < 0) {
            return std::nullopt;
        }
        out += static_cast<char>((high << 4) | low);
    }
    return out;
}

std::string to_base64(std::string_view bytes) {
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t pos = 0; pos < bytes.size(); pos += kEncodeChunk) {
        auto piece = bytes.substr(pos, kEncodeChunk);
        std::string encoded((piece.size() + 2) / 3 * 4 + 1, '\0');
        int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(encoded.data()),
                                bytes_of(piece),
                                static_cast<int>(piece.size()));
        encoded.resize(static_cast<std::size_t>(n));
        out += encoded;
    }
    return out;
}

std::optional<std::string> from_base64(std::string_view text) {
    auto padding = base64_padding(text);
    if (!padding) {
        return std::nullopt;
    }
    std::string out;
    out.reserve(text.size() / 4 * 3);
    for (std::size_t pos = 0; pos < text.size(); pos += kDecodeChunk) {
        auto piece = text.substr(pos, kDecodeChunk);
        std::string decoded(piece.size() / 4 * 3, '\0');
        int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(decoded.data()),
                                bytes_of(piece),
                                static_cast<int>(piece.size()));
        if (n < 0) {
            return std::nullopt;
        }
        out.append(decoded.data(), static_cast<std::size_t>(n));
    }
    // DecodeBlock counts the bytes that `=` padding stands for; they are not data.
    out.resize(out.size() - *padding);
    return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
    // Lengths are public (a hex MAC always has 64 characters); only the contents are secret.
    if (a.size() != b.size()) {
        return false;
    }
    if (a.empty()) {
        return true;
    }
    return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

namespace {

struct PkeyFree {
    void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct BioFree {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

constexpr std::size_t kEd25519KeySize = 32;
constexpr std::size_t kEd25519SignatureSize = 64;
constexpr std::string_view kPemBegin = "-----BEGIN";

bool is_p256(const EVP_PKEY* key) {
    std::array<char, 64> group{};
    std::size_t length = 0;
    return key != nullptr && EVP_PKEY_is_a(key, "EC") == 1 &&
           EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) == 1 &&
           std::strcmp(group.data(), "prime256v1") == 0;
}

PkeyPtr read_public_key(std::string_view der_or_pem) {
    if (der_or_pem.size() > INT_MAX) {
        return nullptr;
    }
    if (der_or_pem.starts_with(kPemBegin)) {
        BioPtr bio(BIO_new_mem_buf(der_or_pem.data(), static_cast<int>(der_or_pem.size())));
        return PkeyPtr(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
    }
    const unsigned char* cursor = bytes_of(der_or_pem);
    return PkeyPtr(d2i_PUBKEY(nullptr, &cursor, static_cast<long>(der_or_pem.size())));
}

PkeyPtr read_private_key(std::string_view pem) {
    if (pem.size() > INT_MAX) {
        return nullptr;
    }
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    return PkeyPtr(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
}

/// One-shot DigestVerify; `md` is null for Ed25519, which hashes internally.
bool digest_verify(EVP_PKEY* key,
                   const EVP_MD* md,
                   std::string_view message,
                   std::string_view signature) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
        return false;
    }
    return EVP_DigestVerify(ctx.get(),
                            bytes_of(signature),
                            signature.size(),
                            bytes_of(message),
                            message.size()) == 1;
}

std::optional<std::string> digest_sign(EVP_PKEY* key, const EVP_MD* md, std::string_view message) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    std::size_t length = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &length, bytes_of(message), message.size()) != 1) {
        return std::nullopt;
    }
    std::string out(length, '\0');
    if (EVP_DigestSign(ctx.get(),
                       reinterpret_cast<unsigned char*>(out.data()),
                       &length,
                       bytes_of(message),
                       message.size()) != 1) {
        return std::nullopt;
    }
    out.resize(length);
    return out;
}

PkeyPtr ed25519_private(std::string_view private_key) {
    if (private_key.size() != kEd25519KeySize) {
        return nullptr;
    }
    return PkeyPtr(EVP_PKEY_new_raw_private_key(
        EVP_PKEY_ED25519, nullptr, bytes_of(private_key), private_key.size()));
}

}  // namespace

std::optional<std::string> ecdsa_p256_public_key_der(std::string_view der_or_pem) {
    auto key = read_public_key(der_or_pem);
    if (!is_p256(key.get())) {
        return std::nullopt;
    }
    int length = i2d_PUBKEY(key.get(), nullptr);
    if (length <= 0) {
        return std::nullopt;
    }
    std::string out(static_cast<std::size_t>(length), '\0');
    auto* cursor = reinterpret_cast<unsigned char*>(out.data());
    i2d_PUBKEY(key.get(), &cursor);
    return out;
}

bool ecdsa_p256_verify(std::string_view public_key_der,
                       std::string_view message,
                       std::string_view der_signature) {
    auto key = read_public_key(public_key_der);
    return is_p256(key.get()) && digest_verify(key.get(), EVP_sha256(), message, der_signature);
}

std::optional<std::string> ecdsa_p256_sign(std::string_view private_key_pem,
                                           std::string_view message) {
    auto key = read_private_key(private_key_pem);
    if (!is_p256(key.get())) {
        return std::nullopt;
    }
    return digest_sign(key.get(), EVP_sha256(), message);
}

bool ed25519_verify(std::string_view public_key,
                    std::string_view message,
                    std::string_view signature) {
    if (public_key.size() != kEd25519KeySize || signature.size() != kEd25519SignatureSize) {
        return false;
    }
    PkeyPtr key(EVP_PKEY_new_raw_public_key(
        EVP_PKEY_ED25519, nullptr, bytes_of(public_key), public_key.size()));
    return key && digest_verify(key.get(), nullptr, message, signature);
}

std::optional<std::string> ed25519_sign(std::string_view private_key, std::string_view message) {
    auto key = ed25519_private(private_key);
    if (!key) {
        return std::nullopt;
    }
    return digest_sign(key.get(), nullptr, message);
}

std::optional<std::string> ed25519_public_key(std::string_view private_key) {
    auto key = ed25519_private(private_key);
    std::string out(kEd25519KeySize, '\0');
    std::size_t length = out.size();
    if (!key || EVP_PKEY_get_raw_public_key(
                    key.get(), reinterpret_cast<unsigned char*>(out.data()), &length) != 1) {
        return std::nullopt;
    }
    out.resize(length);
    return out;
}

}  // namespace hookflow
