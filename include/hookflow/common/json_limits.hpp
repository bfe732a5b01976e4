#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>

namespace hookflow {

/// The deepest nesting of `[` and `{` that hookflow parses from outside input. nlohmann's
/// parser, copy and dump recurse once per level, so a deeper text would overflow the stack.
constexpr int kMaxJsonDepth = 256;

/// The deepest nesting of `[` and `{` outside strings in `text`; the scan stops as soon as
/// the depth passes `stop_after` and returns `stop_after + 1`. Never fails.
int json_nesting_depth(std::string_view text, int stop_after = kMaxJsonDepth);

/// Whether `text` nests `[` and `{` deeper than `max_depth` (then it must not be parsed).
bool json_too_deep(std::string_view text, int max_depth = kMaxJsonDepth);

/// The message for a text refused by json_too_deep: "nested deeper than N levels".
std::string json_depth_message(int max_depth = kMaxJsonDepth);

/// Parses `text` as JSON after the depth check; fails with Errc::bad_request saying
/// "nested deeper than N levels" or "not JSON".
Result<nlohmann::json> parse_json_bounded(std::string_view text, int max_depth = kMaxJsonDepth);

/// parse_json_bounded for nlohmann::ordered_json (keeps key order, for output to people).
Result<nlohmann::ordered_json> parse_ordered_json_bounded(std::string_view text,
                                                          int max_depth = kMaxJsonDepth);

}  // namespace hookflow
