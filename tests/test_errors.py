"""Every error class names its own reason; the reasons users see are the right ones."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest

import chainplug
from chainplug import errors
from chainplug.envelope import CompositeAccount, decode_envelope
from chainplug.errors import ChainplugError, Reason


def _every_error_class() -> list[type[ChainplugError]]:
    for module in pkgutil.walk_packages(chainplug.__path__, "chainplug."):
        importlib.import_module(module.name)
    found: list[type[ChainplugError]] = []
    pending = [ChainplugError]
    while pending:
        for sub in pending.pop().__subclasses__():
            found.append(sub)
            pending.append(sub)
    return found


def test_every_concrete_error_class_declares_its_own_reason() -> None:
    classes = _every_error_class()
    assert len(classes) > 30
    for cls in classes:
        if cls.abstract:
            with pytest.raises(TypeError, match="raise one of its subclasses"):
                cls("x")
        else:
            assert "default_reason" in cls.__dict__, f"{cls.__module__}.{cls.__name__} inherits its reason"
            if cls.__init__ is ChainplugError.__init__:  # others take other arguments (a wrapped error, ...)
                assert cls("x").reason is cls.__dict__["default_reason"]


def test_the_root_and_the_grouping_classes_cannot_be_raised() -> None:
    for cls in (ChainplugError, errors.EnvelopeError, errors.VerificationError, errors.MigrationError,
                errors.MigrationRejected, errors.KeystoreError):  # fmt: skip
        assert cls.abstract
        with pytest.raises(TypeError):
            cls("x")
    # ... but they still catch their subclasses, and a raiser may always name a reason
    with pytest.raises(errors.MigrationError):
        raise errors.WalCorrupt("x", reason=Reason.WAL_GENERATION)


@pytest.mark.parametrize(
    ("cls", "reason"),
    [
        (errors.CryptoError, Reason.BACKEND_FAILED),  # a backend that fails to sign is not "malformed"
        (errors.MalformedTransaction, Reason.MALFORMED),
        (errors.UnsupportedEnvelope, Reason.UNSUPPORTED_VERSION),
        (errors.IllegalTransition, Reason.ILLEGAL_TRANSITION),
        (errors.WalCorrupt, Reason.WAL_CORRUPT),
        (errors.UnknownAccount, Reason.UNKNOWN_ACCOUNT),
        (errors.InvalidSignature, Reason.INVALID_SIGNATURE),
    ],
)
def test_default_reasons(cls: type[ChainplugError], reason: Reason) -> None:
    assert cls("x").reason is reason


def test_liboqs_signing_failures_are_crypto_errors() -> None:
    """The liboqs backend reports a failed operation as CryptoError, i.e. backend-failed."""
    source = (Path(chainplug.__file__).parent / "crypto" / "_liboqs.py").read_text()
    assert 'raise CryptoError("liboqs ML-DSA-87 signing failed")' in source


def test_an_unsupported_envelope_kind_says_so() -> None:
    account = CompositeAccount.from_keys(b"\x01" * 32, b"\x02" * 32)
    envelope = account.sign_transaction(
        {"chainId": 1, "nonce": 0, "gas": 21000, "to": "0x" + "11" * 20, "maxFeePerGas": 10, "maxPriorityFeePerGas": 1}
    ).envelope
    pqc_only_kind = envelope[:5] + b"\x02" + envelope[6:]
    with pytest.raises(errors.UnsupportedEnvelope) as caught:
        decode_envelope(pqc_only_kind)
    assert caught.value.reason is Reason.UNSUPPORTED_KIND


def test_the_node_layer_raises_typed_errors(tmp_path: Path) -> None:
    from chainplug.node.admission import AdmissionHook
    from chainplug.node.attestations import AttestationLog, AttestationLogError
    from chainplug.node.rawtx import _rebuild
    from chainplug.node.validator import init_worker

    with pytest.raises(errors.ConfigError):
        AdmissionHook("upgraded", None)
    with pytest.raises(errors.ConfigError):
        init_worker("upgraded", "http://127.0.0.1:9", None, 0, 1)
    with pytest.raises(errors.UnsupportedEnvelope) as caught:
        _rebuild({"type": 1})
    assert caught.value.reason is Reason.UNSUPPORTED_TX_TYPE
    (tmp_path / "attestations.jsonl").write_text("not json\n")
    with pytest.raises(AttestationLogError) as corrupt:
        AttestationLog(tmp_path)
    assert corrupt.value.reason is Reason.LOG_CORRUPT
