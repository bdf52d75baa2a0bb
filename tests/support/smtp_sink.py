"""An SMTP server for driftwatch's tests: aiosmtpd writing every message to a Maildir.

usage: smtp_sink.py PORT MAILDIR [--starttls CERT KEY | --tls CERT KEY] [--auth USER PASSWORD]

With --starttls the server requires STARTTLS before MAIL; with --auth it requires
AUTH (PLAIN or LOGIN) with those credentials. Prints "ready" once listening.
"""
import argparse
import asyncio
import ssl

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP, AuthResult


import logging, os
if os.environ.get("SMTP_SINK_DEBUG"):
    logging.basicConfig(level=logging.DEBUG)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("maildir")
    p.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    p.add_argument("--auth", nargs=2, metavar=("USER", "PASSWORD"))
    a = p.parse_args()

    context = None
    if a.starttls or a.tls:
        cert, key = a.starttls or a.tls
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert, key)

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = a.auth is not None and (auth_data.login, auth_data.password) == (
            a.auth[0].encode(),
            a.auth[1].encode(),
        )
        return AuthResult(success=ok, handled=False)

    handler = Mailbox(a.maildir)

    def factory():
        return SMTP(
            handler,
            hostname="localhost",
            tls_context=context if a.starttls else None,
            require_starttls=bool(a.starttls),
            authenticator=authenticator if a.auth else None,
            auth_required=bool(a.auth),
            auth_require_tls=bool(a.starttls),
        )

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(
        loop.create_server(factory, "127.0.0.1", a.port, ssl=context if a.tls else None)
    )
    print("ready", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
