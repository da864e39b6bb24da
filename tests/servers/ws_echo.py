#!/usr/bin/python3
"""WebSocket echo server (Debian's python3-websockets) for the integration tests.

usage: ws_echo.py PORT TLS_PORT CERT KEY
Serves ws://127.0.0.1:PORT/ and wss://127.0.0.1:TLS_PORT/ (any path); every text or binary
message is sent back unchanged.
"""
import asyncio
import ssl
import sys

import websockets


async def echo(websocket, path=None):
    try:
        async for message in websocket:
            await websocket.send(message)
    except websockets.ConnectionClosed:
        pass


async def main(port, tls_port, cert, key):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with websockets.serve(echo, "127.0.0.1", port, max_size=None, ping_interval=None), \
            websockets.serve(echo, "127.0.0.1", tls_port, ssl=context, max_size=None,
                             ping_interval=None):
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]))
