"""A gRPC echo server in Python (Debian's python3-grpcio, generic handlers, no generated code)
for the grpc_user tests and bench/grpc.sh. It serves examples/proto/echo.proto's service; the
messages are encoded and decoded by hand (a few varint and string fields). It has no reflection
service, so tasks against it use the .proto file.

  /usr/bin/python3 grpc_server.py PORT_FILE [--tls CERT KEY] [--workers N]

Writes the port it listens on (127.0.0.1, a free one) to PORT_FILE and serves until killed."""
import argparse
import os
import time
from concurrent import futures

import grpc


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(data, i):
    value, shift = 0, 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def decode(data):
    """{field number: value} for varint and length-delimited fields (last one wins)."""
    fields, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            fields[num], i = read_varint(data, i)
        elif wt == 2:
            n, i = read_varint(data, i)
            fields[num] = data[i:i + n]
            i += n
        else:
            raise ValueError("unexpected wire type %d" % wt)
    return fields


def reply(message=b"", index=0, received=0):
    out = b""
    if message:
        out += b"\x0a" + varint(len(message)) + message
    if index:
        out += b"\x10" + varint(index)
    if received:
        out += b"\x18" + varint(received)
    return out


def prepare(req, context):
    """EchoRequest fields: 1 message, 2 count, 3 status, 4 delay_ms."""
    delay = min(req.get(4, 0), 10000)
    if delay:
        time.sleep(delay / 1000)
    status = req.get(3, 0)
    if status:
        code = next(c for c in grpc.StatusCode if c.value[0] == status)
        context.abort(code, "requested status")


def echo_metadata(context):
    for k, v in context.invocation_metadata():
        if k == "x-echo":
            context.set_trailing_metadata((("x-echo", v),))


def unary(data, context):
    req = decode(data)
    echo_metadata(context)
    prepare(req, context)
    return reply(req.get(1, b""))


def server_stream(data, context):
    req = decode(data)
    echo_metadata(context)
    prepare(req, context)
    for i in range(max(1, min(req.get(2, 0), 100000))):
        yield reply(req.get(1, b""), index=i)


def client_stream(it, context):
    echo_metadata(context)
    msgs = []
    for data in it:
        req = decode(data)
        prepare(req, context)
        msgs.append(req.get(1, b""))
    return reply(b",".join(msgs), received=len(msgs))


def bidi(it, context):
    echo_metadata(context)
    for i, data in enumerate(it):
        req = decode(data)
        prepare(req, context)
        yield reply(req.get(1, b""), index=i)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port_file")
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--workers", type=int, default=16)
    a = ap.parse_args()
    handler = grpc.method_handlers_generic_handler("loaddensity.echo.Echo", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "Bidi": grpc.stream_stream_rpc_method_handler(bidi),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=a.workers))
    server.add_generic_rpc_handlers((handler,))
    if a.tls:
        with open(a.tls[0], "rb") as c, open(a.tls[1], "rb") as k:
            creds = grpc.ssl_server_credentials(((k.read(), c.read()),))
        port = server.add_secure_port("127.0.0.1:0", creds)
    else:
        port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    with open(a.port_file + ".tmp", "w") as f:
        f.write(str(port))
    os.replace(a.port_file + ".tmp", a.port_file)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
