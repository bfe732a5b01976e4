#include <string>
#include <string_view>

#include "schemes.hpp"
#include <hookflow/common/crypto.hpp>

namespace hookflow::verify {

namespace {

// 18 digits always fit in int64; real timestamps have 10.
constexpr std::size_t kMaxTimestampDigits = 18;

std::optional<std::string> scalar_text(const nlohmann::json& value) {
    if (value.is_string()) {
        const auto& text = value.get_ref<const std::string&>();
        return text.empty() ? std::nullopt : std::optional<std::string>(text);
    }
    if (value.is_number_integer()) {
        return value.dump();
    }
    return std::nullopt;
}

}  // namespace

Error rejection(std::string_view reason) {
    return make_error(Errc::unauthorized, std::string(reason));
}

Result<SignedHeaders> signed_headers(const Headers& headers,
                                     std::string_view signature_header,
                                     std::string_view timestamp_header) {
    auto signature = find_header(headers, signature_header);
    if (!signature) {
        return rejection("missing signature header");
    }
    auto timestamp = find_header(headers, timestamp_header);
    if (!timestamp) {
        return rejection("missing timestamp header");
    }
    return SignedHeaders{*signature, *timestamp};
}

std::optional<std::int64_t> parse_unix_seconds(std::string_view text) {
    if (text.empty() || text.size() > kMaxTimestampDigits) {
        return std::nullopt;
    }
    std::int64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        value = value * 10 + (c - '0');
    }
    return value;
}

bool within_tolerance(std::int64_t t, std::int64_t now, int tolerance_seconds) {
    if (tolerance_seconds <= 0) {
        return true;
    }
    auto age = now - t;
    return age <= tolerance_seconds && -age <= tolerance_seconds;
}

bool any_equal(const std::vector<std::string>& expected,
               const std::vector<std::string_view>& candidates) {
    unsigned matches = 0;
    for (const auto& value : expected) {
        for (auto candidate : candidates) {
            // An empty expected value is a failed MAC or key; it must never match.
            matches |=
                static_cast<unsigned>(!value.empty() && constant_time_equal(value, candidate));
        }
    }
    return matches != 0;
}

std::string body_hash(std::string_view body) {
    return to_hex(sha256(body));
}

std::optional<std::pair<std::string_view, std::string_view>> first_header(
    const Headers& headers, std::initializer_list<std::string_view> names) {
    for (auto name : names) {
        if (auto value = find_header(headers, name)) {
            return std::make_pair(name, *value);
        }
    }
    return std::nullopt;
}

std::optional<std::string> header_text(const Headers& headers, std::string_view name) {
    auto value = find_header(headers, name);
    if (!value || value->empty()) {
        return std::nullopt;
    }
    return std::string(*value);
}

std::string to_lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

std::optional<std::string> json_path_string(const nlohmann::json& body, std::string_view path) {
    const nlohmann::json* node = &body;
    while (!path.empty()) {
        auto dot = path.find('.');
        std::string key(path.substr(0, dot));
        path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
        if (!node->is_object()) {
            return std::nullopt;
        }
        auto it = node->find(key);
        if (it == node->end()) {
            return std::nullopt;
        }
        node = &*it;
    }
    return scalar_text(*node);
}

Result<Identity> identity_of(std::optional<std::string> delivery_id,
                             std::optional<std::string> type) {
    if (!delivery_id) {
        return make_error(Errc::bad_request, "delivery has no delivery id");
    }
    if (!type) {
        return make_error(Errc::bad_request, "delivery has no event type");
    }
    return Identity{std::move(*delivery_id), std::move(*type)};
}

}  // namespace hookflow::verify
