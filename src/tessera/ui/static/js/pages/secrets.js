// Secrets engines: the mounts, with KV and transit ones linked to their pages; enable a new one.
import { api, path } from "../api.js";
import { button, card, field, form, h, input, link, select, show, table } from "../dom.js";

export const title = "Secrets engines";

export async function render(page) {
  const mounts = (await api("GET", "sys/mounts")).data;
  const rows = Object.entries(mounts)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([mount, m]) => [
      engineLink(mount, m),
      m.type,
      m.type === "kv" ? `v${(m.options && m.options.version) || "1"}` : "",
      show(m.description),
      h("code", {}, m.accessor),
      ["sys/", "identity/", "cubbyhole/"].includes(mount)
        ? ""
        : button("Disable", async () => {
            if (!confirm(`Disable ${mount} and delete everything in it?`)) return;
            await api("DELETE", path("sys/mounts", mount));
            location.reload();
          }, { kind: "danger", label: `Disable ${mount}` }),
    ]);
  page.append(
    h("h1", {}, "Secrets engines"),
    card("Enabled engines", table(["Path", "Type", "Version", "Description", "Accessor", ""], rows)),
    card(
      "Enable an engine",
      form(
        "Enable an engine",
        [
          field("Type", select("type", [["kv2", "KV version 2"], ["kv1", "KV version 1"], ["transit", "Transit"]], "kv2")),
          field("Path", input("path", { required: true, placeholder: "kv-app" })),
          field("Description", input("description")),
        ],
        "Enable",
        async (v) => {
          const body = { type: v.type.startsWith("kv") ? "kv" : v.type, description: v.description };
          if (v.type.startsWith("kv")) body.options = { version: v.type.slice(2) };
          await api("POST", path("sys/mounts", v.path), body);
          location.reload();
        },
      ),
    ),
  );
}

function engineLink(mount, m) {
  const name = mount.replace(/\/$/, "");
  if (m.type === "kv") return link(`#/kv/${name}/`, mount);
  if (m.type === "transit") return link(`#/transit/${name}`, mount);
  return mount;
}
