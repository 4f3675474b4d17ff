// The router: #/<page>/<rest> picks a page module; every page draws itself into <main>.
import { api, session } from "./api.js";
import { errorBox, h } from "./dom.js";
import * as approle from "./pages/approle.js";
import * as audit from "./pages/audit.js";
import * as kv from "./pages/kv.js";
import * as leases from "./pages/leases.js";
import * as login from "./pages/login.js";
import * as policies from "./pages/policies.js";
import * as secrets from "./pages/secrets.js";
import * as status from "./pages/status.js";
import * as tokens from "./pages/tokens.js";
import * as transit from "./pages/transit.js";

const PAGES = { status, login, secrets, kv, transit, tokens, policies, approle, leases, audit };
const NAV = [
  ["status", "Status"],
  ["secrets", "Secrets"],
  ["tokens", "Tokens"],
  ["policies", "Policies"],
  ["approle", "AppRole"],
  ["leases", "Leases"],
  ["audit", "Audit"],
];

function route() {
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, ""));
  const [where, query = ""] = hash.split("?");
  const [name, ...rest] = where.split("/");
  return { name: PAGES[name] ? name : "", rest: rest.join("/"), query: new URLSearchParams(query) };
}

// `moved`: the user went to another page, so focus goes to it (keyboard and screen-reader users start there).
async function render(moved = false) {
  const { name, rest, query } = route();
  if (!name) {
    location.replace(session.token ? "#/tokens" : "#/status");
    return;
  }
  drawNav(name);
  const main = document.getElementById("main");
  const page = h("div", { class: "page", "data-page": name });
  main.replaceChildren(page);
  document.title = `${PAGES[name].title} · Tessera`;
  try {
    await PAGES[name].render(page, rest, query);
  } catch (error) {
    if (error.status === 403 && !session.token) {
      page.replaceChildren(h("h1", {}, PAGES[name].title), errorBox(error), h("p", {}, h("a", { href: "#/login" }, "Log in")));
    } else if (error.status === 503) {
      page.replaceChildren(h("h1", {}, PAGES[name].title), errorBox(error), h("p", {}, h("a", { href: "#/status" }, "Unseal")));
    } else {
      page.append(errorBox(error));
    }
  }
  page.setAttribute("data-ready", "true");
  if (moved === true) main.focus({ preventScroll: true });
}

function drawNav(current) {
  document.getElementById("nav").replaceChildren(
    ...NAV.map(([name, text]) =>
      h("li", {}, h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : null }, text)),
    ),
  );
  drawWho();
}

async function drawWho() {
  const who = document.getElementById("who");
  if (!session.token) {
    who.replaceChildren(h("a", { href: "#/login" }, "Log in"));
    return;
  }
  const logout = h("button", { type: "button", class: "secondary", onclick: signOut }, "Log out");
  try {
    const self = await api("GET", "auth/token/lookup-self");
    who.replaceChildren(h("span", {}, `${self.data.display_name} (${self.data.policies.join(", ")})`), logout);
  } catch {
    who.replaceChildren(h("span", { class: "muted" }, "token not usable"), logout);
  }
}

function signOut() {
  session.token = "";
  location.hash = "#/login";
}

window.addEventListener("hashchange", () => render(true));
render();
