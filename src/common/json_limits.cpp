#include <algorithm>
#include <string>

#include <hookflow/common/json_limits.hpp>

namespace hookflow {

namespace {

template <class Json>
Result<Json> parse_bounded(std::string_view text, int max_depth) {
    if (json_too_deep(text, max_depth)) {
        return make_error(Errc::bad_request, json_depth_message(max_depth));
    }
    auto parsed = Json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
        return make_error(Errc::bad_request, "not JSON");
    }
    return parsed;
}

}  // namespace

int json_nesting_depth(std::string_view text, int stop_after) {
    int depth = 0;
    int deepest = 0;
    bool quoted = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            i += c == '\\' ? 1 : 0;
            quoted = c != '"';
        } else if (c == '"') {
            quoted = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
            if (deepest > stop_after) {
                return stop_after + 1;
            }
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

bool json_too_deep(std::string_view text, int max_depth) {
    return json_nesting_depth(text, max_depth) > max_depth;
}

std::string json_depth_message(int max_depth) {
    return "nested deeper than " + std::to_string(max_depth) + " levels";
}

Result<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth) {
    return parse_bounded<nlohmann::json>(text, max_depth);
}

Result<nlohmann::ordered_json> parse_ordered_json_bounded(std::string_view text, int max_depth) {
    return parse_bounded<nlohmann::ordered_json>(text, max_depth);
}

}  // namespace hookflow
