"""Small misbehaving servers for fault tests, each on a free 127.0.0.1 port, run in threads."""
import base64
import hashlib
import json
import re
import socket
import struct
import threading
import uuid

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise OSError("peer closed")
        data += chunk
    return data


class TcpServer:
    """Accepts connections and runs `handler(conn)` for each on its own thread."""

    def __init__(self, handler):
        self.handler = handler
        self.accepted = 0
        self._stop = False
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        conn.settimeout(10)
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop = True
        self.thread.join(2)
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def read_head(conn):
    """The request head (up to the blank line), or None when the client left first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def ws_handshake(conn):
    data = read_head(conn)
    if data is None:
        raise OSError("peer closed")
    key = re.search(rb"Sec-WebSocket-Key:\s*(\S+)", data, re.I).group(1)
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")


def ws_read_frame(conn):
    """Reads one (masked, client) frame; returns (opcode, payload)."""
    b0, b1 = recv_exact(conn, 2)
    length = b1 & 0x7F
    if length == 126:
        length = struct.unpack("!H", recv_exact(conn, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", recv_exact(conn, 8))[0]
    mask = recv_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(recv_exact(conn, length)))
    return b0 & 0x0F, payload


def ws_fault_handler(mode):
    """A WebSocket server that completes the handshake, then on the first message:
    garbage - answers with a frame using a reserved opcode (and closes on the close frame);
    reset   - drops the connection with a TCP reset;
    close   - answers with a close frame (1011) and closes."""

    def handler(conn):
        ws_handshake(conn)
        ws_read_frame(conn)
        if mode == "garbage":
            conn.sendall(b"\x8f\x05hello")
            # The client fails the connection with a close frame; answer it by closing.
            while ws_read_frame(conn)[0] != 8:
                pass
        elif mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif mode == "close":
            conn.sendall(b"\x88\x02\x03\xf3")
    return handler


def tcp_echo_once(conn):
    """Echoes the first piece it receives, then closes the connection."""
    data = conn.recv(4096)
    if data:
        conn.sendall(data)


def tcp_echo(conn):
    while True:
        data = conn.recv(65536)
        if not data:
            return
        conn.sendall(data)


def tcp_reply_and_close(reply):
    def handler(conn):
        conn.recv(4096)
        conn.sendall(reply)
    return handler


def sse_close_delimited(conn):
    """An event stream without chunking or length: the body ends when the server closes. The
    events arrive in awkward pieces (a CRLF split across two sends)."""
    if read_head(conn) is None:
        return
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
    for piece in [b": hello\r", b"\ndata: fir", b"st\r\n\r", b"\nid: 2\ndata: second\n", b"\n"]:
        conn.sendall(piece)


class SseEcho:
    """An event stream that answers every request with JSON events naming the request target
    and a token made for that connection: {"token": "...", "path": "/..."} every 10 ms until the
    client leaves. `paths` lists the request targets seen."""

    def __init__(self):
        self.paths = []

    def __call__(self, conn):
        data = read_head(conn)
        if data is None:
            return
        path = data.split(b" ", 2)[1].decode()
        self.paths.append(path)
        event = json.dumps({"token": uuid.uuid4().hex, "path": path})
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close"
                     b"\r\n\r\n")
        while True:
            conn.sendall(f"data: {event}\n\n".encode())
            threading.Event().wait(0.01)
