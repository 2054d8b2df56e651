// Signs in and goes back to the page whose session expired (`?next=`, a page of Tally's own), else
// to the user's first page: applicants to their screening test, labelers to their home,
// researchers and admins to the projects. The CSRF token is kept in sessionStorage: pages of
// this origin send it with every write, pages of other sites cannot read it.
document.getElementById("sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("sign-in-error");
  error.textContent = "";
  try {
    const response = await fetch("/api/session", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    sessionStorage.setItem("csrfToken", body.csrfToken);
    // The page a session expired on, when the sign-in page was sent here from one of Tally's pages.
    const next = new URLSearchParams(location.search).get("next");
    const back = next && /^\/[A-Za-z0-9_-]+\.html(\?[^#]*)?$/.test(next) && !next.startsWith("/login.html") ? next : null;
    location.href = body.user.status === "applicant" ? "/screening.html" : back || (body.user.role === "labeler" ? "/home.html" : "/researcher.html");
  } catch (failure) {
    error.textContent = failure.message;
  }
});
