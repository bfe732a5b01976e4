#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace hookflow::engine {

/// Replaces the values of workflow secrets with `***` wherever they appear: as they are,
/// JSON-escaped and percent-encoded, alone or inside a longer string.
class Redactor {
  public:
    Redactor() = default;
    /// Redacts every non-empty value of `secrets` (NAME -> value).
    explicit Redactor(const std::map<std::string, std::string>& secrets);

    /// `text` with every secret replaced by `***`.
    std::string text(std::string text) const;

    /// `value` with every string (and object key) redacted as text() does.
    nlohmann::json json(const nlohmann::json& value) const;

    /// Whether there is anything to redact.
    bool empty() const { return forms_.empty(); }

  private:
    std::vector<std::string> forms_;  // longest first, so a longer form is replaced whole
};

}  // namespace hookflow::engine
