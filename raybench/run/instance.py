"""Which instance this is: ``RAYBENCH_INSTANCE_TYPE``, else EC2's metadata service, else unknown.

The metadata service is asked only when the machine's DMI data says it is an EC2 instance, with
a short timeout, so raybench never hangs (or sends packets) off EC2. The known NeuronCore counts
are used to explain a missing ``neuron_cores`` resource, never to guess one: an unknown instance
stays "unknown".
"""

from __future__ import annotations

import functools
import os
import urllib.request
from collections.abc import Mapping

ENV_VAR = "RAYBENCH_INSTANCE_TYPE"
IMDS_URL = "http://169.254.169.254"
DMI_DIR = "/sys/devices/virtual/dmi/id"
UNKNOWN = "unknown"

#: NeuronCores per instance type (AWS's published figures).
NEURON_CORES_BY_INSTANCE: dict[str, int] = {
    "inf1.xlarge": 4, "inf1.2xlarge": 4, "inf1.6xlarge": 16, "inf1.24xlarge": 64,
    "inf2.xlarge": 2, "inf2.8xlarge": 2, "inf2.24xlarge": 12, "inf2.48xlarge": 24,
    "trn1.2xlarge": 2, "trn1.32xlarge": 32, "trn1n.32xlarge": 32,
}  # fmt: skip


def on_ec2(dmi_dir: str = DMI_DIR) -> bool:
    """True when the DMI vendor fields name Amazon EC2 (readable without root on Linux)."""
    for name in ("sys_vendor", "board_vendor", "bios_vendor"):
        try:
            with open(os.path.join(dmi_dir, name)) as f:
                if "amazon" in f.read().lower():
                    return True
        except OSError:
            continue
    return False


def query_imds(base_url: str = IMDS_URL, timeout_s: float = 0.3) -> str | None:
    """The instance type from the metadata service (IMDSv2: token, then the query), or None."""
    try:
        token_request = urllib.request.Request(
            f"{base_url}/latest/api/token", method="PUT",
            headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"},
        )
        with urllib.request.urlopen(token_request, timeout=timeout_s) as response:  # noqa: S310
            token = response.read().decode()
        query = urllib.request.Request(
            f"{base_url}/latest/meta-data/instance-type", headers={"X-aws-ec2-metadata-token": token},
        )
        with urllib.request.urlopen(query, timeout=timeout_s) as response:  # noqa: S310
            return response.read().decode().strip() or None
    except (OSError, ValueError):  # timeouts, refused connections, HTTP errors
        return None


def detect_instance_type(
    env: Mapping[str, str] | None = None, dmi_dir: str = DMI_DIR, imds_url: str = IMDS_URL, timeout_s: float = 0.3
) -> str:
    """``RAYBENCH_INSTANCE_TYPE`` if set; else IMDSv2 on an EC2 machine; else ``"unknown"``."""
    env = os.environ if env is None else env
    if env.get(ENV_VAR):
        return env[ENV_VAR]
    if on_ec2(dmi_dir):
        return query_imds(imds_url, timeout_s) or UNKNOWN
    return UNKNOWN


@functools.lru_cache(maxsize=1)
def instance_type() -> str:
    """This host's instance type, looked up once per process."""
    return detect_instance_type()


def neuron_cores_hint(instance: str) -> str:
    """A sentence saying how many NeuronCores the instance has, or nothing when it is unknown."""
    cores = NEURON_CORES_BY_INSTANCE.get(instance)
    if cores is None:
        return ""
    return (f"; this host is {instance}, which has {cores} NeuronCores: Ray detects them with the Neuron "
            f"driver installed, or declare them with ray.init(resources={{'neuron_cores': {cores}}})")
