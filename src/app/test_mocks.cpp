// The mock connectors of `hookflow test`: a mock file's canned answers, and connectors that
// record each rendered call and answer from them without touching the network.

#include "app/test_mocks.hpp"

#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include <hookflow/common/json_limits.hpp>

namespace hookflow::app {

using nlohmann::json;

namespace {

// Collects `file:line:col: message` lines while a mock file is read.
struct MockReader {
    std::string file;
    std::vector<std::string> errors;

    void error(const YAML::Node& node, const std::string& message) {
        const auto mark = node.Mark();
        errors.push_back(file + ":" + std::to_string(mark.line + 1) + ":" +
                         std::to_string(mark.column + 1) + ": " + message);
    }
};

bool is_integer(const std::string& text) {
    std::size_t start = (!text.empty() && (text[0] == '-' || text[0] == '+')) ? 1 : 0;
    if (start == text.size()) {
        return false;
    }
    return text.find_first_not_of("0123456789", start) == std::string::npos;
}

// YAML 1.2 core schema for plain scalars: null, booleans and numbers; all else is text.
json typed_scalar(const std::string& text) {
    if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
        return nullptr;
    }
    if (text == "true" || text == "True" || text == "TRUE") {
        return true;
    }
    if (text == "false" || text == "False" || text == "FALSE") {
        return false;
    }
    if (is_integer(text)) {
        long long value = 0;
        const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
        auto [end, ec] = std::from_chars(begin, text.data() + text.size(), value);
        if (ec == std::errc() && end == text.data() + text.size()) {
            return value;
        }
    }
    char* end = nullptr;
    double number = std::strtod(text.c_str(), &end);
    if (end == text.c_str() + text.size() && text.find_first_of("0123456789") != text.npos &&
        text.find_first_of("xXnN") == text.npos) {
        return number;
    }
    return text;
}

json to_json(const YAML::Node& node) {
    if (node.IsMap()) {
        json out = json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
            out[it->first.Scalar()] = to_json(it->second);
        }
        return out;
    }
    if (node.IsSequence()) {
        json out = json::array();
        for (const auto& item : node) {
            out.push_back(to_json(item));
        }
        return out;
    }
    if (!node.IsScalar()) {
        return nullptr;
    }
    // Quoted and block scalars carry the tag "!": they stay text.
    return node.Tag() == "!" ? json(node.Scalar()) : typed_scalar(node.Scalar());
}

// Whether mappings and sequences in `node` nest deeper than `limit` levels; the walk stops there.
bool nested_deeper(const YAML::Node& node, int limit) {
    if (!node.IsMap() && !node.IsSequence()) {
        return false;
    }
    if (limit <= 0) {
        return true;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
        YAML::Node child = node.IsMap() ? it->second : YAML::Node(*it);
        if (nested_deeper(child, limit - 1)) {
            return true;
        }
    }
    return false;
}

std::optional<MockResponse> read_response(MockReader& r, const YAML::Node& node) {
    if (!node.IsMap()) {
        r.error(node, "a mock answer must be a mapping (status, body, error, retryable)");
        return std::nullopt;
    }
    MockResponse response;
    const auto before = r.errors.size();
    for (auto it = node.begin(); it != node.end(); ++it) {
        const auto key = it->first.Scalar();
        const auto& value = it->second;
        if (key == "status") {
            auto status = to_json(value);
            if (!status.is_number_integer() || status.get<long long>() < 0 ||
                status.get<long long>() > 599) {
                r.error(value, "status must be an integer from 0 to 599");
            } else {
                response.status = status.get<int>();
            }
        } else if (key == "body" && nested_deeper(value, kMaxJsonDepth)) {
            r.error(value, "body is " + json_depth_message());
        } else if (key == "body") {
            response.body = to_json(value);
        } else if (key == "error") {
            response.error = value.IsScalar() ? value.Scalar() : std::string();
            if (response.error.empty()) {
                r.error(value, "error must be a non-empty text");
            }
        } else if (key == "retryable") {
            auto flag = to_json(value);
            if (!flag.is_boolean()) {
                r.error(value, "retryable must be true or false");
            } else {
                response.retryable = flag.get<bool>();
            }
        } else {
            r.error(it->first,
                    "unknown key '" + key + "' in a mock answer (status, body, error, retryable)");
        }
    }
    if (r.errors.size() != before) {
        return std::nullopt;
    }
    return response;
}

// One answer, or a list of answers for successive calls.
std::vector<MockResponse> read_answers(MockReader& r, const YAML::Node& node) {
    std::vector<MockResponse> answers;
    if (!node.IsSequence()) {
        if (auto one = read_response(r, node)) {
            answers.push_back(*one);
        }
        return answers;
    }
    if (node.size() == 0) {
        r.error(node, "a list of mock answers must not be empty");
    }
    for (const auto& item : node) {
        if (auto one = read_response(r, item)) {
            answers.push_back(*one);
        }
    }
    return answers;
}

void read_table(MockReader& r,
                const YAML::Node& node,
                const std::string& what,
                std::map<std::string, std::vector<MockResponse>>& out) {
    if (node.IsNull()) {
        return;
    }
    if (!node.IsMap()) {
        r.error(node, what + " must be a mapping");
        return;
    }
    for (auto it = node.begin(); it != node.end(); ++it) {
        const auto key = it->first.Scalar();
        if (what == "actions" && key.find('.') == std::string::npos) {
            r.error(it->first, "actions are named connector.action, like stripe.request");
        }
        out[key] = read_answers(r, it->second);
    }
}

void read_root(MockReader& r, const YAML::Node& root, MockPlan& plan) {
    if (root.IsNull()) {
        return;
    }
    if (!root.IsMap()) {
        r.error(root, "a mock file must be a mapping with steps, actions or default");
        return;
    }
    for (auto it = root.begin(); it != root.end(); ++it) {
        const auto key = it->first.Scalar();
        if (key == "steps") {
            read_table(r, it->second, "steps", plan.steps);
        } else if (key == "actions") {
            read_table(r, it->second, "actions", plan.actions);
        } else if (key == "default") {
            plan.fallback = read_answers(r, it->second);
        } else {
            r.error(it->first, "unknown key '" + key + "' (steps, actions, default)");
        }
    }
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        out += (out.empty() ? "" : "\n") + line;
    }
    return out;
}

}  // namespace

bool MockResponse::failed() const {
    return status <= 0 || status >= 400 || !error.empty();
}

Result<MockPlan> load_mock_plan(const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
        return make_error(Errc::bad_request, file.string() + ": cannot read the mock file");
    }
    std::stringstream text;
    text << in.rdbuf();
    MockReader reader{file.string(), {}};
    MockPlan plan;
    try {
        read_root(reader, YAML::Load(text.str()), plan);
    } catch (const YAML::Exception& e) {
        return make_error(Errc::bad_request,
                          file.string() + ":" + std::to_string(e.mark.line + 1) + ":" +
                              std::to_string(e.mark.column + 1) + ": " + e.msg);
    }
    if (!reader.errors.empty()) {
        return make_error(Errc::bad_request, join_lines(reader.errors));
    }
    return plan;
}

MockBook::MockBook(MockPlan plan, const std::map<std::string, std::string>& secrets)
    : plan_(std::move(plan)), redactor_(secrets) {}

MockResponse MockBook::answer(const connectors::StepCall& call, const std::string& uses) {
    std::lock_guard lock(mutex_);
    const auto nth = counts_[call.step_id]++;
    const std::vector<MockResponse>* answers = &plan_.fallback;
    if (auto step = plan_.steps.find(call.step_id); step != plan_.steps.end()) {
        answers = &step->second;
    } else if (auto action = plan_.actions.find(uses); action != plan_.actions.end()) {
        answers = &action->second;
    }
    auto picked = answers->at(std::min(nth, answers->size() - 1));
    calls_.push_back(MockCall{call.step_id, uses, call.attempt, redact(call.with), picked.status});
    return picked;
}

json MockBook::redact(const json& value) const {
    return redactor_.json(value);
}

std::vector<MockCall> MockBook::calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
}

namespace {

// Answers every action the real connector of the same name has, from the book.
class MockConnector final : public connectors::Connector {
  public:
    MockConnector(const connectors::Connector& real, std::shared_ptr<MockBook> book)
        : real_(real), book_(std::move(book)) {}

    const std::string& name() const override { return real_.name(); }

    bool has_action(std::string_view action) const override { return real_.has_action(action); }

    boost::asio::awaitable<connectors::StepResult> call(const connectors::StepCall& call) override {
        const auto uses = name() + "." + call.action;
        const auto response = book_->answer(call, uses);
        connectors::StepResult result;
        result.request = book_->redact(call.with);
        result.http_status = response.status;
        result.ok = !response.failed();
        result.output = response.body;
        if (!result.ok) {
            result.error = response.error.empty()
                               ? "mock " + uses + ": status " + std::to_string(response.status)
                               : response.error;
            const bool transient =
                response.status == 0 || response.status == 429 || response.status >= 500;
            result.retryable = response.retryable.value_or(transient);
        }
        co_return result;
    }

  private:
    const connectors::Connector& real_;
    std::shared_ptr<MockBook> book_;
};

}  // namespace

std::unique_ptr<connectors::Registry> mock_registry(const connectors::Registry& real,
                                                    std::shared_ptr<MockBook> book) {
    auto registry = std::make_unique<connectors::Registry>();
    for (const auto& name : real.names()) {
        registry->add(std::make_unique<MockConnector>(*real.find(name), book));
    }
    return registry;
}

}  // namespace hookflow::app
