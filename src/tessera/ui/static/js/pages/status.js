// Seal status; initialise; unseal key by key with the progress shown; HA and replication status.
import { api, session } from "../api.js";
import { alertBox, button, card, facts, field, form, h, input } from "../dom.js";

export const title = "Status";

export async function render(page) {
  const seal = await api("GET", "sys/seal-status");
  page.append(h("h1", {}, "Status"), card("Seal status", sealFacts(seal)));
  if (!seal.initialized) page.append(initCard());
  else if (seal.sealed) page.append(unsealCard(seal));
  else await appendRunning(page);
}

function sealFacts(seal) {
  const badge = h("span", { class: `badge ${seal.sealed ? "sealed" : "unsealed"}` }, seal.sealed ? "sealed" : "unsealed");
  return facts({
    State: badge,
    Initialized: seal.initialized ? "yes" : "no",
    "Seal type": seal.type,
    "Key shares": seal.n,
    "Key threshold": seal.t,
    Version: seal.version,
    "Cluster name": seal.cluster_name,
  });
}

function initCard() {
  return card(
    "Initialise",
    h("p", {}, "Split the root key into key shares; a threshold of them unseals the server."),
    form(
      "Initialise",
      [
        field("Key shares", input("secret_shares", { type: "number", min: 1, value: "5" })),
        field("Key threshold", input("secret_threshold", { type: "number", min: 1, value: "3" })),
      ],
      "Initialise",
      async (v) => {
        const out = await api("PUT", "sys/init", {
          secret_shares: Number(v.secret_shares),
          secret_threshold: Number(v.secret_threshold),
        });
        return alertBox(
          "note",
          "Keep these unseal keys and the root token safe: they are shown only once.",
          h("ol", {}, out.keys_base64.map((k) => h("li", {}, h("code", {}, k)))),
          h("p", {}, "Root token: ", h("code", { "data-field": "root_token" }, out.root_token)),
          h("div", { class: "actions" }, button("Continue to unseal", async () => location.reload(), { kind: "primary" })),
        );
      },
    ),
  );
}

function unsealCard(seal) {
  const progress = h("p", { "data-field": "progress" }, `Unseal progress: ${seal.progress} of ${seal.t} keys`);
  const bar = h("progress", { max: seal.t, value: seal.progress, "aria-label": "Unseal progress" });
  return card(
    "Unseal",
    progress,
    bar,
    form(
      "Unseal",
      [field("Unseal key", input("key", { type: "password", autocomplete: "off", required: true }), "One key share at a time (base64 or hex).")],
      "Unseal",
      async (v, el) => {
        const out = await api("PUT", "sys/unseal", { key: v.key });
        el.reset();
        if (!out.sealed) {
          location.hash = session.token ? "#/tokens" : "#/login";
          return alertBox("ok", "Unsealed.");
        }
        progress.textContent = `Unseal progress: ${out.progress} of ${out.t} keys`;
        bar.value = out.progress;
        return alertBox("ok", `Key accepted (${out.progress} of ${out.t}).`);
      },
    ),
    h(
      "div",
      { class: "actions" },
      button("Reset progress", async () => {
        const out = await api("PUT", "sys/unseal", { reset: true });
        progress.textContent = `Unseal progress: ${out.progress} of ${out.t} keys`;
        bar.value = out.progress;
      }),
    ),
  );
}

async function appendRunning(page) {
  const grid = h("div", { class: "grid" });
  page.append(grid);
  const leader = await optional("sys/leader");
  grid.append(card("High availability", leader ? facts({
    "HA enabled": leader.ha_enabled ? "yes" : "no",
    "This node": leader.ha_enabled ? (leader.is_self ? "active" : "standby") : "active (single node)",
    "Active address": leader.leader_address,
  }) : h("p", { class: "muted" }, "Not available.")));
  if (session.token && leader && leader.ha_enabled) {
    const ha = await optional("sys/ha-status");
    if (ha && ha.data && ha.data.nodes) {
      grid.append(card("HA nodes", facts(Object.fromEntries(ha.data.nodes.map((n) => [n.hostname || n.api_address, n.active_node ? "active" : "standby"])))));
    }
  }
  const replication = await optional("sys/replication/status");
  grid.append(card("Replication", replication ? facts(replication.data || replication) : h("p", { class: "muted" }, "This server has no replication.")));
  if (session.token) {
    grid.append(
      card(
        "Seal",
        h("p", {}, "Sealing stops all requests until the server is unsealed again."),
        h("div", { class: "actions" }, button("Seal now", async () => {
          await api("PUT", "sys/seal");
          location.reload();
        }, { kind: "danger" })),
      ),
    );
  }
}

async function optional(apiPath) {
  try {
    return await api("GET", apiPath);
  } catch {
    return null;
  }
}
