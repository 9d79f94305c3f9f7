// Verification of one event in the browser, as `audittrail verify event`
// does it (docs/INTEGRITY.md §6): nothing the server says is trusted but
// the log's public key the page was served with, which the viewer shows so
// that an auditor can compare it with the key the operator published.

/** The JSON of LogService.GetEventProof (protobuf's JSON mapping). */
export interface EventProofJSON {
  event: Record<string, unknown>;
  storedEvent: string;
  salt: string;
  seq: string | number;
  leaf: string;
  inclusion: { seq?: string | number; treeSize: string | number; leafHash: string; hashes?: string[] };
  checkpoint: { origin: string; treeSize: string | number; rootHash: string; signedNote: string; verifierKey: string };
}

/** One thing that was checked, and whether it held. */
export interface Check {
  ok: boolean;
  text: string;
}

/** The outcome: verified only when every check held. */
export interface Outcome {
  verified: boolean;
  checks: Check[];
}

const enc = new TextEncoder();

export function b64(s: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw new Error(`the proof holds a value that is not base64: ${s.slice(0, 16)}`);
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", concat(...parts)));
}

function u64(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n));
  return b;
}

/** A signed-note verifier key: name+hash+base64(0x01 ‖ Ed25519 key). */
interface VerifierKey {
  name: string;
  hash: Uint8Array;
  key: Uint8Array;
}

async function parseKey(vkey: string): Promise<VerifierKey> {
  // name+hash+key: the name and the hash hold no "+", the base64 key may.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(vkey);
  if (!m) throw new Error("the log key is not a signed-note verifier key");
  const raw = b64(m[3]);
  if (raw.length !== 33 || raw[0] !== 1) throw new Error("the log key is not an Ed25519 key");
  const hash = (await sha256(enc.encode(m[1] + "\n"), raw)).slice(0, 4);
  if (hex(hash) !== m[2]) throw new Error("the log key's hash does not match the key");
  return { name: m[1], hash, key: raw.slice(1) };
}

/** Checks the note's Ed25519 signature by key and returns the signed text. */
async function openNote(note: string, k: VerifierKey): Promise<string> {
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

/** The stored event bytes, decoded (docs/INTEGRITY.md §1). */
export interface Stored {
  receiveNs: bigint;
  eventNs: bigint;
  id: Uint8Array;
  readOnly: boolean;
  type: number;
  code: number;
  strings: string[]; // status message, source, action, principal, ip, resource, workspace, user agent
  metadata: Map<string, string>;
  requestParameters: Map<string, string>;
}

export function decodeStored(b: Uint8Array): Stored {
  if (b.length < 35 || b[0] !== 1) throw new Error("the stored event bytes are not encoding v1");
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 35;
  const dec = new TextDecoder("utf-8", { fatal: true });
  const uvarint = (): number => {
    let v = 0;
    for (let shift = 0, i = 0; i < 8; i++, shift += 7) {
      if (o >= b.length) throw new Error("the stored event bytes end inside a number");
      const x = b[o++];
      v += (x & 0x7f) * 2 ** shift;
      if (x < 0x80) {
        if (x === 0 && i > 0) throw new Error("the stored event bytes have a non-minimal number");
        return v;
      }
    }
    throw new Error("the stored event bytes have a number too large");
  };
  const str = (): string => {
    const n = uvarint();
    if (o + n > b.length) throw new Error("the stored event bytes end inside a string");
    const s = dec.decode(b.subarray(o, o + n));
    o += n;
    return s;
  };
  const map = (): Map<string, string> => {
    const m = new Map<string, string>();
    for (let n = uvarint(); n > 0; n--) {
      const k = str();
      m.set(k, str());
    }
    return m;
  };
  const s: Stored = {
    receiveNs: dv.getBigInt64(1),
    eventNs: dv.getBigInt64(9),
    id: b.slice(17, 33),
    readOnly: (b[33] & 1) === 1,
    type: b[34],
    code: uvarint(),
    strings: Array.from({ length: 8 }, str),
    metadata: map(),
    requestParameters: map(),
  };
  if (o !== b.length) throw new Error("the stored event bytes have trailing bytes");
  return s;
}

/** Unix nanoseconds of a protobuf JSON timestamp. */
export function timestampNs(ts: string): bigint {
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(ts);
  if (!m) return -1n;
  const secs = BigInt(Date.parse(m[1] + "Z") / 1000);
  return secs * 1000000000n + BigInt((m[2] ?? "").padEnd(9, "0"));
}

const typeNames: Record<number, string> = { 1: "TYPE_API", 2: "TYPE_SYSTEM" };

/** Which fields the page shows that differ from the signed bytes. */
function differences(e: Record<string, unknown>, s: Stored): string[] {
  const str = (k: string) => (typeof e[k] === "string" ? (e[k] as string) : "");
  const status = (e.status ?? {}) as { code?: number; message?: string };
  const diffs: string[] = [];
  const want: [string, unknown, unknown][] = [
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
    ["request_parameters", canon(e.requestParameters), canon(Object.fromEntries(s.requestParameters))],
  ];
  for (const [name, shown, signed] of want) if (shown !== signed) diffs.push(name);
  return diffs;
}

function canon(m: unknown): string {
  const o = (m ?? {}) as Record<string, string>;
  return JSON.stringify(Object.keys(o).sort().map((k) => [k, o[k]]));
}

function uuid(b: Uint8Array): string {
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** RFC 6962 / RFC 9162 §2.1.3.2: the root an inclusion proof leads to. */
export async function rootFromInclusion(index: bigint, size: bigint, leafHash: Uint8Array, path: Uint8Array[]): Promise<Uint8Array> {
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

/**
 * Verifies proof against the pinned log key and the event the page shows.
 * It stops at the first check that fails; the checks list says what held.
 */
export async function verifyEventProof(proof: EventProofJSON, pinnedKey: string): Promise<Outcome> {
  const checks: Check[] = [];
  const pass = (text: string) => checks.push({ ok: true, text });
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
