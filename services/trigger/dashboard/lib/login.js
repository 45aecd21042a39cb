// The login form (shown when the API answers 401) and the top bar's "Log out" link.

import { KEY_STORAGE, apiKey, onUnauthorized } from "./api.js";
import { h, fill } from "./dom.js";
import { newPage } from "./page.js";

let route = () => {}; // renders the current page again (the router's), set by installLogin

function showLogout() {
  document.getElementById("logout").hidden = !apiKey();
}

function showLogin(message) {
  const view = document.getElementById("view");
  const shown = view.querySelector('[data-testid="login-error"]');
  if (shown) {
    shown.textContent = message;
    return;
  }
  newPage(); // stops the refreshes of the page behind the form
  document.title = "Log in · dashboard";
  const input = h("input", { type: "password", autocomplete: "current-password", placeholder: "wfk_…", required: true, testid: "login-key" });
  function onSubmit(event) {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORAGE, input.value.trim());
    showLogout();
    route();
  }
  fill(view, h("form", { class: "panel login", testid: "login", onsubmit: onSubmit },
    h("h1", {}, "Log in"),
    h("p", {}, "The API needs an API key; ", h("code", {}, "workflows keys create --scope read"), " makes one."),
    h("label", {}, "API key ", input),
    h("p", { class: "login-error", testid: "login-error" }, message),
    h("button", { class: "button primary", type: "submit", testid: "login-submit" }, "Log in")));
  input.focus();
}

// Wire the login form and the "Log out" link; `render` shows the page again with the new key.
export function installLogin(render) {
  route = render;
  onUnauthorized(showLogin);
  document.getElementById("logout").addEventListener("click", (event) => {
    event.preventDefault();
    sessionStorage.removeItem(KEY_STORAGE);
    showLogout();
    route();
  });
  showLogout();
}
