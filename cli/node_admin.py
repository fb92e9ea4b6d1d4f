"""Audited repairs an officer runs on the node's machine: recover a ledger, reconcile a policy, accept a node.

`lsi node recover`, `lsi node policy-sync` and `lsi coordinator accept-node`; cli.server_cmd adds them to
their groups."""

from __future__ import annotations

from pathlib import Path

import click
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cli.geography_cmd import apply_geography
from security.pki import CA_CERT, PkiError, Role, is_revoked, read_district, read_name, read_role


def ig_officer(pki_dir: Path, identity: str, district_code: str) -> str:
    """The CN of an IG officer whose certificate the county CA issued and whose key is at hand; else refuse."""
    cert_path, key_path = pki_dir / f"{identity}.crt", pki_dir / f"{identity}.key"
    for path in (pki_dir / CA_CERT, cert_path, key_path):
        if not path.exists():
            raise click.ClickException(
                f"{path} not found: give --pki (the folder with ca.crt) and --identity (your certificate's name)"
            )
    cert_pem = cert_path.read_bytes()
    cert, ca = (
        x509.load_pem_x509_certificate(cert_pem),
        x509.load_pem_x509_certificate((pki_dir / CA_CERT).read_bytes()),
    )
    try:
        ca_key = ca.public_key()
        assert isinstance(ca_key, ec.EllipticCurvePublicKey) and cert.signature_hash_algorithm is not None
        ca_key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        challenge = b"lsi node recovery"
        cert_key = cert.public_key()
        assert isinstance(cert_key, ec.EllipticCurvePublicKey)
        cert_key.verify(key.sign(challenge, ec.ECDSA(hashes.SHA256())), challenge, ec.ECDSA(hashes.SHA256()))
        if read_role(cert_pem) != Role.IG_OFFICER:
            raise click.ClickException(
                f"{identity} is not an IG officer (role {read_role(cert_pem)}); only the "
                "district's IG officer may do this"
            )
        if is_revoked(pki_dir, cert_pem):
            raise click.ClickException(f"{identity}'s certificate has been revoked")
    except (AssertionError, InvalidSignature, ValueError, PkiError) as exc:
        raise click.ClickException(f"{identity}: not a valid certificate and key from the county CA ({exc})") from None
    district = read_district(cert_pem)
    if district != district_code:
        raise click.ClickException(
            f"{identity} is the IG officer for {district}, not for this node's district "
            f"{district_code}; only the district's own IG officer may do this"
        )
    return read_name(cert_pem)


@click.command("recover")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--pki", "pki_dir", required=True, type=click.Path(path_type=Path), help="folder with ca.crt")
@click.option("--identity", required=True, help="the IG officer's certificate name")
@click.option("--reason", required=True, help="why (goes in the audit log)")
def node_recover(config_path: Path, pki_dir: Path, identity: str, reason: str) -> None:
    """Accept a ledger that fails its start-up check (lost key, deleted database, edited charges); audited."""
    from node.config import load_node_config
    from privacy.integrity import LedgerIntegrityError, recover

    config = load_node_config(config_path)

    apply_geography(config.geography)
    officer = ig_officer(pki_dir, identity, config.district_code)
    try:
        done = recover(config.state_db, config.audit_key, officer, reason)
    except (LedgerIntegrityError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"recovery recorded as audit entry #{done.seq} by {officer}"
        f"{'; new audit key' if done.new_key else ''}{'; new ledger' if done.new_ledger else ''}"
    )
    for problem in done.problems:
        click.echo(f"  acknowledged: {problem}")
    click.echo("The coordinator will refuse this node until county IT runs `lsi coordinator accept-node`.")


@click.command("policy-sync")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option(
    "--keep",
    type=click.Choice(["ledger", "file"]),
    required=True,
    help="ledger: rewrite the file from the ledger; file: put the file's policy in force (audited)",
)
@click.option("--pki", "pki_dir", type=click.Path(path_type=Path), help="with --keep file: folder with ca.crt")
@click.option("--identity", help="with --keep file: the IG officer's certificate name")
def node_policy_sync(config_path: Path, keep: str, pki_dir: Path | None, identity: str | None) -> None:
    """Make the policy file and the ledger agree again, after the node refused to start over them."""
    from node.config import load_node_config
    from privacy.integrity import check_ledger, open_signer
    from privacy.ledger import PrivacyStore
    from privacy.policy import PolicyError, load_policy, save_policy

    config = load_node_config(config_path)

    apply_geography(config.geography)
    signer = open_signer(config.audit_key, config.state_db)
    check_ledger(config.state_db, signer)
    file_policy = load_policy(config.policy)
    if keep == "file":
        if pki_dir is None or identity is None:
            raise click.ClickException("--keep file changes the budget: give --pki and --identity (IG officer)")
        officer = ig_officer(pki_dir, identity, config.district_code)
    store = PrivacyStore.existing(config.state_db, signer)
    if keep == "ledger":
        save_policy(store.policy, config.policy)
        click.echo(f"{config.policy} now states the ledger's policy")
        return
    try:
        changes = store.set_policy(file_policy, changed_by=officer)
    except PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"the file's policy is in force (audited): {'; '.join(changes) or 'no change'}")


@click.command("accept-node")
@click.option("--config", "config_path", required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--district", "code", required=True, help="the district code of the recovered node")
@click.option("--by", "actor", required=True, help="who accepts it (recorded)")
@click.option("--reason", required=True, help="why, e.g. the IG officer's recovery reference (recorded)")
def accept_node(config_path: Path, code: str, actor: str, reason: str) -> None:
    """Accept a node whose ledger was recovered: forget its pinned key and receipts; recorded."""
    from coordinator.config import load_coordinator_config
    from coordinator.receipts import ReceiptBook

    config = load_coordinator_config(config_path)

    apply_geography(config.geography)
    ReceiptBook(config.state_db).accept_node(code, actor, reason)
    click.echo(f"{code} accepted: its next receipt is pinned afresh (recorded under {actor})")
