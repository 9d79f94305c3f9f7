"use strict";
(() => {
  // src/announce.ts
  function announce(text) {
    const el = document.getElementById("announcer");
    if (!el) return;
    el.textContent = "";
    window.setTimeout(() => el.textContent = text, 50);
  }

  // src/verify.ts
  var enc = new TextEncoder();
  function b64(s) {
    let bin;
    try {
      bin = atob(s);
    } catch {
      throw new Error(`the proof holds a value that is not base64: ${s.slice(0, 16)}`);
    }
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function hex(b) {
    return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  }
  function equal(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
  async function sha256(...parts) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
  }
  function u64(n) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n));
    return b;
  }
  async function parseKey(vkey) {
    const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey);
    if (!m) throw new Error("the log key is not a signed-note verifier key");
    const raw = b64(m[3]);
    if (raw.length !== 33 || raw[0] !== 1) throw new Error("the log key is not an Ed25519 key");
    const hash = (await sha256(enc.encode(m[1] + "\n"), raw)).slice(0, 4);
    if (hex(hash) !== m[2]) throw new Error("the log key's hash does not match the key");
    return { name: m[1], hash, key: raw.slice(1) };
  }
  async function openNote(note, k) {
    const split = note.lastIndexOf("\n\n");
    if (split < 0) throw new Error("the checkpoint is not a signed note");
    const text = note.slice(0, split + 1);
    for (const line of note.slice(split + 2).split("\n")) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m || m[1] !== k.name) continue;
      const sig = b64(m[2]);
      if (sig.length !== 68 || !equal(sig.slice(0, 4), k.hash)) continue;
      const pub = await crypto.subtle.importKey("raw", k.key.slice(), { name: "Ed25519" }, false, ["verify"]);
      if (await crypto.subtle.verify({ name: "Ed25519" }, pub, sig.slice(4), enc.encode(text))) return text;
      throw new Error("the checkpoint's signature does not verify with the log key");
    }
    throw new Error(`the checkpoint has no signature by ${k.name}`);
  }
  function decodeStored(b) {
    if (b.length < 35 || b[0] !== 1) throw new Error("the stored event bytes are not encoding v1");
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let o = 35;
    const dec = new TextDecoder("utf-8", { fatal: true });
    const uvarint = () => {
      let v = 0;
      for (let shift = 0, i = 0; i < 8; i++, shift += 7) {
        if (o >= b.length) throw new Error("the stored event bytes end inside a number");
        const x = b[o++];
        v += (x & 127) * 2 ** shift;
        if (x < 128) {
          if (x === 0 && i > 0) throw new Error("the stored event bytes have a non-minimal number");
          return v;
        }
      }
      throw new Error("the stored event bytes have a number too large");
    };
    const str = () => {
      const n = uvarint();
      if (o + n > b.length) throw new Error("the stored event bytes end inside a string");
      const s2 = dec.decode(b.subarray(o, o + n));
      o += n;
      return s2;
    };
    const map = () => {
      const m = /* @__PURE__ */ new Map();
      for (let n = uvarint(); n > 0; n--) {
        const k = str();
        m.set(k, str());
      }
      return m;
    };
    const s = {
      receiveNs: dv.getBigInt64(1),
      eventNs: dv.getBigInt64(9),
      id: b.slice(17, 33),
      readOnly: (b[33] & 1) === 1,
      type: b[34],
      code: uvarint(),
      strings: Array.from({ length: 8 }, str),
      metadata: map(),
      requestParameters: map()
    };
    if (o !== b.length) throw new Error("the stored event bytes have trailing bytes");
    return s;
  }
  function timestampNs(ts) {
    const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
    if (!m) return -1n;
    const secs = BigInt(Date.parse(m[1] + "Z") / 1e3);
    return secs * 1000000000n + BigInt((m[2] ?? "").padEnd(9, "0"));
  }
  var typeNames = { 1: "TYPE_API", 2: "TYPE_SYSTEM" };
  function differences(e, s) {
    const str = (k) => typeof e[k] === "string" ? e[k] : "";
    const status = e.status ?? {};
    const diffs = [];
    const want = [
      ["name", str("name"), "events/" + uuid(s.id)],
      ["event_time", timestampNs(str("eventTime")), s.eventNs],
      ["receive_time", timestampNs(str("receiveTime")), s.receiveNs],
      ["read_only", e.readOnly === true, s.readOnly],
      ["type", str("type"), typeNames[s.type] ?? ""],
      ["status.code", status.code ?? 0, s.code],
      ["status.message", status.message ?? "", s.strings[0]],
      ["event_source", str("eventSource"), s.strings[1]],
      ["action", str("action"), s.strings[2]],
      ["principal", str("principal"), s.strings[3]],
      ["source_ip_address", str("sourceIpAddress"), s.strings[4]],
      ["resource", str("resource"), s.strings[5]],
      ["workspace", str("workspace"), s.strings[6]],
      ["user_agent", str("userAgent"), s.strings[7]],
      ["metadata", canon(e.metadata), canon(Object.fromEntries(s.metadata))],
      ["request_parameters", canon(e.requestParameters), canon(Object.fromEntries(s.requestParameters))]
    ];
    for (const [name, shown, signed] of want) if (shown !== signed) diffs.push(name);
    return diffs;
  }
  function canon(m) {
    const o = m ?? {};
    return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
  }
  function uuid(b) {
    const h = hex(b);
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  async function rootFromInclusion(index, size, leafHash, path) {
    if (index >= size) throw new Error(`leaf ${index} is not in a tree of size ${size}`);
    let fn = index;
    let sn = size - 1n;
    let r = leafHash;
    const one = new Uint8Array([1]);
    for (const p of path) {
      if (sn === 0n) throw new Error("the inclusion proof is too long");
      if ((fn & 1n) === 1n || fn === sn) {
        r = await sha256(one, p, r);
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      } else {
        r = await sha256(one, r, p);
      }
      fn >>= 1n;
      sn >>= 1n;
    }
    if (sn !== 0n) throw new Error("the inclusion proof is too short");
    return r;
  }
  async function verifyEventProof(proof, pinnedKey) {
    const checks = [];
    const pass = (text) => checks.push({ ok: true, text });
    try {
      const k = await parseKey(pinnedKey);
      if (proof.checkpoint.verifierKey !== pinnedKey) throw new Error("the checkpoint was served with another log key");
      const text = await openNote(proof.checkpoint.signedNote, k);
      pass(`checkpoint signature: Ed25519 by ${k.name} (key hash ${hex(k.hash)})`);
      const lines = text.split("\n");
      if (lines[0] !== k.name || !/^\d+$/.test(lines[1] ?? "")) throw new Error("the checkpoint's origin or size is malformed");
      const size = BigInt(lines[1]);
      const root = b64(lines[2] ?? "");
      if (root.length !== 32) throw new Error("the checkpoint's root hash is malformed");
      const stored = b64(proof.storedEvent);
      const s = decodeStored(stored);
      const diffs = differences(proof.event, s);
      if (diffs.length > 0) throw new Error(`the shown event differs from the signed bytes in: ${diffs.join(", ")}`);
      pass("every shown field equals the stored event bytes");
      const seq = BigInt(proof.seq);
      const origin = enc.encode(k.name);
      const leaf = concat(enc.encode("audittrail/leaf/v1\n"), new Uint8Array([origin.length]), origin, u64(seq), u64(s.receiveNs), s.id, await sha256(b64(proof.salt), stored));
      if (!equal(leaf, b64(proof.leaf))) throw new Error("the leaf recomputed from the stored bytes and salt differs from the served leaf");
      pass(`leaf recomputed from the stored bytes, salt and seq ${seq}`);
      const leafHash = await sha256(new Uint8Array([0]), leaf);
      const path = (proof.inclusion.hashes ?? []).map(b64);
      const got = await rootFromInclusion(seq, size, leafHash, path);
      if (!equal(got, root)) throw new Error("the inclusion proof does not lead to the checkpoint's root hash");
      pass(`inclusion proof (${path.length} hashes) leads to the root of the signed tree of size ${size}: ${hex(root).slice(0, 16)}…`);
      return { verified: true, checks };
    } catch (err) {
      checks.push({ ok: false, text: err instanceof Error ? err.message : String(err) });
      return { verified: false, checks };
    }
  }

  // src/detail.ts
  function initDetail(root, standalone) {
    initCopy(root);
    const v = root.querySelector(".verify[data-proof]");
    if (v) void runVerify(v);
    if (standalone) {
      document.addEventListener("keydown", (ev) => {
        const back = document.querySelector("a.back");
        if (ev.key === "Escape" && back && !ev.defaultPrevented) window.location.assign(back.href);
      });
    }
  }
  function initCopy(root) {
    const btn = root.querySelector("button.copy");
    const pre = root.querySelector("pre.raw");
    if (!btn || !pre) return;
    btn.hidden = false;
    btn.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(pre.textContent ?? "");
        btn.textContent = "Copied";
        announce("Raw JSON copied to the clipboard");
      } catch {
        const range = document.createRange();
        range.selectNodeContents(pre);
        const sel = window.getSelection();
        sel?.removeAllRanges();
        sel?.addRange(range);
        btn.textContent = "Selected: press Ctrl+C";
        announce("The clipboard is not available; the raw JSON is selected");
      }
      window.setTimeout(() => btn.textContent = "Copy JSON", 2500);
    });
  }
  var badgeText = {
    verified: "Verified",
    "not-verified": "Not verified",
    pending: "Not yet checkpointed",
    checking: "Checking…"
  };
  function show(v, state, lines) {
    const badge = v.querySelector(".badge");
    const list = v.querySelector(".checks");
    if (!badge || !list) return;
    badge.textContent = badgeText[state];
    badge.dataset.state = state;
    list.replaceChildren(
      ...lines.map((l) => {
        const li = document.createElement("li");
        li.textContent = (l.ok === void 0 ? "" : l.ok ? "✓ " : "✗ ") + l.text;
        if (l.ok === false) li.className = "failed";
        return li;
      })
    );
  }
  async function runVerify(v) {
    const key = v.dataset.key ?? "";
    const retry = v.querySelector("button.recheck");
    if (retry) {
      retry.onclick = () => void runVerify(v);
    }
    if (!window.isSecureContext || !crypto.subtle) {
      show(v, "not-verified", [{ ok: false, text: "this browser offers WebCrypto only on HTTPS or localhost; verify offline with audittrail verify event" }]);
      return;
    }
    show(v, "checking", [{ text: `fetching the inclusion proof and the signed checkpoint; log key ${key}` }]);
    let resp;
    try {
      resp = await fetch(v.dataset.proof ?? "", { credentials: "same-origin", headers: { Accept: "application/json" } });
    } catch (err) {
      show(v, "not-verified", [{ ok: false, text: `could not fetch the proof: ${String(err)}` }]);
      return;
    }
    if (resp.status === 503) {
      if (retry) retry.hidden = false;
      show(v, "pending", [{ text: "no signed checkpoint covers this event yet (the server signs one every second); check again" }]);
      return;
    }
    if (!resp.ok) {
      const msg = (await resp.json().catch(() => ({}))).message ?? resp.statusText;
      show(v, "not-verified", [{ ok: false, text: `could not fetch the proof: HTTP ${resp.status} ${msg}` }]);
      return;
    }
    if (retry) retry.hidden = true;
    const out = await verifyEventProof(await resp.json(), key);
    show(v, out.verified ? "verified" : "not-verified", [...out.checks, { text: `log key: ${key}` }]);
    announce(out.verified ? "Event verified" : "Event not verified");
  }

  // src/rows.ts
  var codeNames = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated"
  ];
  var jsonNames = {
    event_time: "eventTime",
    receive_time: "receiveTime",
    login_principal: "loginPrincipal",
    event_source: "eventSource",
    source_ip_address: "sourceIpAddress",
    read_only: "readOnly",
    user_agent: "userAgent"
  };
  function goTime(ts) {
    return ts.replace(/\.(\d*?)0+Z$/, (_, d) => d ? `.${d}Z` : "Z");
  }
  function cellText(e, col) {
    const v = e[jsonNames[col] ?? col];
    switch (col) {
      case "event_time":
      case "receive_time":
        return typeof v === "string" ? goTime(v) : "";
      case "status": {
        const st = v ?? {};
        const code = st.code ?? 0;
        const name = codeNames[code] ?? `Code(${code})`;
        return st.message ? `${name}: ${st.message}` : name;
      }
      case "read_only":
        return v === true ? "true" : "false";
    }
    return typeof v === "string" ? v : "";
  }
  function short(s, n) {
    const r = Array.from(s);
    return r.length > n ? r.slice(0, n).join("") + "…" : s;
  }
  function eventRow(e, columns, back) {
    const tr = document.createElement("tr");
    for (const c of columns) {
      const td2 = document.createElement("td");
      td2.dataset.col = c;
      td2.textContent = short(cellText(e, c), 120);
      tr.append(td2);
    }
    const td = document.createElement("td");
    const a = document.createElement("a");
    a.href = `/ui/${String(e.name)}?back=${encodeURIComponent(back)}`;
    a.textContent = "details";
    td.append(a);
    tr.append(td);
    return tr;
  }
  function updateCount(table) {
    const total = table.tBodies[0].rows.length;
    const count = table.querySelector(".count");
    if (count) count.textContent = String(total);
    return total;
  }

  // src/search.ts
  function initSearch(table) {
    initScroll(table);
    initKeys(table);
  }
  async function fetchPage(href) {
    const resp = await fetch(href, { credentials: "same-origin", headers: { Accept: "text/html" } });
    return [resp, new DOMParser().parseFromString(await resp.text(), "text/html")];
  }
  function initScroll(table) {
    let loading = false;
    const observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) void loadOlder();
    });
    const watch = () => {
      const link = document.querySelector("p.older a[rel=next]");
      if (link) observer.observe(link);
    };
    const loadOlder = async () => {
      const link = document.querySelector("p.older a[rel=next]");
      if (!link || loading) return;
      loading = true;
      observer.unobserve(link);
      const status = link.parentElement;
      try {
        const [resp, doc] = await fetchPage(link.href);
        const rows = Array.from(doc.querySelectorAll("table.results tbody tr"), (r) => document.importNode(r, true));
        const next = doc.querySelector("p.older");
        if (!resp.ok || !next) throw new Error(doc.querySelector(".field-error")?.textContent ?? `HTTP ${resp.status}`);
        table.tBodies[0].append(...rows);
        status.replaceWith(document.importNode(next, true));
        const total = updateCount(table);
        announce(`${rows.length} older events loaded, ${total} shown`);
      } catch (err) {
        const p = document.createElement("span");
        p.className = "field-error";
        p.setAttribute("role", "alert");
        p.textContent = ` Loading older events failed: ${err instanceof Error ? err.message : String(err)}. Follow the link to retry.`;
        status.append(p);
        loading = false;
        return;
      }
      loading = false;
      watch();
    };
    watch();
  }
  function initKeys(table) {
    const tbody = table.tBodies[0];
    const rows = () => Array.from(tbody.rows);
    const focusRow = (r) => {
      if (!r) return;
      for (const x of rows()) x.tabIndex = -1;
      r.tabIndex = 0;
      r.focus();
    };
    if (tbody.rows[0]) tbody.rows[0].tabIndex = 0;
    table.addEventListener("keydown", (ev) => {
      const row = ev.target.closest("tr");
      if (!row || row.parentElement !== tbody) return;
      const list = rows();
      const i = list.indexOf(row);
      switch (ev.key) {
        case "ArrowDown":
          focusRow(list[i + 1]);
          break;
        case "ArrowUp":
          focusRow(list[i - 1]);
          break;
        case "Home":
          focusRow(list[0]);
          break;
        case "End":
          focusRow(list[list.length - 1]);
          break;
        case "Enter": {
          if (ev.target !== row) return;
          const a = row.querySelector("a");
          if (a) void openDetail(a.href, row);
          break;
        }
        default:
          return;
      }
      ev.preventDefault();
    });
    table.addEventListener("click", (ev) => {
      const a = ev.target.closest("a");
      if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
      ev.preventDefault();
      void openDetail(a.href, a.closest("tr") ?? void 0);
    });
  }
  async function openDetail(href, from) {
    let dialog = document.getElementById("detail");
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.id = "detail";
      dialog.setAttribute("aria-label", "Event details");
      document.body.append(dialog);
      dialog.addEventListener("close", () => dialog.from?.focus());
    }
    dialog.from = from;
    const [, doc] = await fetchPage(href);
    const main = doc.querySelector("main");
    const bar = document.createElement("p");
    bar.className = "dialog-bar";
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close (Esc)";
    close.addEventListener("click", () => dialog.close());
    const page = document.createElement("a");
    page.href = href;
    page.textContent = "Open as a page (shareable link)";
    bar.append(close, " ", page);
    dialog.replaceChildren(bar, ...Array.from(main?.childNodes ?? [], (n) => document.importNode(n, true)));
    dialog.querySelector("a.back")?.closest("p")?.remove();
    initDetail(dialog, false);
    dialog.showModal();
    close.focus();
  }

  // src/tail.ts
  var silenceLimit = 4e4;
  function initTail(root, table) {
    const toggle = root.querySelector(".tail-toggle");
    const state = root.querySelector(".tail-state");
    const newBtn = root.querySelector(".tail-new");
    const tbody = table.tBodies[0];
    const columns = Array.from(table.querySelectorAll("thead th[data-col]"), (th) => th.dataset.col ?? "");
    const back = window.location.pathname + window.location.search;
    root.hidden = false;
    let es = null;
    let on = false;
    let from = "";
    let delay = 1e3;
    let retryTimer = 0;
    let watchdog = 0;
    const held = [];
    const setState = (s, text) => {
      root.dataset.state = s;
      state.textContent = text;
    };
    const paused = () => tbody.getBoundingClientRect().top < 0;
    const flush = () => {
      if (held.length === 0) return;
      tbody.prepend(...held.reverse());
      held.length = 0;
      updateCount(table);
      newBtn.hidden = true;
    };
    const add = (e) => {
      const row = eventRow(e, columns, back);
      row.className = "new";
      if (paused()) {
        held.push(row);
        newBtn.hidden = false;
        newBtn.textContent = `${held.length} new ↑`;
        announce(`${held.length} new events`);
        return;
      }
      tbody.prepend(row);
      updateCount(table);
      announce("1 new event");
    };
    const kick = () => {
      window.clearTimeout(watchdog);
      watchdog = window.setTimeout(() => lost("no heartbeat"), silenceLimit);
    };
    const lost = (why) => {
      es?.close();
      es = null;
      window.clearTimeout(watchdog);
      if (!on) return;
      const secs = Math.round(delay / 1e3);
      setState("disconnected", `Disconnected (${why}): reconnecting in ${secs} s`);
      retryTimer = window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 3e4);
    };
    const connect = () => {
      const url = (root.dataset.src ?? "") + (from ? `&from=${encodeURIComponent(from)}` : "");
      setState("connecting", "Connecting…");
      es = new EventSource(url);
      es.onopen = () => {
        delay = 1e3;
        setState("live", "Live: new matching events appear at the top");
        kick();
      };
      es.addEventListener("event", (m) => {
        from = m.lastEventId;
        kick();
        add(JSON.parse(m.data));
      });
      es.addEventListener("ping", kick);
      es.addEventListener("stopped", (m) => lost(m.data || "the server ended the stream"));
      es.onerror = () => lost("connection lost");
    };
    const stop = () => {
      on = false;
      es?.close();
      es = null;
      window.clearTimeout(retryTimer);
      window.clearTimeout(watchdog);
      flush();
      toggle.setAttribute("aria-pressed", "false");
      toggle.textContent = "Start live tail";
      setState("off", "Live tail is off");
    };
    toggle.addEventListener("click", () => {
      if (on) {
        stop();
        return;
      }
      on = true;
      delay = 1e3;
      toggle.setAttribute("aria-pressed", "true");
      toggle.textContent = "Stop live tail";
      connect();
    });
    newBtn.addEventListener("click", () => {
      flush();
      table.scrollIntoView();
    });
    window.addEventListener("scroll", () => {
      if (!paused()) flush();
    });
    stop();
  }

  // src/main.ts
  function start() {
    const table = document.querySelector("table.results");
    if (table) {
      initSearch(table);
      const tail = document.querySelector(".tail[data-src]");
      if (tail) initTail(tail, table);
    }
    if (document.querySelector(".verify[data-proof]")) initDetail(document, true);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
