#include <array>
#include <climits>
#include <cstddef>
#include <string>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

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

}  // namespace

std::string hmac_sha256(std::string_view key, std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> out{};
    unsigned int out_len = 0;
    if (key.size() > INT_MAX || HMAC(EVP_sha256(),
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

}  // namespace hookflow
