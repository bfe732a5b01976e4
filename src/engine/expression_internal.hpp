#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include <hookflow/common/result.hpp>

// Helpers shared by expression.cpp and workflow.cpp; not part of the public interface.
namespace hookflow::engine::detail {

/// The longest expression text accepted, in bytes.
inline constexpr std::size_t kMaxExpressionLength = 4096;

/// The deepest nesting of parentheses, brackets, calls and unary operators accepted.
inline constexpr int kMaxExpressionDepth = 64;

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

}  // namespace hookflow::engine::detail
