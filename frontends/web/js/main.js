// Lumina's web page: wires the session client, microphone, player and panels together.
// The only contract it relies on is PROTOCOL.md. Test hooks live on `window.lumina`.

import { api, login, sessionProtocols } from "./api.js";
import { SessionClient, sessionUrl } from "./protocol.js";
import { Microphone, MicUnavailable, hasMicrophone } from "./mic.js";
import { Player, LEAD_MS } from "./player.js";
import { VoiceInput } from "./voice.js";
import { $ } from "./ui/dom.js";
import { Transcript } from "./ui/conversation.js";
import { Banners, toast, setConnection, renderHealth, setInternet } from "./ui/status.js";
import { LatencyPanel } from "./ui/latency.js";
import { MemoryPanel } from "./ui/memories.js";
import { AvatarPicker } from "./ui/avatars.js";
import { TimerPanel } from "./ui/timers.js";
import { ConversationDeleter } from "./ui/delete-conversation.js";
import { EgressPanel } from "./ui/egress.js";

const FRAME_MS = 40;
// Error codes meaning the daemon cannot answer now (besides every `*_unavailable`).
const ENGINE_DOWN = new Set(["model_missing", "loading", "loading_failed", "storage_full"]);
const STORE = { conversation: "lumina.conversation_id", avatar: "lumina.avatar_id" };
const NO_MIC = {
  title: "No microphone:",
  text: "allow access or type.",
  action: "Allow the microphone for this page, or type your message below.",
};

const ctx = new AudioContext({ latencyHint: "interactive" });
const banners = new Banners($("banners"));
const transcript = new Transcript($("transcript"));
const latency = new LatencyPanel();
const client = new SessionClient(sessionUrl(), sessionProtocols);

const state = {
  ready: false,
  conversationId: localStorage.getItem(STORE.conversation),
  avatarId: localStorage.getItem(STORE.avatar),
  replyInFlight: false,
  turnIds: new Set(), // turn ids of the reply in flight
  announced: new Set(), // ids of timers that fired: the announcement's audio carries them
  cancelledTurns: new Set(),
  lastActivity: 0,
  turnSentAt: null, // performance.now(): end of the user's speech, or a typed turn sent
  reconnectDelay: 500,
  reconnectTimer: null,
  micReady: false,
  log: {
    partials: [],
    finals: [],
    deltas: 0,
    done: [],
    cancelled: [],
    errors: [],
    chunks: 0,
    timings: [],
    cancels: [],
    vad: [],
    tools: [],
    timers: [],
    announcedChunks: 0,
    droppedAfterCancel: {},
  },
};

const player = new Player(ctx, {
  onStateChange(playing) {
    if (playing && state.turnSentAt !== null) {
      // the first chunk is scheduled LEAD_MS ahead of the audio clock
      latency.setHeard(performance.now() - state.turnSentAt + LEAD_MS);
      state.turnSentAt = null;
    }
    render();
  },
});
const mic = new Microphone(ctx, { frameMs: FRAME_MS, onFrame: (pcm, rms) => voice.onFrame(pcm, rms) });

const avatars = new AvatarPicker({
  onChange(avatar) {
    state.avatarId = avatar.id;
    localStorage.setItem(STORE.avatar, avatar.id);
    newConversation();
  },
  onEdited(avatar) {
    if (avatar.id !== avatars.current) return;
    transcript.assistantName = avatar.name;
    $("empty-avatar-name").textContent = avatar.name;
    // persona, style and voice apply from the next session on: reconnect to the same conversation
    connect();
  },
});
const timers = new TimerPanel();
const memories = new MemoryPanel({
  onForgotten() {
    localStorage.removeItem(STORE.conversation);
    state.conversationId = null;
    transcript.clear();
    latency.setLast(null);
    refreshLatency();
    connect();
  },
});
new ConversationDeleter({
  current: () => state.conversationId,
  onDeleted() {
    newConversation();
    memories.refresh(); // memories made from it stay, their source is now said to be gone
  },
});
new EgressPanel();

// ------------------------------------------------------------------ session
function connect() {
  clearTimeout(state.reconnectTimer);
  state.ready = false;
  setConnection("connecting", "Connecting…");
  const hello = { sample_rate: Math.round(ctx.sampleRate), tts: true };
  if (state.conversationId) hello.conversation_id = state.conversationId;
  if (state.avatarId) hello.avatar_id = state.avatarId;
  client.connect(hello);
}

function scheduleReconnect() {
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = setTimeout(connect, state.reconnectDelay);
  state.reconnectDelay = Math.min(state.reconnectDelay * 2, 10000);
}

function newConversation() {
  localStorage.removeItem(STORE.conversation);
  state.conversationId = null;
  interrupt("user");
  transcript.clear();
  connect();
}

client.on("message", () => {
  state.lastActivity = performance.now();
});

client.on("ready", (msg) => {
  state.ready = true;
  state.reconnectDelay = 500;
  state.conversationId = msg.conversation_id;
  localStorage.setItem(STORE.conversation, msg.conversation_id);
  banners.clear("auth");
  banners.clear("offline");
  setConnection("connected", "Connected");
  transcript.assistantName = (msg.avatar && msg.avatar.name) || "Lumina";
  $("empty-avatar-name").textContent = transcript.assistantName;
  transcript.replay(msg.history);
  avatars.setCurrent(msg.avatar);
  timers.refresh(); // timers may have fired or been set elsewhere while this page was away
  if (msg.health) renderHealth(msg.health, banners);
  setInternet(Boolean(msg.internet));
  render();
});

client.on("vad", (msg) => {
  state.log.vad.push(msg.state);
});

client.on("partial_transcript", (msg) => {
  state.log.partials.push(msg.text);
  if (msg.text) transcript.partial(msg.turn_id, msg.text);
});

client.on("final_transcript", (msg) => {
  state.log.finals.push(msg.text);
  if (!msg.text) {
    // nothing was heard: no reply will come
    transcript.dropPartial(msg.turn_id);
    state.replyInFlight = false;
    render();
    return;
  }
  transcript.final(msg.turn_id, msg.text);
  state.replyInFlight = true;
  state.turnIds.add(msg.turn_id);
  render();
});

client.on("assistant_delta", (msg) => {
  if (state.cancelledTurns.has(msg.turn_id)) return;
  state.log.deltas += 1;
  state.turnIds.add(msg.turn_id);
  transcript.delta(msg.turn_id, msg.text);
});

client.on("audio", ({ header, pcm }) => {
  if (state.announced.has(header.turn_id)) {
    // the daemon says a timer went off: played, but no reply of a turn
    state.log.announcedChunks += 1;
    player.enqueue(header.turn_id, pcm, header.sample_rate);
    render();
    return;
  }
  if (state.cancelledTurns.has(header.turn_id)) {
    const late = state.log.droppedAfterCancel;
    late[header.turn_id] = (late[header.turn_id] || 0) + 1;
    return;
  }
  state.log.chunks += 1;
  state.turnIds.add(header.turn_id);
  player.enqueue(header.turn_id, pcm, header.sample_rate);
  render();
});

client.on("assistant_done", (msg) => {
  if (state.cancelledTurns.has(msg.turn_id)) return;
  state.log.done.push(msg.text);
  transcript.done(msg.turn_id, msg.text, msg.sources);
  state.replyInFlight = false;
  state.turnIds.clear();
  player.drain();
  render();
});

client.on("turn_timing", (msg) => {
  state.log.timings.push(msg);
  latency.setLast(msg);
  // the daemon stores the turn's timings right after sending them: read p50/p95 a bit later
  setTimeout(refreshLatency, 600);
  setTimeout(refreshLatency, 3000);
});

client.on("cancelled", (msg) => {
  state.log.cancelled.push(msg);
  state.cancelledTurns.add(msg.turn_id);
  if (player.turnId === msg.turn_id) player.stop();
  transcript.interrupted(msg.turn_id, msg.heard_text);
  state.replyInFlight = false;
  state.turnIds.clear();
  render();
});

client.on("timer", (msg) => {
  state.log.timers.push(msg);
  if (msg.state === "fired") state.announced.add(msg.timer_id); // its tts_chunks carry this id
  timers.update(msg);
});

client.on("tool_call", (msg) => {
  state.log.tools.push(msg);
  transcript.toolCall(msg.turn_id, msg.name, msg.arguments, msg.result);
});

client.on("memory_written", (msg) => {
  toast(`Remembered: ${msg.text}`);
  memories.refresh();
});

client.on("error", (msg) => {
  state.log.errors.push(msg);
  if (msg.code === "conversation_not_found" && !state.ready) {
    localStorage.removeItem(STORE.conversation);
    state.conversationId = null;
    connect();
    return;
  }
  if (msg.code === "avatar_not_found" && !state.ready) {
    localStorage.removeItem(STORE.avatar);
    state.avatarId = null;
    connect();
    return;
  }
  if (msg.code === "internet_disabled") setInternet(false);
  if (msg.turn_id) transcript.failed(msg.turn_id);
  if (msg.turn_id || msg.code.endsWith("_unavailable") || ENGINE_DOWN.has(msg.code)) {
    state.replyInFlight = false;
    state.turnIds.clear();
  }
  toast(msg.action ? `${msg.message} — ${msg.action}` : msg.message, { level: "error", timeout: 8000 });
  render();
});

client.on("close", async ({ code }) => {
  state.ready = false;
  player.stop();
  state.replyInFlight = false;
  render();
  if (code === 4401 || code === 4403 || code === 1008) {
    showSignIn();
    return;
  }
  setConnection("reconnecting", "Reconnecting…");
  // A refused handshake looks like 1006 to a page: ask HTTP whether we are signed in.
  try {
    await api.health();
  } catch (err) {
    if (err.status === 401 || err.status === 403) {
      showSignIn();
      return;
    }
    if (err.status === 0) {
      setConnection("offline", "Offline");
      banners.set("offline", {
        level: "error",
        title: "Lumina is not running.",
        text: "Start it with luminad serve; this page reconnects by itself.",
      });
    }
  }
  scheduleReconnect();
});

function showSignIn() {
  setConnection("offline", "Signed out");
  banners.set("auth", {
    level: "error",
    title: "Not signed in.",
    text: "Run `lumina open` and open the link it prints (each link logs in once).",
  });
}

// ------------------------------------------------------------------ voice
const voice = new VoiceInput({
  frameMs: FRAME_MS,
  openMic: ensureMic,
  send: (pcm) => client.sendAudio(pcm),
  end(speechEndedAt) {
    if (client.send({ type: "end" })) {
      state.replyInFlight = true;
      state.lastActivity = performance.now();
      state.turnSentAt = speechEndedAt;
    }
  },
  bargeIn: () => interrupt("barge_in"),
  isPlaying: () => player.active,
  onChange: () => render(),
  onLevel: (level) => $("talk").style.setProperty("--level", level.toFixed(2)),
});

/** Barge-in / stop: silence playback at once and cancel the turn in flight. */
function interrupt(reason) {
  const playing = player.active;
  if (!playing && !state.replyInFlight) return false;
  player.stop();
  for (const id of state.turnIds) state.cancelledTurns.add(id);
  if (player.turnId) state.cancelledTurns.add(player.turnId);
  for (const id of state.turnIds) transcript.interrupted(id);
  state.turnIds.clear();
  state.replyInFlight = false;
  state.turnSentAt = null;
  state.log.cancels.push(reason);
  client.send({ type: "cancel", reason });
  render();
  return true;
}

async function ensureMic() {
  resumeAudio();
  if (mic.active) return true;
  try {
    await mic.start();
    state.micReady = true;
    banners.clear("mic");
    $("talk").classList.remove("unavailable");
    return true;
  } catch (err) {
    state.micReady = false;
    const denied = err instanceof MicUnavailable && err.kind === "denied";
    banners.set("mic", {
      level: "warning",
      ...NO_MIC,
      action: denied ? NO_MIC.action : `${err.message}. You can type instead.`,
    });
    $("talk").classList.add("unavailable");
    return false;
  }
}

function resumeAudio() {
  if (ctx.state === "suspended") ctx.resume().catch(() => {});
}

// ------------------------------------------------------------------ text, panels
function sendText(text) {
  text = text.trim();
  if (!text) return false;
  resumeAudio();
  if (!state.ready) {
    toast("Not connected yet", { level: "error" });
    return false;
  }
  interrupt("user");
  if (!client.send({ type: "text", text })) return false;
  transcript.typed(text);
  state.replyInFlight = true;
  state.lastActivity = state.turnSentAt = performance.now();
  render();
  return true;
}

async function refreshHealth() {
  try {
    const health = await api.health();
    renderHealth(health, banners);
    return health;
  } catch (err) {
    if (err.status === 401 || err.status === 403) showSignIn();
    return null;
  }
}

async function refreshLatency() {
  try {
    latency.setMetrics(await api.latency());
  } catch {
    /* panel keeps the last numbers */
  }
}

// ------------------------------------------------------------------ rendering
function currentState() {
  if (!state.ready) return "offline";
  if (voice.capturing) return "listening";
  if (player.playing) return "speaking";
  if (state.replyInFlight || player.active) return "thinking";
  return "idle";
}

const STATE_LABEL = {
  offline: "Offline",
  idle: "Ready",
  listening: "Listening…",
  thinking: "Thinking…",
  speaking: "Speaking…",
};

function render() {
  const s = currentState();
  const pill = $("state-pill");
  pill.dataset.state = s;
  pill.textContent = STATE_LABEL[s];
  document.body.dataset.state = s;
  document.body.dataset.mode = voice.mode;
  $("stop").disabled = !(player.active || state.replyInFlight);
  $("talk").classList.toggle("active", voice.capturing !== null);
  $("talk").setAttribute("aria-pressed", String(voice.capturing !== null));
  $("mode-ptt").setAttribute("aria-checked", String(voice.mode === "ptt"));
  $("mode-handsfree").setAttribute("aria-checked", String(voice.mode === "handsfree"));
  let hint;
  if (s === "speaking") hint = "Speak, or press Stop (Esc), to interrupt";
  else if (s === "listening")
    hint = voice.capturing === "ptt" ? "Release to send" : "Listening — pause to send";
  else if (voice.mode === "handsfree") hint = "Hands-free: just start talking";
  else hint = "Hold Space or the button to talk";
  $("voice-hint").textContent = hint;
}

// ------------------------------------------------------------------ events
const talk = $("talk");
talk.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  talk.setPointerCapture(event.pointerId);
  resumeAudio();
  voice.pttDown();
});
for (const type of ["pointerup", "pointercancel", "lostpointercapture"])
  talk.addEventListener(type, () => voice.pttUp());
talk.addEventListener("keydown", (event) => {
  if (event.key === "Enter") event.preventDefault();
});

function typingTarget(target) {
  return (
    target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))
  );
}
const dialogOpen = () => document.querySelector("dialog[open]") !== null;
window.addEventListener("keydown", (event) => {
  resumeAudio();
  if (event.key === "Escape" && !dialogOpen()) {
    interrupt("user");
    return;
  }
  if (event.code !== "Space" || typingTarget(event.target) || dialogOpen()) return;
  event.preventDefault();
  if (!event.repeat) voice.pttDown();
});
window.addEventListener("keyup", (event) => {
  if (event.code !== "Space" || typingTarget(event.target) || dialogOpen()) return;
  event.preventDefault();
  voice.pttUp();
});
window.addEventListener("pointerdown", resumeAudio, { capture: true });
window.addEventListener("blur", () => voice.pttUp());

$("stop").addEventListener("click", () => interrupt("user"));
$("mode-ptt").addEventListener("click", () => voice.setMode("ptt"));
$("mode-handsfree").addEventListener("click", () => voice.setMode("handsfree"));
$("new-conversation").addEventListener("click", newConversation);
$("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $("text-input");
  if (sendText(input.value)) input.value = "";
});
$("internet-toggle").addEventListener("change", (event) => {
  const on = event.target.checked;
  if (!client.send({ type: "config", internet: on })) {
    setInternet(!on);
    return;
  }
  setInternet(on);
  toast(on ? "Internet mode on: web search may be used" : "Internet mode off", {
    level: on ? "warning" : "info",
  });
});
$("internet-off").addEventListener("click", () => {
  client.send({ type: "config", internet: false });
  setInternet(false);
});

setInterval(() => {
  if (client.isOpen) client.send({ type: "ping" });
}, 20000);
setInterval(() => {
  // a turn that never got an answer (e.g. nothing was heard) must not leave the page "thinking"
  if (state.replyInFlight && !player.active && performance.now() - state.lastActivity > 20000) {
    state.replyInFlight = false;
    render();
  }
}, 1000);

// ------------------------------------------------------------------ test hooks
window.lumina = {
  get state() {
    return currentState();
  },
  get ready() {
    return state.ready;
  },
  get playedSamples() {
    return player.playedSamples;
  },
  get playing() {
    return player.playing;
  },
  get sampleRate() {
    return ctx.sampleRate;
  },
  get audioState() {
    return ctx.state;
  },
  get conversationId() {
    return state.conversationId;
  },
  get mode() {
    return voice.mode;
  },
  get micReady() {
    return state.micReady;
  },
  get stats() {
    return client.stats;
  },
  get log() {
    return state.log;
  },
  get heardMs() {
    return latency.heardMs;
  },
  get stops() {
    return player.stops;
  },
  interrupt,
  sendText,
  refreshHealth,
  setMode: (mode) => voice.setMode(mode),
  newConversation,
};

// ------------------------------------------------------------------ start
async function start() {
  render();
  latency.render();
  try {
    await login();
  } catch (err) {
    showSignIn();
  }
  connect();
  avatars.load();
  memories.refresh();
  timers.refresh();
  refreshLatency();
  const health = await refreshHealth();
  if (!(await hasMicrophone())) {
    banners.set("mic", NO_MIC);
    $("talk").classList.add("unavailable");
  }
  const poll = () =>
    setTimeout(async () => {
      const h = await refreshHealth();
      poll.delay = h && h.status === "loading" ? 3000 : 30000;
      poll();
    }, poll.delay);
  poll.delay = health && health.status === "loading" ? 3000 : 30000;
  poll();
}

start();
