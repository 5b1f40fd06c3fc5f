"""The public surface other work builds on (README "Public API")."""

import chainplug
import chainplug.verify
from chainplug import errors


def test_root_exports_exactly_the_documented_names() -> None:
    assert sorted(chainplug.__all__) == [
        "AccountState",
        "CompositeAccount",
        "Envelope",
        "SignedComposite",
        "__version__",
        "decode_envelope",
        "errors",
    ]
    for name in chainplug.__all__:
        assert getattr(chainplug, name) is not None


def test_verify_exports() -> None:
    for name in ("LegacyVerifier", "UpgradedVerifier", "StrictVerifier", "InMemoryRegistry", "VerifiedTransaction"):
        assert name in chainplug.verify.__all__


def test_error_tree_has_one_root_and_builtin_meanings() -> None:
    for name in dir(errors):
        obj = getattr(errors, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == errors.__name__:
            assert issubclass(obj, errors.ChainplugError), name
    assert issubclass(errors.MalformedEnvelope, ValueError)
    assert issubclass(errors.UnsupportedEnvelope, errors.MalformedEnvelope)
    assert issubclass(errors.InvalidSignature, errors.VerificationError)
    assert issubclass(errors.PolicyRejected, errors.VerificationError)
    assert not issubclass(errors.MalformedEnvelope, errors.VerificationError)


def test_account_surface() -> None:
    account = chainplug.CompositeAccount.from_keys(b"\x01" * 32, b"\x02" * 32)
    assert account.address.startswith("0x") and account.address != account.address.lower()
    assert len(account.key_id) == 32
    assert len(account.pqc_public_key) == 2592
    signed = account.sign_transaction(
        {"chainId": 1, "nonce": 0, "gas": 21000, "to": "0x" + "11" * 20, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    )
    assert isinstance(signed.raw_transaction, bytes)
    assert isinstance(signed.envelope, bytes)
    assert len(signed.tx_hash) == 32
    assert chainplug.decode_envelope(signed.envelope).encode() == signed.envelope
    assert "secret" not in repr(account).lower()
