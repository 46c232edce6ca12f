// Browser side of the Cello library test (tests/web/test_browser.py): calls examples.library
// served by `GrpcServer(enable_web=True)` with connect-web's gRPC-Web transport, through
// TypeScript messages that protoc-gen-es generates from the .proto that `cello-gen build`
// emits (into src/gen/demo/, at test time). Shows the results on the page, reports them as
// JSON in <pre id="results">, then sets <body data-done="1">.
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { create, toJson } from "@bufbuild/protobuf";
import { StructSchema, timestampDate } from "@bufbuild/protobuf/wkt";
import {
  type Book,
  GetBookRequestSchema,
  Genre,
  LibraryService,
  ListBooksRequestSchema,
} from "./gen/demo/library/v1/library_pb";

type Results = Record<string, unknown>;

function bookInfo(book: Book) {
  const author = book.authors[0];
  return {
    type: book.$typeName,
    isbn: book.isbn,
    title: book.title,
    pages: book.pages,
    genre: Genre[book.genre],
    rating: book.rating,
    tags: book.tags,
    subtitle: book.subtitle ?? null,
    author: author?.name ?? null,
    born: author?.born ? timestampDate(author.born).toISOString() : null,
    loanSeconds: book.loanPeriod ? Number(book.loanPeriod.seconds) : null,
  };
}

function errorInfo(e: unknown) {
  if (e instanceof ConnectError) {
    return { code: e.code, codeName: Code[e.code], message: e.rawMessage };
  }
  return { unexpected: String(e) };
}

function show(line: string): void {
  const item = document.createElement("li");
  item.textContent = line;
  document.getElementById("shown")!.appendChild(item);
}

async function main(): Promise<Results> {
  const baseUrl = new URLSearchParams(location.search).get("server") ?? location.origin;
  const client = createClient(LibraryService, createGrpcWebTransport({ baseUrl }));
  const results: Results = { baseUrl };

  // 1. unary, typed request and response
  try {
    const book = await client.getBook(create(GetBookRequestSchema, { isbn: "978-0" }));
    results.getBook = bookInfo(book);
    show(`GetBook: ${book.title} (${book.pages} pages, ${Genre[book.genre]})`);
  } catch (e) {
    results.getBook = errorInfo(e);
  }

  // 2. server streaming, one call per genre
  const streams: Record<string, unknown> = {};
  for (const genre of [Genre.FICTION, Genre.SCIENCE, Genre.HISTORY]) {
    try {
      const titles: string[] = [];
      for await (const book of client.listBooks(create(ListBooksRequestSchema, { genre }))) {
        titles.push(book.title);
      }
      streams[Genre[genre]] = titles;
      show(`ListBooks ${Genre[genre]}: [${titles.join(", ")}]`);
    } catch (e) {
      streams[Genre[genre]] = errorInfo(e);
    }
  }
  results.listBooks = streams;

  // 3. the handler's GrpcError(NOT_FOUND) as the call's status
  try {
    await client.getBook({ isbn: "nope" });
    results.notFound = { unexpected: "no error" };
  } catch (e) {
    const info = errorInfo(e);
    results.notFound = info;
    show(`GetBook nope: error ${"codeName" in info ? info.codeName : "?"}: ${"message" in info ? info.message : ""}`);
  }

  // 4. the untyped method: google.protobuf.Struct both ways
  try {
    results.describe = toJson(StructSchema, await client.describe(create(StructSchema)));
  } catch (e) {
    results.describe = errorInfo(e);
  }
  return results;
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
    document.getElementById("summary")!.textContent = "done";
    document.body.dataset.done = "1";
    await fetch("/report", { method: "POST", body: JSON.stringify(results) });
  });
