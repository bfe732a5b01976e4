// Secret redaction for what the engine stores and logs. A secret can reach a stored request,
// an API's echo in an output, or an error text, and it can be escaped on the way (a JSON
// body, a form body), so each secret is searched for in each of those spellings.

#include <algorithm>
#include <cstdio>

#include <hookflow/engine/redact.hpp>

namespace hookflow::engine {

namespace {

constexpr const char* kMask = "***";

std::string percent_encoded(const std::string& value) {
    std::string out;
    for (unsigned char c : value) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~';
        if (plain) {
            out += static_cast<char>(c);
        } else {
            char buffer[4];
            std::snprintf(buffer, sizeof buffer, "%%%02X", c);
            out += buffer;
        }
    }
    return out;
}

std::string json_escaped(const std::string& value) {
    auto dumped =
        nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return dumped.substr(1, dumped.size() - 2);
}

}  // namespace

Redactor::Redactor(const std::map<std::string, std::string>& secrets) {
    for (const auto& [name, value] : secrets) {
        if (value.empty()) {
            continue;
        }
        for (auto form : {value, json_escaped(value), percent_encoded(value)}) {
            if (std::find(forms_.begin(), forms_.end(), form) == forms_.end()) {
                forms_.push_back(std::move(form));
            }
        }
    }
    std::sort(forms_.begin(), forms_.end(), [](const std::string& a, const std::string& b) {
        return a.size() > b.size();
    });
}

std::string Redactor::text(std::string text) const {
    for (const auto& form : forms_) {
        std::size_t pos = 0;
        while ((pos = text.find(form, pos)) != std::string::npos) {
            text.replace(pos, form.size(), kMask);
            pos += 3;
        }
    }
    return text;
}

nlohmann::json Redactor::json(const nlohmann::json& value) const {
    if (forms_.empty()) {
        return value;
    }
    if (value.is_string()) {
        return text(value.get<std::string>());
    }
    if (value.is_array()) {
        auto out = nlohmann::json::array();
        for (const auto& item : value) {
            out.push_back(json(item));
        }
        return out;
    }
    if (value.is_object()) {
        auto out = nlohmann::json::object();
        for (auto it = value.begin(); it != value.end(); ++it) {
            out[text(it.key())] = json(it.value());
        }
        return out;
    }
    return value;
}

}  // namespace hookflow::engine
