"""A protocol bridge between the AWS SDK for Rust's CloudWatch client and moto.

Why: the Rust SDK speaks CloudWatch's newest protocol, Smithy RPC v2 CBOR
(`POST /service/GraniteServiceVersion20100801/operation/<Op>`, CBOR bodies). moto's
server speaks CloudWatch's Query and JSON protocols only, and its maintainers do not
plan CBOR. This bridge decodes the SDK's CBOR request with botocore's CBOR parser,
forwards it to moto as awsJson1.0, and encodes moto's answer back to CBOR by the
operation's output shape with botocore's CBOR serializer. The SDK's real wire format is
exercised end to end, decoded and encoded by an implementation we did not write.

Usage: python cloudwatch_cbor_bridge.py MOTO_URL PORT_FILE
Listens on 127.0.0.1 at an ephemeral port and writes the port to PORT_FILE.
"""
import datetime
import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.session
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

MODEL = botocore.session.get_session().get_service_model("cloudwatch")
TARGET = MODEL.metadata.get("targetPrefix", "GraniteServiceVersion20100801")
MOTO = sys.argv[1].rstrip("/")
FORWARDED_HEADERS = ("authorization", "x-amz-date", "x-amz-security-token")


def to_json(value):
    """CBOR-decoded values to JSON: timestamps become epoch seconds, as awsJson1.0 sends them."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return value.timestamp()
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def encode_error(code, message):
    """A CBOR map of two text strings (errors have no shape to serialize by)."""
    out = bytearray([0xA2])
    for text in ("__type", code, "message", message):
        raw = text.encode()
        if len(raw) < 24:
            out.append(0x60 | len(raw))
        else:
            out.append(0x79)
            out += len(raw).to_bytes(2, "big")
        out += raw
    return bytes(out)


class Bridge(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet: tests read their own output
        pass

    def do_POST(self):
        operation = self.path.rsplit("/operation/", 1)[-1]
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        params = {}
        if body:
            parser = RpcV2CBORParser()
            params = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
        headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"{TARGET}.{operation}"}
        for name in FORWARDED_HEADERS:
            if self.headers.get(name):
                headers[name] = self.headers[name]
        request = urllib.request.Request(MOTO + "/", data=json.dumps(to_json(params)).encode(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        doc = json.loads(raw or b"{}")
        if status < 300:
            shape = MODEL.operation_model(operation).output_shape
            out = bytearray()
            if shape is None:
                out.append(0xA0)
            else:
                RpcV2CBORSerializer()._serialize_data_item(out, doc, shape)
            payload = bytes(out)
        else:
            code = str(doc.get("__type", "InternalFailure")).split("#")[-1]
            payload = encode_error(code, str(doc.get("message") or doc.get("Message") or ""))
        self.send_response(status)
        self.send_header("Content-Type", "application/cbor")
        self.send_header("smithy-protocol", "rpc-v2-cbor")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


server = ThreadingHTTPServer(("127.0.0.1", 0), Bridge)
tmp = sys.argv[2] + ".tmp"
with open(tmp, "w") as f:
    f.write(str(server.server_address[1]))
os.replace(tmp, sys.argv[2])
server.serve_forever()
