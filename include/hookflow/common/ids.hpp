#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace hookflow {

/// A new id such as `ev_0190a4c2b3d1_9f3c2a7e`: prefix, milliseconds in hex, random hex.
/// Ids from one process sort by creation time.
std::string new_id(std::string_view prefix, std::int64_t now_ms);

}  // namespace hookflow
