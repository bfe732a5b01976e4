#include <optional>

#include "connector_base.hpp"

namespace hookflow::connectors {

namespace {

/// A CRM's error body names the problem in `message` (HubSpot) or `error`; else the raw text.
std::string crm_error_text(int status, const nlohmann::json& body, const std::string& raw) {
    auto text = "crm " + std::to_string(status);
    auto message = string_field(body, "message");
    if (message.empty()) {
        message = string_field(body, "error");
    }
    if (message.empty()) {
        message = excerpt(raw);
    }
    return message.empty() ? text : text + ": " + message;
}

class CrmConnector final : public ConnectorBase {
  public:
    CrmConnector(config::ConnectorConfig config, RestClient& client)
        : ConnectorBase(std::move(config), client, std::chrono::seconds(30)) {}

    bool has_action(std::string_view action) const override {
        return action == "request" ||
               (hubspot() && (action == "find_contact" || action == "update_contact"));
    }

  protected:
    boost::asio::awaitable<StepResult> run(const StepCall& call) override {
        auto token = credential("token");
        if (!token.error.empty()) {
            co_return fail(token.error);
        }
        if (call.action == "find_contact") {
            co_return co_await find_contact(call.with, token.value);
        }
        if (call.action == "update_contact") {
            co_return co_await update_contact(call.with, token.value);
        }
        if (field_missing(call.with, "path")) {
            co_return fail(required_message("path"));
        }
        auto method = upper(string_field(call.with, "method", "GET"));
        auto path = call.with.at("path").get<std::string>();
        auto query = stripe_form_encode(call.with.value("query", nlohmann::json::object()));
        if (!query.empty()) {
            path += (path.find('?') == std::string::npos ? "?" : "&") + query;
        }
        std::optional<std::string> body;
        if (call.with.contains("json") && !call.with["json"].is_null()) {
            body = call.with["json"].dump();
        }
        co_return co_await exchange(build(method, path, body, token.value));
    }

  private:
    bool hubspot() const { return setting("flavor") == "hubspot"; }

    /// HubSpot CRM v3 search: the first contact whose email equals `with.email`, or null.
    boost::asio::awaitable<StepResult> find_contact(const nlohmann::json& with,
                                                    const std::string& token) {
        if (field_missing(with, "email")) {
            co_return fail(required_message("email"));
        }
        auto properties =
            with.value("properties", nlohmann::json::array({"email", "firstname", "lastname"}));
        nlohmann::ordered_json filter;
        filter["propertyName"] = "email";
        filter["operator"] = "EQ";
        filter["value"] = with["email"];
        nlohmann::ordered_json body;
        body["filterGroups"] = {{{"filters", {filter}}}};
        body["properties"] = properties;
        body["limit"] = 1;
        auto result =
            co_await exchange(build("POST", "/crm/v3/objects/contacts/search", body.dump(), token));
        if (result.ok) {
            const auto& found = result.output;
            bool any = found.is_object() && found.contains("results") &&
                       found["results"].is_array() && !found["results"].empty();
            result.output = any ? found["results"][0] : nlohmann::json();
        }
        co_return result;
    }

    /// HubSpot CRM v3: PATCH the contact's properties; the output is the updated contact.
    boost::asio::awaitable<StepResult> update_contact(const nlohmann::json& with,
                                                      const std::string& token) {
        for (const char* field : {"id", "properties"}) {
            if (field_missing(with, field)) {
                co_return fail(required_message(field));
            }
        }
        auto id = with["id"].is_string() ? with["id"].get<std::string>() : with["id"].dump();
        auto encoded = stripe_form_encode({{"k", id}}).substr(2);
        nlohmann::json body = {{"properties", with["properties"]}};
        co_return co_await exchange(
            build("PATCH", "/crm/v3/objects/contacts/" + encoded, body.dump(), token));
    }

    boost::asio::awaitable<StepResult> exchange(HttpRequest request) {
        StepResult result;
        auto response = co_await send(std::move(request), result);
        if (response) {
            read_answer(*response, result);
        }
        co_return result;
    }

    /// The request with the token in `auth_header` (raw) or `Authorization: Bearer`.
    HttpRequest build(const std::string& method,
                      const std::string& path,
                      const std::optional<std::string>& body,
                      const std::string& token) const {
        auto request = make_request(method, path);
        auto header = setting("auth_header");
        if (header.empty() || iequals(header, "authorization")) {
            request.headers.emplace_back("Authorization", "Bearer " + token);
        } else {
            request.headers.emplace_back(header, token);
        }
        request.headers.emplace_back("Accept", "application/json");
        if (body) {
            request.headers.emplace_back("Content-Type", "application/json");
            request.body = *body;
        }
        return request;
    }

    static void read_answer(const HttpResponse& response, StepResult& result) {
        auto body = response.body.empty() ? nlohmann::json::object() : parse_json(response.body);
        if (body.is_discarded()) {
            body = response.body;
        }
        result.output = body;
        result.ok = success_status(response.status);
        if (!result.ok) {
            result.error = crm_error_text(response.status, body, response.body);
            result.retryable = retryable_status(response.status);
        }
    }
};

}  // namespace

std::unique_ptr<Connector> make_crm(config::ConnectorConfig config, RestClient& client) {
    return std::make_unique<CrmConnector>(std::move(config), client);
}

}  // namespace hookflow::connectors
