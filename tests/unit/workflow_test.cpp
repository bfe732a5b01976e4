#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <hookflow/common/crypto.hpp>
#include <hookflow/engine/workflow.hpp>

namespace {

using hookflow::engine::check_references;
using hookflow::engine::load_workflows;
using hookflow::engine::LoadError;
using hookflow::engine::parse_workflow;
using hookflow::engine::Trigger;
using hookflow::engine::trigger_matches;
using nlohmann::json;

const std::string kExample = R"(# payment recovery
name: payment-failed-recovery
description: Recover failed payments
on:
  source: stripe
  events: [invoice.payment_failed, 'charge.*']
  if: ${{ event.data.object.amount_due > 0 }}
steps:
  - id: customer
    uses: stripe.request
    with:
      method: GET
      path: /v1/customers/${{ event.data.object.customer }}
      limit: 10
      ratio: 0.25
      quoted: "123"
      flag: true
      nothing: null
      list: [1, 'two', "3"]
  - id: notify
    uses: slack.post
    if: ${{ steps.customer.output.tier == 'enterprise' }}
    with:
      channel: "#account-managers"
      text: Payment failed for ${{ steps.customer.output.email }}
      block: |
        multi
        line
)";

std::vector<std::string> error_texts(const std::string& text) {
    auto outcome = parse_workflow(text, "wf.yaml");
    EXPECT_EQ(outcome.workflow, nullptr);
    std::vector<std::string> texts;
    for (const auto& error : outcome.errors) {
        texts.push_back(error.to_string());
    }
    return texts;
}

std::string steps_with(const std::string& steps) {
    return "name: x\non:\n  source: stripe\nsteps:\n" + steps;
}

TEST(Workflow, ValidExample_ParsesAllFields) {
    auto outcome = parse_workflow(kExample, "workflows/recovery.yaml");
    ASSERT_TRUE(outcome.errors.empty()) << outcome.errors.front().to_string();
    ASSERT_NE(outcome.workflow, nullptr);
    const auto& wf = *outcome.workflow;
    EXPECT_EQ(wf.name, "payment-failed-recovery");
    EXPECT_EQ(wf.file, "workflows/recovery.yaml");
    EXPECT_EQ(wf.text, kExample);
    EXPECT_EQ(wf.hash, hookflow::to_hex(hookflow::sha256(kExample)));
    EXPECT_EQ(wf.hash.size(), 64u);
    EXPECT_EQ(wf.on.source, "stripe");
    EXPECT_EQ(wf.on.events, (std::vector<std::string>{"invoice.payment_failed", "charge.*"}));
    EXPECT_EQ(wf.on.if_expr, "event.data.object.amount_due > 0");
    EXPECT_EQ(wf.on.line, 5);  // where the map under `on:` starts
    ASSERT_EQ(wf.steps.size(), 2u);

    const auto& customer = wf.steps[0];
    EXPECT_EQ(customer.id, "customer");
    EXPECT_EQ(customer.uses, "stripe.request");
    EXPECT_EQ(customer.connector, "stripe");
    EXPECT_EQ(customer.action, "request");
    EXPECT_EQ(customer.if_expr, "");
    EXPECT_EQ(customer.line, 9);
    EXPECT_EQ(customer.with, json::parse(R"({
        "method": "GET", "path": "/v1/customers/${{ event.data.object.customer }}",
        "limit": 10, "ratio": 0.25, "quoted": "123", "flag": true, "nothing": null,
        "list": [1, "two", "3"]})"));
    EXPECT_TRUE(customer.with["limit"].is_number_integer());

    const auto& notify = wf.steps[1];
    EXPECT_EQ(notify.if_expr, "steps.customer.output.tier == 'enterprise'");
    EXPECT_EQ(notify.line, 20);
    EXPECT_EQ(notify.with["channel"], "#account-managers");
    EXPECT_EQ(notify.with["block"], "multi\nline\n");
}

TEST(Workflow, BareIfAndNoEvents_Accepted) {
    auto outcome = parse_workflow(
        "name: x\non:\n  source: github\nsteps:\n  - id: a\n    uses: http.request\n"
        "    if: event.action == 'opened'\n",
        "x.yaml");
    ASSERT_TRUE(outcome.errors.empty()) << outcome.errors.front().to_string();
    EXPECT_TRUE(outcome.workflow->on.events.empty());
    EXPECT_EQ(outcome.workflow->steps[0].if_expr, "event.action == 'opened'");
    EXPECT_EQ(outcome.workflow->steps[0].with, json::object());
}

TEST(Workflow, MalformedYaml_NamesFileAndLine) {
    auto errors = error_texts("name: x\non:\n  source: [stripe\nsteps: []\n");
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].rfind("wf.yaml:4:", 0), 0u) << errors[0];
    EXPECT_NE(errors[0].find("invalid YAML: "), std::string::npos) << errors[0];
}

TEST(Workflow, UnknownKey_SuggestsTheNearest) {
    auto errors = error_texts("name: x\non:\n  source: stripe\nstesp:\n  - id: a\n");
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "wf.yaml:4:1: unknown key 'stesp' in workflow; did you mean 'steps'?",
                  "wf.yaml:1:1: missing required key 'steps'"}));

    auto far = error_texts(steps_with("  - id: a\n    uses: http.request\n    deadline: 5\n"));
    EXPECT_EQ(far, (std::vector<std::string>{"wf.yaml:7:5: unknown key 'deadline' in step 'a'"}));

    auto in_on = error_texts(
        "name: x\non:\n  source: stripe\n  event: [a]\nsteps:\n"
        "  - id: a\n    uses: http.request\n");
    EXPECT_EQ(in_on,
              (std::vector<std::string>{
                  "wf.yaml:4:3: unknown key 'event' in 'on'; did you mean 'events'?"}));
}

TEST(Workflow, DuplicateStepId_Reported) {
    auto errors = error_texts(
        steps_with("  - id: a\n    uses: http.request\n  - id: a\n    uses: http.request\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{"wf.yaml:7:9: duplicate step id 'a' (first at line 5)"}));
}

TEST(Workflow, MissingUses_Reported) {
    auto errors = error_texts(steps_with("  - id: a\n    with: {x: 1}\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{"wf.yaml:5:5: step 'a': missing required key 'uses'"}));
}

TEST(Workflow, BadUsesFormat_Reported) {
    auto errors = error_texts(steps_with("  - id: a\n    uses: stripe\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "wf.yaml:6:11: step 'a': 'uses' must be connector.action, got 'stripe'"}));
}

TEST(Workflow, BadStepId_Reported) {
    auto errors = error_texts(steps_with("  - id: Send Email\n    uses: http.request\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "wf.yaml:5:9: step id 'Send Email' must use only a-z, 0-9, '_' and '-'"}));
}

TEST(Workflow, MalformedExpression_Reported) {
    auto errors = error_texts(
        steps_with("  - id: a\n    uses: http.request\n    with:\n      url: x/${{ a >< b }}\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "wf.yaml:8:12: step 'a': with.url: expression 'a >< b': unexpected '<' "
                  "at column 4"}));

    auto in_if = error_texts(steps_with("  - id: a\n    uses: http.request\n    if: ${{ (1 }}\n"));
    EXPECT_EQ(
        in_if,
        (std::vector<std::string>{"wf.yaml:7:9: step 'a': if: expression '(1': unexpected end of "
                                  "expression at column 3"}));

    auto open = error_texts(
        steps_with("  - id: a\n    uses: http.request\n    with:\n      url: x/${{ a\n"));
    EXPECT_EQ(open,
              (std::vector<std::string>{
                  "wf.yaml:8:12: step 'a': with.url: template 'x/${{ a': unterminated "
                  "'${{' at column 3"}));
}

TEST(Workflow, ForwardStepReference_Reported) {
    auto errors = error_texts(steps_with(
        "  - id: a\n    uses: http.request\n    with:\n      url: ${{ steps.b.output.url }}\n"
        "  - id: b\n    uses: http.request\n    if: ${{ steps['b'].status == 'x' }}\n"));
    EXPECT_EQ(errors,
              (std::vector<std::string>{"wf.yaml:8:12: step 'a': with.url: 'steps.b' is a later "
                                        "step; only earlier steps can be read",
                                        "wf.yaml:11:9: step 'b': if: 'steps.b' is a later step; "
                                        "only earlier steps can be read"}));
}

TEST(Workflow, SeveralErrors_AllReported) {
    auto errors = error_texts(R"(name: x
on:
  events: invoice.paid
steps:
  - id: a
    uses: nodot
  - uses: http.request
    wiht: {}
  - id: c
    uses: http.request
    with:
      list: ["${{ 1 + }}"]
)");
    EXPECT_EQ(errors,
              (std::vector<std::string>{
                  "wf.yaml:3:3: 'on': missing required key 'source'",
                  "wf.yaml:3:11: 'on.events' must be a list of strings",
                  "wf.yaml:6:11: step 'a': 'uses' must be connector.action, got 'nodot'",
                  "wf.yaml:7:5: step 2: missing required key 'id'",
                  "wf.yaml:8:5: unknown key 'wiht' in step 2; did you mean 'with'?",
                  "wf.yaml:12:14: step 'c': with.list[0]: expression '1 +': unexpected "
                  "end of expression at column 4"}));
}

TEST(Workflow, StructureErrors_Reported) {
    EXPECT_EQ(error_texts(""), (std::vector<std::string>{"wf.yaml:1:1: workflow is empty"}));
    EXPECT_EQ(error_texts("- a\n"),
              (std::vector<std::string>{"wf.yaml:1:1: workflow must be a YAML map"}));
    EXPECT_EQ(error_texts("name: x\non:\n  source: s\nsteps: []\n"),
              (std::vector<std::string>{"wf.yaml:4:8: 'steps' must be a non-empty list"}));
    EXPECT_EQ(error_texts("name: x\nsteps:\n  - id: a\n    uses: a.b\n"),
              (std::vector<std::string>{"wf.yaml:1:1: missing required key 'on'"}));
}

TEST(Workflow, OnKey_IsAPlainKeyNotABoolean) {
    auto outcome = parse_workflow("name: x\non: {source: s}\nsteps: [{id: a, uses: a.b}]\n", "x");
    ASSERT_TRUE(outcome.errors.empty()) << outcome.errors.front().to_string();
    EXPECT_EQ(outcome.workflow->on.source, "s");
}

TEST(Workflow, TriggerMatches_ExactAndWildcard) {
    Trigger trigger;
    trigger.source = "stripe";
    trigger.events = {"invoice.*", "charge.failed"};
    EXPECT_TRUE(trigger_matches(trigger, "stripe", "invoice.payment_failed"));
    EXPECT_TRUE(trigger_matches(trigger, "stripe", "charge.failed"));
    EXPECT_FALSE(trigger_matches(trigger, "stripe", "charge.succeeded"));
    EXPECT_FALSE(trigger_matches(trigger, "stripe", "invoice"));
    EXPECT_FALSE(trigger_matches(trigger, "github", "invoice.paid"));
    trigger.events.clear();
    EXPECT_TRUE(trigger_matches(trigger, "stripe", "anything"));
    trigger.events = {"*"};
    EXPECT_TRUE(trigger_matches(trigger, "stripe", "anything"));
}

TEST(Workflow, CheckReferences_ReportsUnknownNames) {
    auto outcome = parse_workflow(kExample, "r.yaml");
    ASSERT_NE(outcome.workflow, nullptr);
    auto errors = check_references(
        *outcome.workflow,
        {"github"},
        [](const std::string& connector, const std::string& action) {
            return connector == "stripe" && action == "charge";
        },
        [](const std::string& connector) { return connector == "stripe"; });
    std::vector<std::string> texts;
    for (const auto& error : errors) {
        texts.push_back(error.to_string());
    }
    EXPECT_EQ(texts,
              (std::vector<std::string>{
                  "r.yaml:5:11: unknown source 'stripe'",
                  "r.yaml:10:11: step 'customer': connector 'stripe' has no action 'request'",
                  "r.yaml:21:11: step 'notify': unknown connector 'slack'"}));
}

TEST(Workflow, CrmFindContactWithoutHubspotFlavor_HintsAtFlavor) {
    constexpr std::string_view kYaml = R"(name: lookup
on:
  source: stripe
  events: [invoice.paid]
steps:
  - id: contact
    uses: crm.find_contact
    with:
      email: a@example.com
)";
    auto outcome = parse_workflow(std::string(kYaml), "c.yaml");
    ASSERT_NE(outcome.workflow, nullptr);
    auto errors = check_references(
        *outcome.workflow,
        {"stripe"},
        [](const std::string&, const std::string& action) { return action == "request"; },
        [](const std::string& connector) { return connector == "crm"; },
        [](const std::string& connector) { return connector; });
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].message,
              "step 'contact': connector 'crm' has no action 'find_contact' (find_contact needs "
              "flavor: hubspot on the connector)");
}

TEST(Workflow, RepositoryExamples_LoadWithoutErrors) {
    auto outcome =
        load_workflows(std::filesystem::path(HOOKFLOW_FIXTURES) / ".." / ".." / "workflows");
    for (const auto& error : outcome.errors) {
        ADD_FAILURE() << error.to_string();
    }
    ASSERT_FALSE(outcome.workflows.empty());
    EXPECT_EQ(outcome.workflows[0]->name, "payment-failed-recovery");
    EXPECT_EQ(outcome.workflows[0]->steps.size(), 5u);
}

class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "wf_test_XXXXXX").string();
        path_ = mkdtemp(pattern.data());
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::filesystem::path& path() const { return path_; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
    }

  private:
    std::filesystem::path path_;
};

TEST(Workflow, LoadWorkflows_SortsAndFindsDuplicates) {
    TempDir dir;
    const std::string body = "on: {source: s}\nsteps: [{id: a, uses: a.b}]\n";
    dir.write("b.yml", "name: beta\n" + body);
    dir.write("a.yaml", "name: alpha\n" + body);
    dir.write("c.yaml", "# again\nname: alpha\n" + body);
    dir.write("notes.txt", "not a workflow");
    auto outcome = load_workflows(dir.path());
    ASSERT_EQ(outcome.workflows.size(), 2u);
    EXPECT_EQ(outcome.workflows[0]->name, "alpha");
    EXPECT_EQ(outcome.workflows[1]->name, "beta");
    ASSERT_EQ(outcome.errors.size(), 1u);
    EXPECT_EQ(outcome.errors[0].to_string(),
              (dir.path() / "c.yaml").string() + ":2:1: duplicate workflow name 'alpha' (also in " +
                  (dir.path() / "a.yaml").string() + ")");
}

TEST(Workflow, LoadWorkflows_MissingFolderIsAnError) {
    TempDir dir;
    auto outcome = load_workflows(dir.path() / "absent");
    EXPECT_TRUE(outcome.workflows.empty());
    ASSERT_EQ(outcome.errors.size(), 1u);
    EXPECT_EQ(outcome.errors[0].to_string(),
              (dir.path() / "absent").string() + ": workflows folder not found");
}

}  // namespace
