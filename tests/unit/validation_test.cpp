// Every broken workflow in tests/fixtures/workflows/invalid/ with the exact error lines
// that loading and checking it must give (`<case>.expected`).

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include <hookflow/engine/workflow.hpp>

namespace {

namespace fs = std::filesystem;
using hookflow::engine::LoadError;

// The fixtures folder: beside this source file, or found walking up from the working
// directory (the build tree sits inside the checkout; __FILE__ may be relative under ccache).
fs::path fixtures() {
    const auto relative = fs::path("tests") / "fixtures" / "workflows" / "invalid";
    auto beside = fs::absolute(__FILE__).parent_path().parent_path().parent_path() / relative;
    if (fs::is_directory(beside)) {
        return beside;
    }
    for (auto dir = fs::current_path(); !dir.empty(); dir = dir.parent_path()) {
        if (fs::is_directory(dir / relative)) {
            return dir / relative;
        }
        if (dir == dir.parent_path()) {
            break;
        }
    }
    return beside;
}

std::string read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The checks `hookflow validate` runs, against a config with source `stripe`, the six
// connectors (each of its own type) and the secrets STRIPE_KEY and CRM_TOKEN.
std::vector<std::string> check(const std::string& text, const std::string& file) {
    auto parsed = hookflow::engine::parse_workflow(text, file);
    auto errors = parsed.errors;
    if (parsed.workflow) {
        const std::vector<std::string> connectors = {
            "stripe", "crm", "llm", "sendgrid", "slack", "http"};
        auto known = [&](const std::string& name) {
            return std::find(connectors.begin(), connectors.end(), name) != connectors.end();
        };
        auto has_action = [](const std::string& connector, const std::string& action) {
            return action == (connector == "llm"        ? "chat"
                              : connector == "sendgrid" ? "send"
                              : connector == "slack"    ? "post"
                                                        : "request");
        };
        auto type_of = [&](const std::string& name) { return known(name) ? name : ""; };
        const auto& workflow = *parsed.workflow;
        for (auto more :
             {hookflow::engine::check_references(workflow, {"stripe"}, has_action, known),
              hookflow::engine::check_actions(workflow, type_of),
              hookflow::engine::check_secrets(workflow, {"STRIPE_KEY", "CRM_TOKEN"})}) {
            errors.insert(errors.end(), more.begin(), more.end());
        }
    }
    std::stable_sort(errors.begin(), errors.end(), [](const LoadError& a, const LoadError& b) {
        return std::tie(a.line, a.col) < std::tie(b.line, b.col);
    });
    std::vector<std::string> lines;
    for (const auto& error : errors) {
        lines.push_back(error.to_string());
    }
    return lines;
}

std::vector<std::string> expected_lines(const fs::path& path) {
    std::vector<std::string> lines;
    std::istringstream in(read(path));
    for (std::string line; std::getline(in, line);) {
        if (!line.empty()) {
            lines.push_back(line);
        }
    }
    return lines;
}

TEST(Validation, EveryInvalidFixture_GivesItsExpectedErrors) {
    int cases = 0;
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(fixtures())) {
        if (entry.path().extension() == ".yaml") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        auto expected = fs::path(file).replace_extension(".expected");
        ASSERT_TRUE(fs::exists(expected)) << expected;
        auto actual = check(read(file), file.filename().string());
        EXPECT_EQ(actual, expected_lines(expected)) << file.filename();
        ++cases;
    }
    EXPECT_GE(cases, 8);
}

TEST(Validation, ExampleWorkflows_HaveNoErrors) {
    auto examples =
        fixtures().parent_path().parent_path().parent_path().parent_path() / "workflows";
    for (const auto& entry : fs::directory_iterator(examples)) {
        if (entry.path().extension() == ".yaml") {
            EXPECT_EQ(check(read(entry.path()), entry.path().filename().string()),
                      std::vector<std::string>{})
                << entry.path();
        }
    }
}

}  // namespace
