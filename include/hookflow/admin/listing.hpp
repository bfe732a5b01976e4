#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>
#include <hookflow/store/store.hpp>

namespace hookflow::admin {

/// What the admin API and the CLI's read commands share: filters, cursors and the JSON shape
/// of events, runs and steps, so that both show the same data.

/// Most rows one page may hold; the default page holds kDefaultLimit.
inline constexpr int kMaxLimit = 500;
inline constexpr int kDefaultLimit = 50;

/// Milliseconds since the epoch from RFC 3339 (`2026-12-04T18:00:00Z`, `...+02:00`, fractions
/// allowed), a plain date (`2026-12-04`, midnight UTC) or unix seconds (`1796400000`).
/// Errc::bad_request for anything else.
Result<std::int64_t> parse_time_ms(std::string_view text);

/// An opaque page cursor that resumes a listing after the row with id `last_id`.
std::string encode_cursor(std::string_view last_id);

/// The row id inside a cursor from encode_cursor; Errc::bad_request when it is not one.
Result<std::string> decode_cursor(std::string_view cursor);

/// A page size from text: 1 to kMaxLimit; Errc::bad_request otherwise.
Result<int> parse_limit(std::string_view text);

/// Whether `status` is one a run can have (queued, running, succeeded, failed, dead, stale,
/// cancelled).
bool is_run_status(std::string_view status);

/// Every status a run can have, in a fixed order.
const std::vector<std::string>& run_statuses();

/// Event filters from their text forms (empty: no filter); Errc::bad_request on a bad time
/// or a range that ends before it starts.
Result<store::EventFilter> event_filter(std::string source,
                                        std::string type,
                                        std::string_view since,
                                        std::string_view until);

/// Run filters; Errc::bad_request for an unknown status.
Result<store::RunFilter> run_filter(std::string workflow, std::string status, std::string event);

/// Milliseconds as `2026-12-04T18:00:00Z` (`-` for 0).
std::string iso_time(std::int64_t ms);

/// An event without headers and body, as listings show it.
nlohmann::ordered_json event_json(const store::EventRow& event);
/// An event with its headers, raw body and runs.
nlohmann::ordered_json event_detail_json(const store::EventRow& event,
                                         const std::vector<store::RunRow>& runs);
/// A run as listings show it.
nlohmann::ordered_json run_json(const store::RunRow& run);
/// A run with its recorded steps.
nlohmann::ordered_json run_detail_json(const store::RunRow& run,
                                       const std::vector<store::StepRow>& steps);
/// One recorded step, its request and output parsed back to JSON.
nlohmann::ordered_json step_json(const store::StepRow& step);

}  // namespace hookflow::admin
