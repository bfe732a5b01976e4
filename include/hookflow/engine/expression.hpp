#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include <hookflow/common/clock.hpp>
#include <hookflow/common/result.hpp>

namespace hookflow::engine {

/// Evaluates one expression (the text inside `${{ }}`) against a context object holding
/// `event`, `delivery`, `steps`, `run`, ... A path into something missing is null.
/// Errc::expression with a message naming the expression on a syntax or type error. `now()`
/// reads `clock`.
Result<nlohmann::json> evaluate(std::string_view expression,
                                const nlohmann::json& context,
                                const Clock& clock = SystemClock::instance());

/// Checks an expression's syntax without evaluating it.
Result<void> check_expression(std::string_view expression);

/// Renders a template value: strings that are exactly one `${{ }}` take the value's JSON
/// type; other strings interpolate (null renders as empty); arrays and objects render
/// element by element; other values are returned as they are.
Result<nlohmann::json> render(const nlohmann::json& value,
                              const nlohmann::json& context,
                              const Clock& clock = SystemClock::instance());

/// Every expression text inside `${{ }}` in a template string, in order.
std::vector<std::string> expressions_in(std::string_view text);

/// Truthiness used by `if`: false, null, 0, "" are false; everything else is true.
bool truthy(const nlohmann::json& value);

}  // namespace hookflow::engine
