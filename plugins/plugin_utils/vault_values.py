# -*- coding: utf-8 -*-
# Copyright (c) 2026, incident.response contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller side of redaction: the plaintext of vault-encrypted values, wherever they come from
(inline !vault, vars_files, extra vars, or a value read from a whole vault-encrypted file). The
callbacks install `vaulted_plaintext` as module_utils.redact.VAULT_READER."""

from __future__ import absolute_import, division, print_function
__metaclass__ = type

try:
    from ansible.parsing.vault import VaultHelper  # ansible-core 2.19+
    AnsibleVaultEncryptedUnicode = ()
except ImportError:  # older: vault values are AnsibleVaultEncryptedUnicode objects
    VaultHelper = None
    from ansible.parsing.yaml.objects import AnsibleVaultEncryptedUnicode

try:
    from ansible._internal._datatag._tags import Origin  # ansible-core 2.19+ data tagging
except ImportError:
    Origin = None


def vaulted_plaintext(value):
    """The plaintext of a vault-encrypted value (inline !vault, vars_files, extra vars) or of a value read
    from a vault-encrypted file, else None."""
    if VaultHelper is None:
        return str(value) if isinstance(value, AnsibleVaultEncryptedUnicode) else None
    try:
        if VaultHelper.get_ciphertext(value, with_tags=False) is not None:
            return str(value)
        if isinstance(value, str) and _from_encrypted_file(value):
            return str(value)
    except Exception:  # pylint: disable=broad-except
        pass
    return None


_ENCRYPTED_FILES = {}


def _from_encrypted_file(value):
    """True when Ansible read `value` from a vault-encrypted file (its Origin tag names the file)."""
    if Origin is None:
        return False
    origin = Origin.get_tag(value)
    path = getattr(origin, "path", None)
    if not path:
        return False
    if path not in _ENCRYPTED_FILES:
        try:
            with open(path, "rb") as fh:
                _ENCRYPTED_FILES[path] = fh.read(64).lstrip().startswith(b"$ANSIBLE_VAULT;")
        except (IOError, OSError):
            _ENCRYPTED_FILES[path] = False
    return _ENCRYPTED_FILES[path]
