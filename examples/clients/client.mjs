// examples/clients/client.mjs — CloudCode from JavaScript (Node 18+, no packages): a
// one-shot run, an interactive session over its WebSocket, and a notebook cell.
//
//   node examples/clients/client.mjs [URL] [API_KEY]
//
// URL defaults to $CLOUDCODE_URL or http://127.0.0.1:8080, the key to $CLOUDCODE_API_KEY
// (none if unset).  Node 20 has fetch but no WebSocket client without a flag, so the
// session's socket is opened by hand: an HTTP upgrade with node:http, then RFC 6455
// frames (masked text out, unmasked in).  A browser or Node 22+ would use `WebSocket`
// (in a browser, pass the key as ?key=, since it cannot set headers).
import http from "node:http";
import crypto from "node:crypto";

const url = process.argv[2] || process.env.CLOUDCODE_URL || "http://127.0.0.1:8080";
const key = process.argv[3] || process.env.CLOUDCODE_API_KEY || "";
const auth = key ? { Authorization: `Bearer ${key}` } : {};

// One JSON call -> [status, body].
async function api(method, path, body) {
  const res = await fetch(url + path, {
    method, headers: { ...auth, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return [res.status, text ? JSON.parse(text) : null];
}

// A session's WebSocket: resolves to { send(message), messages: async iterator }.
function websocket(sid) {
  return new Promise((resolve, reject) => {
    const req = http.request(`${url}/v1/sessions/${sid}/ws`, { headers: { ...auth,
      Connection: "Upgrade", Upgrade: "websocket", "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": crypto.randomBytes(16).toString("base64") } });
    req.on("response", (res) => reject(new Error(`no WebSocket: ${res.statusCode}`)));
    req.on("error", reject);
    req.on("upgrade", (res, socket, head) => resolve(frames(socket, head)));
    req.end();
  });
}

function frames(socket, head) {
  let buf = head, waiting = null, closed = false;
  const queue = [];
  socket.on("data", (d) => { buf = Buffer.concat([buf, d]); parse(); });
  socket.on("close", () => { closed = true; wake(); });
  function wake() { if (waiting) { const w = waiting; waiting = null; w(); } }
  function parse() {  // whole frames out of buf (server frames are never masked)
    for (;;) {
      if (buf.length < 2) return;
      let n = buf[1] & 0x7f, at = 2;
      if (n === 126) { if (buf.length < 4) return; n = buf.readUInt16BE(2); at = 4; }
      else if (n === 127) { if (buf.length < 10) return; n = Number(buf.readBigUInt64BE(2)); at = 10; }
      if (buf.length < at + n) return;
      const opcode = buf[0] & 0x0f, payload = buf.subarray(at, at + n);
      buf = buf.subarray(at + n);
      if (opcode === 0x1) queue.push(JSON.parse(payload.toString("utf8")));
      if (opcode === 0x8) { socket.end(); closed = true; }
      wake();
    }
  }
  parse();  // what came with the upgrade's answer
  return {
    send(message) {  // one masked text frame (clients must mask)
      const data = Buffer.from(JSON.stringify(message)), mask = crypto.randomBytes(4);
      const len = data.length < 126 ? Buffer.from([0x80 | data.length])
        : Buffer.from([0x80 | 126, data.length >> 8, data.length & 0xff]);  // under 64 KiB here
      socket.write(Buffer.concat([Buffer.from([0x81]), len, mask, data.map((b, i) => b ^ mask[i % 4])]));
    },
    async *messages() {
      for (;;) {
        if (queue.length) { yield queue.shift(); continue; }
        if (closed) return;
        await new Promise((r) => { waiting = r; });
      }
    },
  };
}

// A run: the answer comes when the program has ended.
let [status, reply] = await api("POST", "/v1/run", { language: "python", code: "print(sum(range(10)))" });
if (status !== 200) throw new Error(`run failed: ${status} ${JSON.stringify(reply)}`);
console.log(`run: ${reply.status}, stdout ${JSON.stringify(reply.stdout)}, ${reply.time_ms} ms`);

// A session: a program that keeps running while we talk to it over its WebSocket.
const code = "import sys\nfor line in sys.stdin:\n    print('echo:', line.strip().upper())\n";
[status, reply] = await api("POST", "/v1/sessions", { language: "python", code });
if (status !== 201) throw new Error(`create failed: ${status} ${JSON.stringify(reply)}`);
const sid = reply.id;
console.log(`session ${sid}`);
const ws = await websocket(sid);
for (const word of ["hello", "world"]) ws.send({ type: "input", data: word + "\n" });
ws.send({ type: "eof" });  // the loop over stdin ends, and with it the program
for await (const msg of ws.messages()) {
  if (msg.type === "stdout" || msg.type === "stderr") process[msg.type].write(msg.data);  // in pieces
  else if (msg.type === "exit") console.log(`exit: ${msg.state}, exit code ${msg.exit_code}`);
  else if (msg.type === "error") console.log(`error: ${msg.error.message}`);
}
await api("DELETE", `/v1/sessions/${sid}`);

// A notebook: an ipython session runs cells with POST .../execute.
[status, reply] = await api("POST", "/v1/sessions", { language: "ipython" });
if (status !== 201) throw new Error(`create failed: ${status} ${JSON.stringify(reply)}`);
const [, cell] = await api("POST", `/v1/sessions/${reply.id}/execute`, { code: "6 * 7", timeout_ms: 60000 });
for (const out of cell.outputs) {
  if (out.type === "execute_result") console.log(`cell: ${out.data["text/plain"]}`);
}
await api("DELETE", `/v1/sessions/${reply.id}`);
