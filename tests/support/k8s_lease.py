"""A leader-election candidate made with the official Kubernetes Python client
(`kubernetes`, its LeaderElection over a LeaseLock), for tests/ha.rs: it runs
against the Lease endpoints of driftwatch's API server simulator and contends
for the same Lease as driftwatch.

usage: k8s_lease.py API_URL TOKEN NAMESPACE NAME IDENTITY LEASE_SECONDS

Prints "LEADING" (flushed) when it becomes the leader, and keeps leading until
killed. Exits 0 if it ever stops leading.
"""
import logging
import sys
import time

from kubernetes import client
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

url, token, namespace, name, identity, lease_seconds = sys.argv[1:7]
logging.basicConfig(level=logging.INFO, stream=sys.stderr)

configuration = client.Configuration()
configuration.host = url
configuration.api_key = {"authorization": token}
configuration.api_key_prefix = {"authorization": "Bearer"}
client.Configuration.set_default(configuration)


def lead():
    print("LEADING", flush=True)
    while True:
        time.sleep(1)


config = electionconfig.Config(
    LeaseLock(name, namespace, identity),
    lease_duration=int(lease_seconds),
    renew_deadline=max(2, int(lease_seconds) - 1),
    retry_period=1,
    onstarted_leading=lead,
    onstopped_leading=lambda: print("STOPPED", flush=True),
)
leaderelection.LeaderElection(config).run()
