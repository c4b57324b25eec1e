#!/usr/bin/env python3
"""A real SMTP server for the test suite (aiosmtpd, the Python standard library's successor to
smtpd): listens on 127.0.0.1:PORT and writes each message it accepts, as received after the
SMTP dot-unstuffing, to DIR/<n>.eml, with its envelope in DIR/<n>.json. Recipients at
rejected.example are refused with 550 (a mailbox that does not exist). Prints "listening" once
it accepts connections, and runs until killed.

    catcher.py PORT DIR
"""
import asyncio
import json
import os
import sys

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        # A mailbox that does not exist, for the tests of a refusal for good.
        if address.endswith("@rejected.example"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, f"{self.count:05d}")
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".json.tmp", base + ".json")
        # Written aside and renamed: a reader never sees half a message.
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 OK"


def main():
    port, folder = int(sys.argv[1]), sys.argv[2]
    os.makedirs(folder, exist_ok=True)
    controller = Controller(Save(folder), hostname="127.0.0.1", port=port)
    controller.start()
    print("listening", flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
