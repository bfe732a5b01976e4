#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include <hookflow/config/config.hpp>

namespace hookflow::config::detail {

/// One key of a mapping being read: its text, its nodes and its dotted path (`server.listen`).
struct Entry {
    std::string key;
    YAML::Node key_node;
    YAML::Node value;
    std::string path;
};

/// Reads one key of a mapping; returns false when the key is unknown.
using EntryReader = std::function<bool(const Entry& entry)>;

/// Walks a YAML tree with interpolation, collecting every error as `name:line:col: message`
/// instead of stopping at the first.
class Reader {
  public:
    Reader(std::string name, const EnvLookup& env) : name_(std::move(name)), env_(env) {}

    /// Records an error at `mark` (1-based in the text); a null mark gives `name: message`.
    void error(const YAML::Mark& mark, const std::string& message);

    /// All errors so far, in the order found.
    const std::vector<std::string>& errors() const { return errors_; }

    /// Calls `read` for each key of a mapping at `path`; unknown or repeated keys, and a
    /// value that is not a mapping, are errors. A null node is an empty mapping.
    void mapping(const YAML::Node& node, const std::string& path, const EntryReader& read);

    /// A scalar after interpolation (null reads as empty); nullopt after reporting an error.
    std::optional<Setting> setting(const YAML::Node& node, const std::string& path);

    /// A string; an unset `${VAR}` leaves it empty.
    void read(const YAML::Node& node, const std::string& path, std::string& out);

    /// A Setting, keeping the name of an unset `${VAR}`.
    void read(const YAML::Node& node, const std::string& path, Setting& out);

    /// An integer in [min, max]; errors for anything else, including an unset `${VAR}`.
    std::optional<long long> integer(const YAML::Node& node,
                                     const std::string& path,
                                     long long min,
                                     long long max);

    /// An int that is at least `min`.
    void read(const YAML::Node& node, const std::string& path, int& out, int min);

    /// A size that is at least `min`.
    void read(const YAML::Node& node, const std::string& path, std::size_t& out, std::size_t min);

  private:
    std::string name_;
    const EnvLookup& env_;
    std::vector<std::string> errors_;
};

/// Makes `${...}` parse as part of a plain scalar inside `[ ]` and `{ }` (where YAML ends a
/// scalar at a brace) by swapping its braces for placeholder bytes; lengths and so error
/// positions stay the same. The Reader swaps them back in every scalar and key it reads.
std::string protect_variables(std::string text);

/// The text of a scalar node with protect_variables undone; empty for other nodes.
std::string raw_text(const YAML::Node& node);

/// The mark of `node`, or of `fallback` when the node carries none (an empty value).
YAML::Mark mark_of(const YAML::Node& node, const YAML::Node& fallback);

}  // namespace hookflow::config::detail
