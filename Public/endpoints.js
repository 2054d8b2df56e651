// The researcher's OpenAI-compatible endpoints on the training page: registered with their key
// (sent once, never shown again), checked against their model list, removed. A sample job can
// start from one (the "Start from" list offers them for that kind).
import { api } from "/api.js";

const cell = (text) => {
  const element = document.createElement("td");
  element.textContent = text;
  return element;
};

/// Draws the table of live endpoints and returns them; `changed` runs after a registration or
/// a removal, so the "Start from" list follows.
export async function showEndpoints(changed) {
  const { endpoints } = await api("GET", "/api/model-endpoints");
  const result = document.getElementById("endpoint-result");
  document.querySelector("#endpoints tbody").replaceChildren(...endpoints.map((endpoint) => {
    const row = document.createElement("tr");
    const limits = [`${endpoint.timeoutSeconds} s timeout`, `${endpoint.retries} retries`, `${endpoint.concurrentRequests} at once`,
      endpoint.requestsPerMinute ? `${endpoint.requestsPerMinute} a minute` : null].filter(Boolean).join(", ");
    const actions = document.createElement("td");
    const check = document.createElement("button");
    check.type = "button";
    check.className = "quiet";
    check.textContent = "Check";
    check.onclick = async () => {
      check.disabled = true;
      result.textContent = `Asking ${endpoint.name} for its models...`;
      try {
        result.textContent = (await api("POST", `/api/model-endpoints/${endpoint.id}/check`)).message;
      } catch (error) {
        result.textContent = error.message;
      } finally {
        check.disabled = false;
      }
    };
    const remove = document.createElement("button");
    remove.type = "button";
    remove.className = "quiet";
    remove.textContent = "Remove";
    remove.onclick = async () => {
      if (!confirm(`Remove ${endpoint.name}? Its key is erased and no job starts from it again; its candidates stay.`)) return;
      try {
        await api("DELETE", `/api/model-endpoints/${endpoint.id}`);
        result.textContent = `Removed ${endpoint.name}.`;
        changed();
      } catch (error) {
        result.textContent = error.message;
      }
    };
    actions.append(check, " ", remove);
    row.append(cell(endpoint.name), cell(endpoint.model), cell(endpoint.baseUrl), cell(endpoint.apiKeyEnding ? `…${endpoint.apiKeyEnding}` : "none"),
               cell(limits), actions);
    return row;
  }));
  document.getElementById("endpoints").hidden = endpoints.length === 0;
  return endpoints;
}

/// Registers an endpoint from the form; the key field is emptied whatever happens.
export function wireEndpointForm(changed) {
  const form = document.getElementById("endpoint-form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const result = document.getElementById("endpoint-result");
    const fields = form.elements;
    const body = { name: fields.name.value, baseUrl: fields.baseUrl.value, model: fields.model.value };
    if (fields.apiKey.value) body.apiKey = fields.apiKey.value;
    for (const name of ["timeoutSeconds", "retries", "concurrentRequests", "requestsPerMinute"]) {
      if (fields[name].value !== "") body[name] = Number(fields[name].value);
    }
    fields.apiKey.value = "";
    try {
      const endpoint = await api("POST", "/api/model-endpoints", body);
      result.textContent = `Registered ${endpoint.name}; a sample job can now start from it.`;
      form.reset();
      changed();
    } catch (error) {
      result.textContent = error.message;
    }
  });
}
