#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include <hookflow/config/config.hpp>

namespace hookflow::config {

namespace {

bool is_var_name(std::string_view name) {
    if (name.empty() || (name[0] >= '0' && name[0] <= '9')) {
        return false;
    }
    for (char c : name) {
        bool ok =
            (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            return false;
        }
    }
    return true;
}

/// The value of one `${...}` body: `VAR` or `VAR:-default`.
Result<Setting> expand(std::string_view body, const EnvLookup& env) {
    auto separator = body.find(":-");
    std::string name(body.substr(0, separator));
    if (!is_var_name(name)) {
        return make_error(Errc::invalid_config,
                          "invalid variable name in '${" + std::string(body) + "}'");
    }

    // Like the shell's `:-`, an empty variable counts as unset: an empty key or URL is
    // never what an operator meant, and reporting it names the variable to fix.
    auto value = env(name);
    if (value && !value->empty()) {
        return Setting{*value, ""};
    }
    if (separator != std::string_view::npos) {
        return Setting{std::string(body.substr(separator + 2)), ""};
    }
    return Setting{"", name};
}

}  // namespace

EnvLookup process_env() {
    return [](const std::string& name) -> std::optional<std::string> {
        const char* value = std::getenv(name.c_str());
        if (value == nullptr) {
            return std::nullopt;
        }
        return std::string(value);
    };
}

Result<Setting> interpolate(const std::string& text, const EnvLookup& env) {
    Setting out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        auto open = text.find("${", pos);
        if (open == std::string::npos) {
            out.value.append(text, pos);
            break;
        }
        out.value.append(text, pos, open - pos);
        auto close = text.find('}', open + 2);
        if (close == std::string::npos) {
            return make_error(Errc::invalid_config, "unterminated '${' in value");
        }
        auto part = expand(std::string_view(text).substr(open + 2, close - open - 2), env);
        if (!part) {
            return part.error();
        }
        if (out.missing_var.empty()) {
            out.missing_var = part->missing_var;
        }
        out.value += part->value;
        pos = close + 1;
    }

    // A value with a hole in it (`Bearer ${TOKEN}`) is unusable; keep it empty so nothing
    // sends half a credential.
    if (!out.missing_var.empty()) {
        out.value.clear();
    }
    return out;
}

Setting ConnectorConfig::get(const std::string& key) const {
    auto it = settings.find(key);
    if (it == settings.end()) {
        return Setting{};
    }
    return it->second;
}

}  // namespace hookflow::config
