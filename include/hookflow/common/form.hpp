#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace hookflow {

/// The name/value pairs of a form body (`a=1&b=x+y`), `+` and percent-escapes decoded, in order.
std::vector<std::pair<std::string, std::string>> parse_form(std::string_view body);

/// A form body as a JSON object of strings; a name given more than once maps to an array of
/// its values.
nlohmann::json form_to_json(std::string_view body);

}  // namespace hookflow
