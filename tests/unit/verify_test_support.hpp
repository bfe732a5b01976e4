#pragma once

// Helpers shared by the <provider>_verify_test.cpp files: fixture loading and one loop that
// runs every case of a signatures/*.json file through make_verifier.

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/common/crypto.hpp>
#include <hookflow/config/config.hpp>
#include <hookflow/verify/verifier.hpp>

namespace verify_test {

using hookflow::Headers;
using hookflow::config::SourceConfig;
using hookflow::verify::Delivery;
using hookflow::verify::Verifier;

inline nlohmann::json load_cases(const std::string& file) {
    std::ifstream in(std::string(HOOKFLOW_FIXTURES) + "/signatures/" + file);
    std::stringstream text;
    text << in.rdbuf();
    return nlohmann::json::parse(text.str());
}

inline Headers headers_of(const nlohmann::json& object) {
    Headers out;
    for (const auto& [name, value] : object.items()) {
        out.emplace_back(name, value.get<std::string>());
    }
    return out;
}

inline std::string body_of(const nlohmann::json& c) {
    auto body = hookflow::from_base64(c.at("body_b64").get<std::string>());
    EXPECT_TRUE(body.has_value());
    return body.value_or("");
}

inline std::string reason_of(const hookflow::Result<void>& result) {
    return result.ok() ? "accepted" : result.error().public_text;
}

inline SourceConfig source_for(const std::string& provider,
                               std::vector<std::string> secrets,
                               int tolerance_seconds = 300) {
    SourceConfig source;
    source.name = "test";
    source.provider = provider;
    source.secrets = std::move(secrets);
    source.tolerance_seconds = tolerance_seconds;
    return source;
}

/// The source a fixture case describes: its secret, public key and tolerance.
inline SourceConfig source_from_case(const std::string& provider, const nlohmann::json& c) {
    auto source = source_for(provider, {}, c.value("tolerance_s", 300));
    if (c.contains("secret") && c.at("secret").is_string()) {
        source.secrets.push_back(c.at("secret").get<std::string>());
    }
    if (c.contains("public_key") && c.at("public_key").is_string()) {
        source.public_keys.push_back(c.at("public_key").get<std::string>());
    }
    return source;
}

inline std::unique_ptr<Verifier> make(const SourceConfig& source) {
    auto verifier = hookflow::verify::make_verifier(source);
    EXPECT_TRUE(verifier.ok()) << (verifier.ok() ? "" : verifier.error().log_text);
    return verifier.ok() ? std::move(verifier).value() : nullptr;
}

/// Verifies `body` with `headers` at `now` through the verifier.
inline std::string verify_reason(const Verifier& verifier,
                                 const Headers& headers,
                                 std::string_view body,
                                 std::int64_t now,
                                 std::string_view target = "/hooks/test") {
    return reason_of(verifier.verify(Delivery{headers, body, target, now}));
}

/// What a case runs with: its source and the request target.
struct CaseSetup {
    SourceConfig source;
    std::string target = "/hooks/test";
};

using CaseSetupFn = std::function<CaseSetup(const nlohmann::json&)>;

/// Runs every case of `file` at its `now`: valid ones accepted, invalid ones rejected with
/// Errc::unauthorized. Returns the reasons by case name for finer checks.
inline std::map<std::string, std::string> expect_fixture_cases(const std::string& file,
                                                               std::size_t count,
                                                               const CaseSetupFn& setup) {
    std::map<std::string, std::string> reasons;
    auto cases = load_cases(file);
    EXPECT_EQ(cases.size(), count);
    for (const auto& c : cases) {
        auto name = c.at("name").get<std::string>();
        SCOPED_TRACE(name);
        auto run = setup(c);
        auto verifier = make(run.source);
        if (!verifier) {
            continue;
        }
        auto headers = headers_of(c.at("headers"));
        auto body = body_of(c);
        auto result = verifier->verify(Delivery{headers, body, run.target, c.at("now")});
        EXPECT_EQ(result.ok(), c.at("expect") == "valid") << reason_of(result);
        if (!result.ok()) {
            EXPECT_EQ(result.error().code, hookflow::Errc::unauthorized);
        }
        reasons[name] = reason_of(result);
    }
    return reasons;
}

/// The setup for a provider whose cases need only their own keys and tolerance.
inline CaseSetupFn plain_setup(const std::string& provider) {
    return [provider](const nlohmann::json& c) { return CaseSetup{source_from_case(provider, c)}; };
}

}  // namespace verify_test
