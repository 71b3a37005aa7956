"""Encryption at rest of what an ECS task keeps: the EFS file systems its task definition mounts.

- Task definition `volumes[].efsVolumeConfiguration.fileSystemId`: the persistent storage a task
  can have (its ephemeral storage dies with it).
- EFS DescribeFileSystems, once per file system and account (ecs._Account.read_batches):
  `Encrypted` and `KmsKeyId`. "If you don't specify a KMS key, then the default KMS key for
  Amazon EFS, /aws/elasticfilesystem, is used" and the answer names that key's ARN, so the ARN
  alone does not tell who manages the key.
  https://docs.aws.amazon.com/efs/latest/ug/API_CreateFileSystem.html
- KMS DescribeKey, once per key: `KeyMetadata.KeyManager` AWS (the AWS-managed
  aws/elasticfilesystem key) or CUSTOMER. https://docs.aws.amazon.com/kms/latest/APIReference/API_KeyMetadata.html
"""

from __future__ import annotations

from collections.abc import Callable

from checks.audits.evidence import Observation, Provenance

NO_VOLUME_REASON = (
    "the task definition mounts no EFS volume: an ECS task keeps nothing persistent of its own "
    "to encrypt (its ephemeral storage, encrypted by Fargate with an AWS-owned key, ends with "
    "the task); data stores it reaches by setting (RDS, S3, DynamoDB) are not read"
)


def file_system_ids(raw: dict) -> list[str]:
    """The EFS file systems the task definition mounts, each once."""
    volumes = (raw.get("taskDefinition") or {}).get("volumes") or []
    return list(
        dict.fromkeys(
            (v.get("efsVolumeConfiguration") or {}).get("fileSystemId")
            for v in volumes
            if (v.get("efsVolumeConfiguration") or {}).get("fileSystemId")
        )
    )


def encryption(
    file_systems: list[dict],
    key_manager: Callable[[str], str],
    origin: Provenance,
) -> Observation | str:
    """The keys encrypting the task's EFS file systems (the rule's dict: key, managed_by, and
    encrypted False when one is not encrypted at all). `key_manager(key_arn)` answers KMS's
    KeyManager ("AWS" or "CUSTOMER"), or why it could not be read: an unencrypted file system
    still fails then, otherwise the fact stays open with that reason."""
    plain, customer, aws_managed, unknown = [], [], [], []
    for fs in file_systems:
        name = fs["FileSystemId"]
        if not fs.get("Encrypted"):
            plain.append(name)
            continue
        key = fs.get("KmsKeyId") or ""
        manager = key_manager(key) if key else "AWS"
        if manager == "CUSTOMER":
            customer.append((name, key))
        elif manager == "AWS":
            aws_managed.append(name)
        else:
            unknown.append(f"who manages the key {key} of EFS {name} was not read ({manager})")
    if unknown and not plain:
        return "; ".join(unknown)
    parts = [f"EFS {name} not encrypted" for name in plain]
    parts += [f"EFS {name} encrypted with the customer-managed key {key}" for name, key in customer]
    parts += [
        f"EFS {name} encrypted with the AWS-managed key aws/elasticfilesystem"
        for name in aws_managed
    ]
    keys = sorted({key for _, key in customer})
    value = {
        "encrypted": not plain,
        "unencrypted": plain,
        # A customer-managed key only when every file system has one.
        "key": ", ".join(keys) if customer and not aws_managed and not plain else "",
        "managed_by": "AWS",
    }
    return Observation(value, origin, "; ".join(parts + unknown))
