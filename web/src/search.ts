// The search page: infinite scroll over the server's "Older events" links,
// keyboard navigation of the result rows, and event details in a dialog.

import { announce } from "./announce";
import { initDetail } from "./detail";
import { updateCount } from "./rows";

export function initSearch(table: HTMLTableElement): void {
  initScroll(table);
  initKeys(table);
}

/** Fetches one of the viewer's own pages, as the session, and parses it. */
async function fetchPage(href: string): Promise<[Response, Document]> {
  const resp = await fetch(href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  return [resp, new DOMParser().parseFromString(await resp.text(), "text/html")];
}

/** Loads the next page when its link scrolls into view; the link stays a plain link without script. */
function initScroll(table: HTMLTableElement): void {
  let loading = false;
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) void loadOlder();
  });
  const watch = () => {
    const link = document.querySelector<HTMLAnchorElement>("p.older a[rel=next]");
    if (link) observer.observe(link);
  };
  const loadOlder = async () => {
    const link = document.querySelector<HTMLAnchorElement>("p.older a[rel=next]");
    if (!link || loading) return;
    loading = true;
    observer.unobserve(link);
    const status = link.parentElement!;
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

/** Arrow keys move between rows, Enter opens the focused row's details. */
function initKeys(table: HTMLTableElement): void {
  const tbody = table.tBodies[0];
  const rows = () => Array.from(tbody.rows);
  const focusRow = (r: HTMLTableRowElement | undefined) => {
    if (!r) return;
    for (const x of rows()) x.tabIndex = -1;
    r.tabIndex = 0;
    r.focus();
  };
  if (tbody.rows[0]) tbody.rows[0].tabIndex = 0;
  table.addEventListener("keydown", (ev) => {
    const row = (ev.target as HTMLElement).closest("tr");
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
        if (ev.target !== row) return; // a focused link opens itself
        const a = row.querySelector<HTMLAnchorElement>("a");
        if (a) void openDetail(a.href, row);
        break;
      }
      default:
        return;
    }
    ev.preventDefault();
  });
  table.addEventListener("click", (ev) => {
    const a = (ev.target as HTMLElement).closest("a");
    if (!a || ev.button !== 0 || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.altKey) return;
    ev.preventDefault();
    void openDetail(a.href, a.closest("tr") ?? undefined);
  });
}

/** Shows the detail page's content in a modal dialog; Esc closes it and focus returns to the row. */
async function openDetail(href: string, from?: HTMLElement): Promise<void> {
  let dialog = document.getElementById("detail") as HTMLDialogElement | null;
  if (!dialog) {
    dialog = document.createElement("dialog");
    dialog.id = "detail";
    dialog.setAttribute("aria-label", "Event details");
    document.body.append(dialog);
    dialog.addEventListener("close", () => (dialog as HTMLDialogElement & { from?: HTMLElement }).from?.focus());
  }
  (dialog as HTMLDialogElement & { from?: HTMLElement }).from = from;
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
