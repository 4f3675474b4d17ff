// KV v1 and v2: browse folders, read a secret (any version), write a new version, see versions and metadata.
import { api, list, path } from "../api.js";
import { alertBox, button, card, facts, field, form, h, input, link, show, table } from "../dom.js";

export const title = "KV secrets";

export async function render(page, rest, query) {
  const info = (await api("GET", path("sys/internal/ui/mounts", rest))).data;
  const mount = info.path.replace(/\/$/, "");
  const version = (info.options && info.options.version) === "2" ? 2 : 1;
  const key = rest.slice(mount.length).replace(/^\//, "");
  page.append(h("h1", {}, crumbs(mount, key), " ", h("span", { class: "badge service" }, `KV v${version}`)));
  const kv = { mount, version, key };
  if (key === "" || key.endsWith("/")) await folder(page, kv);
  else await secret(page, kv, query.get("version"));
}

function crumbs(mount, key) {
  const parts = key.split("/").filter(Boolean);
  const out = [link(`#/kv/${mount}/`, mount)];
  parts.forEach((part, i) => {
    const isLast = i === parts.length - 1 && !key.endsWith("/");
    out.push(" / ", isLast ? part : link(`#/kv/${mount}/${parts.slice(0, i + 1).join("/")}/`, part));
  });
  return h("span", {}, out);
}

function dataPath(kv, key) {
  return kv.version === 2 ? path(kv.mount, "data", key) : path(kv.mount, key);
}

async function folder(page, kv) {
  const listed = kv.version === 2 ? path(kv.mount, "metadata", kv.key) : path(kv.mount, kv.key);
  const keys = await list(listed);
  const rows = keys.map((k) => [link(`#/kv/${kv.mount}/${kv.key}${k}`, k), k.endsWith("/") ? "folder" : "secret"]);
  page.append(
    card("Keys", table(["Key", "Kind"], rows, "No secrets here yet.")),
    card("Create a secret", writeForm(kv, kv.key, {}, true)),
  );
}

function writeForm(kv, key, data, withPath) {
  const controls = [];
  if (withPath) controls.push(field("Path", input("key", { required: true, placeholder: "app/config" }), `Under ${kv.mount}/${key}`));
  controls.push(
    field("Data (JSON object)", h("textarea", { name: "data", spellcheck: "false" }, JSON.stringify(data, null, 2)), null, "wide"),
  );
  return form("Write secret", controls, withPath ? "Save" : "Save new version", async (v) => {
    let parsed;
    try {
      parsed = JSON.parse(v.data || "{}");
    } catch (error) {
      throw new Error(`The data is not valid JSON: ${error.message}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new Error("The data must be a JSON object.");
    const target = withPath ? key + v.key : key;
    await api("POST", dataPath(kv, target), kv.version === 2 ? { data: parsed } : parsed);
    location.hash = `#/kv/${kv.mount}/${target}`;
    return alertBox("ok", "Saved.");
  });
}

async function secret(page, kv, version) {
  const read = await api("GET", dataPath(kv, kv.key) + (version && kv.version === 2 ? `?version=${encodeURIComponent(version)}` : ""));
  const data = kv.version === 2 ? read.data.data : read.data;
  const rows = Object.entries(data || {}).map(([k, v]) => [k, h("code", { "data-key": k }, typeof v === "string" ? v : JSON.stringify(v))]);
  const label = kv.version === 2 ? `Version ${read.data.metadata.version}` : "Data";
  page.append(card(label, data ? table(["Key", "Value"], rows, "Empty.") : alertBox("note", "This version is deleted or destroyed.")));
  page.append(card("Write", writeForm(kv, kv.key, data || {}, false)));
  if (kv.version === 2) await versions(page, kv);
  page.append(
    card(
      "Delete",
      h("div", { class: "actions" }, button(kv.version === 2 ? "Delete latest version" : "Delete secret", async () => {
        await api("DELETE", dataPath(kv, kv.key));
        location.reload();
      }, { kind: "danger" })),
    ),
  );
}

async function versions(page, kv) {
  const meta = (await api("GET", path(kv.mount, "metadata", kv.key))).data;
  const rows = Object.entries(meta.versions)
    .sort(([a], [b]) => Number(b) - Number(a))
    .map(([n, v]) => [
      link(`#/kv/${kv.mount}/${kv.key}?version=${n}`, n),
      v.created_time,
      show(v.deletion_time),
      v.destroyed ? "yes" : "no",
    ]);
  page.append(
    card("Versions", table(["Version", "Created", "Deleted", "Destroyed"], rows)),
    card("Metadata", facts({
      "Current version": meta.current_version,
      "Oldest version": meta.oldest_version,
      "Max versions": meta.max_versions || "unlimited (mount default)",
      "Check-and-set required": meta.cas_required ? "yes" : "no",
      "Delete version after": meta.delete_version_after,
      Created: meta.created_time,
      Updated: meta.updated_time,
      "Custom metadata": meta.custom_metadata,
    })),
  );
}
