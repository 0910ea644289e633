// The cloudtty terminal page: xterm.js bound to the server's WebSocket (see protocol.py).
import { Terminal } from "../vendor/xterm.mjs";
import { FitAddon } from "../vendor/addon-fit.mjs";
import { WebLinksAddon } from "../vendor/addon-web-links.mjs";

const config = JSON.parse(document.getElementById("cloudtty-config").textContent);
const PAGE_OPTIONS = ["titleFixed", "copyOnSelect", "disableLeaveAlert"];
const xtermOptions = { cursorBlink: true, fontSize: 14, scrollback: 5000 };
for (const [key, value] of Object.entries(config.clientOptions || {})) {
  if (!PAGE_OPTIONS.includes(key)) xtermOptions[key] = value;
}
xtermOptions.disableStdin = Boolean(config.readOnly);

const term = new Terminal(xtermOptions);
const fit = new FitAddon();
term.loadAddon(fit);
term.loadAddon(new WebLinksAddon());
term.open(document.getElementById("terminal"));
fit.fit();
term.focus();

const encoder = new TextEncoder();
const $ = (id) => document.getElementById(id);
const state = { connected: false, ended: false, exitReason: null, session: null, connects: 0, socket: null };
window.term = term;
// The whole buffer as text, one line per row: for people debugging and for browser tests.
function bufferText() {
  const buffer = term.buffer.active;
  const lines = [];
  for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
  return lines.join("\n");
}
window.webterm = { term, state, fit, text: bufferText };

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // works on plain http too, unlike crypto.randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// The reconnect id lives in sessionStorage: a network blip or a reload resumes the same shell,
// another tab gets its own.
const storageKey = "cloudtty-session:" + location.pathname;
function sessionId(fresh) {
  let id = fresh ? null : sessionStorage.getItem(storageKey);
  if (!id) {
    id = randomId();
    sessionStorage.setItem(storageKey, id);
  }
  return id;
}

function setConnection(text, cls) {
  const badge = $("connection");
  badge.textContent = text;
  badge.className = "badge " + (cls || "");
}

function showMessage(text) {
  $("message").textContent = text;
}

function send(data) {
  const ws = state.socket;
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(data);
}

function sendResize() {
  send(JSON.stringify({ type: "resize", cols: term.cols, rows: term.rows }));
}

let retryDelay = 500;
function connect(fresh) {
  const url = new URL("ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.search = new URLSearchParams({ session: sessionId(fresh), cols: term.cols, rows: term.rows });
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  state.socket = ws;
  ws.onopen = () => {
    state.connected = true;
    state.connects += 1;
    retryDelay = 500;
    setConnection("connected", "connected");
    sendResize();
  };
  ws.onmessage = (event) => {
    if (typeof event.data === "string") {
      control(JSON.parse(event.data));
    } else {
      term.write(new Uint8Array(event.data));
    }
  };
  ws.onclose = () => {
    state.connected = false;
    if (state.socket !== ws || state.ended) return;
    setConnection("reconnecting…", "lost");
    setTimeout(() => { if (!state.ended) connect(false); }, retryDelay);
    retryDelay = Math.min(retryDelay * 2, 10000);
  };
}

function control(msg) {
  if (msg.type === "hello") {
    state.session = msg.session;
    // A resumed session replays its scrollback next: start from a clean screen.
    if (msg.resumed) term.reset();
    if (msg.expiresAt) startCountdown(msg.expiresAt);
  } else if (msg.type === "exit") {
    state.ended = true;
    state.exitReason = msg.reason;
    setConnection("ended", "ended");
    const code = msg.code === null || msg.code === undefined ? "" : ` (exit status ${msg.code})`;
    $("overlay-text").textContent = msg.message + code;
    $("restart-button").hidden = msg.reason !== "exit";
    $("overlay").hidden = false;
  } else if (msg.type === "error") {
    showMessage(msg.message);
  }
}

$("restart-button").addEventListener("click", () => {
  state.ended = false;
  state.exitReason = null;
  $("overlay").hidden = true;
  term.reset();
  connect(true);
  term.focus();
});

term.onData((data) => {
  if (!config.readOnly) send(encoder.encode(data));
});
term.onBinary((data) => {
  if (!config.readOnly) send(Uint8Array.from(data, (c) => c.charCodeAt(0) & 0xff));
});
term.onResize(() => sendResize());
term.onTitleChange((title) => {
  if (!config.clientOptions.titleFixed) document.title = title;
});
window.addEventListener("resize", () => fit.fit());

// Copy and paste: the selection and the clipboard, also with Ctrl+Shift+C / Ctrl+Shift+V.
term.attachCustomKeyEventHandler((event) => {
  if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
  if (event.code === "KeyC" && term.hasSelection()) {
    navigator.clipboard?.writeText(term.getSelection());
    return false;
  }
  // Ctrl+Shift+V is the browser's own paste: it reaches xterm as a paste event, not as ^V.
  if (event.code === "KeyV") return false;
  return true;
});
if (config.clientOptions.copyOnSelect) {
  term.onSelectionChange(() => {
    if (term.hasSelection()) navigator.clipboard?.writeText(term.getSelection());
  });
}

// The TTL banner counts down to expiresAt.
let countdown = null;
function startCountdown(expiresAt) {
  const deadline = Date.parse(expiresAt);
  if (Number.isNaN(deadline) || countdown) return;
  const banner = $("banner");
  banner.hidden = false;
  const tick = () => {
    const left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
    const h = Math.floor(left / 3600);
    const m = Math.floor((left % 3600) / 60);
    const s = left % 60;
    const clock = (h ? h + ":" : "") + String(m).padStart(h ? 2 : 1, "0") + ":" + String(s).padStart(2, "0");
    banner.textContent = left > 0 ? `This shell expires in ${clock}` : "This shell has expired";
    banner.classList.toggle("warning", left < 300);
  };
  tick();
  countdown = setInterval(tick, 1000);
}
if (config.expiresAt) startCountdown(config.expiresAt);

// Upload (button or drag and drop) into the working directory, download from it.
async function upload(fileList) {
  if (!fileList.length) return;
  const form = new FormData();
  for (const file of fileList) form.append("file", file, file.name);
  showMessage("uploading…");
  try {
    const response = await fetch("upload", { method: "POST", body: form, credentials: "same-origin" });
    const text = await response.text();
    showMessage(response.ok ? "uploaded " + JSON.parse(text).stored.join(", ") : "upload failed: " + text.trim());
  } catch (error) {
    showMessage("upload failed: " + error);
  }
}
if (config.fileTransfer) {
  $("transfer").hidden = false;
  $("upload-button").addEventListener("click", () => $("upload-input").click());
  $("upload-input").addEventListener("change", (event) => {
    upload(event.target.files);
    event.target.value = "";
  });
  const area = $("terminal");
  area.addEventListener("dragover", (event) => { event.preventDefault(); area.classList.add("dragging"); });
  area.addEventListener("dragleave", () => area.classList.remove("dragging"));
  area.addEventListener("drop", (event) => {
    event.preventDefault();
    area.classList.remove("dragging");
    upload(event.dataTransfer.files);
  });
  const download = () => {
    const path = $("download-path").value.trim();
    if (!path) return;
    const link = document.createElement("a");
    link.href = "download?" + new URLSearchParams({ path });
    link.download = path.split("/").pop();
    document.body.appendChild(link);
    link.click();
    link.remove();
  };
  $("download-button").addEventListener("click", download);
  $("download-path").addEventListener("keydown", (event) => { if (event.key === "Enter") download(); });
}

connect(false);
