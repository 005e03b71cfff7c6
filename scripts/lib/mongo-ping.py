"""Exit 0 when a MongoDB-wire server on 127.0.0.1:PORT answers `ping` with ok: 1.

Used by scripts/stack before node_modules exist (so no driver): one OP_MSG by hand.
"""
import socket
import struct
import sys


def bson(items):
    body = b''
    for key, value in items:
        name = key.encode() + b'\0'
        if isinstance(value, int):
            body += b'\x10' + name + struct.pack('<i', value)
        else:
            text = value.encode() + b'\0'
            body += b'\x02' + name + struct.pack('<i', len(text)) + text
    return struct.pack('<i', len(body) + 5) + body + b'\0'


def main(port):
    message = struct.pack('<I', 0) + b'\0' + bson([('ping', 1), ('$db', 'admin')])
    header = struct.pack('<iiii', 16 + len(message), 1, 0, 2013)  # 2013: OP_MSG
    with socket.create_connection(('127.0.0.1', port), timeout=2) as sock:
        sock.sendall(header + message)
        reply = b''
        while len(reply) < 4 or len(reply) < struct.unpack('<i', reply[:4])[0]:
            chunk = sock.recv(65536)
            if not chunk:
                return 1
            reply += chunk
    # The reply document holds `ok` as a double: 1.0 when the server is ready.
    return 0 if b'\x01ok\x00' + struct.pack('<d', 1.0) in reply else 1


if __name__ == '__main__':
    try:
        sys.exit(main(int(sys.argv[1])))
    except OSError:
        sys.exit(1)
