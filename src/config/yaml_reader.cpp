#include "yaml_reader.hpp"

#include <charconv>
#include <limits>
#include <set>
#include <string>
#include <system_error>

namespace hookflow::config::detail {

namespace {

std::optional<long long> parse_integer(const std::string& text) {
    long long value = 0;
    const char* end = text.data() + text.size();
    auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr != end || text.empty()) {
        return std::nullopt;
    }
    return value;
}

// Bytes that never appear in a sensible config file and that yaml-cpp keeps in plain scalars.
constexpr char kOpenPlaceholder = '\x1d';
constexpr char kClosePlaceholder = '\x1f';

std::string restore_variables(std::string text) {
    for (char& c : text) {
        if (c == kOpenPlaceholder) {
            c = '{';
        } else if (c == kClosePlaceholder) {
            c = '}';
        }
    }
    return text;
}

std::string key_path(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
}

std::string where(const std::string& path) {
    return path.empty() ? "at top level" : "in " + path;
}

}  // namespace

std::string protect_variables(std::string text) {
    // Limitation: a `}` inside a `${VAR:-default}` default ends the variable early, here as
    // in interpolate().
    std::size_t pos = 0;
    while ((pos = text.find("${", pos)) != std::string::npos) {
        auto close = text.find('}', pos + 2);
        if (close == std::string::npos) {
            break;
        }
        text[pos + 1] = kOpenPlaceholder;
        text[close] = kClosePlaceholder;
        pos = close + 1;
    }
    return text;
}

std::string raw_text(const YAML::Node& node) {
    if (!node.IsDefined() || !node.IsScalar()) {
        return {};
    }
    return restore_variables(node.Scalar());
}

YAML::Mark mark_of(const YAML::Node& node, const YAML::Node& fallback) {
    if (node.IsDefined() && !node.Mark().is_null()) {
        return node.Mark();
    }
    return fallback.Mark();
}

void Reader::error(const YAML::Mark& mark, const std::string& message) {
    if (mark.is_null()) {
        errors_.push_back(name_ + ": " + message);
        return;
    }
    errors_.push_back(name_ + ":" + std::to_string(mark.line + 1) + ":" +
                      std::to_string(mark.column + 1) + ": " + message);
}

void Reader::mapping(const YAML::Node& node, const std::string& path, const EntryReader& read) {
    if (!node.IsDefined() || node.IsNull()) {
        return;
    }
    if (!node.IsMap()) {
        error(node.Mark(), path + ": expected a mapping");
        return;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        YAML::Node key = it->first;
        if (!key.IsScalar()) {
            error(key.Mark(), "expected a plain key " + where(path));
            continue;
        }
        std::string text = raw_text(key);
        if (!seen.insert(text).second) {
            error(key.Mark(), "duplicate key '" + text + "' " + where(path));
            continue;
        }
        Entry entry{text, key, it->second, key_path(path, text)};
        if (!read(entry)) {
            error(key.Mark(), "unknown key '" + text + "' " + where(path));
        }
    }
}

std::optional<Setting> Reader::setting(const YAML::Node& node, const std::string& path) {
    if (node.IsNull()) {
        return Setting{};
    }
    if (!node.IsScalar()) {
        error(node.Mark(), path + ": expected a string");
        return std::nullopt;
    }
    auto result = interpolate(raw_text(node), env_);
    if (!result) {
        error(node.Mark(), path + ": " + result.error().log_text);
        return std::nullopt;
    }
    return *result;
}

void Reader::read(const YAML::Node& node, const std::string& path, std::string& out) {
    if (auto value = setting(node, path)) {
        out = value->value;
    }
}

void Reader::read(const YAML::Node& node, const std::string& path, Setting& out) {
    if (auto value = setting(node, path)) {
        out = *value;
    }
}

std::optional<long long> Reader::integer(const YAML::Node& node,
                                         const std::string& path,
                                         long long min,
                                         long long max) {
    auto value = setting(node, path);
    if (!value) {
        return std::nullopt;
    }
    if (!value->missing_var.empty()) {
        error(node.Mark(), path + ": " + value->missing_var + " is not set");
        return std::nullopt;
    }
    // The text as written goes into the message, never an interpolated value (it may be a
    // secret put in the wrong place).
    auto number = parse_integer(value->value);
    if (!number) {
        error(node.Mark(), path + ": expected an integer, got '" + raw_text(node) + "'");
        return std::nullopt;
    }
    if (*number < min) {
        error(node.Mark(),
              path + ": must be at least " + std::to_string(min) + ", got " + raw_text(node));
        return std::nullopt;
    }
    if (*number > max) {
        error(node.Mark(),
              path + ": must be at most " + std::to_string(max) + ", got " + raw_text(node));
        return std::nullopt;
    }
    return number;
}

void Reader::read(const YAML::Node& node, const std::string& path, int& out, int min) {
    if (auto value = integer(node, path, min, std::numeric_limits<int>::max())) {
        out = static_cast<int>(*value);
    }
}

void Reader::read(const YAML::Node& node,
                  const std::string& path,
                  std::size_t& out,
                  std::size_t min) {
    auto low = static_cast<long long>(min);
    if (auto value = integer(node, path, low, std::numeric_limits<long long>::max())) {
        out = static_cast<std::size_t>(*value);
    }
}

}  // namespace hookflow::config::detail
