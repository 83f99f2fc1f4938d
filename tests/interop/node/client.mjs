// A batchd client in JavaScript, written from docs/protocol.md alone (no Python code read):
// the proof that the document is enough to talk to the daemon from another language.
//
//   node client.mjs --control ipc://DIR/control.sock --events ipc://DIR/events.sock \
//                   --cwd /abs/dir --plan /abs/plan.jsonl [--name NAME] [--timeout SECONDS]
//
// It shakes hands (hello), pings, streams the plan (submit_begin, submit_chunk, submit_end,
// then upload_status until a final state), subscribes to the batch's events, polls
// `progress` until the batch ended, and waits for a batch.progress event that says so.
// stdout gets exactly one JSON line: the summary, or {"ok": false, "error": ...} (exit 1).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { decode, encode } from "@msgpack/msgpack";
import * as zmq from "zeromq";

const PROTOCOL = 1; // section 7: one integer version, checked by hello
const FINAL_UPLOAD_STATES = new Set(["accepted", "invalid", "checked"]); // section 4.8
const ENDED_BATCH_STATES = new Set([ // section 4.9, the "ended" column
  "completed", "failed", "cancelled", "rolled_back", "partially_rolled_back",
]);

class DaemonError extends Error {
  constructor(command, error) {
    super(`${command}: ${error.code}: ${error.message}`);
    this.code = error.code;
    this.details = error.details;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const text = (bin) => (bin == null ? null : Buffer.from(bin).toString("utf8"));

// Section 2: a DEALER sends [b"", body] and reads [b"", body]; replies carry the request id.
class ControlConnection {
  constructor(endpoint, timeoutMs) {
    this.socket = new zmq.Dealer({ linger: 0, receiveTimeout: timeoutMs, sendTimeout: timeoutMs });
    this.socket.connect(endpoint);
    this.nextId = 1;
  }

  async request(cmd, args = {}) {
    const id = this.nextId++;
    await this.socket.send([Buffer.alloc(0), encode({ v: PROTOCOL, id, cmd, args })]);
    for (;;) {
      const frames = await this.socket.receive();
      if (frames.length !== 2 || frames[0].length !== 0) {
        throw new Error(`${cmd}: expected [b"", body], got ${frames.length} frames`);
      }
      const reply = decode(frames[1]);
      if (reply.v !== PROTOCOL) {
        throw new Error(`${cmd}: the daemon speaks protocol ${reply.v}, this client ${PROTOCOL}`);
      }
      if (reply.id !== id && reply.id !== null) continue; // a late reply to an earlier request
      if (!reply.ok) throw new DaemonError(cmd, reply.error);
      if (reply.id !== id) throw new Error(`${cmd}: a successful reply without our id`);
      return reply.result;
    }
  }

  close() {
    this.socket.close();
  }
}

// Section 4.4: submit_begin, chunks of at most chunk_bytes, submit_end, poll upload_status.
async function submitPlan(control, plan, cwd, name, deadline) {
  const begin = await control.request("submit_begin", {
    name, cwd: Buffer.from(cwd, "utf8"), dry_run: false, priority: 0,
  });
  let seq = 0;
  for (let start = 0; start < plan.length; start += begin.chunk_bytes) {
    const data = plan.subarray(start, start + begin.chunk_bytes);
    const chunk = await control.request("submit_chunk", { upload: begin.upload, seq, data });
    if (chunk.received !== start + data.length) {
      throw new Error(`submit_chunk ${seq}: the daemon holds ${chunk.received} bytes`);
    }
    seq += 1;
  }
  let status = await control.request("submit_end", { upload: begin.upload });
  let pause = 50;
  let polls = 0;
  while (!FINAL_UPLOAD_STATES.has(status.state)) {
    if (Date.now() > deadline) throw new Error(`upload ${begin.upload} still ${status.state}`);
    await sleep(pause);
    pause = Math.min(pause * 2, 200);
    status = await control.request("upload_status", { upload: begin.upload });
    polls += 1;
  }
  return { begin, status, chunks: seq, polls };
}

// Section 4.9: ended = a final state and finished_at set.
async function waitForEnd(control, batch, deadline) {
  let polls = 0;
  for (;;) {
    const progress = await control.request("progress", { batch });
    polls += 1;
    if (ENDED_BATCH_STATES.has(progress.state) && progress.finished_at !== null) {
      return { progress, polls };
    }
    if (Date.now() > deadline) throw new Error(`batch ${batch} still ${progress.state}`);
    await sleep(50);
  }
}

// Section 6: two frames [topic, body]; the prefix filter also matches batch.70, so compare.
async function readUntilEnded(events, topic, deadline) {
  const seen = { progress_events: 0, items_events: 0, other_topics: 0, seqs: [], last: null };
  while (Date.now() < deadline) {
    let frames;
    try {
      frames = await events.receive();
    } catch (error) {
      if (error.code === "EAGAIN") continue; // receiveTimeout: check the deadline again
      throw error;
    }
    const [frameTopic, body] = frames;
    const event = decode(body);
    if (event.v !== PROTOCOL) throw new Error(`event of protocol ${event.v}`);
    if (frameTopic.toString("utf8") !== topic || event.topic !== topic) {
      seen.other_topics += 1;
      continue;
    }
    seen.seqs.push(event.seq);
    if (event.type === "batch.items") seen.items_events += 1;
    if (event.type === "batch.progress") {
      seen.progress_events += 1;
      seen.last = event.data.progress;
      if (ENDED_BATCH_STATES.has(seen.last.state) && seen.last.finished_at !== null) return seen;
    }
  }
  throw new Error(`no batch.progress event on ${topic} said the batch ended`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      control: { type: "string" },
      events: { type: "string" },
      cwd: { type: "string" },
      plan: { type: "string" },
      name: { type: "string", default: "node-interop" },
      timeout: { type: "string", default: "60" },
    },
  });
  for (const option of ["control", "events", "cwd", "plan"]) {
    if (!values[option]) throw new Error(`--${option} is required`);
  }
  const deadline = Date.now() + Number(values.timeout) * 1000;
  const control = new ControlConnection(values.control, 5000);
  const events = new zmq.Subscriber({ linger: 0, receiveTimeout: 200 });
  try {
    const hello = await control.request("hello", { protocol: PROTOCOL, client: "node-interop 0.1.0" });
    if (hello.protocol !== PROTOCOL) throw new Error(`hello: protocol ${hello.protocol}`);
    const ping = await control.request("ping");
    const plan = readFileSync(values.plan);
    const upload = await submitPlan(control, plan, values.cwd, values.name, deadline);
    const { status } = upload;
    if (status.state !== "accepted") {
      throw new Error(`plan ${status.state}: ${JSON.stringify(status.problems)}`);
    }
    const topic = `batch.${status.batch}`;
    events.connect(values.events);
    events.subscribe(topic); // answered at once with the batch's current progress (6.3)
    const ended = await waitForEnd(control, status.batch, deadline);
    const seen = await readUntilEnded(events, topic, deadline);
    const final = ended.progress;
    const summary = {
      ok: true,
      hello: { protocol: hello.protocol, daemon_version: hello.daemon_version, pid: hello.pid },
      ping: {
        protocol: ping.protocol, pid: ping.pid, daemon_version: ping.daemon_version,
        uptime: ping.uptime, state_dir: ping.state_dir,
      },
      upload: {
        upload: upload.begin.upload, chunk_bytes: upload.begin.chunk_bytes, chunks: upload.chunks,
        state: status.state, batch: status.batch, total: status.total, polls: upload.polls,
        preview: status.preview.map((step) => ({
          line: step.line, op: step.op, path: text(step.path), dest: text(step.dest),
          level: step.level,
        })),
      },
      progress: {
        id: final.id, name: final.name, state: final.state, total: final.total,
        completed: final.completed, failed: final.failed, progress: final.progress,
        eta: final.eta, finished: final.finished_at !== null, polls: ended.polls,
      },
      events: {
        topic, progress_events: seen.progress_events, items_events: seen.items_events,
        other_topics: seen.other_topics, seqs: seen.seqs, last_state: seen.last.state,
        last_completed: seen.last.completed,
      },
    };
    process.stdout.write(JSON.stringify(summary) + "\n");
  } finally {
    events.close();
    control.close();
  }
}

main().catch((error) => {
  const failure = { ok: false, error: String(error.message ?? error), code: error.code ?? null };
  process.stdout.write(JSON.stringify(failure) + "\n");
  process.exitCode = 1;
});
