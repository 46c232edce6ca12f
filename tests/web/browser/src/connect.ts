// Browser side of the Cello Connect test (tests/web/test_browser.py): calls examples.library
// served by `GrpcServer(enable_web=True)` with connect-web's Connect transport, in JSON and
// in binary, through the TypeScript messages protoc-gen-es generates from the .proto that
// `cello-gen build` emits (src/gen/demo/, at test time). Reports the results as JSON in
// <pre id="results">, then sets <body data-done="1">.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  GetBookRequestSchema,
  Genre,
  LibraryService,
  ListBooksRequestSchema,
} from "./gen/demo/library/v1/library_pb";

type Results = Record<string, unknown>;

function errorInfo(e: unknown) {
  if (e instanceof ConnectError) {
    return { codeName: Code[e.code], message: e.rawMessage };
  }
  return { unexpected: String(e) };
}

async function run(baseUrl: string, useBinaryFormat: boolean): Promise<Results> {
  const client = createClient(LibraryService, createConnectTransport({ baseUrl, useBinaryFormat }));
  const results: Results = {};
  try {
    const book = await client.getBook(create(GetBookRequestSchema, { isbn: "978-0" }));
    const born = book.authors[0]?.born;
    results.getBook = {
      title: book.title,
      pages: book.pages,
      genre: Genre[book.genre],
      tags: book.tags,
      born: born ? timestampDate(born).toISOString() : null,
    };
  } catch (e) {
    results.getBook = errorInfo(e);
  }
  try {
    const titles: string[] = [];
    const request = create(ListBooksRequestSchema, { genre: Genre.SCIENCE });
    for await (const book of client.listBooks(request)) {
      titles.push(book.title);
    }
    results.listBooks = titles;
  } catch (e) {
    results.listBooks = errorInfo(e);
  }
  try {
    await client.getBook({ isbn: "nope" });
    results.notFound = { unexpected: "no error" };
  } catch (e) {
    results.notFound = errorInfo(e);
  }
  return results;
}

async function main(): Promise<Results> {
  const baseUrl = new URLSearchParams(location.search).get("server") ?? location.origin;
  return { baseUrl, json: await run(baseUrl, false), binary: await run(baseUrl, true) };
}

// Headless `chromium --dump-dom` dumps the DOM at the load event. A pending image from the
// page's own server delays that event; the test server answers it once the report is in.
const hold = new Image();
hold.alt = "";
hold.src = "/hold";
document.body.appendChild(hold);

main()
  .catch((e) => ({ fatal: String(e) }))
  .then(async (results) => {
    document.getElementById("results")!.textContent = JSON.stringify(results);
    document.body.dataset.done = "1";
    await fetch("/report", { method: "POST", body: JSON.stringify(results) });
  });
