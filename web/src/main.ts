// The viewer's script: progressive enhancement of the server-rendered
// pages, which work without it. Served as /ui/static/app.js under a CSP
// that allows no inline script.

import { initDetail } from "./detail";
import { initSearch } from "./search";
import { initTail } from "./tail";

function start(): void {
  const table = document.querySelector<HTMLTableElement>("table.results");
  if (table) {
    initSearch(table);
    const tail = document.querySelector<HTMLElement>(".tail[data-src]");
    if (tail) initTail(tail, table);
  }
  if (document.querySelector(".verify[data-proof]")) initDetail(document, true);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
