#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <hookflow/common/result.hpp>
#include <hookflow/connectors/connector.hpp>
#include <hookflow/engine/redact.hpp>

namespace hookflow::app {

/// One canned answer of a mock connector (`hookflow test --mock`).
struct MockResponse {
    int status = 200;
    nlohmann::json body = nlohmann::json::object();  // the step's output as workflows see it
    std::string error;                               // set: the call fails with this text
    std::optional<bool> retryable;                   // unset: 429, 5xx and status 0 retry

    /// Whether the call fails: a status outside 1..399 or an error text.
    bool failed() const;
};

/// The answers of a mock file. A list answers successive calls of a step or action in order,
/// its last entry repeating; anything unlisted answers `fallback`.
struct MockPlan {
    std::map<std::string, std::vector<MockResponse>> steps;    // by step id
    std::map<std::string, std::vector<MockResponse>> actions;  // by `connector.action`
    std::vector<MockResponse> fallback{MockResponse{}};        // `default:`, else 200 `{}`
};

/// Reads a mock file (YAML or JSON). Errc::bad_request with `file:line:col: message` lines
/// for malformed text and unknown keys.
Result<MockPlan> load_mock_plan(const std::filesystem::path& file);

/// One connector call the mocks answered, as recorded.
struct MockCall {
    std::string step_id;
    std::string uses;  // connector.action
    int attempt = 1;
    nlohmann::json with;  // as rendered, secrets replaced by `***`
    int status = 0;       // the mock status answered
};

/// The plan plus every call made so far; shared by all mock connectors of one test run.
class MockBook {
  public:
    /// `secrets` (NAME -> value) are redacted from what is recorded.
    MockBook(MockPlan plan, const std::map<std::string, std::string>& secrets);

    /// Records a call and picks its answer: by step id, then by action, then the default.
    MockResponse answer(const connectors::StepCall& call, const std::string& uses);

    /// `value` with every secret's text in its strings replaced by `***`.
    nlohmann::json redact(const nlohmann::json& value) const;

    /// The calls recorded so far, in order.
    std::vector<MockCall> calls() const;

  private:
    MockPlan plan_;
    engine::Redactor redactor_;
    mutable std::mutex mutex_;
    std::vector<MockCall> calls_;
    std::map<std::string, std::size_t> counts_;  // calls per step id
};

/// A registry with one mock for every connector of `real` (same names and actions); no call
/// leaves the process.
std::unique_ptr<connectors::Registry> mock_registry(const connectors::Registry& real,
                                                    std::shared_ptr<MockBook> book);

}  // namespace hookflow::app
