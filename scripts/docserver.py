#!/usr/bin/env python3
"""The demo's document server: Python's http.server, plus the entity-tag S3 and CloudFront give a
document (the MD5 of its bytes, in quotes) and the 304 they answer to an If-None-Match naming it.

Usage: docserver.py PORT DIRECTORY (binds 127.0.0.1 only).
"""
import functools
import hashlib
import http.server
import os
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    def send_head(self):
        path = self.translate_path(self.path)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                etag = '"%s"' % hashlib.md5(f.read()).hexdigest()
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return None
            self.etag = etag
        return super().send_head()

    def end_headers(self):
        etag = getattr(self, "etag", None)
        if etag:
            self.send_header("ETag", etag)
            self.etag = None
        super().end_headers()


if __name__ == "__main__":
    port, directory = int(sys.argv[1]), sys.argv[2]
    handler = functools.partial(Handler, directory=directory)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
