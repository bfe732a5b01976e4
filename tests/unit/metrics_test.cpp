#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <hookflow/admin/listing.hpp>
#include <hookflow/common/metrics.hpp>

namespace {

using hookflow::Errc;
using hookflow::metrics::Registry;

TEST(Metrics, Counter_ExposedWithHelpTypeAndSortedSeries) {
    Registry registry;
    auto& deliveries =
        registry.counter("test_deliveries_total", "Deliveries by source.", {"source", "outcome"});
    deliveries.inc({"stripe", "accepted"});
    deliveries.inc({"stripe", "accepted"}, 2);
    deliveries.inc({"github", "duplicate"});
    EXPECT_EQ(deliveries.value({"stripe", "accepted"}), 3.0);
    EXPECT_EQ(registry.expose(),
              "# HELP test_deliveries_total Deliveries by source.\n"
              "# TYPE test_deliveries_total counter\n"
              "test_deliveries_total{source=\"github\",outcome=\"duplicate\"} 1\n"
              "test_deliveries_total{source=\"stripe\",outcome=\"accepted\"} 3\n");
}

TEST(Metrics, CounterNegativeIncrement_Ignored) {
    Registry registry;
    auto& counter = registry.counter("test_total", "t", {});
    counter.inc({}, 2);
    counter.inc({}, -5);
    EXPECT_EQ(counter.value({}), 2.0);
}

TEST(Metrics, LabelValues_EscapedAndEmptyOnesLeftOut) {
    Registry registry;
    auto& gauge = registry.gauge("test_gauge", "Help with \\ and\nnewline.", {"a", "b"});
    gauge.set({"quote\" back\\slash\nline", ""}, 1.5);
    EXPECT_EQ(registry.expose(),
              "# HELP test_gauge Help with \\\\ and\\nnewline.\n"
              "# TYPE test_gauge gauge\n"
              "test_gauge{a=\"quote\\\" back\\\\slash\\nline\"} 1.5\n");
}

TEST(Metrics, Histogram_BucketsCumulativeAndInfEqualsCount) {
    Registry registry;
    auto& histogram = registry.histogram("test_seconds", "Durations.", {"step"}, {0.1, 1, 10});
    // 1 sits exactly on a bound and counts in it (le: less or equal).
    for (double value : {0.0625, 0.09375, 1.0, 2.0, 20.0}) {
        histogram.observe({"a"}, value);
    }
    auto snap = histogram.snapshot({"a"});
    EXPECT_EQ(snap.cumulative, (std::vector<std::uint64_t>{2, 3, 4, 5}));
    EXPECT_EQ(snap.count, 5u);
    EXPECT_EQ(snap.sum, 23.15625);
    EXPECT_EQ(registry.expose(),
              "# HELP test_seconds Durations.\n"
              "# TYPE test_seconds histogram\n"
              "test_seconds_bucket{step=\"a\",le=\"0.1\"} 2\n"
              "test_seconds_bucket{step=\"a\",le=\"1\"} 3\n"
              "test_seconds_bucket{step=\"a\",le=\"10\"} 4\n"
              "test_seconds_bucket{step=\"a\",le=\"+Inf\"} 5\n"
              "test_seconds_sum{step=\"a\"} 23.15625\n"
              "test_seconds_count{step=\"a\"} 5\n");
}

TEST(Metrics, BadNames_RefusedAtRegistration) {
    Registry registry;
    EXPECT_THROW(registry.counter("no_suffix", "h", {}), std::invalid_argument);
    EXPECT_THROW(registry.gauge("1starts_with_digit", "h", {}), std::invalid_argument);
    EXPECT_THROW(registry.gauge("ok_name", "h", {"__reserved"}), std::invalid_argument);
    EXPECT_THROW(registry.histogram("h_seconds", "h", {"le"}, {1}), std::invalid_argument);
    EXPECT_THROW(registry.histogram("h2_seconds", "h", {}, {2, 1}), std::invalid_argument);
    registry.gauge("twice", "h", {});
    EXPECT_THROW(registry.gauge("twice", "h", {}), std::invalid_argument);
}

TEST(Metrics, WrongLabelCount_FittedNotThrown) {
    Registry registry;
    auto& counter = registry.counter("test_total", "t", {"a", "b"});
    counter.inc({"x"});
    counter.inc({"x", "", "extra"});
    EXPECT_EQ(counter.value({"x", ""}), 2.0);
}

TEST(Metrics, ConcurrentIncrements_NoneLost) {
    Registry registry;
    auto& counter = registry.counter("test_total", "t", {"thread"});
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&counter] {
            for (int i = 0; i < 10000; ++i) {
                counter.inc({"all"});
            }
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(counter.value({"all"}), 40000.0);
}

TEST(Metrics, FormatValue_ShortestExactAndSpecials) {
    using hookflow::metrics::format_value;
    EXPECT_EQ(format_value(3), "3");
    EXPECT_EQ(format_value(0.25), "0.25");
    EXPECT_EQ(format_value(1e21), "1e+21");
    EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
    EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
    EXPECT_EQ(format_value(std::numeric_limits<double>::quiet_NaN()), "NaN");
}

TEST(Metrics, StatusClassAndReasonLabel) {
    using hookflow::metrics::reason_label;
    using hookflow::metrics::status_class;
    EXPECT_EQ(status_class(200), "2xx");
    EXPECT_EQ(status_class(404), "4xx");
    EXPECT_EQ(status_class(503), "5xx");
    EXPECT_EQ(status_class(0), "none");
    EXPECT_EQ(reason_label("No signature matched"), "no_signature_matched");
    EXPECT_EQ(reason_label(std::string(100, 'x')).size(), 48u);
}

TEST(Cursor, RoundTrip_UrlSafeAndOpaque) {
    using hookflow::admin::decode_cursor;
    using hookflow::admin::encode_cursor;
    const std::string id = "ev_0190a4c2b3d1_9f3c2a7e";
    auto cursor = encode_cursor(id);
    EXPECT_EQ(cursor.find_first_of("+/=&?"), std::string::npos);
    EXPECT_EQ(cursor.find(id), std::string::npos);
    auto back = decode_cursor(cursor);
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, id);
}

TEST(Cursor, Garbage_BadRequest) {
    using hookflow::admin::decode_cursor;
    using hookflow::admin::encode_cursor;
    for (const std::string& bad :
         std::vector<std::string>{"", "!!!", "abc", "ZXZfMQ", std::string(300, 'A')}) {
        auto decoded = decode_cursor(bad);
        ASSERT_FALSE(decoded.ok()) << bad;
        EXPECT_EQ(decoded.error().code, Errc::bad_request);
    }
    // A well-formed cursor holding characters no id has.
    EXPECT_FALSE(decode_cursor(encode_cursor("ev_1' OR 1=1")).ok());
}

TEST(TimeFilter, Rfc3339AndUnixSeconds_Parsed) {
    using hookflow::admin::parse_time_ms;
    EXPECT_EQ(*parse_time_ms("1700000000"), 1700000000000);
    EXPECT_EQ(*parse_time_ms("2023-11-14T22:13:20Z"), 1700000000000);
    EXPECT_EQ(*parse_time_ms("2023-11-14T22:13:20.250Z"), 1700000000250);
    EXPECT_EQ(*parse_time_ms("2023-11-15T00:13:20+02:00"), 1700000000000);
    EXPECT_EQ(*parse_time_ms("2023-11-14t17:13:20-05:00"), 1700000000000);
    EXPECT_EQ(*parse_time_ms("2023-11-14"), 1699920000000);
}

TEST(TimeFilter, Malformed_BadRequest) {
    using hookflow::admin::parse_time_ms;
    for (const char* bad : {"",
                            "yesterday",
                            "2023-13-01T00:00:00Z",
                            "2023-02-30",
                            "2023-11-14T25:00:00Z",
                            "2023-11-14T10:00:00",
                            "2023-11-14T10:00:00+0200",
                            "-5",
                            "1700000000.5"}) {
        auto parsed = parse_time_ms(bad);
        ASSERT_FALSE(parsed.ok()) << bad;
        EXPECT_EQ(parsed.error().code, Errc::bad_request);
    }
}

TEST(ListFilters, UnknownStatusAndInvertedRange_BadRequest) {
    EXPECT_FALSE(hookflow::admin::run_filter("", "finished", "").ok());
    EXPECT_TRUE(hookflow::admin::run_filter("", "dead", "").ok());
    EXPECT_FALSE(hookflow::admin::event_filter("", "", "2000", "1000").ok());
    EXPECT_FALSE(hookflow::admin::parse_limit("0").ok());
    EXPECT_FALSE(hookflow::admin::parse_limit("501").ok());
    EXPECT_FALSE(hookflow::admin::parse_limit("5x").ok());
    EXPECT_EQ(*hookflow::admin::parse_limit("500"), 500);
}

}  // namespace
