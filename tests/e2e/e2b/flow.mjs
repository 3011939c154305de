// The E2B code-interpreter SDK, unchanged, against CloudCode: E2B_API_URL,
// E2B_SANDBOX_URL and E2B_API_KEY come from the environment (tests/e2e/test_e2b.py).
// Prints one JSON object with what each step saw; any failure exits non-zero.
import { Sandbox } from '@e2b/code-interpreter'

const out = {}
const sbx = await Sandbox.create({ timeoutMs: 120_000 })
out.sandboxId = sbx.sandboxId

try {
  // A cell with callbacks: stdout as it is printed, the cell's value as a result.
  const stdout = []
  const results = []
  const exec = await sbx.runCode('x = 6 * 7\nprint("hello", x)\nx', {
    onStdout: (m) => stdout.push(m.line),
    onResult: (r) => results.push(r.text),
  })
  out.stdout = stdout
  out.results = results
  out.text = exec.text
  out.logs = exec.logs
  out.executionCount = exec.executionCount

  // State lives on between cells (one kernel).
  out.again = (await sbx.runCode('x + 1')).text

  // A matplotlib figure comes back as a PNG result.
  const plot = await sbx.runCode(
    'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3], [1, 4, 9])\nplt.show()')
  const png = plot.results.find((r) => r.png)
  out.png = png ? Buffer.from(png.png, 'base64').subarray(1, 4).toString() : null
  out.pngFormats = png ? png.formats() : []

  // A raised exception is a structured error.
  const bad = await sbx.runCode('1 / 0')
  out.error = bad.error ? { name: bad.error.name, value: bad.error.value, traceback: bad.error.traceback } : null

  // Files: write, read back, list, stat.
  await sbx.files.write('/home/user/data/hello.txt', 'hello from e2b\n')
  await sbx.files.write('notes.md', '# notes\n')
  out.read = await sbx.files.read('/home/user/data/hello.txt')
  // Binary data as one octet-stream body, read back as bytes.
  const bytes = new Uint8Array([0, 1, 2, 255, 10, 13])
  const wrote = await sbx.files.write('/work/bin/raw.dat', bytes, { useOctetStream: true })
  out.wroteBinary = wrote.path
  out.readBinary = Array.from(await sbx.files.read('bin/raw.dat', { format: 'bytes' }))
  out.list = (await sbx.files.list('/home/user')).map((e) => `${e.type}:${e.name}`).sort()
  out.exists = await sbx.files.exists('/home/user/data/hello.txt')
  out.missing = await sbx.files.exists('/home/user/nope.txt')
  // The kernel sees the same files.
  out.fromKernel = (await sbx.runCode('open("data/hello.txt").read()')).text

  // A shell command beside the kernel.
  const cmd = await sbx.commands.run('echo hi && echo err >&2 && cat /work/notes.md')
  out.command = { exitCode: cmd.exitCode, stdout: cmd.stdout, stderr: cmd.stderr }
  try {
    await sbx.commands.run('exit 3')
    out.failedCommand = 'no error'
  } catch (e) {
    out.failedCommand = { name: e.name, exitCode: e.exitCode }
  }

  // A background command, killed.  (A balancer relays a command's output
  // whole at its end, so there `background` is not: the test skips this.)
  if (!process.env.CLOUDCODE_E2B_BUFFERED) {
    const bg = await sbx.commands.run('sleep 30', { background: true })
    out.killedCommand = await sbx.commands.kill(bg.pid)
    try {
      await bg.wait()
      out.killedResult = 'no error'
    } catch (e) {
      out.killedResult = { name: e.name, exitCode: e.exitCode }
    }
    out.killMissing = await sbx.commands.kill(bg.pid)
  }

  const envCmd = await sbx.commands.run('echo $GREETING from $(pwd)', { envs: { GREETING: 'hello' }, cwd: '/home/user/data' })
  out.envCommand = envCmd.stdout

  // Directories: make, move into, remove.
  out.madeDir = await sbx.files.makeDir('/home/user/made/deep')
  out.madeAgain = await sbx.files.makeDir('/home/user/made/deep')
  const moved = await sbx.files.rename('/home/user/notes.md', '/home/user/made/notes.md')
  out.moved = `${moved.type}:${moved.path}`
  out.movedRead = await sbx.files.read('/home/user/made/notes.md')
  await sbx.files.remove('/home/user/made')
  out.afterRemove = await sbx.files.exists('/home/user/made/notes.md')

  // Timeout, then the same sandbox by id.
  await sbx.setTimeout(90_000)
  const info = await Sandbox.getInfo(sbx.sandboxId)
  out.infoId = info.sandboxId
  const again = await Sandbox.connect(sbx.sandboxId)
  out.connected = (await again.runCode('x')).text
  out.listed = (await Sandbox.list().nextItems()).map((s) => s.sandboxId).includes(sbx.sandboxId)
  out.running = await again.isRunning()
} finally {
  out.killed = await sbx.kill()
}
out.runningAfterKill = await sbx.isRunning()
out.killedAgain = await Sandbox.kill(sbx.sandboxId)
console.log(JSON.stringify(out))
