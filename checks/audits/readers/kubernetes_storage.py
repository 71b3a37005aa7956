"""Encryption at rest of a Deployment's PersistentVolumeClaims, from their StorageClasses.

A claim names its StorageClass (`spec.storageClassName`; the DefaultStorageClass admission
plugin fills in the default class when a claim names none), and the class's provisioner and
`parameters` decide how the disks it makes are encrypted:
https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/persistent-volume-claim-v1/
https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/storage-class-v1/
https://kubernetes.io/docs/concepts/storage/storage-classes/#default-storageclass

What each known provisioner does (its driver's documentation):
- GKE Persistent Disk (`pd.csi.storage.gke.io`, in-tree `kubernetes.io/gce-pd`): always
  encrypted, by Google unless `disk-encryption-kms-key` names a Cloud KMS key
  (https://cloud.google.com/kubernetes-engine/docs/how-to/using-cmek);
- Filestore (`filestore.csi.storage.gke.io`): always encrypted, customer key through
  `instance-encryption-kms-key`;
- Amazon EBS (`ebs.csi.aws.com`, in-tree `kubernetes.io/aws-ebs`): encrypted only with
  `encrypted: "true"`, with `kmsKeyId` or the account's `aws/ebs` key
  (https://github.com/kubernetes-sigs/aws-ebs-csi-driver/blob/master/docs/parameters.md);
  without it, whether the account encrypts new volumes by default is not visible from the cluster;
- Azure Disk (`disk.csi.azure.com`, in-tree `kubernetes.io/azure-disk`): always encrypted, by
  Microsoft unless `diskEncryptionSetID` names a disk encryption set (customer key)
  (https://learn.microsoft.com/azure/aks/azure-disk-customer-managed-keys);
- Azure Files (`file.csi.azure.com`, in-tree `kubernetes.io/azure-file`): Azure Storage always
  encrypts; a customer key on the storage account is not visible from the cluster.
Other provisioners (EFS, NFS, Ceph, local paths) are named and left undecided.
"""

from __future__ import annotations

from typing import Any

from checks.audits.evidence import Observation

DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
NO_CLAIM_REASON = (
    "it mounts no PersistentVolumeClaim, and the external datastores its settings name are not "
    "read for their keys"
)
_GOOGLE_DISK = {"pd.csi.storage.gke.io", "kubernetes.io/gce-pd"}
_FILESTORE = {"filestore.csi.storage.gke.io"}
_EBS = {"ebs.csi.aws.com", "kubernetes.io/aws-ebs"}
_AZURE_DISK = {"disk.csi.azure.com", "kubernetes.io/azure-disk"}
_AZURE_FILE = {"file.csi.azure.com", "kubernetes.io/azure-file"}


def _parameter(parameters: dict, *names: str) -> str:
    """A StorageClass parameter; the drivers read their keys case-insensitively."""
    lowered = {str(k).lower(): str(v) for k, v in parameters.items()}
    return next((lowered[n.lower()] for n in names if lowered.get(n.lower())), "")


def class_encryption(storage_class: dict) -> tuple[str, str]:
    """How disks of this class are encrypted: ("customer", key), ("provider", who) or
    ("unknown", why)."""
    provisioner = storage_class.get("provisioner") or ""
    parameters = storage_class.get("parameters") or {}
    if provisioner in _GOOGLE_DISK:
        key = _parameter(parameters, "disk-encryption-kms-key")
        return ("customer", key) if key else ("provider", "Google")
    if provisioner in _FILESTORE:
        key = _parameter(parameters, "instance-encryption-kms-key")
        return ("customer", key) if key else ("provider", "Google")
    if provisioner in _AZURE_DISK:
        key = _parameter(parameters, "diskEncryptionSetID")
        return ("customer", key) if key else ("provider", "Microsoft")
    if provisioner in _AZURE_FILE:
        return ("provider", "Microsoft")
    if provisioner in _EBS:
        if _parameter(parameters, "encrypted").lower() != "true":
            return (
                "unknown",
                "its StorageClass does not ask EBS to encrypt (parameter encrypted), and whether "
                "the AWS account encrypts new volumes by default "
                "(ec2:GetEbsEncryptionByDefault) is not visible from the cluster",
            )
        key = _parameter(parameters, "kmsKeyId")
        return ("customer", key) if key else ("provider", "AWS")
    return ("unknown", f"how provisioner {provisioner or '(none)'} encrypts is not known")


def _default_class(classes: list[dict]) -> dict | None:
    for storage_class in classes:
        annotations = storage_class.get("metadata", {}).get("annotations") or {}
        if any(annotations.get(a) == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
            return storage_class
    return None


def _claim_class(claim: dict, by_name: dict[str, dict], classes: list[dict]) -> dict | str:
    """The StorageClass behind a claim, or why it cannot be told."""
    name = (claim.get("spec") or {}).get("storageClassName")
    if name == "":  # bound to a pre-provisioned volume by hand, outside any class
        return "it is bound to a pre-provisioned PersistentVolume outside any StorageClass"
    if name is None:
        found = _default_class(classes)
        return found or "it names no StorageClass and the cluster has no default one"
    return by_name.get(name) or f"its StorageClass {name} does not exist"


def encryption(
    claims: list[str],
    found_claims: dict[str, dict],
    classes: list[dict],
    origin: Any,
) -> Observation | str:
    """Encryption at rest of the claims a pod mounts (Observation value as the rule reads it:
    encrypted, key, managed_by, unencrypted), or why it cannot be told."""
    if not claims:
        return NO_CLAIM_REASON
    by_name = {c.get("metadata", {}).get("name"): c for c in classes}
    keys, managers, lines = [], set(), []
    for claim_name in claims:
        claim = found_claims.get(claim_name)
        if claim is None:
            return f"its PersistentVolumeClaim {claim_name} does not exist in the namespace"
        storage_class = _claim_class(claim, by_name, classes)
        if isinstance(storage_class, str):
            return f"PersistentVolumeClaim {claim_name}: {storage_class}"
        class_name = storage_class.get("metadata", {}).get("name")
        how, detail = class_encryption(storage_class)
        where = f"PersistentVolumeClaim {claim_name} (StorageClass {class_name})"
        if how == "unknown":
            return f"{where}: {detail}"
        if how == "customer":
            keys.append(detail)
            lines.append(f"{where}: customer-managed key {detail}")
        else:
            managers.add(detail)
            lines.append(f"{where}: encrypted with {detail}-managed keys")
    summary = "; ".join(lines)
    if keys and not managers:
        return Observation({"encrypted": True, "key": ", ".join(keys)}, origin, summary)
    return Observation(
        {"encrypted": True, "managed_by": " and ".join(sorted(managers))}, origin, summary
    )
