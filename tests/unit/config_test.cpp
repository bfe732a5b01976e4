#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <stdlib.h>

#include <hookflow/config/config.hpp>

namespace {

using hookflow::Errc;
using hookflow::config::EnvLookup;
using hookflow::config::interpolate;
using hookflow::config::parse_config;

EnvLookup env_of(std::map<std::string, std::string> vars) {
    return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
        auto it = vars.find(name);
        if (it == vars.end()) {
            return std::nullopt;
        }
        return it->second;
    };
}

std::vector<std::string> error_lines(const std::string& yaml) {
    auto config = parse_config(yaml, "test.yaml", env_of({}));
    if (config.ok()) {
        return {};
    }
    EXPECT_EQ(config.error().code, Errc::invalid_config);
    std::vector<std::string> lines;
    std::string text = config.error().log_text;
    std::size_t start = 0;
    while (start <= text.size()) {
        auto end = text.find('\n', start);
        lines.push_back(text.substr(start, end - start));
        if (end == std::string::npos) {
            break;
        }
        start = end + 1;
    }
    return lines;
}

constexpr const char* kFullConfig = R"(server:
  listen: 0.0.0.0:9090
  public_url: https://hooks.example.com
  max_body_bytes: 2048
  header_timeout_seconds: 5
  idle_timeout_seconds: 30
  threads: 3
storage:
  sqlite: ${DATA_DIR:-var}/hookflow.db
  busy_timeout_ms: 500
engine:
  workers: 4
  max_attempts: 7
  lease_seconds: 90
  poll_interval_ms: 250
workflows:
  dir: flows
log:
  level: debug
  format: json
  file: ""
admin:
  token: ${HOOKFLOW_ADMIN_TOKEN:-}
sources:
  stripe:
    provider: stripe
    secrets: [${STRIPE_WEBHOOK_SECRET}, whsec_literal]
    tolerance_seconds: 120
  billing:
    provider: stripe
    secrets: ${OLD_SECRET}
connectors:
  stripe:   { base_url: https://api.stripe.com, api_key: ${STRIPE_API_KEY}, timeout: 20 }
  llm:
    type: http
    base_url: http://127.0.0.1:11434/v1
    model: llama3
    ca_file: certs/ca.pem
)";

TEST(Config, FullConfig_ParsesAllValues) {
    auto env = env_of({{"STRIPE_WEBHOOK_SECRET", "whsec_from_env"}, {"STRIPE_API_KEY", "sk_1"}});
    auto config = parse_config(kFullConfig, "full.yaml", env);
    ASSERT_TRUE(config.ok()) << config.error().log_text;

    EXPECT_EQ(config->server.host, "0.0.0.0");
    EXPECT_EQ(config->server.port, 9090);
    EXPECT_EQ(config->server.public_url, "https://hooks.example.com");
    EXPECT_EQ(config->server.max_body_bytes, 2048u);
    EXPECT_EQ(config->server.header_timeout_seconds, 5);
    EXPECT_EQ(config->server.idle_timeout_seconds, 30);
    EXPECT_EQ(config->server.threads, 3);
    EXPECT_EQ(config->storage.sqlite, "var/hookflow.db");
    EXPECT_EQ(config->storage.busy_timeout_ms, 500);
    EXPECT_EQ(config->engine.workers, 4);
    EXPECT_EQ(config->engine.max_attempts, 7);
    EXPECT_EQ(config->engine.lease_seconds, 90);
    EXPECT_EQ(config->engine.poll_interval_ms, 250);
    EXPECT_EQ(config->workflows.dir, "flows");
    EXPECT_EQ(config->log.level, "debug");
    EXPECT_EQ(config->log.format, "json");
    EXPECT_EQ(config->log.file, "");
    EXPECT_EQ(config->admin.token.value, "");
    EXPECT_FALSE(config->admin.token.is_set());
    EXPECT_EQ(config->path, "full.yaml");
}

TEST(Config, FullConfig_ParsesSourcesAndConnectors) {
    auto env = env_of({{"STRIPE_WEBHOOK_SECRET", "whsec_from_env"}, {"STRIPE_API_KEY", "sk_1"}});
    auto config = parse_config(kFullConfig, "full.yaml", env);
    ASSERT_TRUE(config.ok()) << config.error().log_text;

    ASSERT_EQ(config->sources.size(), 2u);
    const auto& stripe = config->sources.at("stripe");
    EXPECT_EQ(stripe.name, "stripe");
    EXPECT_EQ(stripe.provider, "stripe");
    EXPECT_EQ(stripe.secrets, (std::vector<std::string>{"whsec_from_env", "whsec_literal"}));
    EXPECT_TRUE(stripe.missing_vars.empty());
    EXPECT_EQ(stripe.tolerance_seconds, 120);
    const auto& billing = config->sources.at("billing");
    EXPECT_TRUE(billing.secrets.empty());
    EXPECT_EQ(billing.missing_vars, std::vector<std::string>{"OLD_SECRET"});
    EXPECT_EQ(billing.tolerance_seconds, 300);

    ASSERT_EQ(config->connectors.size(), 2u);
    const auto& api = config->connectors.at("stripe");
    EXPECT_EQ(api.type, "stripe");
    EXPECT_EQ(api.base_url, "https://api.stripe.com");
    EXPECT_EQ(api.timeout_seconds, 20);
    EXPECT_EQ(api.get("api_key").value, "sk_1");
    EXPECT_TRUE(api.get("api_key").is_set());
    EXPECT_EQ(api.get("token").value, "");
    EXPECT_EQ(api.get("token").missing_var, "");
    const auto& llm = config->connectors.at("llm");
    EXPECT_EQ(llm.name, "llm");
    EXPECT_EQ(llm.type, "http");
    EXPECT_EQ(llm.base_url, "http://127.0.0.1:11434/v1");
    EXPECT_EQ(llm.ca_file, "certs/ca.pem");
    EXPECT_EQ(llm.timeout_seconds, 0);
    EXPECT_EQ(llm.get("model").value, "llama3");
    EXPECT_EQ(llm.settings.size(), 1u);
}

// DESIGN.md's example, verbatim: `${VAR}` unquoted inside `[ ]` and `{ }` is not plain YAML.
constexpr const char* kDesignExample = R"(server:
  listen: 127.0.0.1:8080
  public_url: https://hooks.example.com   # as the provider sees us (Twilio signs it)
  max_body_bytes: 1048576
storage:
  sqlite: var/hookflow.db
engine:
  workers: 16
workflows:
  dir: workflows
log:
  level: info
  format: text          # or json
  file: ""              # empty: stdout only
admin:
  token: ${HOOKFLOW_ADMIN_TOKEN:-}
sources:
  stripe:
    provider: stripe
    secrets: [${STRIPE_WEBHOOK_SECRET}]   # several while rotating
    tolerance_seconds: 300
connectors:
  stripe:   { base_url: https://api.stripe.com, api_key: ${STRIPE_API_KEY} }
  crm:      { base_url: ${CRM_BASE_URL}, token: ${CRM_TOKEN} }
  llm:      { base_url: https://api.openai.com/v1, api_key: ${OPENAI_API_KEY}, model: gpt-4o-mini }
  sendgrid: { base_url: https://api.sendgrid.com, api_key: ${SENDGRID_API_KEY} }
  slack:    { base_url: https://slack.com/api, token: ${SLACK_BOT_TOKEN} }
)";

TEST(Config, UnquotedVarInFlowCollections_Parses) {
    auto env = env_of({{"STRIPE_WEBHOOK_SECRET", "whsec_a"}, {"CRM_BASE_URL", "http://crm"}});
    auto config = parse_config(kDesignExample, "design.yaml", env);
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->sources.at("stripe").secrets, std::vector<std::string>{"whsec_a"});
    EXPECT_EQ(config->connectors.at("crm").base_url, "http://crm");
    EXPECT_EQ(config->connectors.at("crm").get("token").missing_var, "CRM_TOKEN");
    EXPECT_EQ(config->connectors.at("llm").get("model").value, "gpt-4o-mini");
    EXPECT_EQ(config->connectors.at("slack").get("token").missing_var, "SLACK_BOT_TOKEN");
    EXPECT_EQ(config->connectors.size(), 5u);
}

TEST(Config, EmptyText_AllDefaults) {
    auto config = parse_config("", "empty.yaml", env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->server.host, "127.0.0.1");
    EXPECT_EQ(config->server.port, 8080);
    EXPECT_EQ(config->server.max_body_bytes, 1048576u);
    EXPECT_EQ(config->storage.sqlite, "var/hookflow.db");
    EXPECT_EQ(config->engine.workers, 16);
    EXPECT_EQ(config->log.format, "text");
    EXPECT_TRUE(config->sources.empty());
    EXPECT_TRUE(config->connectors.empty());
}

TEST(Config, UnsetApiKey_SettingNamesVariable) {
    auto config =
        parse_config("connectors:\n  crm: { base_url: ${CRM_BASE_URL}, token: ${CRM_TOKEN} }\n",
                     "test.yaml",
                     env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    const auto& crm = config->connectors.at("crm");
    EXPECT_EQ(crm.type, "crm");
    EXPECT_EQ(crm.base_url, "");
    EXPECT_EQ(crm.get("token").value, "");
    EXPECT_EQ(crm.get("token").missing_var, "CRM_TOKEN");
    EXPECT_FALSE(crm.get("token").is_set());
}

TEST(Config, ListenPortZeroAndIpv6_Accepted) {
    auto zero = parse_config("server:\n  listen: 127.0.0.1:0\n", "test.yaml", env_of({}));
    ASSERT_TRUE(zero.ok()) << zero.error().log_text;
    EXPECT_EQ(zero->server.port, 0);
    auto v6 = parse_config("server:\n  listen: \"[::1]:9000\"\n", "test.yaml", env_of({}));
    ASSERT_TRUE(v6.ok()) << v6.error().log_text;
    EXPECT_EQ(v6->server.host, "::1");
    EXPECT_EQ(v6->server.port, 9000);
}

TEST(Interpolate, SetUnsetAndDefault_Resolved) {
    auto env = env_of({{"HOST", "db.local"}, {"EMPTY", ""}});
    auto set = interpolate("postgres://${HOST}:5432", env);
    ASSERT_TRUE(set.ok());
    EXPECT_EQ(set->value, "postgres://db.local:5432");
    EXPECT_EQ(set->missing_var, "");

    auto unset = interpolate("${NOPE}", env);
    ASSERT_TRUE(unset.ok());
    EXPECT_EQ(unset->value, "");
    EXPECT_EQ(unset->missing_var, "NOPE");

    auto defaulted = interpolate("${NOPE:-fallback value}", env);
    ASSERT_TRUE(defaulted.ok());
    EXPECT_EQ(defaulted->value, "fallback value");
    EXPECT_EQ(defaulted->missing_var, "");

    auto empty_default = interpolate("${NOPE:-}", env);
    ASSERT_TRUE(empty_default.ok());
    EXPECT_EQ(empty_default->value, "");
    EXPECT_EQ(empty_default->missing_var, "");

    auto empty_var = interpolate("${EMPTY:-x}", env);
    ASSERT_TRUE(empty_var.ok());
    EXPECT_EQ(empty_var->value, "x");
}

TEST(Interpolate, HoleInLongerText_WholeValueEmpty) {
    auto result = interpolate("Bearer ${TOKEN} for ${HOST}", env_of({{"HOST", "h"}}));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->value, "");
    EXPECT_EQ(result->missing_var, "TOKEN");
}

TEST(Interpolate, PlainDollarAndText_Unchanged) {
    auto result = interpolate("costs $5 {not a var}", env_of({}));
    ASSERT_TRUE(result.ok());
    EXPECT_EQ(result->value, "costs $5 {not a var}");
}

TEST(Interpolate, UnterminatedOrBadName_Fails) {
    auto unterminated = interpolate("abc ${HOST", env_of({}));
    ASSERT_FALSE(unterminated.ok());
    EXPECT_EQ(unterminated.error().code, Errc::invalid_config);
    EXPECT_EQ(unterminated.error().log_text, "unterminated '${' in value");

    auto bad_name = interpolate("${1X}", env_of({}));
    ASSERT_FALSE(bad_name.ok());
    EXPECT_EQ(bad_name.error().log_text, "invalid variable name in '${1X}'");
}

TEST(Config, SingleStringSecret_Accepted) {
    auto config = parse_config("sources:\n  s:\n    provider: stripe\n    secrets: ${S1}\n",
                               "test.yaml",
                               env_of({{"S1", "whsec_x"}}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->sources.at("s").secrets, std::vector<std::string>{"whsec_x"});
}

TEST(Config, UnsetSecret_LeftOutAndNamed) {
    auto config = parse_config(
        "sources:\n  stripe:\n    provider: stripe\n    secrets: [${STRIPE_WEBHOOK_SECRET}]\n",
        "test.yaml",
        env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    const auto& source = config->sources.at("stripe");
    EXPECT_TRUE(source.secrets.empty());
    EXPECT_EQ(source.missing_vars, std::vector<std::string>{"STRIPE_WEBHOOK_SECRET"});
}

TEST(Config, UnknownKey_ReportsFileLineColumn) {
    auto lines = error_lines("server:\n  listen: 127.0.0.1:8080\n  listn: 1\n");
    EXPECT_EQ(lines, std::vector<std::string>{"test.yaml:3:3: unknown key 'listn' in server"});
}

TEST(Config, UnknownTopLevelKey_Reported) {
    auto lines = error_lines("servers:\n  listen: x\n");
    EXPECT_EQ(lines, std::vector<std::string>{"test.yaml:1:1: unknown key 'servers' at top level"});
}

TEST(Config, WrongType_ReportsPosition) {
    auto lines = error_lines("server:\n  listen: 127.0.0.1:8080\n  max_body_bytes: lots\n");
    EXPECT_EQ(lines,
              std::vector<std::string>{
                  "test.yaml:3:19: server.max_body_bytes: expected an integer, got 'lots'"});
}

TEST(Config, MappingWhereStringExpected_Reported) {
    auto lines = error_lines("storage:\n  sqlite: {a: 1}\n");
    EXPECT_EQ(lines, std::vector<std::string>{"test.yaml:2:11: storage.sqlite: expected a string"});
}

TEST(Config, MalformedYaml_ReportsParserPosition) {
    auto lines = error_lines("server:\n  listen: [127.0.0.1\nengine:\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("test.yaml:", 0), 0u) << lines[0];
    EXPECT_NE(lines[0].find(": end of sequence flow not found"), std::string::npos) << lines[0];
}

TEST(Config, TabIndentedYaml_ReportsParserPosition) {
    auto lines = error_lines("server:\n\tlisten: 1\n");
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_EQ(lines[0].rfind("test.yaml:2:", 0), 0u) << lines[0];
}

TEST(Config, SeveralErrors_AllReported) {
    auto lines = error_lines(
        "server:\n"                     // 1
        "  listen: localhost\n"         // 2
        "  max_body_bytes: lots\n"      // 3
        "engine:\n"                     // 4
        "  workers: 0\n"                // 5
        "log:\n"                        // 6
        "  format: xml\n"               // 7
        "sources:\n"                    // 8
        "  stripe:\n"                   // 9
        "    secrets: [whsec_x]\n"      // 10
        "    tolerance: 5\n"            // 11
        "connectors:\n"                 // 12
        "  slack: { timeout: soon }\n"  // 13
    );
    EXPECT_EQ(lines,
              (std::vector<std::string>{
                  "test.yaml:2:11: server.listen: expected host:port, got 'localhost'",
                  "test.yaml:3:19: server.max_body_bytes: expected an integer, got 'lots'",
                  "test.yaml:5:12: engine.workers: must be at least 1, got 0",
                  "test.yaml:7:11: log.format: expected text or json, got 'xml'",
                  "test.yaml:11:5: unknown key 'tolerance' in sources.stripe",
                  "test.yaml:9:3: sources.stripe: missing required key 'provider'",
                  "test.yaml:13:21: connectors.slack.timeout: expected an integer, got 'soon'",
              }));
}

TEST(Config, DuplicateKey_Reported) {
    auto lines = error_lines("engine:\n  workers: 2\n  workers: 3\n");
    EXPECT_EQ(lines, std::vector<std::string>{"test.yaml:3:3: duplicate key 'workers' in engine"});
}

TEST(Config, SectionNotMapping_Reported) {
    auto lines = error_lines("log: loud\n");
    EXPECT_EQ(lines, std::vector<std::string>{"test.yaml:1:6: log: expected a mapping"});
}

/// A fresh directory under the system temp dir, removed at the end of the test.
class TempDir {
  public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "hookflow-config-XXXXXX");
        path_ = mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

TEST(LoadConfig, MissingFile_ErrorNamesPath) {
    TempDir dir;
    auto path = dir.path() / "absent.yaml";
    auto config = hookflow::config::load_config(path, env_of({}));
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.error().code, Errc::invalid_config);
    EXPECT_EQ(config.error().log_text, "config file " + path.string() + " does not exist");
}

TEST(LoadConfig, FileOnDisk_ParsedWithPathInErrors) {
    TempDir dir;
    auto path = dir.path() / "hookflow.yaml";
    std::ofstream(path) << "engine:\n  workers: 3\n";
    auto config = hookflow::config::load_config(path, env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->engine.workers, 3);
    EXPECT_EQ(config->path, path);

    std::ofstream(path) << "engine:\n  wrkers: 3\n";
    auto bad = hookflow::config::load_config(path, env_of({}));
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().log_text, path.string() + ":2:3: unknown key 'wrkers' in engine");
}

TEST(Config, EngineDurabilityKeys_ParsedWithDefaults) {
    auto defaults = parse_config("", "empty.yaml", env_of({}));
    ASSERT_TRUE(defaults.ok());
    EXPECT_EQ(defaults->engine.max_attempts, 5);
    EXPECT_EQ(defaults->engine.initial_backoff_ms, 1000);
    EXPECT_EQ(defaults->engine.max_backoff_ms, 300000);
    EXPECT_EQ(defaults->engine.step_timeout_ms, 60000);
    EXPECT_EQ(defaults->engine.run_timeout_ms, 900000);
    EXPECT_EQ(defaults->engine.shutdown_grace_ms, 20000);

    auto config = parse_config(
        "engine:\n  retry: {max_attempts: 8, initial_backoff: 500ms, max_backoff: 2m}\n"
        "  step_timeout: 30s\n  run_timeout: 1h\n  shutdown_grace: 2.5\n",
        "test.yaml",
        env_of({}));
    ASSERT_TRUE(config.ok()) << config.error().log_text;
    EXPECT_EQ(config->engine.max_attempts, 8);
    EXPECT_EQ(config->engine.initial_backoff_ms, 500);
    EXPECT_EQ(config->engine.max_backoff_ms, 120000);
    EXPECT_EQ(config->engine.step_timeout_ms, 30000);
    EXPECT_EQ(config->engine.run_timeout_ms, 3600000);
    EXPECT_EQ(config->engine.shutdown_grace_ms, 2500);
}

TEST(Config, BadDurations_ReportedWithPosition) {
    EXPECT_EQ(error_lines("engine:\n  step_timeout: soon\n"),
              std::vector<std::string>{
                  "test.yaml:2:17: engine.step_timeout: expected a duration such as 500ms, 2s "
                  "or 5m (at least 1 ms), got 'soon'"});
    EXPECT_EQ(error_lines("engine:\n  retry: {initial_backoff: 10s, max_backoff: 1s}\n"),
              std::vector<std::string>{
                  "test.yaml:2:3: engine.retry.max_backoff: must not be below initial_backoff"});
    EXPECT_EQ(error_lines("engine:\n  retry: {tries: 3}\n"),
              std::vector<std::string>{"test.yaml:2:11: unknown key 'tries' in engine.retry"});
}

TEST(Duration, Forms_ParsedToMilliseconds) {
    using hookflow::config::parse_duration_ms;
    EXPECT_EQ(*parse_duration_ms("500ms"), 500);
    EXPECT_EQ(*parse_duration_ms("2s"), 2000);
    EXPECT_EQ(*parse_duration_ms("5m"), 300000);
    EXPECT_EQ(*parse_duration_ms("1h"), 3600000);
    EXPECT_EQ(*parse_duration_ms("90"), 90000);
    EXPECT_EQ(*parse_duration_ms("0.25"), 250);
    for (const char* bad : {"", "ms", "-1s", "1.2.3s", "5 m", "1d", "s5", "."}) {
        EXPECT_FALSE(parse_duration_ms(bad).ok()) << bad;
    }
}

}  // namespace
