// Live tail on the search page: streams new events matching the current
// filters from /ui/tail (server-sent events) into the top of the table.
// It never dies silently: a dropped or silent connection shows as
// disconnected and reconnects with backoff, resuming after the last event
// received, so nothing is missed.

import { announce } from "./announce";
import { eventRow, updateCount } from "./rows";

/** No message, not even a ping (every 15 s), for this long means the connection is dead. */
const silenceLimit = 40_000;

export function initTail(root: HTMLElement, table: HTMLTableElement): void {
  const toggle = root.querySelector<HTMLButtonElement>(".tail-toggle")!;
  const state = root.querySelector<HTMLElement>(".tail-state")!;
  const newBtn = root.querySelector<HTMLButtonElement>(".tail-new")!;
  const tbody = table.tBodies[0];
  const columns = Array.from(table.querySelectorAll<HTMLElement>("thead th[data-col]"), (th) => th.dataset.col ?? "");
  const back = window.location.pathname + window.location.search;
  root.hidden = false;

  let es: EventSource | null = null;
  let on = false;
  let from = "";
  let delay = 1000;
  let retryTimer = 0;
  let watchdog = 0;
  const held: HTMLTableRowElement[] = [];

  const setState = (s: string, text: string) => {
    root.dataset.state = s;
    state.textContent = text;
  };
  // The user has scrolled away when the newest rows are above the viewport:
  // new rows then wait, so that what is being read does not move.
  const paused = () => tbody.getBoundingClientRect().top < 0;

  const flush = () => {
    if (held.length === 0) return;
    tbody.prepend(...held.reverse());
    held.length = 0;
    updateCount(table);
    newBtn.hidden = true;
  };

  const add = (e: Record<string, unknown>) => {
    const row = eventRow(e, columns, back);
    row.className = "new";
    if (paused()) {
      held.push(row);
      newBtn.hidden = false;
      newBtn.textContent = `${held.length} new \u2191`;
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

  const lost = (why: string) => {
    es?.close();
    es = null;
    window.clearTimeout(watchdog);
    if (!on) return;
    const secs = Math.round(delay / 1000);
    setState("disconnected", `Disconnected (${why}): reconnecting in ${secs} s`);
    retryTimer = window.setTimeout(connect, delay);
    delay = Math.min(delay * 2, 30_000);
  };

  const connect = () => {
    const url = (root.dataset.src ?? "") + (from ? `&from=${encodeURIComponent(from)}` : "");
    setState("connecting", "Connecting\u2026");
    es = new EventSource(url);
    es.onopen = () => {
      delay = 1000;
      setState("live", "Live: new matching events appear at the top");
      kick();
    };
    es.addEventListener("event", (m: MessageEvent<string>) => {
      from = m.lastEventId;
      kick();
      add(JSON.parse(m.data) as Record<string, unknown>);
    });
    es.addEventListener("ping", kick);
    es.addEventListener("stopped", (m: MessageEvent<string>) => lost(m.data || "the server ended the stream"));
    // The browser's own reconnection cannot resume with a position we
    // choose after a refused request, so every loss is handled here.
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
    delay = 1000;
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
