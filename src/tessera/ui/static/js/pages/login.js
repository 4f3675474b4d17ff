// Log in with a token, userpass or AppRole; the token returned is kept for this tab only.
import { api, path, session } from "../api.js";
import { card, field, form, h, input, select } from "../dom.js";

export const title = "Log in";

const METHODS = {
  token: () => [field("Token", input("token", { type: "password", required: true }))],
  userpass: () => [
    field("Mount path", input("mount", { value: "userpass" })),
    field("Username", input("username", { required: true, autocomplete: "username" })),
    field("Password", input("password", { type: "password", required: true, autocomplete: "current-password" })),
  ],
  approle: () => [
    field("Mount path", input("mount", { value: "approle" })),
    field("Role ID", input("role_id", { required: true })),
    field("Secret ID", input("secret_id", { type: "password" })),
  ],
};

export async function render(page) {
  const fields = h("div", { class: "wide" });
  const method = select("method", [["token", "Token"], ["userpass", "Username & password"], ["approle", "AppRole"]], "token");
  const showFields = () => {
    fields.replaceChildren(h("div", { class: "fieldset" }, ...METHODS[method.value]()));
  };
  method.addEventListener("change", showFields);
  showFields();
  page.append(
    h("h1", {}, "Log in"),
    card("Sign in to Tessera", form("Log in", [field("Method", method), fields], "Sign in", signIn)),
  );
}

async function signIn(v) {
  let token;
  if (v.method === "token") {
    session.token = v.token;
    try {
      await api("GET", "auth/token/lookup-self");
    } catch (error) {
      session.token = "";
      throw error;
    }
    token = v.token;
  } else if (v.method === "userpass") {
    const out = await api("POST", path("auth", v.mount || "userpass", "login", v.username), { password: v.password });
    token = out.auth.client_token;
  } else {
    const body = { role_id: v.role_id };
    if (v.secret_id) body.secret_id = v.secret_id;
    const out = await api("POST", path("auth", v.mount || "approle", "login"), body);
    token = out.auth.client_token;
  }
  session.token = token;
  location.hash = "#/tokens";
}
