#include <string>
#include <string_view>
#include <vector>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>

namespace hookflow::verify {

namespace {

std::string raw_mac(MacAlgorithm algorithm, std::string_view key, std::string_view data) {
    switch (algorithm) {
        case MacAlgorithm::sha1:
            return hmac_sha1(key, data);
        case MacAlgorithm::sha256:
            return hmac_sha256(key, data);
        case MacAlgorithm::sha512:
            return hmac_sha512(key, data);
    }
    return {};
}

}  // namespace

std::string mac_text(const MacFormat& format, std::string_view key, std::string_view data) {
    auto raw = raw_mac(format.algorithm, key, data);
    if (raw.empty()) {
        // Stays empty so that any_equal can never match a failed MAC.
        return {};
    }
    auto encoded = format.encoding == MacEncoding::hex ? to_hex(raw) : to_base64(raw);
    return format.prefix + encoded;
}

Result<std::string> signing_mac_text(const MacFormat& format,
                                     const std::vector<std::string>& secrets,
                                     std::string_view data) {
    if (secrets.empty()) {
        return make_error(Errc::invalid_config, "no secret configured");
    }
    return mac_text(format, secrets.front(), data);
}

bool mac_matches(const MacFormat& format,
                 const std::vector<std::string>& keys,
                 std::string_view data,
                 const std::vector<std::string_view>& candidates) {
    std::vector<std::string> expected;
    expected.reserve(keys.size());
    for (const auto& key : keys) {
        expected.push_back(mac_text(format, key, data));
    }
    if (format.encoding == MacEncoding::base64) {
        return any_equal(expected, candidates);
    }
    // Hex digits mean the same in either case; the prefix is compared as lower case too.
    std::vector<std::string> lowered;
    for (auto candidate : candidates) {
        lowered.push_back(to_lower(candidate));
    }
    std::vector<std::string_view> views(lowered.begin(), lowered.end());
    for (auto& value : expected) {
        value = to_lower(value);
    }
    return any_equal(expected, views);
}

}  // namespace hookflow::verify
