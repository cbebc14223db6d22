"""The page a set-password link opens (an invitation or a reset mail's link).

Self-contained (no script or style from elsewhere; works without internet). It takes
the token from the URL's fragment and removes it from the address bar at once, asks
for the password twice, and posts ``{"token", "new_password"}`` to its own URL; the
service's answer (a problem's field messages) is shown as it is.
"""

from __future__ import annotations

SET_PASSWORD_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Choose your password</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 26rem; margin: 4rem auto; padding: 0 1rem; color: #222; }
  label { display: block; margin-top: 1rem; }
  input { width: 100%; padding: .5rem; font-size: 1rem; box-sizing: border-box; }
  button { margin-top: 1.5rem; padding: .6rem 1.2rem; font-size: 1rem; }
  #message { margin-top: 1.5rem; }
  .error { color: #b00020; }
  .done { color: #0a7d32; }
</style>
</head>
<body>
<h1>Choose your password</h1>
<form id="form">
  <label for="password">New password (at least 12 characters)</label>
  <input id="password" type="password" autocomplete="new-password" minlength="12" maxlength="128" required>
  <label for="again">The same again</label>
  <input id="again" type="password" autocomplete="new-password" minlength="12" maxlength="128" required>
  <button id="submit" type="submit">Set password</button>
</form>
<p id="message" role="status"></p>
<script>
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  history.replaceState(null, "", location.pathname);
  const form = document.getElementById("form");
  const message = document.getElementById("message");
  function say(text, kind) { message.textContent = text; message.className = kind; }
  if (!token) {
    form.hidden = true;
    say("This page needs the link from your mail (it ends in #token=...).", "error");
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const password = document.getElementById("password").value;
    if (password !== document.getElementById("again").value) {
      say("The two passwords differ.", "error");
      return;
    }
    const answer = await fetch(location.pathname, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify({token: token, new_password: password}),
    });
    if (answer.status === 204) {
      form.hidden = true;
      say("Your password is set. You can log in now.", "done");
      return;
    }
    let problem = {};
    try { problem = await answer.json(); } catch (e) {}
    const fields = (problem.errors || []).map((e) => e.field + " " + e.message).join("; ");
    say(fields || problem.detail || ("The service answered " + answer.status + "."), "error");
  });
</script>
</body>
</html>
"""
