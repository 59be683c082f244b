"""HMA's matching API shapes, checked against what hasher-matcher-actioner's docs/api.md and
its matching endpoints' documented examples say (facebook/ThreatExchange):

- `POST /h/hash`, multipart, the field named after the content type (`photo`):
  `{"pdq": "<64 hex>"}` (signal type to value);
- `POST /m/lookup`, same body: `{"pdq": {"TEST_BANK": [{"bank_content_id": 1,
  "distance": "0"}]}}` (signal type to bank name to matches), `bypass_coinflip` and `seed`
  accepted;
- `GET /m/lookup?signal_type=<type>&signal=<value>`: `{"TEST_BANK": [{"bank_content_id": 1,
  "distance": "0"}]}`;
- `POST /m/compare` `{"pdq": [a, b]}`: `{"pdq": [true, {"distance": 9}]}`;
- `GET /m/index/status`: `{"pdq": {"built_to": -1 or Unix time, "present": bool,
  "size": int}}`, limited by `?signal_type=`, an unknown type refused.
"""

from __future__ import annotations

import io
import re

X = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def _photo() -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (256, 256), "white")
    d = ImageDraw.Draw(img)
    for k in range(0, 256, 32):
        d.rectangle([k, k // 2, k + 20, 255 - k // 3], fill=(k, 255 - k, (k * 7) % 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _bank(svc, name: str, pdqs: list[str]) -> None:
    r = svc.client.post("/api/v1/hashsets", headers=svc.h("coord"),
                        files={"file": ("set", "".join(f"pdq {h}\n" for h in pdqs).encode(),
                                        "text/plain")},
                        data={"name": name, "format": "hma"})
    assert r.status_code == 201, r.text


def test_hash_an_uploaded_photo_answers_signal_type_to_value(service):
    r = service.client.post("/h/hash", headers=service.h("lookup"),
                            files={"photo": ("example.png", _photo(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body, dict) and all(isinstance(v, str) for v in body.values())
    assert re.fullmatch(r"[0-9a-f]{64}", body["pdq"])


def test_look_up_an_uploaded_photo_answers_type_bank_matches(service):
    pdq = service.client.post("/h/hash", headers=service.h("lookup"),
                              files={"photo": ("example.png", _photo(), "image/png")}).json()["pdq"]
    _bank(service, "TEST_BANK", [pdq])
    for params in ({}, {"bypass_coinflip": "true", "seed": "1234"}):
        r = service.client.post("/m/lookup", headers=service.h("lookup"), params=params,
                                files={"photo": ("example.png", _photo(), "image/png")})
        assert r.status_code == 200, r.text
        body = r.json()
        (hit,) = body["pdq"]["TEST_BANK"]
        assert isinstance(hit["bank_content_id"], int) and hit["distance"] == "0"
        assert set(body) <= {"pdq", "md5", "sha1", "sha256"}
        assert all(v == {} for k, v in body.items() if k != "pdq")


def test_look_up_a_hash_answers_bank_to_matches(service):
    _bank(service, "TEST_BANK", [X])
    r = service.client.get("/m/lookup", headers=service.h("lookup"),
                           params={"signal_type": "pdq", "signal": X})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["TEST_BANK"]
    assert isinstance(hit["bank_content_id"], int) and hit["distance"] == "0"
    # `banks` restricts the answer to the banks named
    r = service.client.get("/m/lookup", headers=service.h("lookup"),
                           params={"signal_type": "pdq", "signal": X, "banks": "OTHER"})
    assert r.status_code == 200 and r.json() == {}


def test_compare_two_hashes_answers_match_and_distance(service):
    nine = f"{int(X, 16) ^ 0x1ff:064x}"
    r = service.client.post("/m/compare", headers=service.h("lookup"),
                            json={"pdq": [X, nine]})
    assert r.status_code == 200, r.text
    assert r.json() == {"pdq": [True, {"distance": 9}]}
    far = f"{int(X, 16) ^ ((1 << 100) - 1):064x}"
    r = service.client.post("/m/compare", headers=service.h("lookup"), json={"pdq": [X, far]})
    assert r.json() == {"pdq": [False, {"distance": 100}]}
    for bad in ({"pdq": [X]}, {"pdq": [X, "zz"]}, {"nope": [X, X]}, [X, X]):
        r = service.client.post("/m/compare", headers=service.h("lookup"), json=bad)
        assert 400 <= r.status_code < 500, bad


def test_index_status_answers_present_built_to_and_size(service):
    r = service.client.get("/m/index/status", headers=service.h("lookup"))
    assert r.status_code == 200, r.text
    assert r.json()["pdq"] == {"present": False, "built_to": -1, "size": 0}
    _bank(service, "TEST_BANK", [X, f"{int(X, 16) ^ 1:064x}"])
    r = service.client.get("/m/index/status", headers=service.h("lookup"),
                           params={"signal_type": "pdq"})
    assert list(r.json()) == ["pdq"]
    status = r.json()["pdq"]
    assert status["present"] is True and status["size"] == 2 and status["built_to"] > 1.7e9
    r = service.client.get("/m/index/status", headers=service.h("lookup"),
                           params={"signal_type": "nope"})
    assert 400 <= r.status_code < 500
