// The event detail: copy button for the raw JSON, the verification badge,
// and Esc back to the results when the detail is a page of its own.

import { announce } from "./announce";
import { verifyEventProof, type EventProofJSON } from "./verify";

export function initDetail(root: ParentNode, standalone: boolean): void {
  initCopy(root);
  const v = root.querySelector<HTMLElement>(".verify[data-proof]");
  if (v) void runVerify(v);
  if (standalone) {
    document.addEventListener("keydown", (ev) => {
      const back = document.querySelector<HTMLAnchorElement>("a.back");
      if (ev.key === "Escape" && back && !ev.defaultPrevented) window.location.assign(back.href);
    });
  }
}

function initCopy(root: ParentNode): void {
  const btn = root.querySelector<HTMLButtonElement>("button.copy");
  const pre = root.querySelector<HTMLElement>("pre.raw");
  if (!btn || !pre) return;
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(pre.textContent ?? "");
      btn.textContent = "Copied";
      announce("Raw JSON copied to the clipboard");
    } catch {
      // No clipboard permission: select the text so that Ctrl+C copies it.
      const range = document.createRange();
      range.selectNodeContents(pre);
      const sel = window.getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
      btn.textContent = "Selected: press Ctrl+C";
      announce("The clipboard is not available; the raw JSON is selected");
    }
    window.setTimeout(() => (btn.textContent = "Copy JSON"), 2500);
  });
}

type BadgeState = "verified" | "not-verified" | "pending" | "checking";

const badgeText: Record<BadgeState, string> = {
  verified: "Verified",
  "not-verified": "Not verified",
  pending: "Not yet checkpointed",
  checking: "Checking\u2026",
};

function show(v: HTMLElement, state: BadgeState, lines: { ok?: boolean; text: string }[]): void {
  const badge = v.querySelector<HTMLElement>(".badge");
  const list = v.querySelector<HTMLElement>(".checks");
  if (!badge || !list) return;
  badge.textContent = badgeText[state];
  badge.dataset.state = state;
  list.replaceChildren(
    ...lines.map((l) => {
      const li = document.createElement("li");
      li.textContent = (l.ok === undefined ? "" : l.ok ? "\u2713 " : "\u2717 ") + l.text;
      if (l.ok === false) li.className = "failed";
      return li;
    }),
  );
}

async function runVerify(v: HTMLElement): Promise<void> {
  const key = v.dataset.key ?? "";
  const retry = v.querySelector<HTMLButtonElement>("button.recheck");
  if (retry) {
    retry.onclick = () => void runVerify(v);
  }
  if (!window.isSecureContext || !crypto.subtle) {
    show(v, "not-verified", [{ ok: false, text: "this browser offers WebCrypto only on HTTPS or localhost; verify offline with audittrail verify event" }]);
    return;
  }
  show(v, "checking", [{ text: `fetching the inclusion proof and the signed checkpoint; log key ${key}` }]);
  let resp: Response;
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
    const msg = ((await resp.json().catch(() => ({}))) as { message?: string }).message ?? resp.statusText;
    show(v, "not-verified", [{ ok: false, text: `could not fetch the proof: HTTP ${resp.status} ${msg}` }]);
    return;
  }
  if (retry) retry.hidden = true;
  const out = await verifyEventProof((await resp.json()) as EventProofJSON, key);
  show(v, out.verified ? "verified" : "not-verified", [...out.checks, { text: `log key: ${key}` }]);
  announce(out.verified ? "Event verified" : "Event not verified");
}
