#!/usr/bin/env python3
"""A loopback smart-HTTP git server for the e2e tests: git http-backend behind a tiny server
that demands Basic auth as USER:TOKEN (fetch and, authenticated, push). Writes the port it
listens on to PORTFILE and serves for at most SECONDS.

usage: git_http_server.py ROOT BACKEND USER TOKEN PORTFILE [SECONDS]
"""
import base64
import http.server
import os
import subprocess
import sys
import time

root, backend, user, token, portfile = sys.argv[1:6]
seconds = float(sys.argv[6]) if len(sys.argv) > 6 else 240
want = "Basic " + base64.b64encode((user + ":" + token).encode()).decode()


class Handler(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        if self.headers.get("Authorization") != want:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        body = self.read_body()
        env = dict(os.environ, GIT_PROJECT_ROOT=root, GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command, REMOTE_USER=user,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(len(body)))
        out = subprocess.run([backend], input=body, env=env, capture_output=True, timeout=30).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            k, _, v = line.decode().partition(":")
            if k.lower() == "status":
                status = int(v.strip().split()[0])
            elif k:
                headers.append((k, v.strip()))
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def read_body(self):
        # libgit2 sends the pack of a push with chunked transfer encoding.
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_POST = handle_one

    def log_message(self, fmt, *args):
        sys.stderr.write("%s\n" % (fmt % args))


srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
srv.timeout = 0.5
with open(portfile, "w") as f:
    f.write(str(srv.server_address[1]))
end = time.time() + seconds
while time.time() < end:
    srv.handle_request()
