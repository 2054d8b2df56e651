// Fills the status list from /health and /health/ready, through textContent only: nothing
// the server sends is ever parsed as markup.
async function showStatus(url, elementId, okText) {
  const element = document.getElementById(elementId);
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    element.textContent = okText;
    element.className = "ok";
    return body;
  } catch (error) {
    element.textContent = "unavailable: " + error.message;
    element.className = "failed";
    return null;
  }
}

showStatus("/health", "server-status", "running").then((health) => {
  if (health) document.getElementById("version").textContent = health.version;
});
showStatus("/health/ready", "database-status", "ready");
