"""The dev accounts the embedded chain funds are anvil's: the pinned keys are the mnemonic's own."""

from eth_account import Account

from chainplug.node.chain.accounts import DEV_KEYS, DEV_MNEMONIC, derive_keys, dev_accounts


def test_the_pinned_keys_are_the_first_ten_of_the_mnemonic() -> None:
    assert [key.hex() for key in derive_keys(DEV_MNEMONIC, len(DEV_KEYS))] == list(DEV_KEYS)


def test_addresses_match_eth_account_and_more_accounts_are_derived() -> None:
    accounts = dev_accounts(12)
    assert len(accounts) == 12
    for account in accounts:
        assert Account.from_key(account.private_key).address.lower() == "0x" + account.address.hex()
    assert accounts[0].address.hex() == "f39fd6e51aad88f6f4ce6ab8827279cfffb92266"  # anvil's first
    other = dev_accounts(2, "abandon " * 11 + "about")
    assert other[0].address != accounts[0].address
