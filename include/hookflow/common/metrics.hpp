#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <hookflow/common/result.hpp>

namespace hookflow::metrics {

/// The values of a series' labels, in the order of its family's label names.
using LabelValues = std::vector<std::string>;

/// A metric family: one name, one help text, fixed label names, many series. Thread-safe.
class Family {
  public:
    Family(std::string name, std::string help, std::vector<std::string> label_names);
    virtual ~Family() = default;
    Family(const Family&) = delete;
    Family& operator=(const Family&) = delete;

    const std::string& name() const { return name_; }

    /// Appends the family in Prometheus text format 0.0.4 (HELP, TYPE, then each series).
    void expose(std::string& out) const;

  protected:
    /// `labels` cut or padded to the family's label count, so a wrong call never throws.
    LabelValues fit(const LabelValues& labels) const;
    /// `{name="value",...}` with `extra` (such as `le`) last; empty values are left out.
    std::string label_text(const LabelValues& values, std::string_view extra = {}) const;

    virtual const char* type() const = 0;
    virtual void expose_series(std::string& out) const = 0;

    std::string name_;
    std::string help_;
    std::vector<std::string> label_names_;
    mutable std::mutex mutex_;
};

/// A value that only goes up (its name ends in `_total`).
class Counter final : public Family {
  public:
    using Family::Family;
    /// Adds `by` (negative amounts are ignored) to the series with these label values.
    void inc(const LabelValues& labels, double by = 1.0);
    /// The series' value; 0 for a series never touched.
    double value(const LabelValues& labels) const;

  private:
    const char* type() const override { return "counter"; }
    void expose_series(std::string& out) const override;
    std::map<LabelValues, double> values_;
};

/// A value that goes up and down, or is set when scraped.
class Gauge final : public Family {
  public:
    using Family::Family;
    /// Sets the series to `value`.
    void set(const LabelValues& labels, double value);
    /// The series' value; 0 for a series never set.
    double value(const LabelValues& labels) const;

  private:
    const char* type() const override { return "gauge"; }
    void expose_series(std::string& out) const override;
    std::map<LabelValues, double> values_;
};

/// Observations counted into fixed buckets (upper bounds, `le`), with their sum and count.
class Histogram final : public Family {
  public:
    /// `buckets` are upper bounds in increasing order; +Inf is implied.
    Histogram(std::string name,
              std::string help,
              std::vector<std::string> label_names,
              std::vector<double> buckets);

    /// Counts `value` into the first bucket whose bound is at least `value`.
    void observe(const LabelValues& labels, double value);

    /// One series as exposed: cumulative counts per bound (+Inf last), sum and count.
    struct Snapshot {
        std::vector<std::uint64_t> cumulative;
        double sum = 0;
        std::uint64_t count = 0;
    };
    /// The series' state; all zero for a series never observed.
    Snapshot snapshot(const LabelValues& labels) const;

  private:
    struct Series {
        std::vector<std::uint64_t> counts;  // per bucket, +Inf last; not cumulative
        double sum = 0;
        std::uint64_t count = 0;
    };
    const char* type() const override { return "histogram"; }
    void expose_series(std::string& out) const override;
    Snapshot snapshot_of(const Series& series) const;
    std::vector<double> buckets_;
    std::map<LabelValues, Series> series_;
};

/// The families of a process. Registration happens at start-up; a bad name or a counter
/// without `_total` throws std::invalid_argument there.
class Registry {
  public:
    Counter& counter(std::string name, std::string help, std::vector<std::string> labels);
    Gauge& gauge(std::string name, std::string help, std::vector<std::string> labels);
    Histogram& histogram(std::string name,
                         std::string help,
                         std::vector<std::string> labels,
                         std::vector<double> buckets);

    /// Every family in Prometheus text format 0.0.4, in registration order.
    std::string expose() const;

  private:
    template <class F, class... Args>
    F& add(std::string name, std::string help, std::vector<std::string> labels, Args&&... args);

    mutable std::mutex mutex_;
    std::vector<std::unique_ptr<Family>> families_;
};

/// A label value with `\`, `"` and newlines escaped as the text format wants.
std::string escape_label_value(std::string_view value);

/// A sample value as the text format writes it: shortest exact form, `+Inf`, `-Inf`, `NaN`.
std::string format_value(double value);

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
bool valid_metric_name(std::string_view name);

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`).
bool valid_label_name(std::string_view name);

/// hookflow's own metrics, registered in `registry()`.
struct Instruments {
    Counter& deliveries;             // source, outcome, reason
    Counter& verification_failures;  // source, reason
    Gauge& runs;                     // status (set from the store when scraped)
    Histogram& run_duration;         // workflow, status
    Histogram& step_duration;        // connector, action
    Counter& steps;                  // connector, action, outcome, status_class
    Histogram& commit_seconds;
    Histogram& commit_batch_size;
    Counter& commit_failures;
    Counter& rest_connections;  // host
};

/// The process-wide registry that `/metrics` exposes.
Registry& registry();

/// The process-wide instruments (registered on first use).
Instruments& instruments();

/// Counts a delivery stored (`duplicate` false) or recognised as a redelivery.
void record_delivery(std::string_view source, bool duplicate);

/// Counts a refused delivery; `source` empty for an unknown one. Signature failures are also
/// counted as verification failures with the verifier's fixed reason.
void record_rejection(std::string_view source, const Error& error);

/// Counts a finished step of action `uses` (`connector.action`) with its HTTP status (0: none).
void record_step(std::string_view uses, std::string_view status, int http_status, double seconds);

/// Observes a run attempt's duration with the outcome recorded for it.
void record_run(std::string_view workflow, std::string_view status, double seconds);

/// Observes one store commit: its time and how many write requests it carried.
void record_commit(double seconds, std::size_t batch_size);

/// Counts a store batch that failed to commit.
void record_commit_failure();

/// Counts a new outbound connection opened by the REST client to `host`.
void record_connection_opened(std::string_view host);

/// `2xx`, `4xx`, ... for an HTTP status; `none` for 0 (no answer).
std::string status_class(int http_status);

/// A short fixed reason turned into a label value: lower case, `_` for anything else.
std::string reason_label(std::string_view reason);

}  // namespace hookflow::metrics
