#!/usr/bin/env node
// Generic Node.js gRPC peer client for the Cello interop tests.
//
// Usage:
//   node node_client.js PROTO_ROOT PROTO_FILE SERVICE METHOD REQUEST_JSON MODE ADDRESS
//                       [--include DIR]... [--deadline-ms N] [--metadata KEY=VALUE]...
//                       [--ca FILE [--cert FILE --key FILE] [--server-name NAME]]
//
//   PROTO_ROOT   directory the .proto import paths are relative to
//   PROTO_FILE   .proto file, relative to PROTO_ROOT (e.g. demo/users/v1/users.proto)
//   SERVICE      fully-qualified service name (e.g. demo.users.v1.UserService)
//   METHOD       rpc name as written in the .proto (e.g. GetUser)
//   REQUEST_JSON request message as JSON; for client_stream / bidi_stream a JSON
//                array of request messages
//   MODE         unary | server_stream | client_stream | bidi_stream
//   ADDRESS      host:port (plaintext, or TLS with --ca: trust FILE's CA; --cert/--key
//                add a client certificate for mTLS; --server-name overrides the name checked)
//
// Output: each response message as one JSON object per line on stdout.
// On a gRPC error: a single JSON line {"code": N, "codeName": "...", "details": "..."}
// on stderr and exit status 1 (responses already received stay on stdout).
// Usage / loading errors exit with status 2.
//
// Decoding options (proto-loader / protobufjs toObject):
//   keepCase: true    field names exactly as in the .proto (snake_case), NOT lowerCamel
//   longs: String     int64/uint64/sint64/fixed64 values are decimal *strings*, so values
//                     beyond 2^53 survive (same as the proto3 JSON mapping)
//   enums: String     enum values are their names (e.g. "COLOR_RED")
//   bytes: String     bytes fields are base64 strings
//   defaults: true    unset scalar fields are present with their zero value; unset
//                     message fields are null
//   oneofs: true      each oneof also gets a virtual property naming the set member
// Well-known types are NOT mapped to their JSON forms: a Timestamp is
// {"seconds": "<string>", "nanos": N}, a Duration likewise, a Struct is
// {"fields": {"k": {"stringValue": "v", "kind": "stringValue"}}}, Empty is {}.
// google/protobuf/*.proto imports for the common WKTs (any, duration, empty,
// field_mask, struct, timestamp, wrappers) are ALWAYS resolved from the JSON
// copies bundled inside protobufjs (even if an include dir has the .proto), so
// no includeDirs are needed for them -- but those bundled definitions spell
// their fields in lowerCamelCase, so keepCase does not reach inside WKTs:
// Struct/Value fields are stringValue/numberValue/listValue/... .
//
// Requests are converted with protobufjs fromObject(): int64 accepts numbers or
// strings, enums accept names or numbers, field names must use the .proto spelling.
'use strict';

const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

function usage(msg) {
  process.stderr.write(`node_client.js: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const positional = [];
  const includes = [];
  const metadata = [];
  let deadlineMs = 30000;
  const tls = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--include') includes.push(argv[++i]);
    else if (a === '--deadline-ms') deadlineMs = Number(argv[++i]);
    else if (a === '--metadata') metadata.push(argv[++i]);
    else if (a === '--ca') tls.ca = argv[++i];
    else if (a === '--cert') tls.cert = argv[++i];
    else if (a === '--key') tls.key = argv[++i];
    else if (a === '--server-name') tls.serverName = argv[++i];
    else positional.push(a);
  }
  if (positional.length !== 7) {
    usage(`expected 7 positional arguments, got ${positional.length}`);
  }
  const [protoRoot, protoFile, service, method, requestJson, mode, address] = positional;
  return { protoRoot, protoFile, service, method, requestJson, mode, address, includes, metadata, deadlineMs, tls };
}

const codeNames = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(err) {
  const out = {
    code: err.code === undefined ? null : err.code,
    codeName: err.code === undefined ? null : codeNames[err.code] || String(err.code),
    details: err.details === undefined ? String(err.message || err) : err.details,
  };
  process.stderr.write(JSON.stringify(out) + '\n');
  process.exitCode = 1;
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let request;
  try {
    request = JSON.parse(args.requestJson);
  } catch (e) {
    usage(`REQUEST_JSON is not valid JSON: ${e.message}`);
  }

  let definition;
  try {
    definition = protoLoader.loadSync(args.protoFile, {
      keepCase: true,
      longs: String,
      enums: String,
      bytes: String,
      defaults: true,
      oneofs: true,
      includeDirs: [args.protoRoot, ...args.includes],
    });
  } catch (e) {
    usage(`failed to load ${args.protoFile} from ${args.protoRoot}: ${e.message}`);
  }
  const svcDef = definition[args.service];
  if (!svcDef || typeof svcDef !== 'object' || !svcDef[args.method]) {
    const services = Object.keys(definition).filter((k) => !definition[k].format);
    usage(`service ${args.service} / method ${args.method} not found; services: ${services.join(', ')}`);
  }
  const methodDef = svcDef[args.method];
  const actualMode = methodDef.requestStream
    ? (methodDef.responseStream ? 'bidi_stream' : 'client_stream')
    : (methodDef.responseStream ? 'server_stream' : 'unary');
  if (actualMode !== args.mode) {
    usage(`method ${args.method} is ${actualMode}, but mode ${args.mode} was requested`);
  }

  const Client = grpc.makeGenericClientConstructor(svcDef, args.service);
  let credentials = grpc.credentials.createInsecure();
  const clientOptions = {};
  if (args.tls.ca) {
    const fs = require('fs');
    credentials = grpc.credentials.createSsl(
      fs.readFileSync(args.tls.ca),
      args.tls.key ? fs.readFileSync(args.tls.key) : null,
      args.tls.cert ? fs.readFileSync(args.tls.cert) : null,
    );
    if (args.tls.serverName) clientOptions['grpc.ssl_target_name_override'] = args.tls.serverName;
  }
  const client = new Client(args.address, credentials, clientOptions);
  const md = new grpc.Metadata();
  for (const kv of args.metadata) {
    const i = kv.indexOf('=');
    md.add(kv.slice(0, i), kv.slice(i + 1));
  }
  const opts = { deadline: new Date(Date.now() + args.deadlineMs) };
  const done = () => client.close();
  const fn = client[args.method].bind(client);

  if (args.mode === 'unary') {
    fn(request, md, opts, (err, resp) => {
      if (err) fail(err); else emit(resp);
      done();
    });
  } else if (args.mode === 'client_stream') {
    if (!Array.isArray(request)) usage('client_stream needs a JSON array of requests');
    const call = fn(md, opts, (err, resp) => {
      if (err) fail(err); else emit(resp);
      done();
    });
    for (const r of request) call.write(r);
    call.end();
  } else {
    let call;
    if (args.mode === 'server_stream') {
      call = fn(request, md, opts);
    } else {
      if (!Array.isArray(request)) usage('bidi_stream needs a JSON array of requests');
      call = fn(md, opts);
      for (const r of request) call.write(r);
      call.end();
    }
    call.on('data', emit);
    call.on('error', (err) => { fail(err); done(); });
    call.on('end', done);
  }
}

main();
