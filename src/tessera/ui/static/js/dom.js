// Small DOM helpers: every text goes in as text (never as HTML), so server data cannot inject markup.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "value") el.value = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function card(title, ...children) {
  return h("section", { class: "card", "aria-label": title }, h("h2", {}, title), children);
}

export function table(headers, rows, empty = "None.") {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h(
    "div",
    { class: "scroll" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, name)))),
      h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((cell, i) => h("td", { "data-label": headers[i] }, cell))))),
    ),
  );
}

export function facts(object) {
  const entries = Object.entries(object || {});
  return h("dl", { class: "facts" }, entries.map(([k, v]) => [h("dt", {}, k), h("dd", {}, show(v))]));
}

export function show(value) {
  if (value instanceof Node) return value;
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "—");
  if (Array.isArray(value)) return value.length ? value.join(", ") : h("span", { class: "muted" }, "—");
  if (typeof value === "object") return h("code", {}, JSON.stringify(value));
  return String(value);
}

let fieldCount = 0;

// A labelled control: the label names it exactly; a hint describes it (aria-describedby).
export function field(label, control, hint, extraClass = "") {
  const id = `f${++fieldCount}`;
  control.id = id;
  const note = hint ? h("small", { id: `${id}-hint` }, hint) : null;
  if (note) control.setAttribute("aria-describedby", note.id);
  return h("div", { class: `field ${extraClass}`.trim() }, h("label", { for: id }, label), control, note);
}

export function input(name, props = {}) {
  return h("input", { name, id: props.id, type: "text", autocomplete: "off", ...props });
}

export function select(name, options, value) {
  return h(
    "select",
    { name },
    options.map(([val, text]) => h("option", { value: val, selected: val === value }, text)),
  );
}

export function check(name, label, checked = false) {
  return h("label", { class: "check" }, h("input", { type: "checkbox", name, checked }), label);
}

export function alertBox(kind, ...lines) {
  return h(
    "div",
    { class: `alert ${kind}`, role: kind === "error" ? "alert" : "status" },
    lines.flat().map((line) => (line instanceof Node ? line : h("p", {}, line))),
  );
}

export function errorBox(error) {
  const lines = error && error.errors && error.errors.length ? error.errors : [String(error.message || error)];
  return alertBox("error", lines);
}

// A form whose submit runs `action(values, form)`; what it returns (a Node) or throws is shown in the form.
export function form(label, controls, submitText, action) {
  const result = h("div", { class: "result", "aria-live": "polite" });
  const button = h("button", { type: "submit" }, submitText);
  const el = h("form", { "aria-label": label }, controls, h("div", { class: "actions" }, button), result);
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    result.replaceChildren();
    try {
      const shown = await action(values(el), el);
      if (shown) result.replaceChildren(shown);
    } catch (error) {
      result.replaceChildren(errorBox(error));
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

export function values(formEl) {
  const out = {};
  for (const el of formEl.elements) {
    if (!el.name) continue;
    if (el.type === "checkbox") out[el.name] = el.checked;
    else out[el.name] = el.tagName === "TEXTAREA" ? el.value : el.value.trim(); // a text is sent as written
  }
  return out;
}

// A button whose click runs `action()`; its result or error appears in `target` (or next to it).
export function button(text, action, { kind = "secondary", target, label } = {}) {
  const el = h("button", { type: "button", class: `${kind} small`, "aria-label": label }, text);
  el.addEventListener("click", async () => {
    el.disabled = true;
    const out = target || el.parentElement;
    try {
      const shown = await action();
      if (shown && target) target.replaceChildren(shown);
    } catch (error) {
      if (target) target.replaceChildren(errorBox(error));
      else out.append(errorBox(error));
    } finally {
      el.disabled = false;
    }
  });
  return el;
}

export function list(text) {
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

export function duration(seconds) {
  if (seconds === undefined || seconds === null) return "—";
  if (!seconds) return "never expires";
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (seconds >= size) {
      parts.push(`${Math.floor(seconds / size)}${unit}`);
      seconds %= size;
    }
  }
  return parts.slice(0, 2).join(" ");
}

export function link(href, text) {
  return h("a", { href }, text);
}
