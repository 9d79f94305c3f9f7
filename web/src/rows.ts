// Result rows rendered in the browser for events that arrive by live tail,
// with the same cell text as the server's template (viewer.fieldValue).

const codeNames = [
  "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
  "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
  "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
];

const jsonNames: Record<string, string> = {
  event_time: "eventTime", receive_time: "receiveTime", login_principal: "loginPrincipal",
  event_source: "eventSource", source_ip_address: "sourceIpAddress", read_only: "readOnly", user_agent: "userAgent",
};

/** Go's RFC3339Nano drops trailing zeros of the fraction; protobuf JSON keeps 3, 6 or 9 digits. */
function goTime(ts: string): string {
  return ts.replace(/\.(\d*?)0+Z$/, (_, d: string) => (d ? `.${d}Z` : "Z"));
}

export function cellText(e: Record<string, unknown>, col: string): string {
  const v = e[jsonNames[col] ?? col];
  switch (col) {
    case "event_time":
    case "receive_time":
      return typeof v === "string" ? goTime(v) : "";
    case "status": {
      const st = (v ?? {}) as { code?: number; message?: string };
      const code = st.code ?? 0;
      const name = codeNames[code] ?? `Code(${code})`;
      return st.message ? `${name}: ${st.message}` : name;
    }
    case "read_only":
      return v === true ? "true" : "false";
  }
  return typeof v === "string" ? v : "";
}

function short(s: string, n: number): string {
  const r = Array.from(s);
  return r.length > n ? r.slice(0, n).join("") + "\u2026" : s;
}

/** A table row for e with the table's columns, like the template's. */
export function eventRow(e: Record<string, unknown>, columns: string[], back: string): HTMLTableRowElement {
  const tr = document.createElement("tr");
  for (const c of columns) {
    const td = document.createElement("td");
    td.dataset.col = c;
    td.textContent = short(cellText(e, c), 120);
    tr.append(td);
  }
  const td = document.createElement("td");
  const a = document.createElement("a");
  a.href = `/ui/${String(e.name)}?back=${encodeURIComponent(back)}`;
  a.textContent = "details";
  td.append(a);
  tr.append(td);
  return tr;
}

/** Keeps the caption's count equal to the rows shown. */
export function updateCount(table: HTMLTableElement): number {
  const total = table.tBodies[0].rows.length;
  const count = table.querySelector(".count");
  if (count) count.textContent = String(total);
  return total;
}
