#include <hookflow/common/form.hpp>

namespace hookflow {

namespace {

int hex_digit(char c) {
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

/// Form decoding: `+` is a space and `%XX` a byte; a malformed escape is kept as written,
/// as browsers and Twilio's libraries do.
std::string form_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+') {
            out += ' ';
        } else if (c == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
                   hex_digit(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2]));
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body) {
    std::vector<std::pair<std::string, std::string>> out;
    while (!body.empty()) {
        auto amp = body.find('&');
        auto pair = body.substr(0, amp);
        body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
        if (pair.empty()) {
            continue;
        }
        auto equals = pair.find('=');
        auto name = pair.substr(0, equals);
        auto value =
            equals == std::string_view::npos ? std::string_view{} : pair.substr(equals + 1);
        out.emplace_back(form_decode(name), form_decode(value));
    }
    return out;
}

// Limitation: decoded values are not checked to be UTF-8; whoever serializes the JSON must
// tolerate invalid bytes (nlohmann's dump throws on them unless told to replace).
nlohmann::json form_to_json(std::string_view body) {
    auto out = nlohmann::json::object();
    for (auto& [name, value] : parse_form(body)) {
        auto it = out.find(name);
        if (it == out.end()) {
            out[name] = std::move(value);
        } else if (it->is_array()) {
            it->push_back(std::move(value));
        } else {
            *it = nlohmann::json::array({std::move(*it), std::move(value)});
        }
    }
    return out;
}

}  // namespace hookflow
