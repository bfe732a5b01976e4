#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/common/log.hpp>
#include <hookflow/config/config.hpp>

namespace {

using hookflow::Errc;
using hookflow::json_log_fields;
using hookflow::config::parse_config;
using hookflow::config::parse_size_bytes;
using nlohmann::json;

hookflow::config::EnvLookup no_env() {
    return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

TEST(ParseSize, UnitsAndPlainBytes) {
    EXPECT_EQ(*parse_size_bytes("512"), 512u);
    EXPECT_EQ(*parse_size_bytes("512B"), 512u);
    EXPECT_EQ(*parse_size_bytes("4KB"), 4096u);
    EXPECT_EQ(*parse_size_bytes("10MB"), 10u * 1024 * 1024);
    EXPECT_EQ(*parse_size_bytes("10MiB"), 10u * 1024 * 1024);
    EXPECT_EQ(*parse_size_bytes("2GB"), 2ull * 1024 * 1024 * 1024);
}

TEST(ParseSize, BadText_Refused) {
    for (const char* text : {"", "MB", "10 MB", "-1MB", "1.5MB", "10TB", "ten", "9999999999GB"}) {
        auto parsed = parse_size_bytes(text);
        ASSERT_FALSE(parsed.ok()) << text;
        EXPECT_EQ(parsed.error().code, Errc::invalid_config) << text;
    }
}

TEST(OpsConfig, LogRetentionKeys_Read) {
    auto config =
        parse_config("log:\n  max_size: 4KB\n  max_files: 2\nstorage:\n  retention_days: 30\n",
                     "t.yaml",
                     no_env());
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->log.max_size_bytes, 4096u);
    EXPECT_EQ(config->log.max_files, 2);
    EXPECT_EQ(config->storage.retention_days, 30);
}

TEST(OpsConfig, Defaults) {
    auto config = parse_config("{}\n", "t.yaml", no_env());
    ASSERT_TRUE(config.ok());
    EXPECT_EQ(config->log.max_size_bytes, 100u * 1024 * 1024);
    EXPECT_EQ(config->log.max_files, 5);
    EXPECT_EQ(config->storage.retention_days, 0);
    EXPECT_TRUE(config->server.tls_cert.empty());
}

TEST(OpsConfig, BadValues_ReportedWithPosition) {
    auto config =
        parse_config("log:\n  max_size: 100\nstorage:\n  retention_days: -2\n", "t.yaml", no_env());
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.error().log_text.find("t.yaml:2:13: log.max_size: expected a size"),
              std::string::npos)
        << config.error().log_text;
    EXPECT_NE(config.error().log_text.find("t.yaml:4:19: storage.retention_days"),
              std::string::npos)
        << config.error().log_text;
}

TEST(OpsConfig, TlsCertWithoutKey_Refused) {
    auto dir = std::filesystem::temp_directory_path() / "hookflow-ops-test-tls";
    std::filesystem::create_directories(dir);
    auto cert = (dir / "cert.pem").string();
    std::ofstream(cert) << "not checked here\n";
    auto config = parse_config("server:\n  tls:\n    cert: " + cert + "\n", "t.yaml", no_env());
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.error().log_text.find("t.yaml:2:3: server.tls: set both cert and key"),
              std::string::npos)
        << config.error().log_text;
    std::filesystem::remove_all(dir);
}

TEST(OpsConfig, TlsMissingFile_Refused) {
    auto config =
        parse_config("server:\n  tls:\n    cert: /nonexistent/c.pem\n    key: /nonexistent/k.pem\n",
                     "t.yaml",
                     no_env());
    ASSERT_FALSE(config.ok());
    EXPECT_NE(config.error().log_text.find(
                  "t.yaml:3:11: server.tls.cert: /nonexistent/c.pem does not exist"),
              std::string::npos)
        << config.error().log_text;
}

TEST(JsonLogFields, PhraseAndFields_BecomeKeys) {
    auto line = json::parse(json_log_fields(
        "http request method=POST path=/hooks/stripe http_status=200 bytes=57 elapsed_ms=3 "
        "client=203.0.113.9 request=req_1"));
    EXPECT_EQ(line["msg"], "http request");
    EXPECT_EQ(line["method"], "POST");
    EXPECT_EQ(line["path"], "/hooks/stripe");
    EXPECT_EQ(line["http_status"], 200);
    EXPECT_EQ(line["bytes"], 57);
    EXPECT_EQ(line["client"], "203.0.113.9");
    EXPECT_EQ(line["request"], "req_1");
}

TEST(JsonLogFields, QuotedValue_Unescaped) {
    auto line = json::parse(
        json_log_fields("run finished run=run_1 err=\"stripe 503: \\\"busy\\\" x=1\" attempt=2"));
    EXPECT_EQ(line["msg"], "run finished");
    EXPECT_EQ(line["err"], "stripe 503: \"busy\" x=1");
    EXPECT_EQ(line["attempt"], 2);
}

TEST(JsonLogFields, DigitIds_StayStrings) {
    auto line = json::parse(json_log_fields("delivery accepted delivery=12345 step=7 runs=1"));
    EXPECT_EQ(line["delivery"], "12345");
    EXPECT_EQ(line["step"], "7");
    EXPECT_EQ(line["runs"], 1);
}

TEST(JsonLogFields, PhraseWithPunctuation_AndReservedKey) {
    auto line = json::parse(
        json_log_fields("runs still in flight at shutdown; releasing their leases runs=3 msg=x"));
    EXPECT_EQ(line["msg"], "runs still in flight at shutdown; releasing their leases");
    EXPECT_EQ(line["runs"], 3);
    EXPECT_EQ(line["field_msg"], "x");
}

TEST(JsonLogFields, TextThatIsNotFields_KeptWhole) {
    EXPECT_EQ(json::parse(json_log_fields("plain text only"))["msg"], "plain text only");
    auto broken = json::parse(json_log_fields("bad quote err=\"never closed"));
    EXPECT_EQ(broken["msg"], "bad quote err=\"never closed");
    EXPECT_EQ(broken.size(), 1u);
}

}  // namespace
