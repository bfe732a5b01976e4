#pragma once

#include <cstdint>

namespace hookflow {

/// The source of time for store, engine and verifiers, so tests can set it.
class Clock {
  public:
    virtual ~Clock() = default;
    /// Seconds since the Unix epoch.
    virtual std::int64_t now_unix() const = 0;
    /// Milliseconds since the Unix epoch.
    virtual std::int64_t now_ms() const = 0;
};

/// The wall clock.
class SystemClock final : public Clock {
  public:
    std::int64_t now_unix() const override;
    std::int64_t now_ms() const override;
    /// A process-wide instance.
    static const SystemClock& instance();
};

/// A clock that stays where a test puts it.
class FixedClock final : public Clock {
  public:
    explicit FixedClock(std::int64_t unix_seconds) : ms_(unix_seconds * 1000) {}
    std::int64_t now_unix() const override { return ms_ / 1000; }
    std::int64_t now_ms() const override { return ms_; }
    void set_unix(std::int64_t unix_seconds) { ms_ = unix_seconds * 1000; }

  private:
    std::int64_t ms_;
};

}  // namespace hookflow
