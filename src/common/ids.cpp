#include <cstdio>
#include <random>

#include <hookflow/common/ids.hpp>

namespace hookflow {

std::string new_id(std::string_view prefix, std::int64_t now_ms) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    char buf[48];
    std::snprintf(buf,
                  sizeof buf,
                  "_%012llx%08llx",
                  static_cast<unsigned long long>(now_ms),
                  static_cast<unsigned long long>(rng() & 0xffffffffULL));
    return std::string(prefix) + buf;
}

}  // namespace hookflow
