import base64
import time

import pytest

from apps.webhooks import signing


def test_a_secret_is_whsec_and_base64_of_24_random_bytes():
    secret = signing.generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 24
    assert signing.generate_secret() != secret


def test_headers_follow_standard_webhooks_and_verify():
    secret = signing.generate_secret()
    headers = signing.signature_headers(secret=secret, msg_id="msg_1", body=b'{"a":1}')
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    signing.verify(secret=secret, headers=headers, body=b'{"a":1}')


def test_the_standard_webhooks_reference_vector_matches():
    # The example from the Standard Webhooks specification's reference libraries.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    signature = signing.sign(
        secret=secret,
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "change",
    [
        {"body": b'{"a":2}'},
        {"secret": signing.generate_secret()},
        {"now": time.time() + 3600},
    ],
    ids=["tampered body", "other secret", "replayed an hour later"],
)
def test_verification_refuses(change):
    secret = signing.generate_secret()
    headers = signing.signature_headers(secret=secret, msg_id="msg_1", body=b'{"a":1}')
    arguments = {"secret": secret, "headers": headers, "body": b'{"a":1}', **change}
    with pytest.raises(signing.InvalidSignature):
        signing.verify(**arguments)


def test_verification_accepts_any_of_several_signatures():
    old, new = signing.generate_secret(), signing.generate_secret()
    headers = signing.signature_headers(secret=new, msg_id="msg_1", body=b"{}")
    old_signature = signing.sign(
        secret=old, msg_id="msg_1", timestamp=int(headers["webhook-timestamp"]), body=b"{}"
    )
    headers["webhook-signature"] = f"{old_signature} {headers['webhook-signature']}"
    signing.verify(secret=new, headers=headers, body=b"{}")
