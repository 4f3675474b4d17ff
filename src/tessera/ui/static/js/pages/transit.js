// Transit: the keys of a mount, create one, encrypt and decrypt with it.
import { api, fromBase64, list, path, toBase64 } from "../api.js";
import { alertBox, card, field, form, h, input, select, table } from "../dom.js";

export const title = "Transit";

const TYPES = ["aes256-gcm96", "chacha20-poly1305", "aes128-gcm96", "ed25519", "ecdsa-p256", "rsa-2048"];

export async function render(page, rest) {
  const mount = rest.replace(/\/$/, "") || "transit";
  const names = await list(path(mount, "keys"));
  const keys = await Promise.all(names.map(async (name) => (await api("GET", path(mount, "keys", name))).data));
  const rows = keys.map((k) => [k.name, k.type, String(k.latest_version), k.supports_encryption ? "yes" : "no", k.exportable ? "yes" : "no"]);
  const keyChoice = () => select("key", names.map((n) => [n, n]), names[0]);
  page.append(
    h("h1", {}, `Transit: ${mount}`),
    card("Keys", table(["Name", "Type", "Latest version", "Encrypts", "Exportable"], rows, "No keys yet.")),
    card("Create a key", form("Create a key", [
      field("Name", input("name", { required: true })),
      field("Type", select("type", TYPES.map((t) => [t, t]), TYPES[0])),
    ], "Create", async (v) => {
      await api("POST", path(mount, "keys", v.name), { type: v.type });
      location.reload();
    })),
  );
  if (!names.length) return;
  page.append(
    h("div", { class: "grid" },
      card("Encrypt", form("Encrypt", [
        field("Key", keyChoice()),
        field("Plaintext", h("textarea", { name: "plaintext" }), null, "wide"),
      ], "Encrypt", async (v) => {
        const out = await api("POST", path(mount, "encrypt", v.key), { plaintext: toBase64(v.plaintext) });
        return alertBox("ok", "Ciphertext:", h("code", { "data-field": "ciphertext" }, out.data.ciphertext));
      })),
      card("Decrypt", form("Decrypt", [
        field("Key", keyChoice()),
        field("Ciphertext", h("textarea", { name: "ciphertext" }), null, "wide"),
      ], "Decrypt", async (v) => {
        const out = await api("POST", path(mount, "decrypt", v.key), { ciphertext: v.ciphertext });
        return alertBox("ok", "Plaintext:", h("code", { "data-field": "plaintext" }, fromBase64(out.data.plaintext)));
      })),
    ),
  );
}
