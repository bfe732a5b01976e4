#include <string>

#include <nlohmann/json.hpp>

#include <hookflow/connectors/connector.hpp>

namespace hookflow::connectors {

namespace {

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/// RFC 3986 percent-encoding; `[` and `]` stay as they are when `keep_brackets`, as Stripe's
/// own libraries send them.
void append_encoded(std::string& out, std::string_view text, bool keep_brackets) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char ch : text) {
        auto c = static_cast<unsigned char>(ch);
        if (unreserved(c) || (keep_brackets && (c == '[' || c == ']'))) {
            out += ch;
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
}

std::string scalar_text(const nlohmann::json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return {};
    }
    return value.dump();  // numbers and booleans as JSON writes them
}

void encode_value(std::string& out, const std::string& key, const nlohmann::json& value) {
    if (value.is_object()) {
        for (const auto& [name, child] : value.items()) {
            encode_value(out, key + "[" + name + "]", child);
        }
        return;
    }
    if (value.is_array()) {
        std::size_t index = 0;
        for (const auto& child : value) {
            encode_value(out, key + "[" + std::to_string(index++) + "]", child);
        }
        return;
    }
    if (!out.empty()) {
        out += '&';
    }
    append_encoded(out, key, true);
    out += '=';
    append_encoded(out, scalar_text(value), false);
}

}  // namespace

std::string stripe_form_encode(const nlohmann::json& object) {
    std::string out;
    if (!object.is_object()) {
        return out;
    }
    for (const auto& [name, value] : object.items()) {
        encode_value(out, name, value);
    }
    return out;
}

}  // namespace hookflow::connectors
