"""How many IMAP sessions through the mail host's Dovecot proxy stall after login (issue 18, stop 31).

Run against a lab with a store apart (mail1 and store1 deployed from branch wip/stores) and a mailbox naming
store1 that holds a few messages:

    python3 bench/proxy_sessions.py HOST PORT ADDRESS PASSWORD [ssl|starttls|plain] [SESSIONS]

Three clients log in, SELECT INBOX and FETCH every Message-ID, SESSIONS/3 times each, with a 15 s timeout;
prints each stalled session (which step) and the count. Stop 31 measured, with Dovecot 2.4.1 (trixie):
6-17 stalls in 300-450 sessions when the proxy reaches the store over TLS (STARTTLS or port 993), 0 in 600
with the proxy's leg in plain text, 0 in 300 straight to the store with STARTTLS.
"""

import imaplib
import ssl
import sys
import threading
import time


def session(host: str, port: int, address: str, password: str, mode: str, ctx: ssl.SSLContext) -> str | None:
    """None, or the step that did not answer in time."""
    step = "connect"
    try:
        if mode == "ssl":
            conn = imaplib.IMAP4_SSL(host, port, ssl_context=ctx, timeout=15)
        else:
            conn = imaplib.IMAP4(host, port, timeout=15)
            if mode == "starttls":
                step = "starttls"
                conn.starttls(ssl_context=ctx)
        for step, command in (("login", lambda: conn.login(address, password)),
                              ("select", lambda: conn.select("INBOX", readonly=True)),
                              ("fetch", lambda: conn.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")),
                              ("logout", conn.logout)):
            command()
    except (OSError, imaplib.IMAP4.error):
        return step
    return None


def main() -> None:
    host, port, address, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    mode = sys.argv[5] if len(sys.argv) > 5 else "ssl"
    total = int(sys.argv[6]) if len(sys.argv) > 6 else 300
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE     # a lab bench: the CA is the lab's
    stalls = []

    def client(k: int) -> None:
        for i in range(total // 3):
            started = time.monotonic()
            if (step := session(host, port, address, password, mode, ctx)) is not None:
                stalls.append((k, i, step, round(time.monotonic() - started, 1)))
                print("stalled", stalls[-1], flush=True)

    clients = [threading.Thread(target=client, args=(k,)) for k in range(3)]
    for c in clients:
        c.start()
    for c in clients:
        c.join()
    print(f"{len(stalls)} of {total // 3 * 3} sessions stalled or failed ({mode}, {host}:{port})")


if __name__ == "__main__":
    main()
