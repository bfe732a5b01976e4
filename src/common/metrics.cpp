#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>

#include <hookflow/common/metrics.hpp>

namespace hookflow::metrics {

namespace {

constexpr std::size_t kReasonLimit = 48;

bool name_char(char c, bool first, bool colon) {
    bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
    return alpha || (!first && c >= '0' && c <= '9');
}

bool valid_name(std::string_view name, bool colon) {
    if (name.empty()) {
        return false;
    }
    for (std::size_t i = 0; i < name.size(); ++i) {
        if (!name_char(name[i], i == 0, colon)) {
            return false;
        }
    }
    return true;
}

std::string escape_help(std::string_view help) {
    std::string out;
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

const std::vector<double> kSecondsBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};
const std::vector<double> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64, 128, 256};

}  // namespace

std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    return out;
}

std::string format_value(double value) {
    if (std::isnan(value)) {
        return "NaN";
    }
    if (std::isinf(value)) {
        return value > 0 ? "+Inf" : "-Inf";
    }
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    return ec == std::errc{} ? std::string(buf, end) : std::string("NaN");
}

bool valid_metric_name(std::string_view name) {
    return valid_name(name, true);
}

bool valid_label_name(std::string_view name) {
    return valid_name(name, false) && !name.starts_with("__");
}

// ---- Family ----

Family::Family(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

void Family::expose(std::string& out) const {
    out += "# HELP " + name_ + " " + escape_help(help_) + "\n";
    out += "# TYPE " + name_ + " " + type() + "\n";
    std::lock_guard lock(mutex_);
    expose_series(out);
}

LabelValues Family::fit(const LabelValues& labels) const {
    LabelValues out = labels;
    out.resize(label_names_.size());
    return out;
}

std::string Family::label_text(const LabelValues& values, std::string_view extra) const {
    std::string out;
    for (std::size_t i = 0; i < label_names_.size() && i < values.size(); ++i) {
        if (values[i].empty()) {
            continue;
        }
        out += out.empty() ? "{" : ",";
        out += label_names_[i] + "=\"" + escape_label_value(values[i]) + "\"";
    }
    if (!extra.empty()) {
        out += out.empty() ? "{" : ",";
        out += extra;
    }
    return out.empty() ? out : out + "}";
}

// ---- Counter, Gauge ----

void Counter::inc(const LabelValues& labels, double by) {
    if (!(by >= 0)) {
        return;
    }
    auto key = fit(labels);
    std::lock_guard lock(mutex_);
    values_[key] += by;
}

double Counter::value(const LabelValues& labels) const {
    auto key = fit(labels);
    std::lock_guard lock(mutex_);
    auto found = values_.find(key);
    return found == values_.end() ? 0.0 : found->second;
}

void Counter::expose_series(std::string& out) const {
    for (const auto& [labels, value] : values_) {
        out += name_ + label_text(labels) + " " + format_value(value) + "\n";
    }
}

void Gauge::set(const LabelValues& labels, double value) {
    auto key = fit(labels);
    std::lock_guard lock(mutex_);
    values_[key] = value;
}

double Gauge::value(const LabelValues& labels) const {
    auto key = fit(labels);
    std::lock_guard lock(mutex_);
    auto found = values_.find(key);
    return found == values_.end() ? 0.0 : found->second;
}

void Gauge::expose_series(std::string& out) const {
    for (const auto& [labels, value] : values_) {
        out += name_ + label_text(labels) + " " + format_value(value) + "\n";
    }
}

// ---- Histogram ----

Histogram::Histogram(std::string name,
                     std::string help,
                     std::vector<std::string> label_names,
                     std::vector<double> buckets)
    : Family(std::move(name), std::move(help), std::move(label_names)),
      buckets_(std::move(buckets)) {
    if (!std::is_sorted(buckets_.begin(), buckets_.end()) ||
        std::adjacent_find(buckets_.begin(), buckets_.end()) != buckets_.end()) {
        throw std::invalid_argument("histogram " + name_ + ": buckets must increase");
    }
}

void Histogram::observe(const LabelValues& labels, double value) {
    if (std::isnan(value)) {
        return;
    }
    auto key = fit(labels);
    auto bucket = static_cast<std::size_t>(
        std::lower_bound(buckets_.begin(), buckets_.end(), value) - buckets_.begin());
    std::lock_guard lock(mutex_);
    auto& series = series_[key];
    series.counts.resize(buckets_.size() + 1);
    ++series.counts[bucket];
    series.sum += value;
    ++series.count;
}

Histogram::Snapshot Histogram::snapshot_of(const Series& series) const {
    Snapshot out;
    out.cumulative.resize(buckets_.size() + 1);
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < out.cumulative.size(); ++i) {
        running += i < series.counts.size() ? series.counts[i] : 0;
        out.cumulative[i] = running;
    }
    out.sum = series.sum;
    out.count = series.count;
    return out;
}

Histogram::Snapshot Histogram::snapshot(const LabelValues& labels) const {
    auto key = fit(labels);
    std::lock_guard lock(mutex_);
    auto found = series_.find(key);
    return snapshot_of(found == series_.end() ? Series{} : found->second);
}

void Histogram::expose_series(std::string& out) const {
    for (const auto& [labels, series] : series_) {
        auto snap = snapshot_of(series);
        for (std::size_t i = 0; i < snap.cumulative.size(); ++i) {
            auto bound = i < buckets_.size() ? format_value(buckets_[i]) : std::string("+Inf");
            out += name_ + "_bucket" + label_text(labels, "le=\"" + bound + "\"") + " " +
                   std::to_string(snap.cumulative[i]) + "\n";
        }
        out += name_ + "_sum" + label_text(labels) + " " + format_value(snap.sum) + "\n";
        out += name_ + "_count" + label_text(labels) + " " + std::to_string(snap.count) + "\n";
    }
}

// ---- Registry ----

template <class F, class... Args>
F& Registry::add(std::string name,
                 std::string help,
                 std::vector<std::string> labels,
                 Args&&... args) {
    if (!valid_metric_name(name)) {
        throw std::invalid_argument("bad metric name: " + name);
    }
    for (const auto& label : labels) {
        if (!valid_label_name(label) || label == "le") {
            throw std::invalid_argument("metric " + name + ": bad label name: " + label);
        }
    }
    std::lock_guard lock(mutex_);
    for (const auto& family : families_) {
        if (family->name() == name) {
            throw std::invalid_argument("metric registered twice: " + name);
        }
    }
    auto family = std::make_unique<F>(
        std::move(name), std::move(help), std::move(labels), std::forward<Args>(args)...);
    auto& ref = *family;
    families_.push_back(std::move(family));
    return ref;
}

Counter& Registry::counter(std::string name, std::string help, std::vector<std::string> labels) {
    if (!name.ends_with("_total")) {
        throw std::invalid_argument("counter name must end in _total: " + name);
    }
    return add<Counter>(std::move(name), std::move(help), std::move(labels));
}

Gauge& Registry::gauge(std::string name, std::string help, std::vector<std::string> labels) {
    return add<Gauge>(std::move(name), std::move(help), std::move(labels));
}

Histogram& Registry::histogram(std::string name,
                               std::string help,
                               std::vector<std::string> labels,
                               std::vector<double> buckets) {
    return add<Histogram>(std::move(name), std::move(help), std::move(labels), std::move(buckets));
}

std::string Registry::expose() const {
    std::string out;
    std::lock_guard lock(mutex_);
    for (const auto& family : families_) {
        family->expose(out);
    }
    return out;
}

// ---- hookflow's instruments ----

Registry& registry() {
    static Registry instance;
    return instance;
}

namespace {

Instruments make_instruments(Registry& r) {
    return Instruments{
        r.counter("hookflow_deliveries_total",
                  "Deliveries to /hooks by source and outcome (accepted, duplicate, rejected); "
                  "rejected ones carry a reason.",
                  {"source", "outcome", "reason"}),
        r.counter("hookflow_verification_failures_total",
                  "Deliveries whose signature check failed, by source and the verifier's reason.",
                  {"source", "reason"}),
        r.gauge("hookflow_runs",
                "Runs in the store by status, counted when scraped (queued and failed are the "
                "queue; dead need an operator).",
                {"status"}),
        r.histogram("hookflow_run_duration_seconds",
                    "Time of one run attempt, claim to recorded outcome, by workflow and outcome.",
                    {"workflow", "status"},
                    kSecondsBuckets),
        r.histogram("hookflow_step_duration_seconds",
                    "Time of one step attempt that called its connector, by connector and action.",
                    {"connector", "action"},
                    kSecondsBuckets),
        r.counter("hookflow_steps_total",
                  "Finished step attempts by connector, action, outcome and HTTP status class.",
                  {"connector", "action", "outcome", "status_class"}),
        r.histogram("hookflow_store_commit_seconds",
                    "Time of one store transaction (group commit), BEGIN to COMMIT.",
                    {},
                    kSecondsBuckets),
        r.histogram("hookflow_store_commit_batch_size",
                    "Write requests carried by one store commit.",
                    {},
                    kBatchBuckets),
        r.counter("hookflow_store_commit_failures_total",
                  "Store transactions that failed to commit (their requests were refused).",
                  {}),
        r.counter("hookflow_rest_connections_opened_total",
                  "Outbound connections opened by the REST client, by host.",
                  {"host"}),
    };
}

std::string rejection_reason(Errc code) {
    switch (code) {
        case Errc::unauthorized:
            return "signature";
        case Errc::bad_request:
        case Errc::expression:
            return "bad_request";
        case Errc::not_found:
            return "unknown_source";
        case Errc::method_not_allowed:
            return "method_not_allowed";
        case Errc::payload_too_large:
            return "too_large";
        case Errc::store_unavailable:
            return "store_unavailable";
        case Errc::timeout:
            return "timeout";
        case Errc::invalid_config:
        case Errc::invalid_workflow:
        case Errc::connector:
        case Errc::network:
        case Errc::internal:
            return "error";
    }
    return "error";
}

}  // namespace

Instruments& instruments() {
    static Instruments instance = [] {
        auto made = make_instruments(registry());
        made.commit_failures.inc({}, 0);  // a series from the start, so alerts see 0, not absent
        return made;
    }();
    return instance;
}

std::string status_class(int http_status) {
    if (http_status < 100 || http_status > 599) {
        return "none";
    }
    return std::to_string(http_status / 100) + "xx";
}

std::string reason_label(std::string_view reason) {
    std::string out;
    for (char c : reason.substr(0, kReasonLimit)) {
        bool keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (c >= 'A' && c <= 'Z') {
            out += static_cast<char>(c - 'A' + 'a');
        } else {
            out += keep ? c : '_';
        }
    }
    return out;
}

void record_delivery(std::string_view source, bool duplicate) {
    instruments().deliveries.inc({std::string(source), duplicate ? "duplicate" : "accepted", ""});
}

void record_rejection(std::string_view source, const Error& error) {
    // An unknown source is one label value, not the name sent: senders cannot grow the series.
    std::string name = source.empty() ? "_unknown" : std::string(source);
    auto& m = instruments();
    m.deliveries.inc({name, "rejected", rejection_reason(error.code)});
    if (error.code == Errc::unauthorized) {
        m.verification_failures.inc({name, reason_label(error.log_text)});
    }
}

void record_step(std::string_view uses, std::string_view status, int http_status, double seconds) {
    auto dot = uses.find('.');
    std::string connector(uses.substr(0, dot));
    std::string action(dot == std::string_view::npos ? "" : uses.substr(dot + 1));
    auto& m = instruments();
    m.steps.inc({connector, action, std::string(status), status_class(http_status)});
    if (status != "skipped") {
        m.step_duration.observe({connector, action}, seconds);
    }
}

void record_run(std::string_view workflow, std::string_view status, double seconds) {
    instruments().run_duration.observe({std::string(workflow), std::string(status)}, seconds);
}

void record_commit(double seconds, std::size_t batch_size) {
    auto& m = instruments();
    m.commit_seconds.observe({}, seconds);
    m.commit_batch_size.observe({}, static_cast<double>(batch_size));
}

void record_commit_failure() {
    instruments().commit_failures.inc({});
}

void record_connection_opened(std::string_view host) {
    instruments().rest_connections.inc({std::string(host)});
}

}  // namespace hookflow::metrics
