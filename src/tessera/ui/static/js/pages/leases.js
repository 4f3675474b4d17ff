// Leases by prefix: walk sys/leases/lookup, look one up, revoke one or a whole prefix.
import { api, list, path } from "../api.js";
import { alertBox, button, card, facts, field, form, h, input, link, table } from "../dom.js";

export const title = "Leases";

export async function render(page, rest) {
  const prefix = rest;
  const keys = prefix ? await list(path("sys/leases/lookup", prefix)) : [];
  const out = h("div", { class: "result", "aria-live": "polite" });
  const rows = keys.map((k) => {
    if (k.endsWith("/")) return [link(`#/leases/${prefix}${k}`, k), "prefix", ""];
    const id = prefix + k;
    return [h("code", {}, k), "lease", h("div", { class: "actions" },
      button("Look up", async () => alertBox("note", facts((await api("PUT", "sys/leases/lookup", { lease_id: id })).data)), { target: out, label: `Look up ${id}` }),
      button("Revoke", async () => {
        await api("PUT", "sys/leases/revoke", { lease_id: id });
        location.reload();
      }, { kind: "danger", target: out, label: `Revoke ${id}` }),
    )];
  });
  page.append(
    h("h1", {}, "Leases"),
    card("Prefix", form("Lease prefix", [field("Prefix", input("prefix", { value: prefix, placeholder: "auth/token/create/" }), "A mount path ending in /, such as auth/userpass/login/")], "Browse", async (v) => {
      const wanted = v.prefix && !v.prefix.endsWith("/") ? `${v.prefix}/` : v.prefix;
      location.hash = `#/leases/${wanted}`;
    })),
  );
  if (!prefix) return;
  page.append(card(`Leases under ${prefix}`, table(["Key", "Kind", ""], rows, "No leases under this prefix."), out,
    h("div", { class: "actions" }, button("Revoke every lease under this prefix", async () => {
      if (!confirm(`Revoke every lease under ${prefix}?`)) return null;
      await api("PUT", path("sys/leases/revoke-prefix", prefix));
      location.reload();
    }, { kind: "danger", target: out }))));
}
