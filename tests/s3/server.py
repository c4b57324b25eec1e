"""A real S3 API server for the tests: moto's server mode on 127.0.0.1.

Usage: server.py PORT [--until-killed]. Prints "listening" once it serves, and stops when its
standard input closes (the test process that started it ended, however it ended), or with
--until-killed (a script's background job, whose standard input is closed) when signalled.
"""

import signal
import socket
import sys
import time

from moto.server import ThreadedMotoServer


def main() -> None:
    port = int(sys.argv[1])
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    # start() returns before the socket is bound.
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    print("listening", flush=True)
    if "--until-killed" in sys.argv[2:]:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        signal.pause()
    else:
        sys.stdin.read()
    server.stop()


if __name__ == "__main__":
    main()
