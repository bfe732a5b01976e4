#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>

// Helpers shared by expression.cpp and workflow.cpp; not part of the public interface.
namespace hookflow::engine::detail {

/// The longest expression text accepted, in bytes.
inline constexpr std::size_t kMaxExpressionLength = 4096;

/// The deepest nesting of parentheses, brackets, calls and unary operators accepted.
inline constexpr int kMaxExpressionDepth = 64;

/// The longest string an expression or template may produce, in bytes.
inline constexpr std::size_t kMaxStringBytes = 1024 * 1024;

/// The most items split() may produce.
inline constexpr std::size_t kMaxListItems = 10000;

/// The deepest JSON nesting fromJSON() accepts.
inline constexpr int kMaxFromJsonDepth = 64;

/// A function expressions may call, and how many arguments it takes.
struct FunctionSpec {
    std::string_view name;
    std::size_t min_args;
    std::size_t max_args;
};

/// The function named `name`, or null.
const FunctionSpec* find_function(std::string_view name);

/// Calls a function whose argument count was checked at parse time. Errc::expression naming
/// the function and the type it expected when an argument has the wrong type.
Result<nlohmann::json> call_function(const std::string& name,
                                     std::vector<nlohmann::json>& args,
                                     std::size_t col,
                                     std::int64_t now_unix);

/// Expression equality: numbers by value, other types only to the same type.
bool equal(const nlohmann::json& a, const nlohmann::json& b);

/// One piece of a template string: literal text or the inner text of a `${{ }}`.
struct TemplatePart {
    bool is_expression = false;
    std::string text;
};

/// Splits a template string into literal and expression parts.
/// Errc::expression for a `${{` without its closing `}}`.
Result<std::vector<TemplatePart>> split_template(std::string_view text);

/// The step ids an expression names as `steps.<id>` or `steps['<id>']`, in order.
/// Errc::expression when the expression does not parse.
Result<std::vector<std::string>> referenced_steps(std::string_view expression);

/// The names an expression reads as `<root>.NAME` or `<root>['NAME']`, in order.
/// Errc::expression when the expression does not parse.
Result<std::vector<std::string>> referenced_members(std::string_view expression,
                                                    std::string_view root);

}  // namespace hookflow::engine::detail
