#pragma once

#include <string>

namespace hookflow::app {

/// What `hookflow test` was asked to do.
struct TestOptions {
    std::string config_path;
    bool config_given = false;  // --config on the command line: a missing file is an error
    std::string workflow;       // the workflow file
    std::string event;          // the payload file
    std::string mock;           // the mock file; empty: every call answers 200 `{}`
    std::string source;         // empty: the workflow's `on.source`
    std::string type;           // empty: the payload's `type`
    bool json = false;
};

/// `hookflow test WORKFLOW --event FILE [--mock FILE]`: runs one workflow offline with mock
/// connectors and a throw-away store. 0 when the run succeeded, 1 when it did not (or the
/// trigger did not match), 2 for bad input.
int test_workflow(const TestOptions& options);

/// `hookflow trigger SOURCE FILE [--url URL]`: signs FILE for SOURCE and POSTs it to the
/// server. 0 on a 2xx answer, 1 otherwise.
int trigger(const std::string& config_path,
            const std::string& source,
            const std::string& file,
            const std::string& url);

}  // namespace hookflow::app
