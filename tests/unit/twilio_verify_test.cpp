#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kPublicUrl = "https://hooks.example.com/hooks/sms";
const std::string kBody = "To=%2B15005550006&From=%2B14158675309&Body=Hello+w%C3%B6rld";

/// A case's URL as a source URL without query plus a request target carrying its query.
CaseSetup setup_for_url(const nlohmann::json& c, const std::string& url) {
    auto source = source_from_case("twilio", c);
    auto question = url.find('?');
    source.public_url = url.substr(0, question);
    std::string target = "/hooks/test";
    if (question != std::string::npos) {
        target += url.substr(question);
    }
    return CaseSetup{source, target};
}

std::string sha1_signature(const std::string& token, const std::string& text) {
    return hookflow::to_base64(hookflow::hmac_sha1(token, text));
}

SourceConfig twilio_source(std::vector<std::string> secrets) {
    auto source = source_for("twilio", std::move(secrets));
    source.public_url = kPublicUrl;
    return source;
}

TEST(TwilioVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("twilio.json", 11, [](const nlohmann::json& c) {
        return setup_for_url(c, c.at("url").get<std::string>());
    });
    EXPECT_EQ(reasons["invalid_json_body_tampered"], "body hash mismatch");
    EXPECT_EQ(reasons["invalid_missing_header"], "missing signature header");
    EXPECT_EQ(reasons["invalid_url_behind_reverse_proxy"], "no signature matched");
}

TEST(TwilioVerify, ReverseProxyCaseWithPublicUrl_Accepted) {
    for (const auto& c : load_cases("twilio.json")) {
        if (c.at("name") != "invalid_url_behind_reverse_proxy") {
            continue;
        }
        auto run = setup_for_url(c, c.at("public_url").get<std::string>());
        auto verifier = make(run.source);
        EXPECT_EQ(
            verify_reason(*verifier, headers_of(c.at("headers")), body_of(c), kNow, run.target),
            "accepted");
    }
}

TEST(TwilioVerify, SignThenVerify_AcceptedWithRotatedTokens) {
    auto signer = make(twilio_source({"old-token"}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    // Sorted by name, values form-decoded.
    auto text = kPublicUrl + "Body" + "Hello w\xc3\xb6rld" + "From+14158675309To+15005550006";
    EXPECT_EQ(hookflow::find_header(*headers, "X-Twilio-Signature").value_or(""),
              sha1_signature("old-token", text));

    auto rotated = make(twilio_source({"new-token", "old-token"}));
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow), "accepted");
    auto other = make(twilio_source({"new-token"}));
    EXPECT_EQ(verify_reason(*other, *headers, kBody, kNow), "no signature matched");
}

TEST(TwilioVerify, SignedWithDefaultPort_Accepted) {
    auto verifier = make(twilio_source({"t"}));
    auto text = std::string("https://hooks.example.com:443/hooks/sms?x=1") + "Body" +
                "Hello w\xc3\xb6rld" + "From+14158675309To+15005550006";
    Headers headers{{"X-Twilio-Signature", sha1_signature("t", text)}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow, "/hooks/sms?x=1"), "accepted");
}

TEST(TwilioVerify, QueryDropped_NotMatched) {
    auto verifier = make(twilio_source({"t"}));
    auto headers = verifier->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    EXPECT_EQ(verify_reason(*verifier, *headers, kBody, kNow, "/hooks/sms?extra=1"),
              "no signature matched");
}

TEST(TwilioVerify, UnknownAlgorithm_Malformed) {
    auto verifier = make(twilio_source({"t"}));
    Headers headers{{"X-Twilio-Signature", "AAAA"},
                    {"X-Twilio-Webhooks-Signature-Settings", "key=k,algorithm=HMAC_MD5"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "malformed signature header");
}

TEST(TwilioVerify, NoPublicUrl_Rejected) {
    auto verifier = make(source_for("twilio", {"t"}));
    Headers headers{{"X-Twilio-Signature", "AAAA"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "no public url configured");
}

TEST(TwilioVerify, NoPublicUrlForwardedUrl_VerifiesAgainstIt) {
    auto verifier = make(source_for("twilio", {"t"}));
    auto signer = make(twilio_source({"t"}));
    auto headers = signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    Delivery delivery{*headers, kBody, "/hooks/sms", kNow, kPublicUrl, ""};
    EXPECT_EQ(reason_of(verifier->verify(delivery)), "accepted");
    Delivery elsewhere{*headers, kBody, "/hooks/sms", kNow, "https://other.example.com/hooks/sms"};
    EXPECT_EQ(reason_of(verifier->verify(elsewhere)), "no signature matched");
}

TEST(TwilioVerify, PublicUrlConfigured_ForwardedUrlIgnored) {
    auto verifier = make(twilio_source({"t"}));
    auto headers = verifier->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    Delivery delivery{*headers, kBody, "/hooks/sms", kNow, "https://evil.example.com/x", ""};
    EXPECT_EQ(reason_of(verifier->verify(delivery)), "accepted");
}

TEST(TwilioVerify, NoPublicUrlUntrustedPeer_RejectedWithForwardedReason) {
    auto verifier = make(source_for("twilio", {"t"}));
    Headers headers{{"X-Twilio-Signature", "AAAA"}};
    Delivery delivery{headers,
                      kBody,
                      "/hooks/sms",
                      kNow,
                      "",
                      "no public url configured and peer is not a "
                      "trusted proxy"};
    EXPECT_EQ(reason_of(verifier->verify(delivery)),
              "no public url configured and peer is not a trusted proxy");
}

TEST(TwilioVerify, Identify_TokenOrHashAndConfiguredType) {
    auto source = twilio_source({"t"});
    auto verifier = make(source);
    Headers with_token{{"I-Twilio-Idempotency-Token", "tok-1"}};
    auto json = hookflow::verify::form_to_json(kBody);
    auto identity = verifier->identify(Delivery{with_token, kBody, "/hooks/sms", kNow}, json);
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "tok-1");
    EXPECT_EQ(identity->type, "twilio.request");

    source.event_type = "sms.received";
    Headers none;
    auto typed = make(source)->identify(Delivery{none, kBody, "/hooks/sms", kNow}, json);
    ASSERT_TRUE(typed.ok());
    EXPECT_EQ(typed->delivery_id, hookflow::to_hex(hookflow::sha256(kBody)));
    EXPECT_EQ(typed->type, "sms.received");
}

TEST(TwilioConfig, PublicUrl_ResolvedPerSource) {
    auto config = hookflow::config::parse_config(
        "server:\n  public_url: https://ext.example.com/base/\n"
        "sources:\n"
        "  sms:\n    provider: twilio\n    secrets: [t]\n    event_type: sms.in\n"
        "  rewritten:\n    provider: twilio\n    secrets: [t]\n"
        "    public_url: https://edge.example.com/twilio/sms\n"
        "  own_host:\n    provider: twilio\n    secrets: [t]\n"
        "    public_url: https://other.example.com\n",
        "test.yaml",
        [](const std::string&) { return std::optional<std::string>(); });
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->sources.at("sms").public_url, "https://ext.example.com/base/hooks/sms");
    EXPECT_EQ(config->sources.at("sms").event_type, "sms.in");
    EXPECT_EQ(config->sources.at("rewritten").public_url, "https://edge.example.com/twilio/sms");
    EXPECT_EQ(config->sources.at("own_host").public_url,
              "https://other.example.com/hooks/own_host");
}

}  // namespace
