#include <cctype>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "verify_test_support.hpp"

namespace {

using namespace verify_test;

constexpr std::int64_t kNow = 1767225600;
const std::string kBody = R"({"action":"opened","number":1})";

TEST(GithubVerify, FixtureCases_MatchExpect) {
    auto reasons = expect_fixture_cases("github.json", 10, plain_setup("github"));
    EXPECT_EQ(reasons["invalid_sha1_only"], "missing signature header");
    EXPECT_EQ(reasons["invalid_missing_header"], "missing signature header");
    EXPECT_EQ(reasons["invalid_wrong_secret"], "no signature matched");
    EXPECT_EQ(reasons["invalid_form_body_signed_json"], "no signature matched");
}

TEST(GithubVerify, SignThenVerify_AcceptedWithRotatedSecrets) {
    auto old_signer = make(source_for("github", {"old-secret"}));
    auto headers = old_signer->sign(kBody, kNow);
    ASSERT_TRUE(headers.ok());
    ASSERT_EQ(headers->size(), 1u);
    EXPECT_EQ(headers->front().first, "X-Hub-Signature-256");
    EXPECT_EQ(headers->front().second,
              "sha256=" + hookflow::to_hex(hookflow::hmac_sha256("old-secret", kBody)));

    auto rotated = make(source_for("github", {"new-secret", "old-secret"}));
    EXPECT_EQ(verify_reason(*rotated, *headers, kBody, kNow), "accepted");
    auto other = make(source_for("github", {"new-secret"}));
    EXPECT_EQ(verify_reason(*other, *headers, kBody, kNow), "no signature matched");
}

TEST(GithubVerify, MissingPrefix_Malformed) {
    auto verifier = make(source_for("github", {"s"}));
    Headers headers{{"X-Hub-Signature-256", hookflow::to_hex(hookflow::hmac_sha256("s", kBody))}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "malformed signature header");
}

TEST(GithubVerify, UpperCaseHex_Accepted) {
    auto verifier = make(source_for("github", {"s"}));
    auto hex = hookflow::to_hex(hookflow::hmac_sha256("s", kBody));
    for (auto& c : hex) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    Headers headers{{"x-hub-signature-256", "sha256=" + hex}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "accepted");
}

TEST(GithubVerify, Identify_EventWithAction) {
    auto verifier = make(source_for("github", {"s"}));
    Headers headers{{"X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
                    {"X-GitHub-Event", "pull_request"}};
    auto identity = verifier->identify(Delivery{headers, kBody, "/hooks/test", kNow},
                                       nlohmann::json::parse(kBody));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->delivery_id, "72d3162e-cc78-11e3-81ab-4c9367dc0958");
    EXPECT_EQ(identity->type, "pull_request.opened");

    Headers push{{"X-GitHub-Delivery", "d1"}, {"X-GitHub-Event", "push"}};
    auto push_identity =
        verifier->identify(Delivery{push, "{}", "/hooks/test", kNow}, nlohmann::json::object());
    ASSERT_TRUE(push_identity.ok());
    EXPECT_EQ(push_identity->type, "push");
}

TEST(GithubVerify, IdentifyFormPayload_ActionFromPayload) {
    auto verifier = make(source_for("github", {"s"}));
    Headers headers{{"X-GitHub-Delivery", "d2"}, {"X-GitHub-Event", "issues"}};
    std::string body = "payload=%7B%22action%22%3A%22closed%22%7D";
    auto identity = verifier->identify(Delivery{headers, body, "/hooks/test", kNow},
                                       hookflow::verify::form_to_json(body));
    ASSERT_TRUE(identity.ok());
    EXPECT_EQ(identity->type, "issues.closed");
}

TEST(GithubVerify, IdentifyWithoutDeliveryHeader_BadRequest) {
    auto verifier = make(source_for("github", {"s"}));
    Headers headers{{"X-GitHub-Event", "push"}};
    auto identity =
        verifier->identify(Delivery{headers, "{}", "/hooks/test", kNow}, nlohmann::json::object());
    ASSERT_FALSE(identity.ok());
    EXPECT_EQ(identity.error().code, hookflow::Errc::bad_request);
}

TEST(GithubVerify, NoSecret_RejectsEverything) {
    auto verifier = make(source_for("github", {}));
    Headers headers{{"X-Hub-Signature-256", "sha256=00"}};
    EXPECT_EQ(verify_reason(*verifier, headers, kBody, kNow), "no secret configured");
}

}  // namespace
