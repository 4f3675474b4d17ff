// ACL policies: list, read, edit (the server's parse error shown as it says it), create, delete.
import { api, list, path } from "../api.js";
import { alertBox, button, card, field, form, h, input, link, table } from "../dom.js";

export const title = "Policies";

const BUILT_IN = ["root", "default"];

export async function render(page, rest) {
  if (rest) return editor(page, rest);
  const names = await list("sys/policies/acl");
  page.append(
    h("h1", {}, "ACL policies"),
    card("Policies", table(["Name"], names.map((n) => [link(`#/policies/${n}`, n)]))),
    card("Create a policy", policyForm("", 'path "secret/data/*" {\n  capabilities = ["read"]\n}\n')),
  );
}

async function editor(page, name) {
  const policy = (await api("GET", path("sys/policies/acl", name))).data.policy;
  page.append(h("h1", {}, link("#/policies", "Policies"), ` / ${name}`));
  if (name === "root") {
    page.append(card("root", h("p", {}, "The root policy allows everything and cannot be changed.")));
    return;
  }
  page.append(card(`Edit ${name}`, policyForm(name, policy)));
  if (!BUILT_IN.includes(name)) {
    page.append(card("Delete", h("div", { class: "actions" }, button("Delete policy", async () => {
      await api("DELETE", path("sys/policies/acl", name));
      location.hash = "#/policies";
    }, { kind: "danger" }))));
  }
}

function policyForm(name, text) {
  const controls = [];
  if (!name) controls.push(field("Name", input("name", { required: true })));
  controls.push(field("Policy (HCL)", h("textarea", { name: "policy", spellcheck: "false", rows: 12 }, text), null, "wide"));
  return form(name ? `Edit ${name}` : "Create a policy", controls, "Save", async (v) => {
    const target = name || v.name;
    await api("PUT", path("sys/policies/acl", target), { policy: v.policy });
    if (!name) location.hash = `#/policies/${target}`;
    return alertBox("ok", `Saved policy ${target}.`);
  });
}
