#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hookflow {

/// HTTP headers as received, in order, names as sent.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The first header with this name, compared case-insensitively.
std::optional<std::string_view> find_header(const Headers& headers, std::string_view name);

/// How many headers carry this name (case-insensitive).
std::size_t count_header(const Headers& headers, std::string_view name);

/// ASCII case-insensitive equality.
bool iequals(std::string_view a, std::string_view b);

}  // namespace hookflow
