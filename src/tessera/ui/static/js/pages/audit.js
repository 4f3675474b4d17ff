// Audit devices: list, enable a file device, disable.
import { api, path } from "../api.js";
import { button, card, field, form, h, input, show, table } from "../dom.js";

export const title = "Audit devices";

export async function render(page) {
  const devices = (await api("GET", "sys/audit")).data;
  const rows = Object.entries(devices).map(([p, d]) => [p, d.type, show(d.description), show(d.options), button("Disable", async () => {
    await api("DELETE", path("sys/audit", p));
    location.reload();
  }, { kind: "danger", label: `Disable ${p}` })]);
  page.append(
    h("h1", {}, "Audit devices"),
    card("Enabled devices", table(["Path", "Type", "Description", "Options", ""], rows, "No audit device is enabled.")),
    card("Enable a file device", form("Enable a file device", [
      field("Path", input("path", { required: true, value: "file" })),
      field("File path", input("file_path", { required: true, placeholder: "/var/log/tessera/audit.log" }), "Or 'stdout'"),
      field("Description", input("description")),
    ], "Enable", async (v) => {
      await api("PUT", path("sys/audit", v.path), { type: "file", description: v.description, options: { file_path: v.file_path } });
      location.reload();
    })),
  );
}
