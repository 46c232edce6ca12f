// Browser side of tests/web/test_browser.py: calls the Cello gRPC-Web server with
// a real gRPC-Web client (connect-web's createGrpcWebTransport) and reports the
// outcomes as JSON in <pre id="results">, then sets <body data-done="1">.
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { create, fromJson, toJson } from "@bufbuild/protobuf";
import { StringValueSchema, StructSchema } from "@bufbuild/protobuf/wkt";
import { Sample } from "./gen/sample_pb";

type Results = Record<string, unknown>;

function errorInfo(e: unknown) {
  if (e instanceof ConnectError) {
    return { code: e.code, codeName: Code[e.code], message: e.rawMessage };
  }
  return { unexpected: String(e) };
}

async function main(): Promise<Results> {
  const params = new URLSearchParams(location.search);
  const baseUrl = params.get("server") ?? location.origin;
  const transport = createGrpcWebTransport({ baseUrl });
  const client = createClient(Sample, transport);
  const results: Results = { baseUrl };

  // 1. unary call with typed result, custom request header, response headers/trailers
  try {
    let initial: string | null = null;
    let trailing: string | null = null;
    const res = await client.echo(create(StringValueSchema, { value: "from the browser" }), {
      headers: { "x-echo": "browser-md" },
      onHeader: (h) => (initial = h.get("x-echo-initial")),
      onTrailer: (t) => (trailing = t.get("x-echo-trailing")),
    });
    results.unary = { value: res.value, type: res.$typeName, initial, trailing };
  } catch (e) {
    results.unary = errorInfo(e);
  }

  // 2. unary call returning a Struct, with a deadline (grpc-timeout header)
  try {
    const info = await client.describe(create(StringValueSchema, { value: "describe" }), { timeoutMs: 5000 });
    results.describe = toJson(StructSchema, info);
  } catch (e) {
    results.describe = errorInfo(e);
  }

  // 3. server streaming
  try {
    const items: string[] = [];
    for await (const item of client.count(fromJson(StructSchema, { n: 4 }))) {
      items.push(item.value);
    }
    results.stream = { items };
  } catch (e) {
    results.stream = errorInfo(e);
  }

  // 4. error status from abort() (trailers-only response)
  try {
    await client.echo(create(StringValueSchema, { value: "abort" }));
    results.error = { unexpected: "no error" };
  } catch (e) {
    results.error = errorInfo(e);
  }

  // 5. error in the middle of a stream: items received, then the status
  const partial: string[] = [];
  try {
    for await (const item of client.count(fromJson(StructSchema, { n: 5, fail_after: 2 }))) {
      partial.push(item.value);
    }
    results.streamError = { items: partial, unexpected: "no error" };
  } catch (e) {
    results.streamError = { items: partial, ...errorInfo(e) };
  }

  // 6. unexpected server exception → INTERNAL, generic message
  try {
    await client.echo(create(StringValueSchema, { value: "boom" }));
    results.internal = { unexpected: "no error" };
  } catch (e) {
    results.internal = errorInfo(e);
  }
  return results;
}

// Headless `chromium --dump-dom` dumps the DOM at the load event.  A pending
// image from the page's own server delays that event; the test server answers
// it only once this page has POSTed its report, so the dump has the results.
const hold = new Image();
hold.alt = "";
hold.src = "/hold";
document.body.appendChild(hold);

main()
  .catch((e) => ({ fatal: String(e) }))
  .then(async (results) => {
    const out = document.getElementById("results")!;
    out.textContent = JSON.stringify(results);
    document.getElementById("summary")!.textContent = "done";
    document.body.dataset.done = "1";
    await fetch("/report", { method: "POST", body: JSON.stringify(results) });
  });
