#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody = R"({"data":{"id":"obj_1","kind":"order.paid"}})";

hookflow::Result<hookflow::config::Config> parse(const std::string& yaml) {
    return hookflow::config::parse_config(
        yaml, "test.yaml", [](const std::string&) { return std::optional<std::string>(); });
}

SourceConfig hmac_source(const std::string& algorithm,
                         const std::string& encoding,
                         const std::string& prefix) {
    auto source = source_for("hmac", {"k1"});
    source.hmac.header = "X-Signature";
    source.hmac.algorithm = algorithm;
    source.hmac.encoding = encoding;
    source.hmac.prefix = prefix;
    return source;
}

TEST(HmacVerify, EveryAlgorithmAndEncoding_KnownMac) {
    struct Case {
        std::string algorithm;
        std::string encoding;
        std::string expected;
    };
    const Case cases[] = {
        {"sha1", "hex", hookflow::to_hex(hookflow::hmac_sha1("k1", kBody))},
        {"sha256", "base64", hookflow::to_base64(hookflow::hmac_sha256("k1", kBody))},
        {"sha512", "hex", hookflow::to_hex(hookflow::hmac_sha512("k1", kBody))},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.algorithm + "/" + c.encoding);
        auto verifier = make(hmac_source(c.algorithm, c.encoding, "v="));
        Headers headers{{"x-signature", "v=" + c.expected}};
        EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "accepted");
        auto signed_headers = verifier->sign(kBody, kNow);
        ASSERT_TRUE(signed_headers.ok());
        EXPECT_EQ(*signed_headers, (Headers{{"X-Signature", "v=" + c.expected}}));
        Headers no_prefix{{"X-Signature", c.expected}};
        EXPECT_EQ(verify_reason(*verifier, no_prefix, kBody, kNow), "malformed signature header");
    }
    EXPECT_EQ(hookflow::hmac_sha1("key", "The quick brown fox jumps over the lazy dog").size(),
              20u);
    EXPECT_EQ(
        hookflow::to_hex(hookflow::hmac_sha1("key", "The quick brown fox jumps over the lazy dog")),
        "de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9");
}

TEST(HmacVerify, TimestampHeader_FoldedAndChecked) {
    auto source = hmac_source("sha256", "hex", "");
    source.hmac.timestamp_header = "X-Timestamp";
    auto verifier = make(source);
    auto headers = verifier->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(hookflow::find_header(*headers, "X-Signature").value_or(""),
              hookflow::to_hex(hookflow::hmac_sha256("k1", "1767225600." + kBody)));
    EXPECT_EQ(verify_reason(*verifier, *headers, kBody, kNow + 300), "accepted");
    EXPECT_EQ(verify_reason(*verifier, *headers, kBody, kNow - 301), "timestamp outside tolerance");
    Headers no_time{{"X-Signature", "00"}};
    EXPECT_EQ(verify_reason(*verifier, no_time, kBody, kNow), "missing timestamp header");
}

TEST(HmacVerify, RotatedSecrets_Accepted) {
    auto old_source = hmac_source("sha256", "hex", "sha256=");
    auto headers = make(old_source)->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    auto rotated_source = old_source;
    rotated_source.secrets = {"k2", "k1"};
    EXPECT_EQ(verify_reason(*make(rotated_source), *headers, kBody, kNow), "accepted");
    rotated_source.secrets = {"k2"};
    EXPECT_EQ(verify_reason(*make(rotated_source), *headers, kBody, kNow), "no signature matched");
}

TEST(HmacVerify, ConfigKeys_DriveIdentity) {
    auto config = parse(
        "sources:\n  generic:\n    provider: hmac\n    secrets: [k1]\n"
        "    header: X-Signature\n    algorithm: sha512\n    encoding: base64\n"
        "    prefix: 'sha512='\n    timestamp_header: X-Timestamp\n"
        "    delivery_id: 'header:X-Request-Id'\n    event_type: data.kind\n");
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    const auto& source = config->sources.at("generic");
    EXPECT_EQ(source.hmac.algorithm, "sha512");
    EXPECT_EQ(source.hmac.encoding, "base64");
    EXPECT_EQ(source.hmac.prefix, "sha512=");
    auto verifier = make(source);
    auto headers = verifier->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(verify_reason(*verifier, *headers, kBody, kNow), "accepted");
    headers->emplace_back("X-Request-Id", "req-9");
    auto identity = verifier->identify(Delivery{*headers, kBody, "/hooks/generic", kNow},
                                       nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "req-9");
    EXPECT_EQ(identity->type, "order.paid");
}

TEST(HmacVerify, DefaultIdentity_BodyHashAndHmacRequest) {
    auto verifier = make(hmac_source("sha256", "hex", ""));
    Headers headers;
    auto identity = verifier->identify(Delivery{headers, kBody, "/hooks/test", kNow},
                                       nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, hookflow::to_hex(hookflow::sha256(kBody)));
    EXPECT_EQ(identity->type, "hmac.request");
}

TEST(HmacConfig, BadKeys_Rejected) {
    auto bad_algorithm = parse(
        "sources:\n  g:\n    provider: hmac\n    secrets: [k]\n    header: X-S\n"
        "    algorithm: md5\n");
    ASSERT_FALSE(bad_algorithm.ok());
    EXPECT_NE(bad_algorithm.error().log_text.find("sources.g.algorithm: expected one of sha1"),
              std::string::npos)
        << bad_algorithm.error().log_text;
    auto no_header = parse("sources:\n  g:\n    provider: hmac\n    secrets: [k]\n");
    ASSERT_FALSE(no_header.ok());
    EXPECT_NE(no_header.error().log_text.find("needs key 'header'"), std::string::npos);
    auto unknown = parse("sources:\n  g:\n    provider: github\n    secrets: [k]\n    hedaer: x\n");
    ASSERT_FALSE(unknown.ok());
}

TEST(HmacConfig, PublicKeysList_ReadWithMissingVars) {
    auto config = hookflow::config::parse_config(
        "sources:\n  sg:\n    provider: sendgrid\n"
        "    public_keys: [\"${SG_KEY}\", \"${SG_OLD_KEY}\"]\n",
        "test.yaml",
        [](const std::string& name) {
            return name == "SG_KEY" ? std::optional<std::string>("abc") : std::nullopt;
        });
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    const auto& source = config->sources.at("sg");
    EXPECT_EQ(source.public_keys, std::vector<std::string>{"abc"});
    EXPECT_EQ(source.missing_vars, std::vector<std::string>{"SG_OLD_KEY"});
}

}  // namespace
