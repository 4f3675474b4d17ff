// AppRole: roles (token type, TTLs, policies), their role ID, and secret IDs.
import { api, list, path } from "../api.js";
import { alertBox, button, card, duration, facts, field, form, h, input, list as splitList, select, show, table } from "../dom.js";

export const title = "AppRole";

export async function render(page, rest) {
  const mount = rest.replace(/\/$/, "") || "approle";
  page.append(h("h1", {}, `AppRole: auth/${mount}`));
  const auths = (await api("GET", "sys/auth")).data;
  if (!auths[`${mount}/`]) {
    page.append(card("Not enabled", h("p", {}, `No auth method is enabled at auth/${mount}/.`), h("div", { class: "actions" }, button("Enable AppRole here", async () => {
      await api("POST", path("sys/auth", mount), { type: "approle" });
      location.reload();
    }, { kind: "primary" }))));
    return;
  }
  const names = await list(path("auth", mount, "role"));
  const roles = await Promise.all(names.map(async (n) => [n, (await api("GET", path("auth", mount, "role", n))).data]));
  const out = h("div", { class: "result", "aria-live": "polite" });
  const rows = roles.map(([n, r]) => [
    n,
    r.token_type,
    show(r.token_policies),
    r.token_ttl ? duration(r.token_ttl) : "system default",
    r.token_max_ttl ? duration(r.token_max_ttl) : "system default",
    r.secret_id_ttl ? duration(r.secret_id_ttl) : "no expiry",
    h("div", { class: "actions" },
      button("Role ID", async () => {
        const id = (await api("GET", path("auth", mount, "role", n, "role-id"))).data.role_id;
        return alertBox("ok", facts({ Role: n, "Role ID": h("code", {}, id) }));
      }, { target: out, label: `Role ID of ${n}` }),
      button("New secret ID", async () => {
        const s = (await api("POST", path("auth", mount, "role", n, "secret-id"), {})).data;
        return alertBox("ok", facts({ Role: n, "Secret ID": h("code", {}, s.secret_id), Accessor: s.secret_id_accessor, TTL: duration(s.secret_id_ttl) }));
      }, { target: out, label: `New secret ID for ${n}` }),
      button("Secret IDs", async () => {
        const accessors = await list(path("auth", mount, "role", n, "secret-id"));
        return alertBox("note", h("p", {}, `Secret ID accessors of ${n}:`), table(["Accessor"], accessors.map((a) => [h("code", {}, a)])));
      }, { target: out, label: `Secret IDs of ${n}` }),
      button("Delete", async () => {
        await api("DELETE", path("auth", mount, "role", n));
        location.reload();
      }, { kind: "danger", target: out, label: `Delete role ${n}` }),
    ),
  ]);
  page.append(
    card("Roles", table(["Role", "Token type", "Policies", "Token TTL", "Token max TTL", "Secret ID TTL", ""], rows, "No roles yet."), out),
    card("Create or update a role", form("Create or update a role", [
      field("Name", input("name", { required: true })),
      field("Token type", select("token_type", [["default", "default"], ["service", "service"], ["batch", "batch"], ["default-service", "default-service"], ["default-batch", "default-batch"]], "default")),
      field("Token policies", input("token_policies", { placeholder: "default" }), "Comma separated"),
      field("Token TTL", input("token_ttl", { placeholder: "1h" })),
      field("Token max TTL", input("token_max_ttl", { placeholder: "4h" })),
      field("Secret ID TTL", input("secret_id_ttl", { placeholder: "10m" })),
    ], "Save role", async (v) => {
      const body = { token_type: v.token_type, token_policies: splitList(v.token_policies) };
      for (const name of ["token_ttl", "token_max_ttl", "secret_id_ttl"]) if (v[name]) body[name] = v[name];
      await api("POST", path("auth", mount, "role", v.name), body);
      location.reload();
    })),
  );
}
