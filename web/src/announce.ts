// One polite live region per page (#announcer in the layout), so that
// screen readers hear what changed without the focus moving.

export function announce(text: string): void {
  const el = document.getElementById("announcer");
  if (!el) return;
  // Clearing first makes a repeated message be read again.
  el.textContent = "";
  window.setTimeout(() => (el.textContent = text), 50);
}
