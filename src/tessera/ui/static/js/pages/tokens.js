// Tokens: create (service, batch, orphan, periodic), look up by token or accessor, the accessor
// list with each token's type, policies, TTL and origin, renew and revoke.
import { api, list } from "../api.js";
import { alertBox, button, card, check, duration, errorBox, facts, field, form, h, input, list as splitList, select, show, table } from "../dom.js";

export const title = "Tokens";

// Tokens this tab created, newest first: held in memory only (a reload forgets them). Batch tokens
// have no accessor, so this is the only place the UI can list them.
const created = [];
const ACCESSOR_LIMIT = 200;

// Vault's own words, as the token store answers a renew or revoke of a batch token.
const BATCH_RENEW = "batch tokens cannot be renewed";
const BATCH_REVOKE = "batch tokens cannot be revoked";

export async function render(page) {
  page.append(h("h1", {}, "Tokens"), h("div", { class: "grid" }, createCard(), lookupCard()));
  page.append(sessionCard());
  page.append(await accessorCard());
}

function badge(type) {
  return h("span", { class: `badge ${type}`, "data-type": type }, type);
}

function createCard() {
  return card(
    "Create a token",
    form(
      "Create a token",
      [
        field("Type", select("type", [["service", "service"], ["batch", "batch"]], "service"), "Batch tokens: light, not persisted, no accessor."),
        field("Policies", input("policies", { placeholder: "default, app-read" }), "Comma separated"),
        field("TTL", input("ttl", { placeholder: "1h" })),
        field("Explicit max TTL", input("explicit_max_ttl", { placeholder: "24h" })),
        field("Period", input("period", { placeholder: "24h" }), "Periodic: renewable forever, each renewal for this long"),
        field("Display name", input("display_name")),
        h("div", { class: "wide actions" }, check("orphan", "Orphan (no parent)"), check("renewable", "Renewable", true)),
      ],
      "Create token",
      async (v) => {
        const body = { type: v.type, renewable: v.renewable };
        for (const name of ["ttl", "explicit_max_ttl", "period", "display_name"]) if (v[name]) body[name] = v[name];
        const policies = splitList(v.policies);
        if (policies.length) body.policies = policies;
        const out = await api("POST", v.orphan ? "auth/token/create-orphan" : "auth/token/create", body);
        const auth = out.auth;
        created.unshift({ token: auth.client_token, accessor: auth.accessor, type: auth.token_type, policies: auth.policies, ttl: auth.lease_duration, orphan: auth.orphan, renewable: auth.renewable });
        redrawSession();
        if (auth.accessor) redrawAccessors();
        return alertBox(
          "ok",
          h("p", {}, "Created a ", badge(auth.token_type), " token. Copy it now: it is not shown again after a reload."),
          facts({ Token: h("code", { "data-field": "token" }, auth.client_token), Accessor: auth.accessor, Policies: auth.policies, TTL: duration(auth.lease_duration), Renewable: auth.renewable ? "yes" : "no", Orphan: auth.orphan ? "yes" : "no" }),
          out.warnings ? out.warnings.map((w) => h("p", {}, w)) : null,
        );
      },
    ),
  );
}

function lookupCard() {
  return card(
    "Look up a token",
    form(
      "Look up a token",
      [
        field("By", select("by", [["accessor", "accessor"], ["token", "token"]], "accessor")),
        field("Token or accessor", input("value", { required: true })),
      ],
      "Look up",
      async (v) => {
        const out = v.by === "token"
          ? await api("POST", "auth/token/lookup", { token: v.value })
          : await api("POST", "auth/token/lookup-accessor", { accessor: v.value });
        return details(out.data);
      },
    ),
  );
}

function details(d) {
  return facts({
    Type: badge(d.type),
    "Display name": d.display_name,
    Accessor: d.accessor,
    Policies: d.policies,
    TTL: duration(d.ttl),
    "Explicit max TTL": d.explicit_max_ttl ? duration(d.explicit_max_ttl) : "",
    Period: d.period ? duration(d.period) : "",
    Renewable: d.renewable ? "yes" : "no",
    Parent: d.orphan ? "none (orphan)" : "the token that created it",
    "Created by": d.path,
    "Created at": d.issue_time,
    Expires: d.expire_time,
    "Uses left": d.num_uses || "unlimited",
    Metadata: d.meta,
  });
}

let sessionBody = null;

function sessionCard() {
  sessionBody = h("div", {});
  redrawSession();
  return card(
    "Created in this session",
    alertBox("note", `Batch tokens have no accessor and are not stored, so only this list shows them. Vault says why they have no renew or revoke: "${BATCH_RENEW}", "${BATCH_REVOKE}"; they end at their TTL.`),
    sessionBody,
  );
}

function redrawSession() {
  if (!sessionBody) return;
  const out = h("div", { class: "result" });
  const rows = created.map((t) => [
    badge(t.type),
    t.accessor ? h("code", {}, t.accessor) : h("span", { class: "muted" }, "none (batch)"),
    show(t.policies),
    duration(t.ttl),
    t.orphan ? "none (orphan)" : "creator",
    h("div", { class: "actions" },
      button("Renew", async () => {
        const r = await api("POST", "auth/token/renew", { token: t.token });
        return alertBox("ok", `Renewed: TTL ${duration(r.auth.lease_duration)}.`);
      }, { target: out, label: `Renew ${t.type} token ${t.accessor || ""}` }),
      button("Revoke", async () => {
        await api("POST", "auth/token/revoke", { token: t.token });
        created.splice(created.indexOf(t), 1);
        redrawSession();
        redrawAccessors();
        return null;
      }, { kind: "danger", target: out, label: `Revoke ${t.type} token ${t.accessor || ""}` }),
    ),
  ]);
  sessionBody.replaceChildren(table(["Type", "Accessor", "Policies", "TTL", "Parent", ""], rows, "No tokens created in this tab yet."), out);
}

let accessorBody = null;

async function accessorCard() {
  accessorBody = h("div", {});
  await redrawAccessors();
  return card("Tokens by accessor", accessorBody);
}

async function redrawAccessors() {
  if (!accessorBody) return;
  const out = h("div", { class: "result" });
  let accessors;
  try {
    accessors = await list("auth/token/accessors");
  } catch (error) {
    accessorBody.replaceChildren(errorBox(error));
    return;
  }
  const shown = accessors.slice(0, ACCESSOR_LIMIT);
  const looked = await Promise.all(shown.map((a) => api("POST", "auth/token/lookup-accessor", { accessor: a }).then((r) => r.data, () => null)));
  const rows = looked.filter(Boolean).sort((a, b) => b.creation_time - a.creation_time).map((d) => [
    h("code", {}, d.accessor),
    badge(d.type),
    show(d.display_name),
    show(d.policies),
    duration(d.ttl),
    d.orphan ? "none (orphan)" : "creator",
    show(d.path),
    h("div", { class: "actions" },
      button("Renew", async () => {
        const r = await api("POST", "auth/token/renew-accessor", { accessor: d.accessor });
        return alertBox("ok", `Renewed ${d.accessor}: TTL ${duration(r.auth.lease_duration)}.`);
      }, { target: out, label: `Renew ${d.accessor}` }),
      button("Revoke", async () => {
        await api("POST", "auth/token/revoke-accessor", { accessor: d.accessor });
        await redrawAccessors();
        return null;
      }, { kind: "danger", target: out, label: `Revoke ${d.accessor}` }),
    ),
  ]);
  const more = accessors.length > shown.length ? h("p", { class: "muted" }, `Showing ${shown.length} of ${accessors.length}; look up others above.`) : null;
  accessorBody.replaceChildren(...[table(["Accessor", "Type", "Name", "Policies", "TTL", "Parent", "Created by", ""], rows), more, out].filter(Boolean));
}
