// The functions expressions may call. Each checks its argument types and names itself and
// the type it expected in its error; null arguments are treated as "nothing" where that is
// the useful reading (`lower(null)` is null, `length(null)` is 0).

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "expression_internal.hpp"
#include <hookflow/common/json_limits.hpp>

namespace hookflow::engine::detail {

namespace {

using nlohmann::json;

// Functions that take any number of arguments from their minimum up.
constexpr std::size_t kMany = 64;

constexpr FunctionSpec kFunctions[] = {
    {"contains", 2, 2},
    {"startsWith", 2, 2},
    {"endsWith", 2, 2},
    {"lower", 1, 1},
    {"upper", 1, 1},
    {"trim", 1, 1},
    {"length", 1, 1},
    {"join", 1, 2},
    {"split", 2, 2},
    {"format", 1, kMany},
    {"default", 1, kMany},
    {"toJSON", 1, 1},
    {"fromJSON", 1, 1},
    {"now", 0, 0},
    {"formatTime", 2, 2},
};

Error fail(const std::string& detail, std::size_t col) {
    return make_error(Errc::expression, detail + " at column " + std::to_string(col));
}

Error wrong_type(std::string_view function,
                 std::string_view expected,
                 const json& got,
                 std::size_t col) {
    return fail(
        std::string(function) + "() needs " + std::string(expected) + ", got " + got.type_name(),
        col);
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

// How a value reads inside a longer string: strings as they are, null as nothing, the rest
// as JSON.
std::string as_text(const json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_null()) {
        return {};
    }
    return dump(value);
}

std::size_t utf8_length(const std::string& text) {
    return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
        return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    }));
}

Result<json> affix(const std::string& name, const json& a, const json& b, std::size_t col) {
    if (a.is_null() || b.is_null()) {
        return json(false);
    }
    if (!a.is_string()) {
        return wrong_type(name, "a string", a, col);
    }
    if (!b.is_string()) {
        return wrong_type(name, "a string as second argument", b, col);
    }
    const auto& text = a.get_ref<const std::string&>();
    const auto& part = b.get_ref<const std::string&>();
    if (part.size() > text.size()) {
        return json(false);
    }
    if (name == "startsWith") {
        return json(text.compare(0, part.size(), part) == 0);
    }
    return json(text.compare(text.size() - part.size(), part.size(), part) == 0);
}

Result<json> contains(const json& a, const json& b, std::size_t col) {
    if (a.is_null()) {
        return json(false);
    }
    if (a.is_string() && b.is_string()) {
        return json(a.get_ref<const std::string&>().find(b.get_ref<const std::string&>()) !=
                    std::string::npos);
    }
    if (a.is_array()) {
        return json(std::any_of(a.begin(), a.end(), [&](const json& e) { return equal(e, b); }));
    }
    if (a.is_string()) {
        return wrong_type("contains", "a string to look for in a string", b, col);
    }
    return wrong_type("contains", "a string or an array", a, col);
}

Result<json> change_case(const std::string& name, const json& a, std::size_t col) {
    if (a.is_null()) {
        return json(nullptr);
    }
    if (!a.is_string()) {
        return wrong_type(name, "a string", a, col);
    }
    // Limitation: lower() and upper() change ASCII letters only; other UTF-8 text is kept.
    auto text = a.get<std::string>();
    for (auto& c : text) {
        if (name == "lower" && c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        } else if (name == "upper" && c >= 'a' && c <= 'z') {
            c = static_cast<char>(c - 'a' + 'A');
        }
    }
    return json(std::move(text));
}

Result<json> trim(const json& a, std::size_t col) {
    if (a.is_null()) {
        return json(nullptr);
    }
    if (!a.is_string()) {
        return wrong_type("trim", "a string", a, col);
    }
    // ASCII white space only, so multi-byte UTF-8 sequences are never cut.
    const auto& text = a.get_ref<const std::string&>();
    const auto* spaces = " \t\r\n\f\v";
    auto first = text.find_first_not_of(spaces);
    if (first == std::string::npos) {
        return json("");
    }
    auto last = text.find_last_not_of(spaces);
    return json(text.substr(first, last - first + 1));
}

Result<json> length(const json& a, std::size_t col) {
    if (a.is_null()) {
        return json(0);
    }
    if (a.is_string()) {
        return json(utf8_length(a.get_ref<const std::string&>()));
    }
    if (a.is_array() || a.is_object()) {
        return json(a.size());
    }
    return wrong_type("length", "a string, array or object", a, col);
}

Result<json> join(const std::vector<json>& args, std::size_t col) {
    const auto& list = args[0];
    std::string separator = ",";
    if (args.size() > 1 && !args[1].is_null()) {
        if (!args[1].is_string()) {
            return wrong_type("join", "a string separator", args[1], col);
        }
        separator = args[1].get<std::string>();
    }
    if (list.is_null()) {
        return json("");
    }
    if (!list.is_array()) {
        return wrong_type("join", "an array", list, col);
    }
    std::string out;
    for (std::size_t i = 0; i < list.size(); ++i) {
        out += (i == 0 ? "" : separator) + as_text(list[i]);
        if (out.size() > kMaxStringBytes) {
            return fail("join() result longer than " + std::to_string(kMaxStringBytes) + " bytes",
                        col);
        }
    }
    return json(std::move(out));
}

// The byte length of the UTF-8 sequence starting with `lead` (1 for stray bytes).
std::size_t sequence_length(unsigned char lead) {
    if (lead >= 0xF0) {
        return 4;
    }
    if (lead >= 0xE0) {
        return 3;
    }
    return lead >= 0xC0 ? 2 : 1;
}

// An empty separator splits into characters (UTF-8 code points).
std::vector<std::string> pieces(const std::string& text, const std::string& separator) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (out.size() <= kMaxListItems) {
        if (separator.empty()) {
            if (pos >= text.size()) {
                break;
            }
            auto size = sequence_length(static_cast<unsigned char>(text[pos]));
            out.push_back(text.substr(pos, size));
            pos += size;
            continue;
        }
        auto next = text.find(separator, pos);
        if (next == std::string::npos) {
            out.push_back(text.substr(pos));
            break;
        }
        out.push_back(text.substr(pos, next - pos));
        pos = next + separator.size();
    }
    return out;
}

Result<json> split(const json& a, const json& b, std::size_t col) {
    if (a.is_null()) {
        return json::array();
    }
    if (!a.is_string()) {
        return wrong_type("split", "a string", a, col);
    }
    if (!b.is_string()) {
        return wrong_type("split", "a string separator", b, col);
    }
    auto out = pieces(a.get_ref<const std::string&>(), b.get_ref<const std::string&>());
    if (out.size() > kMaxListItems) {
        return fail("split() gives more than " + std::to_string(kMaxListItems) + " items", col);
    }
    return json(std::move(out));
}

Result<json> format(const std::vector<json>& args, std::size_t col) {
    if (!args[0].is_string()) {
        return wrong_type("format", "a string as first argument", args[0], col);
    }
    const auto& pattern = args[0].get_ref<const std::string&>();
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        char c = pattern[i];
        bool doubled = i + 1 < pattern.size() && pattern[i + 1] == c;
        if ((c == '{' || c == '}') && doubled) {
            out += c;
            ++i;
            continue;
        }
        if (c != '{') {
            out += c;
            continue;
        }
        auto close = pattern.find('}', i);
        auto digits = pattern.substr(i + 1, close == std::string::npos ? 0 : close - i - 1);
        if (digits.empty() || digits.size() > 2 ||
            !std::all_of(
                digits.begin(), digits.end(), [](char d) { return d >= '0' && d <= '9'; })) {
            return fail("format() placeholders are {0}, {1}, ... ('{{' for a brace)", col);
        }
        auto index = static_cast<std::size_t>(std::stoi(digits)) + 1;
        if (index >= args.size()) {
            return fail("format() has no argument for {" + digits + "}", col);
        }
        out += as_text(args[index]);
        if (out.size() > kMaxStringBytes) {
            return fail("format() result longer than " + std::to_string(kMaxStringBytes) + " bytes",
                        col);
        }
        i = close;
    }
    return json(std::move(out));
}

Result<json> from_json(const json& a, std::size_t col) {
    if (a.is_null()) {
        return json(nullptr);
    }
    if (!a.is_string()) {
        return wrong_type("fromJSON", "a string", a, col);
    }
    const auto& text = a.get_ref<const std::string&>();
    if (json_too_deep(text, kMaxFromJsonDepth)) {
        return fail("fromJSON() input nested deeper than " + std::to_string(kMaxFromJsonDepth),
                    col);
    }
    auto parsed = json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
        return fail("fromJSON() got text that is not JSON", col);
    }
    return parsed;
}

std::string rfc3339(std::int64_t unix_seconds) {
    auto t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[32];
    auto n = std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buffer, n);
}

int digits_at(const std::string& text, std::size_t pos, std::size_t count, bool& ok) {
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
        if (i >= text.size() || text[i] < '0' || text[i] > '9') {
            ok = false;
            return 0;
        }
        value = value * 10 + (text[i] - '0');
    }
    return value;
}

// `2026-12-04T18:56:35Z`, with optional fraction and `+hh:mm`/`-hh:mm` offset; seconds since
// the epoch, or nullopt.
std::optional<std::int64_t> parse_rfc3339(const std::string& text) {
    bool ok = text.size() >= 20 && text[4] == '-' && text[7] == '-' &&
              (text[10] == 'T' || text[10] == 't' || text[10] == ' ') && text[13] == ':' &&
              text[16] == ':';
    std::tm tm{};
    tm.tm_year = digits_at(text, 0, 4, ok) - 1900;
    tm.tm_mon = digits_at(text, 5, 2, ok) - 1;
    tm.tm_mday = digits_at(text, 8, 2, ok);
    tm.tm_hour = digits_at(text, 11, 2, ok);
    tm.tm_min = digits_at(text, 14, 2, ok);
    tm.tm_sec = digits_at(text, 17, 2, ok);
    std::size_t pos = 19;
    if (ok && text[pos] == '.') {
        ++pos;
        while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
            ++pos;
        }
    }
    std::int64_t offset = 0;
    if (ok && pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
        ++pos;
    } else if (ok && pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-')) {
        offset = (digits_at(text, pos + 1, 2, ok) * 60 + digits_at(text, pos + 4, 2, ok)) * 60;
        offset = text[pos] == '-' ? -offset : offset;
        ok = ok && text[pos + 3] == ':';
        pos += 6;
    } else {
        ok = false;
    }
    if (!ok || pos != text.size() || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
        return std::nullopt;
    }
    return static_cast<std::int64_t>(timegm(&tm)) - offset;
}

Result<json> format_time(const json& value, const json& pattern, std::size_t col) {
    if (value.is_null()) {
        return json(nullptr);
    }
    if (!pattern.is_string() || pattern.get_ref<const std::string&>().empty()) {
        return wrong_type("formatTime", "a non-empty format string", pattern, col);
    }
    std::int64_t seconds = 0;
    if (value.is_number()) {
        auto number = value.get<double>();
        // Years 0 to 9999, so the broken-down time always fits.
        if (!(number >= -62167219200.0 && number <= 253402300799.0)) {
            return fail("formatTime() time out of range", col);
        }
        seconds = static_cast<std::int64_t>(number);
    } else if (value.is_string()) {
        auto parsed = parse_rfc3339(value.get<std::string>());
        if (!parsed) {
            return fail(
                "formatTime() needs unix seconds or an RFC 3339 time such as "
                "2026-01-31T09:30:00Z",
                col);
        }
        seconds = *parsed;
    } else {
        return wrong_type(
            "formatTime", "a number of unix seconds or an RFC 3339 string", value, col);
    }
    auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buffer[512];
    const auto& fmt = pattern.get_ref<const std::string&>();
    auto n = fmt.size() < 200 ? std::strftime(buffer, sizeof buffer, fmt.c_str(), &tm) : 0;
    if (n == 0) {
        return fail("formatTime() format gives no text or is longer than 200 bytes", col);
    }
    return json(std::string(buffer, n));
}

Result<json> first_non_null(std::vector<json>& args) {
    for (auto& arg : args) {
        if (!arg.is_null()) {
            return std::move(arg);
        }
    }
    return json(nullptr);
}

}  // namespace

const FunctionSpec* find_function(std::string_view name) {
    for (const auto& spec : kFunctions) {
        if (spec.name == name) {
            return &spec;
        }
    }
    return nullptr;
}

Result<json> call_function(const std::string& name,
                           std::vector<json>& args,
                           std::size_t col,
                           std::int64_t now_unix) {
    if (name == "contains") {
        return contains(args[0], args[1], col);
    }
    if (name == "startsWith" || name == "endsWith") {
        return affix(name, args[0], args[1], col);
    }
    if (name == "lower" || name == "upper") {
        return change_case(name, args[0], col);
    }
    if (name == "trim") {
        return trim(args[0], col);
    }
    if (name == "length") {
        return length(args[0], col);
    }
    if (name == "join") {
        return join(args, col);
    }
    if (name == "split") {
        return split(args[0], args[1], col);
    }
    if (name == "format") {
        return format(args, col);
    }
    if (name == "default") {
        return first_non_null(args);
    }
    if (name == "fromJSON") {
        return from_json(args[0], col);
    }
    if (name == "now") {
        return json(rfc3339(now_unix));
    }
    if (name == "formatTime") {
        return format_time(args[0], args[1], col);
    }
    return json(dump(args[0]));  // toJSON
}

}  // namespace hookflow::engine::detail
